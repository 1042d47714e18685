//! A request's expected cost per pool model, computed inside the decision's pass: the answer
//! length each model's regression predicts for the prompt (`OutputLength.expected` in Python),
//! capped by `max_tokens`, priced at the model's input and output prices
//! (`price.cost_usd`). The same operations in the same order as the Python per-model path, so
//! the costs are bit-identical (`tests/test_routing_fast.py`).
use crate::batch::predicted_tokens;
use crate::error::CoreError;
use crate::length::DIM;

/// How one pool model's answer length is predicted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LengthRow {
    /// No regression of its own: the pool's prediction.
    Pool,
    /// Its own fitted regression (`weights . x`, its residual variance).
    Own { weights: [f64; DIM], noise_var: f64 },
    /// The pool's regression plus this model's offset regression (its residual variance).
    Offset { weights: [f64; DIM], noise_var: f64 },
}

impl LengthRow {
    /// A fitted row: an offset on the pool's regression (`offset`), or the model's own.
    #[must_use]
    pub fn fitted(offset: bool, weights: [f64; DIM], noise_var: f64) -> Self {
        if offset {
            Self::Offset { weights, noise_var }
        } else {
            Self::Own { weights, noise_var }
        }
    }
}

/// Every pool model's length regression, in pool order; kept in step with each finished call
/// (one row replaced), so a decision reads it as is.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthTable {
    rows: Vec<LengthRow>,
}

impl LengthTable {
    /// `n` models, each predicted by the pool.
    #[must_use]
    pub fn new(n: usize) -> Self {
        Self {
            rows: vec![LengthRow::Pool; n],
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Replaces row `i`: weights finite, `noise_var` finite and > 0.
    pub fn set(&mut self, i: usize, row: LengthRow) -> Result<(), CoreError> {
        if i >= self.rows.len() {
            return Err(CoreError::InvalidInteger {
                name: "row",
                value: i64::try_from(i).unwrap_or(i64::MAX),
                rule: "must be a row of the table",
            });
        }
        if let LengthRow::Own { weights, noise_var } | LengthRow::Offset { weights, noise_var } =
            &row
        {
            if let Some(k) = weights.iter().position(|w| !w.is_finite()) {
                return Err(CoreError::item("weights", k, weights[k], "must be finite"));
            }
            if !(noise_var.is_finite() && *noise_var > 0.0) {
                return Err(CoreError::value(
                    "noise_var",
                    *noise_var,
                    "must be finite and > 0",
                ));
            }
        }
        self.rows[i] = row;
        Ok(())
    }
}

/// The prompt side of the length predictions: its 16 statistics and the pool regression's
/// mean and residual variance there.
#[derive(Debug, Clone, Copy)]
pub struct Prompt<'a> {
    pub table: &'a LengthTable,
    pub x: [f64; DIM],
    pub pool_mean: f64,
    pub pool_noise_var: f64,
    /// Predictions never exceed `exp(max_log) - 1` tokens.
    pub max_log: f64,
}

/// Where a request's answer lengths come from.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// No prompt statistics: the configured expected tokens for every model.
    Default(f64),
    /// Each model's regression at the prompt.
    Predicted(Prompt<'a>),
}

/// One request's pricing over a pool: `cost(i)` is model i's expected USD. The prices must be
/// finite and >= 0 (`_native.Prices` checks them once per pool), so that every cost is.
#[derive(Debug, Clone, Copy)]
pub struct Pricing<'a> {
    /// Per pool row: USD per million input tokens, per million output tokens.
    pub price_in: &'a [f64],
    pub price_out: &'a [f64],
    pub answer: Answer<'a>,
    pub prompt_tokens: f64,
    /// Caps every answer length (`None`: no cap).
    pub max_tokens: Option<f64>,
    /// The pool's own prediction (a row without a regression), computed once per request.
    shared: f64,
}

impl<'a> Pricing<'a> {
    /// `n_rows` pool rows: the prices (and the length table, if any) must have that many.
    pub fn new(
        n_rows: usize,
        price_in: &'a [f64],
        price_out: &'a [f64],
        answer: Answer<'a>,
        prompt_tokens: f64,
        max_tokens: Option<f64>,
    ) -> Result<Self, CoreError> {
        for (name, got) in [("price_in", price_in.len()), ("price_out", price_out.len())] {
            if got != n_rows {
                return Err(CoreError::LengthMismatch {
                    name,
                    got,
                    expected: n_rows,
                });
            }
        }
        let default_out = match answer {
            Answer::Default(tokens) => tokens,
            Answer::Predicted(_) => 0.0,
        };
        for (name, x, least, rule) in [
            (
                "prompt_tokens",
                prompt_tokens,
                0.0,
                "must be finite and >= 0",
            ),
            (
                "max_tokens",
                max_tokens.unwrap_or(1.0),
                1.0,
                "must be finite and >= 1",
            ),
            ("default_out", default_out, 0.0, "must be finite and >= 0"),
        ] {
            if !(x.is_finite() && x >= least) {
                return Err(CoreError::value(name, x, rule));
            }
        }
        let shared = match answer {
            Answer::Default(tokens) => tokens,
            Answer::Predicted(p) => {
                if p.table.len() != n_rows {
                    return Err(CoreError::LengthMismatch {
                        name: "lengths",
                        got: p.table.len(),
                        expected: n_rows,
                    });
                }
                predicted_tokens(p.pool_mean, p.pool_noise_var, p.max_log)
            }
        };
        Ok(Self {
            price_in,
            price_out,
            answer,
            prompt_tokens,
            max_tokens,
            shared,
        })
    }

