//! Cortex-M DSP assembly for the inner loops (feature `arm-dsp`; needs the
//! Armv7E-M or Armv8-M Mainline DSP extension: Cortex-M4, M7, M33, M55).
//!
//! Stable `core::arch::asm!` rather than code shaped for LLVM's ARM
//! parallel-DSP pass: that pass only pairs *16-bit* loads into `smlad` and
//! never emits `sxtb16`, so int8 weights would be widened one byte at a time;
//! assembly also keeps the instruction counts independent of the compiler
//! version. This is the crate's only unsafe code on the target (on x86-64 hosts,
//! `x86.rs` has its own). Each function checks
//! the lengths its loop relies on with real assertions before entering it.
//!
//! Pair order: `sxtb16 r, w` takes bytes 0 and 2 of `w` (`[w0, w2]` as two
//! i16), `sxtb16 r, w, ror #8` bytes 1 and 3 (`[w1, w3]`), and
//! `smlad a, x, w, a` adds `x.lo * w.lo + x.hi * w.hi`. Activations are
//! therefore widened into the same `[x0, x2], [x1, x3]` order.
#![allow(unsafe_code)]

use core::arch::asm;

use super::{GROUP, PIXELS, WINDOW_STRIDE, WindowFilter, WindowImage};
use crate::layout::DENSE_BLOCK;

/// Widens `src` (`groups >= 1` whole groups of four values `x0..x3`) into
/// `dst`, which runs from one pixel's first group to the end of its last:
/// group `g` goes to halfwords `g * PIXELS * 4 ..` of `dst` as `x0, x2, x1, x3`.
#[inline(always)]
pub(super) fn widen(src: &[i8], dst: &mut [i16]) {
    let groups = src.len() / GROUP;
    assert!(
        groups > 0
            && src.len() == groups * GROUP
            && dst.len() == (groups - 1) * PIXELS * GROUP + GROUP
    );
    // SAFETY: `groups >= 1`; `src` holds `4 * groups` bytes; `dst` holds
    // `2 * dst.len() == 32 * (groups - 1) + 8` bytes, so the 8 bytes at each
    // offset `32 * g`, g < groups, lie inside it; `dst` starts at a multiple of
    // 4 halfwords of a `PatchBuf` (8-byte aligned), so it is word aligned.
    unsafe { widen_groups::<32>(src.as_ptr(), dst.as_mut_ptr().cast(), groups) }
}

/// Widens `groups` groups of four bytes from `src` into the pair words
/// `[x0, x2], [x1, x3]` (8 bytes) at `dst`, `dst + STEP`, `dst + 2 * STEP`...
///
/// # Safety
/// `groups >= 1`; `src` is readable for `4 * groups` bytes (any alignment:
/// plain `ldr`, which the Cortex-M allows unaligned); `dst` is word aligned
/// (as `strd` requires; `STEP` a multiple of 4) and writable for the 8 bytes
/// at each offset `STEP * g`, g < groups.
#[inline(always)]
unsafe fn widen_groups<const STEP: usize>(src: *const i8, dst: *mut u8, groups: usize) {
    // SAFETY: the caller's contract: the loop runs `groups >= 1` times, one
    // word read from `src` and 8 bytes written at `dst + STEP * g` per pass.
    unsafe {
        asm!(
            "2:",
            "ldr {w}, [{src}], #4",
            "sxtb16 {lo}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "strd {lo}, {w}, [{dst}], #{step}",
            "subs {n}, {n}, #1",
            "bne 2b",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            n = inout(reg) groups => _,
            w = out(reg) _,
            lo = out(reg) _,
            step = const STEP,
            options(nostack),
        );
    }
}

