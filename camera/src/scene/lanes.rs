//! Four bytes side by side in a `u32` (lane `k` is bits `8k..8k + 8`), compared lane by
//! lane: the cells' medians of four neighbouring cells at once
//! ([`super::background`]). Exact: every lane gets what the scalar `min`, `max` and
//! rounded-up mean of its two bytes give.
//!
//! With feature `arm-dsp` on an Arm target (the Cortex-M4's DSP extension) the
//! comparison is `usub8` and `sel` (the crate's only unsafe code); elsewhere a few
//! plain word operations do the same.
#![cfg_attr(all(feature = "arm-dsp", target_arch = "arm"), allow(unsafe_code))]

/// The high bit of every lane.
const HIGH: u32 = 0x8080_8080;

/// Lane by lane, the lesser and the greater of `a` and `b`.
#[inline(always)]
pub(super) fn min_max(a: u32, b: u32) -> (u32, u32) {
    #[cfg(all(feature = "arm-dsp", target_arch = "arm"))]
    {
        let (min, max): (u32, u32);
        // SAFETY: register operations only. `usub8` sets the GE flag of each lane where
        // a >= b (ARMv7-M Architecture Reference Manual, A7.7.203 USUB8), `sel` takes
        // each lane from its first operand where GE is set, else from the second (A7.7.117
        // SEL).
        unsafe {
            core::arch::asm!(
                "usub8 {t}, {a}, {b}",
                "sel {max}, {a}, {b}",
                "sel {min}, {b}, {a}",
                a = in(reg) a,
                b = in(reg) b,
                t = out(reg) _,
                max = out(reg) max,
                min = out(reg) min,
                options(pure, nomem, nostack),
            );
        }
        (min, max)
    }
    #[cfg(not(all(feature = "arm-dsp", target_arch = "arm")))]
    {
        let ge = at_least(a, b);
        // 0xff in every lane where a >= b.
        let mask = (ge >> 7).wrapping_mul(0xff);
        let x = (a ^ b) & mask;
        (a ^ x, b ^ x)
    }
}

/// The high bit of each lane set where `a`'s byte is at least `b`'s.
#[cfg(not(all(feature = "arm-dsp", target_arch = "arm")))]
#[inline(always)]
fn at_least(a: u32, b: u32) -> u32 {
    // Per lane (128 + a's low 7 bits) - (b's low 7 bits), in 1..=255: no borrow crosses
    // lanes, and its high bit says a's low bits >= b's.
    let low = (a | HIGH).wrapping_sub(b & !HIGH);
    // Where the high bits differ, a >= b when a's is set; else as the low bits say.
    ((a & !b) | (!(a ^ b) & low)) & HIGH
}

/// Lane by lane, the rounded-up mean of `a` and `b`.
#[inline(always)]
pub(super) fn mean_up(a: u32, b: u32) -> u32 {
    // (a | b) - (a ^ b) / 2 = (a & b) + ceil((a ^ b) / 2) = ceil((a + b) / 2): no lane
    // goes below zero, so nothing borrows across lanes.
    (a | b) - ((a ^ b) >> 1 & !HIGH)
}

/// The 4x4 bytes `rows` (row `r`, lane `k`) transposed: lane `r` of word `k` is lane `k`
/// of `rows[r]`.
#[inline(always)]
pub(super) fn transpose(rows: [u32; 4]) -> [u32; 4] {
    let [w0, w1, w2, w3] = rows;
    const EVEN: u32 = 0x00ff_00ff;
    // Bytes interleaved: [a0 b0 a2 b2], [a1 b1 a3 b3], and the same of w2, w3.
    let p0 = (w0 & EVEN) | ((w1 & EVEN) << 8);
    let p1 = ((w0 >> 8) & EVEN) | (w1 & !EVEN);
    let q0 = (w2 & EVEN) | ((w3 & EVEN) << 8);
    let q1 = ((w2 >> 8) & EVEN) | (w3 & !EVEN);
    // Then halfwords.
    [
        (p0 & 0xffff) | (q0 << 16),
        (p1 & 0xffff) | (q1 << 16),
        (p0 >> 16) | (q0 & 0xffff_0000),
        (p1 >> 16) | (q1 & 0xffff_0000),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lanes(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    proptest! {
        #[test]
        fn min_max_and_mean_up_are_those_of_each_lane(a in any::<u32>(), b in any::<u32>()) {
            let (min, max) = min_max(a, b);
            let mean = mean_up(a, b);
            for k in 0..4 {
                let (x, y) = (lanes(a)[k], lanes(b)[k]);
                prop_assert_eq!(lanes(min)[k], x.min(y));
                prop_assert_eq!(lanes(max)[k], x.max(y));
                prop_assert_eq!(lanes(mean)[k], (u16::from(x) + u16::from(y)).div_ceil(2) as u8);
            }
        }

        #[test]
        fn transpose_swaps_rows_and_lanes(rows in any::<[u32; 4]>()) {
            let t = transpose(rows);
            for (r, &row) in rows.iter().enumerate() {
                for (k, &word) in t.iter().enumerate() {
                    prop_assert_eq!(lanes(word)[r], lanes(row)[k]);
                }
            }
        }
    }

    #[test]
    fn min_max_at_the_lane_edges() {
        // Equal lanes, 0 against 255, and the high bit set on one side only.
        let (a, b) = (0x00ff_807f, 0xff00_7f80);
        assert_eq!(min_max(a, b), (0x0000_7f7f, 0xffff_8080));
        assert_eq!(min_max(a, a), (a, a));
    }
}
