//! Requantization of an int32 accumulator to int8: the fast form of
//! [`reference::requantize`](crate::reference::requantize).
//!
//! The real multiplier `input_scale * weight_scale[c] / output_scale` of output
//! channel `c` is stored as a non-negative Q31 integer `M` and a right shift `n`
//! in `1..=62`, so that `real = M * 2^-n` (the host quantizer normalizes
//! `M` into `[2^30, 2^31)` whenever the shift allows it). The kernel computes
//!
//! ```text
//! y = clamp(out_zp + floor((acc * M + 2^(n-1)) / 2^n), lo, 127)
//! lo = out_zp if ReLU is fused else -128  (out_zp >= -128 always)
//! ```
//!
//! **Rounding mode: a single rounding, half up (toward +infinity)**, of the
//! exact product `acc * M * 2^-n`, done in 64-bit arithmetic. This differs from
//! TFLite's two-step `SaturatingRoundingDoublingHighMul` +
//! `RoundingDivideByPOT` (which rounds twice, half away from zero) only on
//! exact ties and double-rounding cases; it is what the host quantizer simulates (with the reference kernels).
//!
//! No overflow is possible: `|acc| <= 2^31`, `0 <= M < 2^31`, so
//! `|acc * M| < 2^62`, and adding `2^(n-1) <= 2^61` stays below `2^63`.

use crate::I32Array;

/// Per-channel requantization parameters of one layer (validated).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Requant<'a> {
    /// Q31 multiplier per channel, each `>= 0`.
    pub multiplier: I32Array<'a>,
    /// Right shift per channel, each in `1..=62`.
    pub shift: &'a [u8],
    /// Output zero point.
    pub zero_point: i32,
    /// Lower clamp: `zero_point` with fused ReLU, else -128.
    pub min: i32,
}

impl Requant<'_> {
    /// Requantizes the accumulators of channels `c..c + N` into `out`
    /// (one bounds check per array for the whole block).
    #[inline(always)]
    pub fn apply_block<const N: usize>(&self, c: usize, acc: &[i32; N], out: &mut [i8]) {
        let multipliers = &self.multiplier.as_bytes()[4 * c..][..4 * N];
        let shifts = &self.shift[c..][..N];
        for (((y, &a), m), &s) in out
            .iter_mut()
            .zip(acc)
            .zip(multipliers.chunks_exact(4))
            .zip(shifts)
        {
            let m = i32::from_le_bytes([m[0], m[1], m[2], m[3]]);
            *y = requantize(a, m, s, self.zero_point, self.min);
        }
    }

    /// Requantizes accumulator `acc` of channel `c`.
    #[inline(always)]
    pub fn apply(&self, c: usize, acc: i32) -> i8 {
        requantize(
            acc,
            self.multiplier.at(c),
            self.shift[c],
            self.zero_point,
            self.min,
        )
    }
}

/// One channel's requantization, its parameters read and decoded once
/// (see [`Requant::channel`]) for the several pixels a kernel requantizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Channel {
    multiplier: i32,
    shift: u8,
    /// For `shift > 32`: `2^(shift - 33)`, the rounding term in the high word.
    round: i32,
    /// For `shift > 32`: `shift - 32`.
    high_shift: u32,
    zero_point: i32,
    min: i32,
}

impl Default for Channel {
    /// A placeholder (multiplier 0); [`Requant::channel`] makes real ones.
    fn default() -> Self {
        Self {
            multiplier: 0,
            shift: 1,
            round: 0,
            high_shift: 0,
            zero_point: 0,
            min: -128,
        }
    }
}

impl Requant<'_> {
    /// The requantization of channel `c`, decoded for [`Channel::apply`].
    #[inline(always)]
    pub fn channel(&self, c: usize) -> Channel {
        let shift = self.shift[c];
        let (round, high_shift) = if shift > 32 {
            (1 << (shift - 33), u32::from(shift) - 32)
        } else {
            (0, 0)
        };
        Channel {
            multiplier: self.multiplier.at(c),
            shift,
            round,
            high_shift,
            zero_point: self.zero_point,
            min: self.min,
        }
    }
}

impl Channel {
    /// [`requantize`] of `acc` with this channel's parameters.
    #[inline(always)]
    pub fn apply(&self, acc: i32) -> i8 {
        if self.high_shift > 0 {
            self.apply_high(acc)
        } else {
            requantize(acc, self.multiplier, self.shift, self.zero_point, self.min)
        }
    }

    /// The `shift > 32` form of [`requantize`], with its terms precomputed
    /// (the caller has checked `high_shift > 0`).
    #[inline(always)]
    fn apply_high(&self, acc: i32) -> i8 {
        let hi = ((i64::from(acc) * i64::from(self.multiplier)) >> 32) as i32;
        let scaled = (hi + self.round) >> self.high_shift;
        (scaled + self.zero_point).max(self.min).min(127) as i8
    }

    /// `[bias, multiplier, round, high shift, zero point, min]` for the DSP
    /// window kernel, which implements only the `shift > 32` form (`None` for
    /// the other).
    #[cfg(feature = "arm-dsp")]
    pub fn window_params(&self, bias: i32) -> Option<[i32; 6]> {
        (self.high_shift > 0).then_some([
            bias,
            self.multiplier,
            self.round,
            self.high_shift as i32,
            self.zero_point,
            self.min,
        ])
    }

