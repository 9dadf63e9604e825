//! Stage 1: the background. The border ring's level and spread (for the style decision
//! and the dataset style), and for a scene a model of the background everywhere: a grid
//! of cells whose level follows the light's slow changes (gradients, a bright spot,
//! vignetting, a cast shadow reaching the border) and the texture's coarse part, with
//! the cells that depart from it (the garment) found and filled in from around them.

use super::lanes;
use crate::preprocess::{Frame, for_each_ring_pixel, median_and_mad, median_of};

/// The grid has at most this many cells along a side.
pub(super) const MAX_GRID: usize = 40;
const MAX_CELLS: usize = MAX_GRID * MAX_GRID;
/// Least level step between neighbouring cells that keeps the flood from crossing.
const MIN_STEP: u32 = 8;
const RELATIVE: bool = true;
/// Half the window of border cells whose median a seed must be near.
const SEED_WINDOW: usize = 8;
/// Sweeps of the smoothing that follows the fill ([`Grid::fill`]): two cost about 0.04 M
/// instructions on the costliest QQVGA frame in QEMU and gain most of what four or
/// eight do (`docs/photos.md`).
const RELAX: usize = 2;
/// At most this many candidate regions are kept (the largest ones).
const MAX_REGIONS: usize = 32;
/// A region's box, in cells, is widened by this many cells on each side for the pixel
/// search (the opening trims thin parts of a garment: straps, a handle).
const REGION_MARGIN: usize = 2;

/// Median and median absolute deviation (MAD) of the border ring's pixels.
pub(super) fn ring_level(frame: &Frame<'_>) -> (u8, u8) {
    let mut hist = [0u32; 256];
    for_each_ring_pixel(frame, |_, _, p| hist[usize::from(p)] += 1);
    median_and_mad(&hist)
}

/// The least value at which `rank` of the `count` values are reached.
fn quantile_of(count: u32, rank: u32, bin: impl Fn(usize) -> u32) -> u8 {
    let mut seen = 0u32;
    for v in 0..=255u8 {
        seen += bin(usize::from(v));
        if seen >= rank && seen > 0 && count > 0 {
            return v;
        }
    }
    255
}

/// A candidate garment region, in cells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Region {
    cells: u32,
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
    /// Sum over its cells of (cell level - background level).
    signed: i32,
}

impl Region {
    fn add(&mut self, x: usize, y: usize, signed: i32) {
        if self.cells == 0 {
            (self.left, self.top, self.right, self.bottom) = (x, y, x, y);
        }
        self.cells += 1;
        self.left = self.left.min(x);
        self.right = self.right.max(x);
        self.top = self.top.min(y);
        self.bottom = self.bottom.max(y);
        self.signed += signed;
    }

    /// Not a line (a shadow's edge): at least 3 cells across, and at least a fifth of
    /// its box covered.
    fn solid(&self) -> bool {
        let (w, h) = (self.right - self.left + 1, self.bottom - self.top + 1);
        w.min(h) >= 3 && self.cells as usize * 5 >= w * h
    }
}

/// The background model of a scene: one level per cell of a grid over the frame (cells
/// of `2^shift` pixels a side), and where in it a garment may lie.
#[derive(Debug, Clone)]
pub(super) struct Grid {
    shift: u32,
    cols: usize,
    rows: usize,
    level: [u8; MAX_CELLS],
    /// Per cell, `reference * 256 / level`: a departure from the cell's level times this,
    /// shifted right by 8, is the departure as it would be at the reference level.
    gain: [u16; MAX_CELLS],
    /// The border ring's median level: contrasts are measured as if the background
    /// were lit to it everywhere.
    reference: u8,
}

/// What [`Grid::estimate`] found besides the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    /// Where to look for the garment, in pixels: left, top, right, bottom (inclusive).
    pub region: [usize; 4],
    /// The garment is lighter than the background (else darker).
    pub light: bool,
}

impl Grid {
    /// A grid of one cell, for tests of the views that only need one.
    #[cfg(test)]
    pub(super) fn flat_for_tests() -> Self {
        Self {
            shift: 2,
            cols: 1,
            rows: 1,
            level: [0; MAX_CELLS],
            gain: [256; MAX_CELLS],
            reference: 1,
        }
    }

