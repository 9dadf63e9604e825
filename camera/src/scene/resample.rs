//! Stage 4: the resample. The square crop around the box, its area-averaging resize to
//! 28x28, and the levels in the dataset's convention (light garment on black).

use super::view::View;
use super::{PIXELS, SIDE};
use crate::preprocess::Rect;

/// The square centred on `object` whose side is its longer side plus the margin.
pub(super) fn square_around(object: &Rect, margin_percent: u8) -> Rect {
    let long = object.width.max(object.height);
    let pad = long * u32::from(margin_percent) / 100;
    let side = long + 2 * pad;
    // `side - extent` is at most 2 * 4096 * 3.55 + 4096 < 2^31.
    let left = object.left - ((side - object.width) / 2) as i32;
    let top = object.top - ((side - object.height) / 2) as i32;
    Rect {
        left,
        top,
        width: side,
        height: side,
    }
}

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

/// Spreads `side` source pixels over 28 output columns: source pixel `s` covers
/// `[28s, 28s+28)` and output column `o` covers `[o*side, (o+1)*side)`; each pixel adds
/// `overlap * value` to every column it overlaps (one or two when `side >= 28`).
pub(super) fn spread(pixels: impl Iterator<Item = u8>, side: u32, sums: &mut [u32; SIDE]) {
    sums.fill(0);
    let (mut column, mut boundary, mut lo) = (0usize, side, 0u32);
    for p in pixels {
        let (p, hi) = (u32::from(p), lo + 28);
        while lo < hi {
            let end = hi.min(boundary);
            if let Some(sum) = sums.get_mut(column) {
                *sum += (end - lo) * p;
            }
            lo = end;
            if lo == boundary {
                column += 1;
                boundary += side;
            }
        }
    }
}

/// Overlap of `[a, b)` with source pixel `s`'s span `[28s, 28s+28)`.
pub(super) fn overlap(a: u32, b: u32, s: u32) -> u32 {
    let lo = a.max(28 * s);
    let hi = b.min(28 * s + 28);
    hi.saturating_sub(lo)
}

/// Replaces light-background levels by dataset values: darkness below `background`
/// minus `floor`, scaled so the darkest pixel is 255. False when nothing is above the
/// floor (then `out` is all zeros).
pub(super) fn invert_and_stretch(out: &mut [u8; PIXELS], background: u8, floor: u32) -> bool {
    let dark = |p: u8| u32::from(background.saturating_sub(p)).saturating_sub(floor);
    let peak = out.iter().map(|&p| dark(p)).max().unwrap_or(0);
    if peak == 0 {
        out.fill(0);
        return false;
    }
    for p in out.iter_mut() {
        *p = ((dark(*p) * 255 + peak / 2) / peak) as u8;
    }
    true
}
