//! Stage 4: the resample. The square crop around the box, its area-averaging resize to
//! 28x28, and the levels in the dataset's convention (light garment on black).

use super::view::View;
use super::{PIXELS, SIDE};
use crate::preprocess::{Rect, overlap, spread};
pub(super) use crate::preprocess::{invert_and_stretch, square_around};

/// Area-averaging resize of the square `crop` to 28x28; pixels outside the frame read
/// as `background`. Output is still in camera convention (light background).
///
/// In units of 1/28 source pixel, output pixel `o` spans `[o*side, (o+1)*side)` and
/// source pixel `s` spans `[28*s, 28*s+28)`; a weight is the length of their overlap,
/// so the weights of one output pixel sum to `side * side`. The sum is separable: each
/// source row is first reduced to 28 weighted column sums.
///
/// Ranges: `side <= 4096 * 6.1 < 25,000` (longest side plus a margin of at most
/// 255 % on each side), so a column sum is at most `255 * side < 2^23`, a weighted one
/// below `2^28`, and only the 2-D sum (up to `255 * side^2`) needs 64 bits.
pub(super) fn resize_area(view: &View<'_>, crop: &Rect, background: u8, out: &mut [u8; PIXELS]) {
    let side = crop.width;
    let total = u64::from(side) * u64::from(side);
    let mut column_sums = [0u32; SIDE];
    for (oy, out_row) in out.chunks_exact_mut(SIDE).enumerate() {
        let (y0, y1) = (oy as u32 * side, (oy as u32 + 1) * side);
        let mut acc = [0u64; SIDE];
        for sy in y0 / 28..y1.div_ceil(28) {
            let wy = overlap(y0, y1, sy);
            let y = usize::try_from(i64::from(crop.top) + i64::from(sy)).ok();
            weighted_columns(view, y, crop.left, side, background, &mut column_sums);
            for (a, &c) in acc.iter_mut().zip(&column_sums) {
                *a += u64::from(wy * c);
            }
        }
        for (cell, &a) in out_row.iter_mut().zip(&acc) {
            // The rounded mean is at most 255; divide in 32 bits when it fits.
            let rounded = a + total / 2;
            let mean = match (u32::try_from(rounded), u32::try_from(total)) {
                (Ok(r), Ok(t)) => r / t,
                _ => (rounded / total) as u32,
            };
            *cell = mean.min(255) as u8;
        }
    }
}

/// For each of the 28 output columns, the overlap-weighted sum of the crop's `side`
/// source pixels in row `y` of the viewed frame (a row outside the frame, or pixels
/// past its ends, read as `background`).
pub(super) fn weighted_columns(
    view: &View<'_>,
    y: Option<usize>,
    left: i32,
    side: u32,
    background: u8,
    sums: &mut [u32; SIDE],
) {
    let w = view.frame.width();
    let y = y.filter(|&y| y < view.frame.height());
    // Fast path: the crop's columns lie inside the frame.
    let inside = usize::try_from(left)
        .ok()
        .and_then(|l| Some((l, l.checked_add(side as usize)?)))
        .filter(|&(_, r)| r <= w);
    match (y, inside) {
        (Some(y), Some((l, r))) => spread(view.row(y, l, r), side, sums),
        _ => {
            let pixel = |sx: u32| match (y, usize::try_from(i64::from(left) + i64::from(sx))) {
                (Some(y), Ok(x)) if x < w => view.at(x, y),
                _ => background,
            };
            spread((0..side).map(pixel), side, sums);
        }
    }
}
