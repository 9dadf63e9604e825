//! Randomized checks of the fast kernels against the [`reference`](mod@crate::reference) kernels,
//! without std or an allocator, so that they run on the target as well as on
//! the host.
//!
//! Each case draws a random geometry and random natural parameters from a
//! seed, stores them as [`layout`] says (padded, interleaved, bias folded),
//! runs the fast kernel the model would run (and, for a convolution, the
//! direct kernel too) and compares every output byte with the reference
//! kernel's on the natural parameters. A convolution whose output size lets
//! the kernels fuse a 2x2 max-pool is also run pooled half of the time,
//! against the reference convolution followed by the reference max-pool.
//! Global average pooling cases draw a random input (sometimes of extreme
//! values only, sometimes of more than 256 pixels, where the DSP kernel's
//! 16-bit sums must start a new run) and compare the fast kernel with the
//! reference. Residual add cases draw a random shortcut (sometimes with fewer
//! channels than the main path), zero points, multipliers and shift, and
//! compare the in-place kernel with the reference. The host property tests
//! call [`conv_case`], [`first_layer_case`], [`dense_case`],
//! [`global_avg_pool_case`] and [`add_case`] on proptest's seeds; the QEMU firmware's `kernel-check` build calls [`run`]
//! on the Cortex-M4.

use crate::layout::{self, Kind};
use crate::ops::add::{self, AddOp};
use crate::ops::avgpool;
use crate::ops::conv2d::{self, ConvOp};
use crate::ops::dense::{self, DenseOp};
use crate::ops::requant::Requant;
use crate::reference::{
    self, AddParams, ConvShape, GlobalPoolShape, LayerParams, MeanParams, PoolShape,
};
use crate::rng::SplitMix64;
use crate::{I8Array, I32Array, Padding};

/// Most output channels of a case.
const MAX_OUT_C: usize = 12;
/// Most weights of a case (natural or stored).
const MAX_WEIGHTS: usize = MAX_OUT_C * 640;
/// Most input values of a case.
const MAX_IN: usize = 4608;
/// Most output values of a case.
const MAX_OUT: usize = 2400;

/// A fast kernel's output that differs from the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mismatch {
    /// Which kernel: `"conv2d"`, `"conv2d+maxpool2d"`, `"conv2d-direct"`,
    /// `"dense"`, `"dense-small-chunks"`, `"globalavgpool"`, `"globalmean"` or
    /// `"add"`.
    pub kernel: &'static str,
    /// The case's seed (rerun it with [`conv_case`], [`first_layer_case`],
    /// [`dense_case`], [`global_avg_pool_case`] or [`add_case`]).
    pub seed: u64,
    /// Index of the first differing output value.
    pub index: usize,
    /// The fast kernel's value there.
    pub fast: i8,
    /// The reference kernel's value there.
    pub reference: i8,
}

/// What [`run`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary {
    /// Convolution cases (each through both convolution kernels).
    pub conv_cases: u32,
    /// First-layer cases (3x3 on one channel, inputs up to 14x14).
    pub first_layer_cases: u32,
    /// Dense cases.
    pub dense_cases: u32,
    /// Global average pooling cases.
    pub global_avg_pool_cases: u32,
    /// Residual add cases.
    pub add_cases: u32,
    /// Output values compared.
    pub outputs: u64,
}

/// Natural parameters of one layer, at most [`MAX_OUT_C`] channels.
struct Natural {
    weights: [i8; MAX_WEIGHTS],
    bias: [i32; MAX_OUT_C],
    multiplier: [i32; MAX_OUT_C],
    shift: [u8; MAX_OUT_C],
    in_zp: i32,
    out_zp: i32,
    relu: bool,
}

