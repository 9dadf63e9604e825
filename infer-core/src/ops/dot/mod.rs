//! The inner loops of the convolution and dense kernels, on the operand
//! orders of [`layout`](crate::layout): pure int8 dot products (the input zero
//! point is folded into the bias).
//!
//! Two implementations with one contract each, chosen at compile time:
//!
//! - portable Rust (the default), shaped so that compilers vectorize it;
//! - with the `arm-dsp` feature, Cortex-M4/M7/M33 assembly ([`arm`]) that
//!   multiplies two 16-bit pairs per `smlad` and widens four int8 weights with
//!   two `sxtb16`.
//!
//! Both are checked bit for bit against [`reference`](crate::reference) by the
//! kernels' property tests (on the host) and by [`selfcheck`](crate::selfcheck)
//! (on the target, in QEMU).
//!
//! The convolution works on four output pixels at a time: their input patches
//! are widened to i16 once ([`PatchBuf::widen`]) and then dotted with each
//! filter row ([`dot4`]), so every weight word is loaded once per four pixels. Where each value goes in the buffer is this module's business: the
//! portable code keeps four plain rows; the DSP code interleaves the pixels by
//! groups of four values, in the pair order `sxtb16` produces.

#[cfg(feature = "arm-dsp")]
mod arm;

use crate::layout::{DENSE_BLOCK, GROUP};

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
}

impl PatchBuf {
    /// A zeroed buffer for rows of `row` values.
    pub fn new(row: usize) -> Self {
        assert!(row <= PATCH_MAX && row.is_multiple_of(GROUP));
        Self {
            values: [0; PIXELS * PATCH_MAX],
            row,
        }
    }

    /// The values in use.
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
pub(crate) fn dot4(w: &[u8], buf: &PatchBuf, bias: i32) -> [i32; PIXELS] {
    let row = buf.row;
    assert_eq!(w.len(), row);
    #[cfg(feature = "arm-dsp")]
    {
        arm::dot4(w, buf.used(), bias)
    }
    #[cfg(not(feature = "arm-dsp"))]
    {
        let b = buf.used();
        let (p0, p1, p2, p3) = (
            &b[..row],
            &b[row..2 * row],
            &b[2 * row..3 * row],
            &b[3 * row..],
        );
        let mut acc = [bias; PIXELS];
        for i in 0..row {
            let w = i32::from(w[i] as i8);
            acc[0] += w * i32::from(p0[i]);
            acc[1] += w * i32::from(p1[i]);
            acc[2] += w * i32::from(p2[i]);
            acc[3] += w * i32::from(p3[i]);
        }
        acc
    }
}

/// `acc[r] += sum_i w[r][i] * x[i]` for one interleaved block of four dense
/// rows over the whole groups of `x` (`x.len()` a multiple of [`GROUP`],
/// `block.len() == DENSE_BLOCK * x.len()`).
#[inline(always)]
pub(crate) fn dense4(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    debug_assert!(x.len().is_multiple_of(GROUP) && block.len() == DENSE_BLOCK * x.len());
    #[cfg(feature = "arm-dsp")]
    {
        arm::dense4(block, x, acc)
    }
    #[cfg(not(feature = "arm-dsp"))]
    {
        let mut acc = acc;
        for (xg, wg) in x
            .chunks_exact(GROUP)
            .zip(block.chunks_exact(DENSE_BLOCK * GROUP))
        {
            for (a, wr) in acc.iter_mut().zip(wg.chunks_exact(GROUP)) {
                for (&w, &x) in wr.iter().zip(xg) {
                    *a += i32::from(w as i8) * i32::from(x);
                }
            }
        }
        acc
    }
}
