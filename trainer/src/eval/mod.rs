//! Test-set evaluation of a saved model: float metrics, the int8 export's metrics
//! and parity, and the report (`eval.json`, confusion heatmaps, printed tables)
//! that `trainer evaluate` and `trainer fit` write.

pub mod int8;
pub mod parity;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tch::Device;

use crate::nn::Net;
use crate::study::plots;
use crate::train::{self, Tensors};
use parity::Parity;
use trainer_core::data::Dataset;
use trainer_core::files::atomic::write_json;
use trainer_core::metrics::Metrics;

/// Metrics of one model on the test images, with the time it took.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluated {
    /// The metrics.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Wall time of the whole pass, seconds.
    pub seconds: f64,
}

impl std::ops::Deref for Evaluated {
    type Target = Metrics;
    fn deref(&self) -> &Metrics {
        &self.metrics
    }
}

/// The float model's metrics and its logits (computed once, reused by
/// [`evaluate_int8`] for the parity figures).
#[derive(Debug, Clone)]
pub struct FloatEvaluated {
    /// Metrics and timing.
    pub evaluated: Evaluated,
    /// Logits of every test image, in order.
    pub logits: Vec<Vec<f32>>,
}

impl std::ops::Deref for FloatEvaluated {
    type Target = Evaluated;
    fn deref(&self) -> &Evaluated {
        &self.evaluated
    }
}

/// Evaluates the float model of classes `names` on `test` (on `device`).
pub fn evaluate_float(
    net: &Net,
    names: &[String],
    test: &Dataset,
    device: Device,
) -> FloatEvaluated {
    let start = Instant::now();
    let t = Tensors::new(test, device);
    let logits = train::logits(net, &t.images, 1000);
    let predicted: Vec<u8> = Vec::<i64>::try_from(logits.argmax(-1, false).to_device(Device::Cpu))
        .expect("int64 tensor")
        .into_iter()
        .map(|c| c as u8)
        .collect();
    let evaluated = Evaluated {
        metrics: Metrics::with_classes(&predicted, &test.labels, names),
        seconds: start.elapsed().as_secs_f64(),
    };
    FloatEvaluated {
        evaluated,
        logits: parity::logits_to_vec(&logits),
    }
}

/// The int8 export's metrics and how closely it follows the float model.
#[derive(Debug, Clone, Serialize)]
pub struct Int8Evaluated {
    /// Metrics of the int8 model (through infer-core).
    #[serde(flatten)]
    pub evaluated: Evaluated,
    /// Size of the `.fmq` file, bytes.
    pub file_bytes: usize,
    /// Scratch RAM `classify` needs, bytes.
    pub scratch_bytes: usize,
    /// Float vs int8 on the same images.
    pub parity: Parity,
}

/// Evaluates an int8 export through infer-core and compares it with the float
/// model's logits on the same `test` images.
pub fn evaluate_int8(fmq: &[u8], float: &FloatEvaluated, test: &Dataset) -> Result<Int8Evaluated> {
    let start = Instant::now();
    let outputs = int8::classify_all(fmq, test)?;
    let seconds = start.elapsed().as_secs_f64();
    let predicted: Vec<u8> = outputs.iter().map(|o| o.class).collect();
    Ok(Int8Evaluated {
        evaluated: Evaluated {
            metrics: Metrics::with_classes(&predicted, &test.labels, &float.class_names),
            seconds,
        },
        file_bytes: fmq.len(),
        scratch_bytes: int8::parse(fmq)?.scratch_len(),
        parity: parity::compare(&float.logits, &test.labels, &outputs),
    })
}

#[derive(Debug, Serialize)]
struct EvalFile<'a> {
    command: &'a str,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Path>,
    float: &'a Evaluated,
    int8: Option<&'a Int8Evaluated>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fashion_mnist_test: Option<&'a Beside>,
}

