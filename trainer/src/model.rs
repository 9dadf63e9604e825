//! The network architectures (tch), selected by name.

use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, Module};

use crate::data::{IMAGE_SIDE, NUM_CLASSES};

/// Width of the hidden dense layer in every architecture.
pub const HIDDEN: i64 = 100;

/// A model variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// The seed study: conv 32 3x3 valid + ReLU, max-pool 2x2, dense 100 + ReLU, dense 10.
    Baseline,
    /// As `baseline` with "same" padding (the conv keeps 28x28).
    Padded,
    /// 64 filters with "same" padding.
    Wide,
}

impl Arch {
    /// The name used on the command line and in `models/<name>/`.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Baseline => "baseline",
            Arch::Padded => "padded",
            Arch::Wide => "wide",
        }
    }

    /// Number of convolution filters.
    pub fn filters(self) -> i64 {
        match self {
            Arch::Baseline | Arch::Padded => 32,
            Arch::Wide => 64,
        }
    }

    /// Zero padding on each side of the 3x3 convolution (0 = valid, 1 = same).
    pub fn padding(self) -> i64 {
        match self {
            Arch::Baseline => 0,
            Arch::Padded | Arch::Wide => 1,
        }
    }

    /// Side of the feature map after the convolution.
    pub fn conv_side(self) -> i64 {
        IMAGE_SIDE as i64 - 2 + 2 * self.padding()
    }

    /// Length of the flattened feature vector after pooling.
    pub fn flat_len(self) -> i64 {
        let pooled = self.conv_side() / 2;
        self.filters() * pooled * pooled
    }
}

/// The CNN: conv + ReLU, max-pool 2x2, dense 100 + ReLU, dense 10 (logits).
///
/// Parameter names (`conv`, `fc1`, `fc2`) are part of the saved-model contract
/// (see `docs/contract.md`).
#[derive(Debug)]
pub struct Net {
    conv: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
    arch: Arch,
}

/// He-uniform (Keras `he_uniform`): U(-sqrt(6/fan_in), sqrt(6/fan_in)).
fn he_uniform() -> nn::Init {
    nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Uniform,
        fan: nn::init::FanInOut::FanIn,
        non_linearity: nn::init::NonLinearity::ReLU,
    }
}

/// Glorot-uniform (Keras' default for `Dense`): U(-sqrt(6/(in+out)), ..).
fn glorot_uniform(fan_in: i64, fan_out: i64) -> nn::Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

impl Net {
    /// Creates a freshly initialised network under `vs` (biases start at zero, as in Keras).
    pub fn new(vs: &nn::Path, arch: Arch) -> Net {
        let conv_cfg = nn::ConvConfig {
            padding: arch.padding(),
            ws_init: he_uniform(),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        };
        let conv = nn::conv2d(vs / "conv", 1, arch.filters(), 3, conv_cfg);
        let fc1 = nn::linear(
            vs / "fc1",
            arch.flat_len(),
            HIDDEN,
            nn::LinearConfig {
                ws_init: he_uniform(),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        let fc2 = nn::linear(
            vs / "fc2",
            HIDDEN,
            NUM_CLASSES as i64,
            nn::LinearConfig {
                ws_init: glorot_uniform(HIDDEN, NUM_CLASSES as i64),
                bs_init: Some(nn::Init::Const(0.0)),
                bias: true,
            },
        );
        Net {
            conv,
            fc1,
            fc2,
            arch,
        }
    }

    /// The architecture of this network.
    pub fn arch(&self) -> Arch {
        self.arch
    }
}

impl Module for Net {
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.conv)
            .relu()
            .max_pool2d_default(2)
            .flatten(1, -1)
            .apply(&self.fc1)
            .relu()
            .apply(&self.fc2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_counts_match_the_seed() {
        for (arch, params) in [
            (
                Arch::Baseline,
                32 * 9 + 32 + 5408 * 100 + 100 + 100 * 10 + 10,
            ),
            (Arch::Padded, 32 * 9 + 32 + 6272 * 100 + 100 + 1010),
            (Arch::Wide, 64 * 9 + 64 + 12544 * 100 + 100 + 1010),
        ] {
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = Net::new(&vs.root(), arch);
            let out = net.forward(&Tensor::zeros([2, 1, 28, 28], tch::kind::FLOAT_CPU));
            assert_eq!(out.size(), vec![2, 10]);
            let n: i64 = vs
                .trainable_variables()
                .iter()
                .map(|t| t.numel() as i64)
                .sum();
            assert_eq!(n, params, "{arch:?}");
            let mut names: Vec<_> = vs.variables().into_keys().collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "conv.bias",
                    "conv.weight",
                    "fc1.bias",
                    "fc1.weight",
                    "fc2.bias",
                    "fc2.weight"
                ]
            );
        }
    }

    #[test]
    fn conv_init_is_he_uniform() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _net = Net::new(&vs.root(), Arch::Wide);
        let vars = vs.variables();
        let w = &vars["fc1.weight"];
        let bound = (6.0f64 / 12544.0).sqrt();
        let max = w.abs().max().double_value(&[]);
        assert!(max <= bound && max > 0.95 * bound, "{max} vs {bound}");
        assert_eq!(
            vars["fc1.bias"]
                .abs()
                .sum(tch::Kind::Float)
                .double_value(&[]),
            0.0
        );
    }
}
