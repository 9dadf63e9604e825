//! A validated model and inference.

use heapless::Vec;

use crate::format::{self, Layer, ModelFile, QuantParams};
use crate::layout::{self, Kind};
use crate::ops::add::{self, AddOp};
use crate::ops::avgpool;
use crate::ops::conv2d::{self, ConvOp};
use crate::ops::dense::{self, DenseOp};
use crate::ops::maxpool;
use crate::ops::requant::Requant;
use crate::reference::{AddParams, ConvShape, GlobalPoolShape, MeanParams, PoolShape};
use crate::{Error, I8Array, I32Array, IMAGE_LEN, IMAGE_SIDE, INPUT_SCALE, INPUT_ZERO_POINT};
use crate::{MAX_CLASSES, MAX_LAYERS};

/// One executable step (a `Flatten` layer needs none: HWC flattening is a no-op).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Op<'a> {
    Conv(ConvOp<'a>),
    Pool(PoolShape),
    GlobalPool(GlobalPoolShape),
    GlobalMean(GlobalPoolShape, MeanParams),
    Dense(DenseOp<'a>),
    /// Copy the current tensor (this many values) to the kept region.
    Save(usize),
    /// The residual add, in place on the current tensor.
    Add(AddOp),
}

impl Op<'_> {
    fn in_len(&self) -> usize {
        match self {
            Op::Conv(c) => c.shape.in_len(),
            Op::Pool(p) => p.in_len(),
            Op::GlobalPool(p) | Op::GlobalMean(p, _) => p.in_len(),
            Op::Dense(d) => d.n_in,
            Op::Save(len) => *len,
            Op::Add(a) => a.len(),
        }
    }

    fn out_len(&self) -> usize {
        match self {
            Op::Conv(c) => c.out_len(),
            Op::Pool(p) => p.out_len(),
            Op::GlobalPool(p) | Op::GlobalMean(p, _) => p.out_len(),
            Op::Dense(d) => d.n_out,
            Op::Save(len) => *len,
            Op::Add(a) => a.len(),
        }
    }

    /// True for a step that works in place on the current tensor (its input
    /// is its output, so it needs no second tensor in the ping-pong region).
    fn in_place(&self) -> bool {
        matches!(self, Op::Save(_) | Op::Add(_))
    }

    /// Multiply-accumulates of this step (none for a max-pool or a global
    /// average pool).
    fn macs(&self) -> u64 {
        match self {
            Op::Conv(c) => c.shape.out_len() as u64 * c.shape.patch_len() as u64,
            Op::Pool(_) | Op::GlobalPool(_) | Op::GlobalMean(..) | Op::Save(_) | Op::Add(_) => 0,
            Op::Dense(d) => d.n_in as u64 * d.n_out as u64,
        }
    }
}

/// What validation derives from a model file.
#[derive(Debug)]
pub(crate) struct Plan<'a> {
    ops: Vec<Op<'a>, MAX_LAYERS>,
    scratch_len: usize,
    keep_len: usize,
    num_classes: usize,
    output: QuantParams,
}

/// True for a positive, finite, normal f32 (checked on the bits: no float math).
fn valid_scale(scale: f32) -> bool {
    let bits = scale.to_bits();
    let exponent = (bits >> 23) & 0xFF;
    bits >> 31 == 0 && exponent != 0 && exponent != 0xFF
}

