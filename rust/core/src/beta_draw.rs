//! The logit of a Beta(a, b) draw, the one random number per arm behind Thompson sampling,
//! made cheap: exact (two Marsaglia–Tsang Gamma draws and one `ln`) while either shape is
//! small, and a skew-corrected Gaussian once both shapes reach `GAUSS_ABOVE`, where the two are
//! indistinguishable for routing (see `approximation_is_within_its_documented_ks_distance`).
//!
//! `logit(X / (X + Y)) = ln X - ln Y` for `X ~ Gamma(a)`, `Y ~ Gamma(b)`, whose moments are
//! digamma / trigamma / tetragamma values: mean `psi(a) - psi(b)`, variance
//! `psi1(a) + psi1(b)`, third central moment `psi2(a) - psi2(b)`. The Gaussian draw is
//! `mean + sd * (z + k (z^2 - 1))` with `k = skewness / 6` (Cornish–Fisher, first order).
use crate::rng::{GammaShape, Rng};

/// Both shapes at or above this: the Gaussian draw. Below: the exact Gamma draws.
pub const GAUSS_ABOVE: f64 = 30.0;

/// The Gaussian approximation's three constants for one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussLogit {
    pub mean: f64,
    /// > 0 (a row with 0 here draws exactly).
    pub sd: f64,
    /// Skewness / 6.
    pub k: f64,
}

impl GaussLogit {
    /// For shapes `a`, `b` (finite, > 0).
    #[must_use]
    pub fn new(a: f64, b: f64) -> Self {
        let (pa, pb) = (polygammas(a), polygammas(b));
        let var = pa.1 + pb.1;
        let sd = var.sqrt();
        Self {
            mean: pa.0 - pb.0,
            sd,
            k: (pa.2 - pb.2) / (var * sd) / 6.0,
        }
    }

    /// One draw from a standard normal `z`.
    #[must_use]
    pub fn at(&self, z: f64) -> f64 {
        self.mean + self.sd * (z + self.k * (z * z - 1.0))
    }
}

/// How one arm's Beta logit is drawn: both shapes' Gamma constants, and the Gaussian's when
/// both shapes are at least the threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaShapes {
    pub alpha: GammaShape,
    pub beta: GammaShape,
    pub gauss: Option<GaussLogit>,
}

impl BetaShapes {
    /// `a`, `b` finite and > 0; the Gaussian when `min(a, b) >= gauss_above`.
    #[must_use]
    pub fn new(a: f64, b: f64, gauss_above: f64) -> Self {
        Self {
            alpha: GammaShape::new(a),
            beta: GammaShape::new(b),
            gauss: (a.min(b) >= gauss_above).then(|| GaussLogit::new(a, b)),
        }
    }

    /// One draw of `logit(theta)`, `theta ~ Beta(a, b)` (approximately, past the threshold).
    pub fn draw(&self, rng: &mut Rng) -> f64 {
        match self.gauss {
            Some(g) => g.at(rng.normal()),
            None => beta_logit_exact(rng, &self.alpha, &self.beta),
        }
    }

    /// The same draw as the odds against it, `exp(-logit(theta)) = Y / X`: the exact draw
    /// then needs no `ln` (`(d_b / d_a) (root_b / root_a)^3`, times the boosts' `exp` only for a
    /// shape below 1). May be 0 or infinite (a sigmoid's clamp absorbs both); never negative.
    pub fn draw_odds_against(&self, rng: &mut Rng) -> f64 {
        if let Some(g) = self.gauss {
            return (-g.at(rng.normal())).exp();
        }
        let (a, b) = (&self.alpha, &self.beta);
        let (root_a, boost_a) = rng.gamma_root(a);
        let (root_b, boost_b) = rng.gamma_root(b);
        let t = root_b / root_a;
        let q = (b.d / a.d) * (t * t * t);
        if boost_a == 0.0 && boost_b == 0.0 {
            q
        } else {
            q * (boost_b - boost_a).exp()
        }
    }
}

/// `bandit::sigmoid(x)` from the odds against, `q = exp(-x)`: `1 / (1 + q)` with `x` clamped
/// to +-`LOGIT_CLAMP` (so `q` to `[exp(-30), exp(30)]`); a NaN (0 x infinity) is a coin flip.
#[must_use]
pub fn sigmoid_of_odds_against(q: f64) -> f64 {
    if q.is_nan() {
        return 0.5;
    }
    1.0 / (1.0 + q.clamp(ODDS_MIN, ODDS_MAX))
}

