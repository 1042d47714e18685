//! Packed arm tables: one row per pool model of everything a routing decision reads that only
//! changes with the policy (the Beta posterior's prepared draw, the per-prompt slope), so a
//! decision over n models is one pass over n rows: per row its shift (with the slope's
//! Thompson draw), its mean and Beta draw, then the rule and the top-k scores; no per-request
//! `ln`/`sqrt` of posteriors and no per-request array building in Python. The same numbers as
//! `choose` given the shifts `slope_noise` implies, which `tests/test_routing_fast.py` checks
//! against the Python router's per-model reference.

use crate::bandit::{
    cheapest_of, rule, rule_with, validate_costs, validate_policy, Choice, Policy, PreparedArm,
    RuleCosts,
};
use crate::beta_draw::{BetaShapes, GaussLogit};
use crate::error::CoreError;
use crate::request_cost::{Pricing, APPROX_COST_ERROR};
use crate::rng::{GammaShape, Rng};

/// f64 values per row: the mean's odds against (`beta / alpha`), alpha's (shape, d, c, ln d), beta's (shape, d, c, ln d),
/// slope learned (1.0) or the prior's (0.0), slope mean, sqrt(slope precision), slope center,
/// the Gaussian Beta draw's (mean, sd, k) (sd 0: the exact draw).
pub const ARM_ROW: usize = 16;

/// Salt of the slope draws' stream: independent of the Beta draws' stream of the same seed.
pub(crate) const SLOPE_STREAM: u64 = 0x05EE_D0F5_107E_u64;

/// The standard normals a decision with `seed` draws for its slopes, one per eligible row in
/// order (what `Router.decide_reference` adds to each model's shift).
#[must_use]
pub fn slope_noise(seed: u64, n: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed ^ SLOPE_STREAM);
    (0..n).map(|_| rng.normal()).collect()
}

/// Rows for n arms (every slice of length n). `alpha`, `beta` finite and > 0; `precision`
/// finite and > 0; `mean`, `center` finite. Arms whose shapes are both at least
/// `gauss_above` draw from the Gaussian approximation (`beta_draw`; infinity: never).
pub fn pack_arms(
    alpha: &[f64],
    beta: &[f64],
    learned: &[f64],
    mean: &[f64],
    precision: &[f64],
    center: &[f64],
    gauss_above: f64,
) -> Result<Vec<f64>, CoreError> {
    let prepared = crate::bandit::prepare(alpha, beta, gauss_above)?;
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
        out.push(arm.odds_against);
        for g in [arm.shapes.alpha, arm.shapes.beta] {
            out.extend([g.shape, g.d, g.c, g.ln_d]);
        }
        out.extend([
            f64::from(u8::from(learned[i] != 0.0)),
            mean[i],
            precision[i].sqrt(),
            center[i],
        ]);
        let g = arm.shapes.gauss.unwrap_or(GaussLogit {
            mean: 0.0,
            sd: 0.0,
            k: 0.0,
        });
        out.extend([g.mean, g.sd, g.k]);
    }
    Ok(out)
}

/// Where a decision's per-row expected costs come from.
#[derive(Debug, Clone, Copy)]
pub enum Costs<'a> {
    /// One per eligible row, in the order of `picks`.
    Given(&'a [f64]),
    /// Computed in the pass from the pool's prices and answer-length regressions (indexed by
    /// table row).
    Priced(&'a Pricing<'a>),
}

/// What one request brings to a decision over a packed table.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Eligible rows, in candidate order (empty: every row).
    pub picks: &'a [usize],
    /// Expected cost per eligible row.
    pub cost: Costs<'a>,
    /// What the rule compares instead of `cost`, one per eligible row (a Thompson draw of each
    /// cost; `None`: `cost` itself).
    pub rule_cost: Option<&'a [f64]>,
    /// The prompt's difficulty score (`None`: no per-prompt shift); finite.
    pub easiness: Option<f64>,
    /// The task's mean easiness: the center of a slope not yet learned; finite.
    pub center0: f64,
    /// How many of the best scores to return, highest first (`Decision::top`).
    pub top: usize,
    /// Priced costs: compute every candidate's (`Decision::cost`), not only those the rule
    /// reads (under a quality target, the candidates that clear it, approximately first).
    pub every_cost: bool,
}

