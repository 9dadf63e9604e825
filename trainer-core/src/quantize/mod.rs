//! Post-training int8 quantization of a float model into a `.fmq` file.
//!
//! Pure Rust (no tch): the float network is described by [`FloatModel`]
//! (PyTorch layouts), calibrated on a slice of training images, and written
//! with [`infer_core::encode`], so the result runs bit-exactly in infer-core.
//!
//! The scheme is TFLite's int8 one:
//! - input: fixed scale 1/255, zero point -128 (`q = pixel - 128`, exact);
//! - weights: symmetric per output channel, `w_scale = max|W_o| / 127`,
//!   `q = round(W / w_scale)` in [-127, 127];
//! - activations: asymmetric per tensor, range chosen by [`Calibration`] on the
//!   float model's activations (the last layer always uses min/max; fused ReLU
//!   gives zero point -128);
//! - bias: int32 with scale `in_scale * w_scale[o]`, optionally corrected
//!   ([`QuantizeOptions::bias_correction`]): the mean difference, over the
//!   calibration set and all positions, between the quantized network's
//!   pre-activation (int8 inputs from the already-quantized layers, int8
//!   weights) and the float network's is subtracted from the bias, which
//!   removes the systematic shift that rounding weights and activations adds;
//! - requantization: `in_scale * w_scale[o] / out_scale` as a Q31 multiplier
//!   and shift ([`quantize_multiplier`]), rounded half up once, exactly as
//!   infer-core does;
//! - max-pool: no parameters, the input's quantization kept;
//! - global average pooling: written as infer-core's `GlobalMean` (format
//!   version 4, TFLite's MEAN): the means' range is calibrated on the float
//!   means like a layer's output, on a grid no finer than `in_scale / n`, and
//!   the channel sums are requantized with `in_scale / (n * out_scale)`; the
//!   float side takes the plain mean, so the next layer's bias correction and
//!   the logits' range see the rounding. (infer-core still reads the older
//!   `GlobalAvgPool`, which keeps its input's grid, from version-3 files;
//!   the quantizer no longer writes it.)
//! - residual add: the sum's range is calibrated like a layer's output (ReLU
//!   gives zero point -128), and the two inputs' scales over the output's
//!   become two multipliers sharing one shift ([`add_multipliers`]), rounded
//!   once, as infer-core does.
//!
//! While quantizing, the integer network is simulated layer by layer on the
//! calibration images with infer-core's reference kernels
//! ([`infer_core::reference`], the one definition of the int8 arithmetic), so
//! calibration and bias correction measure exactly what the device computes.
//! At the end the encoded file is run through [`infer_core::Model`] (its fast
//! kernels) on some of them and must give the same int8 logits.

mod calibrate;
mod float;
mod load;
mod q31;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use infer_core::reference::{
    self, AddParams, ConvShape, GlobalPoolShape, LayerParams, MeanParams, PoolShape,
};
use infer_core::{
    Add, GlobalMean, IMAGE_LEN, IMAGE_SIDE, INPUT_SCALE, INPUT_ZERO_POINT, InputSpec, Model,
    OwnedLayer, OwnedModel, OwnedParams, QuantParams,
};
use serde::{Deserialize, Serialize};

pub use calibrate::{Calibration, affine_params, choose_range};
pub use float::{Activation, FloatConv2d, FloatDense, FloatLayer, FloatModel};
pub use load::Param;
pub use q31::quantize_multiplier;

