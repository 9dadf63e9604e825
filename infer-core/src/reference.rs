//! The reference kernels: the one definition of the int8 arithmetic.
//!
//! Every function here is written straight from its formula, with plain loops
//! and explicit indices, and no attempt at speed. They are:
//!
//! - the **oracle** the fast kernels [`Model::logits`](crate::Model::logits)
//!   runs are tested against (property tests on random shapes and values, on
//!   the host and on the target), and
//! - what the host quantizer (`trainer::quantize`) runs to simulate the
//!   integer network while it calibrates, so that calibration and bias
//!   correction measure exactly what the device computes.
//!
//! Tensors are int8, laid out HWC (`[row][column][channel]`), as in the model
//! file. A layer's parameters are given as plain slices in [`LayerParams`].
//!
//! # Arithmetic
//!
//! For a convolution or dense layer, output channel `o` at one position is
//!
//! ```text
//! acc = bias[o] + sum_i w[o][i] * (x[i] - in_zp)                 (int32)
//! y   = clamp(out_zp + floor((acc * M[o] + 2^(n[o]-1)) / 2^n[o]), lo, 127)
//! lo  = out_zp if ReLU is fused, else -128
//! ```
//!
//! where the sum runs over the layer's input patch (see [`conv2d`] and
//! [`dense`]), `M[o] >= 0` is a Q31 multiplier and `n[o]` in `1..=62` a right
//! shift ([`requantize`]). The rounding is single, half up (toward +infinity).
//!
//! Max-pool ([`maxpool2x2`]) and global average pooling ([`global_avg_pool`])
//! have no parameters and keep the input quantization; the average rounds the
//! exact mean of each channel once, to the nearest integer with ties away from
//! zero.
//!
//! The residual add ([`add`]) rescales both of its inputs to the output's
//! scale with two multipliers that share one shift, sums exactly and rounds
//! once, half up, like the requantization above.
//!
//! # Invariants (the caller's side)
//!
//! [`Model::from_bytes`](crate::Model::from_bytes) proves all of these for
//! every layer of a file; a direct caller (the quantizer, a test) must keep
//! them:
//!
//! - slice lengths match the geometry (the functions panic otherwise, like
//!   slice indexing does);
//! - multipliers are `>= 0` and shifts in `1..=62`;
//! - `|bias[o]| + fan_in * 128 * 255 <= i32::MAX` for every channel (the file
//!   checks the tighter `127`, as its weights lie in `[-127, 127]`), so no
//!   accumulator overflows; a violation panics here instead of wrapping.

use crate::Padding;

/// Geometry of a stride-1 convolution with an odd square kernel.
///
/// Input `[in_h][in_w][in_c]`, weights `[out_c][k][k][in_c]` (OHWI), output
/// `[out_h][out_w][out_c]`. Build it with [`ConvShape::new`], which derives the
/// padding and output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvShape {
    /// Input rows.
    pub in_h: usize,
    /// Input columns.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel side (odd).
    pub k: usize,
    /// Padding on each side (0 for valid, `k / 2` for same).
    pub pad: usize,
    /// Output rows.
    pub out_h: usize,
    /// Output columns.
    pub out_w: usize,
}

impl ConvShape {
    /// The geometry of a `k x k` convolution with `out_c` filters on an
    /// `in_h x in_w x in_c` input; `None` for an even or zero kernel, zero
    /// output channels, or a valid-padded input smaller than the kernel.
    pub fn new(
        in_h: usize,
        in_w: usize,
        in_c: usize,
        out_c: usize,
        k: usize,
        padding: Padding,
    ) -> Option<Self> {
        if k.is_multiple_of(2) || out_c == 0 {
            return None;
        }
        let (pad, out_h, out_w) = match padding {
            Padding::Valid => (0, in_h.checked_sub(k)? + 1, in_w.checked_sub(k)? + 1),
            Padding::Same => (k / 2, in_h, in_w),
        };
        Some(Self {
            in_h,
            in_w,
            in_c,
            out_c,
            k,
            pad,
            out_h,
            out_w,
        })
    }

