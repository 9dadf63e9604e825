//! The inner loops of the convolution and dense kernels, on the operand
//! orders of [`layout`](crate::layout): pure int8 dot products (the input zero
//! point is folded into the bias).
//!
//! Three implementations with one contract each, chosen at compile time:
//!
//! - portable Rust (the default), shaped so that compilers vectorize it;
//! - with the `arm-dsp` feature, Cortex-M4/M7/M33 assembly ([`arm`]) that
//!   multiplies two 16-bit pairs per `smlad` and widens four int8 weights with
//!   two `sxtb16`;
//! - with the `x86-simd` feature on x86-64, SSE2 intrinsics ([`x86`]) that
//!   multiply eight 16-bit pairs per `pmaddwd`, or sixteen per `vpmaddwd`
//!   with AVX2 where the CPU has it (with `std`; `arm-dsp` wins if both
//!   features are on).
//!
//! The DSP build also has its own kernels for 3x3 one-channel convolutions
//! ([`windows`], [`windows_pooled`] on a [`WindowImage`]), for dense layers
//! on inputs widened beforehand ([`widen_pairs`], [`dense4_wide`]) and for
//! the per-channel sums of global average pooling ([`channel_sums`]).
//!
//! The fast ones are checked bit for bit against [`reference`](crate::reference) by the
//! kernels' property tests (on the host) and by [`selfcheck`](crate::selfcheck)
//! (on the target, in QEMU).
//!
//! The convolution works on four output pixels at a time: their input patches
//! are widened to i16 once ([`PatchBuf::widen`]) and then dotted with each
//! filter row ([`dot4`]), so every weight word is loaded once per four pixels.
//! Where each value goes in the buffer is this module's business: the portable code keeps four plain rows; the DSP code interleaves the pixels by
//! groups of four values, in the pair order `sxtb16` produces.

#[cfg(feature = "arm-dsp")]
mod arm;
#[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
mod x86;

#[cfg(not(feature = "arm-dsp"))]
use crate::layout::DENSE_BLOCK;
use crate::layout::GROUP;

#[cfg(feature = "arm-dsp")]
pub(crate) use arm::{
    PAIR_SUM_PIXELS, channel_sums, dense4_wide, widen_pairs, windows, windows_pooled,
};

/// Values per row of a [`WindowImage`] (even, so that every even column of
/// every row starts a word-aligned pair).
#[cfg(feature = "arm-dsp")]
pub(crate) const WINDOW_STRIDE: usize = 32;

/// Rows of a [`WindowImage`].
#[cfg(feature = "arm-dsp")]
pub(crate) const WINDOW_ROWS: usize = 32;

/// A one-channel input widened to i16 with its padding, rows of
/// [`WINDOW_STRIDE`] values, for the DSP kernel of 3x3 one-channel
/// convolutions (every model's first layer), which reads pair words of it.
#[cfg(feature = "arm-dsp")]
#[repr(C, align(8))]
pub(crate) struct WindowImage {
    /// Row-major values; what lies outside the padded input is never read.
    pub values: [i16; WINDOW_STRIDE * WINDOW_ROWS],
}

/// One filter of a 3x3 one-channel convolution as the DSP window kernel
/// reads it.
#[cfg(feature = "arm-dsp")]
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WindowFilter {
    /// Per kernel row `ky`, four pair words (low half first):
    /// `[w0, w1], [w2, 0]` for an output pixel at an even column (reading
    /// input columns 0-1 and 2-3) and `[0, w0], [w1, w2]` for the pixel to its
    /// right (the same input words, shifted by one column).
    pub weights: [u32; 12],
    /// `[bias, multiplier, round, high shift, zero point, min]` of the
    /// channel when its shift exceeds 32 (see `Channel::window_params`).
    pub params: [i32; 6],
}