    /// The background level at pixel `(x, y)` (inside the frame).
    pub(super) fn level(&self, x: usize, y: usize) -> u8 {
        let i = (y >> self.shift) * self.cols + (x >> self.shift);
        self.level.get(i).copied().unwrap_or(0)
    }

    /// The gain of the cell holding pixel `(x, y)` (see [`Grid::gain`]).
    pub(super) fn gain(&self, x: usize, y: usize) -> u16 {
        let i = (y >> self.shift) * self.cols + (x >> self.shift);
        self.gain.get(i).copied().unwrap_or(256)
    }

    /// The gains of the cells along row `y`.
    pub(super) fn row_gains(&self, y: usize) -> &[u16] {
        let start = (y >> self.shift) * self.cols;
        self.gain.get(start..start + self.cols).unwrap_or(&[])
    }

    /// The levels of the cells along row `y`: cell `x >> shift` is that of column `x`.
    pub(super) fn row_levels(&self, y: usize) -> &[u8] {
        let start = (y >> self.shift) * self.cols;
        self.level.get(start..start + self.cols).unwrap_or(&[])
    }

    /// Log2 of the cell side.
    pub(super) fn shift(&self) -> u32 {
        self.shift
    }

    /// Estimates the background of `frame` and where something departs from it:
    ///
    /// 1. Each cell's level is the median of 16 of its pixels (a 4x4 lattice; all of
    ///    them in a 4-pixel cell), so that what covers less than half a cell (grain, a
    ///    thin part of a garment) does not move it.
    /// 2. The border cells are background, but for those that depart by more than a
    ///    step (below) from the median of the 17 border cells around them (a garment
    ///    touching the border). A flood spreads from them to every
    ///    neighbouring cell whose level is within a step of the background level it
    ///    carries (a border cell's own; a joining cell's an eighth of the way from the
    ///    carried level to its own, so that the carried level follows a slow change of
    ///    light but not the few-cell ramp of a garment's blurred edge); the
    ///    step is 1.5 times the 75th percentile of the steps between neighbouring
    ///    border cells, plus 4, at least [`MIN_STEP`]: slow changes of light (and a
    ///    cast shadow that reaches the border) are followed, a garment's edge is not.
    /// 3. The cells it does not reach are filled in from their reached neighbours,
    ///    ring by ring (the mean of those filled before), then smoothed ([`RELAX`]
    ///    sweeps), so the background under a garment continues the one around it.
    /// 4. The unreached cells are opened (eroded and dilated by one cell) so that a
    ///    thin line of them (a shadow's edge, a seam of the texture) is dropped; their
    ///    connected regions are candidates, the largest one is the garment (its box
    ///    takes in the other candidates), its polarity the sign of its cells' summed
    ///    departure. When nothing survives the opening, the largest solid region of
    ///    the unopened cells is taken (a sandal's straps).
    ///
    /// Returns `None` when every cell is background.
    pub(super) fn estimate(frame: &Frame<'_>, reference: u8) -> (Self, Option<Found>) {
        let (w, h) = (frame.width(), frame.height());
        let mut shift = 2u32;
        while w.div_ceil(1 << shift) > MAX_GRID || h.div_ceil(1 << shift) > MAX_GRID {
            shift += 1;
        }
        let (cols, rows) = (w.div_ceil(1 << shift), h.div_ceil(1 << shift));
        let mut grid = Self {
            shift,
            cols,
            rows,
            level: [0; MAX_CELLS],
            gain: [256; MAX_CELLS],
            reference: reference.max(1),
        };
        grid.cell_medians(frame);
        let median = grid.level;
        let mut reached = [false; MAX_CELLS];
        // Smoothed cells only where smoothing cuts the border's step by a third or
        // more (a texture finer than the cells: grain); else the cells as they are,
        // whose garment edges stay sharp.
        let smoothed = grid.smoothed();
        let (ring, n) = grid.ring();
        let raw_step = Self::step(&grid.level, &ring[..n]);
        let smooth = if 2 * raw_step >= 3 * Self::step(&smoothed, &ring[..n]) {
            smoothed
        } else {
            grid.level
        };
        grid.flood(&smooth, &mut reached);
        if reached[..cols * rows].iter().all(|&r| r) {
            let r = u32::from(grid.reference) << 8;
            for (g, &l) in grid.gain.iter_mut().zip(&grid.level) {
                *g = (r / u32::from(l.max(1))).min(u32::from(u16::MAX)) as u16;
            }
            // The flood took in everything: look in the whole frame, the polarity that
            // of the cells' summed departure from the carried background.
            let signed: i32 = (0..cols * rows)
                .map(|i| i32::from(median[i]) - i32::from(grid.level[i]))
                .sum();
            let found = (signed != 0).then_some(Found {
                region: [0, 0, w - 1, h - 1],
                light: signed > 0,
            });
            return (grid, found);
        }
        grid.fill(&reached);
        let r = u32::from(grid.reference) << 8;
        for (g, &l) in grid.gain.iter_mut().zip(&grid.level) {
            *g = (r / u32::from(l.max(1))).min(u32::from(u16::MAX)) as u16;
        }
        let found = grid.regions(&median, &reached).map(|(region, light)| {
            let side = 1usize << shift;
            let margin = REGION_MARGIN * side;
            let to_pixels = |cell: usize, last: usize| (cell * side).min(last);
            Found {
                region: [
                    to_pixels(region.left, w - 1).saturating_sub(margin),
                    to_pixels(region.top, h - 1).saturating_sub(margin),
                    (to_pixels(region.right + 1, w) + margin).min(w) - 1,
                    (to_pixels(region.bottom + 1, h) + margin).min(h) - 1,
                ],
                light,
            }
        });
        (grid, found)
    }