    /// `k * k * in_c`, the number of terms per accumulator.
    pub fn patch_len(&self) -> usize {
        self.k * self.k * self.in_c
    }

    /// Input length `in_h * in_w * in_c`.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Output length `out_h * out_w * out_c`.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.out_c
    }
}

/// Geometry of a 2x2, stride-2 max-pool on an `h x w x c` input (`h, w >= 2`).
///
/// The output is `[h / 2][w / 2][c]`: an odd last row or column is dropped,
/// as in PyTorch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PoolShape {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl PoolShape {
    /// Output rows.
    pub fn out_h(&self) -> usize {
        self.h / 2
    }

    /// Output columns.
    pub fn out_w(&self) -> usize {
        self.w / 2
    }

    /// Input length `h * w * c`.
    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// Output length.
    pub fn out_len(&self) -> usize {
        self.out_h() * self.out_w() * self.c
    }
}

/// Most pixels (`h * w`) a global average pool may average: every sum of
/// `h * w` int8 values then fits an i32 with room to spare (`128 * 65535 <
/// 2^23`). The models' 28x28 input keeps every tensor at 784 pixels or fewer.
pub const MAX_POOL_PIXELS: usize = 65535;

/// Geometry of a global average pool on an `h x w x c` input: the output is
/// `[c]`, each channel's mean over the `h * w` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GlobalPoolShape {
    /// Input rows.
    pub h: usize,
    /// Input columns.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl GlobalPoolShape {
    /// The geometry of a global average pool on an `h x w x c` input; `None`
    /// unless `h, w, c >= 1` and `h * w <= MAX_POOL_PIXELS`.
    pub fn new(h: usize, w: usize, c: usize) -> Option<Self> {
        let pixels = h.checked_mul(w)?;
        if h == 0 || w == 0 || c == 0 || pixels > MAX_POOL_PIXELS {
            return None;
        }
        Some(Self { h, w, c })
    }

    /// Pixels averaged per channel, `h * w`.
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// Input length `h * w * c`.
    pub fn in_len(&self) -> usize {
        self.pixels() * self.c
    }

    /// Output length `c`.
    pub fn out_len(&self) -> usize {
        self.c
    }
}

/// The parameters of one convolution or dense layer, as plain slices.
///
/// `weights` holds `out_c` rows of `fan_in` values (OHWI for a convolution,
/// `[out][in]` for a dense layer); `bias`, `multiplier` and `shift` hold one
/// value per output channel.
#[derive(Debug, Clone, Copy)]
pub struct LayerParams<'a> {
    /// Zero point of the input tensor.
    pub in_zp: i32,
    /// Weights, `out_c * fan_in` values.
    pub weights: &'a [i8],
    /// Bias per output channel (scale `input_scale * weight_scale[o]`).
    pub bias: &'a [i32],
    /// Q31 multiplier per output channel, each `>= 0`.
    pub multiplier: &'a [i32],
    /// Right shift per output channel, each in `1..=62`.
    pub shift: &'a [u8],
    /// Zero point of the output tensor.
    pub out_zp: i32,
    /// Whether ReLU is fused (outputs are clamped below at `out_zp`).
    pub relu: bool,
}

impl LayerParams<'_> {
    /// `acc` (bias included) of output channel `o` requantized to int8.
    pub fn requantize(&self, o: usize, acc: i32) -> i8 {
        let min = if self.relu { self.out_zp } else { -128 };
        requantize(acc, self.multiplier[o], self.shift[o], self.out_zp, min)
    }
}

/// The input quantization every model uses: `q = pixel - 128` (scale 1/255,
/// zero point -128), for each pixel of `pixels` into `out`.
///
/// # Panics
/// If `out` is shorter than `pixels`.
pub fn quantize_input(pixels: &[u8], out: &mut [i8]) {
    for (q, &p) in out[..pixels.len()].iter_mut().zip(pixels) {
        *q = (i16::from(p) - 128) as i8;
    }
}

