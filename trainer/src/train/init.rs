//! Starting a run from a saved model's weights (`--init DIR`) instead of a fresh
//! initialisation: fine-tuning.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;

use crate::nn::{Arch, LayerSpec, NetOptions, saved};
use crate::train::checkpoint::read_tensors;
use trainer_core::files::folder;

/// The saved model a run starts from, as recorded in its result files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    /// The model folder (absolute), as `trainer fit` writes it.
    pub model: PathBuf,
    /// SHA-256 of its weights (`model.safetensors`): the run is refused if they change,
    /// so a record names exactly the weights it started from.
    pub weights_sha256: String,
    /// The variable prefix (`fc2`) of the output layer that the run makes anew because
    /// its class count differs from the saved model's; `None`: every layer is loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_output_layer: Option<String>,
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
        // A new output layer (classes of one's own) is the one difference allowed.
        let same_body = record.config.arch.with_classes(arch.classes()).as_ref() == Ok(arch);
        if !same_body || record.config.net.batch_norm != net.batch_norm {
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
        let denses = arch
            .layers()
            .iter()
            .filter(|l| matches!(l, LayerSpec::Dense { .. }))
            .count();
        Ok(Init {
            model,
            weights_sha256: folder::sha256_hex(&weights),
            new_output_layer: (record.config.arch.classes() != arch.classes())
                .then(|| format!("fc{denses}")),
        })
    }

    /// Loads the recorded weights into `vs` (every variable, batch-norm statistics
    /// included), refusing them if they are no longer the ones recorded. When `vs` is of
    /// the same model with a new output layer ([`Init::new_output_layer`]: another class
    /// count, classes of one's own), every variable but that layer's is loaded and the layer keeps its
    /// fresh initialisation.
    pub fn apply(&self, vs: &VarStore) -> Result<()> {
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
        // The bytes just hashed, not the file again: what is loaded is what was checked.
        let stored = read_tensors(&weights)
            .map_err(|e| anyhow::anyhow!("--init {}: {e}", path.display()))?;
        let new_layer = |name: &str| {
            self.new_output_layer
                .as_ref()
                .is_some_and(|output| name.starts_with(&format!("{output}.")))
        };
        let mut vars = vs.variables();
        tch::no_grad(|| {
            for (name, tensor) in &stored {
                if new_layer(name) {
                    continue;
                }
                match vars.remove(name) {
                    Some(mut v) if v.size() == tensor.size() => {
                        v.copy_(tensor);
                    }
                    _ => bail!("--init {}: {name} does not fit the model", path.display()),
                }
            }
            Ok(())
        })?;
        vars.retain(|name, _| !new_layer(name));
        if let Some(name) = vars.keys().next() {
            bail!("--init {}: no {name}", path.display());
        }
        Ok(())
    }
}