/// Checks the per-channel parameters shared by convolution and dense layers
/// (stored as [`layout`](crate::layout) says) and builds their requantization.
///
/// The kernels compute `acc = bias[o] + sum_{i < row} w[o][i] * x[i]` on the
/// raw int8 inputs (the bias holds the folded input zero point), with `w` and
/// `x` in `[-128, 127]`, so `|w * x| <= 2^14` and every partial sum is at most
/// `|bias[o]| + row * 2^14` in magnitude. Rejecting channels where this bound
/// exceeds `i32::MAX` proves that no i32 accumulator overflows. The padding
/// of each row must be zero, so that it adds nothing whatever the kernel pairs
/// it with.
#[allow(clippy::too_many_arguments)]
fn check_params<'a>(
    layer: u8,
    kind: Kind,
    out: usize,
    fan_in: usize,
    weights: I8Array<'a>,
    bias: I32Array<'a>,
    multiplier: I32Array<'a>,
    shift: &'a [u8],
    output: QuantParams,
    relu: bool,
) -> Result<Requant<'a>, Error> {
    let too_large = Error::TooLarge { layer };
    let row = layout::row_len(fan_in).ok_or(too_large)?;
    let n_weights = out.checked_mul(row).ok_or(too_large)?;
    let n_bytes4 = out.checked_mul(4).ok_or(too_large)?;
    if weights.len() != n_weights
        || bias.as_bytes().len() != n_bytes4
        || multiplier.as_bytes().len() != n_bytes4
        || shift.len() != out
    {
        return Err(Error::ParamLength { layer });
    }
    let bytes = weights.as_bytes();
    for o in 0..out {
        for i in fan_in..row {
            if bytes[layout::stored_index(kind, o, i, out, row)] != 0 {
                return Err(Error::WeightPadding { layer });
            }
        }
    }
    if multiplier.iter().any(|m| m < 0) || shift.iter().any(|&s| !(1..=62).contains(&s)) {
        return Err(Error::Requant { layer });
    }
    if !valid_scale(output.scale) {
        return Err(Error::Scale { layer });
    }
    let terms = (row as u64)
        .checked_mul(1 << 14)
        .ok_or(Error::AccumulatorOverflow { layer })?;
    for b in bias.iter() {
        let bound = terms
            .checked_add(u64::from(b.unsigned_abs()))
            .ok_or(Error::AccumulatorOverflow { layer })?;
        if bound > i32::MAX as u64 {
            return Err(Error::AccumulatorOverflow { layer });
        }
    }
    let zero_point = i32::from(output.zero_point);
    Ok(Requant {
        multiplier,
        shift,
        zero_point,
        min: if relu { zero_point } else { -128 },
    })
}

