//! The CNN in tch, built from an [`Arch`] of `trainer_core::arch`.
//!
//! [`NetOptions`] add batch normalization after every convolution (folded into the
//! convolution at export) and dropout before every dense layer (training only).

use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

pub use trainer_core::arch::{Arch, DEFAULT_MODEL, LayerSpec, NAMED, conv_name};
use trainer_core::data::IMAGE_SIDE;

pub mod saved;

/// Options that change the network but not its exported shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NetOptions {
    /// Batch normalization after every convolution (before ReLU).
    #[serde(default)]
    pub batch_norm: bool,
    /// Dropout probability before every dense layer (0 = none).
    #[serde(default)]
    pub dropout: f64,
    /// The batch norms' running-statistics momentum, PyTorch's convention: each
    /// training batch moves the running mean and variance this fraction of the way to
    /// the batch's (`--bn-momentum`; records without it used PyTorch's 0.1).
    #[serde(
        default = "default_bn_momentum",
        skip_serializing_if = "is_default_bn_momentum"
    )]
    pub bn_momentum: f64,
}

/// PyTorch's (and tch's) batch-norm momentum.
pub const DEFAULT_BN_MOMENTUM: f64 = 0.1;

fn default_bn_momentum() -> f64 {
    DEFAULT_BN_MOMENTUM
}

fn is_default_bn_momentum(m: &f64) -> bool {
    *m == DEFAULT_BN_MOMENTUM
}

impl Default for NetOptions {
    /// No batch norm, no dropout, PyTorch's batch-norm momentum.
    fn default() -> Self {
        NetOptions {
            batch_norm: false,
            dropout: 0.0,
            bn_momentum: DEFAULT_BN_MOMENTUM,
        }
    }
}

/// One built layer.
#[derive(Debug)]
enum Block {
    Conv {
        conv: nn::Conv2D,
        /// Zero padding on every side (stride 1, no dilation, one group).
        padding: i64,
        bn: Option<Box<nn::BatchNorm>>,
        /// A max-pool follows: pool before ReLU (they commute), so ReLU and its
        /// backward pass touch a quarter of the values.
        pool_next: bool,
    },
    Pool,
    Flatten,
    GlobalAvgPool,
    /// `rN`: conv (+ BN) + ReLU, conv (+ BN), plus the input with its channels
    /// zero-padded to N, ReLU.
    Residual {
        conv1: nn::Conv2D,
        bn1: Option<Box<nn::BatchNorm>>,
        conv2: nn::Conv2D,
        bn2: Option<Box<nn::BatchNorm>>,
        /// Channels appended to the shortcut (N minus the input's).
        pad_channels: i64,
    },
    Dense {
        linear: nn::Linear,
        relu: bool,
    },
}

