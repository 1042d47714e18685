//! Criterion bench for `prompt_features` on 100, 2,000 and 8,000-character prompts.
use arbiter_core::prompt_features;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

const SAMPLE: &str = "Write a Python function `parse(s)` that returns the sum of all integers \
in s, e.g. parse(\"a1b22\") == 23. Explain the complexity. What if s has 10^6 chars?\n";

fn prompt(chars: usize) -> String {
    SAMPLE.chars().cycle().take(chars).collect()
}

fn bench_features(c: &mut Criterion) {
    let mut group = c.benchmark_group("prompt_features");
    for chars in [100usize, 2_000, 8_000] {
        let text = prompt(chars);
        group.bench_with_input(BenchmarkId::from_parameter(chars), &text, |b, t| {
            b.iter(|| black_box(prompt_features(black_box(t), 256).expect("valid dim")));
        });
    }
    group.finish();
}

criterion_group!(benches, bench_features);
criterion_main!(benches);