/// `clamp(zero_point + round_half_up(acc * multiplier * 2^-shift), min, 127)`.
///
/// Computed as `floor((acc * multiplier + 2^(shift-1)) / 2^shift)` in i64:
/// with `|acc| <= 2^31` and `0 <= multiplier < 2^31`, `|acc * multiplier| <
/// 2^62`, and adding `2^(shift-1) <= 2^61` stays below `2^63`, so nothing
/// overflows. `>>` on a signed value is a floor division.
///
/// Preconditions: `multiplier >= 0`, `1 <= shift <= 62`, `-128 <= min <= 127`.
pub fn requantize(acc: i32, multiplier: i32, shift: u8, zero_point: i32, min: i32) -> i8 {
    let prod = i64::from(acc) * i64::from(multiplier);
    let rounded = (prod + (1i64 << (shift - 1))) >> shift;
    (rounded + i64::from(zero_point)).clamp(i64::from(min), 127) as i8
}

/// The bias-free accumulator `sum w[o][dy][dx][c] * (in[y+dy-p][x+dx-p][c] - in_zp)`
/// of one output of a convolution; taps outside the input contribute 0 (they
/// are the zero point, real zero).
fn conv_sum(
    s: &ConvShape,
    in_zp: i32,
    weights: &[i8],
    input: &[i8],
    y: usize,
    x: usize,
    o: usize,
) -> i64 {
    let mut acc = 0i64;
    for dy in 0..s.k {
        for dx in 0..s.k {
            let iy = y as i64 + dy as i64 - s.pad as i64;
            let ix = x as i64 + dx as i64 - s.pad as i64;
            if iy < 0 || ix < 0 || iy >= s.in_h as i64 || ix >= s.in_w as i64 {
                continue;
            }
            for c in 0..s.in_c {
                let xv = input[(iy as usize * s.in_w + ix as usize) * s.in_c + c];
                let wv = weights[((o * s.k + dy) * s.k + dx) * s.in_c + c];
                acc += i64::from(wv) * (i64::from(xv) - i64::from(in_zp));
            }
        }
    }
    acc
}

/// The bias-free accumulator of output `o` of a dense layer:
/// `sum_i w[o][i] * (x[i] - in_zp)`.
fn dense_sum(in_zp: i32, weights: &[i8], input: &[i8], o: usize) -> i64 {
    let row = &weights[o * input.len()..][..input.len()];
    row.iter()
        .zip(input)
        .map(|(&w, &x)| i64::from(w) * (i64::from(x) - i64::from(in_zp)))
        .sum()
}

/// An accumulator known (by the module's invariants) to fit an i32.
fn to_i32(acc: i64) -> i32 {
    i32::try_from(acc).expect("accumulator beyond i32: the bias/fan-in bound was not kept")
}

/// Convolution without bias or requantization: `acc[y][x][o]` (HWC, `out_len()`
/// values) receives the bias-free accumulator of each output.
///
/// The quantizer uses it to measure the integer network's mean pre-activation
/// for bias correction.
///
/// # Panics
/// If a slice is shorter than the shape says, or an accumulator overflows i32.
pub fn conv2d_accumulators(
    s: &ConvShape,
    in_zp: i32,
    weights: &[i8],
    input: &[i8],
    acc: &mut [i32],
) {
    for y in 0..s.out_h {
        for x in 0..s.out_w {
            for o in 0..s.out_c {
                acc[(y * s.out_w + x) * s.out_c + o] =
                    to_i32(conv_sum(s, in_zp, weights, input, y, x, o));
            }
        }
    }
}

/// Stride-1 convolution with fused requantization (and ReLU):
///
/// ```text
/// out[y][x][o] = requant_o(bias[o] + sum_{dy,dx,c} w[o][dy][dx][c] * (in[y+dy-p][x+dx-p][c] - in_zp))
/// ```
///
/// with `p` = [`ConvShape::pad`]; taps outside the input contribute 0.
///
/// # Panics
/// If a slice is shorter than the shape says, or an accumulator overflows i32.
pub fn conv2d(s: &ConvShape, p: &LayerParams<'_>, input: &[i8], output: &mut [i8]) {
    for y in 0..s.out_h {
        for x in 0..s.out_w {
            for o in 0..s.out_c {
                let acc = conv_sum(s, p.in_zp, p.weights, input, y, x, o) + i64::from(p.bias[o]);
                output[(y * s.out_w + x) * s.out_c + o] = p.requantize(o, to_i32(acc));
            }
        }
    }
}

