//! An owned model that encodes to `.fmq` (host side, `std` feature).
//!
//! [`ModelFile`] borrows its parameters from the file bytes, which suits
//! reading; building a model (the quantizer, tests, benches, fixtures) needs
//! owned, typed parameters instead. [`OwnedModel`] holds them and
//! [`OwnedModel::to_bytes`] writes the `.fmq` file through [`encode`](crate::encode),
//! so it is validated exactly like [`Model::from_bytes`](crate::Model::from_bytes)
//! validates.

use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::layout::{self, Kind};
use crate::{
    Add, Conv2d, Dense, Error, GlobalMean, I8Array, I32Array, InputSpec, Layer, ModelFile, Padding,
    QuantParams,
};

/// Typed parameters of one convolution or dense layer.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedParams {
    /// Whether ReLU is fused.
    pub relu: bool,
    /// Weights, `[out][fan_in]` (OHWI for a convolution), in [-127, 127].
    pub weights: Vec<i8>,
    /// Bias per output channel.
    pub bias: Vec<i32>,
    /// Q31 requantization multiplier per output channel.
    pub multiplier: Vec<i32>,
    /// Right shift per output channel.
    pub shift: Vec<u8>,
    /// Quantization of the output.
    pub output: QuantParams,
}

impl OwnedParams {
    /// The byte arrays the file stores (see [`layout`](crate::layout)): weights
    /// in the kernels' order, bias folded with the input zero point `in_zp`.
    /// `None` if a length does not match or a folded bias overflows i32.
    fn bytes(&self, kind: Kind, in_zp: i32) -> Option<ParamBytes> {
        let out = self.bias.len();
        if out == 0 || !self.weights.len().is_multiple_of(out) {
            return None;
        }
        let fan_in = self.weights.len() / out;
        let mut weights = vec![0u8; out.checked_mul(layout::row_len(fan_in)?)?];
        layout::pack_weights(kind, &self.weights, out, fan_in, &mut weights);
        let mut bias = Vec::with_capacity(4 * out);
        for (&b, row) in self
            .bias
            .iter()
            .zip(self.weights.chunks_exact(fan_in.max(1)))
        {
            bias.extend_from_slice(&layout::fold_bias(b, in_zp, row)?.to_le_bytes());
        }
        Some(ParamBytes {
            weights,
            bias,
            multiplier: self
                .multiplier
                .iter()
                .flat_map(|m| m.to_le_bytes())
                .collect(),
        })
    }
}

/// Byte copies of one layer's arrays, which a borrowed [`Layer`] points into.
#[derive(Debug, Default)]
struct ParamBytes {
    weights: Vec<u8>,
    bias: Vec<u8>,
    multiplier: Vec<u8>,
}

/// One owned layer; see [`Layer`] for what each does.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedLayer {
    /// A convolution, stride 1.
    Conv2d {
        /// Number of filters.
        out_channels: u16,
        /// Kernel side (odd).
        kernel: u8,
        /// Padding mode.
        padding: Padding,
        /// Parameters.
        params: OwnedParams,
    },
    /// Max-pool 2x2, stride 2.
    MaxPool2d,
    /// `[H][W][C]` to `[H*W*C]`.
    Flatten,
    /// A fully connected layer.
    Dense {
        /// Number of outputs.
        out_features: u16,
        /// Parameters.
        params: OwnedParams,
    },
    /// Global average pooling, `[H][W][C]` to `[C]` (format version 3).
    GlobalAvgPool,
    /// Keeps the current tensor as the next `Add`'s shortcut (format version 4).
    Save,
    /// The residual add of the kept tensor to the current one (format version 4).
    Add(Add),
    /// Global average pooling with its own output quantization (format version 4).
    GlobalMean(GlobalMean),
}

/// A model with owned, typed parameters: the one way to build a `.fmq` file.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedModel {
    /// Input shape and quantization (always [`InputSpec::default`] today).
    pub input: InputSpec,
    /// Layers in execution order.
    pub layers: Vec<OwnedLayer>,
    /// One name per output of the last layer.
    pub class_names: Vec<String>,
}