/// `bias + w . patch[p]` for the four pixels widened into `buf` by [`widen`].
#[inline(always)]
pub(super) fn dot4(w: &[u8], buf: &[i16], bias: i32) -> [i32; PIXELS] {
    let groups = w.len() / GROUP;
    assert!(w.len() == groups * GROUP && buf.len() == PIXELS * w.len());
    let mut acc = [bias; PIXELS];
    if groups == 0 {
        return acc;
    }
    // One group of four weights for all four pixels: 17 instructions for 16
    // multiply-accumulates with the loop's `subs`/`bne`, 16 when unrolled.
    macro_rules! group {
        () => {
            concat!(
                "ldr {w}, [{wp}], #4\n",
                "sxtb16 {wl}, {w}\n",
                "sxtb16 {w}, {w}, ror #8\n",
                "ldrd {x0}, {x1}, [{xp}, #8]\n",
                "smlad {a1}, {x0}, {wl}, {a1}\n",
                "smlad {a1}, {x1}, {w}, {a1}\n",
                "ldrd {x0}, {x1}, [{xp}, #16]\n",
                "smlad {a2}, {x0}, {wl}, {a2}\n",
                "smlad {a2}, {x1}, {w}, {a2}\n",
                "ldrd {x0}, {x1}, [{xp}, #24]\n",
                "smlad {a3}, {x0}, {wl}, {a3}\n",
                "smlad {a3}, {x1}, {w}, {a3}\n",
                "ldrd {x0}, {x1}, [{xp}], #32\n",
                "smlad {a0}, {x0}, {wl}, {a0}\n",
                "smlad {a0}, {x1}, {w}, {a0}\n",
            )
        };
    }
    // SAFETY: the asm runs `groups >= 1` groups in all (an odd one first, then
    // pairs: `pairs = groups / 2` passes), each reading one word of `w`
    // (`w.len()` bytes in all, unaligned loads are allowed) and the 32 bytes of
    // one group of `buf` (`buf.len() * 2 == 32 * groups` bytes in all) with
    // `ldrd` at offsets 0, 8, 16, 24 of an 8-byte-aligned base (`PatchBuf`), as
    // `ldrd` requires. Nothing is written to memory.
    unsafe {
        asm!(
            "lsrs {n}, {n}, #1",
            "bcc 3f",
            group!(),
            "3:",
            "cmp {n}, #0",
            "beq 4f",
            "2:",
            group!(),
            group!(),
            "subs {n}, {n}, #1",
            "bne 2b",
            "4:",
            wp = inout(reg) w.as_ptr() => _,
            xp = inout(reg) buf.as_ptr() => _,
            n = inout(reg) groups => _,
            a0 = inout(reg) acc[0],
            a1 = inout(reg) acc[1],
            a2 = inout(reg) acc[2],
            a3 = inout(reg) acc[3],
            w = out(reg) _,
            wl = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            options(nostack, readonly),
        );
    }
    acc
}

/// `acc[o] = w[o] . patch` for every row `o` of `w` (rows of 12 weights, one
/// after the other) against one 12-value patch held in registers as six pair
/// words (`[x0, x2], [x1, x3], [x4, x6], ...`, see [`pair_words`]).
#[inline(always)]
pub(super) fn dot_rows12(patch: &[u32; 6], w: &[u8], acc: &mut [i32]) {
    let rows = acc.len();
    assert!(rows > 0 && w.len() == 12 * rows);
    // SAFETY: the loop runs `rows >= 1` times, reading three words of `w` per
    // pass (`12 * rows == w.len()` bytes in all, plain `ldr`, which the
    // Cortex-M allows unaligned) and writing one word of `acc` per pass
    // (`rows == acc.len()` words; an `&mut [i32]` is word aligned).
    unsafe {
        asm!(
            "2:",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {wl}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smuad {a}, {p0}, {wl}",
            "smlad {a}, {p1}, {w}, {a}",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {wl}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a}, {p2}, {wl}, {a}",
            "smlad {a}, {p3}, {w}, {a}",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {wl}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "smlad {a}, {p4}, {wl}, {a}",
            "smlad {a}, {p5}, {w}, {a}",
            "str {a}, [{ap}], #4",
            "subs {n}, {n}, #1",
            "bne 2b",
            wp = inout(reg) w.as_ptr() => _,
            ap = inout(reg) acc.as_mut_ptr() => _,
            n = inout(reg) rows => _,
            p0 = in(reg) patch[0],
            p1 = in(reg) patch[1],
            p2 = in(reg) patch[2],
            p3 = in(reg) patch[3],
            p4 = in(reg) patch[4],
            p5 = in(reg) patch[5],
            w = out(reg) _,
            wl = out(reg) _,
            a = out(reg) _,
            options(nostack),
        );
    }
}

/// The pair words `smlad` takes for the values `x` of whole groups of four:
/// `[x0, x2], [x1, x3]` per group (two i16 in a word, the first in the low half).
#[inline(always)]
pub(super) fn pair_words<const W: usize>(x: &[i8]) -> [u32; W] {
    let h = |v: i8| u32::from(v as i16 as u16);
    core::array::from_fn(|k| {
        let g = &x[4 * (k / 2)..][..4];
        let (a, b) = if k % 2 == 0 {
            (g[0], g[2])
        } else {
            (g[1], g[3])
        };
        h(a) | (h(b) << 16)
    })
}

