//! Global average pooling on int8 HWC tensors: `[H][W][C]` to `[C]`.
//!
//! Each channel's sum over the `H * W` pixels is formed exactly (in i32: at
//! most [`MAX_POOL_PIXELS`](crate::reference::MAX_POOL_PIXELS) values of
//! magnitude 128 or less) and divided by the pixel count once, rounded to the
//! nearest integer with ties away from zero:
//!
//! ```text
//! q = (s + n / 2) / n   if s >= 0        (`/` truncating toward zero, as in Rust)
//! q = (s - n / 2) / n   otherwise
//! ```
//!
//! which is what [`reference::global_avg_pool`](crate::reference::global_avg_pool)
//! defines (and TFLite's int8 average pool computes). The output keeps the
//! input's scale and zero point.
//!
//! The input is read in HWC order, one pixel after the other, and the sums of
//! a block of channels are kept side by side, so that the inner loop runs over
//! contiguous bytes: compilers vectorize the portable loop. With `arm-dsp` the
//! Cortex-M adds channels eight (and then four) at a time with `sxtab16` into
//! 16-bit pairs, over runs of at most 256 pixels, which cannot overflow 16 bits
//! ([`channel_sums`](super::dot)); the remaining channels take the portable
//! loop.

use super::requant::requantize;
use crate::reference::{GlobalPoolShape, MeanParams};

/// Channels whose i32 sums the portable loop keeps side by side.
const BLOCK: usize = 64;

/// Fast kernel: `input.len() == s.in_len()`, `output.len() == s.out_len()`.
#[inline(never)]
pub(crate) fn global_avg_pool(s: &GlobalPoolShape, input: &[i8], output: &mut [i8]) {
    pool(s, &Mean::new(s.pixels()), input, output);
}

/// Fast kernel of the global mean with its own output quantization
/// ([`reference::global_mean`](crate::reference::global_mean)): the same
/// channel sums, requantized instead of divided.
#[inline(never)]
pub(crate) fn global_mean(s: &GlobalPoolShape, p: &MeanParams, input: &[i8], output: &mut [i8]) {
    // n * |in_zp| <= 65535 * 128 fits an i32.
    let mean = Mean::Requant {
        offset: s.pixels() as i32 * p.in_zp,
        multiplier: p.multiplier,
        shift: p.shift,
        zero_point: p.out_zp,
    };
    pool(s, &mean, input, output);
}

fn pool(s: &GlobalPoolShape, mean: &Mean, input: &[i8], output: &mut [i8]) {
    #[cfg(feature = "arm-dsp")]
    let done = dsp(s, mean, input, output);
    #[cfg(not(feature = "arm-dsp"))]
    let done = 0;
    portable(s, mean, done, input, output);
}

/// What becomes of a channel's sum.
enum Mean {
    /// The rounded division by the pixel count `n`.
    Round { n: i32, half: i32 },
    /// `requantize(sum - offset)`, `offset = n * in_zp`.
    Requant {
        offset: i32,
        multiplier: i32,
        shift: u8,
        zero_point: i32,
    },
}

impl Mean {
    fn new(pixels: usize) -> Self {
        // At most MAX_POOL_PIXELS (validated), so it fits.
        let n = pixels as i32;
        Self::Round { n, half: n / 2 }
    }

    /// `sum / n` rounded to the nearest integer, ties away from zero (the
    /// mean of int8 values is an int8 value), or the sum requantized.
    #[inline(always)]
    fn of(&self, sum: i32) -> i8 {
        match *self {
            Mean::Round { n, half } => {
                let q = if sum >= 0 {
                    (sum + half) / n
                } else {
                    (sum - half) / n
                };
                q as i8
            }
            Mean::Requant {
                offset,
                multiplier,
                shift,
                zero_point,
            } => requantize(sum - offset, multiplier, shift, zero_point, -128),
        }
    }
}

/// Channels `first..c` in blocks of [`BLOCK`]: for each block, every pixel's
/// bytes of the block added into i32 sums.
fn portable(s: &GlobalPoolShape, mean: &Mean, first: usize, input: &[i8], output: &mut [i8]) {
    let c = s.c;
    for (block, out) in output[first..].chunks_mut(BLOCK).enumerate() {
        let start = first + block * BLOCK;
        let mut sums = [0i32; BLOCK];
        let sums = &mut sums[..out.len()];
        for pixel in input.chunks_exact(c) {
            for (sum, &x) in sums.iter_mut().zip(&pixel[start..][..out.len()]) {
                *sum += i32::from(x);
            }
        }
        for (y, &sum) in out.iter_mut().zip(sums.iter()) {
            *y = mean.of(sum);
        }
    }
}

