//! Random kernel parameters for the property tests (test-only).

use super::requant::Requant;
use crate::I32Array;
use std::vec::Vec;

/// SplitMix64: a tiny deterministic generator seeded by proptest.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as i64
    }

    pub fn i8(&mut self) -> i8 {
        self.next_u64() as i8
    }
}

/// Weights in [-127, 127], biases, Q31 multipliers and shifts for one layer.
#[derive(Debug, Clone)]
pub(crate) struct RandomParams {
    pub seed: u64,
    pub weights: Vec<u8>,
    pub bias: Vec<u8>,
    pub multiplier: Vec<u8>,
    pub shift: Vec<u8>,
    pub zero_point: i32,
    pub in_zp: i32,
}

impl RandomParams {
    /// Parameters for `channels` outputs with `n_weights` weights in all and
    /// `fan_in` terms per accumulator; biases keep the accumulator bound.
    pub fn new(seed: u64, n_weights: usize, channels: usize, fan_in: usize) -> Self {
        let mut rng = Rng::new(seed);
        let weights = (0..n_weights)
            .map(|_| rng.range(-127, 127) as i8 as u8)
            .collect();
        let bias_max =
            (fan_in as i64 * 127 * 64).min(i64::from(i32::MAX) - fan_in as i64 * 127 * 255);
        let mut bias = Vec::new();
        let mut multiplier = Vec::new();
        let mut shift = Vec::new();
        for _ in 0..channels {
            bias.extend_from_slice(&(rng.range(-bias_max, bias_max) as i32).to_le_bytes());
            let (m, s) = if rng.range(0, 9) == 0 {
                (rng.range(0, i64::from(i32::MAX)), rng.range(1, 62))
            } else {
                (rng.range(1 << 30, i64::from(i32::MAX)), rng.range(36, 46))
            };
            multiplier.extend_from_slice(&(m as i32).to_le_bytes());
            shift.push(s as u8);
        }
        Self {
            seed,
            weights,
            bias,
            multiplier,
            shift,
            zero_point: rng.range(-128, 127) as i32,
            in_zp: rng.range(-128, 127) as i32,
        }
    }

    /// A generator for inputs, independent of the parameters.
    pub fn rng(&self) -> Rng {
        Rng::new(self.seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
}

/// The requantization and input zero point described by `p`.
pub(crate) fn params(p: &RandomParams, relu: bool) -> (Requant<'_>, i32) {
    (
        Requant {
            multiplier: I32Array::new(&p.multiplier),
            shift: &p.shift,
            zero_point: p.zero_point,
            min: if relu { p.zero_point } else { -128 },
        },
        p.in_zp,
    )
}
