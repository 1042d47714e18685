//! Online Bayesian linear regression over a prompt's 16 text statistics: the answer-length
//! model behind a request's expected cost (log(1 + completion tokens) per model). Pure: the
//! state is plain numbers, updated by one rank-one (recursive least squares) step per call.
use crate::error::CoreError;

/// Number of inputs: the trailing text statistics of `prompt_features` (the last one is 1.0).
pub const DIM: usize = 16;
/// Residual variance used in predictions is capped (log space): early misses against a weak
/// prior would otherwise inflate every expected length.
pub const MAX_NOISE_VAR: f64 = 2.0;
/// The prior's residual variance counts as this many observations.
pub const NOISE_PSEUDO: f64 = 5.0;
/// One answer adds at most this much squared error (one wild answer cannot dominate).
pub const MAX_SQUARED_ERROR: f64 = 9.0;

/// Gaussian posterior over the weights (mean and covariance) and a running residual variance.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLinear {
    weights: [f64; DIM],
    cov: [[f64; DIM]; DIM],
    noise_sum: f64,
    noise_n: f64,
}

impl LogLinear {
    /// From a prior: weight means, their precision matrix (row-major, `DIM * DIM`, symmetric
    /// positive definite) and the residual variance (finite, > 0).
    pub fn new(weights: &[f64], precision: &[f64], noise_var: f64) -> Result<Self, CoreError> {
        if weights.len() != DIM {
            return Err(CoreError::LengthMismatch {
                name: "weights",
                got: weights.len(),
                expected: DIM,
            });
        }
        if precision.len() != DIM * DIM {
            return Err(CoreError::LengthMismatch {
                name: "precision",
                got: precision.len(),
                expected: DIM * DIM,
            });
        }
        for (i, &w) in weights.iter().enumerate() {
            if !w.is_finite() {
                return Err(CoreError::item("weights", i, w, "must be finite"));
            }
        }
        if !(noise_var.is_finite() && noise_var > 0.0) {
            return Err(CoreError::value(
                "noise_var",
                noise_var,
                "must be finite and > 0",
            ));
        }
        let mut w = [0.0; DIM];
        w.copy_from_slice(weights);
        Ok(Self {
            weights: w,
            cov: spd_inverse(precision)?,
            noise_sum: noise_var * NOISE_PSEUDO,
            noise_n: NOISE_PSEUDO,
        })
    }

    /// Posterior mean of log(1 + tokens) at `x`.
    #[must_use]
    pub fn mean(&self, x: &[f64; DIM]) -> f64 {
        dot(&self.weights, x)
    }

    /// Posterior standard deviation of `mean(x)` (not of one answer's length).
    #[must_use]
    pub fn mean_sd(&self, x: &[f64; DIM]) -> f64 {
        (quad(&self.cov, x).max(0.0) * self.noise_var()).sqrt()
    }

    /// Residual variance of one answer around the mean (log space), capped at `MAX_NOISE_VAR`.
    #[must_use]
    pub fn noise_var(&self) -> f64 {
        (self.noise_sum / self.noise_n).min(MAX_NOISE_VAR)
    }

    /// Weight means, in input order.
    #[must_use]
    pub fn weights(&self) -> [f64; DIM] {
        self.weights
    }

    /// Folds in one answer: `y` = log(1 + tokens) (finite), `weight` finite and > 0.
    /// Recursive least squares: a Sherman-Morrison update of the covariance, no inverse.
    pub fn observe(&mut self, x: &[f64; DIM], y: f64, weight: f64) -> Result<(), CoreError> {
        if !y.is_finite() {
            return Err(CoreError::value("y", y, "must be finite"));
        }
        if !(weight.is_finite() && weight > 0.0) {
            return Err(CoreError::value("weight", weight, "must be finite and > 0"));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::item("x", i, x[i], "must be finite"));
        }
        let mut cx = [0.0; DIM];
        for (row, out) in self.cov.iter().zip(cx.iter_mut()) {
            *out = dot(row, x);
        }
        let denom = 1.0 / weight + dot(x, &cx);
        let err = y - self.mean(x);
        for ((row, w), &c) in self.cov.iter_mut().zip(self.weights.iter_mut()).zip(&cx) {
            let gain = c / denom;
            *w += gain * err;
            for (entry, &cj) in row.iter_mut().zip(&cx) {
                *entry -= gain * cj;
            }
        }
        let after = y - self.mean(x); // after the update: early misses of the prior do not linger
        self.noise_sum += weight * (after * after).min(MAX_SQUARED_ERROR);
        self.noise_n += weight;
        Ok(())
    }
}