impl Natural {
    /// Random weights in [-128, 127], biases that keep the accumulator bound,
    /// Q31 multipliers and shifts (mostly the quantizer's range, sometimes any).
    fn random(rng: &mut SplitMix64, out: usize, fan_in: usize) -> Self {
        let mut p = Self {
            weights: [0; MAX_WEIGHTS],
            bias: [0; MAX_OUT_C],
            multiplier: [0; MAX_OUT_C],
            shift: [0; MAX_OUT_C],
            in_zp: rng.range(-128, 127) as i32,
            out_zp: rng.range(-128, 127) as i32,
            relu: rng.range(0, 1) == 1,
        };
        for w in &mut p.weights[..out * fan_in] {
            *w = rng.range(-128, 127) as i8;
        }
        let row = layout::row_len(fan_in).unwrap_or(0) as i64;
        // The folded bias must keep |bias'| + row * 2^14 <= i32::MAX.
        let bias_max = (fan_in as i64 * 127 * 64).min((i64::from(i32::MAX) - row * 16384) / 2);
        for o in 0..out {
            p.bias[o] = rng.range(-bias_max, bias_max) as i32;
            let (m, s) = if rng.range(0, 8) == 0 {
                (rng.range(0, i64::from(i32::MAX)), rng.range(1, 62))
            } else {
                (rng.range(1 << 30, i64::from(i32::MAX)), rng.range(36, 46))
            };
            p.multiplier[o] = m as i32;
            p.shift[o] = s as u8;
        }
        p
    }

    fn reference(&self, out: usize, fan_in: usize) -> LayerParams<'_> {
        LayerParams {
            in_zp: self.in_zp,
            weights: &self.weights[..out * fan_in],
            bias: &self.bias[..out],
            multiplier: &self.multiplier[..out],
            shift: &self.shift[..out],
            out_zp: self.out_zp,
            relu: self.relu,
        }
    }
}

/// The same parameters as the file stores them.
struct Stored {
    weights: [u8; MAX_WEIGHTS],
    bias: [u8; 4 * MAX_OUT_C],
    multiplier: [u8; 4 * MAX_OUT_C],
    row: usize,
}

impl Stored {
    fn new(p: &Natural, kind: Kind, out: usize, fan_in: usize) -> Self {
        let row = layout::row_len(fan_in).unwrap_or(0);
        let mut s = Self {
            weights: [0; MAX_WEIGHTS],
            bias: [0; 4 * MAX_OUT_C],
            multiplier: [0; 4 * MAX_OUT_C],
            row,
        };
        layout::pack_weights(
            kind,
            &p.weights[..out * fan_in],
            out,
            fan_in,
            &mut s.weights[..out * row],
        );
        for o in 0..out {
            let w = &p.weights[o * fan_in..][..fan_in];
            let folded = layout::fold_bias(p.bias[o], p.in_zp, w).unwrap_or(0);
            s.bias[4 * o..][..4].copy_from_slice(&folded.to_le_bytes());
            s.multiplier[4 * o..][..4].copy_from_slice(&p.multiplier[o].to_le_bytes());
        }
        s
    }

    fn requant<'a>(&'a self, p: &'a Natural, out: usize) -> Requant<'a> {
        Requant {
            multiplier: I32Array::new(&self.multiplier[..4 * out]),
            shift: &p.shift[..out],
            zero_point: p.out_zp,
            min: if p.relu { p.out_zp } else { -128 },
        }
    }
}

fn compare(kernel: &'static str, seed: u64, fast: &[i8], expected: &[i8]) -> Result<(), Mismatch> {
    match fast.iter().zip(expected).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(index) => Err(Mismatch {
            kernel,
            seed,
            index,
            fast: fast[index],
            reference: expected[index],
        }),
    }
}

/// One random convolution (kernel 1, 3, 5 or 7, valid or same, patches
/// shorter and longer than the fast kernel's buffer) through the fast and the
/// direct kernel; returns the number of outputs compared.
pub fn conv_case(seed: u64) -> Result<usize, Mismatch> {
    let mut rng = SplitMix64::new(seed);
    let k = [1usize, 3, 5, 7][rng.range(0, 3) as usize];
    let same = rng.range(0, 1) == 1;
    let kind = rng.range(0, 4);
    let long = kind == 0;
    let (k, in_c) = match kind {
        // 3 * 3 * in_c > 576: the direct kernel's range.
        0 => (3, rng.range(65, 70) as usize),
        // Patches of 144..576, as in the shipped models' inner layers.
        1 => (3, rng.range(16, 64) as usize),
        _ => (k, rng.range(1, (12 / k).max(1) as i64 + 3) as usize),
    };
    let out_c = rng.range(1, MAX_OUT_C as i64) as usize;
    let extra = if long { 2 } else { 5 };
    let (h, w) = if same {
        (rng.range(1, 6) as usize, rng.range(1, 6) as usize)
    } else {
        (
            k + rng.range(0, extra) as usize,
            k + rng.range(0, extra) as usize,
        )
    };
    let padding = if same { Padding::Same } else { Padding::Valid };
    let shape = ConvShape::new(h, w, in_c, out_c, k, padding).expect("a valid geometry");
    conv_check(&mut rng, seed, shape)
}