/// Why quantization (or loading the float model) failed.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Loading a file failed (the cause says why).
    #[error("cannot load the float model from {path}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: Box<QuantizeError>,
    },
    /// The safetensors container is malformed.
    #[error("invalid safetensors data")]
    SafeTensors(#[from] safetensors::SafeTensorError),
    /// A parameter the architecture needs is missing.
    #[error("tensor {name:?} is missing")]
    MissingTensor {
        /// Parameter name.
        name: String,
    },
    /// A parameter has an unexpected shape.
    #[error("tensor {name:?} has shape {shape:?}, expected {expected}")]
    TensorShape {
        /// Parameter name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
        /// What was expected.
        expected: String,
    },
    /// A parameter is not a float tensor.
    #[error("tensor {name:?} has dtype {dtype}, expected a float type")]
    Dtype {
        /// Parameter name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The parameters do not describe a supported architecture.
    #[error("unsupported architecture: {0}")]
    Architecture(String),
    /// A layer does not fit its input, or the model is otherwise malformed.
    #[error("layer {layer}: {reason}")]
    Shape {
        /// Layer index.
        layer: usize,
        /// What is wrong.
        reason: String,
    },
    /// A weight or bias is NaN or infinite.
    #[error("layer {layer}: non-finite weight or bias")]
    NonFinite {
        /// Layer index.
        layer: usize,
    },
    /// No calibration image was given.
    #[error("quantization needs at least one calibration image")]
    NoCalibrationImages,
    /// A requantization multiplier cannot be represented (>= 2^30 or not positive).
    #[error("layer {layer}, channel {channel}: multiplier {value} out of range")]
    Multiplier {
        /// Layer index.
        layer: usize,
        /// Output channel.
        channel: usize,
        /// The real multiplier.
        value: f64,
    },
    /// An int32 bias leaves no room for the worst-case accumulator.
    #[error("layer {layer}, channel {channel}: int32 bias {bias} could overflow the accumulator")]
    BiasOverflow {
        /// Layer index.
        layer: usize,
        /// Output channel.
        channel: usize,
        /// The rounded bias.
        bias: f64,
    },
    /// infer-core rejected the model while encoding or decoding it.
    #[error("infer-core rejected the quantized model")]
    Encode(#[from] infer_core::Error),
    /// infer-core's fast kernels ([`Model::logits`]) differ from its reference
    /// kernels, which the quantizer's simulation runs.
    #[error(
        "infer-core's kernels disagree with its reference kernels on calibration image {image}"
    )]
    Consistency {
        /// Index of the calibration image.
        image: usize,
    },
}

/// Knobs of [`quantize`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QuantizeOptions {
    /// How hidden activation ranges are chosen.
    pub calibration: Calibration,
    /// How the last layer's (the logits') range is chosen.
    pub logit_calibration: Calibration,
    /// Correct each layer's bias for the mean shift quantization causes.
    pub bias_correction: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        Self {
            calibration: Calibration::MinMax,
            logit_calibration: Calibration::MinMax,
            bias_correction: true,
        }
    }
}

/// What quantization chose for one conv or dense layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// Index in the model's layer list.
    pub layer: usize,
    /// `conv2d` or `dense`.
    pub kind: String,
    /// Input scale and zero point.
    pub input: (f32, i8),
    /// Output scale and zero point.
    pub output: (f32, i8),
    /// Observed float output range over the calibration set.
    pub observed_range: (f32, f32),
    /// The range that was quantized (after calibration clipping).
    pub chosen_range: (f32, f32),
    /// Smallest and largest per-channel weight scale.
    pub weight_scale: (f32, f32),
    /// Largest absolute bias correction, in real units.
    pub max_bias_correction: f32,
}

/// The quantized model and how it was made.
#[derive(Debug, Clone)]
pub struct Quantized {
    /// The `.fmq` bytes.
    pub bytes: Vec<u8>,
    /// Per-layer choices.
    pub layers: Vec<LayerReport>,
    /// Number of calibration images used.
    pub calibration_images: usize,
    /// The options used.
    pub options: QuantizeOptions,
}

/// Quantizes `model` to `.fmq` bytes, calibrating on `calibration_images`.
pub fn quantize(
    model: &FloatModel,
    calibration_images: &[[u8; IMAGE_LEN]],
    options: &QuantizeOptions,
) -> Result<Vec<u8>, QuantizeError> {
    quantize_with_report(model, calibration_images, options).map(|q| q.bytes)
}

/// Maps `f` over `items` on all cores, keeping the order.
fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = items.len().div_ceil(workers).max(1);
    if workers == 1 || items.len() < 2 {
        return items.iter().map(&f).collect();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                s.spawn(move || part.iter().map(f).collect::<Vec<U>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("quantizer worker panicked"))
            .collect()
    })
}

