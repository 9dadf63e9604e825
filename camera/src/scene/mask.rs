//! Stages 2 and 3: the mask and the box. Which pixels belong to the garment (dark in the
//! [`View`]), the box that spans them, and its growth over the garment's fainter parts.

use super::view::{ROW_BUFFER, View};
use crate::preprocess::Rect;
pub(super) use crate::preprocess::{bounding_box, check_size, grow};

/// The object's peak darkness in `view`: how far the darkest mean of its 3x3 blocks
/// (tiled from its top left corner, partial ones at the right and bottom left out) lies
/// below `background`.
pub(super) fn peak_darkness(view: &View<'_>, object: &Rect, background: u8) -> u32 {
    let at = |v: i32| usize::try_from(v).unwrap_or(0);
    let (left, top) = (at(object.left), at(object.top));
    let (right, bottom) = (left + object.width as usize, top + object.height as usize);
    let mut darkest = u32::MAX;
    // The whole blocks of each band of three rows, read together along the band (each
    // row's viewed pixels into a buffer first, when it fits one).
    let end = left + right.saturating_sub(left) / 3 * 3;
    let mut buffers = [[0u8; ROW_BUFFER]; 3];
    for y in (top..bottom.saturating_sub(2)).step_by(3) {
        let [a, b, c] = &mut buffers;
        let width = end.saturating_sub(left);
        if let (Some(a), Some(b), Some(c)) =
            (a.get_mut(..width), b.get_mut(..width), c.get_mut(..width))
            && view.row_into(y, left, a)
            && view.row_into(y + 1, left, b)
            && view.row_into(y + 2, left, c)
        {
            for ((a, b), c) in a
                .chunks_exact(3)
                .zip(b.chunks_exact(3))
                .zip(c.chunks_exact(3))
            {
                let sum = |r: &[u8]| r.iter().map(|&p| u32::from(p)).sum::<u32>();
                darkest = darkest.min(sum(a) + sum(b) + sum(c));
            }
            continue;
        }
        let band = view
            .row(y, left, end)
            .zip(view.row(y + 1, left, end))
            .zip(view.row(y + 2, left, end));
        let (mut sum, mut k) = (0u32, 0u8);
        for ((a, b), c) in band {
            sum += u32::from(a) + u32::from(b) + u32::from(c);
            k += 1;
            if k == 3 {
                darkest = darkest.min(sum);
                (sum, k) = (0, 0);
            }
        }
    }
    if darkest == u32::MAX {
        return 0;
    }
    (9 * u32::from(background)).saturating_sub(darkest) / 9
}