impl Request<'_> {
    /// The table row of candidate j.
    #[must_use]
    pub fn row(&self, j: usize) -> usize {
        if self.picks.is_empty() {
            j
        } else {
            self.picks[j]
        }
    }
}

/// `choose`'s result over a table, the `top` best eligible positions (by score, highest
/// first, ties in position order) and each eligible row's expected cost (empty when the
/// request's priced costs were computed only where the rule read them: `cost_of`).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub choice: Choice,
    pub top: Vec<usize>,
    pub cost: Vec<f64>,
}

impl Decision {
    /// Candidate j's expected cost in the decision `req` made.
    #[must_use]
    pub fn cost_of(&self, req: &Request<'_>, j: usize) -> f64 {
        match req.cost {
            Costs::Priced(pricing) if self.cost.is_empty() => pricing.cost(req.row(j)),
            _ => self.cost[j],
        }
    }
}

/// A request's priced costs, computed when the rule reads them: under a quality target the
/// cheapest candidate that clears it is found among approximate costs (`exp` for `expm1`),
/// then exactly among those within the approximation's error of the least: the same pick as
/// every exact cost would give.
struct OnDemand<'a> {
    pricing: &'a Pricing<'a>,
    req: &'a Request<'a>,
}

impl RuleCosts for OnDemand<'_> {
    fn cost(&self, j: usize) -> f64 {
        self.pricing.cost(self.req.row(j))
    }

    fn cheapest_meeting(&self, scores: &[f64], target: f64) -> Option<usize> {
        let clear: Vec<(usize, f64)> = (0..scores.len())
            .filter(|&j| scores[j] >= target)
            .map(|j| (j, self.pricing.approx_cost(self.req.row(j))))
            .collect();
        let least = clear.iter().map(|&(_, a)| a).fold(f64::INFINITY, f64::min);
        // the exact least is within the band (both errors are < APPROX_COST_ERROR relative)
        let band = least * (1.0 + 4.0 * APPROX_COST_ERROR) + f64::MIN_POSITIVE;
        let near = clear.iter().filter(|&&(_, a)| a <= band).map(|&(j, _)| j);
        cheapest_of(scores, near, |j| self.cost(j))
    }
}

/// The per-prompt logit shift of one row: `mean * (e - center)`, plus
/// `explore * noise * |e - center| / sqrt(precision)` when exploring (`Router._shift`).
pub(crate) fn shift(
    row: &[f64; ARM_ROW],
    e: f64,
    center0: f64,
    explore: f64,
    noise: Option<f64>,
) -> f64 {
    let center = if row[9] == 0.0 { center0 } else { row[12] };
    let base = row[10] * (e - center);
    match noise {
        Some(z) => base + explore * (z * ((e - center).abs() / row[11])),
        None => base,
    }
}

/// The row as the `PreparedArm` it was packed from.
#[must_use]
pub fn prepared(row: &[f64; ARM_ROW]) -> PreparedArm {
    let gamma = |at: usize| GammaShape {
        shape: row[at],
        d: row[at + 1],
        c: row[at + 2],
        ln_d: row[at + 3],
    };
    let gauss = (row[14] > 0.0).then_some(GaussLogit {
        mean: row[13],
        sd: row[14],
        k: row[15],
    });
    PreparedArm {
        odds_against: row[0],
        shapes: BetaShapes {
            alpha: gamma(1),
            beta: gamma(5),
            gauss,
        },
    }
}

/// How many arms a request decides among (its picks, else every row), once its picks and
/// scalars are checked: shared by every pass over the packed table.
pub(crate) fn checked_request(n_rows: usize, req: &Request<'_>) -> Result<usize, CoreError> {
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
    for (name, x) in [
        ("easiness", req.easiness.unwrap_or(0.0)),
        ("center0", req.center0),
    ] {
        if !x.is_finite() {
            return Err(CoreError::value(name, x, "must be finite"));
        }
    }
    Ok(n)
}

