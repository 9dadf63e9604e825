//! Training checkpoints: everything a run needs to continue exactly where it stopped.
//!
//! One safetensors file, written atomically (temporary file + rename) after every
//! epoch: the variables (weights and batch-norm statistics), the optimizer state (SGD
//! momentum buffers, or AdamW's moments, and the step count), the early-stopping
//! snapshot, the batch order, and in the metadata (JSON under the key `checkpoint`)
//! the configuration, the data digest, the thread count, the epoch, the history so far
//! and the three random generators' states (batch order, augmentation, dropout).
//! A resumed run at the same thread count ends with the same bytes as one never
//! interrupted (tested in `tests/resume.rs`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::train::{EpochStats, TrainConfig};

pub use trainer_core::files::folder::CHECKPOINT_FILE;

/// Version of the checkpoint layout; a different one is refused.
pub const FORMAT: u32 = 1;

/// The exact state of a `ChaCha8Rng`: seed, stream and position in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte seed, hex.
    pub seed: String,
    /// The stream number.
    pub stream: u64,
    /// Words already drawn (a decimal string: it can exceed JSON's safe integers).
    pub word_pos: String,
}

impl RngState {
    /// Records the state of `rng`.
    pub fn of(rng: &ChaCha8Rng) -> RngState {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// A generator in exactly this state.
    pub fn restore(&self) -> Result<ChaCha8Rng> {
        let bytes: Vec<u8> = (0..self.seed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.seed.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .context("checkpoint: bad generator seed")?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("checkpoint: a generator seed is not 32 bytes"))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(
            self.word_pos
                .parse()
                .context("checkpoint: bad generator position")?,
        );
        Ok(rng)
    }
}

/// The early-stopping state: the best hold-out loss so far and its epoch (its weights
/// are the `best/` tensors).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Lowest hold-out loss so far.
    pub loss: f64,
    /// The epoch it was reached in (1-based).
    pub epoch: usize,
}

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// The run's settings.
    pub config: TrainConfig,
    /// SHA-256 of the training images and labels.
    pub data: String,
    /// libtorch intra-op threads (the results' bits depend on it).
    pub threads: i32,
    /// Epochs completed.
    pub epoch: usize,
    /// Their metrics.
    pub history: Vec<EpochStats>,
    /// The batch-order generator.
    pub batch_rng: RngState,
    /// The augmentation generator.
    pub augment_rng: RngState,
    /// The dropout generator.
    pub dropout_rng: RngState,
    /// Optimizer steps taken (AdamW's bias correction; SGD's first step).
    pub optimizer_steps: u64,
    /// Early-stopping state, if any.
    pub best: Option<Best>,
}

/// A checkpoint read back: metadata and named tensors (on the CPU).
#[derive(Debug)]
pub struct Checkpoint {
    /// Everything but tensors.
    pub meta: CheckpointMeta,
    /// `var/<name>`, `opt.m/<name>`, `opt.v/<name>`, `best/<name>`, `order`.
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// The tensor `name`, or an error naming the file's damage.
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .with_context(|| format!("checkpoint: tensor {name} missing"))
    }

    /// Checks that the checkpoint belongs to a run with `config` on `data` at
    /// `threads` threads; the error names the first difference and what to do.
    pub fn check_matches(
        &self,
        path: &Path,
        config: &TrainConfig,
        data: &str,
        threads: i32,
    ) -> Result<()> {
        let advice = format!(
            "run with the settings of the interrupted run, or delete {} to start over",
            path.display()
        );
        if self.meta.config != *config {
            let (field, found, wanted) = crate::study::first_difference(
                &serde_json::to_value(&self.meta.config)?,
                &serde_json::to_value(config)?,
            )
            .unwrap_or_else(|| ("config".into(), "?".into(), "?".into()));
            bail!(
                "{}: the checkpoint was made with other settings ({field}: {found} there, \
                 {wanted} now); {advice}",
                path.display()
            );
        }
        if self.meta.data != data {
            bail!(
                "{}: the checkpoint was made on other training data (the dataset or --limit \
                 changed: SHA-256 {} there, {data} now); {advice}",
                path.display(),
                self.meta.data
            );
        }
        if self.meta.threads != threads {
            bail!(
                "{}: the checkpoint was made with {} libtorch threads, this run has {threads} \
                 (the thread count changes the results' bits); pass --threads {} to resume it, \
                 or delete it to start over",
                path.display(),
                self.meta.threads,
                self.meta.threads
            );
        }
        Ok(())
    }
}

/// Writes a checkpoint atomically at `path`.
pub fn save(path: &Path, meta: &CheckpointMeta, tensors: &[(String, Tensor)]) -> Result<()> {
    let mut buffers: Vec<(String, Kind, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let t = t.to_device(Device::Cpu).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let flat = t.flatten(0, -1);
        let bytes = match t.kind() {
            Kind::Float => Vec::<f32>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            Kind::Int64 => Vec::<i64>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            other => bail!("checkpoint: tensor {name} has unsupported kind {other:?}"),
        };
        buffers.push((name.clone(), t.kind(), shape, bytes));
    }
    let mut views = Vec::with_capacity(buffers.len());
    for (name, kind, shape, bytes) in &buffers {
        let dtype = if *kind == Kind::Float {
            safetensors::Dtype::F32
        } else {
            safetensors::Dtype::I64
        };
        views.push((
            name.clone(),
            safetensors::tensor::TensorView::new(dtype, shape.clone(), bytes)?,
        ));
    }
    let info = HashMap::from([("checkpoint".to_owned(), serde_json::to_string(meta)?)]);
    let bytes = safetensors::serialize(views, Some(info))?;
    trainer_core::files::atomic::write_atomic(path, &bytes)
}

/// Reads the checkpoint at `path`.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let damaged = || format!("{}: not a training checkpoint (damaged?)", path.display());
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).with_context(damaged)?;
    let text = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get("checkpoint"))
        .with_context(damaged)?;
    let meta: CheckpointMeta = serde_json::from_str(text).with_context(damaged)?;
    if meta.format != FORMAT {
        bail!(
            "{}: checkpoint format {} (this trainer reads {FORMAT}); delete it to start over",
            path.display(),
            meta.format
        );
    }
    let tensors = read_tensors(&bytes).with_context(damaged)?;
    Ok(Checkpoint { meta, tensors })
}

/// The tensors of a safetensors file's bytes (f32 and i64 ones), by name: a checkpoint's
/// or a saved model's, read from bytes already in memory.
pub fn read_tensors(bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
    let st = safetensors::SafeTensors::deserialize(bytes)?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let data = view.data();
        let t = match view.dtype() {
            safetensors::Dtype::F32 => {
                let v: Vec<f32> = data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                Tensor::from_slice(&v)
            }
            safetensors::Dtype::I64 => {
                let v: Vec<i64> = data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect();
                Tensor::from_slice(&v)
            }
            other => bail!("tensor {name} has dtype {other:?}"),
        };
        tensors.insert(name, t.view(shape.as_slice()));
    }
    Ok(tensors)
}