/// `exp(-LOGIT_CLAMP)` and `exp(LOGIT_CLAMP)`.
const ODDS_MIN: f64 = 9.357_622_968_840_175e-14;
const ODDS_MAX: f64 = 10_686_474_581_524.463;

/// `ln X - ln Y` with both Gamma draws' `ln(d v)` folded into one `ln`:
/// `ln(d_a v_a) - ln(d_b v_b) = (ln d_a - ln d_b) + 3 ln(root_a / root_b)`.
/// Never NaN for finite shapes > 0 (a NaN from subnormal shapes is a coin flip, 0).
pub fn beta_logit_exact(rng: &mut Rng, a: &GammaShape, b: &GammaShape) -> f64 {
    let (root_a, boost_a) = rng.gamma_root(a);
    let (root_b, boost_b) = rng.gamma_root(b);
    let l = (a.ln_d - b.ln_d) + 3.0 * (root_a / root_b).ln() + (boost_a - boost_b);
    if l.is_nan() {
        0.0
    } else {
        l
    }
}

/// (digamma, trigamma, tetragamma) at `x > 0`: recurrence up to 10, then the asymptotic
/// series (error < 1e-13 there).
fn polygammas(x: f64) -> (f64, f64, f64) {
    let (mut x, mut d0, mut d1, mut d2) = (x, 0.0, 0.0, 0.0);
    while x < 10.0 {
        let inv = 1.0 / x;
        d0 -= inv;
        d1 += inv * inv;
        d2 -= 2.0 * inv * inv * inv;
        x += 1.0;
    }
    let inv = 1.0 / x;
    let i2 = inv * inv;
    let psi = x.ln()
        - 0.5 * inv
        - i2 * (1.0 / 12.0 - i2 * (1.0 / 120.0 - i2 * (1.0 / 252.0 - i2 * (1.0 / 240.0))));
    let psi1 = inv
        + 0.5 * i2
        + inv * i2 * (1.0 / 6.0 - i2 * (1.0 / 30.0 - i2 * (1.0 / 42.0 - i2 * (1.0 / 30.0))));
    let psi2 =
        -i2 - inv * i2 - i2 * i2 * (0.5 - i2 * (1.0 / 6.0 - i2 * (1.0 / 6.0 - i2 * (3.0 / 10.0))));
    (psi + d0, psi1 + d1, psi2 + d2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygammas_match_known_values() {
        // psi(1) = -gamma, psi1(1) = pi^2 / 6, psi2(1) = -2 zeta(3)
        let (d0, d1, d2) = polygammas(1.0);
        assert!((d0 + 0.577_215_664_901_532_9).abs() < 1e-12, "{d0}");
        assert!(
            (d1 - std::f64::consts::PI.powi(2) / 6.0).abs() < 1e-12,
            "{d1}"
        );
        assert!((d2 + 2.0 * 1.202_056_903_159_594_3).abs() < 1e-11, "{d2}");
        // psi(x + 1) = psi(x) + 1/x across the recurrence's edge
        let (a, b) = (polygammas(9.5), polygammas(10.5));
        assert!((b.0 - a.0 - 1.0 / 9.5).abs() < 1e-13);
        assert!((a.1 - b.1 - 1.0 / (9.5 * 9.5)).abs() < 1e-13);
    }

    /// Largest gap between two sorted samples' empirical CDFs.
    fn ks(xs: &mut [f64], ys: &mut [f64]) -> f64 {
        xs.sort_by(f64::total_cmp);
        ys.sort_by(f64::total_cmp);
        let (mut i, mut j, mut worst) = (0, 0, 0.0_f64);
        #[expect(clippy::cast_precision_loss, reason = "sample sizes are small")]
        let (nx, ny) = (xs.len() as f64, ys.len() as f64);
        while i < xs.len() && j < ys.len() {
            if xs[i] <= ys[j] {
                i += 1;
            } else {
                j += 1;
            }
            #[expect(clippy::cast_precision_loss, reason = "sample sizes are small")]
            let gap = (i as f64 / nx - j as f64 / ny).abs();
            worst = worst.max(gap);
        }
        worst
    }

    fn ks_at(a: f64, b: f64, n: usize, seed: u64) -> f64 {
        let exact = BetaShapes::new(a, b, f64::INFINITY);
        let gauss = BetaShapes::new(a, b, 0.0);
        let mut r = Rng::new(seed);
        let mut xs: Vec<f64> = (0..n).map(|_| exact.draw(&mut r)).collect();
        let mut ys: Vec<f64> = (0..n).map(|_| gauss.draw(&mut r)).collect();
        ks(&mut xs, &mut ys)
    }

    /// The figures scale.md quotes (run with `--nocapture` to print them). With 400,000 draws
    /// a side, two samples of one distribution differ by ~0.002 (KS 95%: 0.003).
    #[test]
    fn approximation_is_within_its_documented_ks_distance() {
        for &(a, b) in &[(30.0, 30.0), (30.0, 300.0), (30.0, 3000.0), (100.0, 30.0)] {
            let d = ks_at(a, b, 400_000, 17);
            println!("KS(exact, gauss) at Beta({a}, {b}): {d:.4}");
            assert!(d < 0.004, "Beta({a}, {b}): KS {d}");
        }
        // without the skew correction the far-apart shapes are visibly off: the test can fail
        let plain = |g: GaussLogit| GaussLogit { k: 0.0, ..g };
        let exact = BetaShapes::new(30.0, 3000.0, f64::INFINITY);
        let mut gauss = BetaShapes::new(30.0, 3000.0, 0.0);
        gauss.gauss = gauss.gauss.map(plain);
        let mut r = Rng::new(3);
        let mut xs: Vec<f64> = (0..400_000).map(|_| exact.draw(&mut r)).collect();
        let mut ys: Vec<f64> = (0..400_000).map(|_| gauss.draw(&mut r)).collect();
        let d = ks(&mut xs, &mut ys);
        println!("KS without the skew term at Beta(30, 3000): {d:.4}");
        assert!(d > 0.006, "{d}");
    }

    #[test]
    fn exact_draws_have_the_beta_mean() {
        for &(a, b) in &[(1.0, 1.0), (0.5, 0.5), (2.0, 8.0), (30.0, 3.0), (0.05, 2.0)] {
            let shapes = BetaShapes::new(a, b, f64::INFINITY);
            let mut r = Rng::new(2024);
            let n = 100_000;
            let mean: f64 = (0..n)
                .map(|_| 1.0 / (1.0 + (-shapes.draw(&mut r)).exp()))
                .sum::<f64>()
                / f64::from(n);
            assert!((mean - a / (a + b)).abs() < 0.01, "Beta({a},{b}): {mean}");
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "the clamp's bounds are exact")]
    fn odds_clamp_is_the_sigmoids() {
        use crate::bandit::{sigmoid, LOGIT_CLAMP};
        assert_eq!(ODDS_MIN, (-LOGIT_CLAMP).exp());
        assert_eq!(ODDS_MAX, LOGIT_CLAMP.exp());
        for x in [-40.0_f64, -30.0, -3.0, 0.0, 0.5, 29.0, 31.0] {
            let got = sigmoid_of_odds_against((-x).exp());
            assert!((got - sigmoid(x)).abs() < 1e-15, "{x}: {got}");
        }
        assert_eq!(sigmoid_of_odds_against(f64::NAN), 0.5);
        assert_eq!(sigmoid_of_odds_against(f64::INFINITY), sigmoid(-40.0));
    }

    #[test]
    fn odds_draws_are_the_logit_draws() {
        for &(a, b) in &[(0.3, 2.0), (2.0, 8.0), (40.0, 35.0)] {
            let shapes = BetaShapes::new(a, b, GAUSS_ABOVE);
            let (mut r1, mut r2) = (Rng::new(9), Rng::new(9));
            for _ in 0..1_000 {
                let l = shapes.draw(&mut r1);
                let q = shapes.draw_odds_against(&mut r2);
                assert!(
                    (q.ln() + l).abs() < 1e-9 * (1.0 + l.abs()),
                    "Beta({a},{b}): {l} {q}"
                );
            }
        }
    }

    #[test]
    fn tiny_shapes_never_draw_nan() {
        let shapes = BetaShapes::new(1e-3, 1e-3, GAUSS_ABOVE);
        let mut r = Rng::new(3);
        assert!((0..10_000).all(|_| !shapes.draw(&mut r).is_nan()));
    }
}