    /// Step 1: every cell's level, the median of a 4x4 lattice of its pixels.
    fn cell_medians(&mut self, frame: &Frame<'_>) {
        let (w, h) = (frame.width(), frame.height());
        let side = 1usize << self.shift;
        // The lattice's offsets in a cell: (2i + 1) * side / 8, i = 0..4.
        let offsets: [usize; 4] = core::array::from_fn(|i| (2 * i + 1) * side / 8);
        for cy in 0..self.rows {
            let rows: [&[u8]; 4] =
                core::array::from_fn(|i| frame.row((cy * side + offsets[i]).min(h - 1)));
            // Cells of four pixels a side, four at a time while they lie inside the
            // rows: their 16 pixels each, every one a sample.
            let mut cx = 0;
            while side == 4 && cx + 4 <= self.cols && (cx + 4) * 4 <= w {
                let x0 = cx * 4;
                // Row r of the four cells, transposed: word o's lane k is the pixel at
                // offset o in row r of cell cx + k.
                let block = |r: usize| {
                    let bytes: [u8; 16] = rows[r]
                        .get(x0..x0 + 16)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 16]);
                    lanes::transpose(core::array::from_fn(|k| {
                        u32::from_le_bytes([
                            bytes[4 * k],
                            bytes[4 * k + 1],
                            bytes[4 * k + 2],
                            bytes[4 * k + 3],
                        ])
                    }))
                };
                let ([a0, a1, a2, a3], [b0, b1, b2, b3]) = (block(0), block(1));
                let ([c0, c1, c2, c3], [d0, d1, d2, d3]) = (block(2), block(3));
                let halves = (
                    [a0, a1, a2, a3, b0, b1, b2, b3],
                    [c0, c1, c2, c3, d0, d1, d2, d3],
                );
                let medians = median16_lanes(halves).to_le_bytes();
                let at = cy * self.cols + cx;
                if let Some(cells) = self.level.get_mut(at..at + 4) {
                    cells.copy_from_slice(&medians);
                }
                cx += 4;
            }
            for cx in cx..self.cols {
                let x0 = cx * side;
                let mut samples = [0u8; 16];
                for (r, row) in rows.iter().enumerate() {
                    let four = &mut samples[4 * r..4 * r + 4];
                    match row.get(x0..x0 + side) {
                        // The cell lies inside the row (every cell of a frame whose
                        // width is a multiple of the cell side).
                        Some(cell) => {
                            for (s, &o) in four.iter_mut().zip(&offsets) {
                                *s = cell.get(o).copied().unwrap_or(0);
                            }
                        }
                        None => {
                            for (s, &o) in four.iter_mut().zip(&offsets) {
                                *s = row.get((x0 + o).min(w - 1)).copied().unwrap_or(0);
                            }
                        }
                    }
                }
                self.level[cy * self.cols + cx] = median16(&samples);
            }
        }
    }

    /// The border cells in order around the grid, and how many there are.
    fn ring(&self) -> ([u16; 4 * MAX_GRID], usize) {
        let (cols, rows) = (self.cols, self.rows);
        let mut ring = [0u16; 4 * MAX_GRID];
        let mut n = 0usize;
        let mut push = |x: usize, y: usize| {
            if n < ring.len() {
                ring[n] = (y * cols + x) as u16;
                n += 1;
            }
        };
        for x in 0..cols {
            push(x, 0);
        }
        for y in 1..rows {
            push(cols - 1, y);
        }
        if rows > 1 {
            for x in (0..cols.saturating_sub(1)).rev() {
                push(x, rows - 1);
            }
        }
        if cols > 1 {
            for y in (1..rows.saturating_sub(1)).rev() {
                push(0, y);
            }
        }
        (ring, n)
    }

    /// The flood's step for the cell levels `levels`: 1.5 times the 75th percentile of
    /// the steps between neighbouring cells of `ring` (the border), plus 4, at least
    /// [`MIN_STEP`].
    fn step(levels: &[u8; MAX_CELLS], ring: &[u16]) -> u32 {
        let n = ring.len();
        let level = |k: usize| u32::from(levels[usize::from(ring[k % n])]);
        let mut steps = [0u32; 256];
        for k in 1..n {
            steps[level(k).abs_diff(level(k - 1)) as usize] += 1;
        }
        let count: u32 = steps.iter().sum();
        let q75 = u32::from(quantile_of(count, (count * 3).div_ceil(4), |v| steps[v]));
        (q75 * 3 / 2 + 4).max(MIN_STEP)
    }

    /// Step 2: marks in `reached` the cells the flood from the border reaches.
    fn flood(&mut self, smooth: &[u8; MAX_CELLS], reached: &mut [bool; MAX_CELLS]) {
        let (cols, rows) = (self.cols, self.rows);
        // The background's level as the flood carries it: a border cell's own, then
        // an eighth of the way from the cell it came from to the cell's own.
        let mut carried = [0u8; MAX_CELLS];
        let (ring, n) = self.ring();
        let ring = &ring[..n];
        let level = |k: usize| u32::from(smooth[usize::from(ring[k % n])]);
        let step = Self::step(smooth, ring);
        // Seeds: the border cells within a step of the median of the border cells
        // around them (a window of 17 along the ring), so that a garment touching the
        // border over fewer cells is no seed, and both sides of a shadow's edge are.
        let mut queue = [0u16; MAX_CELLS];
        let mut len = 0usize;
        // The window around ring cell k is cells k - span / 2 .. k + span / 2 (around
        // the ring), kept sorted as it slides: one level leaves, one enters.
        let span = (2 * SEED_WINDOW + 1).min(n);
        let first = |k: usize| k + n - span / 2;
        let mut window = [0u8; 2 * SEED_WINDOW + 1];
        let window = &mut window[..span];
        if n > 0 {
            for (j, w) in window.iter_mut().enumerate() {
                *w = level(first(0) + j) as u8;
            }
            window.sort_unstable();
        }
        for (k, &cell) in ring.iter().enumerate() {
            if k > 0 {
                let leaving = level(first(k - 1)) as u8;
                let entering = level(first(k) + span - 1) as u8;
                replace_sorted(window, leaving, entering);
            }
            let median = u32::from(window[span / 2]);
            let i = usize::from(cell);
            if !reached[i] && level(k).abs_diff(median) <= step {
                reached[i] = true;
                carried[i] = smooth[i];
                queue[len] = i as u16;
                len += 1;
            }
        }
        let mut head = 0usize;
        while head < len {
            let i = usize::from(queue[head]);
            head += 1;
            let (x, y) = (i % cols, i / cols);
            let v = u32::from(carried[i]);
            // The step is the border's, at the reference level: in a shadow or where
            // the light falls off, the same relative change counts.
            let reference = if RELATIVE {
                u32::from(self.reference)
            } else {
                v.max(1)
            };
            let limit = step * v.max(1);
            let mut visit = |n: usize| {
                let own = u32::from(smooth[n]);
                if !reached[n] && own.abs_diff(v) * reference <= limit {
                    reached[n] = true;
                    carried[n] = ((7 * v + own + 4) / 8) as u8;
                    queue[len] = n as u16;
                    len += 1;
                }
            };
            // The four neighbours, written out (plain tests compile smaller than an
            // array of options; and here than `for_each_neighbour`, by 0.07 M
            // instructions a frame in `scene-cost`, measured).
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < cols {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - cols);
            }
            if y + 1 < rows {
                visit(i + cols);
            }
        }
        // The background a reached cell gets is the level the flood carried there.
        for (l, (&c, &r)) in self
            .level
            .iter_mut()
            .zip(carried.iter().zip(reached.iter()))
        {
            if r {
                *l = c;
            }
        }
    }

    /// The cells' levels averaged over their 3x3 neighbourhoods (those inside the grid):
    /// a texture finer than three cells mostly cancels, a garment's offset does not.
    fn smoothed(&self) -> [u8; MAX_CELLS] {
        let (cols, rows) = (self.cols, self.rows);
        let mut out = [0u8; MAX_CELLS];
        // Per row, each column's sum over the rows around it, then those sums over the
        // columns around each cell.
        let mut column = [0u32; MAX_GRID];
        let column = &mut column[..cols];
        let row = |y: usize| self.level.get(y * cols..(y + 1) * cols).unwrap_or(&[]);
        for y in 0..rows {
            let (top, bottom) = (y.saturating_sub(1), (y + 2).min(rows));
            for (sum, &l) in column.iter_mut().zip(row(top)) {
                *sum = u32::from(l);
            }
            for yy in top + 1..bottom {
                for (sum, &l) in column.iter_mut().zip(row(yy)) {
                    *sum += u32::from(l);
                }
            }
            let height = (bottom - top) as u32;
            let out = out.get_mut(y * cols..(y + 1) * cols).unwrap_or(&mut []);
            for (x, o) in out.iter_mut().enumerate() {
                let (left, right) = (x.saturating_sub(1), (x + 2).min(cols));
                let sum: u32 = column.get(left..right).unwrap_or(&[]).iter().sum();
                let count = height * (right - left) as u32;
                *o = (sum + count / 2).checked_div(count).unwrap_or(0) as u8;
            }
        }
        out
    }

    /// Step 3: the unreached cells' levels, filled in ring by ring from the outside:
    /// a cell of ring `k` (`k` steps from the nearest reached cell) gets the rounded mean
    /// of its neighbours of the rings before it (reached cells being ring 0). The rings
    /// in breadth-first order, so each cell is looked at once; then [`RELAX`] sweeps in
    /// the same order smooth the filled-in cells.
    fn fill(&mut self, reached: &[bool; MAX_CELLS]) {
        let (cols, rows) = (self.cols, self.rows);
        let n = cols * rows;
        // 0: not yet in a ring; k > 0: ring k - 1 (1: reached).
        let mut ring = [0u16; MAX_CELLS];
        for (p, &r) in ring.iter_mut().zip(&reached[..n]) {
            *p = u16::from(r);
        }
        // The first ring: the unreached cells next to a reached one.
        let mut queue = [0u16; MAX_CELLS];
        let mut len = 0usize;
        for (i, &r) in reached[..n].iter().enumerate() {
            if r {
                continue;
            }
            let mut next_to_reached = false;
            for_each_neighbour(i, cols, rows, |j| next_to_reached |= reached[j]);
            if next_to_reached {
                ring[i] = 2;
                queue[len] = i as u16;
                len += 1;
            }
        }
        let mut head = 0usize;
        while head < len {
            let i = usize::from(queue[head]);
            head += 1;
            let k = ring[i];
            // Every cell of an earlier ring left the queue (and got its level) before
            // this one.
            let (mut sum, mut count) = (0u32, 0u32);
            for_each_neighbour(i, cols, rows, |j| {
                if ring[j] != 0 && ring[j] < k {
                    sum += u32::from(self.level[j]);
                    count += 1;
                }
            });
            if let Some(mean) = (sum + count / 2).checked_div(count) {
                self.level[i] = mean as u8;
            }
            for_each_neighbour(i, cols, rows, |j| {
                if ring[j] == 0 {
                    ring[j] = k + 1;
                    queue[len] = j as u16;
                    len += 1;
                }
            });
        }
        // Then [`RELAX`] sweeps over the filled-in cells in the same order, each taking
        // the mean of its four neighbours (the reached cells stay): the background under
        // a garment becomes a smooth surface instead of the rings' steps, which showed
        // inside a large garment's contrast.
        let level = &mut self.level[..n];
        for _ in 0..RELAX {
            for &i in &queue[..len] {
                let i = usize::from(i);
                let x = i % cols;
                // Inside the grid (most cells): four neighbours, a shift.
                if i >= cols && i + cols < n && x > 0 && x + 1 < cols {
                    let sum = u32::from(level[i - 1])
                        + u32::from(level[i + 1])
                        + u32::from(level[i - cols])
                        + u32::from(level[i + cols]);
                    level[i] = ((sum + 2) >> 2) as u8;
                    continue;
                }
                let (mut sum, mut count) = (0u32, 0u32);
                for_each_neighbour(i, cols, rows, |j| {
                    sum += u32::from(level[j]);
                    count += 1;
                });
                if let Some(mean) = (sum + count / 2).checked_div(count) {
                    level[i] = mean as u8;
                }
            }
        }
    }

    /// Step 4: the garment's region (in cells) and polarity.
    fn regions(
        &self,
        median: &[u8; MAX_CELLS],
        reached: &[bool; MAX_CELLS],
    ) -> Option<(Region, bool)> {
        let (cols, rows) = (self.cols, self.rows);
        let n = cols * rows;
        // Eroded: the cell and its 8 neighbours unreached (a cell on the grid's edge
        // never is); opened: within one cell of an eroded one.
        // First along the rows (the cell and its left and right neighbours unreached),
        // then down the columns.
        let mut across = [false; MAX_CELLS];
        for y in 0..rows {
            for at in y * cols + 1..(y + 1) * cols - 1 {
                across[at] = !(reached[at - 1] || reached[at] || reached[at + 1]);
            }
        }
        let mut eroded = [false; MAX_CELLS];
        for y in 1..rows.saturating_sub(1) {
            for at in y * cols + 1..(y + 1) * cols - 1 {
                eroded[at] = across[at - cols] && across[at] && across[at + cols];
            }
        }
        let mut opened = [false; MAX_CELLS];
        for (i, _) in eroded[..n].iter().enumerate().filter(|(_, e)| **e) {
            for at in [i - cols, i, i + cols] {
                opened[at - 1..=at + 1].fill(true);
            }
        }
        let best = self.pick(median, &opened, |_| true).or_else(|| {
            let mut cells = [false; MAX_CELLS];
            for (c, &r) in cells.iter_mut().zip(&reached[..n]) {
                *c = !r;
            }
            self.pick(median, &cells, Region::solid)
        })?;
        Some((best, best.signed > 0))
    }

    /// The largest connected region of `cells` (4-neighbours) that `keep` accepts, its
    /// box widened to take in every other kept region (its cell count and polarity its
    /// own).
    fn pick(
        &self,
        median: &[u8; MAX_CELLS],
        cells: &[bool; MAX_CELLS],
        keep: impl Fn(&Region) -> bool,
    ) -> Option<Region> {
        let (cols, rows) = (self.cols, self.rows);
        let n = cols * rows;
        let mut seen = [false; MAX_CELLS];
        let mut queue = [0u16; MAX_CELLS];
        let mut regions = [Region::default(); MAX_REGIONS];
        let mut count = 0usize;
        for start in 0..n {
            if !cells[start] || seen[start] {
                continue;
            }
            let mut region = Region::default();
            seen[start] = true;
            queue[0] = start as u16;
            let (mut head, mut len) = (0usize, 1usize);
            while head < len {
                let i = usize::from(queue[head]);
                head += 1;
                let (x, y) = (i % cols, i / cols);
                region.add(x, y, i32::from(median[i]) - i32::from(self.level[i]));
                for_each_neighbour(i, cols, rows, |j| {
                    if cells[j] && !seen[j] {
                        seen[j] = true;
                        queue[len] = j as u16;
                        len += 1;
                    }
                });
            }
            if !keep(&region) {
                continue;
            }
            if count < MAX_REGIONS {
                regions[count] = region;
                count += 1;
            } else if let Some(smallest) = regions.iter_mut().min_by_key(|r| r.cells)
                && smallest.cells < region.cells
            {
                *smallest = region;
            }
        }
        let regions = &regions[..count];
        // The first of the largest, so the choice does not depend on the scan order's ties.
        let mut best = *regions.iter().rev().max_by_key(|r| r.cells)?;
        for other in regions {
            best.left = best.left.min(other.left);
            best.top = best.top.min(other.top);
            best.right = best.right.max(other.right);
            best.bottom = best.bottom.max(other.bottom);
        }
        Some(best)
    }
}

