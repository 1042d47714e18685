//! Packed arm tables: one row per pool model of everything a routing decision reads that only
//! changes with the policy (the Beta posterior's prepared constants, the per-prompt slope), so
//! a decision over n models is one pass over n rows: no per-request `ln`/`sqrt` of posteriors
//! and no per-request array building in Python. Bit-identical to `choose` plus the Python
//! router's per-model shift (`Router._shift`), which `tests/test_routing_fast.py` checks.
use crate::bandit::{choose_prepared, Choice, Policy, PreparedArm};
use crate::error::CoreError;
use crate::rng::GammaShape;

/// f64 values per row: logit mean, alpha's (shape, d, c, ln d), beta's (shape, d, c, ln d),
/// slope learned (1.0) or the prior's (0.0), slope mean, sqrt(slope precision), slope center.
pub const ARM_ROW: usize = 13;

/// Rows for n arms (every slice of length n). `alpha`, `beta` finite and > 0; `precision`
/// finite and > 0; `mean`, `center` finite.
pub fn pack_arms(
    alpha: &[f64],
    beta: &[f64],
    learned: &[f64],
    mean: &[f64],
    precision: &[f64],
    center: &[f64],
) -> Result<Vec<f64>, CoreError> {
    let prepared = crate::bandit::prepare(alpha, beta)?;
    let n = alpha.len();
    for (name, xs) in [
        ("learned", learned),
        ("mean", mean),
        ("precision", precision),
        ("center", center),
    ] {
        if xs.len() != n {
            return Err(CoreError::LengthMismatch {
                name,
                got: xs.len(),
                expected: n,
            });
        }
    }
    let mut out = Vec::with_capacity(n * ARM_ROW);
    for (i, arm) in prepared.iter().enumerate() {
        if !(precision[i].is_finite() && precision[i] > 0.0) {
            return Err(CoreError::item(
                "precision",
                i,
                precision[i],
                "must be finite and > 0",
            ));
        }
        for (name, x) in [("mean", mean[i]), ("center", center[i])] {
            if !x.is_finite() {
                return Err(CoreError::item(name, i, x, "must be finite"));
            }
        }
        out.push(arm.logit_mean);
        for g in [arm.alpha, arm.beta] {
            out.extend([g.shape, g.d, g.c, g.ln_d]);
        }
        out.extend([
            f64::from(u8::from(learned[i] != 0.0)),
            mean[i],
            precision[i].sqrt(),
            center[i],
        ]);
    }
    Ok(out)
}

/// What one request brings to a decision over a packed table.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Eligible rows, in the order of `cost` (empty: every row).
    pub picks: &'a [usize],
    /// Expected cost per eligible row.
    pub cost: &'a [f64],
    /// One standard normal per eligible row for the slope's Thompson draw; read only when
    /// `easiness` is set and `policy.explore > 0`.
    pub noise: &'a [f64],
    /// The prompt's difficulty score (`None`: no per-prompt shift).
    pub easiness: Option<f64>,
    /// The task's mean easiness: the center of a slope not yet learned.
    pub center0: f64,
}

/// The per-prompt logit shift of one row: `mean * (e - center)`, plus
/// `explore * noise * |e - center| / sqrt(precision)` when exploring (`Router._shift`).
fn shift(row: &[f64; ARM_ROW], e: f64, center0: f64, explore: f64, noise: Option<f64>) -> f64 {
    let center = if row[9] == 0.0 { center0 } else { row[12] };
    let base = row[10] * (e - center);
    match noise {
        Some(z) => base + explore * (z * ((e - center).abs() / row[11])),
        None => base,
    }
}

fn prepared(row: &[f64; ARM_ROW]) -> PreparedArm {
    let gamma = |at: usize| GammaShape {
        shape: row[at],
        d: row[at + 1],
        c: row[at + 2],
        ln_d: row[at + 3],
    };
    PreparedArm {
        logit_mean: row[0],
        alpha: gamma(1),
        beta: gamma(5),
    }
}

