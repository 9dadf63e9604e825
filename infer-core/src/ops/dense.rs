//! Fully connected layer on an int8 vector.
//!
//! `out[o] = requant_o(bias[o] + sum_i w[o][i] * x[i])`: the bias holds the
//! folded input zero point, and the weights are stored as
//! [`layout`](crate::layout) says (rows padded to a multiple of four,
//! interleaved by blocks of four rows).
//!
//! The fast kernel runs each block of four rows as one stream of weight words
//! over the whole groups of four inputs ([`dot::dense4`]), then the last
//! `n_in % 4` inputs and the last `n_out % 4` rows with plain loops. With the
//! DSP kernels the inputs are first widened to i16 pair words, a chunk of
//! [`WIDE_CHUNK`] at a time, so that the inner loop widens only the weights
//! ([`dot::dense4_wide`]); the accumulators of up to [`ROW_BATCH`] rows wait
//! on the stack meanwhile. Every
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

/// Pair words of the inputs the DSP kernel widens at a time (4 KiB: 2048
/// inputs).
#[cfg(feature = "arm-dsp")]
pub(crate) const WIDE_CHUNK: usize = 1024;

/// Rows whose accumulators the DSP kernel keeps while it walks the chunks
/// (1 KiB of i32); more rows take several passes, each widening the input
/// again.
#[cfg(feature = "arm-dsp")]
pub(crate) const ROW_BATCH: usize = 256;

/// [`WIDE_CHUNK`] and [`ROW_BATCH`] for layers of at most 640 inputs and 16
/// outputs.
#[cfg(feature = "arm-dsp")]
const SMALL_CHUNK: usize = 320;
#[cfg(feature = "arm-dsp")]
const SMALL_BATCH: usize = 16;

/// Fast kernel: `input.len() == n_in`, `output.len() == n_out`.
#[inline(never)]
pub(crate) fn dense(op: &DenseOp<'_>, input: &[i8], output: &mut [i8]) {
    // Small layers (the classifier heads) with small buffers: zeroing the
    // large ones would cost more than such a layer's multiply-accumulates.
    #[cfg(feature = "arm-dsp")]
    if op.n_in <= 2 * SMALL_CHUNK && op.n_out <= SMALL_BATCH {
        dense_wide::<SMALL_CHUNK, SMALL_BATCH>(op, input, output);
    } else {
        dense_wide::<WIDE_CHUNK, ROW_BATCH>(op, input, output);
    }
    #[cfg(not(feature = "arm-dsp"))]
    dense_blocks(op, input, output);
}

/// The DSP kernel with chunks of `2 * WORDS` inputs and batches of `BATCH`
/// rows (`WORDS` even, `BATCH` a multiple of four; the self-checks also run
/// it with small ones).
#[cfg(feature = "arm-dsp")]
pub(crate) fn dense_wide<const WORDS: usize, const BATCH: usize>(
    op: &DenseOp<'_>,
    input: &[i8],
    output: &mut [i8],
) {
    const {
        assert!(
            WORDS.is_multiple_of(2) && BATCH.is_multiple_of(DENSE_BLOCK) && WORDS > 0 && BATCH > 0
        )
    };
    let chunk = 2 * WORDS;
    let row = op.row;
    let Parts {
        x,
        x_tail,
        blocks,
        rest,
        full,
    } = Parts::of(op, input);
    let mut wide = [0u32; WORDS];
    let mut acc = [0i32; BATCH];
    for (b, batch) in blocks.chunks(BATCH * row).enumerate() {
        let o0 = b * BATCH;
        let rows = batch.len() / row;
        for (r, a) in acc[..rows].chunks_exact_mut(DENSE_BLOCK).enumerate() {
            a.copy_from_slice(&op.bias.block::<DENSE_BLOCK>(o0 + DENSE_BLOCK * r));
        }
        for (c, xc) in x.chunks(chunk).enumerate() {
            let wide = &mut wide[..xc.len() / 2];
            dot::widen_pairs(xc, wide);
            for (block, a) in batch
                .chunks_exact(DENSE_BLOCK * row)
                .zip(acc.chunks_exact_mut(DENSE_BLOCK))
            {
                let w = &block[DENSE_BLOCK * c * chunk..][..DENSE_BLOCK * xc.len()];
                let sum = dot::dense4_wide(w, wide, [a[0], a[1], a[2], a[3]]);
                a.copy_from_slice(&sum);
            }
        }
        for (i, (block, a)) in batch
            .chunks_exact(DENSE_BLOCK * row)
            .zip(acc.chunks_exact_mut(DENSE_BLOCK))
            .enumerate()
        {
            let mut a = [a[0], a[1], a[2], a[3]];
            add_tail(&mut a, block, x.len(), x_tail);
            let o = o0 + DENSE_BLOCK * i;
            op.requant
                .apply_block(o, &a, &mut output[o..][..DENSE_BLOCK]);
        }
    }
    dense_rest(op, input, &mut output[full..], rest);
}