/// Geometry of a conv or dense layer in the integer (HWC) domain.
#[derive(Debug, Clone, Copy)]
enum Geometry {
    Conv(ConvShape),
    Dense { n_in: usize, n_out: usize },
}

impl Geometry {
    /// Terms per accumulator.
    fn fan_in(&self) -> usize {
        match self {
            Geometry::Conv(s) => s.patch_len(),
            Geometry::Dense { n_in, .. } => *n_in,
        }
    }

    /// Output channels.
    fn out_c(&self) -> usize {
        match self {
            Geometry::Conv(s) => s.out_c,
            Geometry::Dense { n_out, .. } => *n_out,
        }
    }

    /// Bias-free accumulators `sum w * (x - zp)`, laid out `[position][channel]`
    /// (infer-core's reference kernels).
    fn accumulators(&self, x: &[i8], in_zp: i32, weights: &[i8]) -> Vec<i32> {
        match self {
            Geometry::Conv(s) => {
                let mut acc = vec![0i32; s.out_h * s.out_w * s.out_c];
                reference::conv2d_accumulators(s, in_zp, weights, x, &mut acc);
                acc
            }
            Geometry::Dense { n_out, .. } => {
                let mut acc = vec![0i32; *n_out];
                reference::dense_accumulators(in_zp, weights, x, &mut acc);
                acc
            }
        }
    }

    /// The layer's int8 output (infer-core's reference kernels).
    fn run(&self, x: &[i8], p: &LayerParams<'_>) -> Vec<i8> {
        match self {
            Geometry::Conv(s) => {
                let mut out = vec![0i8; s.out_len()];
                reference::conv2d(s, p, x, &mut out);
                out
            }
            Geometry::Dense { n_out, .. } => {
                let mut out = vec![0i8; *n_out];
                reference::dense(p, x, &mut out);
                out
            }
        }
    }
}

