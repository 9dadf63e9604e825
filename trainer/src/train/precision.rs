//! The arithmetic of the training steps: fp32, or mixed precision with bf16
//! convolutions and dense layers, and `auto`, which picks bf16 where it is faster.
//!
//! In bf16, [`Net::forward_in`](crate::nn::Net::forward_in) casts the input and bf16
//! copies of the convolution and dense weights; batch norm takes the bf16 activations
//! with fp32 weights and statistics (libtorch's mixed-type kernel), the logits and the
//! loss are fp32. The casts are differentiable, so the gradients reach the fp32 master
//! weights: the optimizer state, the batch-norm statistics and everything saved or
//! exported stay fp32. Validation and evaluation run in fp32.
//!
//! `auto` times one convolution's forward and backward pass in both precisions on the
//! run's device ([`probe`]) and takes bf16 where it is clearly faster: only a CPU whose
//! oneDNN runs native bf16 kernels (`avx512_core_bf16`, AMX) or a GPU with bf16 tensor
//! cores gets there; elsewhere bf16 is emulated and slower, and `auto` picks fp32. The
//! choice is made once per process and device, and the resolved precision (never
//! `auto`) is what a run records.

use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// The precision of the training steps (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 where the device runs it clearly faster than fp32 ([`probe`]), else fp32.
    Auto,
    /// fp32 throughout (every run before `--precision` existed).
    #[default]
    Fp32,
    /// Mixed precision: bf16 convolutions, dense layers and activations; fp32 batch-norm
    /// parameters and statistics, loss, master weights and optimizer state.
    Bf16,
}

/// `auto` takes bf16 when its best probe time is below this fraction of fp32's.
///
/// Native bf16 kernels measure about 0.5-0.6 of fp32 (docs/performance.md); emulated
/// bf16 is slower than fp32, so the threshold sits well clear of both.
pub const AUTO_THRESHOLD: f64 = 0.8;

impl Precision {
    /// The concrete precision on `device`: `auto` resolved by [`probe`] (once per
    /// process and device), the others as they are.
    pub fn resolve(self, device: Device) -> Precision {
        match self {
            Precision::Auto => auto(device),
            p => p,
        }
    }

    /// The element type of the convolutions and dense layers (`auto` must be resolved
    /// first; it counts as fp32).
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::Bf16 => Kind::BFloat16,
            Precision::Fp32 | Precision::Auto => Kind::Float,
        }
    }

    /// The name as `--precision` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// The outcome of [`probe`]: the best times of each precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Best fp32 time of one forward and backward pass, seconds.
    pub fp32: f64,
    /// Best bf16 time, seconds (infinite where bf16 failed to run).
    pub bf16: f64,
}

impl Probe {
    /// bf16 time over fp32 time.
    pub fn ratio(&self) -> f64 {
        self.bf16 / self.fp32
    }

    /// The precision `auto` takes: bf16 when the ratio is below [`AUTO_THRESHOLD`].
    pub fn choice(&self) -> Precision {
        if self.ratio() < AUTO_THRESHOLD {
            Precision::Bf16
        } else {
            Precision::Fp32
        }
    }
}

/// Times a 3x3 convolution shaped like the middle of the `mcu` network (batch 64,
/// 16 -> 32 channels, 14x14, channels-last), forward and backward, in fp32 and bf16,
/// alternating, and keeps each one's best of `rounds` (after one untimed warm-up round,
/// which also builds oneDNN's kernels). About 1.5 s on this project's 2-core AVX2 machine
/// (best rounds 63 ms fp32, 182 ms bf16), less where convolutions are fast.
pub fn probe(device: Device, rounds: usize) -> Probe {
    // Constant values: the time does not depend on them, and the global generator
    // (which seeds the weights) stays untouched.
    // Channels-last, as the network's activations are: (N, H, W, C) in memory.
    let x = Tensor::full([64, 14, 14, 16], 0.5, (Kind::Float, device)).permute([0, 3, 1, 2]);
    let w = Tensor::full([32, 16, 3, 3], 0.01, (Kind::Float, device));
    let time = |kind: Kind| -> Option<f64> {
        let start = Instant::now();
        let xk = x.f_to_kind(kind).ok()?.set_requires_grad(true);
        let wk = w.f_to_kind(kind).ok()?.set_requires_grad(true);
        let _grad = tch::with_grad(|| -> Option<Vec<Tensor>> {
            let y = xk
                .f_conv2d(&wk, None::<&Tensor>, [1, 1], [1, 1], [1, 1], 1)
                .ok()?;
            let loss = y.f_sum(Kind::Float).ok()?;
            Tensor::f_run_backward(&[&loss], &[&xk, &wk], false, false).ok()
        })?;
        sync(device);
        Some(start.elapsed().as_secs_f64())
    };
    let mut best = Probe {
        fp32: f64::INFINITY,
        bf16: f64::INFINITY,
    };
    for round in 0..=rounds {
        let f = time(Kind::Float).unwrap_or(f64::INFINITY);
        let b = time(Kind::BFloat16).unwrap_or(f64::INFINITY);
        if round > 0 {
            best.fp32 = best.fp32.min(f);
            best.bf16 = best.bf16.min(b);
        }
    }
    best
}

/// Waits for the device's queued work (a no-op on the CPU, where every operation is
/// done when it returns).
fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Rounds of [`probe`] behind `auto`.
const AUTO_ROUNDS: usize = 5;

/// `auto`'s choice per device, made once per process.
static CHOSEN: Mutex<Vec<(Device, Precision)>> = Mutex::new(Vec::new());

fn auto(device: Device) -> Precision {
    let mut chosen = CHOSEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = chosen.iter().find(|(d, _)| *d == device) {
        return *p;
    }
    let result = probe(device, AUTO_ROUNDS);
    let p = result.choice();
    eprintln!(
        "precision auto: {} on {device:?} (probe: bf16 {:.2} ms, fp32 {:.2} ms, ratio {:.2}; \
         bf16 below {AUTO_THRESHOLD})",
        p.name(),
        result.bf16 * 1e3,
        result.fp32 * 1e3,
        result.ratio()
    );
    chosen.push((device, p));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_choice_follows_the_threshold() {
        let at = |bf16| Probe { fp32: 1.0, bf16 }.choice();
        assert_eq!(at(0.55), Precision::Bf16);
        assert_eq!(at(0.9), Precision::Fp32);
        assert_eq!(at(f64::INFINITY), Precision::Fp32);
        assert_eq!(Precision::Fp32.resolve(Device::Cpu), Precision::Fp32);
        assert_eq!(Precision::Bf16.resolve(Device::Cpu), Precision::Bf16);
    }

    #[test]
    fn auto_resolves_to_a_concrete_precision_once() {
        let p = Precision::Auto.resolve(Device::Cpu);
        assert_ne!(p, Precision::Auto);
        assert_eq!(Precision::Auto.resolve(Device::Cpu), p);
        let probe = probe(Device::Cpu, 1);
        assert!(probe.fp32.is_finite() && probe.fp32 > 0.0, "{probe:?}");
    }
}
