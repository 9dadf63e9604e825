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
//!   infer-core does.
//!
//! While quantizing, the integer network is simulated layer by layer on the
//! calibration images; at the end the encoded file is run through
//! [`infer_core::Model`] on some of them and must give the same int8 logits.

mod calibrate;
mod float;
mod load;
mod q31;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

use infer_core::{
    Conv2d, Dense, I8Array, I32Array, IMAGE_LEN, INPUT_SCALE, INPUT_ZERO_POINT, InputSpec, Layer,
    Model, ModelFile, Padding, QuantParams,
};
use serde::{Deserialize, Serialize};

pub use calibrate::{Calibration, affine_params, choose_range};
pub use float::{Activation, FloatConv2d, FloatDense, FloatLayer, FloatModel};
pub use load::Param;
pub use q31::{quantize_multiplier, requantize};

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
    /// infer-core's output differs from the quantizer's own integer simulation.
    #[error("infer-core disagrees with the quantizer's simulation on calibration image {image}")]
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

/// An encoded layer's owned parameters.
enum OwnedLayer {
    Conv {
        out_channels: u16,
        kernel: u8,
        padding: Padding,
        params: OwnedParams,
    },
    Pool,
    Flatten,
    Dense {
        out_features: u16,
        params: OwnedParams,
    },
}

/// Little-endian parameter bytes of one conv or dense layer.
struct OwnedParams {
    relu: bool,
    weights: Vec<u8>,
    bias: Vec<u8>,
    multiplier: Vec<u8>,
    shift: Vec<u8>,
    output: QuantParams,
}

impl OwnedLayer {
    fn as_layer(&self) -> Layer<'_> {
        match self {
            OwnedLayer::Conv {
                out_channels,
                kernel,
                padding,
                params: p,
            } => Layer::Conv2d(Conv2d {
                out_channels: *out_channels,
                kernel: *kernel,
                padding: *padding,
                relu: p.relu,
                weights: I8Array::new(&p.weights),
                bias: I32Array::new(&p.bias),
                multiplier: I32Array::new(&p.multiplier),
                shift: &p.shift,
                output: p.output,
            }),
            OwnedLayer::Pool => Layer::MaxPool2d,
            OwnedLayer::Flatten => Layer::Flatten,
            OwnedLayer::Dense {
                out_features,
                params: p,
            } => Layer::Dense(Dense {
                out_features: *out_features,
                relu: p.relu,
                weights: I8Array::new(&p.weights),
                bias: I32Array::new(&p.bias),
                multiplier: I32Array::new(&p.multiplier),
                shift: &p.shift,
                output: p.output,
            }),
        }
    }
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
enum Linear {
    Conv {
        h: usize,
        w: usize,
        c: usize,
        k: usize,
        pad: usize,
        oh: usize,
        ow: usize,
    },
    Dense {
        n_in: usize,
    },
}

impl Linear {
    /// Terms per accumulator.
    fn fan_in(&self) -> usize {
        match *self {
            Linear::Conv { c, k, .. } => k * k * c,
            Linear::Dense { n_in } => n_in,
        }
    }

    /// Bias-free accumulators `sum w * (x - zp)`, laid out `[position][channel]`.
    fn accumulate(&self, x: &[i8], zp: i32, weights: &[i8], out_c: usize) -> Vec<i32> {
        let fan = self.fan_in();
        match *self {
            Linear::Dense { .. } => weights
                .chunks_exact(fan)
                .map(|row| {
                    row.iter()
                        .zip(x)
                        .map(|(&w, &x)| i32::from(w) * (i32::from(x) - zp))
                        .sum()
                })
                .collect(),
            Linear::Conv {
                h,
                w,
                c,
                k,
                pad,
                oh,
                ow,
            } => {
                let mut out = vec![0i32; oh * ow * out_c];
                let mut patch = vec![0i32; fan];
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy + ky).wrapping_sub(pad);
                                let ix = (ox + kx).wrapping_sub(pad);
                                let dst = &mut patch[(ky * k + kx) * c..][..c];
                                if iy < h && ix < w {
                                    let src = &x[(iy * w + ix) * c..][..c];
                                    for (d, &s) in dst.iter_mut().zip(src) {
                                        *d = i32::from(s) - zp;
                                    }
                                } else {
                                    dst.fill(0);
                                }
                            }
                        }
                        let acc = &mut out[(oy * ow + ox) * out_c..][..out_c];
                        for (a, row) in acc.iter_mut().zip(weights.chunks_exact(fan)) {
                            *a = row
                                .iter()
                                .zip(&patch)
                                .map(|(&w, &p)| i32::from(w) * p)
                                .sum();
                        }
                    }
                }
                out
            }
        }
    }
}

