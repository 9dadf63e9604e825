//! How closely the int8 export answers like the float model it came from.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::eval::int8::Int8Output;
use crate::nn::Net;
use crate::train::{self, Tensors};
use trainer_core::data::Dataset;

/// Float vs int8 on the same images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Parity {
    /// Images compared.
    pub images: usize,
    /// Accuracy of the float model.
    pub float_accuracy: f64,
    /// Accuracy of the int8 model.
    pub int8_accuracy: f64,
    /// Share of images where both predict the same class.
    pub top1_agreement: f64,
    /// Mean absolute difference between the float logits and the dequantized int8 scores.
    pub mean_abs_score_error: f64,
    /// Largest absolute difference between a float logit and its dequantized int8 score.
    pub max_abs_score_error: f64,
    /// Mean absolute float logit (the scale the errors compare with).
    pub mean_abs_logit: f64,
}

/// A `[n, classes]` logits tensor as one `Vec` per image (copied to the CPU).
pub fn logits_to_vec(logits: &Tensor) -> Vec<Vec<f32>> {
    let logits = logits.to_device(Device::Cpu).to_kind(Kind::Float);
    Vec::<Vec<f32>>::try_from(&logits).expect("2-D float tensor")
}

/// The float network's logits of every image of `data` (on the CPU).
pub fn float_logits(net: &Net, data: &Dataset) -> Vec<Vec<f32>> {
    let t = Tensors::new(data, Device::Cpu);
    logits_to_vec(&train::logits(net, &t.images, 1000))
}

/// Compares the float logits (`logits[i]` for image `i`, see [`float_logits`]) with
/// the int8 outputs (`int8[i]`), given the true `labels`.
pub fn compare(logits: &[Vec<f32>], labels: &[u8], int8: &[Int8Output]) -> Parity {
    assert_eq!(int8.len(), labels.len(), "one int8 output per image");
    assert_eq!(logits.len(), labels.len(), "one float output per image");
    let argmax = |v: &[f32]| {
        v.iter()
            .enumerate()
            .fold(
                (0, f32::MIN),
                |best, (i, &x)| if x > best.1 { (i, x) } else { best },
            )
            .0
    };
    let (mut float_ok, mut int8_ok, mut agree) = (0usize, 0usize, 0usize);
    let (mut err_sum, mut err_max, mut logit_sum, mut count) = (0f64, 0f64, 0f64, 0usize);
    for (i, (f, q)) in logits.iter().zip(int8).enumerate() {
        let label = usize::from(labels[i]);
        let fc = argmax(f);
        let qc = usize::from(q.class);
        float_ok += usize::from(fc == label);
        int8_ok += usize::from(qc == label);
        agree += usize::from(fc == qc);
        for (&a, &b) in f.iter().zip(&q.dequantized) {
            let e = f64::from((a - b).abs());
            err_sum += e;
            err_max = err_max.max(e);
            logit_sum += f64::from(a.abs());
            count += 1;
        }
    }
    let n = labels.len() as f64;
    Parity {
        images: labels.len(),
        float_accuracy: float_ok as f64 / n,
        int8_accuracy: int8_ok as f64 / n,
        top1_agreement: agree as f64 / n,
        mean_abs_score_error: err_sum / count as f64,
        max_abs_score_error: err_max,
        mean_abs_logit: logit_sum / count as f64,
    }
}
