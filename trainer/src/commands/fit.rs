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
use trainer::nn::saved::{self, FitRecord, PicturesRecord};
use trainer::study::LeftOutFold;
use trainer::train::checkpoint::{self, CHECKPOINT_FILE};
use trainer::train::{self, Checkpointing, Precision, Tensors};
use trainer_core::data::folders::{Classes, Folders};
use trainer_core::data::{Dataset, Split};
use trainer_core::files::atomic::write_json;
use trainer_core::files::folder;

use super::{Source, pictures};
use crate::FitArgs;

/// Runs the fit.
pub fn run(args: FitArgs) -> Result<ExitCode> {
    let source = args.train.data.source()?;
    let left_out = left_out_fold(&args)?;
    if left_out.is_some() && matches!(source, Source::Pictures(_)) {
        bail!(
            "--leave-out-fold: only with the Fashion-MNIST training images, not a picture folder"
        );
    }
    let (mut cfg, folders) = match &source {
        Source::FashionMnist => {
            if args.mix.is_some() || args.own_classes {
                bail!("--mix and --own-classes: only with a labelled picture folder as --data");
            }
            (args.train.config(trainer::nn::DEFAULT_MODEL)?, None)
        }
        Source::Pictures(dir) => {
            if args.train.scene_train {
                bail!(
                    "--scene-train: only with the Fashion-MNIST training images, not a picture \
                     folder"
                );
            }
            let start = args.train.init_config(dir)?;
            let names = start.class_names();
            let classes = if args.own_classes {
                Classes::Own
            } else {
                Classes::Known(&names)
            };
            let p = &args.pictures;
            let set = pictures::read(dir, p, classes, p.held_out, p.held_out_seed)?;
            let own = args.own_classes.then(|| set.class_names.clone());
            (args.train.fine_tune_config(dir, own)?, Some(set))
        }
    };
    if args.train.precision.is_none() {
        // `fit`'s default: bf16 where the CPU runs it clearly faster (a full `mcu-long`
        // fit in bf16 matched fp32's accuracy: docs/performance.md), else fp32.
        cfg.precision = Precision::Auto;
    }
    // Fashion-MNIST's test set measures a model of its classes only.
    let fashion_classes = cfg.class_names.is_none();
    // Ctrl-C / SIGTERM now stop training at the next step, keeping the checkpoint.
    trainer_core::interrupt::install();
    let name = match (&args.name, &source, &cfg.init) {
        (Some(name), _, _) => name.clone(),
        // A fine-tune on pictures never takes the starting model's folder by default.
        (None, Source::Pictures(data), Some(init)) => format!(
            "{}-{}",
            file_name(&init.model),
            file_name(&std::fs::canonicalize(data).unwrap_or_else(|_| data.clone()))
        ),
        (None, _, _) => cfg.arch.name().to_owned(),
    };
    check_name(&name)?;
    if let Some(init) = &cfg.init
        && std::fs::canonicalize(saved::model_dir(&args.models, &name))
            .ok()
            .as_ref()
            == Some(&init.model)
    {
        bail!(
            "--name {name}: that is the starting model's folder ({}); give another --name",
            init.model.display()
        );
    }
    let device = args.train.device()?;
    let test_set = if fashion_classes {
        Some(
            args.train
                .data
                .fashion_mnist(Split::Test, args.test_limit)?,
        )
    } else {
        None
    };
    let (train_set, pictures) = match folders {
        None => {
            let all = args.train.data.load(Split::Train, args.train.limit)?;
            let set = match &left_out {
                Some(l) => all.select(&l.training_indices(all.len())?),
                None => all,
            };
            (train::scene_train::training_set(set, &cfg)?, None)
        }
        Some(set) => {
            let (train_set, fit) = mix_pictures(&args, set, fashion_classes, cfg.seed)?;
            (train_set, Some(fit))
        }
    };
    let dir = saved::model_dir(&args.models, &name);
    let staging = folder::staging_dir(&args.models, &name);
    let ckpt_path = staging.join(CHECKPOINT_FILE);
    // Held to the end: a second fit of the same name refuses instead of sharing `staging`.
    let _lock = folder::StagingLock::acquire(&args.models, &name)?;
    folder::recover(&dir)?;
    let data = train_set.digest();
    let threads = tch::get_num_threads();
    let resume_hint = format!(
        "the checkpoint is in {}: continue with the same command and --resume ({})",
        staging.display(),
        resume_command(&super::command_line(), args.resume)
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

    let names = cfg.class_names();
    let float = test_set
        .as_ref()
        .map(|t| eval::evaluate_float(&net, &names, t, device));
    let held_out = pictures
        .as_ref()
        .map(|p| p.set.held_out_set())
        .filter(|h| !h.is_empty());
    let float_held_out = held_out
        .as_ref()
        .map(|h| eval::evaluate_float(&net, &names, h, device));
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
        test_accuracy: float.as_ref().map(|f| f.accuracy),
        test_images: test_set.as_ref().map(Dataset::len),
        pictures: pictures.as_ref().map(|p| PicturesRecord {
            split: p.set.split_record(),
            picture_mode: Some(args.pictures.reading().name().to_owned()),
            mix: p.mix,
            fashion_mnist_images: p.fashion_mnist_images,
            held_out_accuracy: float_held_out.as_ref().map(|f| f.accuracy),
        }),
        left_out,
    };
    write_json(&staging.join(saved::FIT_FILE), &record)?;
    let (int8, int8_held_out) = if args.no_export {
        (None, None)
    } else {
        let calib = calibration_images(&args, &train_set, pictures.is_some(), cfg.seed)?;
        let bytes = trainer::eval::int8::export(&staging.join(saved::WEIGHTS_FILE), &cfg, &calib)?;
        trainer_core::files::atomic::write_atomic(&staging.join(saved::INT8_FILE), &bytes)?;
        eprintln!("int8 export: {} bytes", bytes.len());
        let on_held_out = match (&held_out, &float_held_out) {
            (Some(h), Some(f)) => Some(eval::evaluate_int8(&bytes, f, h)?),
            _ => None,
        };
        let on_test = match (&test_set, &float) {
            (Some(t), Some(f)) => Some(eval::evaluate_int8(&bytes, f, t)?),
            _ => None,
        };
        (on_test, on_held_out)
    };
    let command = super::command_line();
    if let (Some(t), Some(f)) = (&test_set, &float) {
        eval::report(&staging, &name, t, f, int8.as_ref(), command.clone())?;
    }
    if let (Some(p), Some(h), Some(f)) = (&pictures, &held_out, &float_held_out) {
        let beside = match (&test_set, &float) {
            (Some(t), Some(f)) => Some(eval::Beside {
                images: t.len(),
                float_accuracy: f.accuracy,
                int8_accuracy: int8.as_ref().map(|q| q.evaluated.accuracy),
            }),
            _ => None,
        };
        eval::Report {
            name: &name,
            suffix: PICTURES_SUFFIX,
            images: "held-out",
            data: Some(&p.set.dir),
            test: h,
            float: f,
            int8: int8_held_out.as_ref(),
            beside: beside.as_ref(),
            command: &command,
        }
        .write(&staging)?;
    }
    finish_folder(&staging, &dir)?;
    println!(
        "{}: {} epochs in {:.0} s ({:.2} s/epoch){}{}",
        name,
        record.history.len(),
        train_seconds,
        record.seconds_per_epoch,
        float
            .as_ref()
            .map(|f| format!("; test accuracy {:.2}%", 100.0 * f.accuracy))
            .unwrap_or_default(),
        float_held_out
            .as_ref()
            .map(|f| format!("; held-out pictures {:.2}%", 100.0 * f.accuracy))
            .unwrap_or_default()
    );
    println!("wrote {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// The suffix of the picture folder's evaluation files (`eval-pictures.json`).
pub const PICTURES_SUFFIX: &str = "-pictures";

/// A fit on a labelled picture folder.
struct PictureFit {
    /// The folder set read.
    set: Folders,
    /// `--mix`.
    mix: f64,
    /// Fashion-MNIST images mixed in.
    fashion_mnist_images: usize,
}

/// Mixes Fashion-MNIST training images into the training part of the picture folder
/// `set` as `--mix` asks (a model of the Fashion-MNIST classes only); returns the
/// training images and the record.
fn mix_pictures(
    args: &FitArgs,
    set: Folders,
    fashion_classes: bool,
    seed: u64,
) -> Result<(Dataset, PictureFit)> {
    let own = set.train_set();
    if own.is_empty() {
        bail!(
            "--data {}: every picture is held out; add pictures or lower --held-out",
            set.dir.display()
        );
    }
    let mix = args.mix.unwrap_or(0.0);
    if mix != 0.0 && !fashion_classes {
        bail!("--mix: only for a model of the Fashion-MNIST classes, not classes of your own");
    }
    let count = pictures::mix_count(own.len(), mix)?;
    let train_set = if count > 0 {
        let fashion = args
            .train
            .data
            .fashion_mnist(Split::Train, args.train.limit)?;
        pictures::mixed(&own, &fashion, count, seed)
    } else {
        own.clone()
    };
    let fashion_mnist_images = train_set.len() - own.len();
    eprintln!(
        "training on {} pictures and {fashion_mnist_images} Fashion-MNIST images (--mix {mix})",
        own.len()
    );
    Ok((
        train_set,
        PictureFit {
            set,
            mix,
            fashion_mnist_images,
        },
    ))
}

/// The fold `--leave-out-fold` leaves out, checked; none without it.
fn left_out_fold(args: &FitArgs) -> Result<Option<LeftOutFold>> {
    let Some(fold) = args.leave_out.leave_out_fold else {
        return Ok(None);
    };
    let l = LeftOutFold {
        fold,
        folds: args.leave_out.folds,
        split_seed: args.leave_out.split_seed,
        repeat: args.leave_out.repeat,
        limit: args.train.limit,
    };
    l.validate()?;
    Ok(Some(l))
}

/// The images that calibrate the int8 ranges: `--calib` training images; on a picture
/// folder the training images first (pictures, then the mix), filled up from
/// Fashion-MNIST's training split; with --leave-out-fold the first of the images it
/// trained on, so that the left-out fold stays unseen.
fn calibration_images(
    args: &FitArgs,
    train_set: &Dataset,
    on_pictures: bool,
    seed: u64,
) -> Result<Dataset> {
    if args.leave_out.leave_out_fold.is_some() {
        return Ok(train_set.head(args.calib));
    }
    if !on_pictures {
        return args.train.data.load(Split::Train, Some(args.calib));
    }
    let head = train_set.head(args.calib);
    if head.len() == args.calib {
        return Ok(head);
    }
    let fashion = args.train.data.fashion_mnist(Split::Train, None)?;
    Ok(pictures::mixed(
        &head,
        &fashion,
        args.calib - head.len(),
        seed,
    ))
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

/// The command that continues a run started with `command`: with `--resume` added,
/// unless the run was itself a resume (clap refuses the flag twice).
fn resume_command(command: &str, resumed: bool) -> String {
    if resumed {
        command.to_owned()
    } else {
        format!("{command} --resume")
    }
}

/// The last component of `path`, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::resume_command;

    #[test]
    fn the_resume_command_has_one_resume_flag() {
        assert_eq!(
            resume_command("trainer fit --epochs 3", false),
            "trainer fit --epochs 3 --resume"
        );
        assert_eq!(
            resume_command("trainer fit --epochs 3 --resume", true),
            "trainer fit --epochs 3 --resume"
        );
    }
}
