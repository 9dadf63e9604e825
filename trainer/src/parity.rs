//! How closely the int8 export answers like the float model it came from.

use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::data::Dataset;
use crate::int8::Int8Output;
use crate::model::Net;
use crate::train::{self, Tensors};

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

/// Compares the float network with the int8 outputs (`int8[i]` for image `i` of `data`).
pub fn compare(net: &Net, data: &Dataset, int8: &[Int8Output]) -> Parity {
    assert_eq!(int8.len(), data.len(), "one int8 output per image");
    let t = Tensors::new(data, Device::Cpu);
    let logits = train::logits(net, &t.images, 1000).to_kind(Kind::Float);
    let logits: Vec<Vec<f32>> = Vec::<Vec<f32>>::try_from(&logits).expect("2-D float tensor");
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
        let label = usize::from(data.labels[i]);
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
    let n = data.len() as f64;
    Parity {
        images: data.len(),
        float_accuracy: float_ok as f64 / n,
        int8_accuracy: int8_ok as f64 / n,
        top1_agreement: agree as f64 / n,
        mean_abs_score_error: err_sum / count as f64,
        max_abs_score_error: err_max,
        mean_abs_logit: logit_sum / count as f64,
    }
}