pub(crate) fn dot(a: &[f64; DIM], b: &[f64; DIM]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn quad(m: &[[f64; DIM]; DIM], x: &[f64; DIM]) -> f64 {
    m.iter().zip(x).map(|(row, xi)| xi * dot(row, x)).sum()
}

/// Inverse of a symmetric positive definite matrix (row-major) by Cholesky factorisation.
#[expect(
    clippy::needless_range_loop,
    reason = "triangular index arithmetic reads clearer with indices"
)]
fn spd_inverse(a: &[f64]) -> Result<[[f64; DIM]; DIM], CoreError> {
    let at = |i: usize, j: usize| a[i * DIM + j];
    for i in 0..DIM {
        for j in 0..DIM {
            let (x, y) = (at(i, j), at(j, i));
            if !x.is_finite() || (x - y).abs() > 1e-9 * (1.0 + x.abs().max(y.abs())) {
                return Err(CoreError::item(
                    "precision",
                    i * DIM + j,
                    x,
                    "must be finite and symmetric",
                ));
            }
        }
    }
    // a = l l^T
    let mut l = [[0.0; DIM]; DIM];
    for j in 0..DIM {
        let d = at(j, j) - (0..j).map(|k| l[j][k] * l[j][k]).sum::<f64>();
        if !(d.is_finite() && d > 0.0) {
            return Err(CoreError::item(
                "precision",
                j * DIM + j,
                at(j, j),
                "must be positive definite",
            ));
        }
        l[j][j] = d.sqrt();
        for i in j + 1..DIM {
            let s = at(i, j) - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            l[i][j] = s / l[j][j];
        }
    }
    // inverse = l^-T l^-1: invert the triangle, then multiply
    let mut li = [[0.0; DIM]; DIM];
    for i in 0..DIM {
        li[i][i] = 1.0 / l[i][i];
        for j in 0..i {
            let s: f64 = (j..i).map(|k| l[i][k] * li[k][j]).sum();
            li[i][j] = -s / l[i][i];
        }
    }
    let mut inv = [[0.0; DIM]; DIM];
    for i in 0..DIM {
        for j in 0..=i {
            let s: f64 = (i..DIM).map(|k| li[k][i] * li[k][j]).sum();
            inv[i][j] = s;
            inv[j][i] = s;
        }
    }
    Ok(inv)
}

