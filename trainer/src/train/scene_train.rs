//! Training on scene crops (`--scene-train`): the training set followed by the scene
//! preprocessing's model input of each of its images drawn as a scene
//! ([`with_scene_crops`]), so that the model learns what that path shows it.

use anyhow::Result;
use trainer_core::data::Dataset;
use trainer_core::data::scenes::with_scene_crops;

use crate::train::TrainConfig;

/// The scenes' seeds start here, past the seeds `photo-eval` draws its test scenes with
/// (`seed + i` for test image `i`, empty scenes from `seed + 2,000,000`).
const SEED_OFFSET: u64 = 3_000_000;

/// `set` as `cfg` trains on it: with `cfg.scene_train`, followed by the scene crops of
/// the share `cfg.scene_share` of its images (image `i` drawn with the seed
/// `cfg.seed + 3,000,000 + i`); else as it is.
pub fn training_set(set: Dataset, cfg: &TrainConfig) -> Result<Dataset> {
    if !cfg.scene_train {
        return Ok(set);
    }
    let (with_crops, missed) = with_scene_crops(&set, cfg.seed + SEED_OFFSET, cfg.scene_share)?;
    println!(
        "scene crops: {} of the {} training images drawn as scenes (share {}) had a garment \
         found ({missed} had none); training on {}",
        with_crops.len() - set.len(),
        with_crops.len() - set.len() + missed,
        cfg.scene_share,
        with_crops.len()
    );
    Ok(with_crops)
}