/// Per-output-channel symmetric int8 weights: `(scales, q)` where row `o`
/// of `weight` (`fan` values) becomes `q[o]` with `scale[o] = max|row| / 127`.
fn quantize_weights(weight: &[f32], fan: usize) -> (Vec<f32>, Vec<i8>) {
    let mut scales = Vec::new();
    let mut q = Vec::with_capacity(weight.len());
    for row in weight.chunks_exact(fan) {
        let max = row.iter().fold(0f32, |m, &v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(
            row.iter()
                .map(|&v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    (scales, q)
}

fn check_finite(layer: usize, values: &[f32]) -> Result<(), QuantizeError> {
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(QuantizeError::NonFinite { layer })
    }
}

/// The two networks side by side on the calibration images: float
/// activations (CHW) and int8 ones (HWC), with what the int8 side needs to
/// know about the current tensor.
struct Simulation {
    /// Float activations, one per image.
    fx: Vec<Activation>,
    /// int8 activations, one per image.
    qx: Vec<Vec<i8>>,
    /// Quantization of `qx`.
    quant: QuantParams,
    /// Float shape `[c, h, w]` of the current tensor.
    shape: [usize; 3],
    /// After flattening a spatial tensor: int (HWC) index -> float (CHW) index.
    perm: Option<Vec<usize>>,
    /// The tensors the last `Save` kept (float, int8, their quantization),
    /// waiting for their `Add`.
    kept: Option<(Vec<Activation>, Vec<Vec<i8>>, QuantParams)>,
}

impl Simulation {
    /// The model inputs: `pixel / 255` and `pixel - 128`.
    fn new(images: &[[u8; IMAGE_LEN]]) -> Self {
        let qx = images
            .iter()
            .map(|img| {
                let mut q = vec![0i8; IMAGE_LEN];
                reference::quantize_input(img, &mut q);
                q
            })
            .collect();
        Self {
            fx: par_map(images, Activation::from_pixels),
            qx,
            quant: QuantParams {
                scale: INPUT_SCALE,
                zero_point: INPUT_ZERO_POINT,
            },
            shape: [1, IMAGE_SIDE, IMAGE_SIDE],
            perm: None,
            kept: None,
        }
    }

    /// Keeps the current tensors for the next [`add`](Self::add).
    fn save(&mut self) {
        self.kept = Some((self.fx.clone(), self.qx.clone(), self.quant));
    }

    /// The residual add of the kept tensors (layer `li`): the float sum and
    /// its range give the output quantization, then infer-core's reference
    /// add gives the int8 sum.
    fn add(&mut self, li: usize, relu: bool, method: Calibration) -> Result<Add, QuantizeError> {
        let (fskip, qskip, skip_quant) = self.kept.take().ok_or_else(|| QuantizeError::Shape {
            layer: li,
            reason: "an Add without a Save".into(),
        })?;
        let pairs: Vec<(&Activation, &Activation)> = self.fx.iter().zip(&fskip).collect();
        let fx = par_map(&pairs, |(a, s)| float::add(a, s, relu));
        let chosen = choose_range(method, || fx.iter().flat_map(|a| a.data.iter()));
        let (scale, zero_point) = affine_params(chosen.0, chosen.1);
        let output = QuantParams { scale, zero_point };
        let (main_multiplier, skip_multiplier, shift) =
            add_multipliers(li, self.quant.scale, skip_quant.scale, scale)?;
        let add = Add {
            relu,
            main_multiplier,
            skip_multiplier,
            shift,
            output,
        };
        let p = AddParams {
            main_zp: i32::from(self.quant.zero_point),
            skip_zp: i32::from(skip_quant.zero_point),
            main_multiplier,
            skip_multiplier,
            shift,
            out_zp: i32::from(zero_point),
            relu,
        };
        let [c, _, _] = self.shape;
        let skip_c = fskip[0].shape[0];
        let pairs: Vec<(&Vec<i8>, &Vec<i8>)> = self.qx.iter().zip(&qskip).collect();
        self.qx = par_map(&pairs, |(a, s)| {
            let mut y = vec![0i8; a.len()];
            reference::add(&p, c, skip_c, a, s, &mut y);
            y
        });
        self.fx = fx;
        self.quant = output;
        Ok(add)
    }

    /// Max-pool 2x2 on both sides.
    fn maxpool(&mut self) {
        let [c, h, w] = self.shape;
        let s = PoolShape { h, w, c };
        self.fx = par_map(&self.fx, float::maxpool2x2);
        self.qx = par_map(&self.qx, |x| {
            let mut out = vec![0i8; s.out_len()];
            reference::maxpool2x2(&s, x, &mut out);
            out
        });
        self.shape = [c, h / 2, w / 2];
    }

    /// Global average pooling on both sides, the int8 means on a grid of
    /// their own (infer-core's `GlobalMean`, layer `li`): their float range
    /// chosen by `method`, the grid no finer than `in_scale / n` (the exact
    /// mean of `n` values of the input's grid lies on that grid already).
    /// CHW and HWC vectors agree, so the next dense layer needs no
    /// permutation.
    fn global_mean(&mut self, li: usize, method: Calibration) -> Result<GlobalMean, QuantizeError> {
        let [c, h, w] = self.shape;
        let s = GlobalPoolShape::new(h, w, c).expect("the float shapes were checked");
        self.fx = par_map(&self.fx, float::global_avg_pool);
        let (lo, hi) = choose_range(method, || self.fx.iter().flat_map(|a| a.data.iter()));
        let (mut scale, mut zero_point) = affine_params(lo, hi);
        let finest = self.quant.scale / s.pixels() as f32;
        if scale < finest {
            scale = finest;
            zero_point = (-128.0 - f64::from(lo.min(0.0)) / f64::from(scale))
                .round()
                .clamp(-128.0, 127.0) as i8;
        }
        let real = f64::from(self.quant.scale) / (s.pixels() as f64 * f64::from(scale));
        let (multiplier, shift) = quantize_multiplier(real).ok_or(QuantizeError::Multiplier {
            layer: li,
            channel: 0,
            value: real,
        })?;
        let output = QuantParams { scale, zero_point };
        let p = MeanParams {
            in_zp: i32::from(self.quant.zero_point),
            multiplier,
            shift,
            out_zp: i32::from(zero_point),
        };
        self.qx = par_map(&self.qx, |x| {
            let mut out = vec![0i8; s.out_len()];
            reference::global_mean(&s, &p, x, &mut out);
            out
        });
        self.shape = [c, 1, 1];
        self.quant = output;
        Ok(GlobalMean {
            multiplier,
            shift,
            output,
        })
    }

    /// Flatten (layer `li` of `model`): a no-op on the HWC int8 data; the
    /// next dense layer's weights are permuted from CHW to HWC order.
    fn flatten(&mut self, model: &FloatModel, li: usize) {
        let [c, h, w] = self.shape;
        if h * w > 1 && c > 1 {
            let mut p = Vec::with_capacity(c * h * w);
            for y in 0..h {
                for x in 0..w {
                    for ch in 0..c {
                        p.push((ch * h + y) * w + x);
                    }
                }
            }
            self.perm = Some(p);
        }
        self.fx = par_map(&self.fx, |a| model.apply(li, a, None));
        self.shape = [c * h * w, 1, 1];
    }
}

/// A conv or dense layer's float parameters in infer-core's layout.
struct IntLayout<'a> {
    geometry: Geometry,
    relu: bool,
    /// Weights OHWI (conv) or `[out][in]` in HWC input order (dense).
    weight: Vec<f32>,
    bias: &'a [f32],
}

/// Reorders layer `li`'s float weights for the integer domain (OIHW -> OHWI;
/// a dense layer after a spatial flatten takes the CHW -> HWC permutation).
fn int_layout<'a>(
    li: usize,
    layer: &'a FloatLayer,
    sim: &mut Simulation,
) -> Result<IntLayout<'a>, QuantizeError> {
    match layer {
        FloatLayer::Conv2d(_) if sim.perm.is_some() => Err(QuantizeError::Shape {
            layer: li,
            reason: "a convolution after flattening a spatial tensor is not supported".into(),
        }),
        FloatLayer::Conv2d(conv) => {
            let [c, h, w] = sim.shape;
            let k = conv.kernel;
            let shape =
                ConvShape::new(h, w, c, conv.out_channels, k, conv.padding).ok_or_else(|| {
                    QuantizeError::Shape {
                        layer: li,
                        reason: "the convolution does not fit its input".into(),
                    }
                })?;
            // OIHW -> OHWI.
            let mut wt = Vec::with_capacity(conv.weight.len());
            for o in 0..conv.out_channels {
                for ky in 0..k {
                    for kx in 0..k {
                        for ic in 0..c {
                            wt.push(conv.weight[((o * c + ic) * k + ky) * k + kx]);
                        }
                    }
                }
            }
            Ok(IntLayout {
                geometry: Geometry::Conv(shape),
                relu: conv.relu,
                weight: wt,
                bias: &conv.bias,
            })
        }
        FloatLayer::Dense(dense) => {
            let n_in = dense.in_features;
            let wt = match sim.perm.take() {
                None => dense.weight.clone(),
                Some(p) => dense
                    .weight
                    .chunks_exact(n_in)
                    .flat_map(|row| p.iter().map(|&f| row[f]))
                    .collect(),
            };
            Ok(IntLayout {
                geometry: Geometry::Dense {
                    n_in,
                    n_out: dense.out_features,
                },
                relu: dense.relu,
                weight: wt,
                bias: &dense.bias,
            })
        }
        FloatLayer::MaxPool2d
        | FloatLayer::Flatten
        | FloatLayer::GlobalAvgPool
        | FloatLayer::Save
        | FloatLayer::Add { .. } => Err(QuantizeError::Shape {
            layer: li,
            reason: "not a convolution or dense layer".into(),
        }),
    }
}

