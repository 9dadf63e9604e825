//! `trainer fit`: the main job. Trains on all training images, saves the weights and a
//! record, evaluates on the test set and exports the int8 model.
//!
//! Everything is written into the staging folder `<models>/.<name>.partial/` (with a
//! checkpoint after every epoch, so that `--resume` can continue an interrupted run)
//! and swapped in as `<models>/<name>/` at the end ([`trainer_core::files::folder`]).

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use trainer::eval;
use trainer::nn::saved::{self, FitRecord};
use trainer::train::checkpoint::{self, CHECKPOINT_FILE};
use trainer::train::{self, Checkpointing, Precision, Tensors};
use trainer_core::data::Split;
use trainer_core::files::atomic::write_json;
use trainer_core::files::folder;

use crate::FitArgs;

/// Runs the fit.
pub fn run(args: FitArgs) -> Result<ExitCode> {
    let mut cfg = args.train.config(trainer::nn::DEFAULT_MODEL)?;
    // Ctrl-C / SIGTERM now stop training at the next step, keeping the checkpoint.
    trainer_core::interrupt::install();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| cfg.arch.name().to_owned());
    check_name(&name)?;
    let device = args.train.device()?;
    let train_set = args.train.data.load(Split::Train, args.train.limit)?;
    let test_set = args.train.data.load(Split::Test, args.test_limit)?;
    let dir = saved::model_dir(&args.models, &name);
    let staging = folder::staging_dir(&args.models, &name);
    let ckpt_path = staging.join(CHECKPOINT_FILE);
    // Held to the end: a second fit of the same name refuses instead of sharing `staging`.
    let _lock = folder::StagingLock::acquire(&args.models, &name)?;
    folder::recover(&dir)?;
    let data = train_set.digest();
    let threads = tch::get_num_threads();
    let resume_hint = format!(
        "the checkpoint is in {}: continue with the same command and --resume ({} --resume)",
        staging.display(),
        super::command_line()
    );
    let resume = if args.resume {
        if !ckpt_path.is_file() {
            if staging.join(folder::MANIFEST_FILE).is_file() {
                // The run finished but was stopped before swapping its folder in.
                folder::commit(&staging, &dir)?;
                println!("{}: finished the interrupted run's swap", dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            bail!(
                "{}: no checkpoint to resume (was the run started with another --models or \
                 --name?)",
                ckpt_path.display()
            );
        }
        let saved = checkpoint::load(&ckpt_path)?;
        if cfg.precision == Precision::Auto {
            // `auto` continues in the precision the run started with.
            cfg.precision = saved.meta.config.precision;
        }
        saved.check_matches(&ckpt_path, &cfg, &data, threads)?;
        Some(saved)
    } else {
        if ckpt_path.is_file() {
            let epoch = checkpoint::load(&ckpt_path)
                .map(|c| format!(" (epoch {} of {})", c.meta.epoch, c.meta.config.epochs))
                .unwrap_or_default();
            bail!(
                "{} holds the checkpoint of an interrupted run{epoch}: continue it with \
                 --resume, or delete {} to start over",
                ckpt_path.display(),
                staging.display()
            );
        }
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("removing the stale {}", staging.display()))?;
        }
        None
    };
    crate::TrainArgs::resolve_precision(&mut cfg, device);
    std::fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
    eprintln!(
        "fitting {} on {} images for {} epochs -> {}",
        cfg.arch,
        train_set.len(),
        cfg.epochs,
        dir.display()
    );
    let start = Instant::now();
    let (vs, net) = train::initial_model(&cfg, cfg.seed, device)?;
    let history = train::train_with(
        &vs,
        &net,
        &Tensors::new(&train_set, device),
        None,
        &cfg,
        "fit",
        Some(Checkpointing {
            path: ckpt_path.clone(),
            data,
            resume,
            resume_hint,
        }),
    )?;
    let train_seconds = start.elapsed().as_secs_f64();
    saved::save_weights(&vs, &staging.join(saved::WEIGHTS_FILE))?;
    trainer_core::interrupt::test_pause("outputs");

    let float = eval::evaluate_float(&net, &test_set, device);
    let record = FitRecord {
        command: super::command_line(),
        config: cfg.clone(),
        train_images: train_set.len(),
        device: format!("{device:?}"),
        threads,
        seconds_per_epoch: history.iter().map(|h| h.train_seconds).sum::<f64>()
            / history.len() as f64,
        history,
        train_seconds,
        test_accuracy: Some(float.accuracy),
        test_images: Some(test_set.len()),
    };
    write_json(&staging.join(saved::FIT_FILE), &record)?;
    let int8 = if args.no_export {
        None
    } else {
        let calib = args.train.data.load(Split::Train, Some(args.calib))?;
        let bytes = trainer::eval::int8::export(&staging.join(saved::WEIGHTS_FILE), &cfg, &calib)?;
        trainer_core::files::atomic::write_atomic(&staging.join(saved::INT8_FILE), &bytes)?;
        eprintln!("int8 export: {} bytes", bytes.len());
        Some(eval::evaluate_int8(&bytes, &float, &test_set)?)
    };
    eval::report(
        &staging,
        &name,
        &test_set,
        &float,
        int8.as_ref(),
        super::command_line(),
    )?;
    finish_folder(&staging, &dir)?;
    println!(
        "{}: {} epochs in {:.0} s ({:.2} s/epoch); test accuracy {:.2}%",
        name,
        record.history.len(),
        train_seconds,
        record.seconds_per_epoch,
        100.0 * float.accuracy
    );
    println!("wrote {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the manifest (the last output), removes the checkpoint and swaps the folder in.
fn finish_folder(staging: &Path, dir: &Path) -> Result<()> {
    folder::write_manifest(staging, super::command_line())?;
    let ckpt = staging.join(CHECKPOINT_FILE);
    if ckpt.exists() {
        std::fs::remove_file(&ckpt).with_context(|| format!("removing {}", ckpt.display()))?;
    }
    folder::commit(staging, dir)
}

/// A model name is one plain folder name (no path, not hidden).
fn check_name(name: &str) -> Result<()> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && Path::new(name).file_name().is_some();
    if !plain {
        bail!(
            "--name {name:?}: a model name must be a plain folder name (no '/', not starting with '.')"
        );
    }
    Ok(())
}