impl OwnedModel {
    /// The baseline architecture with the given parameters: a 3x3 convolution to 32
    /// channels (valid padding), max-pool, flatten, dense to 100, dense to 10
    /// (`fc2`'s outputs, one per class name).
    pub fn baseline(
        conv: OwnedParams,
        fc1: OwnedParams,
        fc2: OwnedParams,
        class_names: Vec<String>,
    ) -> Self {
        OwnedModel {
            input: InputSpec::default(),
            layers: vec![
                OwnedLayer::Conv2d {
                    out_channels: 32,
                    kernel: 3,
                    padding: Padding::Valid,
                    params: conv,
                },
                OwnedLayer::MaxPool2d,
                OwnedLayer::Flatten,
                OwnedLayer::Dense {
                    out_features: 100,
                    params: fc1,
                },
                OwnedLayer::Dense {
                    out_features: 10,
                    params: fc2,
                },
            ],
            class_names,
        }
    }

    /// Calls `f` with the model borrowed as the [`ModelFile`] that would be
    /// written (no validation), parameters in the file's [`layout`](crate::layout).
    /// Fails with [`Error::Encode`] for more than
    /// [`MAX_LAYERS`](crate::MAX_LAYERS) layers or
    /// [`MAX_CLASSES`](crate::MAX_CLASSES) class names, for weights whose length
    /// is not a multiple of the bias's, or for a folded bias beyond i32.
    pub fn with_file<R>(&self, f: impl FnOnce(&ModelFile<'_>) -> R) -> Result<R, Error> {
        // Each layer's input zero point: the input's, then each conv, dense or
        // add output's.
        let mut zp = i32::from(self.input.quant.zero_point);
        let mut bytes: Vec<ParamBytes> = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let (kind, params) = match l {
                OwnedLayer::Conv2d { params, .. } => (Kind::Conv, params),
                OwnedLayer::Dense { params, .. } => (Kind::Dense, params),
                OwnedLayer::Add(Add { output, .. })
                | OwnedLayer::GlobalMean(GlobalMean { output, .. }) => {
                    bytes.push(ParamBytes::default());
                    zp = i32::from(output.zero_point);
                    continue;
                }
                OwnedLayer::MaxPool2d
                | OwnedLayer::Flatten
                | OwnedLayer::GlobalAvgPool
                | OwnedLayer::Save => {
                    bytes.push(ParamBytes::default());
                    continue;
                }
            };
            bytes.push(params.bytes(kind, zp).ok_or(Error::Encode)?);
            zp = i32::from(params.output.zero_point);
        }
        let mut layers = heapless::Vec::new();
        for (l, b) in self.layers.iter().zip(&bytes) {
            let layer = match l {
                OwnedLayer::Conv2d {
                    out_channels,
                    kernel,
                    padding,
                    params: p,
                } => Layer::Conv2d(Conv2d {
                    out_channels: *out_channels,
                    kernel: *kernel,
                    padding: *padding,
                    relu: p.relu,
                    weights: I8Array::new(&b.weights),
                    bias: I32Array::new(&b.bias),
                    multiplier: I32Array::new(&b.multiplier),
                    shift: &p.shift,
                    output: p.output,
                }),
                OwnedLayer::MaxPool2d => Layer::MaxPool2d,
                OwnedLayer::Flatten => Layer::Flatten,
                OwnedLayer::GlobalAvgPool => Layer::GlobalAvgPool,
                OwnedLayer::Save => Layer::Save,
                OwnedLayer::Add(add) => Layer::Add(*add),
                OwnedLayer::GlobalMean(m) => Layer::GlobalMean(*m),
                OwnedLayer::Dense {
                    out_features,
                    params: p,
                } => Layer::Dense(Dense {
                    out_features: *out_features,
                    relu: p.relu,
                    weights: I8Array::new(&b.weights),
                    bias: I32Array::new(&b.bias),
                    multiplier: I32Array::new(&b.multiplier),
                    shift: &p.shift,
                    output: p.output,
                }),
            };
            layers.push(layer).map_err(|_| Error::Encode)?;
        }
        let mut class_names = heapless::Vec::new();
        for name in &self.class_names {
            class_names.push(name.as_str()).map_err(|_| Error::Encode)?;
        }
        Ok(f(&ModelFile {
            input: self.input,
            layers,
            class_names,
        }))
    }

    /// The `.fmq` bytes, validated first as
    /// [`Model::from_bytes`](crate::Model::from_bytes) validates.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.with_file(crate::to_vec)?
    }
}
