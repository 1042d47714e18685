//! The routing bandit: pick the cheapest candidate whose (optionally explored) quality score
//! meets a bar, and update Beta arm statistics from graded rewards. Pure: randomness is a seed.

use std::cmp::Ordering;

use crate::beta_draw::{sigmoid_of_odds_against, BetaShapes, GAUSS_ABOVE};
use crate::error::CoreError;
use crate::rng::Rng;

/// Logits are clamped to +-`LOGIT_CLAMP` so that `sigmoid` stays strictly inside (0, 1) in f64.
pub const LOGIT_CLAMP: f64 = 30.0;

/// Logistic function on a clamped logit: always finite and strictly inside (0, 1).
#[must_use]
pub fn sigmoid(x: f64) -> f64 {
    let x = x.clamp(-LOGIT_CLAMP, LOGIT_CLAMP);
    1.0 / (1.0 + (-x).exp())
}

/// Why a candidate was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The cheapest candidate whose score meets the target.
    CheapestMeetingTarget,
    /// No candidate met the target; the highest score was taken.
    BestAvailable,
    /// There was exactly one candidate.
    OnlyCandidate,
    /// The highest `score - cost_weight * cost` (the cost-weighted objective).
    BestValue,
}

impl Reason {
    /// Stable snake-case name, as Python sees it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheapestMeetingTarget => "cheapest_meeting_target",
            Self::BestAvailable => "best_available",
            Self::OnlyCandidate => "only_candidate",
            Self::BestValue => "best_value",
        }
    }
}

/// Per-candidate statistics, parallel slices of equal length n >= 1.
///
/// * `alpha`, `beta`: Beta posterior over "answer is good" (prior included); finite, > 0.
/// * `cost`: expected cost in USD; finite, >= 0.
/// * `shift`: per-prompt context shift in logit space (0.0 = no information); finite.
#[derive(Debug, Clone, Copy)]
pub struct Arms<'a> {
    pub alpha: &'a [f64],
    pub beta: &'a [f64],
    pub cost: &'a [f64],
    pub shift: &'a [f64],
}

/// How to decide among the arms.
///
/// * `baseline`: index of the baseline candidate, or `None` if it is not among them.
/// * `quality_target`: bar relative to the baseline score (or to the best score without a
///   baseline); finite, > 0.
/// * `explore`: in [0, 1]; 0 = greedy on posterior means, 1 = full Thompson sampling.
/// * `seed`: seeds the sampler; same inputs and seed give the same `Choice`.
/// * `cost_weight`: 0 = the quality-target rule; > 0 = maximise `score - cost_weight * cost`
///   (quality points given up per USD of expected cost); finite, >= 0.
/// * `optimistic`: under the quality-target rule a non-baseline arm's score is never below its
///   mean (`Policy::floors`; optimistic Thompson sampling, May et al. 2012): draws explore down.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub baseline: Option<usize>,
    pub quality_target: f64,
    pub explore: f64,
    pub seed: u64,
    pub cost_weight: f64,
    pub optimistic: bool,
}

impl Policy {
    /// Whether candidate `i`'s score is floored at its mean (not the baseline's: it sets the bar).
    #[must_use]
    pub fn floors(&self, i: usize) -> bool {
        self.optimistic && self.cost_weight == 0.0 && self.baseline != Some(i)
    }
}

/// The decision and the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Position of the chosen candidate in the input slices.
    pub index: usize,
    pub reason: Reason,
    /// The bar used: `quality_target * scores[baseline]`, or `quality_target * max(scores)`.
    pub target: f64,
    /// Per candidate: `mean + explore * (sample - mean)`, the gain floored at 0 if `floors`.
    pub scores: Vec<f64>,
    /// Per candidate: `sigmoid(logit(alpha / (alpha + beta)) + shift)`.
    pub means: Vec<f64>,
}

fn check_len(name: &'static str, xs: &[f64], n: usize) -> Result<(), CoreError> {
    if xs.len() == n {
        return Ok(());
    }
    Err(CoreError::LengthMismatch {
        name,
        got: xs.len(),
        expected: n,
    })
}