/// Dense layer without bias or requantization: `acc[o] = sum_i w[o][i] * (x[i] - in_zp)`
/// for `o < acc.len()`, with `input.len()` inputs per row.
///
/// # Panics
/// If `weights` holds fewer than `acc.len() * input.len()` values, or an
/// accumulator overflows i32.
pub fn dense_accumulators(in_zp: i32, weights: &[i8], input: &[i8], acc: &mut [i32]) {
    for (o, a) in acc.iter_mut().enumerate() {
        *a = to_i32(dense_sum(in_zp, weights, input, o));
    }
}

/// Fully connected layer with fused requantization (and ReLU):
/// `out[o] = requant_o(bias[o] + sum_i w[o][i] * (x[i] - in_zp))` for
/// `o < output.len()`, weights row-major `[out][in]` with `input.len()` inputs.
///
/// # Panics
/// If a parameter slice is shorter than the shapes say, or an accumulator
/// overflows i32.
pub fn dense(p: &LayerParams<'_>, input: &[i8], output: &mut [i8]) {
    for (o, y) in output.iter_mut().enumerate() {
        let acc = dense_sum(p.in_zp, p.weights, input, o) + i64::from(p.bias[o]);
        *y = p.requantize(o, to_i32(acc));
    }
}

/// 2x2, stride-2 max-pool: `out[y][x][c] = max over dy, dx in {0, 1} of
/// in[2y+dy][2x+dx][c]`. Max-pool commutes with the monotonic quantization
/// map, so it works on the int8 values and keeps the input's quantization.
///
/// # Panics
/// If `input` or `output` is shorter than the shape says.
pub fn maxpool2x2(s: &PoolShape, input: &[i8], output: &mut [i8]) {
    for y in 0..s.out_h() {
        for x in 0..s.out_w() {
            for c in 0..s.c {
                let mut m = i8::MIN;
                for dy in 0..2 {
                    for dx in 0..2 {
                        m = m.max(input[((2 * y + dy) * s.w + 2 * x + dx) * s.c + c]);
                    }
                }
                output[(y * s.out_w() + x) * s.c + c] = m;
            }
        }
    }
}

/// Global average pool: `out[c] = round(sum_{y,x} in[y][x][c] / (h * w))`,
/// rounded to the nearest integer, **ties away from zero** (as TFLite's int8
/// average pool), computed exactly in integers:
///
/// ```text
/// q = sign(s) * floor((2 * |s| + n) / (2 * n)),   s = sum of the n = h * w values
/// ```
///
/// The mean of int8 values is an int8 value, so the result needs no clamp,
/// and the output keeps the input's quantization: `scale * (q - zp)` is the
/// real mean, rounded to the grid.
///
/// # Panics
/// If `input` or `output` is shorter than the shape says.
pub fn global_avg_pool(s: &GlobalPoolShape, input: &[i8], output: &mut [i8]) {
    let n = s.pixels() as i64;
    for c in 0..s.c {
        let mut sum = 0i64;
        for y in 0..s.h {
            for x in 0..s.w {
                sum += i64::from(input[(y * s.w + x) * s.c + c]);
            }
        }
        let q = sum.signum() * ((2 * sum.abs() + n) / (2 * n));
        output[c] = i8::try_from(q).expect("the mean of int8 values is an int8 value");
    }
}

/// The parameters of a global mean with its own output quantization (see
/// [`global_mean`]): the file's [`GlobalMean`](crate::GlobalMean) plus the
/// input zero point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MeanParams {
    /// Zero point of the input.
    pub in_zp: i32,
    /// `M`, `>= 0`: `in_scale / (n * out_scale) = M * 2^-shift`.
    pub multiplier: i32,
    /// The right shift, in `1..=62`.
    pub shift: u8,
    /// Zero point of the output.
    pub out_zp: i32,
}

