//! How a layer's parameters are stored in a `.fmq` file (format versions 2 and 3):
//! in the order the fast kernels read them, with the input zero point folded
//! into the bias.
//!
//! A layer is defined by its *natural* parameters (what
//! [`reference`](crate::reference) takes): weights `w[o][i]`, `O` rows of `F`
//! terms (OHWI for a convolution), and a bias `b[o]`, with
//! `acc[o] = b[o] + sum_i w[o][i] * (x[i] - in_zp)`. The file stores instead:
//!
//! - **rows padded to [`row_len`]`(F)`**, the next multiple of 4, with zero
//!   weights, so that the kernels always read whole 32-bit words of four
//!   weights;
//! - **dense layers: rows interleaved by blocks of four**: for each block of
//!   four rows, the first four weights of row 0, of row 1, of row 2, of row 3,
//!   then the next four of each, and so on; the last `O % 4` rows follow one
//!   after the other. A kernel then reads one stream of words for four outputs.
//!   Convolution rows are not interleaved (their kernel reuses one row across
//!   four pixels instead);
//! - **the folded bias** `b'[o] = b[o] - in_zp * sum_i w[o][i]`, so that
//!   `acc[o] = b'[o] + sum_i w[o][i] * x[i]` on the raw int8 inputs: the inner
//!   loops are pure dot products. Padded convolution taps then hold `in_zp`
//!   (real zero), which the folded bias cancels.
//!
//! The functions here convert natural parameters to that layout (the quantizer
//! and the tests use them through `OwnedModel`, feature `std`) and back.

/// Weights per 32-bit word: the kernels' unit of work along a row.
pub const GROUP: usize = 4;

/// Rows interleaved together in a dense layer's weights.
pub const DENSE_BLOCK: usize = 4;

/// Stored length of a row of `fan_in` weights: `fan_in` rounded up to a
/// multiple of [`GROUP`] (`None` on overflow).
pub const fn row_len(fan_in: usize) -> Option<usize> {
    match fan_in.checked_add(GROUP - 1) {
        Some(n) => Some(n / GROUP * GROUP),
        None => None,
    }
}

/// Which kind of layer the weights belong to (their row order differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A convolution: padded rows, one after the other.
    Conv,
    /// A dense layer: padded rows, interleaved by blocks of four.
    Dense,
}

/// Index in the stored weights of term `i < row` of row `o < out`, for rows of
/// stored length `row` (a multiple of [`GROUP`]); see the module docs.
pub const fn stored_index(kind: Kind, o: usize, i: usize, out: usize, row: usize) -> usize {
    let full = out / DENSE_BLOCK * DENSE_BLOCK;
    match kind {
        Kind::Dense if o < full => {
            let (block, r) = (o / DENSE_BLOCK, o % DENSE_BLOCK);
            block * DENSE_BLOCK * row + (i / GROUP) * (DENSE_BLOCK * GROUP) + r * GROUP + i % GROUP
        }
        _ => o * row + i,
    }
}

/// Writes the natural weights `natural` (`out` rows of `fan_in`) into `stored`
/// (`out * row_len(fan_in)` bytes) in the file's order; padding is zero.
///
/// # Panics
/// If a slice length does not match.
pub fn pack_weights(kind: Kind, natural: &[i8], out: usize, fan_in: usize, stored: &mut [u8]) {
    let row = row_len(fan_in).expect("row length overflows");
    assert_eq!(natural.len(), out * fan_in, "natural weights length");
    assert_eq!(stored.len(), out * row, "stored weights length");
    stored.fill(0);
    for (o, w) in natural.chunks_exact(fan_in.max(1)).take(out).enumerate() {
        for (i, &v) in w.iter().enumerate() {
            stored[stored_index(kind, o, i, out, row)] = v as u8;
        }
    }
}

/// Reads natural weight `w[o][i]` back from `stored` (`None` out of range).
pub fn stored_weight(
    kind: Kind,
    stored: &[u8],
    out: usize,
    fan_in: usize,
    o: usize,
    i: usize,
) -> Option<i8> {
    let row = row_len(fan_in)?;
    if o >= out || i >= fan_in {
        return None;
    }
    stored
        .get(stored_index(kind, o, i, out, row))
        .map(|&b| b as i8)
}

/// The folded bias `bias - in_zp * sum(weights)` of one output channel (its
/// natural weights `weights`), or `None` if it does not fit an i32.
pub fn fold_bias(bias: i32, in_zp: i32, weights: &[i8]) -> Option<i32> {
    let sum: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    i32::try_from(i64::from(bias) - i64::from(in_zp) * sum).ok()
}

/// The natural bias `folded + in_zp * sum(weights)`, the inverse of
/// [`fold_bias`] (`None` if it does not fit an i32).
pub fn unfold_bias(folded: i32, in_zp: i32, weights: &[i8]) -> Option<i32> {
    let sum: i64 = weights.iter().map(|&w| i64::from(w)).sum();
    i32::try_from(i64::from(folded) + i64::from(in_zp) * sum).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_up_to_words() {
        assert_eq!(row_len(0), Some(0));
        assert_eq!(row_len(1), Some(4));
        assert_eq!(row_len(9), Some(12));
        assert_eq!(row_len(576), Some(576));
        assert_eq!(row_len(usize::MAX), None);
    }

    #[test]
    fn dense_rows_interleave_by_four() {
        // 5 rows of 5 terms (stored 8): rows 0..4 interleaved, row 4 plain.
        let natural: std::vec::Vec<i8> = (0..25).map(|v| v as i8).collect();
        let mut stored = [0u8; 40];
        pack_weights(Kind::Dense, &natural, 5, 5, &mut stored);
        #[rustfmt::skip]
        let expected: [u8; 40] = [
            0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18,
            4, 0, 0, 0, 9, 0, 0, 0, 14, 0, 0, 0, 19, 0, 0, 0,
            20, 21, 22, 23, 24, 0, 0, 0,
        ];
        assert_eq!(stored, expected);
        for o in 0..5 {
            for i in 0..5 {
                assert_eq!(
                    stored_weight(Kind::Dense, &stored, 5, 5, o, i),
                    Some(natural[o * 5 + i])
                );
            }
        }
    }

    #[test]
    fn conv_rows_pad_only() {
        let natural = [1i8, 2, 3, 4, 5, 6];
        let mut stored = [9u8; 8];
        pack_weights(Kind::Conv, &natural, 2, 3, &mut stored);
        assert_eq!(stored, [1, 2, 3, 0, 4, 5, 6, 0]);
    }

    #[test]
    fn bias_folds_and_unfolds() {
        let w = [3i8, -1, 4];
        assert_eq!(fold_bias(10, -128, &w), Some(10 + 128 * 6));
        assert_eq!(unfold_bias(10 + 128 * 6, -128, &w), Some(10));
        assert_eq!(fold_bias(i32::MAX, -1, &w), None);
    }
}