pub(crate) fn validate(arms: &Arms<'_>, policy: &Policy) -> Result<usize, CoreError> {
    let n = arms.alpha.len();
    if n == 0 {
        return Err(CoreError::Empty);
    }
    validate_shapes(arms.alpha, arms.beta)?;
    validate_request(n, arms.cost, arms.shift, policy)?;
    Ok(n)
}

/// Beta posteriors: equal lengths, every value finite and > 0.
fn validate_shapes(alpha: &[f64], beta: &[f64]) -> Result<(), CoreError> {
    check_len("beta", beta, alpha.len())?;
    let positive = |name, xs: &[f64]| {
        for (i, &x) in xs.iter().enumerate() {
            if !(x.is_finite() && x > 0.0) {
                return Err(CoreError::item(name, i, x, "must be finite and > 0"));
            }
        }
        Ok(())
    };
    positive("alpha", alpha)?;
    positive("beta", beta)
}

/// What changes per request: n >= 1 candidates' costs and shifts, and the policy.
fn validate_request(
    n: usize,
    cost: &[f64],
    shift: &[f64],
    policy: &Policy,
) -> Result<(), CoreError> {
    check_len("shift", shift, n)?;
    for (i, &s) in shift.iter().enumerate() {
        if !s.is_finite() {
            return Err(CoreError::item("shift", i, s, "must be finite"));
        }
    }
    validate_costs_and_policy(n, cost, policy)
}

/// n >= 1 candidates' costs (finite, >= 0) and the policy's knobs.
pub(crate) fn validate_costs_and_policy(
    n: usize,
    cost: &[f64],
    policy: &Policy,
) -> Result<(), CoreError> {
    if n == 0 {
        return Err(CoreError::Empty);
    }
    validate_costs(n, cost)?;
    validate_policy(n, policy)
}

/// n candidates' costs: finite and >= 0.
pub(crate) fn validate_costs(n: usize, cost: &[f64]) -> Result<(), CoreError> {
    check_len("cost", cost, n)?;
    for (i, &c) in cost.iter().enumerate() {
        if !(c.is_finite() && c >= 0.0) {
            return Err(CoreError::item("cost", i, c, "must be finite and >= 0"));
        }
    }
    Ok(())
}

/// The policy's knobs for n >= 1 candidates.
pub(crate) fn validate_policy(n: usize, policy: &Policy) -> Result<(), CoreError> {
    if n == 0 {
        return Err(CoreError::Empty);
    }
    if let Some(b) = policy.baseline {
        if b >= n {
            return Err(CoreError::InvalidInteger {
                name: "baseline",
                value: i64::try_from(b).unwrap_or(i64::MAX),
                rule: "must be -1 or a candidate index",
            });
        }
    }
    if !(0.0..=1.0).contains(&policy.explore) {
        return Err(CoreError::value(
            "explore",
            policy.explore,
            "must be in [0, 1]",
        ));
    }
    if !(policy.quality_target.is_finite() && policy.quality_target > 0.0) {
        return Err(CoreError::value(
            "quality_target",
            policy.quality_target,
            "must be finite and > 0",
        ));
    }
    if !(policy.cost_weight.is_finite() && policy.cost_weight >= 0.0) {
        return Err(CoreError::value(
            "cost_weight",
            policy.cost_weight,
            "must be finite and >= 0",
        ));
    }
    Ok(())
}

/// One arm's per-request-invariant part of `choose`: the posterior mean's odds against
/// (`beta / alpha`, i.e. `exp(-logit mean)`) and how its Beta draw is made
/// (`beta_draw::BetaShapes`: the Gamma shapes' constants, and the Gaussian's past
/// `GAUSS_ABOVE`). Computed once per posterior change (a router keeps them per (tenant,
/// task)), so a decision pays no `ln`/`sqrt` for them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreparedArm {
    pub odds_against: f64,
    pub shapes: BetaShapes,
}