#[cfg(feature = "arm-dsp")]
impl WindowFilter {
    /// The filter whose stored row (3x3 weights, `[ky][kx]`, then padding)
    /// is `row`.
    pub fn new(row: &[u8], params: [i32; 6]) -> Self {
        let w = |i: usize| u32::from(row[i] as i8 as i16 as u16);
        let pair = |lo: u32, hi: u32| lo | (hi << 16);
        let mut weights = [0u32; 12];
        for (ky, words) in weights.chunks_exact_mut(4).enumerate() {
            let (w0, w1, w2) = (w(3 * ky), w(3 * ky + 1), w(3 * ky + 2));
            words.copy_from_slice(&[pair(w0, w1), pair(w2, 0), pair(0, w0), pair(w1, w2)]);
        }
        Self { weights, params }
    }
}

/// Pixels whose patches are dotted together.
pub(crate) const PIXELS: usize = 4;

/// Longest stored row ([`layout::row_len`](crate::layout::row_len) of
/// `k * k * C`) the convolution buffers: 3x3 kernels on up to 64 channels.
pub(crate) const PATCH_MAX: usize = 576;

/// The widened patches of [`PIXELS`] output pixels (4.5 KiB of i16), aligned
/// for double-word loads, for rows of `row` values (a multiple of [`GROUP`],
/// at most [`PATCH_MAX`]). Values go in by whole groups of four.
#[repr(C, align(8))]
pub(crate) struct PatchBuf {
    values: [i16; PIXELS * PATCH_MAX],
    row: usize,
    /// The portable [`dot4`]'s widened filter row (reused, so never re-zeroed).
    #[cfg(not(any(feature = "arm-dsp", all(feature = "x86-simd", target_arch = "x86_64"))))]
    weights: [i16; PATCH_MAX],
}

impl PatchBuf {
    /// A zeroed buffer for rows of `row` values.
    pub fn new(row: usize) -> Self {
        assert!(row <= PATCH_MAX && row.is_multiple_of(GROUP));
        Self {
            values: [0; PIXELS * PATCH_MAX],
            row,
            #[cfg(not(any(
                feature = "arm-dsp",
                all(feature = "x86-simd", target_arch = "x86_64")
            )))]
            weights: [0; PATCH_MAX],
        }
    }

    /// The values in use.
    #[cfg(feature = "arm-dsp")]
    fn used(&self) -> &[i16] {
        &self.values[..PIXELS * self.row]
    }

    /// Widens `src` (whole groups) into groups `g0..` of pixel `p`'s patch.
    #[inline(always)]
    pub fn widen(&mut self, p: usize, g0: usize, src: &[i8]) {
        let groups = src.len() / GROUP;
        assert!(p < PIXELS && src.len().is_multiple_of(GROUP) && (g0 + groups) * GROUP <= self.row);
        #[cfg(feature = "arm-dsp")]
        if groups > 0 {
            // From this pixel's first group to the end of its last one.
            let len = (groups - 1) * PIXELS * GROUP + GROUP;
            arm::widen(src, &mut self.values[(g0 * PIXELS + p) * GROUP..][..len]);
        }
        #[cfg(not(feature = "arm-dsp"))]
        for (d, &x) in self.values[p * self.row + g0 * GROUP..][..src.len()]
            .iter_mut()
            .zip(src)
        {
            *d = i16::from(x);
        }
    }

    /// Sets groups `g0..g0 + groups` of pixel `p`'s patch to `value`.
    #[inline(always)]
    pub fn fill(&mut self, p: usize, g0: usize, groups: usize, value: i8) {
        assert!(p < PIXELS && (g0 + groups) * GROUP <= self.row);
        let v = i16::from(value);
        #[cfg(feature = "arm-dsp")]
        for g in g0..g0 + groups {
            self.values[(g * PIXELS + p) * GROUP..][..GROUP].fill(v);
        }
        #[cfg(not(feature = "arm-dsp"))]
        self.values[p * self.row + g0 * GROUP..][..groups * GROUP].fill(v);
    }
}

