//! Fully connected layer on an int8 vector.
//!
//! `out[o] = requant_o(bias[o] + sum_i w[o][i] * x[i])`: the bias holds the
//! folded input zero point, and the weights are stored as
//! [`layout`](crate::layout) says (rows padded to a multiple of four,
//! interleaved by blocks of four rows).
//!
//! The fast kernel runs each block of four rows as one stream of weight words
//! over the whole groups of four inputs ([`dot::dense4`]), then the last
//! `n_in % 4` inputs and the last `n_out % 4` rows with plain loops. Every
//! partial sum is bounded by `|bias| + row * 2^14`, which `Model::from_bytes`
//! checks to be at most `i32::MAX`, so no step overflows.

use super::dot;
use super::requant::Requant;
use crate::layout::{DENSE_BLOCK, GROUP};
use crate::{I8Array, I32Array};

/// A validated dense layer: `weights.len() == row * n_out`, `bias.len() == n_out`.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct DenseOp<'a> {
    /// Input length.
    pub n_in: usize,
    /// Output length.
    pub n_out: usize,
    /// Stored row length: `n_in` rounded up to a multiple of four.
    pub row: usize,
    /// Weights in the stored order.
    pub weights: I8Array<'a>,
    /// Bias per output, input zero point folded in.
    pub bias: I32Array<'a>,
    /// Requantization.
    pub requant: Requant<'a>,
}

/// Fast kernel: `input.len() == n_in`, `output.len() == n_out`.
#[inline(never)]
pub(crate) fn dense(op: &DenseOp<'_>, input: &[i8], output: &mut [i8]) {
    let row = op.row;
    let whole = op.n_in / GROUP * GROUP;
    let (x, x_tail) = input[..op.n_in].split_at(whole);
    let weights = op.weights.as_bytes();
    let full = op.n_out / DENSE_BLOCK * DENSE_BLOCK;
    let (blocks, rest) = weights.split_at(full * row);
    let mut o = 0;
    for (block, out) in blocks
        .chunks_exact(DENSE_BLOCK * row)
        .zip(output.chunks_exact_mut(DENSE_BLOCK))
    {
        let mut acc = dot::dense4(&block[..DENSE_BLOCK * whole], x, op.bias.block(o));
        // The last group, partly padding (zero weights).
        let tail = &block[DENSE_BLOCK * whole..];
        for (a, w) in acc.iter_mut().zip(tail.chunks_exact(GROUP)) {
            for (&w, &x) in w.iter().zip(x_tail) {
                *a += i32::from(w as i8) * i32::from(x);
            }
        }
        op.requant.apply_block(o, &acc, out);
        o += DENSE_BLOCK;
    }
    // The last n_out % 4 rows, one after the other.
    for (w, y) in rest.chunks_exact(row).zip(&mut output[full..]) {
        let mut acc = op.bias.at(o);
        for (&w, &x) in w.iter().zip(input) {
            acc += i32::from(w as i8) * i32::from(x);
        }
        *y = op.requant.apply(o, acc);
        o += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_small() {
        // Hand-computed: x = [1, -3, -2], in_zp = -2, so x - zp = [3, -1, 0];
        // w = [[1, 2, 3], [-4, 5, -6]], bias = [10, -20]: acc = [11, -37]
        // (folded bias: 10 + 2 * 6 = 22 and -20 + 2 * -5 = -30); multiplier 0.5
        // (M = 2^30, n = 31): [5.5 -> 6, -18.5 -> -18]; out_zp 1.
        // Two rows: no full block of four, both stored plainly, padded to 4.
        let w: [u8; 8] = [1, 2, 3, 0, (-4i8) as u8, 5, (-6i8) as u8, 0];
        let bias: std::vec::Vec<u8> = [22i32, -30].iter().flat_map(|b| b.to_le_bytes()).collect();
        let m: std::vec::Vec<u8> = [1i32 << 30; 2]
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect();
        let op = DenseOp {
            n_in: 3,
            n_out: 2,
            row: 4,
            weights: I8Array::new(&w),
            bias: I32Array::new(&bias),
            requant: Requant {
                multiplier: I32Array::new(&m),
                shift: &[31, 31],
                zero_point: 1,
                min: -128,
            },
        };
        let mut out = [0i8; 2];
        dense(&op, &[1, -3, -2], &mut out);
        assert_eq!(out, [7, -17]);
    }

    proptest! {
        #[test]
        fn matches_reference(seed in any::<u64>()) {
            let r = crate::selfcheck::dense_case(seed);
            prop_assert!(r.is_ok(), "{:?}", r);
        }
    }
}