/// Max-pool 2x2 on an HWC int8 tensor.
fn maxpool_hwc(x: &[i8], h: usize, w: usize, c: usize) -> Vec<i8> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = Vec::with_capacity(oh * ow * c);
    for y in 0..oh {
        for xx in 0..ow {
            for ch in 0..c {
                let at = |dy: usize, dx: usize| x[((2 * y + dy) * w + 2 * xx + dx) * c + ch];
                out.push(at(0, 0).max(at(0, 1)).max(at(1, 0).max(at(1, 1))));
            }
        }
    }
    out
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
    let n_layers = model.layers.len();

    // The two networks side by side: float activations (CHW) and int8 ones (HWC).
    let mut fx: Vec<Activation> = par_map(calibration_images, Activation::from_pixels);
    let mut qx: Vec<Vec<i8>> = calibration_images
        .iter()
        .map(|img| img.iter().map(|&p| (p ^ 0x80) as i8).collect())
        .collect();
    let mut in_q = QuantParams {
        scale: INPUT_SCALE,
        zero_point: INPUT_ZERO_POINT,
    };
    // Float shape [c, h, w] of the current tensor.
    let mut shape = [1usize, infer_core::IMAGE_SIDE, infer_core::IMAGE_SIDE];
    // For a flattened spatial tensor: int (HWC) index -> float (CHW) index.
    let mut perm: Option<Vec<usize>> = None;
    let mut owned = Vec::with_capacity(n_layers);
    let mut reports = Vec::new();

    for (li, layer) in model.layers.iter().enumerate() {
        let last = li + 1 == n_layers;
        match layer {
            FloatLayer::MaxPool2d => {
                let [c, h, w] = shape;
                fx = par_map(&fx, float::maxpool2x2);
                qx = par_map(&qx, |x| maxpool_hwc(x, h, w, c));
                shape = [c, h / 2, w / 2];
                owned.push(OwnedLayer::Pool);
                continue;
            }
            FloatLayer::Flatten => {
                let [c, h, w] = shape;
                if h * w > 1 && c > 1 {
                    let mut p = Vec::with_capacity(c * h * w);
                    for y in 0..h {
                        for x in 0..w {
                            for ch in 0..c {
                                p.push((ch * h + y) * w + x);
                            }
                        }
                    }
                    perm = Some(p);
                }
                fx = par_map(&fx, |a| model.apply(li, a));
                shape = [c * h * w, 1, 1];
                owned.push(OwnedLayer::Flatten);
                continue;
            }
            FloatLayer::Conv2d(_) if perm.is_some() => {
                return Err(QuantizeError::Shape {
                    layer: li,
                    reason: "a convolution after flattening a spatial tensor is not supported"
                        .into(),
                });
            }
            FloatLayer::Conv2d(_) | FloatLayer::Dense(_) => {}
        }

        // A conv or dense layer: float weights in infer-core's layout.
        let (geom, out_c, relu, weight, bias) = match layer {
            FloatLayer::Conv2d(conv) => {
                let [c, h, w] = shape;
                let k = conv.kernel;
                let pad = match conv.padding {
                    Padding::Valid => 0,
                    Padding::Same => k / 2,
                };
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
                let geom = Linear::Conv {
                    h,
                    w,
                    c,
                    k,
                    pad,
                    oh: h + 2 * pad - k + 1,
                    ow: w + 2 * pad - k + 1,
                };
                (geom, conv.out_channels, conv.relu, wt, &conv.bias)
            }
            FloatLayer::Dense(dense) => {
                let n_in = dense.in_features;
                let wt = match perm.take() {
                    None => dense.weight.clone(),
                    Some(p) => dense
                        .weight
                        .chunks_exact(n_in)
                        .flat_map(|row| p.iter().map(|&f| row[f]))
                        .collect(),
                };
                (
                    Linear::Dense { n_in },
                    dense.out_features,
                    dense.relu,
                    wt,
                    &dense.bias,
                )
            }
            _ => unreachable!("handled above"),
        };
        check_finite(li, &weight)?;
        check_finite(li, bias)?;
        let fan = geom.fan_in();
        let (w_scale, wq) = quantize_weights(&weight, fan);
        let s_in = f64::from(in_q.scale);
        let zp_in = i32::from(in_q.zero_point);

        // Float pre-activations; per-channel sums of them and of the int path.
        let pre: Vec<Activation> = match layer {
            FloatLayer::Conv2d(conv) => par_map(&fx, |a| conv.pre_activation(a)),
            FloatLayer::Dense(dense) => par_map(&fx, |a| dense.pre_activation(a)),
            _ => unreachable!("conv or dense"),
        };
        let positions = pre[0].data.len() / out_c;
        let count = (positions * pre.len()) as f64;
        let mut float_sum = vec![0f64; out_c];
        for a in &pre {
            for (o, plane) in a.data.chunks_exact(positions).enumerate() {
                float_sum[o] += plane.iter().map(|&v| f64::from(v)).sum::<f64>();
            }
        }
        let accs: Vec<Vec<i64>> = par_map(&qx, |x| {
            let acc = geom.accumulate(x, zp_in, &wq, out_c);
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

        // Bias (corrected) to int32.
        let mut bias_q = Vec::with_capacity(out_c);
        let mut max_correction = 0f32;
        for o in 0..out_c {
            let acc_scale = s_in * f64::from(w_scale[o]);
            let b = f64::from(bias[o]);
            let mut corrected = b;
            if options.bias_correction {
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

        // Output range from the float activations (after the fused ReLU).
        let mut post = pre;
        if relu {
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

        // Per-channel Q31 multipliers.
        let mut mult = Vec::with_capacity(out_c);
        let mut shift = Vec::with_capacity(out_c);
        for (o, &ws) in w_scale.iter().enumerate() {
            let real = s_in * f64::from(ws) / f64::from(out_scale);
            let (m, n) = quantize_multiplier(real).ok_or(QuantizeError::Multiplier {
                layer: li,
                channel: o,
                value: real,
            })?;
            mult.push(m);
            shift.push(n);
        }

        // The int8 outputs, exactly as infer-core computes them.
        let zp_out = i32::from(out_zp);
        let min = if relu { zp_out } else { -128 };
        qx = par_map(&qx, |x| {
            geom.accumulate(x, zp_in, &wq, out_c)
                .chunks_exact(out_c)
                .flat_map(|pos| {
                    pos.iter()
                        .enumerate()
                        .map(|(o, &a)| requantize(a + bias_q[o], mult[o], shift[o], zp_out, min))
                })
                .collect()
        });
        fx = post;
        shape = fx[0].shape;

        reports.push(LayerReport {
            layer: li,
            kind: match geom {
                Linear::Conv { .. } => "conv2d".into(),
                Linear::Dense { .. } => "dense".into(),
            },
            input: (in_q.scale, in_q.zero_point),
            output: (out_scale, out_zp),
            observed_range: observed,
            chosen_range: chosen,
            weight_scale: w_scale
                .iter()
                .fold((f32::INFINITY, 0f32), |(lo, hi), &s| (lo.min(s), hi.max(s))),
            max_bias_correction: max_correction,
        });
        let params = OwnedParams {
            relu,
            weights: wq.iter().map(|&w| w as u8).collect(),
            bias: bias_q.iter().flat_map(|b| b.to_le_bytes()).collect(),
            multiplier: mult.iter().flat_map(|m| m.to_le_bytes()).collect(),
            shift,
            output: out_q,
        };
        let too_big = |what: &str| QuantizeError::Shape {
            layer: li,
            reason: format!("{what} does not fit the file format"),
        };
        owned.push(match geom {
            Linear::Conv { k, .. } => OwnedLayer::Conv {
                out_channels: u16::try_from(out_c).map_err(|_| too_big("out_channels"))?,
                kernel: u8::try_from(k).map_err(|_| too_big("kernel"))?,
                padding: match layer {
                    FloatLayer::Conv2d(conv) => conv.padding,
                    _ => unreachable!("conv"),
                },
                params,
            },
            Linear::Dense { .. } => OwnedLayer::Dense {
                out_features: u16::try_from(out_c).map_err(|_| too_big("out_features"))?,
                params,
            },
        });
        in_q = out_q;
    }

    // Encode, then check infer-core agrees with the simulation.
    let mut layers = heapless::Vec::new();
    for l in &owned {
        layers
            .push(l.as_layer())
            .map_err(|_| QuantizeError::Shape {
                layer: infer_core::MAX_LAYERS,
                reason: format!("more than {} layers", infer_core::MAX_LAYERS),
            })?;
    }
    let mut class_names = heapless::Vec::new();
    for name in &model.class_names {
        class_names
            .push(name.as_str())
            .map_err(|_| QuantizeError::Shape {
                layer: n_layers - 1,
                reason: format!("more than {} classes", infer_core::MAX_CLASSES),
            })?;
    }
    let file = ModelFile {
        input: InputSpec::default(),
        layers,
        class_names,
    };
    let bytes = infer_core::to_vec(&file)?;
    {
        let decoded = Model::from_bytes(&bytes)?;
        let mut scratch = vec![0i8; decoded.scratch_len()];
        for (i, (img, expected)) in calibration_images.iter().zip(&qx).enumerate().take(64) {
            let logits = decoded.logits(img, &mut scratch)?;
            if logits != expected.as_slice() {
                return Err(QuantizeError::Consistency { image: i });
            }
        }
    }
    Ok(Quantized {
        bytes,
        layers: reports,
        calibration_images: calibration_images.len(),
        options: *options,
    })
}
