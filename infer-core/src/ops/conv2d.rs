//! 2-D convolution, stride 1, odd square kernel, valid or same padding.
//!
//! Input `[H][W][C]`, weights one stored row per output channel (the OHWI
//! row `[k][k][C]` padded to a multiple of four, see
//! [`layout`](crate::layout)), output `[H'][W'][O]`:
//!
//! ```text
//! out[y][x][o] = requant_o(bias[o] + sum_{dy,dx,c} w[o][dy][dx][c] * in[y+dy-p][x+dx-p][c])
//! ```
//!
//! with `p = 0` (valid, `H' = H - k + 1`) or `p = k / 2` (same, `H' = H`).
//! The bias holds the folded input zero point, so taps outside the input take
//! the zero point's value (real zero).
//!
//! The fast kernel gathers the patches of four output pixels (zero point in
//! the padding), widens them to i16 once ([`dot::widen`]) and dots every filter
//! row with all four ([`dot::dot4`]): each weight word is loaded once per four
//! pixels. Rows longer than [`PATCH_MAX`] use a direct loop instead.
//!
//! With [`ConvOp::pool`] a 2x2 max-pool (stride 2) runs fused: each group
//! of four pixels is one pooling window, the largest accumulator of the four
//! is requantized once and written to the pooled output. Requantization is
//! monotonic (multipliers are non-negative, rounding and clamping keep
//! order), so this is exactly the max-pool of the four int8 outputs.
//!
//! Overflow: `Model::from_bytes` bounds `|bias| + row * 2^14` by `i32::MAX`
//! (`|w * x| <= 2^14`), so no partial sum overflows.

use super::dot::{self, PATCH_MAX, PIXELS, PatchBuf, SMALL_ROW};
use super::requant::Channel;
use super::requant::Requant;
use crate::layout::GROUP;
use crate::reference::ConvShape;
use crate::{I8Array, I32Array};

/// A validated convolution: parameter lengths match the shape.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ConvOp<'a> {
    /// Geometry.
    pub shape: ConvShape,
    /// Stored row length: `patch_len()` rounded up to a multiple of four.
    pub row: usize,
    /// Input zero point (the value of padded taps).
    pub in_zp: i32,
    /// Weights, `out_c` stored rows.
    pub weights: I8Array<'a>,
    /// Bias per output channel, input zero point folded in.
    pub bias: I32Array<'a>,
    /// Requantization.
    pub requant: Requant<'a>,
    /// A 2x2 max-pool follows, fused (only where [`can_fuse_pool`] holds).
    pub pool: bool,
}

impl ConvOp<'_> {
    /// Output values: `shape.out_len()`, or a quarter of it when pooled.
    pub fn out_len(&self) -> usize {
        if self.pool {
            self.shape.out_len() / 4
        } else {
            self.shape.out_len()
        }
    }
}

/// Whether the fast kernels can run a 2x2 max-pool fused after this
/// convolution: an even output height and width (no dropped last row or
/// column) and a row the patch or small kernel takes.
pub(crate) fn can_fuse_pool(shape: &ConvShape, row: usize) -> bool {
    shape.out_h.is_multiple_of(2) && shape.out_w.is_multiple_of(2) && row <= PATCH_MAX
}

/// Fast kernel: `input.len() == shape.in_len()`, `output.len() == out_len()`.
pub(crate) fn conv2d(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    debug_assert!(!op.pool || can_fuse_pool(&op.shape, op.row));
    if op.row == SMALL_ROW && op.shape.out_c <= SMALL_ROW_CHANNELS {
        #[cfg(feature = "arm-dsp")]
        if window_fits(&op.shape) {
            conv2d_window(op, input, output);
            return;
        }
        conv2d_small(op, input, output);
    } else if op.row <= PATCH_MAX {
        conv2d_patch(op, input, output);
    } else {
        conv2d_direct(op, input, output);
    }
}

