//! Stage 1: the background. The border ring's level and spread (for the style decision
//! and the dataset style), and for a scene a model of the background everywhere: a grid
//! of cells whose level follows the light's slow changes (gradients, a bright spot,
//! vignetting, a cast shadow reaching the border) and the texture's coarse part, with
//! the cells that depart from it (the garment) found and filled in from around them.

use super::Frame;

/// Thickness in pixels of the border ring that estimates the background.
pub const BORDER: usize = 2;

/// The grid has at most this many cells along a side.
pub(super) const MAX_GRID: usize = 40;
const MAX_CELLS: usize = MAX_GRID * MAX_GRID;
/// Least level step between neighbouring cells that keeps the flood from crossing.
const MIN_STEP: u32 = 8;
/// At most this many candidate regions are kept (the largest ones).
const MAX_REGIONS: usize = 32;
/// A region's box, in cells, is widened by this many cells on each side for the pixel
/// search (the opening trims thin parts of a garment: straps, a handle).
const REGION_MARGIN: usize = 2;

/// Calls `f(x, y, pixel)` for every pixel of the border ring (each once).
pub(super) fn for_each_ring_pixel(frame: &Frame<'_>, mut f: impl FnMut(usize, usize, u8)) {
    let (w, h) = (frame.width(), frame.height());
    let band = BORDER.min(w).min(h);
    // Left band, then the right band without counting a column twice.
    let right = w.saturating_sub(band).max(band);
    for y in 0..h {
        let row = frame.row(y);
        if y < band || y + band >= h {
            for (x, &p) in row.iter().enumerate() {
                f(x, y, p);
            }
        } else {
            for x in (0..band).chain(right..w) {
                if let Some(&p) = row.get(x) {
                    f(x, y, p);
                }
            }
        }
    }
}

/// Median and median absolute deviation (MAD) of the border ring's pixels.
pub(super) fn ring_level(frame: &Frame<'_>) -> (u8, u8) {
    let mut hist = [0u32; 256];
    for_each_ring_pixel(frame, |_, _, p| hist[usize::from(p)] += 1);
    median_and_mad(&hist)
}

/// Lower median and median absolute deviation of a histogram over 0..=255.
pub(super) fn median_and_mad(hist: &[u32; 256]) -> (u8, u8) {
    let count: u32 = hist.iter().sum();
    let median = median_of(count, |v| hist[v]);
    let m = usize::from(median);
    let mad = median_of(count, |d| {
        let below = if d > 0 && d <= m { hist[m - d] } else { 0 };
        let above = hist.get(m + d).copied().unwrap_or(0);
        below + above
    });
    (median, mad)
}

