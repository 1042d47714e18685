//! Small seeded PRNG (xoshiro256++ seeded by splitmix64) and the Gamma/Beta samplers built on it
//! (normals by the ziggurat, `crate::ziggurat`).
//! Deterministic by construction: the same seed yields the same stream on every platform.

/// xoshiro256++ generator. Not cryptographic; fast and statistically solid for sampling.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// Seeds the four state words from `seed` through splitmix64 (never all zero).
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Self { s }
    }

    /// Next raw 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in the open interval (0, 1): safe to take `ln` of.
    pub fn open01(&mut self) -> f64 {
        // 52 random mantissa bits, offset by half a step so 0 and 1 are never produced.
        ((self.next_u64() >> 12) as f64 + 0.5) * (1.0 / (1u64 << 52) as f64)
    }

    /// Standard normal (the ziggurat method, `crate::ziggurat`).
    pub fn normal(&mut self) -> f64 {
        crate::ziggurat::normal(self)
    }

    /// Natural log of a Gamma(shape, 1) draw (Marsaglia–Tsang; shape < 1 via the
    /// `G(a) = G(a + 1) * U^(1/a)` boost). Log space keeps tiny shapes from underflowing to 0.
    /// `shape` must be finite and > 0 (checked by callers).
    pub fn ln_gamma_draw(&mut self, shape: f64) -> f64 {
        self.ln_gamma(&GammaShape::new(shape))
    }

    /// `ln_gamma_draw` with the shape's constants computed once (the same draw, bit for bit):
    /// `ln(d v)` with `v = root^3` from `gamma_root`'s accepted root (`ln d` when no try is
    /// accepted), plus the boost.
    pub fn ln_gamma(&mut self, g: &GammaShape) -> f64 {
        let (root, boost) = self.gamma_root(g);
        let v = root * root * root;
        with_boost(g.ln_d + v.ln(), boost, g.shape)
    }

    /// The accepted Marsaglia–Tsang root `1 + c x` of one Gamma draw (the draw is
    /// `d * root^3`), and the log of the boost for a shape below 1 (else 0), from the same
    /// stream as `ln_gamma`: `ln_gamma(g) = g.ln_d + 3 ln(root) + boost`. Lets a Beta draw
    /// take one `ln` of the two roots' ratio instead of one per Gamma draw.
    #[expect(
        clippy::many_single_char_names,
        reason = "d, c, x, v, u follow Marsaglia & Tsang (2000)"
    )]
    pub fn gamma_root(&mut self, g: &GammaShape) -> (f64, f64) {
        let boost = if g.shape < 1.0 {
            self.open01().ln() / g.shape
        } else {
            0.0
        };
        let (d, c) = (g.d, g.c);
        for _ in 0..256 {
            let x = self.normal();
            let root = 1.0 + c * x;
            if root <= 0.0 {
                continue;
            }
            let v = root * root * root;
            let u = self.open01();
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
                return (root, boost);
            }
        }
        (1.0, boost)
    }

    /// Logit of an exact Beta(a, b) draw: `ln X - ln Y` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`,
    /// since `logit(X / (X + Y)) = ln X - ln Y` (`beta_draw::beta_logit_exact`). Never NaN
    /// for finite a, b > 0.
    pub fn beta_logit(&mut self, a: f64, b: f64) -> f64 {
        crate::beta_draw::beta_logit_exact(self, &GammaShape::new(a), &GammaShape::new(b))
    }
}

/// A shape below 1 draws at `shape + 1` and adds the boost (kept as the recursive form's sum).
fn with_boost(ln_draw: f64, boost: f64, shape: f64) -> f64 {
    if shape < 1.0 {
        ln_draw + boost
    } else {
        ln_draw
    }
}

