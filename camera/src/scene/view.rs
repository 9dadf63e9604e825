//! The frame as the later stages read it: as it is (dataset style), or as its contrast
//! against the background model (a scene), in which the garment is always dark on a
//! background of 255 whatever its polarity.

use super::SIDE;
use super::background::Grid;
pub(super) use crate::preprocess::Line;
use crate::preprocess::{Columns, Frame, PixelSource, has_run, spread, spread_slice};

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

    /// The raw pixels `p` (an inclusive range, empty when its start is past its end)
    /// that [`Contrast::map`] reads as at most `threshold` in a cell of level `g` and gain
    /// `gain`: a departure `c` in the garment's polarity with `(c * gain) >> 8` of at
    /// least `255 - threshold`, that is `c * gain >= (255 - threshold) * 256`.
    fn at_most(&self, g: u8, gain: u16, threshold: u8) -> (u8, u8) {
        const NONE: (u8, u8) = (1, 0);
        let distance = 255 - u32::from(threshold);
        if distance == 0 {
            return (0, 255);
        }
        if gain == 0 {
            return NONE;
        }
        let least = (distance * 256).div_ceil(u32::from(gain));
        if self.light {
            u8::try_from(u32::from(g) + least).map_or(NONE, |lo| (lo, 255))
        } else {
            u32::from(g)
                .checked_sub(least)
                .map_or(NONE, |hi| (0, hi as u8))
        }
    }
}

/// The widest row the resize and the peak contrast buffer (a QVGA frame's width); wider
/// ones are read pixel by pixel.
pub(super) const ROW_BUFFER: usize = 320;