impl PreparedArm {
    /// This arm's `(mean, score)` at the logit shift `s` (`choose`'s formulas), computed in
    /// odds: one `exp(-s)` serves both sigmoids, and an exact Beta draw needs no `ln`. `floor`:
    /// the draw counts only above the mean (it is still taken: the stream stays in step).
    pub fn mean_and_score(&self, s: f64, explore: f64, floor: bool, rng: &mut Rng) -> (f64, f64) {
        let odds_s = if s == 0.0 { 1.0 } else { (-s).exp() };
        let mean = sigmoid_of_odds_against(self.odds_against * odds_s);
        if explore == 0.0 {
            return (mean, mean);
        }
        let sample = sigmoid_of_odds_against(self.shapes.draw_odds_against(rng) * odds_s);
        let gain = sample - mean;
        let score = mean + explore * if floor { gain.max(0.0) } else { gain };
        (mean, score)
    }
}

impl PreparedArm {
    /// `alpha`, `beta` finite and > 0 (see `prepare`).
    #[must_use]
    pub fn new(alpha: f64, beta: f64) -> Self {
        Self::with_threshold(alpha, beta, GAUSS_ABOVE)
    }

    /// `new` with the Gaussian draw from `gauss_above` on (infinity: always exact).
    #[must_use]
    pub fn with_threshold(alpha: f64, beta: f64, gauss_above: f64) -> Self {
        Self {
            odds_against: beta / alpha,
            shapes: BetaShapes::new(alpha, beta, gauss_above),
        }
    }
}

/// `PreparedArm`s for Beta posteriors, checked as `choose` checks them; the Gaussian draw
/// for arms whose shapes are both at least `gauss_above`.
pub fn prepare(
    alpha: &[f64],
    beta: &[f64],
    gauss_above: f64,
) -> Result<Vec<PreparedArm>, CoreError> {
    validate_shapes(alpha, beta)?;
    if gauss_above.is_nan() {
        return Err(CoreError::value(
            "gauss_above",
            gauss_above,
            "must not be NaN",
        ));
    }
    Ok(alpha
        .iter()
        .zip(beta)
        .map(|(&a, &b)| PreparedArm::with_threshold(a, b, gauss_above))
        .collect())
}

/// Picks one candidate.
///
/// For each candidate i: `mean_i = sigmoid(ln alpha_i - ln beta_i + shift_i)` (the logit of
/// `alpha/(alpha+beta)` is `ln alpha - ln beta`); when `explore > 0`, `theta ~ Beta(alpha_i,
/// beta_i)` is drawn (candidates in index order from one stream seeded by `seed`; exactly, or
/// by `beta_draw`'s Gaussian when both shapes are at least `GAUSS_ABOVE`) and
/// `sample_i = sigmoid(logit(theta) + shift_i)`; `score_i = mean_i + explore * (sample_i -
/// mean_i)`, or with `optimistic` (`Policy::floors`) `mean_i + explore * max(sample_i - mean_i,
/// 0)`. Logits are clamped to +-30, so means and scores lie strictly in (0, 1).
///
/// The target is `quality_target * score[baseline]`, or `quality_target * max(score)` without a
/// baseline. The cheapest candidate with `score >= target` wins (cost ties: higher score, then
/// lower index) with `CheapestMeetingTarget`; if none qualifies, the highest score wins (ties:
/// lower cost, then lower index) with `BestAvailable`; a single candidate gives `OnlyCandidate`.
///
/// With `cost_weight > 0` the bar is still computed (and reported) but not used: the highest
/// `score_i - cost_weight * cost_i` wins (ties: lower cost, then lower index) with `BestValue`.
pub fn choose(arms: &Arms<'_>, policy: &Policy) -> Result<Choice, CoreError> {
    let n = validate(arms, policy)?;
    let prepared = (0..n).map(|i| PreparedArm::new(arms.alpha[i], arms.beta[i]));
    Ok(decide(prepared, arms.cost, arms.shift, policy))
}