/// The lower median of a distribution over 0..=255 given by its bin counts.
pub(super) fn median_of(count: u32, bin: impl Fn(usize) -> u32) -> u8 {
    quantile_of(count, count.div_ceil(2), bin)
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
    /// The background level at pixel `(x, y)` (inside the frame).
    pub(super) fn level(&self, x: usize, y: usize) -> u8 {
        let i = (y >> self.shift) * self.cols + (x >> self.shift);
        self.level.get(i).copied().unwrap_or(0)
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
    /// 2. The border cells are background. A flood spreads from them to every
    ///    neighbouring cell whose level is within a step of the cell it comes from; the
    ///    step is 1.5 times the 90th percentile of the steps between neighbouring
    ///    border cells, plus 4, at least [`MIN_STEP`]: slow changes of light (and a
    ///    cast shadow that reaches the border) are followed, a garment's edge is not.
    /// 3. The cells it does not reach are filled in from their reached neighbours,
    ///    ring by ring (the mean of those filled before), so the background under a
    ///    garment continues the one around it.
    /// 4. The unreached cells are opened (eroded and dilated by one cell) so that a
    ///    thin line of them (a shadow's edge, a seam of the texture) is dropped; their
    ///    connected regions are candidates, the largest one is the garment (regions
    ///    touching its box join it), its polarity the sign of its cells' summed
    ///    departure. When nothing survives the opening, the largest solid region of
    ///    the unopened cells is taken (a sandal's straps).
    ///
    /// Returns `None` when every cell is background.
    pub(super) fn estimate(frame: &Frame<'_>) -> (Self, Option<Found>) {
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
        };
        grid.cell_medians(frame);
        let median = grid.level;
        let mut reached = [false; MAX_CELLS];
        grid.flood(&mut reached);
        if reached[..cols * rows].iter().all(|&r| r) {
            return (grid, None);
        }
        grid.fill(&reached);
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
            for cx in 0..self.cols {
                let mut samples = [0u8; 16];
                for (k, s) in samples.iter_mut().enumerate() {
                    let x = (cx * side + offsets[k % 4]).min(w - 1);
                    *s = rows[k / 4].get(x).copied().unwrap_or(0);
                }
                samples.sort_unstable();
                let mid = (u16::from(samples[7]) + u16::from(samples[8])).div_ceil(2);
                self.level[cy * self.cols + cx] = mid as u8;
            }
        }
    }

    /// Step 2: marks in `reached` the cells the flood from the border reaches.
    fn flood(&self, reached: &mut [bool; MAX_CELLS]) {
        let (cols, rows) = (self.cols, self.rows);
        let at = |x: usize, y: usize| u32::from(self.level[y * cols + x]);
        // The border cells in order around the grid, and the steps between them.
        let mut steps = [0u32; 256];
        let mut queue = [0u16; MAX_CELLS];
        let mut len = 0usize;
        let mut previous: Option<u32> = None;
        let mut ring = |x: usize, y: usize| {
            let i = y * cols + x;
            if !reached[i] {
                reached[i] = true;
                queue[len] = i as u16;
                len += 1;
            }
            let v = at(x, y);
            if let Some(p) = previous {
                steps[p.abs_diff(v) as usize] += 1;
            }
            previous = Some(v);
        };
        for x in 0..cols {
            ring(x, 0);
        }
        for y in 1..rows {
            ring(cols - 1, y);
        }
        for x in (0..cols.saturating_sub(1)).rev() {
            ring(x, rows - 1);
        }
        for y in (1..rows.saturating_sub(1)).rev() {
            ring(0, y);
        }
        let count: u32 = steps.iter().sum();
        let q90 = u32::from(quantile_of(count, (count * 9).div_ceil(10), |v| steps[v]));
        let step = (q90 * 3 / 2 + 4).max(MIN_STEP);
        let mut head = 0usize;
        while head < len {
            let i = usize::from(queue[head]);
            head += 1;
            let (x, y) = (i % cols, i / cols);
            let v = at(x, y);
            let neighbours = [
                (x > 0).then(|| i - 1),
                (x + 1 < cols).then(|| i + 1),
                (y > 0).then(|| i - cols),
                (y + 1 < rows).then(|| i + cols),
            ];
            for n in neighbours.into_iter().flatten() {
                if !reached[n] && u32::from(self.level[n]).abs_diff(v) <= step {
                    reached[n] = true;
                    queue[len] = n as u16;
                    len += 1;
                }
            }
        }
    }

    /// Step 3: the unreached cells' levels, filled in ring by ring from the outside.
    fn fill(&mut self, reached: &[bool; MAX_CELLS]) {
        let (cols, rows) = (self.cols, self.rows);
        let n = cols * rows;
        // 0: unfilled; k > 0: filled in pass k - 1 (1: reached).
        let mut pass = [0u16; MAX_CELLS];
        for (p, &r) in pass.iter_mut().zip(&reached[..n]) {
            *p = u16::from(r);
        }
        // Each pass fills at least one cell while any is left: at most n passes.
        for k in 2..(n as u16 + 2) {
            let mut any = false;
            for i in 0..n {
                if pass[i] != 0 {
                    continue;
                }
                let (x, y) = (i % cols, i / cols);
                let neighbours = [
                    (x > 0).then(|| i - 1),
                    (x + 1 < cols).then(|| i + 1),
                    (y > 0).then(|| i - cols),
                    (y + 1 < rows).then(|| i + cols),
                ];
                let (mut sum, mut count) = (0u32, 0u32);
                for j in neighbours.into_iter().flatten() {
                    if pass[j] != 0 && pass[j] < k {
                        sum += u32::from(self.level[j]);
                        count += 1;
                    }
                }
                if let Some(mean) = (sum + count / 2).checked_div(count) {
                    self.level[i] = mean as u8;
                    pass[i] = k;
                    any = true;
                }
            }
            if !any {
                break;
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
        let unreached = |x: isize, y: isize| {
            x >= 0
                && y >= 0
                && (x as usize) < cols
                && (y as usize) < rows
                && !reached[y as usize * cols + x as usize]
        };
        let around = |x: usize, y: usize, f: &dyn Fn(isize, isize) -> bool| {
            (-1..=1).all(|dy| (-1..=1).all(|dx| f(x as isize + dx, y as isize + dy)))
        };
        let mut eroded = [false; MAX_CELLS];
        for (i, e) in eroded[..n].iter_mut().enumerate() {
            *e = around(i % cols, i / cols, &unreached);
        }
        let mut opened = [false; MAX_CELLS];
        for (i, o) in opened[..n].iter_mut().enumerate() {
            let (x, y) = ((i % cols) as isize, (i / cols) as isize);
            *o = (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    let (xx, yy) = (x + dx, y + dy);
                    xx >= 0
                        && yy >= 0
                        && (xx as usize) < cols
                        && (yy as usize) < rows
                        && eroded[yy as usize * cols + xx as usize]
                })
            });
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

    /// The largest connected region of `cells` (4-neighbours) that `keep` accepts,
    /// with the other kept regions that touch its box widened by the margin merged in.
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
                let neighbours = [
                    (x > 0).then(|| i - 1),
                    (x + 1 < cols).then(|| i + 1),
                    (y > 0).then(|| i - cols),
                    (y + 1 < rows).then(|| i + cols),
                ];
                for j in neighbours.into_iter().flatten() {
                    if cells[j] && !seen[j] {
                        seen[j] = true;
                        queue[len] = j as u16;
                        len += 1;
                    }
                }
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
        let (l, t) = (
            best.left.saturating_sub(REGION_MARGIN),
            best.top.saturating_sub(REGION_MARGIN),
        );
        let (r, b) = (best.right + REGION_MARGIN, best.bottom + REGION_MARGIN);
        let signed = best.signed;
        for other in regions {
            if other.left <= r && other.right >= l && other.top <= b && other.bottom >= t {
                best.left = best.left.min(other.left);
                best.top = best.top.min(other.top);
                best.right = best.right.max(other.right);
                best.bottom = best.bottom.max(other.bottom);
            }
        }
        best.signed = signed;
        Some(best)
    }
}

/// The noise of a scene: the median absolute departure of the border ring's pixels from
/// the background level of their cells.
pub(super) fn ring_noise(frame: &Frame<'_>, grid: &Grid) -> u8 {
    let mut hist = [0u32; 256];
    for_each_ring_pixel(frame, |x, y, p| {
        hist[usize::from(p.abs_diff(grid.level(x, y)))] += 1;
    });
    let count = hist.iter().sum();
    median_of(count, |v| hist[v])
}