/// The Fashion-MNIST test figures printed and recorded beside an evaluation on
/// pictures: what fine-tuning cost on the studio images.
#[derive(Debug, Clone, Serialize)]
pub struct Beside {
    /// Test images.
    pub images: usize,
    /// Accuracy of the float model.
    pub float_accuracy: f64,
    /// Accuracy of the int8 model, when evaluated.
    pub int8_accuracy: Option<f64>,
}

/// One evaluation to print and write: `eval{suffix}.json` and
/// `confusion{suffix}[-int8].png`.
#[derive(Debug)]
pub struct Report<'a> {
    /// The model's name.
    pub name: &'a str,
    /// Added to the file names: "" for the Fashion-MNIST test set, "-pictures" for a
    /// picture folder's held-out part.
    pub suffix: &'a str,
    /// What the images are, in words ("test", "held-out").
    pub images: &'a str,
    /// The picture folder, when the images come from one.
    pub data: Option<&'a Path>,
    /// The images and labels.
    pub test: &'a Dataset,
    /// The float model's metrics.
    pub float: &'a Evaluated,
    /// The int8 model's metrics.
    pub int8: Option<&'a Int8Evaluated>,
    /// The Fashion-MNIST test figures, beside an evaluation on pictures.
    pub beside: Option<&'a Beside>,
    /// The command line, recorded.
    pub command: &'a str,
}

/// Prints the tables and writes eval.json (recording `command`, the command
/// line) and the confusion heatmaps into `dir`.
pub fn report(
    dir: &Path,
    name: &str,
    test: &Dataset,
    float: &Evaluated,
    int8: Option<&Int8Evaluated>,
    command: String,
) -> Result<()> {
    Report {
        name,
        suffix: "",
        images: "test",
        data: None,
        test,
        float,
        int8,
        beside: None,
        command: &command,
    }
    .write(dir)
}

impl Report<'_> {
    /// The evaluation file's path in `dir`.
    pub fn eval_path(&self, dir: &Path) -> std::path::PathBuf {
        dir.join(format!("eval{}.json", self.suffix))
    }

    /// Prints the tables and writes the evaluation file and heatmaps into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let (name, float) = (self.name, self.float);
        println!(
            "float model ({} {} images):\n{}",
            self.test.len(),
            self.images,
            float.table()
        );
        plots::confusion_heatmap(
            float,
            &format!(
                "{} float: {:.2}% (rows true, columns predicted)",
                name,
                100.0 * float.accuracy
            ),
            &dir.join(format!("confusion{}.png", self.suffix)),
        )?;
        if let Some(q8) = self.int8 {
            let q = &q8.evaluated;
            let p = &q8.parity;
            println!("int8 model through infer-core:\n{}", q.table());
            println!(
                "float {:.2}% vs int8 {:.2}%: top-1 agreement {:.2}%, dequantized score error mean {:.4} max {:.4} (mean |logit| {:.2}); .fmq {} bytes, scratch {} bytes",
                100.0 * p.float_accuracy,
                100.0 * p.int8_accuracy,
                100.0 * p.top1_agreement,
                p.mean_abs_score_error,
                p.max_abs_score_error,
                p.mean_abs_logit,
                q8.file_bytes,
                q8.scratch_bytes
            );
            plots::confusion_heatmap(
                q,
                &format!(
                    "{} int8: {:.2}% (rows true, columns predicted)",
                    name,
                    100.0 * q.accuracy
                ),
                &dir.join(format!("confusion{}-int8.png", self.suffix)),
            )?;
        }
        if let Some(b) = self.beside {
            println!(
                "beside: Fashion-MNIST test ({} images): float {:.2}%{}",
                b.images,
                100.0 * b.float_accuracy,
                b.int8_accuracy
                    .map(|a| format!(", int8 {:.2}%", 100.0 * a))
                    .unwrap_or_default()
            );
        }
        let path = self.eval_path(dir);
        write_json(
            &path,
            &EvalFile {
                command: self.command,
                model: name,
                data: self.data,
                float,
                int8: self.int8,
                fashion_mnist_test: self.beside,
            },
        )?;
        println!("wrote {}", path.display());
        Ok(())
    }
}
