//! Saved float models: `models/<name>/model.safetensors` and its `fit.json` record.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::Device;
use tch::nn::VarStore;

use crate::nn::{Arch, Net, NetOptions};
use crate::train::{EpochStats, TrainConfig};

/// File name of the float weights inside a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the training record inside a model folder.
pub const FIT_FILE: &str = "fit.json";
/// File name of the test-set evaluation inside a model folder.
pub const EVAL_FILE: &str = "eval.json";
/// File name of the int8 export inside a model folder.
pub const INT8_FILE: &str = "model.fmq";

/// The folder of the model named `name` under `root` (normally `models/`).
pub fn model_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

/// Reads the training record `fit.json` of the model in `dir`.
pub fn read_fit_record(dir: &Path) -> Result<FitRecord> {
    let path = dir.join(FIT_FILE);
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "{}: cannot read the model's training record (train one with `trainer fit`)",
            path.display()
        )
    })?;
    trainer_core::files::folder::check_bytes(dir, FIT_FILE, &bytes)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a training record", path.display()))
}

/// Loads the model saved in `dir` (its architecture from `fit.json`, its weights
/// from `model.safetensors`) onto `device`, with its training record.
pub fn load_model(dir: &Path, device: Device) -> Result<(VarStore, Net, FitRecord)> {
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        anyhow::bail!(
            "{}: no such model file (train one with `trainer fit`)",
            weights.display()
        );
    }
    let record = read_fit_record(dir)?;
    // Checked against the manifest before loading, and unchanged after: the weights
    // loaded are the ones that belong with fit.json.
    let before = trainer_core::files::folder::read_checked(dir, WEIGHTS_FILE)?;
    let (vs, net) = load_net(&weights, &record.config.arch, record.config.net, device)?;
    if std::fs::read(&weights).ok().as_deref() != Some(before.as_slice()) {
        anyhow::bail!(
            "{}: replaced while being read (a run swapped the model folder); try again",
            weights.display()
        );
    }
    Ok((vs, net, record))
}

/// What `trainer fit` records beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitRecord {
    /// The command line that produced the model.
    pub command: String,
    /// Training settings (including the seed).
    pub config: TrainConfig,
    /// Training images used.
    pub train_images: usize,
    /// The device trained on.
    pub device: String,
    /// libtorch intra-op threads during training.
    pub threads: i32,
    /// Per-epoch training metrics.
    pub history: Vec<EpochStats>,
    /// Wall time of the training steps, seconds.
    pub train_seconds: f64,
    /// Mean seconds per epoch.
    pub seconds_per_epoch: f64,
    /// Test accuracy of the float model, if it was evaluated.
    pub test_accuracy: Option<f64>,
    /// Test images evaluated on.
    pub test_images: Option<usize>,
    /// The labelled picture folder a fine-tune trained on (older records: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pictures: Option<PicturesRecord>,
    /// The cross-validation fold left out of the training images
    /// (`--leave-out-fold`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<crate::study::LeftOutFold>,
}

/// What a fine-tune on a labelled picture folder trained and was evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PicturesRecord {
    /// The folder, its held-out split and the files left out.
    pub split: trainer_core::data::folders::SplitRecord,
    /// How the pictures were read (`scene`, `auto`, `dataset`, `photo`: as `trainer
    /// predict --mode`); `None` in records written when `auto` was the default and
    /// went unrecorded.
    pub picture_mode: Option<String>,
    /// `--mix`: the fraction of the training images from Fashion-MNIST.
    pub mix: f64,
    /// Fashion-MNIST training images mixed in.
    pub fashion_mnist_images: usize,
    /// Accuracy of the float model on the held-out pictures (none when none are held
    /// out).
    pub held_out_accuracy: Option<f64>,
}

/// Saves the variables as safetensors at `path`, atomically.
pub fn save_weights(vs: &VarStore, path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // tch picks the format by extension, so the temporary name ends in .safetensors too.
    let tmp = trainer_core::files::atomic::temp_builder()
        .suffix(".safetensors")
        .tempfile_in(dir)?
        .into_temp_path();
    vs.save(&tmp)
        .with_context(|| format!("saving {}", path.display()))?;
    trainer_core::files::atomic::injected_disk_full(path)
        .with_context(|| format!("saving {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Loads model `arch` from a safetensors file onto `device`.
pub fn load_net(
    path: &Path,
    arch: &Arch,
    options: NetOptions,
    device: Device,
) -> Result<(VarStore, Net)> {
    if !path.is_file() {
        anyhow::bail!(
            "{}: no such model file (train one with `trainer fit --model {}`)",
            path.display(),
            arch.name()
        );
    }
    let mut vs = VarStore::new(device);
    let net = Net::new(&vs.root(), arch, options);
    vs.load(path).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a valid {} model ({})",
            path.display(),
            arch.name(),
            first_line(&e.to_string())
        )
    })?;
    Ok((vs, net))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}