/// `bias + w . patch[p]` for the four pixels of `buf`, `w` one row.
#[inline(always)]
pub(crate) fn dot4(w: &[u8], buf: &mut PatchBuf, bias: i32) -> [i32; PIXELS] {
    let row = buf.row;
    assert_eq!(w.len(), row);
    #[cfg(feature = "arm-dsp")]
    {
        arm::dot4(w, buf.used(), bias)
    }
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
    {
        x86::dot4(w, &buf.values[..PIXELS * row], bias)
    }
    #[cfg(not(any(feature = "arm-dsp", all(feature = "x86-simd", target_arch = "x86_64"))))]
    {
        // Widen the row once, then four i16 x i16 dot products: the shape
        // compilers turn into multiply-add instructions (x86 `pmaddwd`).
        // Disjoint fields: the patches read, the widened row written.
        let (b, wide) = (&buf.values[..PIXELS * row], &mut buf.weights[..row]);
        for (d, &w) in wide.iter_mut().zip(w) {
            *d = i16::from(w as i8);
        }
        let wide = &*wide;
        // Products summed in adjacent pairs, as `pmaddwd` does.
        let dot = |p: &[i16]| -> i32 {
            p.chunks_exact(2)
                .zip(wide.chunks_exact(2))
                .map(|(x, w)| i32::from(x[0]) * i32::from(w[0]) + i32::from(x[1]) * i32::from(w[1]))
                .sum()
        };
        [
            bias + dot(&b[..row]),
            bias + dot(&b[row..2 * row]),
            bias + dot(&b[2 * row..3 * row]),
            bias + dot(&b[3 * row..]),
        ]
    }
}

/// [`dot4`] of two rows at once (x86 only: each patch vector is loaded once
/// for both rows).
#[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
#[inline(always)]
pub(crate) fn dot4x2(w0: &[u8], w1: &[u8], buf: &PatchBuf, bias: [i32; 2]) -> [[i32; PIXELS]; 2] {
    let row = buf.row;
    assert!(w0.len() == row && w1.len() == row);
    x86::dot4x2(w0, w1, &buf.values[..PIXELS * row], bias)
}

/// `acc[r] += sum_i w[r][i] * x[i]` for one interleaved block of four dense
/// rows over the whole groups of `x` (`x.len()` a multiple of [`GROUP`],
/// `block.len() == DENSE_BLOCK * x.len()`). The DSP build runs
/// [`dense4_wide`] instead, on inputs widened beforehand.
#[cfg(not(feature = "arm-dsp"))]
#[inline(always)]
pub(crate) fn dense4(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    debug_assert!(x.len().is_multiple_of(GROUP) && block.len() == DENSE_BLOCK * x.len());
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64"))]
    {
        x86::dense4(block, x, acc)
    }
    #[cfg(not(any(feature = "arm-dsp", all(feature = "x86-simd", target_arch = "x86_64"))))]
    {
        // One lane per stored byte of a group (row r, term j at 4r + j), summed per
        // row at the end: a fixed-width loop body compilers vectorize.
        let mut lanes = [0i32; DENSE_BLOCK * GROUP];
        for (xg, wg) in x
            .chunks_exact(GROUP)
            .zip(block.chunks_exact(DENSE_BLOCK * GROUP))
        {
            for (k, (l, &w)) in lanes.iter_mut().zip(wg).enumerate() {
                *l += i32::from(w as i8) * i32::from(xg[k % GROUP]);
            }
        }
        let mut acc = acc;
        for (a, l) in acc.iter_mut().zip(lanes.chunks_exact(GROUP)) {
            *a += l.iter().sum::<i32>();
        }
        acc
    }
}

/// [`dense4`] of two blocks over the same inputs (on x86-64 with AVX2 each
/// group of inputs is prepared once for both).
#[cfg(not(feature = "arm-dsp"))]
#[inline(always)]
pub(crate) fn dense4x2(
    blocks: [&[u8]; 2],
    x: &[i8],
    acc: [[i32; DENSE_BLOCK]; 2],
) -> [[i32; DENSE_BLOCK]; 2] {
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64"))]
    {
        x86::dense4x2(blocks, x, acc)
    }
    #[cfg(not(all(feature = "x86-simd", target_arch = "x86_64")))]
    {
        [dense4(blocks[0], x, acc[0]), dense4(blocks[1], x, acc[1])]
    }
}

