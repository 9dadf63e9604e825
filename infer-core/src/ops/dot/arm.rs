//! Cortex-M DSP assembly for the inner loops (feature `arm-dsp`; needs the
//! Armv7E-M or Armv8-M Mainline DSP extension: Cortex-M4, M7, M33, M55).
//!
//! Stable `core::arch::asm!` rather than code shaped for LLVM's ARM
//! parallel-DSP pass: that pass only pairs *16-bit* loads into `smlad` and
//! never emits `sxtb16`, so int8 weights would be widened one byte at a time;
//! assembly also keeps the instruction counts independent of the compiler
//! version. The only unsafe code of the crate lives here. Each function checks
//! the lengths its loop relies on with real assertions before entering it.
//!
//! Pair order: `sxtb16 r, w` takes bytes 0 and 2 of `w` (`[w0, w2]` as two
//! i16), `sxtb16 r, w, ror #8` bytes 1 and 3 (`[w1, w3]`), and
//! `smlad a, x, w, a` adds `x.lo * w.lo + x.hi * w.hi`. Activations are
//! therefore widened into the same `[x0, x2], [x1, x3]` order.
#![allow(unsafe_code)]

use core::arch::asm;

use super::{GROUP, PIXELS};
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
    // SAFETY: the loop runs `groups >= 1` times; it reads `4 * groups` bytes
    // from `src` (its length) with word loads, which the Cortex-M allows
    // unaligned, and writes 8 bytes at byte offset `32 * g` of `dst` for
    // g < groups, the last ending at `32 * (groups - 1) + 8 == 2 * dst.len()`. `dst`
    // starts at a multiple of 4 halfwords of a `PatchBuf` (8-byte aligned), so
    // every `strd` address is 8-byte aligned (word alignment is what `strd`
    // requires).
    unsafe {
        asm!(
            "2:",
            "ldr {w}, [{src}], #4",
            "sxtb16 {lo}, {w}",
            "sxtb16 {w}, {w}, ror #8",
            "strd {lo}, {w}, [{dst}], #32",
            "subs {n}, {n}, #1",
            "bne 2b",
            src = inout(reg) src.as_ptr() => _,
            dst = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) groups => _,
            w = out(reg) _,
            lo = out(reg) _,
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

/// `acc[r] += sum_i w[r][i] * x[i]` over one interleaved block of four rows.
#[inline(always)]
pub(super) fn dense4(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    let groups = x.len() / GROUP;
    assert!(x.len() == groups * GROUP && block.len() == DENSE_BLOCK * x.len());
    let mut acc = acc;
    if groups == 0 {
        return acc;
    }
    // One row's four weights against the widened inputs `xl`, `x`.
    macro_rules! row {
        ($acc:literal) => {
            concat!(
                "ldr {w}, [{wp}], #4\n",
                "sxtb16 {wl}, {w}\n",
                "sxtb16 {w}, {w}, ror #8\n",
                "smlad ",
                $acc,
                ", {xl}, {wl}, ",
                $acc,
                "\n",
                "smlad ",
                $acc,
                ", {x}, {w}, ",
                $acc,
                "\n",
            )
        };
    }
    // SAFETY: the loop runs `groups >= 1` times, reading one word of `x` and
    // four words of `block` per pass: `x.len()` and `block.len()` bytes in all.
    // Only plain `ldr`, which the Cortex-M allows unaligned. Nothing is written.
    unsafe {
        asm!(
            "2:",
            "ldr {x}, [{xp}], #4",
            "sxtb16 {xl}, {x}",
            "sxtb16 {x}, {x}, ror #8",
            row!("{a0}"),
            row!("{a1}"),
            row!("{a2}"),
            row!("{a3}"),
            "subs {n}, {n}, #1",
            "bne 2b",
            xp = inout(reg) x.as_ptr() => _,
            wp = inout(reg) block.as_ptr() => _,
            n = inout(reg) groups => _,
            a0 = inout(reg) acc[0],
            a1 = inout(reg) acc[1],
            a2 = inout(reg) acc[2],
            a3 = inout(reg) acc[3],
            x = out(reg) _,
            xl = out(reg) _,
            w = out(reg) _,
            wl = out(reg) _,
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
