//! Criterion bench for `choose` (greedy and full Thompson) over 4, 10 and 50 candidates.
use arbiter_core::{choose, Arms, Policy};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

fn bench_choose(c: &mut Criterion) {
    let mut group = c.benchmark_group("choose");
    for n in [4usize, 10, 50] {
        let alpha: Vec<f64> = (0..n).map(|i| 2.0 + i as f64).collect();
        let beta: Vec<f64> = (0..n).map(|i| 1.0 + (n - i) as f64 * 0.5).collect();
        let cost: Vec<f64> = (0..n).map(|i| 1e-4 * (1 + i % 7) as f64).collect();
        let shift: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
        let arms = Arms {
            alpha: &alpha,
            beta: &beta,
            cost: &cost,
            shift: &shift,
        };
        for explore in [0.0, 1.0] {
            let id = BenchmarkId::new(format!("explore={explore}"), n);
            let mut seed = 0u64;
            group.bench_with_input(id, &arms, |b, arms| {
                b.iter(|| {
                    seed += 1;
                    let policy = Policy {
                        baseline: Some(n - 1),
                        quality_target: 0.95,
                        explore,
                        seed,
                        cost_weight: 0.0,
                        optimistic: false,
                    };
                    black_box(choose(black_box(arms), &policy).expect("valid inputs"))
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_choose);
criterion_main!(benches);
