//! Stages 2 and 3: the mask and the box. Which pixels belong to the garment (dark in the
//! [`View`]), the box that spans them, and its growth over the garment's fainter parts.

use super::view::{Line, View};
use crate::preprocess::Rect;
pub(super) use crate::preprocess::{check_size, rect};

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

/// The box spanned by the rows, then the columns (within those rows), of `region`
/// (left, top, right, bottom, inclusive) for which `hit` is true (they hold a run of
/// foreground pixels).
pub(super) fn bounding_box(region: [usize; 4], hit: impl Fn(Line) -> bool) -> Option<Rect> {
    let [l, t, r, b] = region;
    let row_hit = |y: &usize| hit(Line::row(*y, l, r + 1));
    let top = (t..=b).find(row_hit)?;
    let bottom = (top..=b).rev().find(row_hit)?;
    let column_hit = |x: &usize| hit(Line::column(*x, top, bottom + 1));
    // Rows with a run exist, yet no column within them need have one.
    let left = (l..=r).find(column_hit)?;
    let right = (left..=r).rev().find(column_hit)?;
    Some(rect(left, top, right, bottom))
}

/// Grows `object` side by side, within `region` (left, top, right, bottom, inclusive),
/// while `hit` is true for the row or column just outside a side, across the box's
/// current extent: the box takes in what adjoins it, not what lies apart.
pub(super) fn grow(object: Rect, region: [usize; 4], hit: impl Fn(Line) -> bool) -> Rect {
    let at = |v: i32| usize::try_from(v).unwrap_or(0);
    let [rl, rt, rr, rb] = region;
    let (left, top) = (at(object.left), at(object.top));
    let right = left + (object.width as usize).saturating_sub(1);
    let bottom = top + (object.height as usize).saturating_sub(1);
    // The box's edges, inclusive: top, bottom, left, right.
    let mut edges = [top, bottom, left, right];
    // Every pass that changes nothing ends it; each other one moves a side outwards, so
    // at most w + h passes.
    loop {
        let mut grew = false;
        for side in 0..4 {
            let [t, b, l, r] = edges;
            // The line just outside this side; its `at` is where the side moves to.
            let outside = match side {
                0 => (t > rt).then(|| Line::row(t - 1, l, r + 1)),
                1 => (b < rb).then(|| Line::row(b + 1, l, r + 1)),
                2 => (l > rl).then(|| Line::column(l - 1, t, b + 1)),
                _ => (r < rr).then(|| Line::column(r + 1, t, b + 1)),
            };
            if let Some(line) = outside.filter(|&line| hit(line)) {
                edges[side] = line.at;
                grew = true;
            }
        }
        if !grew {
            let [t, b, l, r] = edges;
            return rect(l, t, r, b);
        }
    }
}
