//! `trainer compare`: fold scores of several cross-validation runs, each tested against
//! the first, with a verdict.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;
use trainer::study::plots;
use trainer_core::compare::{self, Comparison, Run};
use trainer_core::files::atomic::read_json;
use trainer_core::stats;

use crate::CompareArgs;

/// One run's summary in the `--json` output.
#[derive(Debug, Serialize)]
struct RunSummary {
    run: String,
    /// Folds per repeat.
    folds: usize,
    repeats: usize,
    /// All repeats' fold accuracies, in (repeat, fold) order.
    accuracies: Vec<f64>,
    mean: f64,
    std: f64,
}

/// The `--json` output.
#[derive(Debug, Serialize)]
struct Output {
    alpha: f64,
    confidence: f64,
    std: &'static str,
    runs: Vec<RunSummary>,
    comparisons: Vec<Comparison>,
}

/// Reads a run from a cv.json file or a folder holding one.
fn read_run(path: &Path) -> Result<Run> {
    let file = if path.is_dir() {
        path.join("cv.json")
    } else {
        path.to_owned()
    };
    let json: serde_json::Value = read_json(&file)?;
    Run::from_json(path.display().to_string(), &json)
        .with_context(|| format!("{}: not a usable cross-validation report", file.display()))
}

/// Prints each run's mean ± std and its paired test and verdict against the first.
pub fn run(args: CompareArgs) -> Result<ExitCode> {
    let runs = args
        .runs
        .iter()
        .map(|p| read_run(p))
        .collect::<Result<Vec<_>>>()?;
    let reference = &runs[0];
    let comparisons = runs[1..]
        .iter()
        .map(|r| compare::compare(reference, r).with_context(|| r.label.clone()))
        .collect::<Result<Vec<_>>>()?;
    let summaries: Vec<RunSummary> = runs
        .iter()
        .map(|r| {
            let (mean, std) = r.mean_std();
            RunSummary {
                run: r.label.clone(),
                folds: r.folds_per_repeat(),
                repeats: r.repeats,
                accuracies: r.accuracies(),
                mean,
                std,
            }
        })
        .collect();
    if args.json {
        let out = Output {
            alpha: stats::ALPHA,
            confidence: 1.0 - stats::ALPHA,
            std: "population",
            runs: summaries,
            comparisons,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&summaries, &comparisons);
    }
    if let Some(plot) = args.plot {
        let groups: Vec<(String, Vec<f64>)> = runs
            .iter()
            .map(|r| (r.label.clone(), r.accuracies()))
            .collect();
        plots::box_plot(&groups, &plot)?;
        eprintln!("wrote {}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A signed difference in percentage points.
fn pt(x: f64) -> String {
    format!("{:+.3}", 100.0 * x)
}

/// A p-value, with very small ones shown as a bound.
fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

fn print_text(summaries: &[RunSummary], comparisons: &[Comparison]) {
    let width = summaries
        .iter()
        .map(|s| s.run.len())
        .max()
        .unwrap_or(0)
        .max(3);
    // k, or k x R with repeats.
    let folds = |s: &RunSummary| match s.repeats {
        1 => s.folds.to_string(),
        r => format!("{}x{r}", s.folds),
    };
    let kw = summaries.iter().map(|s| folds(s).len()).max().unwrap_or(1);
    println!(
        "{:<width$}  {:>kw$}  {:>8}   {:>6}",
        "run", "k", "mean %", "std"
    );
    for (i, s) in summaries.iter().enumerate() {
        println!(
            "{:<width$}  {:>kw$}  {:>8.3} ± {:>6.3}{}",
            s.run,
            folds(s),
            100.0 * s.mean,
            100.0 * s.std,
            if i == 0 { "  (reference)" } else { "" }
        );
    }
    let conf = 100.0 * (1.0 - stats::ALPHA);
    for c in comparisons {
        let t = &c.test;
        println!("\n{} vs {}", c.run, c.reference);
        if c.config_diff.is_empty() {
            println!("  config: same as the reference");
        } else {
            println!("  config differs:");
            for change in &c.config_diff {
                println!("    {change}");
            }
        }
        let pairs = if c.repeats > 1 {
            format!("{} pairs ({} repeats x {} folds)", t.k, c.repeats, c.folds)
        } else {
            format!("{} folds", t.k)
        };
        println!(
            "  difference (run - reference), mean of {pairs}: {} pt",
            pt(t.mean_diff)
        );
        println!(
            "  {conf:.0}% CI, paired t-test ({} df):         [{}, {}] pt   p = {}",
            t.k - 1,
            pt(t.ci[0]),
            pt(t.ci[1]),
            p_value(t.p)
        );
        println!(
            "  {conf:.0}% CI, corrected (Nadeau-Bengio):   [{}, {}] pt   p = {}",
            pt(t.ci_corrected[0]),
            pt(t.ci_corrected[1]),
            p_value(t.p_corrected)
        );
        println!("  verdict: {}", c.verdict);
    }
    println!(
        "\nstd: population std of the fold accuracies. verdict: the corrected test at alpha {}: \
         `better`/`worse` when its interval excludes 0, else `no evidence`. The plain paired \
         t-test treats folds as independent, but their training sets overlap, so it is \
         over-confident; the corrected test scales the variance by 1/n + n_val/n_train for n \
         pairs (k folds, or k x R with R repeats: the corrected repeated k-fold test).",
        stats::ALPHA
    );
}