/// One random first layer: a 3x3 convolution of one input channel (the
/// shape of every model's first layer, with its own kernels), valid or same,
/// inputs of 1x1 (same) or 3x3 (valid) to 14x14, 1 to 12 filters. The
/// models' own 28x28 first layers are checked end to end by the firmware's
/// bit-exact comparison with the host.
pub fn first_layer_case(seed: u64) -> Result<usize, Mismatch> {
    let mut rng = SplitMix64::new(seed);
    let same = rng.range(0, 1) == 1;
    let padding = if same { Padding::Same } else { Padding::Valid };
    let min = if same { 1 } else { 3 };
    let (h, w) = (rng.range(min, 14) as usize, rng.range(min, 14) as usize);
    let out_c = rng.range(1, MAX_OUT_C as i64) as usize;
    let shape = ConvShape::new(h, w, 1, out_c, 3, padding).expect("a valid geometry");
    conv_check(&mut rng, seed, shape)
}

/// Draws the parameters and the input of a convolution of `shape`, runs the
/// fast kernel (pooled half of the time where it can pool) and the direct
/// one, and compares both with the reference.
fn conv_check(rng: &mut SplitMix64, seed: u64, shape: ConvShape) -> Result<usize, Mismatch> {
    let out_c = shape.out_c;
    let fan_in = shape.patch_len();
    let (n_in, n_out) = (shape.in_len(), shape.out_len());
    assert!(n_in <= MAX_IN && n_out <= MAX_OUT && out_c * (fan_in + 3) <= MAX_WEIGHTS);

    let p = Natural::random(rng, out_c, fan_in);
    let mut input = [0i8; MAX_IN];
    for x in &mut input[..n_in] {
        *x = rng.next_u64() as i8;
    }
    let mut expected = [0i8; MAX_OUT];
    reference::conv2d(
        &shape,
        &p.reference(out_c, fan_in),
        &input[..n_in],
        &mut expected[..n_out],
    );
    let stored = Stored::new(&p, Kind::Conv, out_c, fan_in);
    let mut op = ConvOp {
        shape,
        row: stored.row,
        in_zp: p.in_zp,
        weights: I8Array::new(&stored.weights[..out_c * stored.row]),
        bias: I32Array::new(&stored.bias[..4 * out_c]),
        requant: stored.requant(&p, out_c),
        pool: false,
    };
    let mut out = [0i8; MAX_OUT];
    conv2d::conv2d_direct(&op, &input[..n_in], &mut out[..n_out]);
    compare("conv2d-direct", seed, &out[..n_out], &expected[..n_out])?;
    out.fill(0);
    if conv2d::can_fuse_pool(&shape, op.row) && rng.range(0, 1) == 1 {
        let pool = PoolShape {
            h: shape.out_h,
            w: shape.out_w,
            c: out_c,
        };
        let mut pooled = [0i8; MAX_OUT];
        reference::maxpool2x2(&pool, &expected[..n_out], &mut pooled[..pool.out_len()]);
        op.pool = true;
        let n = op.out_len();
        conv2d::conv2d(&op, &input[..n_in], &mut out[..n]);
        compare("conv2d+maxpool2d", seed, &out[..n], &pooled[..n])?;
        return Ok(2 * n_out);
    }
    conv2d::conv2d(&op, &input[..n_in], &mut out[..n_out]);
    compare("conv2d", seed, &out[..n_out], &expected[..n_out])?;
    Ok(2 * n_out)
}

