//! A decision over a packed arm table that visits the eligible arms cheapest first (by the
//! cost the rule compares; ties by position) and stops as soon as no unvisited arm can change
//! the choice. The baseline is drawn first (the bar is a fraction of its score); then, under a
//! quality target, the first arm in cost order that clears the bar is the pick (with the arms
//! of exactly its cost, for the rule's ties), and under a cost weight the scan stops when the
//! next arm's best possible value (score 1.0 minus its cost term) cannot beat the best so far.
//! Without a baseline, or when no arm clears the bar, every arm is drawn and the rule is
//! `bandit::rule` itself.
//!
//! The draws come from the same streams as `arms::decide_rows`, taken in visiting order, so
//! the choice is `rule` over the draws of that order, bit for bit (`tests`: early stop vs the
//! exhaustive scan of the same order). Each arm's draw is independent of the others', so the
//! choice's distribution is the full scan's in pool order (`tests`: choice frequencies).
//! With `want` > 1 the scan goes on until the first `want` of the failover order (the
//! pick, then the next cheapest that clear the bar, or the next best values) are known:
//! `Router.decide`'s pick and fallbacks.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::arms::{
    checked_request, prepared, shift, total_order_key, Costs, Request, ARM_ROW, SLOPE_STREAM,
};
use crate::bandit::{
    rule, validate, validate_costs, validate_policy, Arms, Choice, Policy, PreparedArm, Reason,
};
use crate::error::CoreError;
use crate::request_cost::Pricing;
use crate::rng::Rng;

/// `Choice` over the eligible positions (scores and means NaN where an arm was not drawn),
/// the positions drawn in visiting order, the first `want` of the failover order
/// (`failover_order`; `ranked[0]` is the choice) and every eligible arm's expected cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostOrdered {
    pub choice: Choice,
    pub visited: Vec<usize>,
    pub ranked: Vec<usize>,
    pub cost: Vec<f64>,
}

/// The draws of one decision, taken in the order arms are visited.
struct Visitor<'a, R: Fn(usize) -> [f64; ARM_ROW]> {
    row: R,
    req: &'a Request<'a>,
    policy: &'a Policy,
    rng: Rng,
    slopes: Rng,
    scores: Vec<f64>,
    means: Vec<f64>,
    drawn: Vec<bool>,
    visited: Vec<usize>,
}

impl<R: Fn(usize) -> [f64; ARM_ROW]> Visitor<'_, R> {
    /// Position j's score, drawing it (next in both streams) on its first visit.
    fn score(&mut self, j: usize) -> f64 {
        if !self.drawn[j] {
            let r = (self.row)(self.req.row(j));
            let s = match self.req.easiness {
                None => 0.0,
                Some(e) => {
                    let z = (self.policy.explore > 0.0).then(|| self.slopes.normal());
                    shift(&r, e, self.req.center0, self.policy.explore, z)
                }
            };
            let floor = self.policy.floors(j);
            let (mean, score) =
                prepared(&r).mean_and_score(s, self.policy.explore, floor, &mut self.rng);
            self.means[j] = mean;
            self.scores[j] = score;
            self.drawn[j] = true;
            self.visited.push(j);
        }
        self.scores[j]
    }
}

/// The eligible arms in visiting order, cheapest first (ties by position). Priced costs are
/// computed exactly only as the visit nears them: a heap of each arm's cost floor
/// (`Pricing::cost_floor`, cheaper) feeds a heap of exact costs, and the exact cheapest is
/// handed out once no floor left is at or below it (then no arm left costs as little).
struct Order<'a> {
    req: &'a Request<'a>,
    /// Some while floors are pending: what prices an arm exactly.
    pricing: Option<&'a Pricing<'a>>,
    floors: BinaryHeap<Reverse<(i64, usize)>>,
    exact: BinaryHeap<Reverse<(i64, usize)>>,
    /// What the rule compares, per position (NaN: not priced yet).
    cost: Vec<f64>,
}

impl<'a> Order<'a> {
    /// Every cost known (given, drawn or priced up front).
    fn known(req: &'a Request<'a>, cost: Vec<f64>) -> Self {
        let exact = (0..cost.len())
            .map(|j| Reverse((total_order_key(cost[j]), j)))
            .collect::<Vec<_>>()
            .into();
        Self {
            req,
            pricing: None,
            floors: BinaryHeap::new(),
            exact,
            cost,
        }
    }

