//! Host speed of `Model::classify` on one thread, in images per second, for a
//! randomly generated model of the baseline's shape (conv 1->32 3x3 valid +
//! ReLU, max-pool, flatten, dense 5408->100 + ReLU, dense 100->10), plus the
//! cost of `Model::from_bytes` on that file (CRC-32 and validation).
//!
//! `cargo bench -p infer-core --bench classify`; criterion prints the
//! throughput as `elem/s` (one element = one image).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Rng, baseline_shaped, image};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use infer_core::Model;

fn bench(c: &mut Criterion) {
    let bytes = baseline_shaped().to_bytes().unwrap();
    let model = Model::from_bytes(&bytes).expect("valid model");
    let mut scratch = vec![0i8; model.scratch_len()];
    let mut rng = Rng::new(7);
    let images: Vec<[u8; 784]> = (0..64).map(|_| image(&mut rng)).collect();

    let mut group = c.benchmark_group("baseline-shaped");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("classify", |b| {
        b.iter(|| {
            i = (i + 1) % images.len();
            let p = model
                .classify(black_box(&images[i]), &mut scratch)
                .expect("scratch is large enough");
            black_box(p.class)
        })
    });
    group.bench_function("from_bytes", |b| {
        b.iter(|| Model::from_bytes(black_box(&bytes)).map(|m| m.scratch_len()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