/// Writes the patch of output pixel `(oy, ox)` into `dst` (one stored row):
/// input values, the zero point for taps outside the input and for the row's
/// padding.
#[inline(always)]
fn gather(op: &ConvOp<'_>, input: &[i8], oy: usize, ox: usize, dst: &mut [i8]) {
    let s = &op.shape;
    let (k, c) = (s.k, s.in_c);
    let kc = k * c;
    let row_len = s.in_w * c;
    let zp = op.in_zp as i8;
    let (taps, pad) = dst.split_at_mut(k * kc);
    pad.fill(zp);
    for (ky, dst) in taps.chunks_exact_mut(kc.max(1)).enumerate() {
        // Wraps to a huge value above the top edge.
        let iy = (oy + ky).wrapping_sub(s.pad);
        if iy >= s.in_h {
            dst.fill(zp);
            continue;
        }
        let row = &input[iy * row_len..][..row_len];
        let x0 = ox.wrapping_sub(s.pad);
        if x0 < s.in_w && x0 + k <= s.in_w {
            // Whole kernel row inside the input: one contiguous copy.
            dst.copy_from_slice(&row[x0 * c..][..kc]);
        } else {
            for (kx, d) in dst.chunks_exact_mut(c.max(1)).enumerate() {
                let ix = (ox + kx).wrapping_sub(s.pad);
                if ix < s.in_w {
                    d.copy_from_slice(&row[ix * c..][..c]);
                } else {
                    d.fill(zp);
                }
            }
        }
    }
}

/// Puts the patch of output pixel `(oy, ox)` into pixel slot `p` of `buf`:
/// input values, the zero point for taps outside the input. With a multiple
/// of four input channels every kernel row and column is made of whole groups
/// and goes from the input straight into the buffer; otherwise the patch is
/// gathered into `raw` (one stored row) first.
#[inline(always)]
fn patch(
    op: &ConvOp<'_>,
    input: &[i8],
    oy: usize,
    ox: usize,
    p: usize,
    buf: &mut PatchBuf,
    raw: &mut [i8],
) {
    let s = &op.shape;
    let (k, c) = (s.k, s.in_c);
    if !c.is_multiple_of(GROUP) {
        gather(op, input, oy, ox, raw);
        buf.widen(p, 0, raw);
        return;
    }
    let zp = op.in_zp as i8;
    let (kc, cg) = (k * c, c / GROUP);
    let row_len = s.in_w * c;
    let mut g = 0;
    for ky in 0..k {
        // Wraps to a huge value above the top edge.
        let iy = (oy + ky).wrapping_sub(s.pad);
        if iy >= s.in_h {
            buf.fill(p, g, k * cg, zp);
            g += k * cg;
            continue;
        }
        let row = &input[iy * row_len..][..row_len];
        let x0 = ox.wrapping_sub(s.pad);
        if x0 < s.in_w && x0 + k <= s.in_w {
            // Whole kernel row inside the input.
            buf.widen(p, g, &row[x0 * c..][..kc]);
            g += k * cg;
            continue;
        }
        for kx in 0..k {
            let ix = (ox + kx).wrapping_sub(s.pad);
            if ix < s.in_w {
                buf.widen(p, g, &row[ix * c..][..c]);
            } else {
                buf.fill(p, g, cg, zp);
            }
            g += cg;
        }
    }
}

/// The output pixel of slot `p` of group `first`: groups are four
/// consecutive pixels, or with pooling the 2x2 window `first` (top-left,
/// top-right, bottom-left, bottom-right).
#[inline(always)]
fn pixel(s: &ConvShape, pool: bool, first: usize, p: usize) -> (usize, usize) {
    if pool {
        let pw = s.out_w / 2;
        (2 * (first / pw) + p / 2, 2 * (first % pw) + p % 2)
    } else {
        let q = first * PIXELS + p;
        (q / s.out_w, q % s.out_w)
    }
}

/// Patch-buffer kernel (`row <= PATCH_MAX`): four output pixels at a time
/// (one pooling window when pooled); without pooling the last group repeats
/// its last pixel and discards the copies.
#[inline(never)]
fn conv2d_patch(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    let s = &op.shape;
    let row = op.row;
    let pixels = s.out_h * s.out_w;
    let groups = if op.pool {
        pixels / 4
    } else {
        pixels.div_ceil(PIXELS)
    };
    let mut raw = [0i8; PATCH_MAX];
    let raw = &mut raw[..row];
    let mut buf = PatchBuf::new(row);
    for g in 0..groups {
        let count = if op.pool {
            PIXELS
        } else {
            PIXELS.min(pixels - g * PIXELS)
        };
        for p in 0..PIXELS {
            let (oy, ox) = pixel(s, op.pool, g, p.min(count - 1));
            patch(op, input, oy, ox, p, &mut buf, raw);
        }
        if op.pool {
            let out = &mut output[g * s.out_c..][..s.out_c];
            filter_dots(op, &mut buf, |o, acc| {
                let max = acc[0].max(acc[1]).max(acc[2].max(acc[3]));
                out[o] = op.requant.channel(o).apply(max);
            });
        } else {
            let out = &mut output[g * PIXELS * s.out_c..][..count * s.out_c];
            filter_dots(op, &mut buf, |o, acc| {
                op.requant
                    .channel(o)
                    .apply_strided(acc, count, &mut out[o..], s.out_c);
            });
        }
    }
}