/// Calls `f` with each of the four neighbours of cell `i` in a grid of `cols` x `rows`
/// cells (left, right, up, down; those inside the grid), tested one by one: smaller
/// code than an array of options on the Cortex-M4.
#[inline(always)]
fn for_each_neighbour(i: usize, cols: usize, rows: usize, mut f: impl FnMut(usize)) {
    let (x, y) = (i % cols, i / cols);
    if x > 0 {
        f(i - 1);
    }
    if x + 1 < cols {
        f(i + 1);
    }
    if y > 0 {
        f(i - cols);
    }
    if y + 1 < rows {
        f(i + cols);
    }
}

/// Replaces one `old` in the sorted `v` by `new`, keeping it sorted (nothing when `old`
/// is not there).
fn replace_sorted(v: &mut [u8], old: u8, new: u8) {
    let Some(mut i) = v.iter().position(|&x| x == old) else {
        return;
    };
    while i + 1 < v.len() && v[i + 1] < new {
        v[i] = v[i + 1];
        i += 1;
    }
    while i > 0 && v[i - 1] > new {
        v[i] = v[i - 1];
        i -= 1;
    }
    v[i] = new;
}

/// `v` sorted by an optimal 19-comparator network (Knuth, TAOCP vol. 3, 5.3.4), in
/// locals so that it stays in registers; `min_max(x, y)` is the lesser and the greater
/// of `x` and `y` (of levels, or of four levels side by side, [`lanes`]).
#[inline(always)]
fn sort8<T: Copy>(v: [T; 8], min_max: impl Fn(T, T) -> (T, T)) -> [T; 8] {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = v;
    macro_rules! exchange {
        ($($x:ident $y:ident),*) => {$(
            ($x, $y) = min_max($x, $y);
        )*};
    }
    exchange!(a c, b d, e g, f h, a e, b f, c g, d h, a b, c d, e f, g h);
    exchange!(c e, d f, b e, d g, b c, d e, f g);
    [a, b, c, d, e, f, g, h]
}

