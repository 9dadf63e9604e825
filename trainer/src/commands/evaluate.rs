//! `trainer evaluate`: test accuracy, per-class accuracy and confusion matrix
//! (the work is in [`trainer::eval`]).

use std::process::ExitCode;

use anyhow::Result;
use trainer::eval::{evaluate_float, evaluate_int8, report};
use trainer::nn::saved;
use trainer::train;
use trainer_core::data::Split;
use trainer_core::files::folder;

use crate::EvaluateArgs;

/// Runs the evaluation of a saved model.
pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let name = args.model.model.as_str();
    let dir = saved::model_dir(&args.model.models, name);
    folder::recover(&dir)?;
    let test_set = args.data.load(Split::Test, args.limit)?;
    let device = train::default_device();
    let (_vs, net, _config) = saved::load_model(&dir, device)?;
    let float = evaluate_float(&net, &test_set, device);
    let int8 = if args.int8 {
        let path = dir.join(saved::INT8_FILE);
        if !path.is_file() {
            anyhow::bail!(
                "{}: no such file (export one with `trainer export --model {name}`)",
                path.display(),
            );
        }
        let bytes = trainer_core::files::folder::read_checked(&dir, saved::INT8_FILE)?;
        Some(
            evaluate_int8(&bytes, &float, &test_set)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )
    } else {
        None
    };
    match &args.out {
        Some(out) => report(
            out,
            name,
            &test_set,
            &float,
            int8.as_ref(),
            super::command_line(),
        )?,
        None => {
            // Into the model folder: as a whole new folder, swapped in.
            let staging = folder::update_dir(&args.model.models, name);
            folder::stage_copy(&dir, &staging)?;
            let written = report(
                &staging,
                name,
                &test_set,
                &float,
                int8.as_ref(),
                super::command_line(),
            )
            .and_then(|()| {
                if int8.is_none() {
                    // The int8 heatmap of an earlier evaluation would not match eval.json.
                    let stale = staging.join("confusion-int8.png");
                    if stale.exists() {
                        std::fs::remove_file(&stale)?;
                    }
                }
                folder::write_manifest(&staging, super::command_line())?;
                folder::commit(&staging, &dir)
            });
            if let Err(e) = written {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(e);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