/// `out` and `pixels` (as long as each other, the pixels from column `from` on) in
/// pieces that each lie in one cell (of `2^shift` pixels a side).
fn chunks_by_cell<'o, 'p>(
    out: &'o mut [u8],
    pixels: &'p [u8],
    from: usize,
    shift: u32,
) -> impl Iterator<Item = (&'o mut [u8], &'p [u8])> {
    // The first piece reaches the cell's end; the others are whole cells.
    let first = ((from >> shift) + 1) << shift;
    let head = (first - from).min(out.len()).min(pixels.len());
    let (out_head, out_rest) = out.split_at_mut(head);
    let (pixels_head, pixels_rest) = pixels.split_at(head);
    let side = 1usize << shift;
    core::iter::once((out_head, pixels_head))
        .chain(out_rest.chunks_mut(side).zip(pixels_rest.chunks(side)))
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

    /// Writes into `out` the viewed pixels of row `y` from column `from` on (`out.len()`
    /// of them, all inside the frame: else false, `out` unchanged), as [`View::row`]
    /// reads them, looking each cell's level and gain up once.
    pub(super) fn row_into(&self, y: usize, from: usize, out: &mut [u8]) -> bool {
        let Some(pixels) = self.frame.row(y).get(from..from + out.len()) else {
            return false;
        };
        let Some(c) = self.contrast else {
            out.copy_from_slice(pixels);
            return true;
        };
        let (levels, gains, shift) = (c.grid.row_levels(y), c.grid.row_gains(y), c.grid.shift());
        let mut x = from;
        for (out, pixels) in chunks_by_cell(out, pixels, from, shift) {
            let cell = x >> shift;
            let level = levels.get(cell).copied().unwrap_or(0);
            let gain = gains.get(cell).copied().unwrap_or(256);
            for (o, &p) in out.iter_mut().zip(pixels) {
                *o = c.map(p, level, gain);
            }
            x += pixels.len();
        }
        true
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

    /// [`View::line_has_run`] for the pixels that are at most `threshold` and for which
    /// `fg` is true: along a row of a scene, each cell's raw pixels are first compared
    /// with the range that reads as at most `threshold` ([`Contrast::at_most`]), and
    /// only those inside it are viewed and given to `fg`, and only once `min_run` of
    /// them follow each other (a shorter stretch cannot hold the run: `fg`, the costly
    /// test, is never asked about it).
    pub(super) fn line_has_run_at_most(
        &self,
        line: Line,
        min_run: u16,
        threshold: u8,
        fg: impl Fn(usize, u8) -> bool,
    ) -> bool {
        let all = |pos: usize, p: u8| p <= threshold && fg(pos, p);
        let Some(c) = self.contrast else {
            return self.line_has_run(line, min_run, all);
        };
        if line.vertical {
            return self.column_has_run_at_most(line, min_run, threshold, c, all);
        }
        let row = self.frame.row(line.at);
        let to = line.to.min(row.len());
        let (levels, gains, shift) = (
            c.grid.row_levels(line.at),
            c.grid.row_gains(line.at),
            c.grid.shift(),
        );
        let viewed = |pos: usize| {
            let cell = pos >> shift;
            let level = levels.get(cell).copied().unwrap_or(0);
            let gain = gains.get(cell).copied().unwrap_or(256);
            c.map(row.get(pos).copied().unwrap_or(0), level, gain)
        };
        let mut runs = Runs::new(min_run);
        let mut x = line.from;
        while x < to {
            let cell = x >> shift;
            let end = ((cell + 1) << shift).min(to);
            let level = levels.get(cell).copied().unwrap_or(0);
            let gain = gains.get(cell).copied().unwrap_or(256);
            let (lo, hi) = c.at_most(level, gain, threshold);
            for (pos, &raw) in (x..).zip(row.get(x..end).unwrap_or(&[])) {
                let in_range = lo <= raw && raw <= hi;
                if runs.push(pos, in_range, |q| all(q, viewed(q))) {
                    return true;
                }
            }
            x = end;
        }
        false
    }

    /// [`View::line_has_run_at_most`] along a column (`line.vertical`) of a scene: each
    /// cell's raw pixels compared with its range first, as along a row.
    fn column_has_run_at_most(
        &self,
        line: Line,
        min_run: u16,
        threshold: u8,
        c: Contrast<'_>,
        fg: impl Fn(usize, u8) -> bool,
    ) -> bool {
        let (w, h) = (self.frame.width(), self.frame.height());
        let (x, to) = (line.at, line.to.min(h));
        if x >= w {
            return self.line_has_run(line, min_run, fg);
        }
        let (pixels, shift) = (self.frame.pixels(), c.grid.shift());
        let raw_at = |pos: usize| pixels.get(pos * w + x).copied().unwrap_or(0);
        let viewed = |pos: usize| c.map(raw_at(pos), c.grid.level(x, pos), c.grid.gain(x, pos));
        let mut runs = Runs::new(min_run);
        let mut y = line.from;
        while y < to {
            let end = (((y >> shift) + 1) << shift).min(to);
            let (level, gain) = (c.grid.level(x, y), c.grid.gain(x, y));
            let (lo, hi) = c.at_most(level, gain, threshold);
            for pos in y..end {
                let raw = raw_at(pos);
                let in_range = lo <= raw && raw <= hi;
                if runs.push(pos, in_range, |q| fg(q, viewed(q))) {
                    return true;
                }
            }
            y = end;
        }
        false
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

    fn spread_row(
        &self,
        y: usize,
        from: usize,
        to: usize,
        columns: &Columns,
        sums: &mut [u32; SIDE],
    ) {
        // The row's contrast computed once into a buffer (rows of frames up to
        // `ROW_BUFFER` pixels wide), then summed column by column.
        let mut buffer = [0u8; ROW_BUFFER];
        if let Some(row) = buffer.get_mut(..to.saturating_sub(from))
            && self.row_into(y, from, row)
        {
            spread_slice(row, columns, sums);
        } else {
            spread(self.row(y, from, to), columns.side(), sums);
        }
    }
}

/// The search for a run of `min_run` consecutive pixels along a line that are in
/// range (a cheap test) and foreground (a costly one, asked of a pixel only once
/// `min_run` pixels in range follow each other, and then of each of them in order).
struct Runs {
    min_run: usize,
    /// Pixels in range in a row, up to the current one.
    in_range: usize,
    /// Foreground pixels in a row among those asked, up to the current one.
    run: usize,
}

impl Runs {
    fn new(min_run: u16) -> Self {
        Self {
            min_run: usize::from(min_run.max(1)),
            in_range: 0,
            run: 0,
        }
    }

    /// The pixel at `pos` (positions follow each other by one), `in_range` or not;
    /// `foreground(q)` is asked of the pixels whose run might reach `min_run`. Whether
    /// a run of `min_run` foreground pixels ends here.
    fn push(&mut self, pos: usize, in_range: bool, foreground: impl Fn(usize) -> bool) -> bool {
        if !in_range {
            self.in_range = 0;
            self.run = 0;
            return false;
        }
        self.in_range += 1;
        if self.in_range < self.min_run {
            return false;
        }
        // The first time the stretch is long enough, the pixels before this one in it.
        let from = if self.in_range == self.min_run {
            pos + 1 - self.min_run
        } else {
            pos
        };
        for q in from..=pos {
            self.run = if foreground(q) { self.run + 1 } else { 0 };
        }
        self.run >= self.min_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    proptest! {
        /// `Runs` finds a run exactly where a plain count of both tests does, and asks
        /// the costly test nothing about a stretch in range shorter than the run.
        #[test]
        fn runs_ask_the_costly_test_only_where_a_run_fits(
            pixels in proptest::collection::vec((any::<bool>(), any::<bool>()), 0..40),
            min_run in 1u16..5,
        ) {
            let (mut runs, mut count) = (Runs::new(min_run), 0usize);
            let asked = core::cell::RefCell::new(Vec::new());
            let mut found = None;
            for (pos, &(in_range, fg)) in pixels.iter().enumerate() {
                count = if in_range && fg { count + 1 } else { 0 };
                let want = count >= usize::from(min_run);
                let got = runs.push(pos, in_range, |q| {
                    asked.borrow_mut().push(q);
                    pixels[q].1
                });
                prop_assert_eq!(got, want, "at {}", pos);
                if got {
                    found = Some(pos);
                    break;
                }
            }
            let end = found.map_or(pixels.len(), |p| p + 1);
            for &q in asked.borrow().iter() {
                // In range, in a stretch in range of at least `min_run` ending by `end`.
                let from = (0..=q).rev().take_while(|&i| pixels[i].0).last().unwrap();
                let to = (q..end).take_while(|&i| pixels[i].0).last().unwrap();
                prop_assert!(to + 1 - from >= usize::from(min_run), "asked {} of {:?}", q, pixels);
            }
        }
    }

    #[test]
    fn at_most_is_the_raw_range_that_reads_at_most_the_threshold() {
        // Every raw pixel and level, for gains and thresholds at and around the edges.
        let grid = Grid::flat_for_tests();
        for light in [false, true] {
            let c = Contrast { grid: &grid, light };
            for gain in [0u16, 1, 2, 3, 100, 255, 256, 257, 300, 1000, 65535] {
                for threshold in [0u8, 1, 2, 100, 200, 253, 254, 255] {
                    for g in 0..=255u8 {
                        let (lo, hi) = c.at_most(g, gain, threshold);
                        for p in 0..=255u8 {
                            assert_eq!(
                                (lo..=hi).contains(&p),
                                c.map(p, g, gain) <= threshold,
                                "light {light} gain {gain} threshold {threshold} level {g} pixel {p}"
                            );
                        }
                    }
                }
            }
        }
    }
}