/// The float pre-activations (before ReLU) of layer `li` on every image.
fn float_pre_activations(layer: &FloatLayer, fx: &[Activation]) -> Vec<Activation> {
    match layer {
        FloatLayer::Conv2d(conv) => par_map(fx, |a| conv.pre_activation(a)),
        FloatLayer::Dense(dense) => par_map(fx, |a| dense.pre_activation(a)),
        FloatLayer::MaxPool2d
        | FloatLayer::Flatten
        | FloatLayer::GlobalAvgPool
        | FloatLayer::Save
        | FloatLayer::Add { .. } => fx.to_vec(),
    }
}

/// The int32 bias, corrected for the mean shift quantization causes when
/// `correct` is set; returns it and the largest correction in real units.
///
/// The correction of channel `o` is the mean, over all images and positions,
/// of the integer pre-activation (dequantized) minus the float one.
#[allow(clippy::too_many_arguments)]
fn int_bias(
    li: usize,
    layout: &IntLayout<'_>,
    sim: &Simulation,
    pre: &[Activation],
    w_scale: &[f32],
    wq: &[i8],
    correct: bool,
) -> Result<(Vec<i32>, f32), QuantizeError> {
    let geom = layout.geometry;
    let (out_c, fan) = (geom.out_c(), geom.fan_in());
    let s_in = f64::from(sim.quant.scale);
    let zp_in = i32::from(sim.quant.zero_point);
    let positions = pre[0].data.len() / out_c;
    let count = (positions * pre.len()) as f64;
    let mut float_sum = vec![0f64; out_c];
    for a in pre {
        for (o, plane) in a.data.chunks_exact(positions).enumerate() {
            float_sum[o] += plane.iter().map(|&v| f64::from(v)).sum::<f64>();
        }
    }
    let accs: Vec<Vec<i64>> = par_map(&sim.qx, |x| {
        let acc = geom.accumulators(x, zp_in, wq);
        let mut sums = vec![0i64; out_c];
        for pos in acc.chunks_exact(out_c) {
            for (s, &a) in sums.iter_mut().zip(pos) {
                *s += i64::from(a);
            }
        }
        sums
    });
    let mut int_sum = vec![0f64; out_c];
    for sums in &accs {
        for (t, &s) in int_sum.iter_mut().zip(sums) {
            *t += s as f64;
        }
    }

    let mut bias_q = Vec::with_capacity(out_c);
    let mut max_correction = 0f32;
    for o in 0..out_c {
        let acc_scale = s_in * f64::from(w_scale[o]);
        let b = f64::from(layout.bias[o]);
        let mut corrected = b;
        if correct {
            let int_mean = int_sum[o] / count * acc_scale;
            let float_mean = float_sum[o] / count - b;
            let shift = int_mean - float_mean;
            corrected = b - shift;
            max_correction = max_correction.max(shift.abs() as f32);
        }
        let q = (corrected / acc_scale).round();
        let bound = i32::MAX as f64 - (fan as f64) * 127.0 * 255.0;
        if q.abs() > bound {
            return Err(QuantizeError::BiasOverflow {
                layer: li,
                channel: o,
                bias: q,
            });
        }
        bias_q.push(q as i32);
    }
    Ok((bias_q, max_correction))
}

