//! Test-only: the random pools of arms the routing kernels' tests (`arms`, `cost_order`) build,
//! in one place.

use crate::arms::{pack_arms, ARM_ROW};
use crate::beta_draw::GAUSS_ABOVE;
use crate::rng::Rng;

/// A packed arm table's row reader.
pub(crate) fn rows(table: &[f64]) -> impl Fn(usize) -> [f64; ARM_ROW] + '_ {
    |i: usize| table[i * ARM_ROW..(i + 1) * ARM_ROW].try_into().unwrap()
}

/// The columns of `n` random arms, as `pack_arms` takes them.
pub(crate) struct Arms {
    pub alpha: Vec<f64>,
    pub beta: Vec<f64>,
    pub learned: Vec<f64>,
    pub slope: Vec<f64>,
    pub precision: Vec<f64>,
    pub center: Vec<f64>,
}

/// `n` arms: evidence `alpha`, `beta` each `low + scale * U(0, 1)`, every other arm's slope
/// learned, slopes and centers in (-0.5, 0.5), precisions in (0.5, 10.5). Drawn from `r` in
/// that column order.
pub(crate) fn random_arms(r: &mut Rng, n: usize, low: f64, scale: f64) -> Arms {
    Arms {
        alpha: (0..n).map(|_| low + scale * r.open01()).collect(),
        beta: (0..n).map(|_| low + scale * r.open01()).collect(),
        learned: (0..n).map(|i| f64::from(u8::from(i % 2 == 0))).collect(),
        slope: (0..n).map(|_| r.open01() - 0.5).collect(),
        precision: (0..n).map(|_| 0.5 + 10.0 * r.open01()).collect(),
        center: (0..n).map(|_| r.open01() - 0.5).collect(),
    }
}

impl Arms {
    /// The packed table (`pack_arms` at the default Gaussian threshold).
    pub(crate) fn packed(&self) -> Vec<f64> {
        pack_arms(
            &self.alpha,
            &self.beta,
            &self.learned,
            &self.slope,
            &self.precision,
            &self.center,
            GAUSS_ABOVE,
        )
        .unwrap()
    }
}
