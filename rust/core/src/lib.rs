//! arbiter-core: the pure, deterministic kernels behind `arbiter._native`.
//! No I/O, clocks, environment or global state: time and randomness come in as arguments.
#![forbid(unsafe_code)]

pub mod arms;
pub mod bandit;
pub mod batch;
pub mod beta_draw;
pub mod cost_order;
pub mod difficulty;
pub mod error;
pub mod json_split;
pub mod length;
pub mod request_cost;
pub mod rng;
pub mod scan;
#[cfg(test)]
mod test_pool;
pub mod tokens;
pub mod ziggurat;

pub use bandit::{
    choose, choose_prepared, prepare, update_arm, Arms, Choice, Policy, PreparedArm, Reason,
};
pub use difficulty::prompt_features;
pub use error::CoreError;
pub use length::LogLinear;