/// Dots every filter row of `op` with the four patches of `buf`:
/// `each(o, [acc of slot 0, 1, 2, 3])`, bias included.
#[inline(always)]
fn filter_dots(op: &ConvOp<'_>, buf: &mut PatchBuf, mut each: impl FnMut(usize, &[i32; PIXELS])) {
    let row = op.row;
    let out_c = op.shape.out_c;
    let weights = &op.weights.as_bytes()[..out_c * row];
    // x86: two rows per pass, then the odd last row as below.
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
    let (o0, weights) = {
        let pairs = out_c / 2;
        let (two, rest) = weights.split_at(2 * row * pairs);
        for (i, w) in two.chunks_exact(2 * row).enumerate() {
            let o = 2 * i;
            let (w0, w1) = w.split_at(row);
            let acc = dot::dot4x2(w0, w1, buf, [op.bias.at(o), op.bias.at(o + 1)]);
            each(o, &acc[0]);
            each(o + 1, &acc[1]);
        }
        (2 * pairs, rest)
    };
    #[cfg(not(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp"))))]
    let o0 = 0;
    for (o, w) in weights.chunks_exact(row).enumerate() {
        let o = o0 + o;
        let acc = dot::dot4(w, buf, op.bias.at(o));
        each(o, &acc);
    }
}

/// Most filters [`conv2d_small`] handles (its per-channel tables live on the
/// stack).
const SMALL_ROW_CHANNELS: usize = dot::SMALL_ROW_FILTERS;

/// Kernel for rows of [`SMALL_ROW`] (3x3 on one channel, every model's first
/// layer): one pixel at a time, its patch in registers for all filters, the
/// channels' requantization decoded once per layer. Pooled: the four pixels
/// of a window, then the largest of each channel's four accumulators.
#[inline(never)]
fn conv2d_small(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    let s = &op.shape;
    let out_c = s.out_c;
    let mut channels = [Channel::default(); SMALL_ROW_CHANNELS];
    let mut bias = [0i32; SMALL_ROW_CHANNELS];
    for o in 0..out_c {
        channels[o] = op.requant.channel(o);
        bias[o] = op.bias.at(o);
    }
    let (channels, bias) = (&channels[..out_c], &bias[..out_c]);
    let rows = dot::Rows12::new(&op.weights.as_bytes()[..SMALL_ROW * out_c]);
    // The padding value in the three padding taps of every patch.
    let mut patches = [[op.in_zp as i8; SMALL_ROW]; PIXELS];
    let mut acc = [[0i32; SMALL_ROW_CHANNELS]; PIXELS];
    let mut max = [0i32; SMALL_ROW_CHANNELS];
    let slots = if op.pool { PIXELS } else { 1 };
    // 3x3 on one channel within a `PaddedImage`: patches from its rows.
    let padded = (s.k == 3 && s.in_c == 1)
        .then(|| PaddedImage::new(op, input))
        .flatten();
    for (g, out) in output.chunks_exact_mut(out_c).enumerate() {
        for (p, patch) in patches[..slots].iter_mut().enumerate() {
            let (oy, ox) = if op.pool {
                pixel(s, true, g, p)
            } else {
                (g / s.out_w, g % s.out_w)
            };
            match &padded {
                Some(img) => img.patch(oy, ox, patch),
                None => gather(op, input, oy, ox, patch),
            }
        }
        let sums = if op.pool {
            rows.dot_max4(&patches, &mut acc, &mut max);
            &max
        } else {
            rows.dot(&patches[0], &mut acc[0]);
            &acc[0]
        };
        for ((y, (&m, &b)), ch) in out.iter_mut().zip(sums.iter().zip(bias)).zip(channels) {
            *y = ch.apply(m + b);
        }
    }
}

/// Side of a [`PaddedImage`].
const PADDED_SIDE: usize = 32;

/// A one-channel input with its padding (the zero point) around it, so that
/// [`conv2d_small`] reads each patch as three 3-byte rows without edge cases.
struct PaddedImage {
    values: [i8; PADDED_SIDE * PADDED_SIDE],
}

impl PaddedImage {
    /// The padded input of `op` (one channel), or `None` if it does not fit.
    fn new(op: &ConvOp<'_>, input: &[i8]) -> Option<Self> {
        let s = &op.shape;
        let (w, pad) = (s.in_w, s.pad);
        if s.in_h + 2 * pad > PADDED_SIDE || w + 2 * pad > PADDED_SIDE {
            return None;
        }
        let mut img = Self {
            values: [op.in_zp as i8; PADDED_SIDE * PADDED_SIDE],
        };
        for (src, dst) in input[..s.in_h * w]
            .chunks_exact(w)
            .zip(img.values[pad * PADDED_SIDE..].chunks_exact_mut(PADDED_SIDE))
        {
            dst[pad..pad + w].copy_from_slice(src);
        }
        Some(img)
    }

