//! `trainer cv`: k-fold cross-validation; `trainer cv merge`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use trainer::study::plots;
use trainer::study::workers::{self, Worker};
use trainer::study::{self, CvConfig, CvReport, FoldFile, LeftOutFold};
use trainer::train::progress;
use trainer_core::data::Split;
use trainer_core::files::atomic::write_json;
use trainer_core::interrupt::Interrupted;

use crate::{CvAction, CvArgs, CvCommand};

/// Runs cross-validation (all folds, or one with `--fold`), or merges fold files.
pub fn run(cmd: CvCommand) -> Result<ExitCode> {
    if let Some(CvAction::Merge { out }) = cmd.action {
        let (config, folds) = study::read_fold_files(&out)?;
        let report = study::merge(config, folds)?;
        finish(&report, &out, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    let args = cmd.args;
    // Ctrl-C / SIGTERM now stop the fold in progress; finished folds stay.
    trainer_core::interrupt::install();
    if args.progress_lines {
        progress::report_as_lines();
    }
    let mut config = CvConfig {
        train: args.train.config("baseline")?,
        folds: args.folds,
        split_seed: args.split_seed,
        repeats: args.repeats,
        limit: args.train.limit,
        data: None,
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/cv-{}", config.train.arch.name())));
    if let Some(k) = args.fold
        && k >= args.folds
    {
        bail!(
            "--fold {k} is out of range for --folds {} (folds are numbered 0..{})",
            args.folds,
            args.folds.saturating_sub(1)
        );
    }
    if args.folds < 2 {
        bail!("--folds must be at least 2 (got {})", args.folds);
    }
    if args.repeats < 1 {
        bail!("--repeats must be at least 1");
    }
    let repeat = args.repeat.unwrap_or(0);
    if repeat >= args.repeats {
        bail!(
            "--repeat {repeat} is out of range for --repeats {} (repeats are numbered 0..{})",
            args.repeats,
            args.repeats - 1
        );
    }
    if let Some(n) = args.train.limit
        && n < args.folds
    {
        bail!(
            "--limit {n} is smaller than --folds {}: every fold needs at least one image",
            args.folds
        );
    }
    if !args.leaky_teacher {
        check_teacher(&args, &config, repeat)?;
    }
    let plan = match args.fold {
        None => Some(Plan::new(&args, available_cores())?),
        Some(_) => None,
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output folder {}", out.display()))?;
    if let Some(plan) = plan
        && plan.jobs > 1
    {
        return run_workers(&args, config, &out, plan);
    }
    let device = args.train.device()?;
    crate::TrainArgs::resolve_precision(&mut config.train, device);
    let data = args.train.data.load(Split::Train, args.train.limit)?;
    config.data = Some(data.digest());
    let every = config.all_folds();
    let wanted: Vec<(usize, usize)> = match args.fold {
        Some(k) => vec![(repeat, k)],
        None => every.clone(),
    };
    // Every finished fold of the same run is kept; any other file refuses the run
    // before anything is computed.
    let threads = usize::try_from(tch::get_num_threads()).unwrap_or(1);
    let mut kept = Vec::new();
    for &(r, f) in &wanted {
        kept.push(study::reusable_fold(&out, r, f, &config, threads)?);
    }
    // The other folds' files (of `--fold` runs) must come from the same settings and data.
    for &(r, f) in every.iter().filter(|rf| !wanted.contains(rf)) {
        study::same_settings(&out, r, f, &config)?;
    }
    let start = Instant::now();
    let mut results = Vec::new();
    // The split of the repeat being run (made when its first fold needs it).
    let mut splits: Option<(usize, Vec<Vec<usize>>)> = None;
    for ((r, f), kept) in wanted.into_iter().zip(kept) {
        let label = study::fold_label(&config, r, f);
        let file = out.join(study::fold_file_name(r, f));
        if let Some(result) = kept {
            eprintln!(
                "{label}: kept {} (accuracy {:.3}%)",
                file.display(),
                100.0 * result.accuracy
            );
            results.push(result);
            continue;
        }
        trainer_core::interrupt::check(resume_hint)?;
        if splits.as_ref().is_none_or(|(had, _)| *had != r) {
            let seed = study::repeat_split_seed(args.split_seed, r);
            splits = Some((r, study::kfold(data.len(), args.folds, seed)?));
        }
        let (_, split) = splits.as_ref().expect("made above");
        let result = study::run_repeat_fold(&data, split, r, f, &config, device).map_err(|e| {
            if e.is::<Interrupted>() {
                Interrupted {
                    hint: resume_hint(),
                }
                .into()
            } else {
                e
            }
        })?;
        eprintln!(
            "{label}: accuracy {:.3}% ({:.0} s)",
            100.0 * result.accuracy,
            result.seconds
        );
        let saved = FoldFile {
            config: config.clone(),
            result: result.clone(),
        };
        write_json(&file, &saved)?;
        results.push(result);
    }
    if args.fold.is_some() {
        println!(
            "wrote {}; run `trainer cv merge --out {}` when every fold is done",
            out.join(study::fold_file_name(results[0].repeat, results[0].fold))
                .display(),
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let report = study::merge(config, results)?;
    finish(&report, &out, Some(start.elapsed().as_secs_f64()))?;
    Ok(ExitCode::SUCCESS)
}

/// How to continue an interrupted `cv`: the same command again.
fn resume_hint() -> String {
    format!(
        "run the same command again ({}) to keep the finished folds and run the rest",
        super::command_line()
    )
}

/// Refuses a `--teacher` that was fitted on the validation images of a fold being run:
/// it must have left out exactly that fold of the same split (`trainer fit
/// --leave-out-fold`), so one teacher serves one fold.
fn check_teacher(args: &CvArgs, config: &CvConfig, repeat: usize) -> Result<()> {
    let Some(d) = &config.train.distill else {
        return Ok(());
    };
    let runs: Vec<(usize, usize)> = match args.fold {
        Some(k) => vec![(repeat, k)],
        None => config.all_folds(),
    };
    for (r, f) in runs {
        let fold = LeftOutFold {
            fold: f,
            folds: args.folds,
            split_seed: args.split_seed,
            repeat: r,
            limit: args.train.limit,
        };
        if d.teacher_left_out != Some(fold) {
            let saw = match d.teacher_left_out {
                None => "was fitted on every training image".to_owned(),
                Some(other) => format!("left out another fold ({other})"),
            };
            bail!(
                "--teacher {}: it {saw}, so it has seen the validation images of {} (fold \
                 {f}, 0-based) and the fold's accuracy would overstate the student; fit a \
                 teacher for that fold with `trainer fit --leave-out-fold {f} --folds {} \
                 --split-seed {} --repeat {r}` (and the same --limit) and run the fold alone \
                 with --fold {f}, or accept this teacher with --leaky-teacher",
                d.teacher.display(),
                study::fold_label(config, r, f),
                args.folds,
                args.split_seed
            );
        }
    }
    Ok(())
}

/// How `cv` without `--fold` spreads the folds: `jobs` worker processes at once,
/// `threads` libtorch threads each (`jobs` 1: in this process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    jobs: usize,
    threads: usize,
}

impl Plan {
    /// `--jobs` (default min(folds x repeats, cores), or 1 when training runs on a CUDA device)
    /// and, for workers, `--threads` (default cores / jobs, at least 1).
    ///
    /// On a GPU the folds run one after another in this process: separate processes
    /// on one device only take turns on it (time slices, not concurrent kernels, without
    /// NVIDIA's MPS), each paying its own CUDA context and cuDNN workspace memory, while
    /// one process keeps the device busy with one fold at a time (docs/performance.md,
    /// "GPU"). An explicit `--jobs N` still shares the device among N workers.
    fn new(args: &CvArgs, cores: usize) -> Result<Plan> {
        if args.jobs == Some(0) {
            bail!("--jobs must be at least 1");
        }
        let on_gpu = !args.train.cpu && trainer::train::default_device().is_cuda();
        let jobs = args.jobs.or(on_gpu.then_some(1));
        if args.folds < 2 {
            bail!("--folds must be at least 2 (got {})", args.folds);
        }
        let threads = match args.train.threads {
            Some(n) if n < 1 => bail!("--threads must be at least 1"),
            Some(n) => Some(n as usize),
            None => None,
        };
        Ok(Plan::for_machine(
            jobs,
            args.folds * args.repeats.max(1),
            cores,
            threads,
        ))
    }

    fn for_machine(
        jobs: Option<usize>,
        folds: usize,
        cores: usize,
        threads: Option<usize>,
    ) -> Plan {
        let jobs = jobs.unwrap_or(cores).clamp(1, folds.max(1));
        let threads = threads.unwrap_or(cores / jobs).max(1);
        Plan { jobs, threads }
    }
}

/// The cores this process may use.
fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs every fold as a worker process (`trainer cv --fold K` with the user's other
/// arguments), `plan.jobs` at once, then merges the fold files as `cv merge` does.
fn run_workers(args: &CvArgs, mut config: CvConfig, out: &Path, plan: Plan) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("finding the trainer's own executable")?;
    let given: Vec<OsString> = std::env::args_os().skip(1).collect();
    // Decided once here, so that every worker trains (and records) the same precision.
    crate::TrainArgs::resolve_precision(&mut config.train, args.train.chosen_device());
    // The digest of the data the workers will load, to check their results (and the
    // folds kept from an earlier run) against.
    let data = args.train.data.load(Split::Train, args.train.limit)?;
    config.data = Some(data.digest());
    drop(data);
    let every = config.all_folds();
    let mut results = Vec::with_capacity(every.len());
    let mut missing = Vec::new();
    for &(r, k) in &every {
        match study::reusable_fold(out, r, k, &config, plan.threads)? {
            Some(result) => {
                eprintln!(
                    "{}: kept {} (accuracy {:.3}%)",
                    study::fold_label(&config, r, k),
                    out.join(study::fold_file_name(r, k)).display(),
                    100.0 * result.accuracy
                );
                results.push(result);
            }
            None => missing.push((r, k)),
        }
    }
    // Everything the user typed goes to the workers, except what each worker gets anew.
    let base = workers::without_options(
        &given,
        &[
            "--jobs",
            "--threads",
            "--out",
            "--fold",
            "--repeat",
            "--precision",
        ],
        &["--progress-lines"],
    );
    let jobs = plan.jobs.min(missing.len()).max(1);
    if !missing.is_empty() {
        eprintln!(
            "{} folds in {jobs} worker processes at a time, {} libtorch thread{} each",
            missing.len(),
            plan.threads,
            if plan.threads == 1 { "" } else { "s" }
        );
    }
    let list = missing
        .iter()
        .map(|&(r, k)| {
            let mut argv = base.clone();
            if config.repeats > 1 {
                workers::push_option(&mut argv, "--repeat", r.to_string());
            }
            workers::push_option(&mut argv, "--fold", k.to_string());
            workers::push_option(&mut argv, "--threads", plan.threads.to_string());
            workers::push_option(&mut argv, "--precision", config.train.precision.name());
            workers::push_option(&mut argv, "--out", out);
            argv.push("--progress-lines".into());
            let mut command = Command::new(&exe);
            command.args(argv);
            Worker {
                label: study::fold_label(&config, r, k),
                command,
            }
        })
        .collect();
    let start = Instant::now();
    let ran = workers::run(list, jobs, |i| {
        let (r, k) = missing[i];
        // The worker has printed its accuracy line; the display relayed it.
        let result =
            study::reusable_fold(out, r, k, &config, plan.threads)?.with_context(|| {
                format!(
                    "{}: the worker for {} wrote no result",
                    out.join(study::fold_file_name(r, k)).display(),
                    study::fold_label(&config, r, k)
                )
            })?;
        results.push(result);
        Ok(())
    });
    if let Err(e) = ran {
        // Ctrl-C reaches the workers too; say how to go on rather than which one stopped.
        if trainer_core::interrupt::requested() {
            return Err(Interrupted {
                hint: resume_hint(),
            }
            .into());
        }
        return Err(e);
    }
    let report = study::merge(config, results)?;
    finish(&report, out, Some(start.elapsed().as_secs_f64()))?;
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
    let k = report.config.folds.max(1);
    let lines: Vec<String> = report
        .accuracies
        .chunks(k)
        .map(|repeat| {
            let accs: Vec<String> = repeat.iter().map(|a| format!("{:.3}", 100.0 * a)).collect();
            accs.join(" ")
        })
        .collect();
    println!(
        "fold accuracies: {}\nmean {:.3} std {:.3} (n={}), {:.2} s per epoch{}",
        lines.join(" | "),
        100.0 * report.mean,
        100.0 * report.std,
        report.accuracies.len(),
        report.seconds_per_epoch,
        wall_seconds.map_or(String::new(), |w| format!(", {w:.0} s in all"))
    );
    println!("wrote {}/{{cv.json,curves.png,box.png}}", out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Plan;

    #[test]
    fn default_jobs_fill_the_cores_without_exceeding_the_folds() {
        let plan = |jobs, folds, cores, threads| Plan::for_machine(jobs, folds, cores, threads);
        assert_eq!(
            plan(None, 5, 2, None),
            Plan {
                jobs: 2,
                threads: 1
            }
        );
        assert_eq!(
            plan(None, 5, 16, None),
            Plan {
                jobs: 5,
                threads: 3
            }
        );
        assert_eq!(
            plan(None, 5, 1, None),
            Plan {
                jobs: 1,
                threads: 1
            }
        );
        assert_eq!(
            plan(Some(8), 2, 16, None),
            Plan {
                jobs: 2,
                threads: 8
            }
        );
        assert_eq!(
            plan(Some(3), 5, 2, None),
            Plan {
                jobs: 3,
                threads: 1
            }
        );
        assert_eq!(
            plan(Some(2), 5, 8, Some(1)),
            Plan {
                jobs: 2,
                threads: 1
            }
        );
    }
}
