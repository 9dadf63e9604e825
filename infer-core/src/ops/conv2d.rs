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
}

/// Fast kernel: `input.len() == in_len()`, `output.len() == out_len()`.
pub(crate) fn conv2d(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    if op.row == SMALL_ROW && op.shape.out_c <= SMALL_ROW_CHANNELS {
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

/// Patch-buffer kernel (`row <= PATCH_MAX`): four output pixels at a time;
/// the last group repeats its last pixel and discards the copies.
#[inline(never)]
fn conv2d_patch(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    let s = &op.shape;
    let row = op.row;
    let pixels = s.out_h * s.out_w;
    let mut raw = [0i8; PATCH_MAX];
    let raw = &mut raw[..row];
    let mut buf = PatchBuf::new(row);
    let weights = op.weights.as_bytes();
    let mut first = 0;
    while first < pixels {
        let count = PIXELS.min(pixels - first);
        for p in 0..PIXELS {
            let q = first + p.min(count - 1);
            patch(op, input, q / s.out_w, q % s.out_w, p, &mut buf, raw);
        }
        let out = &mut output[first * s.out_c..][..count * s.out_c];
        // x86: two rows per pass, then the odd last row as below.
        #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
        let weights = {
            let pairs = s.out_c / 2;
            let (two, rest) = weights.split_at(2 * row * pairs);
            for (i, w) in two.chunks_exact(2 * row).enumerate() {
                let o = 2 * i;
                let (w0, w1) = w.split_at(row);
                let acc = dot::dot4x2(w0, w1, &buf, [op.bias.at(o), op.bias.at(o + 1)]);
                for (r, acc) in acc.iter().enumerate() {
                    op.requant
                        .channel(o + r)
                        .apply_strided(acc, count, &mut out[o + r..], s.out_c);
                }
            }
            rest
        };
        #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
        let o0 = s.out_c / 2 * 2;
        #[cfg(not(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp"))))]
        let o0 = 0;
        for (o, w) in weights.chunks_exact(row).enumerate() {
            let o = o0 + o;
            let acc = dot::dot4(w, &mut buf, op.bias.at(o));
            op.requant
                .channel(o)
                .apply_strided(&acc, count, &mut out[o..], s.out_c);
        }
        first += PIXELS;
    }
}

/// Most filters [`conv2d_small`] handles (its per-channel tables live on the
/// stack).
const SMALL_ROW_CHANNELS: usize = 64;

/// Kernel for rows of [`SMALL_ROW`] (3x3 on one channel, every model's first
/// layer): one pixel at a time, its patch in registers for all filters, the
/// channels' requantization decoded once per layer.
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
    let weights = &op.weights.as_bytes()[..SMALL_ROW * out_c];
    let mut patch = [0i8; SMALL_ROW];
    let mut acc = [0i32; SMALL_ROW_CHANNELS];
    let acc = &mut acc[..out_c];
    for (q, out) in output.chunks_exact_mut(out_c).enumerate() {
        gather(op, input, q / s.out_w, q % s.out_w, &mut patch);
        dot::dot_rows12(&patch, weights, acc);
        for (((y, &a), &b), ch) in out.iter_mut().zip(acc.iter()).zip(bias).zip(channels) {
            *y = ch.apply(a + b);
        }
    }
}

/// Direct kernel for any row length.
#[inline(never)]
pub(crate) fn conv2d_direct(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
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
    }
}
