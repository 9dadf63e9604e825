//! bf16 against fp32: the training step of the `mcu` recipe in both precisions, timed
//! in the same process, and the memory layout of the bf16 convolutions.
//!
//! `cargo bench -p trainer --bench precision [-- ROUNDS STEPS]` (default 5 rounds of 10
//! steps of batch 128, after one untimed warm-up round; libtorch's default threads, or
//! `PRECISION_THREADS=N`). On the CPU every tensor operation is done when it returns,
//! so wall-clock timers measure the work.
//!
//! 1. The step as `trainer fit` runs it (batch selection, augmentation, the forward
//!    pass in the precision, the fp32 loss, backward, the [`OwnedOptimizer`] update),
//!    one model per precision; a round runs `STEPS` steps of fp32 then `STEPS` of bf16,
//!    so the machine's load hits both alike. Prints each precision's best round (mean
//!    ms per step) and the ratio bf16 / fp32.
//! 2. Forward + backward of the network in bf16, channels-last (as the trainer runs it)
//!    against contiguous NCHW activations, alternated the same way.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};
use trainer::nn::Arch;
use trainer::train::{self, OwnedOptimizer, Precision, Tensors};
use trainer_core::data::{self, Split};

fn main() {
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let rounds = numbers.next().unwrap_or(5).max(1);
    let steps = numbers.next().unwrap_or(10).max(1);
    if let Some(n) = std::env::var("PRECISION_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tch::set_num_threads(n);
    }
    let cfg = train::recipe(&Arch::parse("mcu").unwrap());
    let batch = cfg.batch_size as i64;
    let dir = data::locate(None).expect("dataset");
    let set = data::load(&dir, Split::Train)
        .unwrap()
        .head(steps * cfg.batch_size);
    let data = Tensors::new(&set, Device::Cpu);
    let probe = train::precision::probe(Device::Cpu, 5);
    println!(
        "threads: {}, {rounds} rounds of {steps} steps of batch {batch} per precision; \
         auto's probe: ratio {:.2} -> {}",
        tch::get_num_threads(),
        probe.ratio(),
        probe.choice().name()
    );

    // 1. The trainer's step.
    let precisions = [Precision::Fp32, Precision::Bf16];
    let models = precisions.map(|_| train::fresh_model(&cfg.arch, cfg.net, cfg.seed, Device::Cpu));
    let mut opts = models
        .each_ref()
        .map(|(vs, _)| OwnedOptimizer::new(vs, &cfg));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut best = [f64::INFINITY; 2];
    for round in 0..=rounds {
        for (k, precision) in precisions.iter().enumerate() {
            let start = Instant::now();
            for i in 0..steps as i64 {
                let idx =
                    Tensor::arange_start(i * batch, (i + 1) * batch, (Kind::Int64, Device::Cpu));
                let xs = train::augment(&data.images.index_select(0, &idx), cfg.augment, &mut rng);
                let ys = data.labels.index_select(0, &idx);
                let out = models[k].1.forward_in(&xs, true, precision.compute_kind());
                let loss = train::distill::hard_loss(&out, &ys, cfg.label_smoothing);
                opts[k].step(&loss, cfg.lr).unwrap();
            }
            let per_step = start.elapsed().as_secs_f64() * 1e3 / steps as f64;
            if round > 0 {
                best[k] = best[k].min(per_step);
            }
        }
    }
    println!(
        "training step (best round, mean ms/step): fp32 {:.2}, bf16 {:.2}, ratio bf16/fp32 {:.3}",
        best[0],
        best[1],
        best[1] / best[0]
    );

    // 2. bf16 layouts.
    let (vs, net) = &models[1];
    let vars = vs.trainable_variables();
    let mut layout = [f64::INFINITY; 2];
    let xs = data.images.narrow(0, 0, batch);
    let ys = data.labels.narrow(0, 0, batch);
    for round in 0..=rounds {
        for (k, channels_last) in [true, false].into_iter().enumerate() {
            let start = Instant::now();
            for _ in 0..steps {
                let out = if channels_last {
                    net.forward_in(&xs, true, Kind::BFloat16)
                } else {
                    forward_nchw(vs, &xs)
                };
                let loss = train::distill::hard_loss(&out, &ys, 0.0);
                let _ = Tensor::run_backward(&[&loss], &vars, false, false);
            }
            if round > 0 {
                layout[k] = layout[k].min(start.elapsed().as_secs_f64() * 1e3 / steps as f64);
            }
        }
    }
    println!(
        "bf16 forward + backward (best round, ms): channels-last {:.2}, contiguous (NCHW) {:.2}",
        layout[0], layout[1]
    );
}

/// The `mcu` network in bf16 with contiguous (NCHW) activations: conv, fp32 batch norm,
/// (pool), ReLU six times, then the dense layer.
fn forward_nchw(vs: &tch::nn::VarStore, xs: &Tensor) -> Tensor {
    let v = vs.variables();
    let bf = |name: &str| v[name].to_kind(Kind::BFloat16);
    let mut x = xs.to_kind(Kind::BFloat16).contiguous();
    for i in 0..6 {
        let conv = trainer::nn::conv_name("conv", i);
        let bn = trainer::nn::conv_name("bn", i);
        let y = x
            .conv2d(
                &bf(&format!("{conv}.weight")),
                Some(&bf(&format!("{conv}.bias"))),
                [1, 1],
                [1, 1],
                [1, 1],
                1,
            )
            .to_kind(Kind::Float);
        let y = Tensor::batch_norm(
            &y,
            Some(&v[&format!("{bn}.weight")]),
            Some(&v[&format!("{bn}.bias")]),
            Some(&v[&format!("{bn}.running_mean")].detach()),
            Some(&v[&format!("{bn}.running_var")].detach()),
            true,
            0.1,
            1e-5,
            false,
        )
        .to_kind(Kind::BFloat16);
        let y = if i % 2 == 1 {
            y.max_pool2d_default(2)
        } else {
            y
        };
        x = y.relu();
    }
    x.flatten(1, -1)
        .linear(&bf("fc1.weight"), Some(&bf("fc1.bias")))
        .to_kind(Kind::Float)
}