    /// Requantizes the first `count` of `acc` into `out[0]`, `out[stride]`,
    /// ... (the same channel of consecutive pixels). Not inlined: on its own
    /// the loop keeps everything in registers.
    #[inline(never)]
    pub fn apply_strided(&self, acc: &[i32; 4], count: usize, out: &mut [i8], stride: usize) {
        if count == 4 && self.high_shift > 0 && out.len() > 3 * stride {
            // The common case, straight-line: one bounds check, no loop.
            out[0] = self.apply_high(acc[0]);
            out[stride] = self.apply_high(acc[1]);
            out[2 * stride] = self.apply_high(acc[2]);
            out[3 * stride] = self.apply_high(acc[3]);
            return;
        }
        for (y, &a) in out.iter_mut().step_by(stride).zip(&acc[..count]) {
            *y = self.apply(a);
        }
    }
}

/// `clamp(zero_point + round_half_up(acc * multiplier * 2^-shift), min, 127)`.
///
/// Preconditions (checked by `Model::from_bytes`): `multiplier >= 0`,
/// `1 <= shift <= 62`, `-128 <= min <= 127`.
#[inline(always)]
pub(crate) fn requantize(acc: i32, multiplier: i32, shift: u8, zero_point: i32, min: i32) -> i8 {
    let prod = i64::from(acc) * i64::from(multiplier);
    if shift > 32 {
        // The same value in 32-bit arithmetic (the usual case: real
        // multipliers below 0.5). Write prod = hi * 2^32 + lo, 0 <= lo < 2^32.
        // Adding 2^(shift-1) adds 2^(shift-33) to hi and leaves lo alone, and
        // floor((hi' * 2^32 + lo) / 2^shift) = floor(hi' / 2^(shift-32)).
        // |hi| < 2^30, so hi' and the result fit comfortably in i32.
        let hi = (prod >> 32) as i32;
        let scaled = (hi + (1 << (shift - 33))) >> (shift - 32);
        // max/min rather than clamp: no `min <= max` assertion to check.
        (scaled + zero_point).max(min).min(127) as i8
    } else {
        let rounded = (prod + (1i64 << (shift - 1))) >> shift;
        (rounded + i64::from(zero_point))
            .max(i64::from(min))
            .min(127) as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The requantization by exact rational arithmetic in i128:
    /// `floor(acc * multiplier / 2^shift + 1/2) = floor((2a + 2^n) / 2^(n+1))`.
    fn requantize_i128(acc: i32, multiplier: i32, shift: u8, zero_point: i32, min: i32) -> i8 {
        let a = i128::from(acc) * i128::from(multiplier);
        let den = 1i128 << (u32::from(shift) + 1);
        let q = (2 * a + (1i128 << shift)).div_euclid(den);
        (q + i128::from(zero_point)).clamp(i128::from(min), 127) as i8
    }

    #[test]
    fn ties_round_up() {
        // M = 2^30, n = 31: real multiplier exactly 0.5.
        let m = 1 << 30;
        assert_eq!(requantize(3, m, 31, 0, -128), 2); // 1.5 -> 2
        assert_eq!(requantize(-3, m, 31, 0, -128), -1); // -1.5 -> -1
        assert_eq!(requantize(5, m, 31, 0, -128), 3); // 2.5 -> 3
        assert_eq!(requantize(-5, m, 31, 0, -128), -2); // -2.5 -> -2
        assert_eq!(requantize(4, m, 31, 0, -128), 2);
        // 0.25 with M = 2^30, n = 32: 1.25 -> 1, 1.75 -> 2 (from 5 and 7).
        assert_eq!(requantize(5, m, 32, 0, -128), 1);
        assert_eq!(requantize(7, m, 32, 0, -128), 2);
    }

    #[test]
    fn clamps_and_relu() {
        let m = 1 << 30; // 0.5 at n = 31
        assert_eq!(requantize(1000, m, 31, 0, -128), 127);
        assert_eq!(requantize(-1000, m, 31, 0, -128), -128);
        // ReLU: lower bound is the zero point.
        assert_eq!(requantize(-10, m, 31, -20, -20), -20);
        assert_eq!(requantize(10, m, 31, -20, -20), -15);
        // Extreme inputs do not overflow.
        assert_eq!(requantize(i32::MAX, i32::MAX, 1, 127, -128), 127);
        assert_eq!(requantize(i32::MIN, i32::MAX, 1, -128, -128), -128);
        // -2^31 * (2^31 - 1) / 2^62 = -1 + 2^-31 -> -1.
        assert_eq!(requantize(i32::MIN, i32::MAX, 62, 0, -128), -1);
        assert_eq!(requantize(i32::MAX, i32::MAX, 62, 0, -128), 1);
    }

    proptest! {
        #[test]
        fn matches_reference(
            acc in any::<i32>(),
            multiplier in 0..=i32::MAX,
            shift in 1u8..=62,
            zero_point in -128i32..=127,
            relu in any::<bool>(),
        ) {
            let min = if relu { zero_point } else { -128 };
            let reference = crate::reference::requantize(acc, multiplier, shift, zero_point, min);
            // The reference is exact, and the fast form equals it.
            prop_assert_eq!(reference, requantize_i128(acc, multiplier, shift, zero_point, min));
            prop_assert_eq!(requantize(acc, multiplier, shift, zero_point, min), reference);
            let m = multiplier.to_le_bytes();
            let shifts = [shift];
            let channel = Requant {
                multiplier: crate::I32Array::new(&m),
                shift: &shifts,
                zero_point,
                min,
            }
            .channel(0);
            prop_assert_eq!(channel.apply(acc), reference);
        }

        #[test]
        fn matches_reference_in_range(
            acc in -100_000i32..100_000,
            multiplier in (1i32 << 30)..=i32::MAX,
            shift in 36u8..=48,
            zero_point in -128i32..=127,
        ) {
            prop_assert_eq!(
                requantize(acc, multiplier, shift, zero_point, -128),
                crate::reference::requantize(acc, multiplier, shift, zero_point, -128)
            );
        }
    }
}