    /// Priced on the way from `floors` (each at most its arm's exact cost, all finite).
    fn floored(req: &'a Request<'a>, pricing: &'a Pricing<'a>, floors: &[f64]) -> Self {
        Self {
            req,
            pricing: Some(pricing),
            floors: (0..floors.len())
                .map(|j| Reverse((total_order_key(floors[j]), j)))
                .collect::<Vec<_>>()
                .into(),
            exact: BinaryHeap::new(),
            cost: vec![f64::NAN; floors.len()],
        }
    }

    /// Position j's cost, priced now if it was not.
    fn cost_of(&mut self, j: usize) -> f64 {
        if let (Some(pricing), true) = (self.pricing, self.cost[j].is_nan()) {
            self.cost[j] = pricing.cost(self.req.row(j));
        }
        self.cost[j]
    }

    /// The next (cost key, position) in visiting order.
    fn peek(&mut self) -> Option<(i64, usize)> {
        if let Some(pricing) = self.pricing {
            while let Some(&Reverse((floor, j))) = self.floors.peek() {
                if self.exact.peek().is_some_and(|&Reverse((k, _))| k < floor) {
                    break; // every arm still floored costs more than the exact cheapest
                }
                self.floors.pop();
                let c = pricing.cost(self.req.row(j));
                self.cost[j] = c;
                self.exact.push(Reverse((total_order_key(c), j)));
            }
        }
        self.exact.peek().map(|&Reverse(next)| next)
    }

    fn pop(&mut self) -> Option<(i64, usize)> {
        let next = self.peek()?;
        self.exact.pop();
        Some(next)
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.floors.is_empty()
    }
}

/// `arms::decide_rows`'s choice (its rule, its checks) with the arms visited cheapest first,
/// and the first `want` (at least 1) of the failover order. With `stop_early` the scan stops
/// where no unvisited arm can change those `want`, and priced costs are computed only for the
/// arms near the visited (`Order`; `CostOrdered::cost` is NaN for the others); else every arm
/// is drawn (same order) and priced. `req.top` and `req.every_cost` are not read.
pub fn decide_by_cost(
    n_rows: usize,
    row: impl Fn(usize) -> [f64; ARM_ROW],
    req: &Request<'_>,
    policy: &Policy,
    want: usize,
    stop_early: bool,
) -> Result<CostOrdered, CoreError> {
    let n = checked_request(n_rows, req)?;
    validate_policy(n, policy)?;
    let want = want.max(1);
    // the floors of the priced costs, when they can order an early-stopping visit
    let floored = match req.cost {
        Costs::Priced(pricing) if stop_early && req.rule_cost.is_none() => {
            let floors: Vec<f64> = (0..n).map(|j| pricing.cost_floor(req.row(j))).collect();
            floors
                .iter()
                .all(|f| f.is_finite())
                .then(|| Order::floored(req, pricing, &floors))
        }
        _ => None,
    };
    // else every expected cost now; the rule compares the drawn costs if given
    let (mut order, expected) = if let Some(order) = floored {
        (order, None)
    } else {
        let cost: Vec<f64> = match req.cost {
            Costs::Given(given) => given.to_vec(),
            Costs::Priced(pricing) => (0..n).map(|j| pricing.cost(req.row(j))).collect(),
        };
        validate_costs(n, &cost)?;
        match req.rule_cost {
            Some(drawn) => {
                validate_costs(n, drawn)?;
                (Order::known(req, drawn.to_vec()), Some(cost))
            }
            None => (Order::known(req, cost), None),
        }
    };
    let mut v = Visitor {
        row,
        req,
        policy,
        rng: Rng::new(policy.seed),
        slopes: Rng::new(policy.seed ^ SLOPE_STREAM),
        scores: vec![f64::NAN; n],
        means: vec![f64::NAN; n],
        drawn: vec![false; n],
        visited: Vec::new(),
    };
    // the baseline first, always (the bar is a fraction of its score); its cost is recorded
    let target = policy.baseline.map(|b| {
        order.cost_of(b);
        policy.quality_target * v.score(b)
    });
    if let Some(target) = target.filter(|_| stop_early && n > 1) {
        if policy.cost_weight > 0.0 {
            best_values(&mut v, &mut order, policy.cost_weight, want);
        } else {
            cheapest_clearing(&mut v, &mut order, target, want);
        }
        if !order.is_empty() {
            // stopped early: the `want` first are among the visited (all priced)
            let ranked = failover_order(&v.scores, &order.cost, target, policy, &v.visited, want);
            let reason = if policy.cost_weight > 0.0 {
                Reason::BestValue
            } else {
                Reason::CheapestMeetingTarget
            };
            let choice = Choice {
                index: ranked[0],
                reason,
                target,
                scores: v.scores,
                means: v.means,
            };
            return Ok(CostOrdered {
                choice,
                visited: v.visited,
                ranked,
                cost: expected.unwrap_or(order.cost),
            });
        }
    }
    // every arm, in cost order, then the rule itself
    while let Some((_, j)) = order.pop() {
        v.score(j);
    }
    let ruled = order.cost;
    let choice = rule(v.scores, v.means, &ruled, policy);
    let all: Vec<usize> = (0..n).collect();
    let ranked = failover_order(&choice.scores, &ruled, choice.target, policy, &all, want);
    debug_assert_eq!(ranked[0], choice.index);
    Ok(CostOrdered {
        choice,
        visited: v.visited,
        ranked,
        cost: expected.unwrap_or(ruled),
    })
}

