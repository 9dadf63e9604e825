//! The frame as the later stages read it: as it is (dataset style), or as its contrast
//! against the background model (a scene), in which the garment is always dark on a
//! background of 255 whatever its polarity.

use super::SIDE;
use super::background::Grid;
pub(super) use crate::preprocess::Line;
use crate::preprocess::{Frame, PixelSource, has_run, spread};

/// A scene's contrast view: pixel `p` over background level `g` reads `255 - (p - g)`
/// for a light garment and `255 - (g - p)` for a dark one, the departure scaled by the
/// cell's gain (as if the background were lit to the border's median level, so that a
/// garment in a shadow keeps its contrast), clamped to 0..=255: the
/// background reads 255 (departures the other way too), the garment the darker the more
/// it stands out.
#[derive(Debug, Clone, Copy)]
pub(super) struct Contrast<'g> {
    pub grid: &'g Grid,
    pub light: bool,
}

impl Contrast<'_> {
    fn map(&self, p: u8, g: u8, gain: u16) -> u8 {
        let c = if self.light {
            p.saturating_sub(g)
        } else {
            g.saturating_sub(p)
        };
        let c = (u32::from(c) * u32::from(gain)) >> 8;
        255 - c.min(255) as u8
    }
}

/// The frame read through an optional [`Contrast`].
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    pub frame: Frame<'a>,
    pub contrast: Option<Contrast<'a>>,
}

impl View<'_> {
    /// The pixel at `(x, y)` as the view reads it (255 outside the frame).
    pub(super) fn at(&self, x: usize, y: usize) -> u8 {
        let (w, h) = (self.frame.width(), self.frame.height());
        if x >= w || y >= h {
            return 255;
        }
        let p = self.frame.pixels()[y * w + x];
        match self.contrast {
            None => p,
            Some(c) => c.map(p, c.grid.level(x, y), c.grid.gain(x, y)),
        }
    }

    /// The viewed pixels of row `y`, columns `from..to` (clipped to the frame).
    pub(super) fn row(&self, y: usize, from: usize, to: usize) -> impl Iterator<Item = u8> + '_ {
        let row = self.frame.row(y);
        let to = to.min(row.len());
        let pixels = row.get(from..to).unwrap_or(&[]);
        let (levels, gains, shift, contrast) = match self.contrast {
            Some(c) => (
                c.grid.row_levels(y),
                c.grid.row_gains(y),
                c.grid.shift(),
                Some(c),
            ),
            None => (&[][..], &[][..], 0, None),
        };
        pixels
            .iter()
            .enumerate()
            .map(move |(i, &p)| match contrast {
                None => p,
                Some(c) => {
                    let cell = (from + i) >> shift;
                    let level = levels.get(cell).copied().unwrap_or(0);
                    c.map(p, level, gains.get(cell).copied().unwrap_or(256))
                }
            })
    }

    /// Whether the mean of the viewed 3x3 neighbourhood of `(x, y)` (coordinates clamped
    /// to the frame) is at or below `threshold`.
    pub(super) fn mean_at_most(&self, x: usize, y: usize, threshold: u8) -> bool {
        let (w, h) = (self.frame.width(), self.frame.height());
        let xs = [x.saturating_sub(1), x, (x + 1).min(w.saturating_sub(1))];
        let ys = [y.saturating_sub(1), y, (y + 1).min(h.saturating_sub(1))];
        let sum: u32 = ys
            .iter()
            .map(|&yy| xs.iter().map(|&xx| u32::from(self.at(xx, yy))).sum::<u32>())
            .sum();
        sum <= 9 * u32::from(threshold)
    }

    /// Foreground at `(x, y)`, whose viewed pixel is `p`: `p` is at or below `threshold`,
    /// and so is the mean of its 3x3 neighbourhood, so that a lone dark pixel smeared
    /// over a few neighbours (by JPEG, or a lens) does not count.
    pub(super) fn dark(&self, x: usize, y: usize, p: u8, threshold: u8) -> bool {
        p <= threshold && self.mean_at_most(x, y, threshold)
    }

    /// Whether `line` holds a run of at least `min_run` consecutive pixels for which
    /// `fg(position along the line, viewed pixel)` is true.
    pub(super) fn line_has_run(
        &self,
        line: Line,
        min_run: u16,
        fg: impl Fn(usize, u8) -> bool,
    ) -> bool {
        let at = |(i, p): (usize, u8)| fg(line.from + i, p);
        if line.vertical {
            let to = line.to.min(self.frame.height());
            let column = (line.from..to).map(|y| self.at(line.at, y));
            has_run(column.enumerate().map(at), min_run)
        } else {
            has_run(
                self.row(line.at, line.from, line.to).enumerate().map(at),
                min_run,
            )
        }
    }
}

impl PixelSource for View<'_> {
    fn size(&self) -> (usize, usize) {
        (self.frame.width(), self.frame.height())
    }

    fn pixel(&self, x: usize, y: usize) -> u8 {
        self.at(x, y)
    }

    fn spread_row(&self, y: usize, from: usize, to: usize, side: u32, sums: &mut [u32; SIDE]) {
        spread(self.row(y, from, to), side, sums);
    }
}