/// One random dense layer (1..=600 inputs, 1..=12 outputs); returns the
/// number of outputs compared.
pub fn dense_case(seed: u64) -> Result<usize, Mismatch> {
    let mut rng = SplitMix64::new(seed);
    let n_in = rng.range(1, 600) as usize;
    let n_out = rng.range(1, MAX_OUT_C as i64) as usize;
    let p = Natural::random(&mut rng, n_out, n_in);
    let mut input = [0i8; MAX_IN];
    for x in &mut input[..n_in] {
        *x = rng.next_u64() as i8;
    }
    let mut expected = [0i8; MAX_OUT_C];
    reference::dense(
        &p.reference(n_out, n_in),
        &input[..n_in],
        &mut expected[..n_out],
    );
    let stored = Stored::new(&p, Kind::Dense, n_out, n_in);
    let op = DenseOp {
        n_in,
        n_out,
        row: stored.row,
        weights: I8Array::new(&stored.weights[..n_out * stored.row]),
        bias: I32Array::new(&stored.bias[..4 * n_out]),
        requant: stored.requant(&p, n_out),
    };
    let mut out = [0i8; MAX_OUT_C];
    dense::dense(&op, &input[..n_in], &mut out[..n_out]);
    compare("dense", seed, &out[..n_out], &expected[..n_out])?;
    // The same kernel with chunks of 8 inputs and batches of 4 rows, so that
    // the cases reach several chunks and batches.
    #[cfg(feature = "arm-dsp")]
    {
        out.fill(0);
        dense::dense_wide::<4, 4>(&op, &input[..n_in], &mut out[..n_out]);
        compare(
            "dense-small-chunks",
            seed,
            &out[..n_out],
            &expected[..n_out],
        )?;
    }
    Ok(n_out)
}

/// One random global average pool: 1x1 to 8x8 pixels of 1 to 64 channels,
/// or (one case in four) 16x16 to 24x24 pixels of 1 to 8 channels, more than
/// one 256-pixel run of the DSP kernel. Values uniform (half of the cases),
/// or only -128 and 127: all one of them (the largest sums, which overflow 16
/// bits beyond 256 pixels), or seven in eight one of them. The same input then
/// goes through the global mean with its own output quantization (random
/// parameters). Returns the number of outputs compared.
pub fn global_avg_pool_case(seed: u64) -> Result<usize, Mismatch> {
    let mut rng = SplitMix64::new(seed);
    let (side, channels) = if rng.range(0, 3) == 0 {
        ((16, 24), 8)
    } else {
        ((1, 8), 64)
    };
    let h = rng.range(side.0, side.1) as usize;
    let w = rng.range(side.0, side.1) as usize;
    let c = rng.range(1, channels) as usize;
    let shape = GlobalPoolShape::new(h, w, c).expect("a valid geometry");
    let n_in = shape.in_len();
    assert!(n_in <= MAX_IN && c <= MAX_OUT);
    let mode = rng.range(0, 3);
    let (main, other) = if rng.range(0, 1) == 0 {
        (-128, 127)
    } else {
        (127, -128)
    };
    let mut input = [0i8; MAX_IN];
    for x in &mut input[..n_in] {
        let r = rng.next_u64();
        *x = match mode {
            0 => main,
            1 if r.is_multiple_of(8) => other,
            1 => main,
            _ => r as i8,
        };
    }
    let mut expected = [0i8; MAX_OUT];
    reference::global_avg_pool(&shape, &input[..n_in], &mut expected[..c]);
    let mut out = [0i8; MAX_OUT];
    avgpool::global_avg_pool(&shape, &input[..n_in], &mut out[..c]);
    compare("globalavgpool", seed, &out[..c], &expected[..c])?;
    // The same sums requantized to a grid of their own (a global mean):
    // random zero points, a real multiplier of about 2^-2 to 2^-14 at its
    // quantizer's shift, or any multiplier and shift.
    let (multiplier, shift) = if rng.range(0, 1) == 0 {
        (rng.range(1 << 30, i64::from(i32::MAX)), rng.range(33, 45))
    } else {
        (rng.range(0, i64::from(i32::MAX)), rng.range(1, 62))
    };
    let p = MeanParams {
        in_zp: rng.range(-128, 127) as i32,
        multiplier: multiplier as i32,
        shift: shift as u8,
        out_zp: rng.range(-128, 127) as i32,
    };
    reference::global_mean(&shape, &p, &input[..n_in], &mut expected[..c]);
    avgpool::global_mean(&shape, &p, &input[..n_in], &mut out[..c]);
    compare("globalmean", seed, &out[..c], &expected[..c])?;
    Ok(2 * c)
}