/// The stored row length [`dot_rows12`] takes: 3x3 kernels on one input
/// channel (9 weights and 3 of padding), every model's first convolution.
pub(crate) const SMALL_ROW: usize = 12;

/// Most filters [`Rows12`] takes.
pub(crate) const SMALL_ROW_FILTERS: usize = 64;

/// A first convolution's filters (rows of [`SMALL_ROW`] stored weights, at
/// most [`SMALL_ROW_FILTERS`]), prepared once per layer for the kernel that
/// dots one pixel's patch with all of them ([`Rows12::dot`]): the raw rows,
/// or on x86-64 with AVX2 a transposed copy of their tap pairs.
#[derive(Debug)]
pub(crate) struct Rows12<'w> {
    w: &'w [u8],
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
    pairs: Option<x86::Rows12Pairs>,
}

impl<'w> Rows12<'w> {
    /// Prepares the rows `w`.
    pub fn new(w: &'w [u8]) -> Self {
        assert!(w.len().is_multiple_of(SMALL_ROW) && w.len() <= SMALL_ROW * SMALL_ROW_FILTERS);
        Self {
            w,
            #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
            pairs: x86::Rows12Pairs::new(w),
        }
    }

    /// `acc[o] = w[o] . patch` for every row `o` (the entries past the last
    /// row are left unspecified).
    #[inline(always)]
    pub fn dot(&self, patch: &[i8; SMALL_ROW], acc: &mut [i32; SMALL_ROW_FILTERS]) {
        #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
        if let Some(pairs) = &self.pairs {
            pairs.dot(patch, acc);
            return;
        }
        dot_rows12(patch, self.w, &mut acc[..self.w.len() / SMALL_ROW]);
    }

    /// `max[o] = max over p of w[o] . patches[p]` for every row `o` (the
    /// four pixels of a pooling window; entries past the last row are left
    /// unspecified). `acc` is room for the four pixels' sums, where a kernel
    /// needs it.
    #[inline(always)]
    pub fn dot_max4(
        &self,
        patches: &[[i8; SMALL_ROW]; 4],
        acc: &mut [[i32; SMALL_ROW_FILTERS]; 4],
        max: &mut [i32; SMALL_ROW_FILTERS],
    ) {
        #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
        if let Some(pairs) = &self.pairs {
            pairs.dot_max4(patches, max);
            return;
        }
        for (patch, acc) in patches.iter().zip(acc.iter_mut()) {
            self.dot(patch, acc);
        }
        // Whole arrays, so that the compiler vectorizes the max.
        let [a0, a1, a2, a3] = &*acc;
        for (((m, a0), a1), (a2, a3)) in max.iter_mut().zip(a0).zip(a1).zip(a2.iter().zip(a3)) {
            *m = (*a0).max(*a1).max((*a2).max(*a3));
        }
    }
}

/// `acc[o] = w[o] . patch` for every row of `w` (rows of [`SMALL_ROW`]
/// weights) and one patch of [`SMALL_ROW`] values: the first convolution's
/// 9 MACs per output are too few for [`dot4`]'s per-call work to pay off, so
/// this keeps one pixel's patch in registers for all filters.
#[inline(always)]
fn dot_rows12(patch: &[i8; SMALL_ROW], w: &[u8], acc: &mut [i32]) {
    assert_eq!(w.len(), SMALL_ROW * acc.len());
    if acc.is_empty() {
        return;
    }
    #[cfg(feature = "arm-dsp")]
    arm::dot_rows12(&arm::pair_words::<6>(patch), w, acc);
    #[cfg(all(feature = "x86-simd", target_arch = "x86_64", not(feature = "arm-dsp")))]
    x86::dot_rows12(patch, w, acc);
    #[cfg(not(any(feature = "arm-dsp", all(feature = "x86-simd", target_arch = "x86_64"))))]
    for (a, w) in acc.iter_mut().zip(w.chunks_exact(SMALL_ROW)) {
        *a = w
            .iter()
            .zip(patch)
            .map(|(&w, &x)| i32::from(w as i8) * i32::from(x))
            .sum();
    }
}
