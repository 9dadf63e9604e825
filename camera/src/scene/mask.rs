//! Stages 2 and 3: the mask and the box. Which pixels belong to the garment (dark in the
//! [`View`]), the box that spans them, and its growth over the garment's fainter parts.

use super::view::View;
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
    let mut sums = [0u32; 3];
    for y in (top..bottom.saturating_sub(2)).step_by(3) {
        for x in (left..right.saturating_sub(2)).step_by(3) {
            for (dy, s) in sums.iter_mut().enumerate() {
                *s = view.row(y + dy, x, x + 3).map(u32::from).sum();
            }
            darkest = darkest.min(sums.iter().sum());
        }
    }
    if darkest == u32::MAX {
        return 0;
    }
    (9 * u32::from(background)).saturating_sub(darkest) / 9
}