/// One random residual add: 1 to 64 pixels of 1 to 32 channels, a shortcut
/// of as many channels or (one case in three) of any number from none to
/// as many; random
/// zero points and ReLU; multipliers anywhere in `[0, 2^31)` with any shift
/// (half of the cases), or real multipliers of about 0.25 to 2 at shifts 30 to
/// 34, as a quantizer makes them. Values uniform, or (one case in four) only
/// -128 and 127. Returns the number of outputs compared.
pub fn add_case(seed: u64) -> Result<usize, Mismatch> {
    let mut rng = SplitMix64::new(seed);
    let pixels = rng.range(1, 64) as usize;
    let c = rng.range(1, 32) as usize;
    let skip_c = if rng.range(0, 2) == 0 {
        rng.range(0, c as i64) as usize
    } else {
        c
    };
    let (multipliers, shift) = if rng.range(0, 1) == 0 {
        ((0, i64::from(i32::MAX)), rng.range(1, 62) as u8)
    } else {
        ((1 << 29, i64::from(i32::MAX)), rng.range(30, 34) as u8)
    };
    let relu = rng.range(0, 1) == 1;
    let out_zp = rng.range(-128, 127) as i32;
    let p = AddParams {
        main_zp: rng.range(-128, 127) as i32,
        skip_zp: rng.range(-128, 127) as i32,
        main_multiplier: rng.range(multipliers.0, multipliers.1) as i32,
        skip_multiplier: rng.range(multipliers.0, multipliers.1) as i32,
        shift,
        out_zp,
        relu,
    };
    let extremes = rng.range(0, 3) == 0;
    let value = |rng: &mut SplitMix64| {
        let r = rng.next_u64();
        match (extremes, r & 1) {
            (true, 0) => -128,
            (true, _) => 127,
            _ => r as i8,
        }
    };
    let n = pixels * c;
    assert!(n <= MAX_OUT);
    let mut main = [0i8; MAX_OUT];
    let mut skip = [0i8; MAX_IN];
    for x in &mut main[..n] {
        *x = value(&mut rng);
    }
    for x in &mut skip[..pixels * skip_c] {
        *x = value(&mut rng);
    }
    let mut expected = [0i8; MAX_OUT];
    reference::add(
        &p,
        c,
        skip_c,
        &main[..n],
        &skip[..pixels * skip_c],
        &mut expected[..n],
    );
    let op = AddOp {
        params: p,
        pixels,
        c,
        skip_c,
    };
    add::add_in_place(&op, &mut main[..n], &skip[..pixels * skip_c]);
    compare("add", seed, &main[..n], &expected[..n])?;
    Ok(n)
}

/// `cases` convolution, `cases` first-layer, `cases` dense, then `cases`
/// global average pooling and then `cases` residual add cases, seeds drawn
/// from `seed`; stops at the first mismatch.
pub fn run(seed: u64, cases: u32) -> Result<Summary, Mismatch> {
    let mut seeds = SplitMix64::new(seed);
    let mut summary = Summary::default();
    for _ in 0..cases {
        summary.outputs += conv_case(seeds.next_u64())? as u64;
        summary.conv_cases += 1;
        summary.outputs += first_layer_case(seeds.next_u64())? as u64;
        summary.first_layer_cases += 1;
        summary.outputs += dense_case(seeds.next_u64())? as u64;
        summary.dense_cases += 1;
    }
    // After the others, so that their seeds stay what they were.
    for _ in 0..cases {
        summary.outputs += global_avg_pool_case(seeds.next_u64())? as u64;
        summary.global_avg_pool_cases += 1;
    }
    for _ in 0..cases {
        summary.outputs += add_case(seeds.next_u64())? as u64;
        summary.add_cases += 1;
    }
    Ok(summary)
}