/// The Q31 multiplier and shift of each output channel:
/// `in_scale * w_scale[o] / out_scale`.
fn requant_multipliers(
    li: usize,
    in_scale: f32,
    w_scale: &[f32],
    out_scale: f32,
) -> Result<(Vec<i32>, Vec<u8>), QuantizeError> {
    let mut mult = Vec::with_capacity(w_scale.len());
    let mut shift = Vec::with_capacity(w_scale.len());
    for (o, &ws) in w_scale.iter().enumerate() {
        let real = f64::from(in_scale) * f64::from(ws) / f64::from(out_scale);
        let (m, n) = quantize_multiplier(real).ok_or(QuantizeError::Multiplier {
            layer: li,
            channel: o,
            value: real,
        })?;
        mult.push(m);
        shift.push(n);
    }
    Ok((mult, shift))
}

/// The multipliers of a residual add: `main_scale / out_scale = M_a * 2^-n`
/// and `skip_scale / out_scale = M_s * 2^-n` with one shift `n`, chosen so
/// that the larger of the two is normalized into `[2^30, 2^31)`
/// ([`quantize_multiplier`]); the smaller is rounded to the nearest integer
/// at that shift.
pub fn add_multipliers(
    li: usize,
    main_scale: f32,
    skip_scale: f32,
    out_scale: f32,
) -> Result<(i32, i32, u8), QuantizeError> {
    let main = f64::from(main_scale) / f64::from(out_scale);
    let skip = f64::from(skip_scale) / f64::from(out_scale);
    let large = main.max(skip);
    let (_, n) = quantize_multiplier(large).ok_or(QuantizeError::Multiplier {
        layer: li,
        channel: 0,
        value: large,
    })?;
    let at = |m: f64| -> Result<i32, QuantizeError> {
        let q = (m * 2f64.powi(i32::from(n))).round();
        if (0.0..=f64::from(i32::MAX)).contains(&q) {
            Ok(q as i32)
        } else {
            Err(QuantizeError::Multiplier {
                layer: li,
                channel: 0,
                value: m,
            })
        }
    };
    Ok((at(main)?, at(skip)?, n))
}