/// `choose` over the eligible rows of a packed table of `n_rows` rows, `row(i)` reading row i.
pub fn decide_rows(
    n_rows: usize,
    row: impl Fn(usize) -> [f64; ARM_ROW],
    req: &Request<'_>,
    policy: &Policy,
) -> Result<Choice, CoreError> {
    let n = if req.picks.is_empty() {
        n_rows
    } else {
        req.picks.len()
    };
    if let Some(&bad) = req.picks.iter().find(|&&i| i >= n_rows) {
        return Err(CoreError::InvalidInteger {
            name: "picks",
            value: i64::try_from(bad).unwrap_or(i64::MAX),
            rule: "must be a row of the table",
        });
    }
    if req.cost.len() != n {
        return Err(CoreError::LengthMismatch {
            name: "cost",
            got: req.cost.len(),
            expected: n,
        });
    }
    let explore_slope = req.easiness.is_some() && policy.explore > 0.0;
    if explore_slope && req.noise.len() != n {
        return Err(CoreError::LengthMismatch {
            name: "noise",
            got: req.noise.len(),
            expected: n,
        });
    }
    let at = |j: usize| {
        if req.picks.is_empty() {
            j
        } else {
            req.picks[j]
        }
    };
    let rows: Vec<[f64; ARM_ROW]> = (0..n).map(|j| row(at(j))).collect();
    let shifts: Vec<f64> = match req.easiness {
        None => vec![0.0; n],
        Some(e) => rows
            .iter()
            .enumerate()
            .map(|(j, r)| {
                let z = explore_slope.then(|| req.noise[j]);
                shift(r, e, req.center0, policy.explore, z)
            })
            .collect(),
    };
    choose_prepared(rows.iter().map(prepared), req.cost, &shifts, policy)
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "the packed path must be bit-identical")]
mod tests {
    use super::*;
    use crate::bandit::{choose, Arms};
    use crate::rng::Rng;

    fn policy(baseline: Option<usize>, explore: f64, seed: u64) -> Policy {
        Policy {
            baseline,
            quality_target: 0.9,
            explore,
            seed,
            cost_weight: 0.0,
        }
    }

    #[test]
    fn packed_rows_choose_exactly_as_choose() {
        let mut r = Rng::new(5);
        for case in 0..200_u64 {
            let n = 1 + usize::try_from(case % 37).unwrap();
            let alpha: Vec<f64> = (0..n).map(|_| 0.05 + 20.0 * r.open01()).collect();
            let beta: Vec<f64> = (0..n).map(|_| 0.05 + 20.0 * r.open01()).collect();
            let cost: Vec<f64> = (0..n).map(|_| r.open01()).collect();
            let zeros = vec![0.0; n];
            let ones = vec![1.0; n];
            let table = pack_arms(&alpha, &beta, &zeros, &zeros, &ones, &zeros).unwrap();
            let row = |i: usize| -> [f64; ARM_ROW] {
                table[i * ARM_ROW..(i + 1) * ARM_ROW].try_into().unwrap()
            };
            let explore = [0.0, 0.5, 1.0][usize::try_from(case % 3).unwrap()];
            let p = policy(Some(0), explore, case);
            let req = Request {
                picks: &[],
                cost: &cost,
                noise: &[],
                easiness: None,
                center0: 0.0,
            };
            let got = decide_rows(n, row, &req, &p).unwrap();
            let arms = Arms {
                alpha: &alpha,
                beta: &beta,
                cost: &cost,
                shift: &zeros,
            };
            assert_eq!(got, choose(&arms, &p).unwrap());
        }
    }

    #[test]
    fn shift_is_the_slope_plus_its_scaled_draw() {
        let table = pack_arms(
            &[2.0, 2.0],
            &[2.0, 2.0],
            &[1.0, 0.0],
            &[0.5, 1.0],
            &[4.0, 4.0],
            &[0.2, 9.0],
        )
        .unwrap();
        let row = |i: usize| -> [f64; ARM_ROW] {
            table[i * ARM_ROW..(i + 1) * ARM_ROW].try_into().unwrap()
        };
        // learned: its own center 0.2; not learned: the task's center 0.1
        assert_eq!(
            shift(&row(0), 1.0, 0.1, 1.0, Some(2.0)),
            0.5 * 0.8 + 2.0 * (0.8 / 2.0)
        );
        assert_eq!(shift(&row(1), 1.0, 0.1, 0.5, None), 1.0 * (1.0 - 0.1));
    }

    #[test]
    fn bad_rows_and_lengths_are_errors() {
        let table = pack_arms(&[2.0], &[2.0], &[0.0], &[0.0], &[1.0], &[0.0]).unwrap();
        let row = |_: usize| -> [f64; ARM_ROW] { table[..ARM_ROW].try_into().unwrap() };
        let p = policy(None, 1.0, 1);
        let req = |picks: &'static [usize], noise: &'static [f64]| Request {
            picks,
            cost: &[0.1],
            noise,
            easiness: Some(0.5),
            center0: 0.0,
        };
        let e = decide_rows(1, row, &req(&[3], &[0.0]), &p).unwrap_err();
        assert!(e.to_string().contains("picks"), "{e}");
        let e = decide_rows(1, row, &req(&[], &[]), &p).unwrap_err();
        assert!(e.to_string().contains("noise"), "{e}");
        assert!(pack_arms(&[0.0], &[1.0], &[0.0], &[0.0], &[1.0], &[0.0]).is_err());
        assert!(pack_arms(&[1.0], &[1.0], &[0.0], &[0.0], &[0.0], &[0.0]).is_err());
    }
}