/// Global mean with its own output quantization (TFLite's int8 MEAN over the
/// rows and columns): `out[c] = requantize(sum_{y,x} (in[y][x][c] - in_zp))`
/// with the multiplier `in_scale / (n * out_scale)`, `n = h * w`, i.e.
///
/// ```text
/// y = clamp(out_zp + floor((s * M + 2^(shift-1)) / 2^shift), -128, 127),   s = sum (x - in_zp)
/// ```
///
/// one rounding, half up, as [`requantize`]. `|s| <= 255 * MAX_POOL_PIXELS`
/// fits an i32.
///
/// # Panics
/// If `input` or `output` is shorter than the shape says.
pub fn global_mean(s: &GlobalPoolShape, p: &MeanParams, input: &[i8], output: &mut [i8]) {
    for c in 0..s.c {
        let mut sum = 0i64;
        for y in 0..s.h {
            for x in 0..s.w {
                sum += i64::from(input[(y * s.w + x) * s.c + c]) - i64::from(p.in_zp);
            }
        }
        output[c] = requantize(to_i32(sum), p.multiplier, p.shift, p.out_zp, -128);
    }
}

/// The parameters of a residual add (see [`add`]); the file's
/// [`Add`](crate::Add) plus the two input zero points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddParams {
    /// Zero point of the main path (the current tensor).
    pub main_zp: i32,
    /// Zero point of the shortcut (the kept tensor).
    pub skip_zp: i32,
    /// The main path's multiplier, `>= 0`.
    pub main_multiplier: i32,
    /// The shortcut's multiplier, `>= 0`.
    pub skip_multiplier: i32,
    /// The shared right shift, in `1..=62`.
    pub shift: u8,
    /// Zero point of the output.
    pub out_zp: i32,
    /// Whether ReLU is fused (outputs are clamped below at `out_zp`).
    pub relu: bool,
}

impl AddParams {
    /// One output value from a main-path value `a` and a shortcut value `s`
    /// (`None` for a channel the shortcut does not have: real zero).
    pub fn apply(&self, a: i8, s: Option<i8>) -> i8 {
        let main = (i64::from(a) - i64::from(self.main_zp)) * i64::from(self.main_multiplier);
        let skip = s.map_or(0, |s| {
            (i64::from(s) - i64::from(self.skip_zp)) * i64::from(self.skip_multiplier)
        });
        let rounded = (main + skip + (1i64 << (self.shift - 1))) >> self.shift;
        let min = if self.relu { self.out_zp } else { -128 };
        (rounded + i64::from(self.out_zp)).clamp(i64::from(min), 127) as i8
    }
}