/// The lesser and the greater of two levels.
fn min_max(x: u8, y: u8) -> (u8, u8) {
    (x.min(y), x.max(y))
}

/// The median of 16 levels, the rounded-up mean of the 8th and 9th smallest: each half
/// sorted by [`sort8`], then the k-th smallest of the union of two sorted halves `a`
/// and `b` is the least over `i` of `max(a[i - 1], b[k - i - 1])` (a missing index
/// reads as the lowest level, or, past the end, as none), a few dozen comparisons in
/// place of a sort of 16.
fn median16(samples: &[u8; 16]) -> u8 {
    let halves = (
        core::array::from_fn(|i| samples[i]),
        core::array::from_fn(|i| samples[8 + i]),
    );
    let mean_up = |x: u8, y: u8| (u16::from(x) + u16::from(y)).div_ceil(2) as u8;
    median16_by(halves, min_max, mean_up)
}

/// [`median16`] of four cells at once: lane `k` of every sample word is cell `k`'s.
fn median16_lanes(halves: ([u32; 8], [u32; 8])) -> u32 {
    median16_by(halves, lanes::min_max, lanes::mean_up)
}

/// [`median16`] of the two halves `halves`, with `min_max` and the rounded-up mean
/// `mean_up` of the level type `T`.
#[inline(always)]
fn median16_by<T: Copy>(
    halves: ([T; 8], [T; 8]),
    min_max: impl Fn(T, T) -> (T, T) + Copy,
    mean_up: impl Fn(T, T) -> T,
) -> T {
    let a = sort8(halves.0, min_max);
    let b = sort8(halves.1, min_max);
    let min = |x, y| min_max(x, y).0;
    let max = |x, y| min_max(x, y).1;
    // k = 8: i = 0 takes b[7] alone, i = 8 takes a[7] alone.
    let mut eighth = min(a[7], b[7]);
    // k = 9: i runs from 1 (a[0], b[7]) to 8 (a[7], b[0]).
    let mut ninth = max(a[7], b[0]);
    for i in 1..8 {
        eighth = min(eighth, max(a[i - 1], b[7 - i]));
        ninth = min(ninth, max(a[i - 1], b[8 - i]));
    }
    mean_up(eighth, ninth)
}