/// Checks everything about a model file once and derives the steps to run.
///
/// After this succeeds, every slice a kernel indexes has the length its
/// geometry says, and no accumulator can overflow.
pub(crate) fn validate<'a>(file: &ModelFile<'a>) -> Result<Plan<'a>, Error> {
    let input = &file.input;
    if usize::from(input.height) != IMAGE_SIDE
        || usize::from(input.width) != IMAGE_SIDE
        || input.channels != 1
    {
        return Err(Error::InputShape);
    }
    if input.quant.zero_point != INPUT_ZERO_POINT
        || input.quant.scale.to_bits() != INPUT_SCALE.to_bits()
    {
        return Err(Error::InputQuantization);
    }
    if file.layers.is_empty() {
        return Err(Error::NoLayers);
    }

    // Current tensor: shape (h, w, c), its length and quantization, and
    // whether it is a vector (after Flatten, Dense or GlobalAvgPool) rather
    // than an image.
    let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
    let mut flat = false;
    let mut len = IMAGE_LEN;
    let mut quant = input.quant;
    let mut ops = Vec::new();
    let mut scratch_len = IMAGE_LEN;
    // The tensor the last Save kept, waiting for its Add: (h, w, c, quant).
    let mut kept: Option<(usize, usize, usize, QuantParams)> = None;
    let mut keep_len = 0usize;

    for (i, layer) in file.layers.iter().enumerate() {
        // MAX_LAYERS <= 256, so the index fits.
        let li = i as u8;
        let too_large = Error::TooLarge { layer: li };
        let op = match *layer {
            Layer::Conv2d(ref conv) => {
                let k = usize::from(conv.kernel);
                let out_c = usize::from(conv.out_channels);
                let shape = ConvShape::new(h, w, c, out_c, k, conv.padding)
                    .ok_or(Error::Shape { layer: li })?;
                let patch = k
                    .checked_mul(k)
                    .and_then(|kk| kk.checked_mul(c))
                    .ok_or(too_large)?;
                let requant = check_params(
                    li,
                    Kind::Conv,
                    out_c,
                    patch,
                    conv.weights,
                    conv.bias,
                    conv.multiplier,
                    conv.shift,
                    conv.output,
                    conv.relu,
                )?;
                let in_zp = i32::from(quant.zero_point);
                (h, w, c) = (shape.out_h, shape.out_w, out_c);
                quant = conv.output;
                flat = false;
                Op::Conv(ConvOp {
                    shape,
                    row: layout::row_len(patch).ok_or(too_large)?,
                    in_zp,
                    weights: conv.weights,
                    bias: conv.bias,
                    requant,
                    pool: false,
                })
            }
            Layer::MaxPool2d => {
                if h < 2 || w < 2 {
                    return Err(Error::Shape { layer: li });
                }
                let shape = PoolShape { h, w, c };
                (h, w) = (h / 2, w / 2);
                len = h * w * c;
                flat = false;
                // Right after a convolution whose kernels can pool: fused.
                if let Some(Op::Conv(conv)) = ops.last_mut()
                    && !conv.pool
                    && conv2d::can_fuse_pool(&conv.shape, conv.row)
                {
                    conv.pool = true;
                    continue;
                }
                Op::Pool(shape)
            }
            Layer::Flatten => {
                (h, w, c) = (1, 1, len);
                flat = true;
                continue;
            }
            Layer::GlobalAvgPool => {
                if flat {
                    return Err(Error::Shape { layer: li });
                }
                // h, w, c >= 1 here (every layer before checked its output);
                // more than MAX_POOL_PIXELS pixels cannot come from a 28x28 image.
                let shape = GlobalPoolShape::new(h, w, c).ok_or(too_large)?;
                (h, w) = (1, 1);
                flat = true;
                Op::GlobalPool(shape)
            }
            Layer::GlobalMean(ref m) => {
                if flat {
                    return Err(Error::Shape { layer: li });
                }
                let shape = GlobalPoolShape::new(h, w, c).ok_or(too_large)?;
                if m.multiplier < 0 || !(1..=62).contains(&m.shift) {
                    return Err(Error::Requant { layer: li });
                }
                if !valid_scale(m.output.scale) {
                    return Err(Error::Scale { layer: li });
                }
                let params = MeanParams {
                    in_zp: i32::from(quant.zero_point),
                    multiplier: m.multiplier,
                    shift: m.shift,
                    out_zp: i32::from(m.output.zero_point),
                };
                (h, w) = (1, 1);
                flat = true;
                quant = m.output;
                Op::GlobalMean(shape, params)
            }
            Layer::Save => {
                if kept.is_some() {
                    return Err(Error::Residual { layer: li });
                }
                kept = Some((h, w, c, quant));
                keep_len = keep_len.max(len);
                Op::Save(len)
            }
            Layer::Add(ref a) => {
                let Some((kh, kw, kc, kq)) = kept.take() else {
                    return Err(Error::Residual { layer: li });
                };
                if (kh, kw) != (h, w) || kc > c {
                    return Err(Error::Shape { layer: li });
                }
                if a.main_multiplier < 0 || a.skip_multiplier < 0 || !(1..=62).contains(&a.shift) {
                    return Err(Error::Requant { layer: li });
                }
                if !valid_scale(a.output.scale) {
                    return Err(Error::Scale { layer: li });
                }
                let params = AddParams {
                    main_zp: i32::from(quant.zero_point),
                    skip_zp: i32::from(kq.zero_point),
                    main_multiplier: a.main_multiplier,
                    skip_multiplier: a.skip_multiplier,
                    shift: a.shift,
                    out_zp: i32::from(a.output.zero_point),
                    relu: a.relu,
                };
                quant = a.output;
                // h * w * c = len was checked by the layer before.
                Op::Add(AddOp {
                    params,
                    pixels: h * w,
                    c,
                    skip_c: kc,
                })
            }
            Layer::Dense(ref dense) => {
                let out = usize::from(dense.out_features);
                if h != 1 || w != 1 || out == 0 {
                    return Err(Error::Shape { layer: li });
                }
                let requant = check_params(
                    li,
                    Kind::Dense,
                    out,
                    c,
                    dense.weights,
                    dense.bias,
                    dense.multiplier,
                    dense.shift,
                    dense.output,
                    dense.relu,
                )?;
                let op = DenseOp {
                    n_in: c,
                    n_out: out,
                    row: layout::row_len(c).ok_or(too_large)?,
                    weights: dense.weights,
                    bias: dense.bias,
                    requant,
                };
                c = out;
                quant = dense.output;
                flat = true;
                Op::Dense(op)
            }
        };
        len = h
            .checked_mul(w)
            .and_then(|hw| hw.checked_mul(c))
            .ok_or(too_large)?;
        // At most one op per layer and at most MAX_LAYERS layers.
        ops.push(op).map_err(|_| too_large)?;
    }
    if kept.is_some() {
        // A Save without its Add.
        return Err(Error::Residual {
            layer: (file.layers.len() - 1) as u8,
        });
    }
    // After fusion, which shortens a convolution's output. A step in place
    // needs only its tensor; the others their input and output side by side.
    for (i, op) in ops.iter().enumerate() {
        let need = if op.in_place() {
            Some(op.in_len())
        } else {
            op.in_len().checked_add(op.out_len())
        };
        scratch_len = scratch_len.max(need.ok_or(Error::TooLarge { layer: i as u8 })?);
    }
    // The kept tensor has its own region before the ping-pong one.
    let scratch_len = scratch_len
        .checked_add(keep_len)
        .ok_or(Error::TooLarge { layer: 0 })?;

    if len != file.class_names.len() {
        return Err(Error::ClassCount {
            outputs: u32::try_from(len).unwrap_or(u32::MAX),
            names: file.class_names.len() as u32,
        });
    }
    // Guaranteed by the class-name list's capacity, restated for the reader.
    debug_assert!(len <= MAX_CLASSES);
    Ok(Plan {
        ops,
        scratch_len,
        keep_len,
        num_classes: len,
        output: quant,
    })
}