/// Widens whole groups of four values `x0..x3` of `src` into the pair words
/// `[x0, x2], [x1, x3]` of `dst` (two words per group), the order [`dense4_wide`]
/// and [`sxtb16`-widened weights](dense4_wide) pair up.
#[inline(always)]
pub(crate) fn widen_pairs(src: &[i8], dst: &mut [u32]) {
    let groups = src.len() / GROUP;
    assert!(groups > 0 && src.len() == groups * GROUP && dst.len() == 2 * groups);
    // SAFETY: `groups >= 1`; `src` holds `4 * groups` bytes; `dst` holds
    // `2 * groups` words (word aligned: a `&mut [u32]`), the 8 bytes at each
    // offset `8 * g`, g < groups.
    unsafe { widen_groups::<8>(src.as_ptr(), dst.as_mut_ptr().cast(), groups) }
}

/// `acc[r] += sum_i w[r][i] * x[i]` over one interleaved block of four rows,
/// the inputs already widened by [`widen_pairs`] (`x.len() == block.len() / 8`
/// pair words: two per group of four inputs).
#[inline(always)]
pub(crate) fn dense4_wide(block: &[u8], x: &[u32], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    let groups = x.len() / 2;
    assert!(x.len() == 2 * groups && block.len() == DENSE_BLOCK * GROUP * groups);
    let mut acc = acc;
    if groups == 0 {
        return acc;
    }
    // One row's four weights against the group's pair words `x0`, `x1`.
    macro_rules! row {
        ($acc:literal) => {
            concat!(
                "ldr {w}, [{wp}], #4\n",
                "sxtb16 {t}, {w}\n",
                "sxtb16 {w}, {w}, ror #8\n",
                "smlad ",
                $acc,
                ", {x0}, {t}, ",
                $acc,
                "\n",
                "smlad ",
                $acc,
                ", {x1}, {w}, ",
                $acc,
                "\n",
            )
        };
    }
    // Four rows of one group: 21 instructions for 16 multiply-accumulates.
    macro_rules! group {
        () => {
            concat!(
                "ldrd {x0}, {x1}, [{xp}], #8\n",
                row!("{a0}"),
                row!("{a1}"),
                row!("{a2}"),
                row!("{a3}"),
            )
        };
    }
    // SAFETY: the asm runs `groups >= 1` groups in all (`groups % 8` single
    // ones first, then `groups / 8` passes of eight), each reading two words of
    // `x` with `ldrd` (word aligned: `x` is a `&[u32]`; `2 * groups == x.len()`
    // words in all) and four words of `block` with plain `ldr`, which the
    // Cortex-M allows unaligned (`16 * groups == block.len()` bytes in all).
    // Nothing is written to memory.
    unsafe {
        asm!(
            "ands {r}, {n}, #7",
            "beq 3f",
            "5:",
            group!(),
            "subs {r}, {r}, #1",
            "bne 5b",
            "3:",
            "lsrs {n}, {n}, #3",
            "beq 4f",
            "2:",
            group!(),
            group!(),
            group!(),
            group!(),
            group!(),
            group!(),
            group!(),
            group!(),
            "subs {n}, {n}, #1",
            "bne 2b",
            "4:",
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) block.as_ptr() => _,
            n = inout(reg) groups => _,
            a0 = inout(reg) acc[0],
            a1 = inout(reg) acc[1],
            a2 = inout(reg) acc[2],
            a3 = inout(reg) acc[3],
            x0 = out(reg) _,
            x1 = out(reg) _,
            w = out(reg) _,
            t = out(reg) _,
            r = out(reg) _,
            options(nostack, readonly),
        );
    }
    acc
}

/// The dot products of one window and one filter (see [`window3x3`]) as
/// assembly text: `{xp}` the window, `{wp}` the filter's weights; results in
/// `{tl}`, `{tr}`, `{bl}`, `{br}`; `{w0}`..`{w3}`, `{x0}`, `{x1}` clobbered.
/// Kernel row ky: the top pixels read input row ky, the bottom ones row ky +
/// 1; each input row is loaded once (two pair words: columns 0-1 and 2-3),
/// each weight pair word once. 34 instructions for 36 MACs.
/// The largest of `{tl}`, `{tr}`, `{bl}`, `{br}` into `{tl}` (assembly text).
macro_rules! pool_max {
    () => {
        concat!(
            "cmp {tl}, {tr}\n",
            "it lt\n",
            "movlt {tl}, {tr}\n",
            "cmp {bl}, {br}\n",
            "it lt\n",
            "movlt {bl}, {br}\n",
            "cmp {tl}, {bl}\n",
            "it lt\n",
            "movlt {tl}, {bl}\n",
        )
    };
}

