//! `trainer evaluate`: test accuracy, per-class accuracy and confusion matrix
//! (the work is in [`trainer::evaluate`]).

use std::process::ExitCode;

use anyhow::Result;
use trainer::data::Split;
use trainer::evaluate::{evaluate_float, evaluate_int8, report};
use trainer::{saved, train};

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
            evaluate_int8(&bytes, &float, &test_set)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        )
    } else {
        None
    };
    report(
        args.out.as_deref().unwrap_or(&dir),
        name,
        &test_set,
        &float,
        int8.as_ref(),
        super::command_line(),
    )?;
    Ok(ExitCode::SUCCESS)
}