    /// Expected completion tokens of row `i` (before the `max_tokens` cap).
    #[must_use]
    pub fn answer_tokens(&self, i: usize) -> f64 {
        self.answer_tokens_by(i, predicted_tokens)
    }

    /// `answer_tokens` with the log-normal mean computed by `tokens(log_mean, noise_var,
    /// max_log)`.
    #[inline]
    fn answer_tokens_by(&self, i: usize, tokens: impl Fn(f64, f64, f64) -> f64) -> f64 {
        let Answer::Predicted(p) = &self.answer else {
            return self.shared;
        };
        match &p.table.rows[i] {
            LengthRow::Pool => self.shared,
            LengthRow::Own { weights, noise_var } => tokens(
                0.0 + crate::length::dot(weights, &p.x),
                *noise_var,
                p.max_log,
            ),
            LengthRow::Offset { weights, noise_var } => tokens(
                p.pool_mean + crate::length::dot(weights, &p.x),
                *noise_var,
                p.max_log,
            ),
        }
    }

    /// Expected USD of row `i`: `(prompt x in + answer x out + 0) / 1e6` (`price.cost_usd`).
    #[must_use]
    #[inline]
    pub fn cost(&self, i: usize) -> f64 {
        self.priced(i, self.answer_tokens(i))
    }

    /// `cost(i)` within a relative `APPROX_COST_ERROR`, cheaper: `exp(x) - 1` instead of
    /// `expm1(x)` (each within an ulp or two of the true value, and an answer is >= 1 token,
    /// so the two lengths differ by < 1e-15 relative; the price formula is monotone in it).
    #[must_use]
    #[inline]
    pub fn approx_cost(&self, i: usize) -> f64 {
        let approx = |log_mean: f64, noise_var: f64, max_log: f64| {
            ((log_mean + noise_var / 2.0).min(max_log).exp() - 1.0).max(1.0)
        };
        self.priced(i, self.answer_tokens_by(i, approx))
    }

    /// A lower bound of `cost(i)` within ~2e-9 relative, cheaper (`exp_floor` for `expm1`).
    /// Non-finite where the length's `exp` would overflow. What a pass visiting the models
    /// cheapest first sorts by before it prices a model exactly.
    #[must_use]
    #[inline]
    pub fn cost_floor(&self, i: usize) -> f64 {
        let floor = |log_mean: f64, noise_var: f64, max_log: f64| {
            (exp_floor((log_mean + noise_var / 2.0).min(max_log)) - 1.0).max(1.0)
        };
        self.priced(i, self.answer_tokens_by(i, floor))
    }

    #[inline]
    fn priced(&self, i: usize, answer: f64) -> f64 {
        let out = match self.max_tokens {
            Some(cap) => answer.min(cap),
            None => answer,
        };
        (self.prompt_tokens * self.price_in[i] + out * self.price_out[i] + 0.0) / 1e6
    }
}

/// At most `exp(z)`, and within 2e-9 of it relative (infinity for NaN and from 700 on): the
/// library's `exp` (within an ulp or two, as `approx_cost` assumes) less a 1e-9 margin.
#[must_use]
#[inline]
pub fn exp_floor(z: f64) -> f64 {
    if z.is_nan() || z >= 700.0 {
        return f64::INFINITY;
    }
    z.exp() * (1.0 - 1e-9)
}

/// How far `Pricing::approx_cost` may be from `Pricing::cost`, relative (a wide margin over
/// the < 1e-14 of the error analysis).
pub const APPROX_COST_ERROR: f64 = 1e-10;

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "the costs must be bit-identical")]
mod tests {
    use super::*;

    /// `n` rows predicted by the pool but row 1 (its own regression `w`) and row 2 (an offset
    /// `w` on the pool's).
    fn own_and_offset(n: usize, w: [f64; DIM], own_var: f64, offset_var: f64) -> LengthTable {
        let mut table = LengthTable::new(n);
        table.set(1, LengthRow::fitted(false, w, own_var)).unwrap();
        table
            .set(2, LengthRow::fitted(true, w, offset_var))
            .unwrap();
        table
    }