macro_rules! window_dot {
    () => {
        concat!(
            "ldrd {w0}, {w1}, [{wp}, #0]\n",
            "ldrd {w2}, {w3}, [{wp}, #8]\n",
            "ldrd {x0}, {x1}, [{xp}, #0]\n",
            "smuad {tl}, {x0}, {w0}\n",
            "smlad {tl}, {x1}, {w1}, {tl}\n",
            "smuad {tr}, {x0}, {w2}\n",
            "smlad {tr}, {x1}, {w3}, {tr}\n",
            "ldrd {x0}, {x1}, [{xp}, #64]\n",
            "smuad {bl}, {x0}, {w0}\n",
            "smlad {bl}, {x1}, {w1}, {bl}\n",
            "smuad {br}, {x0}, {w2}\n",
            "smlad {br}, {x1}, {w3}, {br}\n",
            "ldrd {w0}, {w1}, [{wp}, #16]\n",
            "ldrd {w2}, {w3}, [{wp}, #24]\n",
            "smlad {tl}, {x0}, {w0}, {tl}\n",
            "smlad {tl}, {x1}, {w1}, {tl}\n",
            "smlad {tr}, {x0}, {w2}, {tr}\n",
            "smlad {tr}, {x1}, {w3}, {tr}\n",
            "ldrd {x0}, {x1}, [{xp}, #128]\n",
            "smlad {bl}, {x0}, {w0}, {bl}\n",
            "smlad {bl}, {x1}, {w1}, {bl}\n",
            "smlad {br}, {x0}, {w2}, {br}\n",
            "smlad {br}, {x1}, {w3}, {br}\n",
            "ldrd {w0}, {w1}, [{wp}, #32]\n",
            "ldrd {w2}, {w3}, [{wp}, #40]\n",
            "smlad {tl}, {x0}, {w0}, {tl}\n",
            "smlad {tl}, {x1}, {w1}, {tl}\n",
            "smlad {tr}, {x0}, {w2}, {tr}\n",
            "smlad {tr}, {x1}, {w3}, {tr}\n",
            "ldrd {x0}, {x1}, [{xp}, #192]\n",
            "smlad {bl}, {x0}, {w0}, {bl}\n",
            "smlad {bl}, {x1}, {w1}, {bl}\n",
            "smlad {br}, {x0}, {w2}, {br}\n",
            "smlad {br}, {x1}, {w3}, {br}\n",
        )
    };
}

/// The 3x3 one-channel convolution of the 2x2 output pixels whose top-left
/// input sample is value `at` of `img` (an even column), for every filter of
/// `filters` in turn: `each(o, [top-left, top-right, bottom-left,
/// bottom-right])`, without bias.
#[inline(always)]
pub(crate) fn windows(
    img: &WindowImage,
    at: usize,
    filters: &[WindowFilter],
    mut each: impl FnMut(usize, [i32; 4]),
) {
    check_window(img, at);
    for (o, f) in filters.iter().enumerate() {
        // SAFETY: `check_window` has checked `at` for `img`.
        each(o, unsafe {
            window3x3(img.values.as_ptr().add(at), &f.weights)
        });
    }
}

/// [`windows`] followed by a 2x2 max-pool, the bias and the requantization
/// of each filter (all with shifts above 32, [`WindowFilter::params`]): one
/// int8 output per filter into `out`. `CLAMP128`: the zero point and the
/// lower clamp are both -128 (the clamp is then one `usat`).
#[inline(always)]
pub(crate) fn windows_pooled<const CLAMP128: bool>(
    img: &WindowImage,
    at: usize,
    filters: &[WindowFilter],
    out: &mut [i8],
) {
    check_window(img, at);
    assert_eq!(filters.len(), out.len());
    for (f, y) in filters.iter().zip(out) {
        // SAFETY: `check_window` has checked `at` for `img`.
        *y = unsafe { window3x3_pool::<CLAMP128>(img.values.as_ptr().add(at), f) };
    }
}

