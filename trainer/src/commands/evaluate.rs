//! `trainer evaluate`: test accuracy, per-class accuracy and confusion matrix
//! (the work is in [`trainer::eval`]); with a labelled picture folder as `--data`, the
//! same on its held-out part, beside the Fashion-MNIST test figure.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use trainer::eval::{Beside, Report, evaluate_float, evaluate_int8};
use trainer::nn::saved;
use trainer::train;
use trainer_core::data::Split;
use trainer_core::data::folders::Classes;
use trainer_core::files::folder;

use super::fit::PICTURES_SUFFIX;
use super::{Source, pictures};
use crate::EvaluateArgs;

/// Runs the evaluation of a saved model.
pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    if let Source::Pictures(data) = args.data.source()? {
        return run_pictures(&args, &data);
    }
    let name = args.model.model.as_str();
    let dir = saved::model_dir(&args.model.models, name);
    folder::recover(&dir)?;
    let test_set = args.data.load(Split::Test, args.limit)?;
    let device = train::default_device();
    let (_vs, net, record) = saved::load_model(&dir, device)?;
    let config = record.config;
    if config.class_names.is_some() {
        bail!(
            "{name} has classes of its own ({}): evaluate it on its pictures with --data DIR",
            config.class_names().join(", ")
        );
    }
    let float = evaluate_float(&net, &config.class_names(), &test_set, device);
    let int8 = if args.int8 {
        let bytes = read_int8(&dir, name)?;
        Some(
            evaluate_int8(&bytes, &float, &test_set)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.join(saved::INT8_FILE).display()))?,
        )
    } else {
        None
    };
    let command = super::command_line();
    let report = Report {
        name,
        suffix: "",
        images: "test",
        data: None,
        test: &test_set,
        float: &float,
        int8: int8.as_ref(),
        beside: None,
        command: &command,
    };
    write(&args, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// The `.fmq` export of the model in `dir`, checked against its manifest.
fn read_int8(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(saved::INT8_FILE);
    if !path.is_file() {
        bail!(
            "{}: no such file (export one with `trainer export --model {name}`)",
            path.display(),
        );
    }
    folder::read_checked(dir, saved::INT8_FILE)
}

/// Evaluates on the held-out part of the picture folder `data`: the part the model was
/// fitted without when it was fitted on this folder (its recorded fraction and seed),
/// else the one `--held-out` and `--held-out-seed` choose.
fn run_pictures(args: &EvaluateArgs, data: &Path) -> Result<ExitCode> {
    let name = args.model.model.as_str();
    let dir = saved::model_dir(&args.model.models, name);
    folder::recover(&dir)?;
    let device = train::default_device();
    let (_vs, net, record) = saved::load_model(&dir, device)?;
    let config = record.config.clone();
    let here = std::fs::canonicalize(data).ok();
    let fitted = record
        .pictures
        .as_ref()
        .filter(|p| Some(&p.split.dir) == here.as_ref());
    let (fraction, seed) = match fitted {
        Some(p) => {
            eprintln!(
                "{name} was fitted on this folder: its held-out part (fraction {}, seed {})",
                p.split.held_out_fraction, p.split.seed
            );
            (p.split.held_out_fraction, p.split.seed)
        }
        None => (args.pictures.held_out, args.pictures.held_out_seed),
    };
    let names = config.class_names();
    let set = pictures::read(data, &args.pictures, Classes::Known(&names), fraction, seed)?;
    let held = set.held_out_set();
    if held.is_empty() {
        bail!(
            "--data {}: no picture is held out (fraction {fraction}); add pictures or raise \
             --held-out",
            data.display()
        );
    }
    let float = evaluate_float(&net, &names, &held, device);
    let test = if config.class_names.is_some() {
        None
    } else {
        match args.data.fashion_mnist(Split::Test, args.limit) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("no Fashion-MNIST test figure beside: {e:#}");
                None
            }
        }
    };
    let float_test = test
        .as_ref()
        .map(|t| evaluate_float(&net, &names, t, device));
    let bytes = if args.int8 {
        Some(read_int8(&dir, name)?)
    } else {
        None
    };
    let int8 = match &bytes {
        Some(b) => Some(evaluate_int8(b, &float, &held)?),
        None => None,
    };
    let beside = match (&test, &float_test) {
        (Some(t), Some(f)) => Some(Beside {
            images: t.len(),
            float_accuracy: f.accuracy,
            int8_accuracy: match &bytes {
                Some(b) => Some(evaluate_int8(b, f, t)?.evaluated.accuracy),
                None => None,
            },
        }),
        _ => None,
    };
    let command = super::command_line();
    let report = Report {
        name,
        suffix: PICTURES_SUFFIX,
        images: "held-out",
        data: Some(&set.dir),
        test: &held,
        float: &float,
        int8: int8.as_ref(),
        beside: beside.as_ref(),
        command: &command,
    };
    write(args, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the report into `--out`, or into the model's folder as a whole new folder,
/// swapped in.
fn write(args: &EvaluateArgs, report: &Report<'_>) -> Result<()> {
    if let Some(out) = &args.out {
        return report.write(out);
    }
    let staging = folder::update_dir(&args.model.models, report.name);
    folder::stage_copy(&saved::model_dir(&args.model.models, report.name), &staging)?;
    let written = report.write(&staging).and_then(|()| {
        if report.int8.is_none() {
            // The int8 heatmap of an earlier evaluation would not match the new file.
            let stale = staging.join(format!("confusion{}-int8.png", report.suffix));
            if stale.exists() {
                std::fs::remove_file(&stale)?;
            }
        }
        folder::write_manifest(&staging, super::command_line())?;
        folder::commit(&staging, &saved::model_dir(&args.model.models, report.name))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(())
}
