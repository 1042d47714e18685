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
use crate::bandit::{rule, validate_costs, validate_policy, Choice, Policy, Reason};
use crate::error::CoreError;
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
            let (mean, score) = prepared(&r).mean_and_score(s, self.policy.explore, &mut self.rng);
            self.means[j] = mean;
            self.scores[j] = score;
            self.drawn[j] = true;
            self.visited.push(j);
        }
        self.scores[j]
    }
}

/// `arms::decide_rows`'s choice (its rule, its checks) with the arms visited cheapest first,
/// and the first `want` (at least 1) of the failover order. With `stop_early` the scan stops
/// where no unvisited arm can change those `want`; else every arm is drawn (same order).
/// `req.top` and `req.every_cost` are not read; every priced cost is computed (they order
/// the visits).
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
    // each arm's expected cost, and what the rule compares: the drawn costs if given
    let cost: Vec<f64> = match req.cost {
        Costs::Given(given) => given.to_vec(),
        Costs::Priced(pricing) => (0..n).map(|j| pricing.cost(req.row(j))).collect(),
    };
    validate_costs(n, &cost)?;
    let ruled: &[f64] = match req.rule_cost {
        Some(drawn) => {
            validate_costs(n, drawn)?;
            drawn
        }
        None => &cost,
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
    // a min-heap of (cost, position): built in O(n), each visit pops in O(log n)
    let mut order: BinaryHeap<Reverse<(i64, usize)>> = (0..n)
        .map(|j| Reverse((total_order_key(ruled[j]), j)))
        .collect::<Vec<_>>()
        .into();
    // the baseline first, always (the bar is a fraction of its score)
    let target = policy.baseline.map(|b| policy.quality_target * v.score(b));
    if let Some(target) = target.filter(|_| stop_early && n > 1) {
        if policy.cost_weight > 0.0 {
            best_values(&mut v, &mut order, ruled, policy.cost_weight, want);
        } else {
            cheapest_clearing(&mut v, &mut order, target, want);
        }
        if !order.is_empty() {
            // stopped early: the `want` first are among the visited
            let ranked = failover_order(&v.scores, ruled, target, policy, &v.visited, want);
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
                cost,
            });
        }
    }
    // every arm, in cost order, then the rule itself
    while let Some(Reverse((_, j))) = order.pop() {
        v.score(j);
    }
    let choice = rule(v.scores, v.means, ruled, policy);
    let all: Vec<usize> = (0..n).collect();
    let ranked = failover_order(&choice.scores, ruled, choice.target, policy, &all, want);
    debug_assert_eq!(ranked[0], choice.index);
    Ok(CostOrdered {
        choice,
        visited: v.visited,
        ranked,
        cost,
    })
}

/// Under a quality target: visits cheapest first until `want` arms cleared `target` and the
/// next arm costs more than the `want`-th of them (those of exactly its cost could outrank
/// it on score). Leaves `order` empty when fewer than `want` clear.
fn cheapest_clearing<R: Fn(usize) -> [f64; ARM_ROW]>(
    v: &mut Visitor<'_, R>,
    order: &mut BinaryHeap<Reverse<(i64, usize)>>,
    target: f64,
    want: usize,
) {
    let mut cleared = 0;
    let mut last: Option<i64> = None; // the cost key of the `want`-th arm that cleared
    while let Some(&Reverse((key, j))) = order.peek() {
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
    order: &mut BinaryHeap<Reverse<(i64, usize)>>,
    cost: &[f64],
    weight: f64,
    want: usize,
) {
    let mut best: Vec<f64> = Vec::with_capacity(want + 1); // the `want` best values, descending
    while let Some(&Reverse((_, j))) = order.peek() {
        let bound = 1.0 - weight * cost[j];
        if best.len() == want && bound.total_cmp(&best[want - 1]) == Ordering::Less {
            break;
        }
        order.pop();
        let value = v.score(j) - weight * cost[j];
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arms::{decide_rows, pack_arms};
    use crate::beta_draw::GAUSS_ABOVE;

    fn rows(table: &[f64]) -> impl Fn(usize) -> [f64; ARM_ROW] + '_ {
        |i: usize| table[i * ARM_ROW..(i + 1) * ARM_ROW].try_into().unwrap()
    }

    struct Pool {
        table: Vec<f64>,
        cost: Vec<f64>,
    }

    fn pool(r: &mut Rng, n: usize, cost_levels: f64) -> Pool {
        let alpha: Vec<f64> = (0..n).map(|_| 0.5 + 40.0 * r.open01()).collect();
        let beta: Vec<f64> = (0..n).map(|_| 0.5 + 40.0 * r.open01()).collect();
        let learned: Vec<f64> = (0..n).map(|i| f64::from(u8::from(i % 2 == 0))).collect();
        let slope: Vec<f64> = (0..n).map(|_| r.open01() - 0.5).collect();
        let precision: Vec<f64> = (0..n).map(|_| 0.5 + 10.0 * r.open01()).collect();
        let center: Vec<f64> = (0..n).map(|_| r.open01() - 0.5).collect();
        // few cost levels: many ties in cost order
        let cost = (0..n)
            .map(|_| (r.open01() * cost_levels).floor() / cost_levels)
            .collect();
        let table = pack_arms(
            &alpha,
            &beta,
            &learned,
            &slope,
            &precision,
            &center,
            GAUSS_ABOVE,
        )
        .unwrap();
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
        };
        let got = decide_by_cost(30, rows(&p.table), &req, &policy, 3, false).unwrap();
        assert_eq!(got.visited[0], 7);
        let rest: Vec<f64> = got.visited[1..].iter().map(|&j| p.cost[j]).collect();
        assert!(rest.windows(2).all(|w| w[0] <= w[1]), "{rest:?}");
        assert_eq!(got.visited.len(), 30);
    }
}
