//! `trainer export`: post-training quantization of a saved float model to `model.fmq`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use trainer::nn::saved;
use trainer_core::data::Split;
use trainer_core::files::folder;

use crate::ExportArgs;

/// Quantizes and writes the int8 model.
///
/// The folder is rewritten as a whole (staged and swapped in): the new `model.fmq`,
/// without `eval.json` and `confusion-int8.png`, which described the previous export.
pub fn run(args: ExportArgs) -> Result<ExitCode> {
    let name = args.model.model.as_str();
    let dir = saved::model_dir(&args.model.models, name);
    folder::recover(&dir)?;
    let config = saved::read_fit_record(&dir)?.config;
    // The weights must belong with fit.json (checked against the manifest).
    folder::read_checked(&dir, saved::WEIGHTS_FILE)?;
    let calib = args.data.load(Split::Train, Some(args.calib))?;
    let staging = folder::update_dir(&args.model.models, name);
    folder::stage_copy(&dir, &staging)?;
    let written = (|| -> Result<usize> {
        let bytes =
            trainer::eval::int8::export(&staging.join(saved::WEIGHTS_FILE), &config, &calib)?;
        trainer_core::files::atomic::write_atomic(&staging.join(saved::INT8_FILE), &bytes)?;
        for stale in [saved::EVAL_FILE, "confusion-int8.png"] {
            let path = staging.join(stale);
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
                eprintln!(
                    "removed {stale} (it described the previous export; `trainer evaluate --int8` \
                     writes a new one)"
                );
            }
        }
        folder::write_manifest(&staging, super::command_line())?;
        folder::commit(&staging, &dir)?;
        Ok(bytes.len())
    })();
    let len = match written {
        Ok(len) => len,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    println!(
        "wrote {} ({len} bytes, calibrated on {} images)",
        dir.join(saved::INT8_FILE).display(),
        calib.len()
    );
    Ok(ExitCode::SUCCESS)
}