    /// The first 9 values of the patch of output pixel `(oy, ox)`.
    #[inline(always)]
    fn patch(&self, oy: usize, ox: usize, patch: &mut [i8; SMALL_ROW]) {
        let at = oy * PADDED_SIDE + ox;
        for (ky, dst) in patch[..9].chunks_exact_mut(3).enumerate() {
            dst.copy_from_slice(&self.values[at + ky * PADDED_SIDE..][..3]);
        }
    }
}

/// Whether [`conv2d_window`] takes a 3x3 one-channel convolution of this
/// shape: an even output height and width, the padded input within a
/// [`WindowImage`](dot::WindowImage).
#[cfg(feature = "arm-dsp")]
fn window_fits(s: &ConvShape) -> bool {
    s.k == 3
        && s.in_c == 1
        && s.out_h.is_multiple_of(2)
        && s.out_w.is_multiple_of(2)
        && s.in_h + 2 * s.pad <= dot::WINDOW_ROWS
        && s.in_w + 2 * s.pad <= dot::WINDOW_STRIDE
}

/// DSP kernel for 3x3 one-channel convolutions ([`window_fits`]): the padded
/// input widened to i16 once, then each 2x2 window of output pixels for every
/// filter from pair words ([`dot::windows`]); pooled and with every shift
/// above 32, max-pool and requantization in the same assembly
/// ([`dot::windows_pooled`]).
#[cfg(feature = "arm-dsp")]
#[inline(never)]
fn conv2d_window(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    use dot::{WINDOW_STRIDE, WindowFilter, WindowImage};
    let s = &op.shape;
    let (out_c, pad) = (s.out_c, s.pad);
    // The padded input, row by row (only that part of the image is read).
    let mut img = WindowImage {
        values: [0; WINDOW_STRIDE * dot::WINDOW_ROWS],
    };
    let zp = op.in_zp as i16;
    let (in_h, in_w) = (s.in_h, s.in_w);
    for (r, dst) in img
        .values
        .chunks_exact_mut(WINDOW_STRIDE)
        .take(in_h + 2 * pad)
        .enumerate()
    {
        let dst = &mut dst[..in_w + 2 * pad];
        match r.checked_sub(pad).filter(|&y| y < in_h) {
            Some(y) => {
                let (left, rest) = dst.split_at_mut(pad);
                let (middle, right) = rest.split_at_mut(in_w);
                left.fill(zp);
                right.fill(zp);
                for (d, &x) in middle.iter_mut().zip(&input[y * in_w..][..in_w]) {
                    *d = i16::from(x);
                }
            }
            None => dst.fill(zp),
        }
    }
    // With an output zero point and lower clamp of -128 (what the quantizer
    // gives a ReLU output) the clamp is one `usat` to [0, 255], less 128.
    let relu128 = op.requant.min == -128 && op.requant.zero_point == -128;
    let weights = &op.weights.as_bytes()[..SMALL_ROW * out_c];
    // The filters in batches (their table lives on the stack).
    for (batch, rows) in weights.chunks(SMALL_ROW * WINDOW_FILTERS).enumerate() {
        let o0 = batch * WINDOW_FILTERS;
        let n = rows.len() / SMALL_ROW;
        let mut channels = [Channel::default(); WINDOW_FILTERS];
        let mut filters = [WindowFilter::default(); WINDOW_FILTERS];
        let mut all_high = true;
        for (o, row) in rows.chunks_exact(SMALL_ROW).enumerate() {
            channels[o] = op.requant.channel(o0 + o);
            let bias = op.bias.at(o0 + o);
            let params = channels[o].window_params(bias);
            all_high &= params.is_some();
            filters[o] = WindowFilter::new(row, params.unwrap_or([bias, 0, 0, 0, 0, 0]));
        }
        let (channels, filters) = (&channels[..n], &filters[..n]);
        let pw = s.out_w / 2;
        // Window q (raster order) starts at input row 2 * (q / pw), column
        // 2 * (q % pw); one loop per variant, so that each stays tight.
        let at = |q: usize| 2 * (q / pw) * WINDOW_STRIDE + 2 * (q % pw);
        let pooled = output.chunks_exact_mut(out_c).enumerate();
        match (op.pool, all_high, relu128) {
            (true, true, true) => {
                for (q, out) in pooled {
                    dot::windows_pooled::<true>(&img, at(q), filters, &mut out[o0..][..n]);
                }
            }
            (true, true, false) => {
                for (q, out) in pooled {
                    dot::windows_pooled::<false>(&img, at(q), filters, &mut out[o0..][..n]);
                }
            }
            (true, false, _) => {
                for (q, out) in pooled {
                    let out = &mut out[o0..][..n];
                    dot::windows(&img, at(q), filters, |o, a| {
                        let max = a[0].max(a[1]).max(a[2].max(a[3]));
                        out[o] = channels[o].apply(max + filters[o].params[0]);
                    });
                }
            }
            (false, _, _) => {
                for q in 0..s.out_h / 2 * pw {
                    let top = (2 * (q / pw) * s.out_w + 2 * (q % pw)) * out_c + o0;
                    let bottom = top + s.out_w * out_c;
                    dot::windows(&img, at(q), filters, |o, a| {
                        let (ch, b) = (&channels[o], filters[o].params[0]);
                        output[top + o] = ch.apply(a[0] + b);
                        output[top + out_c + o] = ch.apply(a[1] + b);
                        output[bottom + o] = ch.apply(a[2] + b);
                        output[bottom + out_c + o] = ch.apply(a[3] + b);
                    });
                }
            }
        }
    }
}