    fn x() -> [f64; DIM] {
        let mut x = [0.0; DIM];
        x[0] = 3.0;
        x[DIM - 1] = 1.0;
        x
    }

    #[test]
    fn costs_follow_each_rows_regression_and_the_cap() {
        let mut w = [0.0; DIM];
        w[0] = 0.5;
        w[DIM - 1] = 2.0;
        let table = own_and_offset(3, w, 0.5, 0.25);
        let prompt = Prompt {
            table: &table,
            x: x(),
            pool_mean: 4.0,
            pool_noise_var: 1.0,
            max_log: 1_000_000f64.ln_1p(),
        };
        let p_in = [1.0, 2.0, 3.0];
        let p_out = [10.0, 20.0, 30.0];
        let pricing =
            Pricing::new(3, &p_in, &p_out, Answer::Predicted(prompt), 100.0, None).unwrap();
        let pool = (4.0_f64 + 0.5).exp_m1();
        let own = (3.5_f64 + 0.25).exp_m1();
        let offset = (4.0 + 3.5_f64 + 0.125).exp_m1();
        for (i, tokens) in [pool, own, offset].into_iter().enumerate() {
            assert_eq!(pricing.answer_tokens(i), tokens);
            let want = (100.0 * p_in[i] + tokens * p_out[i] + 0.0) / 1e6;
            assert_eq!(pricing.cost(i), want, "row {i}");
        }
        let capped = Pricing::new(3, &p_in, &p_out, Answer::Default(350.0), 7.0, Some(16.0));
        assert_eq!(capped.unwrap().cost(0), (7.0 + 16.0 * 10.0 + 0.0) / 1e6);
    }

    #[test]
    fn exp_floor_is_below_exp_and_close_to_it() {
        let mut z = -50.0_f64;
        while z < 60.0 {
            let (got, want) = (exp_floor(z), z.exp());
            assert!(
                got < want && got >= want * (1.0 - 2e-9),
                "{z}: {got} vs {want}"
            );
            // below every answer length it stands for (`expm1` + 1)
            assert!(got - 1.0 <= z.exp_m1(), "{z}");
            z += 0.001_37;
        }
        assert_eq!(exp_floor(700.0), f64::INFINITY);
        assert_eq!(exp_floor(f64::NAN), f64::INFINITY);
        assert_eq!(exp_floor(-750.0), 0.0);
    }

    #[test]
    fn the_cost_floor_never_exceeds_the_cost() {
        let mut w = [0.0; DIM];
        for (k, x) in w.iter_mut().enumerate() {
            *x = 0.05 * f64::from(u8::try_from(k).unwrap()) - 0.3;
        }
        let table = own_and_offset(4, w, 0.5, 0.1);
        let p_in = [1.0, 2.0, 0.0, 3.0];
        let p_out = [10.0, 20.0, 30.0, 0.0];
        for pool_mean in [-3.0, 0.0, 0.7, 4.0, 9.0] {
            for cap in [None, Some(1.0), Some(50.0)] {
                let prompt = Prompt {
                    table: &table,
                    x: x(),
                    pool_mean,
                    pool_noise_var: 0.4,
                    max_log: 1_000_000f64.ln_1p(),
                };
                let p =
                    Pricing::new(4, &p_in, &p_out, Answer::Predicted(prompt), 100.0, cap).unwrap();
                for i in 0..4 {
                    let (floor, cost) = (p.cost_floor(i), p.cost(i));
                    assert!(
                        floor <= cost && floor >= cost * (1.0 - 2e-9),
                        "{i}: {floor} {cost}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_tables_and_rows_are_errors() {
        let mut table = LengthTable::new(1);
        let bad = LengthRow::Own {
            weights: [f64::NAN; DIM],
            noise_var: 1.0,
        };
        assert!(table.set(0, bad).is_err());
        let zero_noise = LengthRow::Offset {
            weights: [0.0; DIM],
            noise_var: 0.0,
        };
        assert!(table.set(0, zero_noise).is_err());
        assert!(table.set(1, LengthRow::Pool).is_err());
        let prompt = Prompt {
            table: &table,
            x: x(),
            pool_mean: 0.0,
            pool_noise_var: 1.0,
            max_log: 10.0,
        };
        let two = [1.0, 1.0];
        assert!(Pricing::new(2, &two, &two, Answer::Predicted(prompt), 1.0, None).is_err());
        assert!(Pricing::new(2, &two, &[1.0], Answer::Default(1.0), 1.0, None).is_err());
    }
}