/// The per-shape constants of a Marsaglia–Tsang Gamma draw, computed once per posterior
/// change instead of once per draw: `d = s - 1/3`, `c = 1 / sqrt(9 d)`, `ln d`, where `s` is
/// the shape, or `shape + 1` below 1 (the boost).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GammaShape {
    pub shape: f64,
    pub d: f64,
    pub c: f64,
    pub ln_d: f64,
}

impl GammaShape {
    #[must_use]
    pub fn new(shape: f64) -> Self {
        let s = if shape < 1.0 { shape + 1.0 } else { shape };
        let d = s - 1.0 / 3.0;
        Self {
            shape,
            d,
            c: 1.0 / (9.0 * d).sqrt(),
            ln_d: d.ln(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bandit::sigmoid;

    #[test]
    fn same_seed_same_stream_and_seeds_differ() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn open01_stays_open_and_centred() {
        let mut r = Rng::new(7);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = r.open01();
            assert!(u > 0.0 && u < 1.0);
            sum += u;
        }
        assert!((sum / f64::from(n) - 0.5).abs() < 0.01);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let z = r.normal();
            s1 += z;
            s2 += z * z;
        }
        let mean = s1 / f64::from(n);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((s2 / f64::from(n) - 1.0).abs() < 0.02);
    }

    #[test]
    fn gamma_mean_matches_shape() {
        for &shape in &[0.3, 1.0, 2.5, 40.0] {
            let mut r = Rng::new(9);
            let n = 100_000;
            let mean: f64 =
                (0..n).map(|_| r.ln_gamma_draw(shape).exp()).sum::<f64>() / f64::from(n);
            assert!(
                (mean - shape).abs() < 0.03 * shape.max(1.0),
                "shape {shape}: {mean}"
            );
        }
    }

    #[test]
    fn beta_sampler_mean_is_a_over_a_plus_b() {
        for &(a, b) in &[(1.0, 1.0), (0.5, 0.5), (2.0, 8.0), (30.0, 3.0), (0.05, 2.0)] {
            let mut r = Rng::new(2024);
            let n = 100_000;
            let mean: f64 = (0..n).map(|_| sigmoid(r.beta_logit(a, b))).sum::<f64>() / f64::from(n);
            let want = a / (a + b);
            assert!(
                (mean - want).abs() < 0.01,
                "Beta({a},{b}): {mean} vs {want}"
            );
        }
    }

    #[test]
    fn tiny_shapes_stay_finite() {
        let mut r = Rng::new(3);
        for _ in 0..10_000 {
            let l = r.beta_logit(1e-3, 1e-3);
            assert!(!l.is_nan());
        }
    }

    /// The draw before its constants were prepared once (recomputed on every call, recursing
    /// for shapes below 1): the prepared form must give the same bits from the same stream.
    #[expect(
        clippy::many_single_char_names,
        reason = "as in Marsaglia & Tsang (2000)"
    )]
    fn ln_gamma_recomputed(r: &mut Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = r.open01().ln() / shape;
            return ln_gamma_recomputed(r, shape + 1.0) + boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        for _ in 0..256 {
            let x = r.normal();
            let root = 1.0 + c * x;
            if root <= 0.0 {
                continue;
            }
            let v = root * root * root;
            let u = r.open01();
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 || u.ln() < 0.5 * x2 + d * (1.0 - v + v.ln()) {
                return d.ln() + v.ln();
            }
        }
        d.ln()
    }

    #[test]
    fn prepared_shapes_draw_the_same_bits() {
        for &shape in &[1e-3, 0.05, 0.3, 0.999, 1.0, 1.5, 2.5, 8.0, 40.0, 1e4] {
            let (mut a, mut b) = (Rng::new(11), Rng::new(11));
            let g = GammaShape::new(shape);
            for _ in 0..2_000 {
                assert_eq!(
                    a.ln_gamma(&g).to_bits(),
                    ln_gamma_recomputed(&mut b, shape).to_bits(),
                    "shape {shape}"
                );
            }
        }
    }
}
