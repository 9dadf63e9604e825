//! The int8 side of the trainer: quantizing a saved float model, and running `.fmq`
//! files through infer-core (exactly the code the firmware runs).

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use infer_core::Model;

use crate::train::TrainConfig;
use trainer_core::data::{Dataset, IMAGE_LEN};

/// The int8 answer for one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Output {
    /// The predicted class.
    pub class: u8,
    /// The int8 scores of every class.
    pub scores: Vec<i8>,
    /// The scores as real values (`scale * (q - zero_point)`).
    pub dequantized: Vec<f32>,
}

/// Parses and validates `.fmq` bytes ([`Model::from_bytes`]), turning infer-core's
/// error into a message.
pub fn parse(fmq: &[u8]) -> Result<Model<'_>> {
    Model::from_bytes(fmq).map_err(|e| anyhow!("invalid int8 model: {e}"))
}

/// Classifies every image of `data` with the int8 model, on all cores.
pub fn classify_all(fmq: &[u8], data: &Dataset) -> Result<Vec<Int8Output>> {
    let model = parse(fmq)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = data.len().div_ceil(workers).max(1);
    let indices: Vec<usize> = (0..data.len()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = indices
            .chunks(chunk)
            .map(|part| {
                let model = &model;
                s.spawn(move || -> Result<Vec<Int8Output>> {
                    let mut scratch = vec![0i8; model.scratch_len()];
                    part.iter()
                        .map(|&i| {
                            let p = model
                                .classify(data.image(i), &mut scratch)
                                .map_err(|e| anyhow!("image {i}: {e}"))?;
                            Ok(Int8Output {
                                class: p.class as u8,
                                scores: p.scores.to_vec(),
                                dequantized: p.dequantized().to_vec(),
                            })
                        })
                        .collect()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(data.len());
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow!("worker panicked"))??);
        }
        Ok(all)
    })
}

/// Class probabilities of one image: softmax of the dequantized int8 scores.
///
/// `model` is parsed once by the caller ([`parse`]): parsing verifies the whole file's
/// CRC, which costs far more than one classification.
pub fn probabilities(model: &Model<'_>, pixels: &[u8; IMAGE_LEN]) -> Result<Vec<f64>> {
    let mut scratch = vec![0i8; model.scratch_len()];
    let p = model
        .classify(pixels, &mut scratch)
        .map_err(|e| anyhow!("{e}"))?;
    let logits: Vec<f64> = p.dequantized().iter().map(|&v| f64::from(v)).collect();
    Ok(softmax(&logits))
}

/// Numerically stable softmax.
pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::MIN, f64::max);
    let exp: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

/// Quantizes the float model saved at `weights` (trained with `config`: its
/// architecture, batch norm and class names), calibrating activation ranges on `calib`; returns the
/// `.fmq` bytes.
pub fn export(weights: &Path, config: &TrainConfig, calib: &Dataset) -> Result<Vec<u8>> {
    let names = config.class_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let float = trainer_core::quantize::FloatModel::load_arch(
        weights,
        &config.arch,
        config.net.batch_norm,
        &names,
    )
    .with_context(|| format!("loading {}", weights.display()))?;
    let images: Vec<[u8; IMAGE_LEN]> = (0..calib.len()).map(|i| *calib.image(i)).collect();
    let bytes = trainer_core::quantize::quantize(&float, &images, &Default::default())?;
    parse(&bytes).context("the quantizer wrote a model infer-core rejects")?;
    Ok(bytes)
}
