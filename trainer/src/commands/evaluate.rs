//! `trainer evaluate`: test accuracy, per-class accuracy and confusion matrix.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;
use tch::Device;
use trainer::data::{Dataset, Split};
use trainer::metrics::Metrics;
use trainer::model::Net;
use trainer::output::write_json;
use trainer::parity::{self, Parity};
use trainer::train::{self, Tensors};
use trainer::{plots, saved};

use crate::EvaluateArgs;

/// Runs the evaluation of a saved model.
pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let name = args.model.model.as_str();
    let dir = saved::model_dir(&args.model.models, name);
    let test_set = args.data.load(Split::Test, args.limit)?;
    let device = train::default_device();
    let (_vs, net, _config) = saved::load_model(&dir, device)?;
    let float = evaluate_float(&net, &test_set, device);
    let int8 = if args.int8 {
        let path = dir.join(saved::INT8_FILE);
        let bytes = std::fs::read(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (export one with `trainer export --model {name}`)",
                path.display(),
            )
        })?;
        Some(
            evaluate_int8(&bytes, &net, &test_set)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )
    } else {
        None
    };
    report(
        args.out.as_deref().unwrap_or(&dir),
        name,
        &test_set,
        float,
        int8,
    )?;
    Ok(ExitCode::SUCCESS)
}

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

/// Evaluates the float model.
pub fn evaluate_float(net: &Net, test: &Dataset, device: Device) -> Evaluated {
    let start = Instant::now();
    let t = Tensors::new(test, device);
    let predicted: Vec<u8> = Vec::<i64>::try_from(
        train::logits(net, &t.images, 1000)
            .argmax(-1, false)
            .to_device(Device::Cpu),
    )
    .expect("int64 tensor")
    .into_iter()
    .map(|c| c as u8)
    .collect();
    Evaluated {
        metrics: Metrics::new(&predicted, &test.labels),
        seconds: start.elapsed().as_secs_f64(),
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

/// Evaluates an int8 export through infer-core and compares it with the float `net`.
pub fn evaluate_int8(fmq: &[u8], net: &Net, test: &Dataset) -> Result<Int8Evaluated> {
    let start = Instant::now();
    let outputs = trainer::int8::classify_all(fmq, test)?;
    let seconds = start.elapsed().as_secs_f64();
    let predicted: Vec<u8> = outputs.iter().map(|o| o.class).collect();
    Ok(Int8Evaluated {
        evaluated: Evaluated {
            metrics: Metrics::new(&predicted, &test.labels),
            seconds,
        },
        file_bytes: fmq.len(),
        scratch_bytes: trainer::int8::check(fmq)?.scratch_len(),
        parity: parity::compare(net, test, &outputs),
    })
}

#[derive(Debug, Serialize)]
struct EvalFile<'a> {
    command: String,
    model: &'a str,
    float: &'a Evaluated,
    int8: Option<&'a Int8Evaluated>,
}

/// Prints the tables and writes eval.json and the confusion heatmaps into `dir`.
pub fn report(
    dir: &Path,
    name: &str,
    test: &Dataset,
    float: Evaluated,
    int8: Option<Int8Evaluated>,
) -> Result<()> {
    println!(
        "float model ({} test images):\n{}",
        test.len(),
        float.table()
    );
    plots::confusion_heatmap(
        &float.confusion,
        &format!(
            "{} float: {:.2}% (rows true, columns predicted)",
            name,
            100.0 * float.accuracy
        ),
        &dir.join("confusion.png"),
    )?;
    if let Some(q8) = &int8 {
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
            &q.confusion,
            &format!(
                "{} int8: {:.2}% (rows true, columns predicted)",
                name,
                100.0 * q.accuracy
            ),
            &dir.join("confusion-int8.png"),
        )?;
    }
    write_json(
        &dir.join(saved::EVAL_FILE),
        &EvalFile {
            command: super::command_line(),
            model: name,
            float: &float,
            int8: int8.as_ref(),
        },
    )?;
    println!("wrote {}", dir.join(saved::EVAL_FILE).display());
    Ok(())
}