/// The noise of a scene: the median absolute departure of the border ring's pixels from
/// the background level of their cells.
pub(super) fn ring_noise(frame: &Frame<'_>, grid: &Grid) -> u8 {
    let mut hist = [0u32; 256];
    for_each_ring_pixel(frame, |x, y, p| {
        let d = (u32::from(p.abs_diff(grid.level(x, y))) * u32::from(grid.gain(x, y))) >> 8;
        hist[d.min(255) as usize] += 1;
    });
    let count = hist.iter().sum();
    median_of(count, |v| hist[v])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn median16_is_the_mean_of_the_middle_two_sorted(samples in any::<[u8; 16]>()) {
            let mut sorted = samples;
            sorted.sort_unstable();
            let expected = (u16::from(sorted[7]) + u16::from(sorted[8])).div_ceil(2) as u8;
            prop_assert_eq!(median16(&samples), expected);
        }

        #[test]
        fn median16_lanes_is_median16_of_each_lane(words in any::<[u32; 16]>()) {
            let halves = (
                core::array::from_fn(|i| words[i]),
                core::array::from_fn(|i| words[8 + i]),
            );
            let medians = median16_lanes(halves).to_le_bytes();
            for (k, &m) in medians.iter().enumerate() {
                let samples = core::array::from_fn(|i| words[i].to_le_bytes()[k]);
                prop_assert_eq!(m, median16(&samples));
            }
        }
    }

    proptest! {
        #[test]
        fn replace_sorted_is_a_sort_of_the_replaced_levels(
            mut v in proptest::collection::vec(any::<u8>(), 1..20),
            at in any::<proptest::sample::Index>(),
            new in any::<u8>(),
        ) {
            v.sort_unstable();
            let i = at.index(v.len());
            let old = v[i];
            let mut expected = v.clone();
            expected[i] = new;
            expected.sort_unstable();
            replace_sorted(&mut v, old, new);
            prop_assert_eq!(v, expected);
        }
    }

    #[test]
    fn the_background_under_a_large_garment_is_smooth() {
        // Light falling off from left to right (200 down to 120) and from top to
        // bottom (by 40), and a light garment of 70x70 pixels. The fill alone leaves
        // steps of up to 26 levels between neighbouring cells under the garment, where
        // the light changes by 2 per cell (its rings meet along diagonals) and departs
        // from the light by up to 24; smoothed, by at most 10 and 18.
        let (w, h) = (160usize, 120usize);
        let light = |x: usize, y: usize| 200 - (x as i32) / 2 - (y as i32) / 3;
        let mut px = std::vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let inside = (50..120).contains(&x) && (25..95).contains(&y);
                px[y * w + x] = if inside { 250 } else { light(x, y) as u8 };
            }
        }
        let frame = Frame::new(&px, w, h).unwrap();
        let (reference, _) = ring_level(&frame);
        let (grid, found) = Grid::estimate(&frame, reference);
        assert!(found.unwrap().light);
        // Cells wholly under the garment: their top-left pixels.
        let under = || {
            (28..92)
                .step_by(4)
                .flat_map(|y| (52..118).step_by(4).map(move |x| (x, y)))
        };
        let level = |x: usize, y: usize| i32::from(grid.level(x, y));
        let departs = under()
            .map(|(x, y)| (level(x, y) - light(x + 2, y + 2)).abs())
            .max()
            .unwrap();
        let step = under()
            .filter(|&(x, y)| x + 4 < 118 && y + 4 < 92)
            .map(|(x, y)| {
                let right = (level(x, y) - level(x + 4, y)).abs();
                right.max((level(x, y) - level(x, y + 4)).abs())
            })
            .max()
            .unwrap();
        assert!(
            step <= 12,
            "a step of {step} levels between cells under the garment"
        );
        assert!(
            departs <= 20,
            "the background departs by {departs} levels from the light"
        );
    }

    #[test]
    fn sort8_sorts_every_zero_one_input() {
        // The 0-1 principle: a network that sorts every 0-1 input sorts every input.
        for bits in 0u32..256 {
            let v: [u8; 8] = core::array::from_fn(|i| ((bits >> i) & 1) as u8);
            let mut expected = v;
            expected.sort_unstable();
            assert_eq!(sort8(v, min_max), expected, "input bits {bits:08b}");
        }
    }

    #[test]
    fn median16_of_ordered_and_reversed_levels() {
        let up: [u8; 16] = core::array::from_fn(|i| (i * 10) as u8);
        assert_eq!(median16(&up), 75);
        let mut down = up;
        down.reverse();
        assert_eq!(median16(&down), 75);
    }
}