/// A validated model that borrows its `.fmq` bytes.
///
/// ```
/// # fn demo(bytes: &[u8]) -> Result<(), infer_core::Error> {
/// let model = infer_core::Model::from_bytes(bytes)?;
/// let mut scratch = vec![0i8; model.scratch_len()];
/// let p = model.classify(&[0u8; 784], &mut scratch)?;
/// println!("{} ({})", p.name, p.class);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Model<'a> {
    file: ModelFile<'a>,
    ops: Vec<Op<'a>, MAX_LAYERS>,
    scratch_len: usize,
    keep_len: usize,
    num_classes: usize,
    output: QuantParams,
}

impl<'a> Model<'a> {
    /// Parses and validates a `.fmq` file without copying its parameters.
    ///
    /// Checks the magic, version (2 or 3), length and CRC-32, decodes the
    /// payload, and checks that every layer exists in the file's version
    /// ([`Error::LayerVersion`]), that every layer fits the shape of its input, that every
    /// parameter array has the right length, that weights lie in [-127, 127],
    /// that multipliers and shifts are in range, that no accumulator can
    /// overflow, and that the last layer's width equals the number of class
    /// names. After it succeeds [`classify`](Self::classify) cannot index out
    /// of bounds.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::parse(bytes, true)
    }

    /// [`from_bytes`](Self::from_bytes) without recomputing the payload's
    /// CRC-32: every other check is made, so [`classify`](Self::classify)
    /// still cannot index out of bounds or overflow, but a flipped weight bit
    /// goes unnoticed.
    ///
    /// For bytes whose CRC was checked before, once: the firmware embeds a
    /// model whose build script ran `from_bytes` on the very same bytes, so
    /// that its start-up does not spend about 3.5 instructions per byte of
    /// flash (more than one inference for a 543 KB model) on it again.
    pub fn from_bytes_unverified(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::parse(bytes, false)
    }

    fn parse(bytes: &'a [u8], check_crc: bool) -> Result<Self, Error> {
        let file = format::decode(bytes, check_crc)?;
        let plan = validate(&file)?;
        Ok(Self {
            file,
            ops: plan.ops,
            scratch_len: plan.scratch_len,
            keep_len: plan.keep_len,
            num_classes: plan.num_classes,
            output: plan.output,
        })
    }

    /// Bytes of i8 scratch [`classify`](Self::classify) needs: the largest sum
    /// of one layer's input and output lengths (at least the 784 input bytes),
    /// plus, in a model with residual adds, the largest tensor a
    /// [`Save`](crate::Layer::Save) keeps.
    pub fn scratch_len(&self) -> usize {
        self.scratch_len
    }

    /// The class names, in output order.
    pub fn class_names(&self) -> impl Iterator<Item = &'a str> {
        self.file.class_names.iter().copied()
    }

    /// Number of classes (outputs of the last layer).
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Multiply-accumulates of one inference: for each convolution
    /// `out_h * out_w * out_c * k * k * in_c`, for each dense layer
    /// `in * out` (max-pool, global average pool and flatten count none).
    pub fn macs(&self) -> u64 {
        self.ops.iter().map(Op::macs).sum()
    }

    /// Quantization of the scores (the last layer's output).
    pub fn output_quant(&self) -> QuantParams {
        self.output
    }

    /// The decoded file (layers and their borrowed parameters).
    pub fn file(&self) -> &ModelFile<'a> {
        &self.file
    }

    /// Classifies one 28x28 image (0 = background, 255 = brightest).
    ///
    /// `scratch` must hold at least [`scratch_len`](Self::scratch_len) bytes;
    /// its contents on entry do not matter. Integer arithmetic only.
    pub fn classify(
        &self,
        pixels: &[u8; IMAGE_LEN],
        scratch: &mut [i8],
    ) -> Result<Prediction<'a>, Error> {
        let scores = self.logits(pixels, scratch)?;
        let mut class = 0;
        for (i, &s) in scores.iter().enumerate() {
            if s > scores[class] {
                class = i;
            }
        }
        Ok(Prediction {
            class,
            name: self.file.class_names[class],
            scores: Vec::from_slice(scores).map_err(|_| Error::Decode)?,
            quant: self.output,
        })
    }

    /// Runs the network and returns the int8 outputs of the last layer (a
    /// slice of `scratch`, [`num_classes`](Self::num_classes) long).
    pub fn logits<'s>(
        &self,
        pixels: &[u8; IMAGE_LEN],
        scratch: &'s mut [i8],
    ) -> Result<&'s [i8], Error> {
        self.logits_observed(pixels, scratch, |_| {})
    }

    /// [`logits`](Self::logits), calling `after` once after each step the
    /// network runs (a convolution, max-pool, global average pool or dense
    /// layer; `Flatten` runs nothing; a max-pool right after a convolution
    /// with an even output size runs fused into it, as one step), to time the
    /// layers on a device.
    pub fn logits_observed<'s>(
        &self,
        pixels: &[u8; IMAGE_LEN],
        scratch: &'s mut [i8],
        mut after: impl FnMut(Step),
    ) -> Result<&'s [i8], Error> {
        let n = self.scratch_len;
        if scratch.len() < n {
            return Err(Error::ScratchTooSmall {
                needed: u32::try_from(n).unwrap_or(u32::MAX),
                got: u32::try_from(scratch.len()).unwrap_or(u32::MAX),
            });
        }
        // The kept tensor (residual shortcut) first, then the ping-pong region.
        let (keep, buf) = scratch[..n].split_at_mut(self.keep_len);
        let n = n - self.keep_len;
        // Tensors alternate between the start and the end of the ping-pong
        // region: a step's input and output never overlap because n >= in +
        // out. Save and Add work in place and leave the tensor where it is.
        // Input quantization: q = pixel - 128 (scale 1/255, zero point -128).
        // Four pixels a word (784 is a multiple of four).
        for (q, p) in buf[..IMAGE_LEN]
            .chunks_exact_mut(4)
            .zip(pixels.chunks_exact(4))
        {
            let word = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) ^ 0x8080_8080;
            for (q, b) in q.iter_mut().zip(word.to_le_bytes()) {
                *q = b as i8;
            }
        }
        let mut at_start = true;
        let mut len = IMAGE_LEN;
        for (index, op) in self.ops.iter().enumerate() {
            if op.in_place() {
                let current = if at_start {
                    &mut buf[..len]
                } else {
                    &mut buf[n - len..]
                };
                let kind = match op {
                    Op::Save(_) => {
                        keep[..len].copy_from_slice(current);
                        "save"
                    }
                    Op::Add(a) => {
                        add::add_in_place(a, current, &keep[..a.skip_len()]);
                        "add"
                    }
                    _ => unreachable!("only Save and Add work in place"),
                };
                after(Step {
                    index,
                    kind,
                    macs: 0,
                    outputs: len,
                });
                continue;
            }
            let in_len = op.in_len();
            let out_len = op.out_len();
            let (input, output) = if at_start {
                let (a, b) = buf.split_at_mut(n - out_len);
                (&a[..in_len], b)
            } else {
                let (a, b) = buf.split_at_mut(out_len);
                (&b[b.len() - in_len..], a)
            };
            let kind = match op {
                Op::Conv(c) => {
                    conv2d::conv2d(c, input, output);
                    if c.pool { "conv2d+maxpool2d" } else { "conv2d" }
                }
                Op::Pool(p) => {
                    maxpool::maxpool2x2(p, input, output);
                    "maxpool2d"
                }
                Op::GlobalPool(p) => {
                    avgpool::global_avg_pool(p, input, output);
                    "globalavgpool"
                }
                Op::GlobalMean(p, m) => {
                    avgpool::global_mean(p, m, input, output);
                    "globalmean"
                }
                Op::Dense(d) => {
                    dense::dense(d, input, output);
                    "dense"
                }
                Op::Save(_) | Op::Add(_) => unreachable!("run in place above"),
            };
            after(Step {
                index,
                kind,
                macs: op.macs(),
                outputs: out_len,
            });
            at_start = !at_start;
            len = out_len;
        }
        Ok(if at_start {
            &buf[..len]
        } else {
            &buf[n - len..]
        })
    }
}

