//! Random kernel parameters for the property tests (test-only).

use super::conv2d::ConvOp;
use super::dense::DenseOp;
use super::requant::Requant;
use crate::reference::{self, LayerParams};
use crate::{I8Array, I32Array};
use std::vec::Vec;

/// The project's SplitMix64, seeded by proptest.
pub(crate) use crate::rng::SplitMix64 as Rng;

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

/// The public reference kernel's parameters for a fast kernel's operands:
/// typed copies of the byte arrays.
struct Typed {
    weights: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
}

impl Typed {
    fn new(weights: I8Array<'_>, bias: I32Array<'_>, requant: &Requant<'_>) -> Self {
        Self {
            weights: weights.iter().collect(),
            bias: bias.iter().collect(),
            multiplier: requant.multiplier.iter().collect(),
        }
    }

    fn params<'a>(&'a self, in_zp: i32, requant: &Requant<'a>) -> LayerParams<'a> {
        LayerParams {
            in_zp,
            weights: &self.weights,
            bias: &self.bias,
            multiplier: &self.multiplier,
            shift: requant.shift,
            out_zp: requant.zero_point,
            // With a zero point of -128 both clamps are the same.
            relu: requant.min == requant.zero_point,
        }
    }
}

/// [`reference::conv2d`] on the operands of a fast convolution.
pub(crate) fn reference_conv2d(op: &ConvOp<'_>, input: &[i8]) -> Vec<i8> {
    let typed = Typed::new(op.weights, op.bias, &op.requant);
    let mut out = std::vec![0i8; op.shape.out_len()];
    reference::conv2d(
        &op.shape,
        &typed.params(op.in_zp, &op.requant),
        input,
        &mut out,
    );
    out
}

/// [`reference::dense`] on the operands of a fast dense layer.
pub(crate) fn reference_dense(op: &DenseOp<'_>, input: &[i8]) -> Vec<i8> {
    let typed = Typed::new(op.weights, op.bias, &op.requant);
    let mut out = std::vec![0i8; op.n_out];
    reference::dense(
        &typed.params(op.in_zp, &op.requant),
        &input[..op.n_in],
        &mut out,
    );
    out
}
