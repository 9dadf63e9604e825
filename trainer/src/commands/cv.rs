//! `trainer cv`: k-fold cross-validation; `trainer cv merge`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use trainer::atomic::write_json;
use trainer::cv::{self, CvConfig, CvReport, FoldFile};
use trainer::data::Split;
use trainer::plots;

use crate::{CvAction, CvCommand};

/// Runs cross-validation (all folds, or one with `--fold`), or merges fold files.
pub fn run(cmd: CvCommand) -> Result<ExitCode> {
    if let Some(CvAction::Merge { out }) = cmd.action {
        let (config, folds) = cv::read_fold_files(&out)?;
        let report = cv::merge(config, folds)?;
        finish(&report, &out, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let args = cmd.args;
    let config = CvConfig {
        train: args.train.config("baseline")?,
        folds: args.folds,
        split_seed: args.split_seed,
        limit: args.train.limit,
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("runs/cv-{}", config.train.arch.name())));
    if let Some(k) = args.fold
        && k >= args.folds
    {
        bail!("--fold {k} is out of range for --folds {}", args.folds);
    }
    let device = args.train.device()?;
    let data = args.train.data.load(Split::Train, args.train.limit)?;
    let splits = cv::kfold(data.len(), args.folds, args.split_seed)?;
    let wanted: Vec<usize> = match args.fold {
        Some(k) => vec![k],
        None => (0..args.folds).collect(),
    };
    let start = Instant::now();
    let mut results = Vec::new();
    for f in wanted {
        let result = cv::run_fold(&data, &splits, f, &config, device)?;
        eprintln!(
            "fold {}/{}: accuracy {:.3}% ({:.0} s)",
            f + 1,
            args.folds,
            100.0 * result.accuracy,
            result.seconds
        );
        let file = FoldFile {
            config: config.clone(),
            result: result.clone(),
        };
        write_json(&out.join(cv::fold_file_name(f)), &file)?;
        results.push(result);
    }
    if args.fold.is_some() {
        println!(
            "wrote {}; run `trainer cv merge --out {}` when every fold is done",
            out.join(cv::fold_file_name(results[0].fold)).display(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = cv::merge(config, results)?;
    finish(&report, &out, Some(start.elapsed().as_secs_f64()))?;
    Ok(ExitCode::SUCCESS)
}

/// The report as saved: the merged results plus the run's wall time and command.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SavedReport {
    /// The command line of the run (or of the merge).
    pub command: String,
    /// Wall time of the whole run in one process, seconds (absent after a merge).
    pub wall_seconds: Option<f64>,
    /// The merged results.
    #[serde(flatten)]
    pub report: CvReport,
}

fn finish(report: &CvReport, out: &Path, wall_seconds: Option<f64>) -> Result<()> {
    let saved = SavedReport {
        command: super::command_line(),
        wall_seconds,
        report: report.clone(),
    };
    write_json(&out.join("cv.json"), &saved)?;
    plots::learning_curves(report, &out.join("curves.png"))?;
    let name = report.config.train.arch.name().to_owned();
    plots::box_plot(&[(name, report.accuracies.clone())], &out.join("box.png"))?;
    let accs: Vec<String> = report
        .accuracies
        .iter()
        .map(|a| format!("{:.3}", 100.0 * a))
        .collect();
    println!(
        "fold accuracies: {}\nmean {:.3} std {:.3} (n={}), {:.2} s per epoch{}",
        accs.join(" "),
        100.0 * report.mean,
        100.0 * report.std,
        report.accuracies.len(),
        report.seconds_per_epoch,
        wall_seconds.map_or(String::new(), |w| format!(", {w:.0} s in all"))
    );
    println!("wrote {}/{{cv.json,curves.png,box.png}}", out.display());
    Ok(())
}