#[cfg(test)]
#[expect(
    clippy::needless_range_loop,
    reason = "tests spell out the matrix algebra with indices"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eye(scale: f64) -> Vec<f64> {
        let mut m = vec![0.0; DIM * DIM];
        for i in 0..DIM {
            m[i * DIM + i] = scale;
        }
        m
    }

    fn unit(i: usize) -> [f64; DIM] {
        let mut x = [0.0; DIM];
        x[i] = 1.0;
        x[DIM - 1] = 1.0;
        x
    }

    #[test]
    fn the_prior_predicts_its_weights() {
        let mut w = vec![0.0; DIM];
        w[DIM - 1] = 5.0;
        let m = LogLinear::new(&w, &eye(1.0), 1.0).unwrap();
        assert!((m.mean(&unit(DIM - 1)) - 5.0).abs() < 1e-12);
        assert!((m.noise_var() - 1.0).abs() < 1e-12);
        assert!((m.mean_sd(&unit(DIM - 1)) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn observations_pull_the_mean_and_shrink_its_spread() {
        let mut m = LogLinear::new(&[0.0; DIM], &eye(1.0), 1.0).unwrap();
        let x = unit(2);
        let sd0 = m.mean_sd(&x);
        for _ in 0..200 {
            m.observe(&x, 4.0, 1.0).unwrap();
        }
        assert!((m.mean(&x) - 4.0).abs() < 0.05, "{}", m.mean(&x));
        assert!(m.mean_sd(&x) < sd0 / 5.0);
        assert!(m.noise_var() < 0.1);
    }

    #[test]
    fn wild_answers_and_a_weak_prior_keep_the_noise_capped() {
        let mut m = LogLinear::new(&[0.0; DIM], &eye(1.0), 1.0).unwrap();
        for k in 0..50 {
            m.observe(&unit(k % DIM), if k % 2 == 0 { 30.0 } else { -30.0 }, 1.0)
                .unwrap();
        }
        assert!(m.noise_var() <= MAX_NOISE_VAR);
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(LogLinear::new(&[0.0; 3], &eye(1.0), 1.0).is_err());
        assert!(LogLinear::new(&[0.0; DIM], &eye(1.0)[1..], 1.0).is_err());
        assert!(LogLinear::new(&[0.0; DIM], &eye(1.0), 0.0).is_err());
        assert!(LogLinear::new(&[f64::NAN; DIM], &eye(1.0), 1.0).is_err());
        let mut asym = eye(1.0);
        asym[1] = 0.5;
        let e = LogLinear::new(&[0.0; DIM], &asym, 1.0).unwrap_err();
        assert!(e.to_string().contains("symmetric"), "{e}");
        let e = LogLinear::new(&[0.0; DIM], &eye(-1.0), 1.0).unwrap_err();
        assert!(e.to_string().contains("positive definite"), "{e}");
        let mut m = LogLinear::new(&[0.0; DIM], &eye(1.0), 1.0).unwrap();
        assert!(m.observe(&unit(0), f64::INFINITY, 1.0).is_err());
        assert!(m.observe(&unit(0), 1.0, 0.0).is_err());
        let mut x = unit(0);
        x[3] = f64::NAN;
        assert!(m.observe(&x, 1.0, 1.0).is_err());
    }

    proptest! {
        /// The rank-one updates give the batch ridge answer: the posterior mean after n
        /// observations solves (P + X'X) w = P w0 + X'y.
        #[test]
        fn online_updates_match_the_batch_solution(
            rows in prop::collection::vec((prop::array::uniform15(0.0f64..1.0), -3.0f64..8.0), 1..40),
            strength in 0.1f64..10.0,
        ) {
            let prior = eye(strength);
            let mut m = LogLinear::new(&[0.0; DIM], &prior, 1.0).unwrap();
            let mut a = [[0.0; DIM]; DIM];
            let mut b = [0.0; DIM];
            for i in 0..DIM { a[i][i] = strength; }
            for (xs, y) in &rows {
                let mut x = [1.0; DIM];
                x[..DIM - 1].copy_from_slice(xs);
                m.observe(&x, *y, 1.0).unwrap();
                for i in 0..DIM {
                    b[i] += y * x[i];
                    for j in 0..DIM { a[i][j] += x[i] * x[j]; }
                }
            }
            // residual of the normal equations at the online weights
            let w = m.weights();
            for i in 0..DIM {
                let lhs: f64 = (0..DIM).map(|j| a[i][j] * w[j]).sum();
                prop_assert!((lhs - b[i]).abs() < 1e-6 * (1.0 + b[i].abs()), "row {i}: {lhs} vs {}", b[i]);
            }
        }

        #[test]
        fn the_inverse_is_an_inverse(diag in prop::array::uniform16(0.5f64..5.0), off in -0.2f64..0.2) {
            let mut p = vec![0.0; DIM * DIM];
            for i in 0..DIM {
                p[i * DIM + i] = diag[i];
                if i + 1 < DIM {
                    p[i * DIM + i + 1] = off;
                    p[(i + 1) * DIM + i] = off;
                }
            }
            let inv = spd_inverse(&p).unwrap();
            for i in 0..DIM {
                for j in 0..DIM {
                    let v: f64 = (0..DIM).map(|k| p[i * DIM + k] * inv[k][j]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    prop_assert!((v - want).abs() < 1e-9, "({i},{j}) = {v}");
                }
            }
        }
    }
}
