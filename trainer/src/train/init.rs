//! Starting a run from a saved model's weights (`--init DIR`) instead of a fresh
//! initialisation: fine-tuning.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use crate::nn::{Arch, NetOptions, saved};
use trainer_core::files::folder;

/// The saved model a run starts from, as recorded in its result files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// The model folder (absolute), as `trainer fit` writes it.
    pub model: PathBuf,
    /// SHA-256 of its weights (`model.safetensors`): the run is refused if they change,
    /// so a record names exactly the weights it started from.
    pub weights_sha256: String,
}

impl Init {
    /// Checks that `dir` holds a saved model of the run's architecture and network
    /// options (its files agreeing with its manifest) and records its absolute path and
    /// the SHA-256 of its weights. Nothing is written.
    pub fn new(dir: &Path, arch: &Arch, net: NetOptions) -> Result<Init> {
        let bad = || format!("--init {}: not a usable starting model", dir.display());
        let model = std::fs::canonicalize(dir)
            .with_context(|| format!("{}: no such model folder", dir.display()))
            .with_context(bad)?;
        let record = saved::read_fit_record(&model).with_context(bad)?;
        if record.config.arch != *arch || record.config.net.batch_norm != net.batch_norm {
            bail!(
                "--init {}: the model is {} (batch norm {}), the run trains {} (batch norm \
                 {}): give the same --model and --batch-norm",
                dir.display(),
                record.config.arch,
                record.config.net.batch_norm,
                arch,
                net.batch_norm
            );
        }
        let weights = folder::read_checked(&model, saved::WEIGHTS_FILE).with_context(bad)?;
        Ok(Init {
            model,
            weights_sha256: folder::sha256_hex(&weights),
        })
    }

    /// Loads the recorded weights into `vs` (every variable, batch-norm statistics
    /// included), refusing them if they are no longer the ones recorded.
    pub fn apply(&self, vs: &mut VarStore) -> Result<()> {
        let weights = folder::read_checked(&self.model, saved::WEIGHTS_FILE)
            .with_context(|| format!("--init {}", self.model.display()))?;
        let sha = folder::sha256_hex(&weights);
        let path = self.model.join(saved::WEIGHTS_FILE);
        if sha != self.weights_sha256 {
            bail!(
                "{}: the starting weights changed since the run was set up (SHA-256 {} \
                 recorded, {sha} now)",
                path.display(),
                self.weights_sha256
            );
        }
        vs.load(&path)
            .map_err(|e| anyhow::anyhow!("--init {}: {e}", path.display()))
    }
}
