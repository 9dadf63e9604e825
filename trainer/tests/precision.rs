//! Mixed precision (`--precision bf16`) on small fixed slices of the real dataset: the
//! step's loss is near fp32's, runs repeat exactly, and the weights stay fp32.

use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};
use trainer::nn::{Arch, NetOptions};
use trainer::train::{self, Precision, Tensors, TrainConfig};
use trainer_core::data::{self, Split};

fn slice(n: usize) -> Tensors {
    let dir = data::locate(None).expect("the dataset is installed by scripts/setup.sh");
    Tensors::new(
        &data::load(&dir, Split::Train).unwrap().head(n),
        Device::Cpu,
    )
}

/// A small network with batch norm and dropout, trained with the `mcu` recipe (AdamW,
/// one-cycle, shifts, flips, label smoothing) for 2 epochs of batch 64.
fn config(precision: Precision) -> TrainConfig {
    let mcu = train::recipe(&Arch::parse("mcu").unwrap());
    TrainConfig {
        arch: Arch::parse("c8,c8,p,c16,p,f,d32,d10").unwrap(),
        net: NetOptions {
            dropout: 0.1,
            ..mcu.net
        },
        epochs: 2,
        batch_size: 64,
        precision,
        ..mcu
    }
}

#[test]
fn a_bf16_forward_pass_is_near_fp32s_and_not_equal() {
    let t = slice(128);
    let cfg = config(Precision::Bf16);
    let (_vs, net) = train::fresh_model(&cfg.arch, cfg.net, 3, Device::Cpu);
    // The same dropout masks in both passes.
    net.seed_dropout(1);
    let fp32 = net.forward_t(&t.images, true);
    net.seed_dropout(1);
    let bf16 = net.forward_in(&t.images, true, Kind::BFloat16);
    assert_eq!(bf16.kind(), Kind::Float, "the logits come back in fp32");
    assert!(!bf16.equal(&fp32), "the bf16 pass computed in bf16");
    let loss = |out: &Tensor| train::distill::hard_loss(out, &t.labels, 0.1).double_value(&[]);
    let (a, b) = (loss(&fp32), loss(&bf16));
    assert!(
        b.is_finite() && (a - b).abs() < 0.02 * a,
        "fp32 {a}, bf16 {b}"
    );
}

#[test]
fn bf16_training_learns_repeats_exactly_and_keeps_fp32_weights() {
    // Small: on a CPU without bf16 kernels (this project's machine) bf16 runs several
    // times slower than fp32.
    let t = slice(768);
    let run = |precision| {
        let cfg = config(precision);
        let (vs, net) = train::fresh_model(&cfg.arch, cfg.net, cfg.seed, Device::Cpu);
        let history = train::train(&vs, &net, &t, None, &cfg, "t").unwrap();
        for (name, v) in vs.variables() {
            assert_eq!(v.kind(), Kind::Float, "{name} stays fp32");
        }
        (train::param_digest(&vs), history)
    };
    let (a, history) = run(Precision::Bf16);
    let (b, _) = run(Precision::Bf16);
    assert_eq!(a, b, "seeded bf16 runs repeat");
    let (fp32, fp32_history) = run(Precision::Fp32);
    assert_ne!(a, fp32, "bf16 computed other weights than fp32");
    let (last, fp32_last) = (history.last().unwrap(), fp32_history.last().unwrap());
    assert!(last.train_loss.is_finite(), "{last:?}");
    assert!(
        (last.train_accuracy - fp32_last.train_accuracy).abs() < 0.05,
        "bf16 {last:?}, fp32 {fp32_last:?}"
    );
}