/// Under a quality target: visits cheapest first until `want` arms cleared `target` and the
/// next arm costs more than the `want`-th of them (those of exactly its cost could outrank
/// it on score). Leaves `order` empty when fewer than `want` clear.
fn cheapest_clearing<R: Fn(usize) -> [f64; ARM_ROW]>(
    v: &mut Visitor<'_, R>,
    order: &mut Order<'_>,
    target: f64,
    want: usize,
) {
    let mut cleared = 0;
    let mut last: Option<i64> = None; // the cost key of the `want`-th arm that cleared
    while let Some((key, j)) = order.peek() {
        if last.is_some_and(|k| k != key) {
            break; // the rest cost more than `want` arms that clear the bar
        }
        order.pop();
        if v.score(j) >= target {
            cleared += 1;
            if cleared == want {
                last = Some(key);
            }
        }
    }
}

/// Under a cost weight: visits cheapest first until the next arm's value could not reach
/// the `want`-th best so far even with a score of 1.0 (every score is < 1.0, and rounding is
/// monotone; later arms cost at least as much).
fn best_values<R: Fn(usize) -> [f64; ARM_ROW]>(
    v: &mut Visitor<'_, R>,
    order: &mut Order<'_>,
    weight: f64,
    want: usize,
) {
    let mut best: Vec<f64> = Vec::with_capacity(want + 1); // the `want` best values, descending
    while let Some((_, j)) = order.peek() {
        let cost = order.cost[j];
        let bound = 1.0 - weight * cost;
        if best.len() == want && bound.total_cmp(&best[want - 1]) == Ordering::Less {
            break;
        }
        order.pop();
        let value = v.score(j) - weight * cost;
        let at = best.partition_point(|b| b.total_cmp(&value) != Ordering::Less);
        best.insert(at, value);
        best.truncate(want);
    }
}

/// The first `want` of `among` (drawn positions) in failover order: the rule's ranking, whose
/// first is its choice. Under a cost weight by value (ties: lower cost, then lower position);
/// else the arms that clear `target` cheapest first (ties: higher score, then lower position),
/// then the rest by score (ties: lower cost, then lower position). The next models the rule
/// would pick were the ones before them down (the bar kept).
#[must_use]
pub fn failover_order(
    scores: &[f64],
    cost: &[f64],
    target: f64,
    policy: &Policy,
    among: &[usize],
    want: usize,
) -> Vec<usize> {
    let by_cost = |a: usize, b: usize| cost[a].total_cmp(&cost[b]).then(a.cmp(&b));
    let cmp = |&a: &usize, &b: &usize| -> Ordering {
        if policy.cost_weight > 0.0 {
            let value = |i: usize| scores[i] - policy.cost_weight * cost[i];
            return value(b).total_cmp(&value(a)).then(by_cost(a, b));
        }
        match (scores[a] >= target, scores[b] >= target) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (true, true) => cost[a]
                .total_cmp(&cost[b])
                .then(scores[b].total_cmp(&scores[a]))
                .then(a.cmp(&b)),
            (false, false) => scores[b].total_cmp(&scores[a]).then(by_cost(a, b)),
        }
    };
    let mut out = among.to_vec();
    let want = want.min(out.len());
    if want < out.len() {
        out.select_nth_unstable_by(want, cmp);
        out.truncate(want);
    }
    out.sort_unstable_by(cmp);
    out
}