/// Quantizes conv or dense layer `li` and advances the simulation past it.
fn quantize_layer(
    model: &FloatModel,
    li: usize,
    sim: &mut Simulation,
    options: &QuantizeOptions,
) -> Result<(OwnedLayer, LayerReport), QuantizeError> {
    let layer = &model.layers[li];
    let last = li + 1 == model.layers.len();
    let layout = int_layout(li, layer, sim)?;
    let geom = layout.geometry;
    let (out_c, fan) = (geom.out_c(), geom.fan_in());
    check_finite(li, &layout.weight)?;
    check_finite(li, layout.bias)?;
    if (fan as f64) * 127.0 * 255.0 > f64::from(i32::MAX) {
        return Err(QuantizeError::Shape {
            layer: li,
            reason: format!("{fan} terms per output could overflow an int32 accumulator"),
        });
    }
    let (w_scale, wq) = quantize_weights(&layout.weight, fan);

    let pre = float_pre_activations(layer, &sim.fx);
    let (bias_q, max_correction) = int_bias(
        li,
        &layout,
        sim,
        &pre,
        &w_scale,
        &wq,
        options.bias_correction,
    )?;

    // Output range from the float activations (after the fused ReLU).
    let mut post = pre;
    if layout.relu {
        for a in &mut post {
            float::relu(a);
        }
    }
    let observed = calibrate::min_max(post.iter().flat_map(|a| a.data.iter()));
    let method = if last {
        options.logit_calibration
    } else {
        options.calibration
    };
    let chosen = choose_range(method, || post.iter().flat_map(|a| a.data.iter()));
    let (out_scale, out_zp) = affine_params(chosen.0, chosen.1);
    let out_q = QuantParams {
        scale: out_scale,
        zero_point: out_zp,
    };
    let (mult, shift) = requant_multipliers(li, sim.quant.scale, &w_scale, out_scale)?;

    // The int8 outputs, exactly as infer-core computes them.
    let params = LayerParams {
        in_zp: i32::from(sim.quant.zero_point),
        weights: &wq,
        bias: &bias_q,
        multiplier: &mult,
        shift: &shift,
        out_zp: i32::from(out_zp),
        relu: layout.relu,
    };
    sim.qx = par_map(&sim.qx, |x| geom.run(x, &params));
    sim.fx = post;
    sim.shape = sim.fx[0].shape;

    let report = LayerReport {
        layer: li,
        kind: match geom {
            Geometry::Conv(_) => "conv2d".into(),
            Geometry::Dense { .. } => "dense".into(),
        },
        input: (sim.quant.scale, sim.quant.zero_point),
        output: (out_scale, out_zp),
        observed_range: observed,
        chosen_range: chosen,
        weight_scale: w_scale
            .iter()
            .fold((f32::INFINITY, 0f32), |(lo, hi), &s| (lo.min(s), hi.max(s))),
        max_bias_correction: max_correction,
    };
    sim.quant = out_q;
    let params = OwnedParams {
        relu: layout.relu,
        weights: wq,
        bias: bias_q,
        multiplier: mult,
        shift,
        output: out_q,
    };
    let too_big = |what: &str| QuantizeError::Shape {
        layer: li,
        reason: format!("{what} does not fit the file format"),
    };
    let owned = match (geom, layer) {
        (Geometry::Conv(s), FloatLayer::Conv2d(conv)) => OwnedLayer::Conv2d {
            out_channels: u16::try_from(out_c).map_err(|_| too_big("out_channels"))?,
            kernel: u8::try_from(s.k).map_err(|_| too_big("kernel"))?,
            padding: conv.padding,
            params,
        },
        _ => OwnedLayer::Dense {
            out_features: u16::try_from(out_c).map_err(|_| too_big("out_features"))?,
            params,
        },
    };
    Ok((owned, report))
}

