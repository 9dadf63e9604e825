//! `trainer compare`: fold scores of several cross-validation runs side by side.

use std::process::ExitCode;

use anyhow::{Result, bail};
use trainer::{plots, stats};

use super::cv::read_report;
use crate::CompareArgs;

/// Prints mean, std and paired tests of each run against the first.
pub fn run(args: CompareArgs) -> Result<ExitCode> {
    let reports = args
        .runs
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let reference = &reports[0].report;
    println!(
        "{:<28} {:>8} {:>7} {:>3} {:>9} {:>8} {:>11}",
        "run", "mean %", "std", "k", "diff pt", "p", "p corrected"
    );
    let mut groups = Vec::new();
    for (path, saved) in args.runs.iter().zip(&reports) {
        let r = &saved.report;
        let name = format!("{} ({})", r.config.train.arch.name(), path.display());
        let same_folds = r.config.folds == reference.config.folds
            && r.config.split_seed == reference.config.split_seed
            && r.config.limit == reference.config.limit;
        let test = if std::ptr::eq(r, reference) {
            None
        } else if !same_folds {
            bail!(
                "{}: folds differ from the reference (folds, split seed and limit must match for a paired test)",
                path.display()
            );
        } else {
            let f = &reference.folds[0];
            stats::paired(&reference.accuracies, &r.accuracies, f.train_len, f.val_len)
        };
        println!(
            "{:<28} {:>8.3} {:>7.3} {:>3} {:>9} {:>8} {:>11}",
            name,
            100.0 * r.mean,
            100.0 * r.std,
            r.accuracies.len(),
            test.map_or("-".into(), |t| format!("{:+.3}", 100.0 * t.mean_diff)),
            test.map_or("-".into(), |t| format!("{:.4}", t.p)),
            test.map_or("-".into(), |t| format!("{:.4}", t.p_corrected)),
        );
        groups.push((path.display().to_string(), r.accuracies.clone()));
    }
    println!(
        "p: paired t-test across folds; p corrected: Nadeau-Bengio corrected resampled t-test \
         (accounts for overlapping training sets; prefer it)."
    );
    if let Some(plot) = args.plot {
        plots::box_plot(&groups, &plot)?;
        println!("wrote {}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}