/// `choose` with the candidates drawn in `order` (a permutation of the indices) instead of
/// index order: the stream's t-th draw goes to candidate `order[t]`; the rule and its ties
/// are by index as ever. `Router.decide_reference` draws as the cheapest-first pass visits.
pub fn choose_in_order(
    arms: &Arms<'_>,
    policy: &Policy,
    order: &[usize],
) -> Result<Choice, CoreError> {
    let n = validate(arms, policy)?;
    if order.len() != n {
        return Err(CoreError::LengthMismatch {
            name: "order",
            got: order.len(),
            expected: n,
        });
    }
    let mut seen = vec![false; n];
    for &i in order {
        if i >= n || std::mem::replace(&mut seen[i], true) {
            return Err(CoreError::InvalidInteger {
                name: "order",
                value: i64::try_from(i).unwrap_or(i64::MAX),
                rule: "must be a permutation of the candidate indices",
            });
        }
    }
    let mut means = vec![0.0; n];
    let mut scores = vec![0.0; n];
    let mut rng = Rng::new(policy.seed);
    for &i in order {
        let arm = PreparedArm::new(arms.alpha[i], arms.beta[i]);
        let floor = policy.floors(i);
        let (mean, score) = arm.mean_and_score(arms.shift[i], policy.explore, floor, &mut rng);
        means[i] = mean;
        scores[i] = score;
    }
    Ok(rule(scores, means, arms.cost, policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arms::{decide_rows, pack_arms};
    use crate::bandit::choose;
    use crate::beta_draw::GAUSS_ABOVE;
    use crate::test_pool::{random_arms, rows};

    struct Pool {
        table: Vec<f64>,
        cost: Vec<f64>,
    }

    fn pool(r: &mut Rng, n: usize, cost_levels: f64) -> Pool {
        let table = random_arms(r, n, 0.5, 40.0).packed();
        // few cost levels: many ties in cost order
        let cost = (0..n)
            .map(|_| (r.open01() * cost_levels).floor() / cost_levels)
            .collect();
        Pool { table, cost }
    }

    fn request(cost: &[f64], easiness: Option<f64>) -> Request<'_> {
        Request {
            picks: &[],
            cost: Costs::Given(cost),
            rule_cost: None,
            easiness,
            center0: 0.1,
            top: 0,
            every_cost: false,
        }
    }

    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "short names for the test's numbers"
    )]
    fn early_stop_chooses_as_the_full_scan_of_the_same_order() {
        let mut r = Rng::new(11);
        let mut stopped_early = 0;
        for case in 0..2000_u64 {
            let n = 1 + usize::try_from(case % 41).unwrap();
            let p = pool(&mut r, n, [3.0, 1e9][usize::try_from(case % 2).unwrap()]);
            let easiness = (case % 3 != 0).then_some(0.6);
            let req = request(&p.cost, easiness);
            let policy = Policy {
                baseline: (case % 5 != 0).then(|| usize::try_from(case).unwrap() % n),
                quality_target: [0.8, 0.95, 1.2][usize::try_from(case % 3).unwrap()],
                explore: [0.0, 0.5, 1.0][usize::try_from(case / 3 % 3).unwrap()],
                seed: case,
                cost_weight: [0.0, 0.0, 0.3, 5.0][usize::try_from(case / 7 % 4).unwrap()],
                optimistic: false,
            };
            let want = 1 + usize::try_from(case / 11 % 4).unwrap();
            let got = decide_by_cost(n, rows(&p.table), &req, &policy, want, true).unwrap();
            let full = decide_by_cost(n, rows(&p.table), &req, &policy, want, false).unwrap();
            let (g, f) = (&got.choice, &full.choice);
            assert_eq!(
                (g.index, g.reason, g.target),
                (f.index, f.reason, f.target),
                "case {case}"
            );
            // the same failover order's first `want`, and the rule's pick first
            assert_eq!(got.ranked, full.ranked, "case {case}");
            assert_eq!(got.ranked.len(), want.min(n));
            assert_eq!(got.ranked[0], g.index);
            // the visited prefix drew the same numbers as the full scan
            assert_eq!(got.visited[..], full.visited[..got.visited.len()]);
            for &j in &got.visited {
                assert_eq!((g.scores[j], g.means[j]), (f.scores[j], f.means[j]));
            }
            stopped_early += usize::from(got.visited.len() < n);
        }
        assert!(stopped_early > 500, "{stopped_early}");
    }

    /// The same pool decided many times, by the full scan in pool order (`decide_rows`) and
    /// cheapest first with early stop: each arm's choice frequency agrees within 5 binomial
    /// standard deviations of the difference (independent draws: the same distribution).
    #[test]
    #[expect(
        clippy::many_single_char_names,
        reason = "short names for the test's numbers"
    )]
    fn cost_order_choice_frequencies_match_the_full_scan_in_pool_order() {
        // better models cost more, in shuffled pool order; the baseline (position 5) is the
        // best: the cheap ones clear its bar only sometimes, so the choice is spread out
        let n = 12;
        let rank = [3, 7, 0, 10, 5, 11, 1, 8, 2, 9, 4, 6];
        let mean: Vec<f64> = rank.iter().map(|&k| 0.5 + 0.03 * f64::from(k)).collect();
        let alpha: Vec<f64> = mean.iter().map(|m| 30.0 * m).collect();
        let beta: Vec<f64> = mean.iter().map(|m| 30.0 * (1.0 - m)).collect();
        let z = vec![0.0; n];
        let table = pack_arms(&alpha, &beta, &z, &z, &vec![1.0; n], &z, GAUSS_ABOVE).unwrap();
        let cost: Vec<f64> = rank.iter().map(|&k| 0.01 * f64::from(k + 1)).collect();
        let p = Pool { table, cost };
        let trials = 20_000_u64;
        for (baseline, weight) in [(Some(5), 0.0), (Some(5), 4.0), (None, 0.0)] {
            let mut old = vec![0_u32; n];
            let mut new = vec![0_u32; n];
            for seed in 0..trials {
                let policy = Policy {
                    baseline,
                    quality_target: 0.95,
                    explore: 1.0,
                    seed,
                    cost_weight: weight,
                    optimistic: false,
                };
                let req = request(&p.cost, Some(0.4));
                old[decide_rows(n, rows(&p.table), &req, &policy)
                    .unwrap()
                    .choice
                    .index] += 1;
                // another seed: the two samples independent
                let policy = Policy {
                    seed: seed + trials,
                    ..policy
                };
                new[decide_by_cost(n, rows(&p.table), &req, &policy, 1, true)
                    .unwrap()
                    .choice
                    .index] += 1;
            }
            let t = f64::from(u32::try_from(trials).unwrap());
            for j in 0..n {
                let (a, b) = (f64::from(old[j]) / t, f64::from(new[j]) / t);
                let q = f64::midpoint(a, b);
                let sd = (2.0 * q * (1.0 - q) / t).sqrt();
                assert!(
                    (a - b).abs() <= 5.0 * sd + 1e-12,
                    "{baseline:?} {weight} arm {j}: {a} vs {b} (sd {sd})"
                );
            }
            // a spread-out choice: a test that could see a changed distribution
            let common = old.iter().filter(|&&c| f64::from(c) > 0.05 * t).count();
            assert!(common >= 3, "{baseline:?} {weight}: {old:?}");
        }
    }

    /// Priced costs (answer lengths from a regression table) are computed exactly only near
    /// the visit: the same choice, failover order and draws as the full scan, which prices
    /// every arm; every visited arm's cost is exact; ties in cost (equal prices and lengths)
    /// are kept in position order.
    #[test]
    #[expect(clippy::float_cmp, reason = "the same costs, bit for bit")]
    fn priced_costs_on_demand_visit_as_every_cost_does() {
        use crate::length::DIM;
        use crate::request_cost::{Answer, LengthRow, LengthTable, Prompt};
        let mut r = Rng::new(5);
        let mut priced_few = 0;
        for case in 0..400_u64 {
            let n = 2 + usize::try_from(case % 150).unwrap();
            let p = pool(&mut r, n, 1e9);
            let mut table = LengthTable::new(n);
            for i in 0..n {
                let mut w = [0.0; DIM];
                for x in &mut w {
                    *x = 0.4 * (r.open01() - 0.5);
                }
                let noise_var = 0.1 + r.open01();
                // i % 3 == 0: the pool's prediction (equal lengths, so price ties below)
                if i % 3 != 0 {
                    table
                        .set(i, LengthRow::fitted(i % 3 == 2, w, noise_var))
                        .unwrap();
                }
            }
            let mut x = [0.0; DIM];
            for v in &mut x {
                *v = 3.0 * r.open01();
            }
            let prompt = Prompt {
                table: &table,
                x,
                pool_mean: 5.0,
                pool_noise_var: 0.5,
                max_log: 10_000f64.ln_1p(),
            };
            // few price levels: many exact ties in cost
            let level = |r: &mut Rng| (r.open01() * 4.0).floor() + 0.5;
            let p_in: Vec<f64> = (0..n).map(|_| level(&mut r)).collect();
            let p_out: Vec<f64> = (0..n).map(|_| 3.0 * level(&mut r)).collect();
            let cap = (case % 4 == 0).then_some(200.0);
            let pricing =
                Pricing::new(n, &p_in, &p_out, Answer::Predicted(prompt), 300.0, cap).unwrap();
            let req = Request {
                picks: &[],
                cost: Costs::Priced(&pricing),
                rule_cost: None,
                easiness: Some(0.2),
                center0: 0.0,
                top: 0,
                every_cost: false,
            };
            let policy = Policy {
                baseline: Some(usize::try_from(case).unwrap() % n),
                quality_target: [0.8, 0.95][usize::try_from(case % 2).unwrap()],
                explore: 1.0,
                seed: case,
                cost_weight: [0.0, 0.0, 300.0][usize::try_from(case % 3).unwrap()],
                optimistic: false,
            };
            let want = 1 + usize::try_from(case % 3).unwrap();
            let got = decide_by_cost(n, rows(&p.table), &req, &policy, want, true).unwrap();
            let full = decide_by_cost(n, rows(&p.table), &req, &policy, want, false).unwrap();
            assert_eq!(
                (got.choice.index, got.choice.reason, got.ranked.clone()),
                (full.choice.index, full.choice.reason, full.ranked.clone()),
                "case {case}"
            );
            assert_eq!(got.visited[..], full.visited[..got.visited.len()]);
            for &j in got.visited.iter().chain(&got.ranked) {
                assert_eq!(got.cost[j], pricing.cost(j));
                assert_eq!(got.choice.scores[j], full.choice.scores[j]);
            }
            priced_few += usize::from(got.cost.iter().filter(|c| !c.is_nan()).count() < n / 2);
        }
        assert!(priced_few > 100, "{priced_few}");
    }

    #[test]
    fn visits_the_baseline_first_then_cheapest_first() {
        let mut r = Rng::new(4);
        let p = pool(&mut r, 30, 1e9);
        let req = request(&p.cost, None);
        let policy = Policy {
            baseline: Some(7),
            quality_target: 0.95,
            explore: 1.0,
            seed: 9,
            cost_weight: 0.0,
            optimistic: false,
        };
        let got = decide_by_cost(30, rows(&p.table), &req, &policy, 3, false).unwrap();
        assert_eq!(got.visited[0], 7);
        let rest: Vec<f64> = got.visited[1..].iter().map(|&j| p.cost[j]).collect();
        assert!(rest.windows(2).all(|w| w[0] <= w[1]), "{rest:?}");
        assert_eq!(got.visited.len(), 30);
    }

    #[test]
    fn choose_in_order_gives_the_t_th_draw_to_the_t_th_candidate_of_the_order() {
        let alpha = [2.0, 5.0, 9.0, 1.5];
        let beta = [3.0, 1.0, 4.0, 2.5];
        let arms = Arms {
            alpha: &alpha,
            beta: &beta,
            cost: &[0.4, 0.1, 0.3, 0.2],
            shift: &[0.0, 0.5, -0.2, 0.1],
        };
        let policy = Policy {
            baseline: Some(2),
            quality_target: 0.9,
            explore: 1.0,
            seed: 17,
            cost_weight: 0.0,
            optimistic: false,
        };
        let plain = choose(&arms, &policy).unwrap();
        assert_eq!(
            choose_in_order(&arms, &policy, &[0, 1, 2, 3]).unwrap(),
            plain
        );
        // candidate order[t] gets the draw candidate t gets in index order
        let order = [2, 0, 3, 1];
        let permuted = Arms {
            alpha: &order.map(|i| alpha[i]),
            beta: &order.map(|i| beta[i]),
            cost: &order.map(|i| arms.cost[i]),
            shift: &order.map(|i| arms.shift[i]),
        };
        let want = choose(
            &permuted,
            &Policy {
                baseline: Some(0),
                ..policy
            },
        )
        .unwrap();
        let got = choose_in_order(&arms, &policy, &order).unwrap();
        for (t, &i) in order.iter().enumerate() {
            assert_eq!(
                (got.scores[i], got.means[i]),
                (want.scores[t], want.means[t])
            );
        }
        for bad in [&[0, 1, 2][..], &[0, 1, 2, 2], &[0, 1, 2, 4]] {
            assert!(choose_in_order(&arms, &policy, bad).is_err());
        }
    }
}
