//! Batch kernels for routing over large pools: the per-model arithmetic of the Python router
//! (answer-length predictions, Gaussian draws, rounding) over packed arrays, bit-identical to the
//! per-model path so a large pool decides exactly as a small one would.
use crate::error::CoreError;

/// The mean of the log-normal answer length with log mean `log_mean` and residual variance
/// `noise_var`, at most `exp(max_log) - 1` and at least 1 token (`OutputLength.expected`).
#[must_use]
pub fn predicted_tokens(log_mean: f64, noise_var: f64, max_log: f64) -> f64 {
    (log_mean + noise_var / 2.0).min(max_log).exp_m1().max(1.0)
}

/// Standard normal pairs from 32-bit Mersenne Twister words, exactly as `CPython`'s
/// `random.gauss` makes them: four words give two `random()` values `u1, u2` (53 bits each)
/// and the pair `(cos(2 pi u1) r, sin(2 pi u1) r)` with `r = sqrt(-2 ln(1 - u2))`.
/// `words.len()` must be a multiple of 4; the result has `words.len() / 2` values.
pub fn gauss_pairs(words: &[u32]) -> Result<Vec<f64>, CoreError> {
    if !words.len().is_multiple_of(4) {
        return Err(CoreError::LengthMismatch {
            name: "words",
            got: words.len(),
            expected: words.len() / 4 * 4,
        });
    }
    let res53 = |a: u32, b: u32| {
        (f64::from(a >> 5) * 67_108_864.0 + f64::from(b >> 6)) * (1.0 / 9_007_199_254_740_992.0)
    };
    let two_pi = 2.0 * std::f64::consts::PI;
    let mut out = Vec::with_capacity(words.len() / 2);
    for w in words.chunks_exact(4) {
        let x2pi = res53(w[0], w[1]) * two_pi;
        let g2rad = (-2.0 * (1.0 - res53(w[2], w[3])).ln()).sqrt();
        out.push(x2pi.cos() * g2rad);
        out.push(x2pi.sin() * g2rad);
    }
    Ok(out)
}

/// Python's `round(x, digits)` for `digits` in 0..=8, bit for bit: the decimal nearest to the
/// exact binary value of `x` (ties to even), as the nearest f64. `x = m 2^-k` is exact in
/// integers, so `m 10^digits` splits exactly into the integer part and the remainder; the
/// result is `q / 10^digits`, one correctly rounded division (what `CPython`'s `strtod` of the
/// rounded decimal gives). `None` where `q` would not be exact in f64 (|x| >= 2^53 / 10^digits
/// with a fraction): the caller rounds those itself.
#[must_use]
#[expect(
    clippy::many_single_char_names,
    reason = "x = m 2^e, n = m 10^digits, n = q 2^k + rem, as in the comment"
)]
#[expect(
    clippy::missing_panics_doc,
    reason = "cannot panic: an 11-bit exponent, and -e <= 1074"
)]
pub fn round_decimal(x: f64, digits: u32) -> Option<f64> {
    if !x.is_finite() || x == 0.0 || digits > 8 {
        return (digits <= 8).then_some(x);
    }
    let bits = x.to_bits();
    let biased = i64::try_from((bits >> 52) & 0x7ff).expect("11 bits");
    let fraction = u128::from(bits & ((1_u64 << 52) - 1));
    // x = m 2^e, m < 2^53 (subnormals: no implicit bit, the smallest exponent)
    let (m, e) = if biased == 0 {
        (fraction, -1074_i64)
    } else {
        (fraction | (1_u128 << 52), biased - 1075)
    };
    if e >= 0 {
        return Some(x); // an integer already
    }
    let k = u32::try_from(-e).expect("exponent fits");
    let scale = 10_u128.pow(digits);
    let n = m * scale; // < 2^53 * 10^8 < 2^80: exact
    let q = if k >= 100 {
        0 // n / 2^k < 2^-20: rounds to 0
    } else {
        let q = n >> k;
        let rem = n - (q << k);
        let half = 1_u128 << (k - 1);
        if rem > half || (rem == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    if q >= 1_u128 << 53 {
        return None;
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "q < 2^53 and 10^8 are exact in f64"
    )]
    let r = q as f64 / scale as f64;
    Some(if x < 0.0 { -r } else { r })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicted_tokens_are_the_log_normal_mean_capped_and_at_least_one() {
        let max_log = 1_000_000f64.ln_1p();
        let got = predicted_tokens(5.5, 0.5, max_log);
        assert!((got - (5.75_f64).exp_m1()).abs() < f64::EPSILON * got);
        assert!((predicted_tokens(-50.0, 1.0, max_log) - 1.0).abs() < f64::EPSILON);
        assert!((predicted_tokens(500.0, 1.0, max_log) - 1_000_000.0).abs() < 1e-6);
    }

    #[test]
    fn round_decimal_halves_go_to_even_on_the_exact_value() {
        // 0.03125 = 1/32 is an exact tie at 4 digits: to even, 0.0312
        assert_eq!(round_decimal(0.031_25, 4), Some(0.0312));
        assert_eq!(round_decimal(0.093_75, 4), Some(0.0938));
        // 2.675 is just below 2.675 in binary: 2.67, as Python says
        assert_eq!(round_decimal(2.675, 2), Some(2.67));
        assert_eq!(round_decimal(-0.123_45, 4), Some(-0.1235)); // -0.12345 is above in binary
        assert_eq!(round_decimal(1e-30, 4), Some(0.0));
        assert_eq!(round_decimal(f64::MIN_POSITIVE / 4.0, 4), Some(0.0));
        assert_eq!(round_decimal(3.0, 4), Some(3.0));
        assert_eq!(round_decimal(1e12 + 0.5, 4), None);
        assert_eq!(round_decimal(0.5, 9), None);
    }

    #[test]
    fn gauss_pairs_are_box_muller() {
        let got = gauss_pairs(&[0, 0, 0, 0, u32::MAX, u32::MAX, 7, 9]).unwrap();
        assert_eq!(got.len(), 4);
        assert!(got[0].abs() < f64::EPSILON && got[1].abs() < f64::EPSILON); // u2 = 0: r = 0
        assert!(got.iter().all(|z| z.is_finite()));
        assert!(gauss_pairs(&[1, 2, 3]).is_err());
    }
}
