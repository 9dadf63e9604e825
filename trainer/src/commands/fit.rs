//! `trainer fit`: the main job. Trains on all training images, saves the weights and a
//! record, evaluates on the test set and exports the int8 model.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use trainer::atomic::write_json;
use trainer::data::Split;
use trainer::evaluate;
use trainer::saved::{self, FitRecord};
use trainer::train::{self, Tensors};

use crate::FitArgs;

/// Runs the fit.
pub fn run(args: FitArgs) -> Result<ExitCode> {
    let cfg = args.train.config("baseline")?;
    let device = args.train.device()?;
    let train_set = args.train.data.load(Split::Train, args.train.limit)?;
    let test_set = args.train.data.load(Split::Test, args.test_limit)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| cfg.arch.name().to_owned());
    let dir = saved::model_dir(&args.models, &name);
    eprintln!(
        "fitting {} on {} images for {} epochs -> {}",
        cfg.arch,
        train_set.len(),
        cfg.epochs,
        dir.display()
    );
    let start = Instant::now();
    let (vs, net) = train::fresh_model(&cfg.arch, cfg.net, cfg.seed, device);
    let history = train::train(
        &vs,
        &net,
        &Tensors::new(&train_set, device),
        None,
        &cfg,
        "fit",
    )?;
    let train_seconds = start.elapsed().as_secs_f64();
    saved::save_weights(&vs, &dir.join(saved::WEIGHTS_FILE))?;

    let mut record = FitRecord {
        command: super::command_line(),
        config: cfg.clone(),
        train_images: train_set.len(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        seconds_per_epoch: history.iter().map(|h| h.train_seconds).sum::<f64>()
            / history.len() as f64,
        history,
        train_seconds,
        test_accuracy: None,
        test_images: None,
    };
    write_json(&dir.join(saved::FIT_FILE), &record)?;

    let float = evaluate::evaluate_float(&net, &test_set, device);
    record.test_accuracy = Some(float.accuracy);
    record.test_images = Some(test_set.len());
    write_json(&dir.join(saved::FIT_FILE), &record)?;
    let int8 = if args.no_export {
        // An int8 export of earlier weights would no longer match the new ones.
        let stale = dir.join(saved::INT8_FILE);
        if stale.exists() {
            std::fs::remove_file(&stale)
                .with_context(|| format!("removing {}", stale.display()))?;
            eprintln!(
                "removed {} (exported from earlier weights)",
                stale.display()
            );
        }
        None
    } else {
        let calib = args.train.data.load(Split::Train, Some(args.calib))?;
        let bytes = trainer::int8::export(&dir.join(saved::WEIGHTS_FILE), &cfg, &calib)?;
        trainer::atomic::write_atomic(&dir.join(saved::INT8_FILE), &bytes)?;
        eprintln!(
            "wrote {} ({} bytes)",
            dir.join(saved::INT8_FILE).display(),
            bytes.len()
        );
        Some(evaluate::evaluate_int8(&bytes, &float, &test_set)?)
    };
    evaluate::report(
        &dir,
        &name,
        &test_set,
        &float,
        int8.as_ref(),
        super::command_line(),
    )?;
    println!(
        "{}: {} epochs in {:.0} s ({:.2} s/epoch); test accuracy {:.2}%",
        name,
        record.history.len(),
        train_seconds,
        record.seconds_per_epoch,
        100.0 * record.test_accuracy.unwrap_or(f64::NAN)
    );
    Ok(ExitCode::SUCCESS)
}