/// One step of [`Model::logits_observed`], just run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Step {
    /// Position among the steps run (layers other than `Flatten`), from 0.
    pub index: usize,
    /// `"conv2d"`, `"maxpool2d"`, `"globalavgpool"`, `"globalmean"`,
    /// `"dense"`, `"save"`, `"add"`, or
    /// `"conv2d+maxpool2d"` for a convolution with the max-pool after it
    /// fused into its kernel.
    pub kind: &'static str,
    /// Its multiply-accumulates.
    pub macs: u64,
    /// Its output values.
    pub outputs: usize,
}

/// The result of [`Model::classify`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Prediction<'a> {
    /// Index of the highest score (the first one on ties).
    pub class: usize,
    /// Name of that class.
    pub name: &'a str,
    /// int8 outputs of the last layer, one per class.
    pub scores: Vec<i8, MAX_CLASSES>,
    /// Quantization of `scores`, for display.
    pub quant: QuantParams,
}

impl Prediction<'_> {
    /// Scores as real values `scale * (q - zero_point)` (display only; uses float).
    pub fn dequantized(&self) -> Vec<f32, MAX_CLASSES> {
        self.scores
            .iter()
            .map(|&q| self.quant.scale * (f32::from(q) - f32::from(self.quant.zero_point)))
            .collect()
    }
}