/// `choose` over the eligible rows of a packed table of `n_rows` rows, `row(i)` reading row i,
/// in one pass: each row's shift (its slope draw from `slope_noise`'s stream when `easiness` is
/// set and `policy.explore > 0`), mean and Beta draw (one stream seeded by `policy.seed`, as
/// `choose`), then the rule and the `top` best.
pub fn decide_rows(
    n_rows: usize,
    row: impl Fn(usize) -> [f64; ARM_ROW],
    req: &Request<'_>,
    policy: &Policy,
) -> Result<Decision, CoreError> {
    let n = checked_request(n_rows, req)?;
    // the knobs and the costs before the draws
    validate_policy(n, policy)?;
    if let Costs::Given(given) = req.cost {
        validate_costs(n, given)?;
    }
    if let Some(given) = req.rule_cost {
        validate_costs(n, given)?;
    }
    // the costs in a loop of their own: rows are independent there, so the CPU overlaps
    // one row's dot product and `expm1` with the next row's (in the draws' loop it cannot)
    let on_demand = match req.cost {
        Costs::Priced(pricing) if lazy_costs(req, policy) => Some(OnDemand { pricing, req }),
        _ => None,
    };
    let cost = match req.cost {
        Costs::Given(given) => given.to_vec(),
        Costs::Priced(_) if on_demand.is_some() => Vec::new(),
        Costs::Priced(pricing) => {
            let cost: Vec<f64> = (0..n).map(|j| pricing.cost(req.row(j))).collect();
            validate_costs(n, &cost)?;
            cost
        }
    };
    let mut rng = Rng::new(policy.seed);
    let mut slopes = Rng::new(policy.seed ^ SLOPE_STREAM);
    let explore_slope = req.easiness.is_some() && policy.explore > 0.0;
    let mut scores = Vec::with_capacity(n);
    let mut means = Vec::with_capacity(n);
    for j in 0..n {
        let r = row(req.row(j));
        let s = match req.easiness {
            None => 0.0,
            Some(e) => {
                let z = explore_slope.then(|| slopes.normal());
                shift(&r, e, req.center0, policy.explore, z)
            }
        };
        let (mean, score) =
            prepared(&r).mean_and_score(s, policy.explore, policy.floors(j), &mut rng);
        means.push(mean);
        scores.push(score);
    }
    let top = top_k(&scores, req.top);
    let choice = match (&on_demand, req.rule_cost) {
        (_, Some(drawn)) => rule(scores, means, drawn, policy),
        (Some(costs), None) => rule_with(scores, means, costs, policy),
        (None, None) => rule(scores, means, &cost, policy),
    };
    Ok(Decision { choice, top, cost })
}

/// Whether the rule reads only a few of the priced costs (under a quality target, with no
/// drawn costs) and the caller does not ask for all.
fn lazy_costs(req: &Request<'_>, policy: &Policy) -> bool {
    !req.every_cost && req.rule_cost.is_none() && policy.cost_weight == 0.0
}

