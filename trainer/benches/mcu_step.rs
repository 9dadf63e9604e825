//! Where one training step of the `mcu` recipe spends its time, and two layout variants.
//!
//! `cargo bench -p trainer --bench mcu_step [-- STEPS]` (default 60 steps of batch 128,
//! after 5 untimed warm-up steps; libtorch's default threads, or `--threads`-like
//! control through `MCU_STEP_THREADS`). On the CPU every tensor operation is done when
//! it returns, so wall-clock timers around each phase measure that phase.
//!
//! 1. The step as `trainer fit` runs it (`trainer::train`'s pieces): batch selection
//!    and augmentation, forward pass and loss, backward pass, optimizer update (the
//!    step with [`OwnedOptimizer`] minus a backward pass alone, alternated), metrics.
//! 2. Forward + backward of the same network written out with plain tensor calls, in
//!    the channels-last layout the trainer uses, in the default contiguous (NCHW)
//!    layout, and channels-last with in-place ReLUs, alternated step by step in one
//!    process, so that the machine's load hits all alike.
//!
//! Prints medians in milliseconds.

use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};
use trainer::nn::Arch;
use trainer::train::{self, OwnedOptimizer, Tensors};
use trainer_core::data::{self, Split};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// The mcu network with batch norm, written out: conv, bn, (pool), relu, ..., linear.
fn forward_plain(
    vars: &std::collections::HashMap<String, Tensor>,
    xs: &Tensor,
    channels_last: bool,
    in_place_relu: bool,
) -> Tensor {
    let mut x = if channels_last {
        let s = xs.size();
        xs.as_strided([s[0], 1, s[2], s[3]], [s[2] * s[3], 1, s[3], 1], None)
    } else {
        xs.shallow_clone()
    };
    for i in 0..6 {
        let name = |p: &str| trainer::nn::conv_name(p, i);
        let w = &vars[&format!("{}.weight", name("conv"))];
        let b = &vars[&format!("{}.bias", name("conv"))];
        let y = x.conv2d(w, Some(b), [1, 1], [1, 1], [1, 1], 1);
        let bn = name("bn");
        let y = Tensor::batch_norm(
            &y,
            Some(&vars[&format!("{bn}.weight")]),
            Some(&vars[&format!("{bn}.bias")]),
            Some(&vars[&format!("{bn}.running_mean")].detach()),
            Some(&vars[&format!("{bn}.running_var")].detach()),
            true,
            0.1,
            1e-5,
            false,
        );
        let mut y = if i % 2 == 1 {
            y.max_pool2d_default(2)
        } else {
            y
        };
        x = if in_place_relu { y.relu_() } else { y.relu() };
    }
    x.flatten(1, -1)
        .linear(&vars["fc1.weight"], Some(&vars["fc1.bias"]))
}

fn main() {
    let steps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60);
    if let Some(n) = std::env::var("MCU_STEP_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        tch::set_num_threads(n);
    }
    let warm = 5;
    let dir = data::locate(None).expect("dataset");
    let cfg = train::recipe(&Arch::parse("mcu").unwrap());
    let batch = cfg.batch_size as i64;
    let set = data::load(&dir, Split::Train)
        .unwrap()
        .head((steps + warm) * cfg.batch_size);
    let data = Tensors::new(&set, Device::Cpu);
    println!(
        "threads: {}, steps: {steps} of batch {batch}",
        tch::get_num_threads()
    );
    let (vs, net) = train::fresh_model(&cfg.arch, cfg.net, cfg.seed, Device::Cpu);
    let mut opt = OwnedOptimizer::new(&vs, &cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let vars: Vec<Tensor> = vs.trainable_variables();
    let mut t = [(); 6].map(|_| Vec::new());
    let loss_of = |out: &Tensor, ys: &Tensor| {
        out.cross_entropy_loss::<Tensor>(ys, None, tch::Reduction::Mean, -100, 0.1)
    };
    let mut loss_sum = Tensor::zeros([], (Kind::Float, Device::Cpu));
    let mut correct = Tensor::zeros([], (Kind::Int64, Device::Cpu));
    for i in 0..steps + warm {
        let s = Instant::now();
        let idx = Tensor::arange_start(
            i as i64 * batch,
            (i as i64 + 1) * batch,
            (Kind::Int64, Device::Cpu),
        );
        let xs = train::augment(&data.images.index_select(0, &idx), cfg.augment, &mut rng);
        let ys = data.labels.index_select(0, &idx);
        let t_data = ms(s);
        let s = Instant::now();
        let out = net.forward_t(&xs, true);
        let loss = loss_of(&out, &ys);
        let t_fwd = ms(s);
        let s = Instant::now();
        let (t_bwd, t_step) = if i % 2 == 0 {
            let _ = Tensor::run_backward(&[&loss], &vars, false, false);
            (Some(ms(s)), None)
        } else {
            opt.step(&loss, 1e-3).unwrap();
            (None, Some(ms(s)))
        };
        let s = Instant::now();
        tch::no_grad(|| {
            loss_sum += loss.detach() * batch as f64;
            correct += out.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64);
        });
        let t_metrics = ms(s);
        if i >= warm {
            t[0].push(t_data);
            t[1].push(t_fwd);
            if let Some(b) = t_bwd {
                t[2].push(b);
            }
            if let Some(b) = t_step {
                t[3].push(b);
            }
            t[4].push(t_metrics);
        }
    }
    let _ = loss_sum.double_value(&[]);
    let [data_ms, fwd, bwd, step, metrics] = [0, 1, 2, 3, 4].map(|k| median(&mut t[k]));
    let update = step - bwd;
    let total = data_ms + fwd + bwd + update + metrics;
    println!("step as trainer fit runs it (median ms):");
    for (name, v) in [
        ("batch selection + augmentation", data_ms),
        ("forward + loss", fwd),
        ("backward", bwd),
        ("optimizer update (step - backward)", update),
        ("metrics (loss sum, correct count)", metrics),
    ] {
        println!("  {name:<36} {v:7.2} ms  {:5.1} %", 100.0 * v / total);
    }
    println!("  {:<36} {total:7.2} ms", "total");

    // Layouts: the same network as plain tensor calls, alternated.
    let named = vs.variables();
    let mut lay = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..steps + warm {
        let idx = Tensor::arange_start(
            i as i64 * batch,
            (i as i64 + 1) * batch,
            (Kind::Int64, Device::Cpu),
        );
        let xs = data.images.index_select(0, &idx);
        let ys = data.labels.index_select(0, &idx);
        for (k, channels_last, in_place) in [(0, true, false), (1, false, false), (2, true, true)] {
            let s = Instant::now();
            let loss = loss_of(&forward_plain(&named, &xs, channels_last, in_place), &ys);
            let _ = Tensor::run_backward(&[&loss], &vars, false, false);
            if i >= warm {
                lay[k].push(ms(s));
            }
        }
    }
    println!("forward + backward, plain tensor calls (median ms):");
    println!(
        "  channels-last {:7.2} ms, contiguous (NCHW) {:7.2} ms, channels-last with in-place ReLU {:7.2} ms",
        median(&mut lay[0]),
        median(&mut lay[1]),
        median(&mut lay[2])
    );
}