/// The checks [`window3x3`] relies on: a window at value `at` of `img` has
/// rows 0..=3 and columns 0..=3 inside `img`, and an even `at` (with an even
/// stride, an even column), so that its pair words are word aligned.
#[inline(always)]
fn check_window(img: &WindowImage, at: usize) {
    assert!(at.is_multiple_of(2) && at + 3 * WINDOW_STRIDE + 3 < img.values.len());
}

/// The dot products of [`windows`] for the window whose top-left value is at
/// `x`, one filter.
///
/// # Safety
/// `x` points into a [`WindowImage`] at an even value index `at` for which
/// [`check_window`] holds.
#[inline(always)]
unsafe fn window3x3(x: *const i16, w: &[u32; 12]) -> [i32; 4] {
    let (tl, tr, bl, br): (i32, i32, i32, i32);
    // SAFETY: reads the pair words at byte offsets 0 and 4 of rows 0..=3
    // (`WINDOW_STRIDE` = 32 values = 64 bytes a row) from `x`, i.e. values
    // 0..=3 of each row, inside the image (the caller's contract), with
    // `ldrd` on word-aligned addresses (a `WindowImage` is 8-byte aligned and
    // `at` even); and the 12 words of `w` (word aligned). Nothing is written.
    unsafe {
        asm!(
            window_dot!(),
            xp = in(reg) x,
            wp = in(reg) w.as_ptr(),
            tl = out(reg) tl,
            tr = out(reg) tr,
            bl = out(reg) bl,
            br = out(reg) br,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            options(nostack, readonly, pure),
        );
    }
    [tl, tr, bl, br]
}

/// [`window3x3`], then the largest of the four (requantization is
/// monotonic, so this is the max-pool of the four outputs) plus the bias,
/// requantized: `clamp(zp + ((smmul(acc, m) + round) >> high_shift), min,
/// 127)` with `f.params = [bias, m, round, high_shift, zp, min]`. With
/// `CLAMP128` (zero point and lower clamp -128) the clamp is
/// `usat8(v) - 128` and `zp`, `min` are not read.
///
/// # Safety
/// As for [`window3x3`].
#[inline(always)]
unsafe fn window3x3_pool<const CLAMP128: bool>(x: *const i16, f: &WindowFilter) -> i8 {
    let y: i32;
    // SAFETY: the dot products read what `window3x3` reads (the caller's
    // contract); the requantization reads the six words of `f.params` at
    // byte offsets 48..72 of `f` (`WindowFilter` is `repr(C)` and 8-byte
    // aligned, as `ldrd` needs). Nothing is written to memory.
    unsafe {
        if CLAMP128 {
            asm!(
                window_dot!(),
                pool_max!(),
                "ldrd {w0}, {w1}, [{wp}, #48]",
                "add {tl}, {tl}, {w0}",
                "smmul {tl}, {tl}, {w1}",
                "ldrd {w0}, {w1}, [{wp}, #56]",
                "add {tl}, {tl}, {w0}",
                "asr {tl}, {tl}, {w1}",
                "usat {tl}, #8, {tl}",
                "sub {tl}, {tl}, #128",
                xp = in(reg) x,
                wp = in(reg) f.weights.as_ptr(),
                tl = out(reg) y,
                tr = out(reg) _,
                bl = out(reg) _,
                br = out(reg) _,
                w0 = out(reg) _,
                w1 = out(reg) _,
                w2 = out(reg) _,
                w3 = out(reg) _,
                x0 = out(reg) _,
                x1 = out(reg) _,
                options(nostack, readonly, pure),
            );
        } else {
            asm!(
                window_dot!(),
                pool_max!(),
                "ldrd {w0}, {w1}, [{wp}, #48]",
                "add {tl}, {tl}, {w0}",
                "smmul {tl}, {tl}, {w1}",
                "ldrd {w0}, {w1}, [{wp}, #56]",
                "add {tl}, {tl}, {w0}",
                "asr {tl}, {tl}, {w1}",
                "ldrd {w0}, {w1}, [{wp}, #64]",
                "add {tl}, {tl}, {w0}",
                "ssat {tl}, #8, {tl}",
                "cmp {tl}, {w1}",
                "it lt",
                "movlt {tl}, {w1}",
                xp = in(reg) x,
                wp = in(reg) f.weights.as_ptr(),
                tl = out(reg) y,
                tr = out(reg) _,
                bl = out(reg) _,
                br = out(reg) _,
                w0 = out(reg) _,
                w1 = out(reg) _,
                w2 = out(reg) _,
                w3 = out(reg) _,
                x0 = out(reg) _,
                x1 = out(reg) _,
                options(nostack, readonly, pure),
            );
        }
    }
    y as i8
}