/// `choose` over arms prepared once (`prepare`): the same checks on the per-request inputs,
/// the same draws and the same `Choice`, bit for bit. `arms` must have `cost.len()` items.
pub fn choose_prepared(
    arms: impl ExactSizeIterator<Item = PreparedArm>,
    cost: &[f64],
    shift: &[f64],
    policy: &Policy,
) -> Result<Choice, CoreError> {
    let n = arms.len();
    validate_request(n, cost, shift, policy)?;
    Ok(decide(arms, cost, shift, policy))
}

/// The rule `choose` documents, over validated inputs.
fn decide(
    arms: impl Iterator<Item = PreparedArm>,
    cost: &[f64],
    shift: &[f64],
    policy: &Policy,
) -> Choice {
    let n = cost.len();
    let mut means = Vec::with_capacity(n);
    let mut scores = Vec::with_capacity(n);
    let mut rng = Rng::new(policy.seed);
    for (i, (arm, &s)) in arms.zip(shift).enumerate() {
        let (mean, score) = arm.mean_and_score(s, policy.explore, policy.floors(i), &mut rng);
        means.push(mean);
        scores.push(score);
    }
    rule(scores, means, cost, policy)
}

/// The costs the decision rule reads: a slice of every candidate's, or costs computed on
/// demand (`arms`: the rule under a quality target reads only the candidates that clear it).
pub trait RuleCosts {
    /// Candidate i's expected cost (finite, >= 0).
    fn cost(&self, i: usize) -> f64;

    /// Lowest cost among `score >= target`; ties go to the higher score, then the lower index.
    fn cheapest_meeting(&self, scores: &[f64], target: f64) -> Option<usize> {
        let clear = (0..scores.len()).filter(|&i| scores[i] >= target);
        cheapest_of(scores, clear, |i| self.cost(i))
    }
}

impl RuleCosts for [f64] {
    fn cost(&self, i: usize) -> f64 {
        self[i]
    }
}

/// The decision rule over sampled `scores` (with their `means`), as `choose` documents it.
/// Every slice has the same length n >= 1; `policy` as validated by `choose`.
#[must_use]
pub fn rule(scores: Vec<f64>, means: Vec<f64>, cost: &[f64], policy: &Policy) -> Choice {
    rule_with(scores, means, cost, policy)
}

/// `rule` reading the costs through `cost` (only those the rule needs).
#[must_use]
pub fn rule_with<C: RuleCosts + ?Sized>(
    scores: Vec<f64>,
    means: Vec<f64>,
    cost: &C,
    policy: &Policy,
) -> Choice {
    let n = scores.len();
    let best = argmax_score(&scores, cost);
    let target = policy.quality_target * policy.baseline.map_or(scores[best], |b| scores[b]);
    let (index, reason) = if n == 1 {
        (0, Reason::OnlyCandidate)
    } else if policy.cost_weight > 0.0 {
        (
            best_value(&scores, cost, policy.cost_weight),
            Reason::BestValue,
        )
    } else if let Some(i) = cost.cheapest_meeting(&scores, target) {
        (i, Reason::CheapestMeetingTarget)
    } else {
        (best, Reason::BestAvailable)
    };
    Choice {
        index,
        reason,
        target,
        scores,
        means,
    }
}

/// Highest score; ties go to the lower cost, then the lower index. `scores` is non-empty.
fn argmax_score<C: RuleCosts + ?Sized>(scores: &[f64], cost: &C) -> usize {
    let mut best = 0;
    for i in 1..scores.len() {
        let order = scores[i]
            .total_cmp(&scores[best])
            .then_with(|| cost.cost(best).total_cmp(&cost.cost(i)));
        if order == Ordering::Greater {
            best = i;
        }
    }
    best
}

/// Highest `score - weight * cost`; ties go to the lower cost, then the lower index.
fn best_value<C: RuleCosts + ?Sized>(scores: &[f64], cost: &C, weight: f64) -> usize {
    let value = |i: usize| scores[i] - weight * cost.cost(i);
    let mut best = 0;
    for i in 1..scores.len() {
        let order = value(i)
            .total_cmp(&value(best))
            .then_with(|| cost.cost(best).total_cmp(&cost.cost(i)));
        if order == Ordering::Greater {
            best = i;
        }
    }
    best
}