/// Residual add of a shortcut `skip` (`pixels x skip_c`, HWC) to the main
/// path `main` (`pixels x c`, HWC, `skip_c <= c`), into `out` (`pixels x c`):
///
/// ```text
/// acc = (a - main_zp) * M_a + (s - skip_zp) * M_s      (exact, i64)
/// y   = clamp(out_zp + floor((acc + 2^(n-1)) / 2^n), lo, 127)
/// ```
///
/// with `s - skip_zp = 0` (real zero) for channels `skip_c..c`, and `lo` =
/// `out_zp` with fused ReLU, else -128. With `|a - zp| <= 255` and `M < 2^31`
/// the sum stays below `2^40`, so nothing overflows.
///
/// # Panics
/// If a slice is shorter than the shapes say, `skip_c > c` or `c == 0`.
pub fn add(p: &AddParams, c: usize, skip_c: usize, main: &[i8], skip: &[i8], out: &mut [i8]) {
    assert!(skip_c <= c && c > 0, "the shortcut has more channels");
    for (pixel, (a, y)) in main
        .chunks_exact(c)
        .zip(out.chunks_exact_mut(c))
        .enumerate()
    {
        for ch in 0..c {
            let s = (ch < skip_c).then(|| skip[pixel * skip_c + ch]);
            y[ch] = p.apply(a[ch], s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_avg_pool_rounds_ties_away_from_zero() {
        // Hand-computed: 2x1 pixels, four channels with sums 3, -3, 5, -256
        // over n = 2: 1.5 -> 2, -1.5 -> -2, 2.5 -> 3, -128 exactly.
        let s = GlobalPoolShape::new(2, 1, 4).unwrap();
        let input = [1, -1, 2, -128, 2, -2, 3, -128];
        let mut out = [0i8; 4];
        global_avg_pool(&s, &input, &mut out);
        assert_eq!(out, [2, -2, 3, -128]);
        // Three pixels (no ties): sums 4, -4, 381 over 3: 1.33 -> 1, -1.33 -> -1, 127.
        let s = GlobalPoolShape::new(1, 3, 3).unwrap();
        let input = [1, -1, 127, 1, -1, 127, 2, -2, 127];
        let mut out = [0i8; 3];
        global_avg_pool(&s, &input, &mut out);
        assert_eq!(out, [1, -1, 127]);
        assert!(GlobalPoolShape::new(0, 3, 1).is_none());
        assert!(GlobalPoolShape::new(3, 3, 0).is_none());
        assert!(GlobalPoolShape::new(256, 257, 1).is_none());
        assert_eq!(
            GlobalPoolShape::new(255, 257, 2).unwrap().in_len(),
            2 * 65535
        );
    }

    #[test]
    fn ties_round_up() {
        // M = 2^30, n = 31: real multiplier exactly 0.5.
        let m = 1 << 30;
        assert_eq!(requantize(3, m, 31, 0, -128), 2); // 1.5 -> 2
        assert_eq!(requantize(-3, m, 31, 0, -128), -1); // -1.5 -> -1
        assert_eq!(requantize(-300, m, 31, 0, -128), -128);
        assert_eq!(requantize(-3, m, 31, 5, 5), 5);
    }

    #[test]
    fn input_quantization_is_pixel_minus_128() {
        let mut out = [0i8; 3];
        quantize_input(&[0, 128, 255], &mut out);
        assert_eq!(out, [-128, 0, 127]);
    }

    #[test]
    fn conv_shape_rules() {
        let s = ConvShape::new(28, 28, 1, 32, 3, Padding::Valid).unwrap();
        assert_eq!((s.out_h, s.out_w, s.pad, s.patch_len()), (26, 26, 0, 9));
        let s = ConvShape::new(2, 3, 4, 5, 5, Padding::Same).unwrap();
        assert_eq!((s.out_h, s.out_w, s.pad), (2, 3, 2));
        assert!(ConvShape::new(2, 3, 1, 1, 3, Padding::Valid).is_none());
        assert!(ConvShape::new(28, 28, 1, 1, 2, Padding::Same).is_none());
        assert!(ConvShape::new(28, 28, 1, 0, 3, Padding::Same).is_none());
    }

    #[test]
    fn accumulators_plus_bias_requantize_to_the_layer() {
        // Hand-computed dense layer: x - zp = [3, -1, 0], w = [[1, 2, 3],
        // [-4, 5, -6]], bias [10, -20] -> acc [11, -37]; multiplier 0.5:
        // [5.5 -> 6, -18.5 -> -18]; out_zp 1 -> [7, -17].
        let w = [1i8, 2, 3, -4, 5, -6];
        let input = [1i8, -3, -2];
        let mut acc = [0i32; 2];
        dense_accumulators(-2, &w, &input, &mut acc);
        assert_eq!(acc, [1, -17]);
        let p = LayerParams {
            in_zp: -2,
            weights: &w,
            bias: &[10, -20],
            multiplier: &[1 << 30; 2],
            shift: &[31, 31],
            out_zp: 1,
            relu: false,
        };
        let mut out = [0i8; 2];
        dense(&p, &input, &mut out);
        assert_eq!(out, [7, -17]);
    }
}