/// The blocks of four rows through [`dot::dense4`], then the rest.
#[cfg(not(feature = "arm-dsp"))]
fn dense_blocks(op: &DenseOp<'_>, input: &[i8], output: &mut [i8]) {
    let row = op.row;
    let Parts {
        x,
        x_tail,
        blocks,
        rest,
        full,
    } = Parts::of(op, input);
    let len = DENSE_BLOCK * row;
    let whole = x.len();
    // Two blocks at a time, then an odd last one.
    let pairs = blocks.len() / (2 * len);
    for (i, (two, out)) in blocks
        .chunks_exact(2 * len)
        .zip(output.chunks_exact_mut(2 * DENSE_BLOCK))
        .enumerate()
    {
        let o = 2 * DENSE_BLOCK * i;
        let (a, b) = two.split_at(len);
        let mut acc = dot::dense4x2(
            [&a[..DENSE_BLOCK * whole], &b[..DENSE_BLOCK * whole]],
            x,
            [op.bias.block(o), op.bias.block(o + DENSE_BLOCK)],
        );
        add_tail(&mut acc[0], a, whole, x_tail);
        add_tail(&mut acc[1], b, whole, x_tail);
        let (out_a, out_b) = out.split_at_mut(DENSE_BLOCK);
        op.requant.apply_block(o, &acc[0], out_a);
        op.requant.apply_block(o + DENSE_BLOCK, &acc[1], out_b);
    }
    if let Some(block) = blocks.chunks_exact(len).nth(2 * pairs) {
        let o = 2 * DENSE_BLOCK * pairs;
        let mut acc = dot::dense4(&block[..DENSE_BLOCK * whole], x, op.bias.block(o));
        add_tail(&mut acc, block, whole, x_tail);
        op.requant
            .apply_block(o, &acc, &mut output[o..][..DENSE_BLOCK]);
    }
    dense_rest(op, input, &mut output[full..], rest);
}

/// A dense layer's operands as the block kernels take them.
struct Parts<'a> {
    /// The inputs of the whole groups of four.
    x: &'a [i8],
    /// The last `n_in % 4` inputs.
    x_tail: &'a [i8],
    /// The weights of the blocks of four interleaved rows.
    blocks: &'a [u8],
    /// The weights of the last `n_out % 4` rows, stored plainly.
    rest: &'a [u8],
    /// Rows in the blocks.
    full: usize,
}

impl<'a> Parts<'a> {
    fn of(op: &DenseOp<'a>, input: &'a [i8]) -> Self {
        let whole = op.n_in / GROUP * GROUP;
        let (x, x_tail) = input[..op.n_in].split_at(whole);
        let full = op.n_out / DENSE_BLOCK * DENSE_BLOCK;
        let (blocks, rest) = op.weights.as_bytes().split_at(full * op.row);
        Self {
            x,
            x_tail,
            blocks,
            rest,
            full,
        }
    }
}

/// Adds a block's last group (from input `whole` on, partly padding with zero
/// weights) against `x_tail` to its four accumulators.
fn add_tail(acc: &mut [i32; DENSE_BLOCK], block: &[u8], whole: usize, x_tail: &[i8]) {
    let tail = &block[DENSE_BLOCK * whole..];
    for (a, w) in acc.iter_mut().zip(tail.chunks_exact(GROUP)) {
        for (&w, &x) in w.iter().zip(x_tail) {
            *a += i32::from(w as i8) * i32::from(x);
        }
    }
}

/// The last `n_out % 4` rows (`rest`, stored plainly), one after the other,
/// into `output` (their outputs).
fn dense_rest(op: &DenseOp<'_>, input: &[i8], output: &mut [i8], rest: &[u8]) {
    let first = op.n_out / DENSE_BLOCK * DENSE_BLOCK;
    for (o, (w, y)) in (first..).zip(rest.chunks_exact(op.row).zip(output)) {
        let mut acc = op.bias.at(o);
        for (&w, &x) in w.iter().zip(input) {
            acc += i32::from(w as i8) * i32::from(x);
        }
        *y = op.requant.apply(o, acc);
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
