//! Host speed of one image at a time: infer-core's int8 `classify` against the tch
//! float forward pass, both on one thread, in the same run.
//!
//! `cargo bench -p parity-tests --bench classify [-- IMAGES]` (default 2,000 test
//! images, each classified once per pass, best of 3 passes), for `mcu` and `baseline`.
//! Prints images per second of each and the ratio.

use std::hint::black_box;
use std::time::Instant;

use tch::nn::ModuleT;
use tch::{Kind, Tensor};
use trainer_core::data::Dataset;

fn best_of<F: FnMut()>(passes: usize, mut f: F) -> f64 {
    (0..passes)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let images: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    tch::set_num_threads(1);
    let test = parity_tests::test_set().expect("dataset").head(images);
    println!(
        "images: {}, tch threads: {}",
        test.len(),
        tch::get_num_threads()
    );
    for name in ["mcu", "baseline"] {
        bench(name, &test);
    }
}

/// Times both engines on `test` with the committed model `name` and prints the ratio.
fn bench(name: &str, test: &Dataset) {
    let (_vs, net, fmq) = parity_tests::committed(name).expect("committed model");
    let model = infer_core::Model::from_bytes(&fmq).expect("valid model");
    let mut scratch = vec![0i8; model.scratch_len()];
    let inputs: Vec<Tensor> = (0..test.len())
        .map(|i| {
            Tensor::from_slice(test.image(i).as_slice())
                .view([1, 1, 28, 28])
                .to_kind(Kind::Float)
                / 255.0
        })
        .collect();

    let int8 = best_of(3, || {
        for i in 0..test.len() {
            black_box(
                model
                    .classify(black_box(test.image(i)), &mut scratch)
                    .unwrap()
                    .class,
            );
        }
    });
    let float = tch::no_grad(|| {
        best_of(3, || {
            for x in &inputs {
                black_box(
                    net.forward_t(black_box(x), false)
                        .argmax(-1, false)
                        .int64_value(&[0]),
                );
            }
        })
    });
    let n = test.len() as f64;
    println!(
        "{name}: infer-core int8 classify: {:>8.0} images/s",
        n / int8
    );
    println!(
        "{name}: tch float forward:        {:>8.0} images/s",
        n / float
    );
    println!("{name}: ratio infer-core/tch: {:.2}", float / int8);
}