/// The CNN built from an [`Arch`].
///
/// Parameter names are part of the saved-model contract (`docs/contract.md`):
/// convolutions `conv`, `conv2`, ...; their batch norms `bn`, `bn2`, ...; dense
/// layers `fc1`, `fc2`, ... (the baseline is `conv`, `fc1`, `fc2`).
#[derive(Debug)]
pub struct Net {
    blocks: Vec<Block>,
    arch: Arch,
    options: NetOptions,
    /// Draws the dropout masks: a generator of the run's own (not libtorch's global
    /// one), so a seeded run repeats even while other threads use libtorch.
    dropout_rng: std::sync::Mutex<rand_chacha::ChaCha8Rng>,
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
    /// Creates a freshly initialised network under `vs`: He-uniform weights for
    /// convolutions and hidden dense layers, Glorot-uniform for the last one, zero
    /// biases (as in Keras).
    pub fn new(vs: &nn::Path, arch: &Arch, options: NetOptions) -> Net {
        let layers = arch.layers();
        let mut blocks = Vec::with_capacity(layers.len());
        let (mut c, mut side, mut n_in) = (1i64, IMAGE_SIDE as i64, 0i64);
        let (mut convs, mut denses) = (0usize, 0usize);
        // The batch norm after the i-th convolution, when the options ask for one.
        let batch_norm = |i: usize, filters: i64| {
            options.batch_norm.then(|| {
                Box::new(nn::batch_norm2d(
                    vs / conv_name("bn", i),
                    filters,
                    nn::BatchNormConfig {
                        momentum: options.bn_momentum,
                        ..Default::default()
                    },
                ))
            })
        };
        for (i, layer) in layers.iter().enumerate() {
            match *layer {
                LayerSpec::Conv { filters, padding } => {
                    let cfg = nn::ConvConfig {
                        padding,
                        ws_init: he_uniform(),
                        bs_init: nn::Init::Const(0.0),
                        ..Default::default()
                    };
                    let conv = nn::conv2d(vs / conv_name("conv", convs), c, filters, 3, cfg);
                    let bn = batch_norm(convs, filters);
                    convs += 1;
                    c = filters;
                    side = side - 2 + 2 * padding;
                    let pool_next = layers.get(i + 1) == Some(&LayerSpec::Pool);
                    blocks.push(Block::Conv {
                        conv,
                        padding,
                        bn,
                        pool_next,
                    });
                }
                LayerSpec::Residual { filters } => {
                    let cfg = nn::ConvConfig {
                        padding: 1,
                        ws_init: he_uniform(),
                        bs_init: nn::Init::Const(0.0),
                        ..Default::default()
                    };
                    blocks.push(Block::Residual {
                        conv1: nn::conv2d(vs / conv_name("conv", convs), c, filters, 3, cfg),
                        bn1: batch_norm(convs, filters),
                        conv2: nn::conv2d(
                            vs / conv_name("conv", convs + 1),
                            filters,
                            filters,
                            3,
                            cfg,
                        ),
                        bn2: batch_norm(convs + 1, filters),
                        pad_channels: filters - c,
                    });
                    convs += 2;
                    c = filters;
                }
                LayerSpec::Pool => {
                    side /= 2;
                    blocks.push(Block::Pool);
                }
                LayerSpec::Flatten => {
                    n_in = c * side * side;
                    blocks.push(Block::Flatten);
                }
                LayerSpec::GlobalAvgPool => {
                    n_in = c;
                    blocks.push(Block::GlobalAvgPool);
                }
                LayerSpec::Dense { outputs } => {
                    let last = i + 1 == layers.len();
                    denses += 1;
                    let linear = nn::linear(
                        vs / format!("fc{denses}"),
                        n_in,
                        outputs,
                        nn::LinearConfig {
                            ws_init: if last {
                                glorot_uniform(n_in, outputs)
                            } else {
                                he_uniform()
                            },
                            bs_init: Some(nn::Init::Const(0.0)),
                            bias: true,
                        },
                    );
                    n_in = outputs;
                    blocks.push(Block::Dense {
                        linear,
                        relu: !last,
                    });
                }
            }
        }
        Net {
            blocks,
            arch: arch.clone(),
            options,
            dropout_rng: std::sync::Mutex::new(rand::SeedableRng::seed_from_u64(0)),
        }
    }

    /// Restarts the dropout generator from `seed` (done at the start of training).
    pub fn seed_dropout(&self, seed: u64) {
        *self.dropout_rng.lock().unwrap_or_else(|p| p.into_inner()) =
            rand::SeedableRng::seed_from_u64(seed);
    }