/// The eligible positions a decision over `n` records, in position order: every one up to
/// `all`; past that the `best` highest scores (the first of `top`), the chosen and the
/// baseline.
#[must_use]
pub fn recorded(
    n: usize,
    top: &[usize],
    index: usize,
    baseline: Option<usize>,
    all: usize,
    best: usize,
) -> Vec<usize> {
    if n <= all {
        return (0..n).collect();
    }
    let mut kept: Vec<usize> = top.iter().take(best).copied().collect();
    kept.push(index);
    kept.extend(baseline);
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// Positions of the `k` highest scores, highest first, ties in position order (the first `k`
/// of a stable descending sort), in one pass keeping the best `k` so far (a decision keeps a
/// few of a thousand: most scores lose to the worst kept in one integer comparison).
#[must_use]
pub fn top_k(scores: &[f64], k: usize) -> Vec<usize> {
    let k = k.min(scores.len());
    let mut best: Vec<(i64, usize)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    let mut bar = i64::MIN; // the worst kept key once k are kept
    for (j, s) in scores.iter().enumerate() {
        let key = total_order_key(*s);
        // every kept position is before j: j goes after those scoring at least as high
        if best.len() == k && key <= bar {
            continue;
        }
        let at = best.partition_point(|&(b, _)| b >= key);
        best.insert(at, (key, j));
        best.truncate(k);
        if best.len() == k {
            bar = best[k - 1].0;
        }
    }
    best.into_iter().map(|(_, j)| j).collect()
}

/// An integer ordered as `f64::total_cmp` orders the floats (its own transform).
pub(crate) fn total_order_key(x: f64) -> i64 {
    let bits = x.to_bits().cast_signed();
    bits ^ (bits >> 63).cast_unsigned().wrapping_shr(1).cast_signed()
}

#[cfg(test)]
#[expect(clippy::float_cmp, reason = "the packed path must be bit-identical")]
mod tests {
    use super::*;
    use crate::bandit::{choose, Arms};
    use crate::beta_draw::GAUSS_ABOVE;
    use crate::test_pool::{random_arms, rows};

    fn policy(baseline: Option<usize>, explore: f64, seed: u64) -> Policy {
        Policy {
            baseline,
            quality_target: 0.9,
            explore,
            seed,
            cost_weight: 0.0,
            optimistic: false,
        }
    }

    #[test]
    #[expect(clippy::many_single_char_names, reason = "e, c, z as in Router._shift")]
    fn packed_rows_choose_exactly_as_choose_with_the_slope_draws() {
        let mut r = Rng::new(5);
        for case in 0..300_u64 {
            let n = 1 + usize::try_from(case % 37).unwrap();
            // shapes on both sides of the Gaussian threshold
            let a = random_arms(&mut r, n, 0.05, 80.0);
            let cost: Vec<f64> = (0..n).map(|_| r.open01()).collect();
            let table = a.packed();
            let explore = [0.0, 0.5, 1.0][usize::try_from(case % 3).unwrap()];
            let easiness = (case % 4 != 0).then_some(0.7);
            let p = policy(Some(0), explore, case);
            let req = Request {
                picks: &[],
                cost: Costs::Given(&cost),
                rule_cost: None,
                easiness,
                center0: 0.1,
                top: 5,
                every_cost: false,
            };
            let got = decide_rows(n, rows(&table), &req, &p).unwrap();
            // the reference: Router.decide_reference's shifts from the same slope draws
            let noise = slope_noise(case, n);
            let shifts: Vec<f64> = (0..n)
                .map(|i| {
                    let Some(e) = easiness else { return 0.0 };
                    let c = if a.learned[i] == 0.0 {
                        0.1
                    } else {
                        a.center[i]
                    };
                    let spread = (e - c).abs() / a.precision[i].sqrt();
                    let z = if explore > 0.0 {
                        noise[i] * spread
                    } else {
                        0.0
                    };
                    a.slope[i] * (e - c) + explore * z
                })
                .collect();
            let arms = Arms {
                alpha: &a.alpha,
                beta: &a.beta,
                cost: &cost,
                shift: &shifts,
            };
            let want = choose(&arms, &p).unwrap();
            assert_eq!(got.choice, want, "case {case}");
            assert_eq!(got.top, top_k(&want.scores, 5));
        }
    }

    #[test]
    fn top_k_is_a_stable_descending_sort_prefix() {
        let mut r = Rng::new(8);
        for case in 0..200 {
            let n = 1 + case % 40;
            // few distinct values: many ties
            let scores: Vec<f64> = (0..n).map(|_| (r.open01() * 4.0).floor()).collect();
            let mut want: Vec<usize> = (0..n).collect();
            want.sort_by(|a, b| scores[*b].total_cmp(&scores[*a])); // stable
            for k in [0, 1, 3, n, n + 2] {
                assert_eq!(top_k(&scores, k), want[..k.min(n)].to_vec());
            }
        }
    }

    #[test]
    fn top_k_of_continuous_scores_is_the_sorted_prefix() {
        let mut r = Rng::new(9);
        for n in [1, 17, 18, 19, 200, 1000] {
            let mut scores: Vec<f64> = (0..n).map(|_| r.open01() - 0.5).collect();
            let special = [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, 1e-300, -1e-300];
            for (s, x) in scores.iter_mut().step_by(7).zip(special) {
                *s = x;
            }
            let mut want: Vec<usize> = (0..n).collect();
            want.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
            for k in [1, 3, 18] {
                assert_eq!(top_k(&scores, k), want[..k.min(n)].to_vec(), "n {n} k {k}");
            }
        }
    }

    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "n, r, x, p, d as in the tests above"
    )]
    fn priced_costs_decide_as_the_same_costs_given() {
        use crate::request_cost::{Answer, LengthRow, LengthTable, Pricing, Prompt};
        let mut r = Rng::new(12);
        let n = 40;
        let alpha: Vec<f64> = (0..n).map(|_| 0.5 + 20.0 * r.open01()).collect();
        let ones = vec![1.0; n];
        let zeros = vec![0.0; n];
        let table = pack_arms(&alpha, &ones, &zeros, &zeros, &ones, &zeros, GAUSS_ABOVE).unwrap();
        let p_in: Vec<f64> = (0..n).map(|_| 10.0 * r.open01()).collect();
        let p_out: Vec<f64> = (0..n).map(|_| 30.0 * r.open01()).collect();
        let mut lengths = LengthTable::new(n);
        for i in (0..n).step_by(3) {
            let mut w = [0.0; crate::length::DIM];
            w[0] = r.open01();
            let offset = i % 2 != 0;
            let row = LengthRow::fitted(offset, w, if offset { 0.3 } else { 0.5 });
            lengths.set(i, row).unwrap();
        }
        let mut x = [1.0; crate::length::DIM];
        x[0] = 2.0;
        let prompt = Prompt {
            table: &lengths,
            x,
            pool_mean: 5.0,
            pool_noise_var: 1.0,
            max_log: 13.8,
        };
        let pricing = Pricing::new(
            n,
            &p_in,
            &p_out,
            Answer::Predicted(prompt),
            300.0,
            Some(400.0),
        )
        .unwrap();
        let picks: Vec<usize> = (0..n).filter(|i| i % 4 != 1).collect();
        let given: Vec<f64> = picks.iter().map(|&i| pricing.cost(i)).collect();
        let p = policy(Some(2), 1.0, 77);
        let request = |cost, rule_cost| Request {
            picks: &picks,
            cost,
            rule_cost,
            easiness: Some(0.4),
            center0: 0.0,
            top: 4,
            every_cost: true,
        };
        let priced = decide_rows(n, rows(&table), &request(Costs::Priced(&pricing), None), &p);
        let want = decide_rows(n, rows(&table), &request(Costs::Given(&given), None), &p).unwrap();
        assert_eq!(priced.unwrap(), want);
        // only the costs the rule reads: the same decision, the same cost of every candidate
        let few = Request {
            every_cost: false,
            ..request(Costs::Priced(&pricing), None)
        };
        let lazy = decide_rows(n, rows(&table), &few, &p).unwrap();
        assert_eq!((&lazy.choice, &lazy.top), (&want.choice, &want.top));
        assert!(lazy.cost.is_empty());
        let costs: Vec<f64> = (0..picks.len()).map(|j| lazy.cost_of(&few, j)).collect();
        assert_eq!(costs, given);
        // a rule cost changes what the rule compares, not the costs returned
        let flat = vec![1.0; picks.len()];
        let drawn = request(Costs::Priced(&pricing), Some(&flat));
        let d = decide_rows(n, rows(&table), &drawn, &p).unwrap();
        assert_eq!(d.cost, given);
        let by_flat = decide_rows(n, rows(&table), &request(Costs::Given(&flat), None), &p);
        assert_eq!(d.choice, by_flat.unwrap().choice);
    }

    #[test]
    fn on_demand_costs_pick_the_cheapest_that_clears_as_every_exact_cost_does() {
        use crate::request_cost::{Answer, LengthRow, LengthTable, Pricing, Prompt};
        let mut r = Rng::new(21);
        for case in 0..300 {
            let n = 1 + case % 30;
            // few distinct prices and lengths: many exact cost ties
            let p_in: Vec<f64> = (0..n).map(|_| (r.open01() * 3.0).floor()).collect();
            let p_out: Vec<f64> = (0..n).map(|_| (r.open01() * 3.0).floor() * 7.5).collect();
            let mut lengths = LengthTable::new(n);
            for i in 0..n {
                let mut weights = [0.0; crate::length::DIM];
                weights[0] = (r.open01() * 4.0).floor() * 1.5 - 2.0; // some below 1 token
                let noise_var = 0.5;
                let row = if i % 3 == 0 {
                    LengthRow::Own { weights, noise_var }
                } else if i % 3 == 1 {
                    LengthRow::Offset { weights, noise_var }
                } else {
                    LengthRow::Pool
                };
                lengths.set(i, row).unwrap();
            }
            let mut x = [0.0; crate::length::DIM];
            x[0] = 1.0 + r.open01();
            let prompt = Prompt {
                table: &lengths,
                x,
                pool_mean: 3.0,
                pool_noise_var: 1.0,
                max_log: 13.8,
            };
            let cap = (case % 2 == 0).then_some(40.0);
            let answer = Answer::Predicted(prompt);
            let pricing = Pricing::new(n, &p_in, &p_out, answer, 50.0, cap).unwrap();
            let picks: Vec<usize> = (0..n).collect();
            let req = Request {
                picks: &picks,
                cost: Costs::Priced(&pricing),
                rule_cost: None,
                easiness: None,
                center0: 0.0,
                top: 0,
                every_cost: false,
            };
            let scores: Vec<f64> = (0..n).map(|_| (r.open01() * 5.0).floor() / 5.0).collect();
            let exact: Vec<f64> = (0..n).map(|i| pricing.cost(i)).collect();
            for target in [0.0, 0.4, 0.8, 2.0] {
                let got = OnDemand {
                    pricing: &pricing,
                    req: &req,
                }
                .cheapest_meeting(&scores, target);
                assert_eq!(got, exact.cheapest_meeting(&scores, target), "case {case}");
            }
        }
    }

    #[test]
    fn recorded_keeps_all_or_the_best_the_chosen_and_the_baseline() {
        assert_eq!(recorded(3, &[2, 0], 1, None, 64, 16), vec![0, 1, 2]);
        assert_eq!(
            recorded(100, &[9, 4, 7], 50, Some(4), 64, 2),
            vec![4, 9, 50]
        );
        assert_eq!(recorded(100, &[9, 4], 9, None, 64, 16), vec![4, 9]);
    }

    #[test]
    fn rows_read_back_as_the_prepared_arms() {
        let (a, b) = ([0.3, 5.0, 40.0], [2.0, 50.0, 31.0]);
        let z = [0.0; 3];
        let table = pack_arms(&a, &b, &z, &z, &[1.0; 3], &z, GAUSS_ABOVE).unwrap();
        for i in 0..3 {
            assert_eq!(
                prepared(&rows(&table)(i)),
                PreparedArm::new(a[i], b[i]),
                "row {i}"
            );
        }
        assert!(prepared(&rows(&table)(2)).shapes.gauss.is_some());
        assert!(prepared(&rows(&table)(1)).shapes.gauss.is_none());
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
            GAUSS_ABOVE,
        )
        .unwrap();
        let row = rows(&table);
        // learned: its own center 0.2; not learned: the task's center 0.1
        assert_eq!(
            shift(&row(0), 1.0, 0.1, 1.0, Some(2.0)),
            0.5 * 0.8 + 2.0 * (0.8 / 2.0)
        );
        assert_eq!(shift(&row(1), 1.0, 0.1, 0.5, None), 1.0 * (1.0 - 0.1));
    }

    #[test]
    fn bad_rows_and_inputs_are_errors() {
        let one = [1.0];
        let table = pack_arms(&[2.0], &[2.0], &[0.0], &[0.0], &one, &[0.0], 30.0).unwrap();
        let p = policy(None, 1.0, 1);
        let req = |picks: &'static [usize], easiness: f64| Request {
            picks,
            cost: Costs::Given(&[0.1]),
            rule_cost: None,
            easiness: Some(easiness),
            center0: 0.0,
            top: 1,
            every_cost: false,
        };
        let e = decide_rows(1, rows(&table), &req(&[3], 0.5), &p).unwrap_err();
        assert!(e.to_string().contains("picks"), "{e}");
        let e = decide_rows(1, rows(&table), &req(&[], f64::NAN), &p).unwrap_err();
        assert!(e.to_string().contains("easiness"), "{e}");
        let z = [0.0];
        assert!(pack_arms(&[0.0], &one, &z, &z, &one, &z, 30.0).is_err());
        assert!(pack_arms(&one, &one, &z, &z, &z, &z, 30.0).is_err());
        assert!(pack_arms(&one, &one, &z, &z, &one, &z, f64::NAN).is_err());
    }
}
