//! `Policy::optimistic`: a draw may let a cheaper arm clear the bar, never send a request to a
//! pricier one while the cheaper arm's mean clears it.

use arbiter_core::{choose, Arms, Policy};

/// The quality-target rule at 0.9 of the baseline (arm 0), full Thompson draws.
fn target_rule(seed: u64, optimistic: bool) -> Policy {
    Policy {
        baseline: Some(0),
        quality_target: 0.9,
        explore: 1.0,
        seed,
        cost_weight: 0.0,
        optimistic,
    }
}

/// Math on the bench's pool: premium (the baseline, 0.95), medium 0.90 and small 0.90 at
/// 200 prior grades, small the cheapest; the bar 0.9 x premium's draw. Plain Thompson
/// sends a few percent to medium when small's draw dips under the bar although both
/// means clear it; floored, only a cheaper arm's lucky draw can move the pick.
#[test]
fn optimistic_draws_never_pay_for_a_pricier_arm_when_the_cheaper_mean_clears_the_bar() {
    let (alpha, beta) = ([190.0, 180.0, 180.0, 40.0], [10.0, 20.0, 20.0, 60.0]);
    let (cost, shift) = ([10.0, 2.0, 1.0, 0.1], [0.0; 4]);
    let arms = Arms {
        alpha: &alpha,
        beta: &beta,
        cost: &cost,
        shift: &shift,
    };
    let mut picks = [[0u32; 4]; 2];
    for seed in 0..4000 {
        for (k, optimistic) in [false, true].into_iter().enumerate() {
            let c = choose(&arms, &target_rule(seed, optimistic)).unwrap();
            picks[k][c.index] += 1;
            if optimistic {
                assert!(c.scores[1..].iter().zip(&c.means[1..]).all(|(s, m)| s >= m));
                assert!((c.scores[0] - c.means[0]).abs() > 0.0); // the bar still drawn
            }
        }
    }
    // tiny (mean 0.4) is far under the bar either way; small wins most draws either way
    assert!(picks[0][1] + picks[0][0] > 40, "plain: {:?}", picks[0]);
    assert_eq!(picks[1][0] + picks[1][1], 0, "optimistic: {:?}", picks[1]);
    assert_eq!(picks[1][2], 4000);
}

/// Floored, a cheaper arm under the bar on its mean still gets the draws that clear it.
#[test]
fn optimistic_draws_still_explore_a_cheaper_arm_under_the_bar() {
    // baseline 0.95 (200 grades); a cheap arm at 0.84 on 10 grades: under the bar 0.855
    let (alpha, beta) = ([190.0, 8.4], [10.0, 1.6]);
    let (cost, shift) = ([10.0, 1.0], [0.0; 2]);
    let arms = Arms {
        alpha: &alpha,
        beta: &beta,
        cost: &cost,
        shift: &shift,
    };
    let cheap = (0..2000)
        .filter(|&seed| choose(&arms, &target_rule(seed, true)).unwrap().index == 1)
        .count();
    assert!((600..1400).contains(&cheap), "{cheap} of 2000");
}
