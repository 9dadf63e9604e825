//! Shared fixtures of the parity tests: the committed models and the test set.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::Result;
use tch::Device;
use trainer::nn::Net;
use trainer::nn::saved;
use trainer_core::data::{self, Dataset, Split};

/// The repository's `models/` folder.
pub fn models_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The committed float model and int8 export of the model named `name`.
pub fn committed(name: &str) -> Result<(tch::nn::VarStore, Net, Vec<u8>)> {
    let dir = saved::model_dir(&models_root(), name);
    let (vs, net, _record) = saved::load_model(&dir, Device::Cpu)?;
    // Checked against the folder's manifest (when it has one): the export must belong
    // with the weights.
    let fmq = trainer_core::files::folder::read_checked(&dir, saved::INT8_FILE)?;
    Ok((vs, net, fmq))
}

/// The 10,000 test images (installed by scripts/setup.sh).
pub fn test_set() -> Result<Dataset> {
    let dir = data::locate(None)?;
    Ok(data::load(&dir, Split::Test)?)
}
