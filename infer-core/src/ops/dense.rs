//! Fully connected layer on an int8 vector.
//!
//! `out[o] = requant_o(bias[o] + sum_i w[o][i] * (x[i] - x_zp))`, weights
//! row-major `[out][in]`.
//!
//! The fast kernel walks three weight rows at once over the contiguous input.
//! Every partial sum `bias + sum_{i<j} w * (x - zp)` is bounded by
//! `|bias| + n * 127 * 255`, which `Model::from_bytes` checks to be at most
//! `i32::MAX`, so no step overflows.

use super::requant::Requant;
use crate::{I8Array, I32Array};

/// A validated dense layer: `weights.len() == n_in * n_out`, `bias.len() == n_out`.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct DenseOp<'a> {
    /// Input length.
    pub n_in: usize,
    /// Output length.
    pub n_out: usize,
    /// Input zero point.
    pub in_zp: i32,
    /// Weights `[n_out][n_in]`.
    pub weights: I8Array<'a>,
    /// Bias per output.
    pub bias: I32Array<'a>,
    /// Requantization.
    pub requant: Requant<'a>,
}

/// Fast kernel: `input.len() == n_in`, `output.len() == n_out`.
#[inline(never)]
pub(crate) fn dense(op: &DenseOp<'_>, input: &[i8], output: &mut [i8]) {
    // After a fused ReLU (the usual input of a dense layer) the zero point is
    // -128; a constant frees a register in the inner loop on a Cortex-M4.
    if op.in_zp == -128 {
        dense_with_zp(op, -128, input, output);
    } else {
        dense_with_zp(op, op.in_zp, input, output);
    }
}

/// Outputs three at a time, so that each input value is loaded and has its
/// zero point subtracted once per three multiply-accumulates. (Three rows,
/// not four, keep every pointer and accumulator in a Cortex-M4 register at
/// `opt-level = "s"`: measured in QEMU, fewer instructions per MAC than two or
/// four.)
#[inline(always)]
fn dense_with_zp(op: &DenseOp<'_>, zp: i32, input: &[i8], output: &mut [i8]) {
    let n = op.n_in;
    let weights = op.weights.as_bytes();
    let mut blocks = weights.chunks_exact(3 * n);
    let mut out_blocks = output.chunks_exact_mut(3);
    let mut o = 0;
    for (rows, out) in blocks.by_ref().zip(out_blocks.by_ref()) {
        let (r0, rest) = rows.split_at(n);
        let (r1, r2) = rest.split_at(n);
        let mut acc: [i32; 3] = op.bias.block(o);
        for (((&x, &a), &b), &c) in input.iter().zip(r0).zip(r1).zip(r2) {
            let x = i32::from(x) - zp;
            acc[0] += i32::from(a as i8) * x;
            acc[1] += i32::from(b as i8) * x;
            acc[2] += i32::from(c as i8) * x;
        }
        op.requant.apply_block(o, &acc, out);
        o += 3;
    }
    // The last n_out % 3 outputs, one at a time.
    let rows = blocks.remainder().chunks_exact(n);
    for (row, y) in rows.zip(out_blocks.into_remainder()) {
        let mut acc = op.bias.at(o);
        for (&w, &x) in row.iter().zip(input) {
            acc += i32::from(w as i8) * (i32::from(x) - zp);
        }
        *y = op.requant.apply(o, acc);
        o += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testutil::{RandomParams, params, reference_dense};
    use proptest::prelude::*;

    #[test]
    fn golden_small() {
        // Hand-computed: x - zp = [3, -1, 0], w = [[1, 2, 3], [-4, 5, -6]],
        // bias = [10, -20]: acc = [10 + 3 - 2, -20 - 12 - 5] = [11, -37];
        // multiplier 0.5 (M = 2^30, n = 31): [5.5 -> 6, -18.5 -> -18]; out_zp 1.
        let w: [u8; 6] = [1, 2, 3, (-4i8) as u8, 5, (-6i8) as u8];
        let bias: std::vec::Vec<u8> = [10i32, -20].iter().flat_map(|b| b.to_le_bytes()).collect();
        let m: std::vec::Vec<u8> = [1i32 << 30; 2]
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect();
        let op = DenseOp {
            n_in: 3,
            n_out: 2,
            in_zp: -2,
            weights: I8Array::new(&w),
            bias: I32Array::new(&bias),
            requant: Requant {
                multiplier: I32Array::new(&m),
                shift: &[31, 31],
                zero_point: 1,
                min: -128,
            },
        };
        let input = [1i8, -3, -2];
        let mut out = [0i8; 2];
        dense(&op, &input, &mut out);
        assert_eq!(out, [7, -17]);
        assert_eq!(reference_dense(&op, &input), out);
    }

    proptest! {
        #[test]
        fn matches_reference(
            (n_in, n_out) in (1usize..300, 1usize..12),
            seed in any::<u64>(),
            relu in any::<bool>(),
        ) {
            let p = RandomParams::new(seed, n_in * n_out, n_out, n_in);
            let mut rng = p.rng();
            let input: std::vec::Vec<i8> = (0..n_in).map(|_| rng.next_u64() as i8).collect();
            let (rq, in_zp) = params(&p, relu);
            let op = DenseOp {
                n_in,
                n_out,
                in_zp,
                weights: I8Array::new(&p.weights),
                bias: I32Array::new(&p.bias),
                requant: rq,
            };
            let mut out = std::vec![0i8; n_out];
            dense(&op, &input, &mut out);
            prop_assert_eq!(out, reference_dense(&op, &input));
        }
    }
}