/// The lowest cost of the candidates `among` (in increasing order); ties go to the higher
/// score, then the lower index. The lexicographic minimum, so any subset holding it gives it.
pub fn cheapest_of(
    scores: &[f64],
    among: impl Iterator<Item = usize>,
    cost: impl Fn(usize) -> f64,
) -> Option<usize> {
    let mut pick: Option<(usize, f64)> = None;
    for i in among {
        let c = cost(i);
        let better = pick.is_none_or(|(p, cp)| {
            c.total_cmp(&cp).then(scores[p].total_cmp(&scores[i])) == Ordering::Less
        });
        if better {
            pick = Some((i, c));
        }
    }
    pick.map(|(i, _)| i)
}

/// Adds one graded outcome to a Beta arm: `alpha += weight * reward`,
/// `beta += weight * (1 - reward)`, each result clamped at >= 0.
///
/// `alpha`, `beta` must be finite and >= 0, `reward` in [0, 1], `weight` finite. A negative
/// `weight` retracts an earlier update (e.g. when feedback overrides an automatic grade):
/// `update_arm(update_arm(a, b, r, w), r, -w)` returns `(a, b)` up to float rounding, and the
/// clamp only absorbs that rounding (or an over-retraction) so counts never go negative.
pub fn update_arm(
    alpha: f64,
    beta: f64,
    reward: f64,
    weight: f64,
) -> Result<(f64, f64), CoreError> {
    if !(alpha.is_finite() && alpha >= 0.0) {
        return Err(CoreError::value("alpha", alpha, "must be finite and >= 0"));
    }
    if !(beta.is_finite() && beta >= 0.0) {
        return Err(CoreError::value("beta", beta, "must be finite and >= 0"));
    }
    if !(0.0..=1.0).contains(&reward) {
        return Err(CoreError::value("reward", reward, "must be in [0, 1]"));
    }
    if !weight.is_finite() {
        return Err(CoreError::value("weight", weight, "must be finite"));
    }
    let a = (alpha + weight * reward).max(0.0);
    let b = (beta + weight * (1.0 - reward)).max(0.0);
    Ok((a, b))
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    clippy::too_many_arguments,
    clippy::type_complexity,
    reason = "tests compare exact deterministic values and spell out every argument"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(
        alpha: &[f64],
        beta: &[f64],
        cost: &[f64],
        shift: &[f64],
        baseline: Option<usize>,
        quality_target: f64,
        explore: f64,
        seed: u64,
    ) -> Result<Choice, CoreError> {
        let arms = Arms {
            alpha,
            beta,
            cost,
            shift,
        };
        let policy = Policy {
            baseline,
            quality_target,
            explore,
            seed,
            cost_weight: 0.0,
            optimistic: false,
        };
        choose(&arms, &policy)
    }

    fn run_weighted(
        scores_from: (&[f64], &[f64]),
        cost: &[f64],
        cost_weight: f64,
    ) -> Result<Choice, CoreError> {
        let shift = vec![0.0; cost.len()];
        let arms = Arms {
            alpha: scores_from.0,
            beta: scores_from.1,
            cost,
            shift: &shift,
        };
        let policy = Policy {
            baseline: Some(0),
            quality_target: 0.9,
            explore: 0.0,
            seed: 1,
            cost_weight,
            optimistic: false,
        };
        choose(&arms, &policy)
    }

    #[test]
    fn cost_weight_trades_quality_for_cost() {
        // Means 0.9 (cost 10), 0.85 (cost 1), 0.5 (cost 0.1).
        let (a, b) = (&[9.0, 8.5, 5.0][..], &[1.0, 1.5, 5.0][..]);
        let cost = [10.0, 1.0, 0.1];
        // Cheap money: the best score wins (0.9 - 0.001 * 10 > 0.85 - 0.001).
        let c = run_weighted((a, b), &cost, 0.001).unwrap();
        assert_eq!((c.index, c.reason), (0, Reason::BestValue));
        // 0.01 per USD: 0.9 - 0.1 = 0.8 < 0.85 - 0.01 = 0.84 > 0.5 - 0.001.
        assert_eq!(run_weighted((a, b), &cost, 0.01).unwrap().index, 1);
        // Dear money: the cheapest wins.
        assert_eq!(run_weighted((a, b), &cost, 1.0).unwrap().index, 2);
        // The bar is still reported.
        assert!((c.target - 0.81).abs() < 1e-12);
    }

    #[test]
    fn cost_weight_ties_go_to_the_lower_index() {
        // Equal values and costs: the lower index.
        let c = run_weighted((&[1.0, 1.0], &[1.0, 1.0]), &[1.0, 1.0], 0.1).unwrap();
        assert_eq!(c.index, 0);
    }

    #[test]
    fn cost_weight_must_be_finite_and_non_negative() {
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            let err = run_weighted((&[1.0, 1.0], &[1.0, 1.0]), &[1.0, 1.0], bad).unwrap_err();
            assert!(err.to_string().contains("cost_weight"), "{err}");
        }
    }

    #[test]
    fn greedy_picks_cheapest_good_enough() {
        // Means: 0.9 (cost 10), 0.85 (cost 1), 0.5 (cost 0.1). Baseline 0, target 0.9 * 0.9.
        let c = run(
            &[9.0, 8.5, 5.0],
            &[1.0, 1.5, 5.0],
            &[10.0, 1.0, 0.1],
            &[0.0; 3],
            Some(0),
            0.9,
            0.0,
            1,
        )
        .unwrap();
        assert_eq!(c.index, 1);
        assert_eq!(c.reason, Reason::CheapestMeetingTarget);
        assert!((c.target - 0.81).abs() < 1e-12);
        assert!((c.means[0] - 0.9).abs() < 1e-12);
        assert_eq!(c.scores, c.means);
    }

    #[test]
    fn no_baseline_and_target_above_one_falls_back_to_best() {
        let c = run(
            &[1.0, 3.0],
            &[1.0, 1.0],
            &[1.0, 2.0],
            &[0.0; 2],
            None,
            1.2,
            0.0,
            1,
        )
        .unwrap();
        assert_eq!(c.index, 1);
        assert_eq!(c.reason, Reason::BestAvailable);
        assert_eq!(c.reason.as_str(), "best_available");
    }

    #[test]
    fn single_candidate_is_only_candidate() {
        let c = run(&[1.0], &[1.0], &[0.0], &[0.0], Some(0), 0.5, 1.0, 1).unwrap();
        assert_eq!((c.index, c.reason), (0, Reason::OnlyCandidate));
        assert_eq!(c.scores.len(), 1);
    }

    #[test]
    fn cost_ties_prefer_higher_score_then_lower_index() {
        let c = run(
            &[2.0, 3.0, 3.0],
            &[1.0; 3],
            &[1.0; 3],
            &[0.0; 3],
            None,
            0.5,
            0.0,
            0,
        )
        .unwrap();
        assert_eq!(c.index, 1);
    }

    #[test]
    fn shift_moves_the_mean_in_logit_space() {
        let c = run(&[1.0], &[1.0], &[0.0], &[2.0], None, 1.0, 0.0, 0).unwrap();
        assert!((c.means[0] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
    }

    #[test]
    fn errors_name_the_argument() {
        let e = |r: Result<Choice, CoreError>| r.unwrap_err().to_string();
        assert!(e(run(&[], &[], &[], &[], None, 1.0, 0.0, 0)).contains("empty"));
        assert!(e(run(&[1.0], &[1.0, 2.0], &[0.0], &[0.0], None, 1.0, 0.0, 0)).contains("`beta`"));
        assert!(e(run(&[1.0], &[1.0], &[0.0, 1.0], &[0.0], None, 1.0, 0.0, 0)).contains("`cost`"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[], None, 1.0, 0.0, 0)).contains("`shift`"));
        assert!(e(run(&[0.0], &[1.0], &[0.0], &[0.0], None, 1.0, 0.0, 0)).contains("`alpha`[0]"));
        let nan = f64::NAN;
        assert!(e(run(&[1.0], &[nan], &[0.0], &[0.0], None, 1.0, 0.0, 0)).contains("`beta`[0]"));
        assert!(e(run(&[1.0], &[1.0], &[-1.0], &[0.0], None, 1.0, 0.0, 0)).contains("`cost`[0]"));
        let inf = f64::INFINITY;
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[inf], None, 1.0, 0.0, 0)).contains("`shift`[0]"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[0.0], Some(1), 1.0, 0.0, 0)).contains("baseline"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[0.0], None, 1.0, 1.5, 0)).contains("explore"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[0.0], None, 1.0, nan, 0)).contains("explore"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[0.0], None, 0.0, 0.0, 0)).contains("quality"));
        assert!(e(run(&[1.0], &[1.0], &[0.0], &[0.0], None, inf, 0.0, 0)).contains("quality"));
    }

    #[test]
    fn update_arm_adds_and_retracts() {
        let (a, b) = update_arm(1.0, 1.0, 0.75, 2.0).unwrap();
        assert_eq!((a, b), (2.5, 1.5));
        assert_eq!(update_arm(a, b, 0.75, -2.0).unwrap(), (1.0, 1.0));
        assert_eq!(update_arm(0.1, 0.1, 1.0, -5.0).unwrap(), (0.0, 0.1));
        assert!(update_arm(1.0, 1.0, 1.5, 1.0).is_err());
        assert!(update_arm(1.0, 1.0, f64::NAN, 1.0).is_err());
        assert!(update_arm(1.0, 1.0, 0.5, f64::INFINITY).is_err());
        assert!(update_arm(-1.0, 1.0, 0.5, 1.0).is_err());
        assert!(update_arm(1.0, f64::NAN, 0.5, 1.0).is_err());
    }

    fn arms_strategy() -> impl Strategy<Value = (Vec<(f64, f64, f64, f64)>, f64, f64, u64)> {
        (
            prop::collection::vec(
                (1e-3f64..1e4, 1e-3f64..1e4, 0.0f64..100.0, -10.0f64..10.0),
                1..40,
            ),
            0.01f64..2.0,
            0.0f64..=1.0,
            any::<u64>(),
        )
    }

    fn unzip4(v: &[(f64, f64, f64, f64)]) -> [Vec<f64>; 4] {
        [
            v.iter().map(|t| t.0).collect(),
            v.iter().map(|t| t.1).collect(),
            v.iter().map(|t| t.2).collect(),
            v.iter().map(|t| t.3).collect(),
        ]
    }

    proptest! {
        #[test]
        fn chosen_meets_target_or_is_argmax(
            (arms, q, explore, seed) in arms_strategy(), base in any::<prop::sample::Index>(),
            use_base in any::<bool>(),
        ) {
            let [a, b, c, s] = unzip4(&arms);
            let baseline = use_base.then(|| base.index(a.len()));
            let ch = run(&a, &b, &c, &s, baseline, q, explore, seed).unwrap();
            let max = ch.scores.iter().copied().fold(f64::MIN, f64::max);
            match ch.reason {
                Reason::CheapestMeetingTarget => {
                    prop_assert!(ch.scores[ch.index] >= ch.target);
                    for (i, &si) in ch.scores.iter().enumerate() {
                        if si >= ch.target {
                            prop_assert!(c[i] >= c[ch.index]);
                        }
                    }
                }
                Reason::BestAvailable => {
                    prop_assert!(ch.scores.iter().all(|&si| si < ch.target));
                    prop_assert_eq!(ch.scores[ch.index], max);
                }
                Reason::OnlyCandidate => prop_assert_eq!(a.len(), 1),
                Reason::BestValue => prop_assert!(false, "cost_weight is 0 here"),
            }
            if baseline.is_some() && q <= 1.0 && a.len() > 1 {
                prop_assert_eq!(ch.reason, Reason::CheapestMeetingTarget);
            }
        }

        #[test]
        fn weighted_choice_has_the_best_value(
            (arms, q, explore, seed) in arms_strategy(), w in 1e-6f64..1e3,
        ) {
            let [a, b, c, s] = unzip4(&arms);
            let arms = Arms { alpha: &a, beta: &b, cost: &c, shift: &s };
            let policy = Policy { baseline: None, quality_target: q, explore, seed, cost_weight: w, optimistic: false };
            let ch = choose(&arms, &policy).unwrap();
            // Same draws as the unweighted rule: only the pick differs.
            let plain = run(&a, &b, &c, &s, None, q, explore, seed).unwrap();
            prop_assert_eq!(&ch.scores, &plain.scores);
            if a.len() > 1 {
                prop_assert_eq!(ch.reason, Reason::BestValue);
                let v = |i: usize| ch.scores[i] - w * c[i];
                for i in 0..a.len() {
                    prop_assert!(v(i) <= v(ch.index));
                }
            }
        }

        #[test]
        fn deterministic_per_seed((arms, q, explore, seed) in arms_strategy()) {
            let [a, b, c, s] = unzip4(&arms);
            let x = run(&a, &b, &c, &s, None, q, explore, seed).unwrap();
            let y = run(&a, &b, &c, &s, None, q, explore, seed).unwrap();
            prop_assert_eq!(x, y);
        }

        #[test]
        fn means_and_scores_in_open_unit_interval((arms, q, explore, seed) in arms_strategy()) {
            let [a, b, c, s] = unzip4(&arms);
            let ch = run(&a, &b, &c, &s, None, q, explore, seed).unwrap();
            for (&m, &sc) in ch.means.iter().zip(&ch.scores) {
                prop_assert!(m > 0.0 && m < 1.0);
                prop_assert!(sc > 0.0 && sc < 1.0);
            }
        }

        #[test]
        fn mean_is_monotone_in_shift(
            a in 1e-3f64..1e4, b in 1e-3f64..1e4, s1 in -10.0f64..10.0, d in 0.0f64..10.0,
        ) {
            let lo = run(&[a], &[b], &[0.0], &[s1], None, 1.0, 0.0, 0).unwrap().means[0];
            let hi = run(&[a], &[b], &[0.0], &[s1 + d], None, 1.0, 0.0, 0).unwrap().means[0];
            prop_assert!(hi >= lo);
        }

        #[test]
        fn explore_zero_scores_are_means((arms, q, _e, seed) in arms_strategy()) {
            let [a, b, c, s] = unzip4(&arms);
            let ch = run(&a, &b, &c, &s, None, q, 0.0, seed).unwrap();
            prop_assert_eq!(ch.scores, ch.means);
        }

        #[test]
        fn update_then_retract_round_trips(
            a in 0.0f64..1e4, b in 0.0f64..1e4, r in 0.0f64..=1.0, w in 0.0f64..100.0,
        ) {
            let (a1, b1) = update_arm(a, b, r, w).unwrap();
            let (a2, b2) = update_arm(a1, b1, r, -w).unwrap();
            prop_assert!((a2 - a).abs() <= 1e-9 * (1.0 + a));
            prop_assert!((b2 - b).abs() <= 1e-9 * (1.0 + b));
            prop_assert!(a2 >= 0.0 && b2 >= 0.0);
        }
    }

    #[test]
    fn thompson_explores_a_little_and_greedy_never() {
        // Arm 1 is cheap and slightly worse; with explore=1 it should sometimes meet a 0.99 bar.
        let (a, b, c, s) = ([50.0, 45.0], [50.0, 55.0], [1.0, 0.1], [0.0, 0.0]);
        let greedy = (0..200)
            .filter(|&seed| run(&a, &b, &c, &s, Some(0), 0.99, 0.0, seed).unwrap().index == 1)
            .count();
        let thompson = (0..200)
            .filter(|&seed| run(&a, &b, &c, &s, Some(0), 0.99, 1.0, seed).unwrap().index == 1)
            .count();
        assert_eq!(greedy, 0);
        assert!(thompson > 20 && thompson < 180, "{thompson}");
    }
}