    /// The dropout generator's current state (for checkpoints).
    pub fn dropout_rng(&self) -> rand_chacha::ChaCha8Rng {
        self.dropout_rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts the dropout generator in the state `rng` (when resuming from a checkpoint).
    pub fn set_dropout_rng(&self, rng: rand_chacha::ChaCha8Rng) {
        *self.dropout_rng.lock().unwrap_or_else(|p| p.into_inner()) = rng;
    }

    /// Inverted dropout with a mask from [`Net::seed_dropout`]'s generator.
    fn dropout(&self, x: &Tensor, train: bool) -> Tensor {
        use rand::Rng;
        let p = self.options.dropout;
        if !train || p <= 0.0 {
            return x.shallow_clone();
        }
        let keep = 1.0 - p;
        let scale = (1.0 / keep) as f32;
        let mut rng = self.dropout_rng.lock().unwrap_or_else(|e| e.into_inner());
        let mask: Vec<f32> = (0..x.numel())
            .map(|_| if rng.random_bool(keep) { scale } else { 0.0 })
            .collect();
        let mask = Tensor::from_slice(&mask)
            .view(x.size().as_slice())
            .to_device(x.device());
        x * mask
    }

    /// The architecture of this network.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The options it was built with.
    pub fn options(&self) -> NetOptions {
        self.options
    }
}

/// The batch `xs` (N, 1, H, W) as a channels-last view: the same memory (one channel
/// makes both layouts identical), other strides. libtorch then runs the convolutions,
/// max-pools, ReLUs and their backward passes in its channels-last (oneDNN NHWC) kernels,
/// which are much faster here than the channels-first ones (`docs/performance.md`);
/// every later activation keeps that layout, and `flatten` copies back to the
/// channels-first order that the dense layers and the export expect (a global average
/// pool's `(N, C)` means have no spatial order to restore). Other shapes are
/// returned as they are.
fn channels_last(xs: &Tensor) -> Tensor {
    match xs.size().as_slice() {
        &[n, 1, h, w] if xs.is_contiguous() => xs.as_strided([n, 1, h, w], [h * w, 1, w, 1], None),
        _ => xs.shallow_clone(),
    }
}

impl Net {
    /// The forward pass with the convolutions and dense layers computed in `compute`
    /// (`Kind::Float`: exactly [`ModuleT::forward_t`]; `Kind::BFloat16`: mixed
    /// precision, [`crate::train::precision`]).
    ///
    /// In a lower precision the input and copies of the weights are cast to `compute`
    /// (differentiable casts: the gradients reach the fp32 weights); batch norm takes
    /// the low-precision activations with its fp32 weights and running statistics
    /// (libtorch's mixed-type kernel, fp32 accumulation), and the logits come back in
    /// fp32.
    pub fn forward_in(&self, xs: &Tensor, train: bool, compute: Kind) -> Tensor {
        let low = compute != Kind::Float;
        let cast = |t: &Tensor| {
            if low {
                t.to_kind(compute)
            } else {
                t.shallow_clone()
            }
        };
        // A convolution and its batch norm, in `compute`.
        let conv_bn = |x: &Tensor, conv: &nn::Conv2D, padding: i64, bn: Option<&nn::BatchNorm>| {
            let y = if low {
                x.conv2d(
                    &cast(&conv.ws),
                    conv.bs.as_ref().map(cast).as_ref(),
                    [1, 1],
                    [padding, padding],
                    [1, 1],
                    1,
                )
            } else {
                x.apply(conv)
            };
            // In bf16, libtorch's mixed-type batch norm takes the bf16 activations with
            // the fp32 weights and running statistics, accumulates in fp32 and returns
            // bf16 (as PyTorch's CPU autocast runs it): no casts up and down.
            match bn {
                Some(bn) => y.apply_t(bn, train),
                None => y,
            }
        };
        let mut x = channels_last(&cast(xs));
        let mut pooled = false;
        for block in &self.blocks {
            x = match block {
                Block::Conv {
                    conv,
                    padding,
                    bn,
                    pool_next,
                } => {
                    let y = conv_bn(&x, conv, *padding, bn.as_deref());
                    if *pool_next {
                        // max-pool then ReLU equals ReLU then max-pool, bit for bit.
                        pooled = true;
                        y.max_pool2d_default(2).relu()
                    } else {
                        y.relu()
                    }
                }
                Block::Residual {
                    conv1,
                    bn1,
                    conv2,
                    bn2,
                    pad_channels,
                } => {
                    let y = conv_bn(&x, conv1, 1, bn1.as_deref()).relu();
                    let y = conv_bn(&y, conv2, 1, bn2.as_deref());
                    // The shortcut: the input, zero channels appended (padding
                    // counts from the last dimension: W, H, then C).
                    let skip = if *pad_channels > 0 {
                        x.constant_pad_nd([0, 0, 0, 0, 0, *pad_channels])
                    } else {
                        x
                    };
                    (y + skip).relu()
                }
                Block::Pool if pooled => {
                    pooled = false;
                    x
                }
                Block::Pool => x.max_pool2d_default(2),
                Block::Flatten => x.flatten(1, -1),
                // The mean over the spatial dimensions: (N, C) whatever the
                // memory format (channels last here), in channel order.
                Block::GlobalAvgPool => x.mean_dim(&[2i64, 3][..], false, None),
                Block::Dense { linear, relu } => {
                    // The dropout mask is fp32: cast its product back down.
                    let x = cast(&self.dropout(&x, train));
                    let y = if low {
                        x.linear(&cast(&linear.ws), linear.bs.as_ref().map(cast).as_ref())
                    } else {
                        x.apply(linear)
                    };
                    if *relu { y.relu() } else { y }
                }
            };
        }
        if low { x.to_kind(Kind::Float) } else { x }
    }
}

impl ModuleT for Net {
    /// The fp32 forward pass.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward_in(xs, train, Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(vs: &nn::VarStore) -> i64 {
        vs.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    #[test]
    fn shapes_and_parameter_counts_match_the_seed() {
        for (name, params) in [
            ("baseline", 32 * 9 + 32 + 5408 * 100 + 100 + 100 * 10 + 10),
            ("padded", 32 * 9 + 32 + 6272 * 100 + 100 + 1010),
            ("wide", 64 * 9 + 64 + 12544 * 100 + 100 + 1010),
        ] {
            let arch = Arch::parse(name).unwrap();
            let vs = nn::VarStore::new(tch::Device::Cpu);
            let net = Net::new(&vs.root(), &arch, NetOptions::default());
            let out = net.forward_t(&Tensor::zeros([2, 1, 28, 28], tch::kind::FLOAT_CPU), false);
            assert_eq!(out.size(), vec![2, 10]);
            assert_eq!(count(&vs), params, "{name}");
            assert_eq!(arch.parameters(), params, "{name}");
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
        assert_eq!(
            Arch::baseline().macs(),
            26 * 26 * 32 * 9 + 5408 * 100 + 1000
        );
    }

    #[test]
    fn every_named_model_builds_and_counts_its_parameters() {
        for (name, spec, _) in NAMED {
            let arch = Arch::parse(name).unwrap();
            assert_eq!(arch.spec(), *spec);
            for batch_norm in [false, true] {
                let vs = nn::VarStore::new(tch::Device::Cpu);
                let net = Net::new(
                    &vs.root(),
                    &arch,
                    NetOptions {
                        batch_norm,
                        dropout: 0.25,
                        ..Default::default()
                    },
                );
                let x = Tensor::zeros([3, 1, 28, 28], tch::kind::FLOAT_CPU);
                assert_eq!(net.forward_t(&x, true).size(), vec![3, 10], "{name}");
                let bn: i64 = if batch_norm {
                    vs.variables()
                        .iter()
                        .filter(|(k, _)| k.starts_with("bn") && !k.contains("running"))
                        .filter(|(k, _)| !k.contains("num_batches"))
                        .map(|(_, t)| t.numel() as i64)
                        .sum()
                } else {
                    0
                };
                assert_eq!(count(&vs) - bn, arch.parameters(), "{name}");
            }
        }
        assert!(Arch::parse("mcu").unwrap().parameters() < 100_000);
    }

    #[test]
    fn pooling_before_relu_is_exact() {
        tch::manual_seed(3);
        let x = Tensor::randn([4, 8, 10, 10], tch::kind::FLOAT_CPU);
        let a = x.relu().max_pool2d_default(2);
        let b = x.max_pool2d_default(2).relu();
        assert!(a.equal(&b));
    }

    #[test]
    fn conv_init_is_he_uniform() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _net = Net::new(
            &vs.root(),
            &Arch::parse("wide").unwrap(),
            NetOptions::default(),
        );
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

    #[test]
    fn global_average_pooling_is_the_spatial_mean_in_channel_order() {
        tch::manual_seed(11);
        let arch = Arch::parse("c8,p,c16,p,g,d10").unwrap();
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), &arch, NetOptions::default());
        assert_eq!(count(&vs), arch.parameters());
        // The channels-last forward against a channels-first computation with the
        // mean written out over the 7x7 pixels of each channel.
        let x = Tensor::rand([3, 1, 28, 28], tch::kind::FLOAT_CPU);
        let v = vs.variables();
        let conv = |t: &Tensor, name: &str| {
            t.conv2d(
                &v[&format!("{name}.weight")],
                Some(&v[&format!("{name}.bias")]),
                [1, 1],
                [1, 1],
                [1, 1],
                1,
            )
            .max_pool2d_default(2)
            .relu()
        };
        let features = conv(&conv(&x, "conv"), "conv2");
        assert_eq!(features.size(), [3, 16, 7, 7]);
        let expected = (features.view([3, 16, 49]).sum_dim_intlist(2, false, None) / 49.0)
            .linear(&v["fc1.weight"], Some(&v["fc1.bias"]));
        let got = net.forward_t(&x, false);
        assert_eq!(got.size(), [3, 10]);
        assert!(
            got.allclose(&expected, 1e-5, 1e-5, false),
            "{got} vs {expected}"
        );
    }

    #[test]
    fn channels_last_forward_matches_the_channels_first_computation() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let net = Net::new(&vs.root(), &Arch::baseline(), NetOptions::default());
        let x = Tensor::rand([6, 1, 28, 28], tch::kind::FLOAT_CPU);
        let view = channels_last(&x);
        assert_eq!(view.stride(), [784, 1, 28, 1]);
        assert!(view.equal(&x));
        let v = vs.variables();
        let expected = x
            .conv2d(
                &v["conv.weight"],
                Some(&v["conv.bias"]),
                [1, 1],
                [0, 0],
                [1, 1],
                1,
            )
            .max_pool2d_default(2)
            .relu()
            .flatten(1, -1)
            .linear(&v["fc1.weight"], Some(&v["fc1.bias"]))
            .relu()
            .linear(&v["fc2.weight"], Some(&v["fc2.bias"]));
        let got = net.forward_t(&x, false);
        assert!(
            got.allclose(&expected, 1e-5, 1e-5, false),
            "{got} vs {expected}"
        );
    }
}