/// The DSP path: channels in groups of eight, then one group of four, each
/// over runs of at most [`dot::PAIR_SUM_PIXELS`](super::dot::PAIR_SUM_PIXELS)
/// pixels; returns how many leading channels it did.
#[cfg(feature = "arm-dsp")]
fn dsp(s: &GlobalPoolShape, mean: &Mean, input: &[i8], output: &mut [i8]) -> usize {
    use super::dot::{self, PAIR_SUM_PIXELS};

    fn group<const N: usize>(
        s: &GlobalPoolShape,
        mean: &Mean,
        input: &[i8],
        first: usize,
        out: &mut [i8],
    ) {
        let mut sums = [0i32; N];
        let mut pixel = 0;
        while pixel < s.pixels() {
            let run = (s.pixels() - pixel).min(PAIR_SUM_PIXELS);
            let part: [i32; N] = dot::channel_sums(&input[pixel * s.c + first..], s.c, run);
            for (sum, p) in sums.iter_mut().zip(part) {
                *sum += p;
            }
            pixel += run;
        }
        for (y, sum) in out.iter_mut().zip(sums) {
            *y = mean.of(sum);
        }
    }

    let mut first = 0;
    while first + 8 <= s.c {
        group::<8>(s, mean, input, first, &mut output[first..first + 8]);
        first += 8;
    }
    if first + 4 <= s.c {
        group::<4>(s, mean, input, first, &mut output[first..first + 4]);
        first += 4;
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_ties_and_extremes() {
        // Hand-computed, 2x2 pixels of three channels: sums 6 (1.5 -> 2),
        // -6 (-1.5 -> -2), -512 (-128).
        #[rustfmt::skip]
        let input = [
            1, -1, -128,   2, -2, -128,
            1, -1, -128,   2, -2, -128,
        ];
        let s = GlobalPoolShape::new(2, 2, 3).unwrap();
        let mut out = [0i8; 3];
        global_avg_pool(&s, &input, &mut out);
        assert_eq!(out, [2, -2, -128]);
    }

    #[test]
    fn more_channels_than_a_block_and_many_pixels() {
        // 20x20 pixels (more than one 256-pixel run), 70 channels (a block
        // and a remainder): channel k holds k - 35 everywhere but pixel 0,
        // which holds -128.
        let s = GlobalPoolShape::new(20, 20, 70).unwrap();
        let mut input = std::vec![0i8; s.in_len()];
        for (i, x) in input.iter_mut().enumerate() {
            *x = if i < 70 { -128 } else { (i % 70) as i8 - 35 };
        }
        let mut out = std::vec![0i8; 70];
        global_avg_pool(&s, &input, &mut out);
        let mut expected = std::vec![0i8; 70];
        crate::reference::global_avg_pool(&s, &input, &mut expected);
        assert_eq!(out, expected);
        // Channel 0: (-128 + 399 * -35) / 400 = -35.23 -> -35.
        assert_eq!(out[0], -35);
    }

    proptest! {
        #[test]
        fn matches_reference(
            (h, w, c, input) in (1usize..20, 1usize..20, 1usize..80).prop_flat_map(|(h, w, c)| {
                (Just(h), Just(w), Just(c), proptest::collection::vec(any::<i8>(), h * w * c))
            })
        ) {
            let s = GlobalPoolShape::new(h, w, c).unwrap();
            let mut out = std::vec![0i8; c];
            global_avg_pool(&s, &input, &mut out);
            let mut expected = std::vec![0i8; c];
            crate::reference::global_avg_pool(&s, &input, &mut expected);
            prop_assert_eq!(out, expected);
        }

        #[test]
        fn selfcheck_cases_match_reference(seed in any::<u64>()) {
            let r = crate::selfcheck::global_avg_pool_case(seed);
            prop_assert!(r.is_ok(), "{:?}", r);
        }

        #[test]
        fn global_mean_matches_reference(
            (h, w, c, input) in (1usize..20, 1usize..20, 1usize..80).prop_flat_map(|(h, w, c)| {
                (Just(h), Just(w), Just(c), proptest::collection::vec(any::<i8>(), h * w * c))
            }),
            in_zp in -128i32..=127,
            out_zp in -128i32..=127,
            multiplier in 0..=i32::MAX,
            shift in 1u8..=62,
        ) {
            let s = GlobalPoolShape::new(h, w, c).unwrap();
            let p = MeanParams { in_zp, multiplier, shift, out_zp };
            let mut out = std::vec![0i8; c];
            global_mean(&s, &p, &input, &mut out);
            let mut expected = std::vec![0i8; c];
            crate::reference::global_mean(&s, &p, &input, &mut expected);
            prop_assert_eq!(out, expected);
        }
    }
}
