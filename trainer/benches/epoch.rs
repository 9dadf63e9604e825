//! Seconds per training epoch: `trainer::train` against a minimal tch loop, same run.
//!
//! `cargo bench -p trainer --bench epoch [-- IMAGES]` (default 48,000 images: one
//! cross-validation fold's training set). The minimal loop is the reference: the same
//! network, optimiser and batch size, batches taken with `narrow` from a tensor
//! shuffled once per epoch, and no metrics. Prints both times and their ratio.

use std::time::Instant;

use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};
use trainer::nn::Arch;
use trainer::train::{self, Tensors, TrainConfig};
use trainer_core::data::{self, Split};

fn minimal_epoch(data: &Tensors, seed: u64) -> f64 {
    let (vs, net) = train::fresh_model(&Arch::baseline(), Default::default(), seed, Device::Cpu);
    let mut opt = nn::Sgd {
        momentum: 0.9,
        ..Default::default()
    }
    .build(&vs, 0.01)
    .unwrap();
    let start = Instant::now();
    let perm = Tensor::randperm(data.len(), (Kind::Int64, Device::Cpu));
    let xs_all = data.images.index_select(0, &perm);
    let ys_all = data.labels.index_select(0, &perm);
    let n = data.len();
    let mut i = 0;
    while i < n {
        let take = 32.min(n - i);
        let xs = xs_all.narrow(0, i, take);
        let ys = ys_all.narrow(0, i, take);
        let loss = net.forward_t(&xs, true).cross_entropy_for_logits(&ys);
        opt.backward_step(&loss);
        i += take;
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let images: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(48_000);
    let dir = data::locate(None).expect("dataset");
    let set = data::load(&dir, Split::Train).unwrap().head(images);
    let tensors = Tensors::new(&set, Device::Cpu);
    println!("threads: {}, images: {}", tch::get_num_threads(), set.len());
    let reference = minimal_epoch(&tensors, 1);
    let cfg = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let (vs, net) = train::fresh_model(&Arch::baseline(), Default::default(), 1, Device::Cpu);
    let history = train::train(&vs, &net, &tensors, None, &cfg, "bench").unwrap();
    let ours = history[0].train_seconds;
    println!("minimal tch loop: {reference:.2} s/epoch");
    println!("trainer::train:   {ours:.2} s/epoch");
    println!("ratio trainer/minimal: {:.2}", ours / reference);
}
