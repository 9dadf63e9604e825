//! 2-D convolution, stride 1, odd square kernel, valid or same padding.
//!
//! Input `[H][W][C]`, weights `[O][k][k][C]` (OHWI), output `[H'][W'][O]`:
//!
//! ```text
//! out[y][x][o] = requant_o(bias[o] + sum_{dy,dx,c} w[o][dy][dx][c] * (in[y+dy-p][x+dx-p][c] - in_zp))
//! ```
//!
//! with `p = 0` (valid, `H' = H - k + 1`) or `p = k / 2` (same, `H' = H`);
//! taps outside the input are the zero point (real zero), i.e. contribute 0.
//!
//! The fast kernel gathers the `k*k*C` input patch of one output pixel once,
//! with the zero point already subtracted (`x - in_zp` fits in i16), into a
//! stack buffer, then computes the contiguous int8 x int16 dot products of three
//! output channels at a time. Patches longer than [`PATCH_MAX`] use a direct
//! loop instead.
//!
//! Overflow: each accumulator is a sum of `k*k*C` terms `|w * (x - zp)| <=
//! 127 * 255` plus the bias; `Model::from_bytes` rejects layers whose bound
//! `|bias| + k*k*C * 127 * 255` exceeds `i32::MAX`, so no partial sum overflows.

use super::requant::Requant;
use crate::reference::ConvShape;
use crate::{I8Array, I32Array};

/// Longest input patch (`k * k * C`) the fast kernel buffers on the stack
/// (1 KiB of i16).
pub(crate) const PATCH_MAX: usize = 512;

/// A validated convolution: parameter lengths match the shape.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ConvOp<'a> {
    /// Geometry.
    pub shape: ConvShape,
    /// Input zero point.
    pub in_zp: i32,
    /// Weights OHWI, `out_c * patch_len` values.
    pub weights: I8Array<'a>,
    /// Bias per output channel.
    pub bias: I32Array<'a>,
    /// Requantization.
    pub requant: Requant<'a>,
}

/// Fast kernel: `input.len() == in_len()`, `output.len() == out_len()`.
pub(crate) fn conv2d(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    if op.shape.patch_len() <= PATCH_MAX {
        conv2d_patch(op, input, output);
    } else {
        conv2d_direct(op, input, output);
    }
}

/// Patch-buffer kernel (`patch_len() <= PATCH_MAX`).
#[inline(never)]
fn conv2d_patch(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    let s = &op.shape;
    let (k, c) = (s.k, s.in_c);
    let kc = k * c;
    let plen = k * kc;
    let row_len = s.in_w * c;
    // x - zp for x, zp in [-128, 127] lies in [-255, 255].
    let zp = op.in_zp as i16;
    let mut buf = [0i16; PATCH_MAX];
    let patch = &mut buf[..plen];
    let weights = op.weights.as_bytes();
    for oy in 0..s.out_h {
        for ox in 0..s.out_w {
            // Gather the patch, row by row.
            for (ky, dst) in patch.chunks_exact_mut(kc).enumerate() {
                // Wraps to a huge value above the top edge.
                let iy = (oy + ky).wrapping_sub(s.pad);
                if iy >= s.in_h {
                    dst.fill(0);
                    continue;
                }
                let row = &input[iy * row_len..][..row_len];
                let x0 = ox.wrapping_sub(s.pad);
                if x0 < s.in_w && x0 + k <= s.in_w {
                    // Whole kernel row inside the input: one contiguous copy.
                    for (d, &x) in dst.iter_mut().zip(&row[x0 * c..][..kc]) {
                        *d = i16::from(x) - zp;
                    }
                } else {
                    for (kx, d) in dst.chunks_exact_mut(c).enumerate() {
                        let ix = (ox + kx).wrapping_sub(s.pad);
                        if ix < s.in_w {
                            for (d, &x) in d.iter_mut().zip(&row[ix * c..][..c]) {
                                *d = i16::from(x) - zp;
                            }
                        } else {
                            d.fill(0);
                        }
                    }
                }
            }
            let out = &mut output[(oy * s.out_w + ox) * s.out_c..][..s.out_c];
            dot_patch(op, weights, patch, out);
        }
    }
}

/// All output channels of one pixel: `out[o] = requant(bias[o] + w[o] . patch)`,
/// three channels at a time so that each patch value is loaded once per three
/// multiply-accumulates.
#[inline(always)]
fn dot_patch(op: &ConvOp<'_>, weights: &[u8], patch: &[i16], out: &mut [i8]) {
    let plen = patch.len();
    let mut blocks = weights.chunks_exact(3 * plen);
    let mut out_blocks = out.chunks_exact_mut(3);
    let mut o = 0;
    for (rows, out) in blocks.by_ref().zip(out_blocks.by_ref()) {
        let (r0, rest) = rows.split_at(plen);
        let (r1, r2) = rest.split_at(plen);
        let mut acc: [i32; 3] = op.bias.block(o);
        for (((&x, &a), &b), &c) in patch.iter().zip(r0).zip(r1).zip(r2) {
            let x = i32::from(x);
            acc[0] += i32::from(a as i8) * x;
            acc[1] += i32::from(b as i8) * x;
            acc[2] += i32::from(c as i8) * x;
        }
        op.requant.apply_block(o, &acc, out);
        o += 3;
    }
    for (w, y) in blocks
        .remainder()
        .chunks_exact(plen)
        .zip(out_blocks.into_remainder())
    {
        let mut acc = op.bias.at(o);
        for (&w, &x) in w.iter().zip(patch) {
            acc += i32::from(w as i8) * i32::from(x);
        }
        *y = op.requant.apply(o, acc);
        o += 1;
    }
}