/// Filters [`conv2d_window`] prepares at a time (2.3 KiB of stack).
#[cfg(feature = "arm-dsp")]
const WINDOW_FILTERS: usize = 32;

/// Direct kernel for any row length.
#[inline(never)]
pub(crate) fn conv2d_direct(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    debug_assert!(!op.pool, "the direct kernel does not pool");
    let s = &op.shape;
    let (k, c) = (s.k, s.in_c);
    let weights = op.weights.as_bytes();
    for oy in 0..s.out_h {
        for ox in 0..s.out_w {
            let out = &mut output[(oy * s.out_w + ox) * s.out_c..][..s.out_c];
            for (o, (w, y)) in weights.chunks_exact(op.row).zip(out.iter_mut()).enumerate() {
                let mut acc = op.bias.at(o);
                for ky in 0..k {
                    let iy = (oy + ky).wrapping_sub(s.pad);
                    for kx in 0..k {
                        let ix = (ox + kx).wrapping_sub(s.pad);
                        let ws = &w[(ky * k + kx) * c..][..c];
                        if iy < s.in_h && ix < s.in_w {
                            let xs = &input[(iy * s.in_w + ix) * c..][..c];
                            for (&w, &x) in ws.iter().zip(xs) {
                                acc += i32::from(w as i8) * i32::from(x);
                            }
                        } else {
                            for &w in ws {
                                acc += i32::from(w as i8) * op.in_zp;
                            }
                        }
                    }
                }
                *y = op.requant.apply(o, acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_same_3x3() {
        // Hand-computed: 2x2x1 input, one all-ones 3x3 filter, same padding,
        // in_zp = -1 (so x - zp = x + 1), bias 0 (folded: 0 + 9), multiplier 1
        // (M = 2^30, n = 30). x + 1 = [[1, 2], [3, 4]]: every output sees all
        // four pixels: 10.
        let input = [0i8, 1, 2, 3];
        let mut w = [1u8; 12];
        w[9..].fill(0);
        let bias = 9i32.to_le_bytes();
        let m = (1i32 << 30).to_le_bytes();
        let op = ConvOp {
            shape: ConvShape::new(2, 2, 1, 1, 3, crate::Padding::Same).unwrap(),
            row: 12,
            in_zp: -1,
            weights: I8Array::new(&w),
            bias: I32Array::new(&bias),
            requant: Requant {
                multiplier: I32Array::new(&m),
                shift: &[30],
                zero_point: -5,
                min: -128,
            },
            pool: false,
        };
        let mut out = [0i8; 4];
        conv2d(&op, &input, &mut out);
        assert_eq!(out, [5, 5, 5, 5]);
        out.fill(0);
        conv2d_direct(&op, &input, &mut out);
        assert_eq!(out, [5, 5, 5, 5]);
    }

    proptest! {
        #[test]
        fn matches_reference(seed in any::<u64>()) {
            let r = crate::selfcheck::conv_case(seed);
            prop_assert!(r.is_ok(), "{:?}", r);
        }

        #[test]
        fn first_layer_matches_reference(seed in any::<u64>()) {
            let r = crate::selfcheck::first_layer_case(seed);
            prop_assert!(r.is_ok(), "{:?}", r);
        }
    }
}