/// Most pixels [`channel_sums`] adds in one run: 256 int8 values sum to a
/// value in `[-32768, 32512]`, which the 16-bit halves of its pair
/// accumulators hold exactly.
pub(crate) const PAIR_SUM_PIXELS: usize = 256;

/// The sums of channels `0..N` (`N` = 4 or 8) over `pixels` pixels
/// (`1..=PAIR_SUM_PIXELS`) stored `stride` bytes apart from `values[0]` on
/// (global average pooling of an HWC tensor of `stride` channels).
///
/// Each word of four channels `[c0, c1, c2, c3]` is added into two pair
/// accumulators with `sxtab16` (`[c0, c2]`, and `[c1, c3]` with `ror #8`):
/// per pixel, one `ldr` per four channels, one `sxtab16` per two, and the
/// loop's `subs`/`bpl`: 8 instructions for 8 channels, 5 for 4. The 16-bit
/// halves add without carries between them (modulo 2^16), and no run's sum
/// leaves the i16 range, so the halves are the exact sums.
#[inline(always)]
pub(crate) fn channel_sums<const N: usize>(
    values: &[i8],
    stride: usize,
    pixels: usize,
) -> [i32; N] {
    assert!(
        (N == 4 || N == 8)
            && (N..1 << 16).contains(&stride)
            && (1..=PAIR_SUM_PIXELS).contains(&pixels)
            && values.len() >= (pixels - 1) * stride + N
    );
    // Byte offset of the last pixel: below 2^24, so it and every offset the
    // loop counts down through (down to -stride) are exact as i32, and `bpl`
    // sees their sign.
    let last = (pixels - 1) * stride;
    let (mut a0, mut a1, mut a2, mut a3) = (0u32, 0u32, 0u32, 0u32);
    if N == 8 {
        // SAFETY: the loop runs for the offsets `last, last - stride, ..., 0`
        // (`pixels` passes) and reads the word at `values + off` and the one
        // at `values + 4 + off`: bytes `off..off + 8`, inside `values` as
        // `off + 8 <= last + N <= values.len()` (unaligned `ldr` is allowed on
        // the Cortex-M). Nothing is written to memory.
        unsafe {
            asm!(
                "2:",
                "ldr {w0}, [{p}, {off}]",
                "ldr {w1}, [{q}, {off}]",
                "sxtab16 {a0}, {a0}, {w0}",
                "sxtab16 {a1}, {a1}, {w0}, ror #8",
                "sxtab16 {a2}, {a2}, {w1}",
                "sxtab16 {a3}, {a3}, {w1}, ror #8",
                "subs {off}, {off}, {stride}",
                "bpl 2b",
                p = in(reg) values.as_ptr(),
                q = in(reg) values.as_ptr().wrapping_add(4),
                off = inout(reg) last => _,
                stride = in(reg) stride,
                w0 = out(reg) _,
                w1 = out(reg) _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                a2 = inout(reg) a2,
                a3 = inout(reg) a3,
                options(nostack, readonly, pure),
            );
        }
    } else {
        // SAFETY: as above with one word, bytes `off..off + 4` for the offsets
        // `last, ..., 0`: inside `values` as `last + 4 <= values.len()`.
        unsafe {
            asm!(
                "2:",
                "ldr {w0}, [{p}, {off}]",
                "sxtab16 {a0}, {a0}, {w0}",
                "sxtab16 {a1}, {a1}, {w0}, ror #8",
                "subs {off}, {off}, {stride}",
                "bpl 2b",
                p = in(reg) values.as_ptr(),
                off = inout(reg) last => _,
                stride = in(reg) stride,
                w0 = out(reg) _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                options(nostack, readonly, pure),
            );
        }
    }
    let lo = |a: u32| i32::from(a as u16 as i16);
    let hi = |a: u32| i32::from((a >> 16) as u16 as i16);
    // a0 = [c0, c2], a1 = [c1, c3], a2 = [c4, c6], a3 = [c5, c7].
    let all = [
        lo(a0),
        lo(a1),
        hi(a0),
        hi(a1),
        lo(a2),
        lo(a3),
        hi(a2),
        hi(a3),
    ];
    core::array::from_fn(|i| all[i])
}