/// Direct kernel for any patch length: skips taps outside the input.
#[inline(never)]
fn conv2d_direct(op: &ConvOp<'_>, input: &[i8], output: &mut [i8]) {
    let s = &op.shape;
    let (k, c) = (s.k, s.in_c);
    let plen = s.patch_len();
    let weights = op.weights.as_bytes();
    for oy in 0..s.out_h {
        for ox in 0..s.out_w {
            let out = &mut output[(oy * s.out_w + ox) * s.out_c..][..s.out_c];
            for (o, (w, y)) in weights.chunks_exact(plen).zip(out.iter_mut()).enumerate() {
                let mut acc = op.bias.at(o);
                for ky in 0..k {
                    let iy = (oy + ky).wrapping_sub(s.pad);
                    if iy >= s.in_h {
                        continue;
                    }
                    for kx in 0..k {
                        let ix = (ox + kx).wrapping_sub(s.pad);
                        if ix >= s.in_w {
                            continue;
                        }
                        let xs = &input[(iy * s.in_w + ix) * c..][..c];
                        let ws = &w[(ky * k + kx) * c..][..c];
                        for (&w, &x) in ws.iter().zip(xs) {
                            acc += i32::from(w as i8) * (i32::from(x) - op.in_zp);
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
    use crate::ops::testutil::{RandomParams, params, reference_conv2d};
    use proptest::prelude::*;

    fn shape(
        in_h: usize,
        in_w: usize,
        in_c: usize,
        out_c: usize,
        k: usize,
        same: bool,
    ) -> ConvShape {
        let pad = if same { k / 2 } else { 0 };
        ConvShape {
            in_h,
            in_w,
            in_c,
            out_c,
            k,
            pad,
            out_h: in_h + 2 * pad - k + 1,
            out_w: in_w + 2 * pad - k + 1,
        }
    }

    #[test]
    fn golden_same_3x3() {
        // Hand-computed: 2x2x1 input, one all-ones 3x3 filter, same padding,
        // in_zp = -1 (so x - zp = x + 1), bias 0, multiplier 1 (M = 2^30, n = 30).
        // x + 1 = [[1, 2], [3, 4]]: every output sees all four pixels: 10.
        let input = [0i8, 1, 2, 3];
        let w = [1u8; 9];
        let bias = 0i32.to_le_bytes();
        let m = (1i32 << 30).to_le_bytes();
        let op = ConvOp {
            shape: shape(2, 2, 1, 1, 3, true),
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
        assert_eq!(reference_conv2d(&op, &input), out);
    }

    fn check(s: ConvShape, seed: u64, relu: bool) -> Result<(), TestCaseError> {
        let p = RandomParams::new(seed, s.out_c * s.patch_len(), s.out_c, s.patch_len());
        let mut rng = p.rng();
        let input: std::vec::Vec<i8> = (0..s.in_len()).map(|_| rng.next_u64() as i8).collect();
        let (requant, in_zp) = params(&p, relu);
        let op = ConvOp {
            shape: s,
            in_zp,
            weights: I8Array::new(&p.weights),
            bias: I32Array::new(&p.bias),
            requant,
        };
        let expected = reference_conv2d(&op, &input);
        let mut out = std::vec![0i8; s.out_len()];
        conv2d(&op, &input, &mut out);
        prop_assert_eq!(&out, &expected);
        out.fill(0);
        conv2d_direct(&op, &input, &mut out);
        prop_assert_eq!(&out, &expected);
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_reference(
            k in prop_oneof![Just(1usize), Just(3), Just(5), Just(7)],
            extra_h in 0usize..6,
            extra_w in 0usize..6,
            in_c in 1usize..5,
            out_c in 1usize..6,
            same in any::<bool>(),
            seed in any::<u64>(),
            relu in any::<bool>(),
        ) {
            // Valid padding needs in >= k; same padding also runs on inputs smaller than k.
            let (h, w) = if same { (1 + extra_h, 1 + extra_w) } else { (k + extra_h, k + extra_w) };
            check(shape(h, w, in_c, out_c, k, same), seed, relu)?;
        }

        #[test]
        fn matches_reference_long_patch(
            in_c in 40usize..80,
            same in any::<bool>(),
            seed in any::<u64>(),
        ) {
            // 3 * 3 * in_c > PATCH_MAX for in_c >= 57: both kernels are exercised.
            check(shape(4, 3, in_c, 3, 3, same), seed, false)?;
        }
    }
}