/// Encodes the quantized layers with the model's class names.
fn encode(model: &FloatModel, layers: Vec<OwnedLayer>) -> Result<Vec<u8>, QuantizeError> {
    if layers.len() > infer_core::MAX_LAYERS {
        return Err(QuantizeError::Shape {
            layer: infer_core::MAX_LAYERS,
            reason: format!("more than {} layers", infer_core::MAX_LAYERS),
        });
    }
    if model.class_names.len() > infer_core::MAX_CLASSES {
        return Err(QuantizeError::Shape {
            layer: model.layers.len() - 1,
            reason: format!("more than {} classes", infer_core::MAX_CLASSES),
        });
    }
    let owned = OwnedModel {
        input: InputSpec::default(),
        layers,
        class_names: model.class_names.clone(),
    };
    Ok(owned.to_bytes()?)
}

/// Runs the encoded model with infer-core's fast kernels on the first
/// calibration images and compares with the simulation (its reference kernels).
fn check_fast_kernels(
    bytes: &[u8],
    images: &[[u8; IMAGE_LEN]],
    simulated: &[Vec<i8>],
) -> Result<(), QuantizeError> {
    let decoded = Model::from_bytes(bytes)?;
    let mut scratch = vec![0i8; decoded.scratch_len()];
    for (i, (img, expected)) in images.iter().zip(simulated).enumerate().take(64) {
        let logits = decoded.logits(img, &mut scratch)?;
        if logits != expected.as_slice() {
            return Err(QuantizeError::Consistency { image: i });
        }
    }
    Ok(())
}

/// [`quantize`], also returning what was chosen per layer.
pub fn quantize_with_report(
    model: &FloatModel,
    calibration_images: &[[u8; IMAGE_LEN]],
    options: &QuantizeOptions,
) -> Result<Quantized, QuantizeError> {
    if calibration_images.is_empty() {
        return Err(QuantizeError::NoCalibrationImages);
    }
    model.shapes()?;
    let mut sim = Simulation::new(calibration_images);
    let mut layers = Vec::with_capacity(model.layers.len());
    let mut reports = Vec::new();
    for (li, layer) in model.layers.iter().enumerate() {
        match layer {
            FloatLayer::MaxPool2d => {
                sim.maxpool();
                layers.push(OwnedLayer::MaxPool2d);
            }
            FloatLayer::Flatten => {
                sim.flatten(model, li);
                layers.push(OwnedLayer::Flatten);
            }
            FloatLayer::GlobalAvgPool => {
                let method = if li + 1 == model.layers.len() {
                    options.logit_calibration
                } else {
                    options.calibration
                };
                layers.push(OwnedLayer::GlobalMean(sim.global_mean(li, method)?));
            }
            FloatLayer::Save => {
                sim.save();
                layers.push(OwnedLayer::Save);
            }
            FloatLayer::Add { relu } => {
                let method = if li + 1 == model.layers.len() {
                    options.logit_calibration
                } else {
                    options.calibration
                };
                layers.push(OwnedLayer::Add(sim.add(li, *relu, method)?));
            }
            FloatLayer::Conv2d(_) | FloatLayer::Dense(_) => {
                let (owned, report) = quantize_layer(model, li, &mut sim, options)?;
                layers.push(owned);
                reports.push(report);
            }
        }
    }
    let bytes = encode(model, layers)?;
    check_fast_kernels(&bytes, calibration_images, &sim.qx)?;
    Ok(Quantized {
        bytes,
        layers: reports,
        calibration_images: calibration_images.len(),
        options: *options,
    })
}
