//! Faults tried on purpose: resumed cross-validation, an output folder that cannot be
//! written, a full disk (an injected `ENOSPC`), a model file replaced under a reader, a
//! dataset changed between folds, and absurd flags. Each gives a clear message, a
//! non-zero exit, no panic, and no half-written or stale output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{
    SMALL_EVAL, assert_fails_with, assert_ok, cv_args, dataset_copy, first_test_image, fit_args,
    json, no_temporary_files, set_flag, stderr, trainer, trainer_env, tree,
};

/// The cv runs here: 2 folds of 1 epoch on 600 images, one thread.
fn cv_quick() -> Vec<&'static str> {
    let mut args = cv_args("600");
    args.extend(["--threads", "1"]);
    args
}

fn cv(out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = cv_quick();
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    trainer_env(&args, env)
}

#[test]
fn cv_resumes_the_missing_folds_and_refuses_other_settings() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let out = tmp.path().join("resumed");
    assert_ok(&cv(&whole, &["--jobs", "1"], &[]));

    // The disk fills up while fold 1's result is written: fold 0 stays, nothing else.
    let r = cv(
        &out,
        &["--jobs", "1"],
        &[("TRAINER_TEST_DISK_FULL", "fold-1.json")],
    );
    assert_fails_with(&r, "fold-1.json: No space left on device");
    assert_eq!(tree(&out), vec!["fold-0.json"]);
    let fold0 = std::fs::read(out.join("fold-0.json")).unwrap();

    // Run again: fold 0 is kept as it is, fold 1 runs, and the merge equals the
    // uninterrupted run's.
    let r = cv(&out, &["--jobs", "1"], &[]);
    assert_ok(&r);
    assert!(stderr(&r).contains("fold 1/2: kept"), "{}", stderr(&r));
    assert!(!stderr(&r).contains("fold 2/2: kept"), "{}", stderr(&r));
    assert_eq!(std::fs::read(out.join("fold-0.json")).unwrap(), fold0);
    let (a, b) = (json(&whole.join("cv.json")), json(&out.join("cv.json")));
    assert_eq!(a["config"], b["config"]);
    assert_eq!(a["accuracies"], b["accuracies"]);
    for k in 0..2 {
        assert_eq!(a["folds"][k]["final_params"], b["folds"][k]["final_params"]);
    }
    assert!(b["config"]["data"].as_str().unwrap().len() == 64);

    // With worker processes: every fold is kept, nothing is recomputed.
    let r = cv(&out, &["--jobs", "2"], &[]);
    assert_ok(&r);
    assert!(stderr(&r).contains("fold 2/2: kept"), "{}", stderr(&r));
    assert!(!stderr(&r).contains("worker processes"), "{}", stderr(&r));

    // Other settings, another thread count: refused before anything runs.
    let mut other = cv_quick();
    set_flag(&mut other, "--epochs", "2");
    other.extend(["--out", out.to_str().unwrap()]);
    let r = trainer(&other);
    assert_fails_with(&r, "train.epochs: 1 there, 2 now");
    assert_fails_with(&r, "use another --out, or delete the folder");
    let mut other = cv_quick();
    set_flag(&mut other, "--threads", "2");
    other.extend(["--out", out.to_str().unwrap(), "--jobs", "1"]);
    assert_fails_with(&trainer(&other), "pass --threads 1 to continue it");
    // `--fold K` keeps a finished fold too.
    let r = cv(&out, &["--fold", "1"], &[]);
    assert_ok(&r);
    assert!(stderr(&r).contains("fold 2/2: kept"), "{}", stderr(&r));
    no_temporary_files(&out);
}

#[test]
fn a_dataset_changed_between_folds_is_refused() {
    let data = dataset_copy();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cv");
    let d = data.path().to_str().unwrap();
    assert_ok(&cv(&out, &["--fold", "0", "--data", d], &[]));
    // Change one pixel of the first training image (within --limit).
    let path = trainer_core::data::find_file(data.path(), "train-images-idx3-ubyte").unwrap();
    let mut raw = trainer_core::data::read_maybe_gzip(&path).unwrap();
    raw[16 + 400] ^= 0x55;
    std::fs::remove_file(&path).unwrap();
    std::fs::write(data.path().join("train-images-idx3-ubyte"), raw).unwrap();
    let before = tree(&out);
    for extra in [&["--jobs", "1"][..], &["--jobs", "2"], &["--fold", "1"]] {
        let mut args = extra.to_vec();
        args.extend(["--data", d]);
        let r = cv(&out, &args, &[]);
        assert_fails_with(&r, "the dataset changed");
        assert_eq!(tree(&out), before, "nothing written after {extra:?}");
    }
}

/// The arguments of a small fit (1 epoch of the baseline on 600 images, the small
/// evaluation and int8 export) into `root`.
fn small_fit(root: &Path) -> Vec<&str> {
    let mut args = fit_args("baseline", "1", "600");
    args.extend(SMALL_EVAL);
    args.extend(["--models", root.to_str().unwrap()]);
    args
}

/// A small trained model with its int8 export under `root`.
fn small_model(root: &Path, seed: &str) -> PathBuf {
    let mut args = small_fit(root);
    args.extend(["--seed", seed]);
    assert_ok(&trainer(&args));
    root.join("baseline")
}

#[test]
fn unwritable_output_and_a_full_disk_leave_the_previous_model_whole() {
    let tmp = tempfile::tempdir().unwrap();
    // A folder that cannot be created: its parent is a file (root may write anywhere
    // else, so permissions would not stop a test run as root).
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    let blocked = file.join("models");
    let mut fit = fit_args("baseline", "1", "64");
    fit.extend(["--models", blocked.to_str().unwrap()]);
    let r = trainer(&fit);
    assert_fails_with(&r, "a-file/models/.baseline.partial");
    assert_fails_with(&r, "Not a directory");
    let mut cv = cv_args("64");
    cv.extend(["--jobs", "1", "--out", blocked.to_str().unwrap()]);
    let r = trainer(&cv);
    assert_fails_with(&r, "a-file/models");

    // The disk fills up at the last outputs of a run: the previous model stays whole
    // (same bytes), the staged run keeps its checkpoint, no temporary file is left,
    // and `--resume` finishes the run once there is room.
    let root = tmp.path().join("models");
    let dir = small_model(&root, "7");
    let old: Vec<(String, Vec<u8>)> = tree(&dir)
        .into_iter()
        .map(|f| (f.clone(), std::fs::read(dir.join(&f)).unwrap()))
        .collect();
    let args = small_fit(&root);
    for full in [
        "model.safetensors",
        "model.fmq",
        "eval.json",
        "manifest.json",
    ] {
        let r = trainer_env(&args, &[("TRAINER_TEST_DISK_FULL", full)]);
        assert_fails_with(&r, &format!("{full}: No space left on device"));
        for (f, bytes) in &old {
            assert!(
                std::fs::read(dir.join(f)).unwrap() == *bytes,
                "{f} changed after a full disk at {full}"
            );
        }
        assert_eq!(tree(&dir).len(), old.len());
        no_temporary_files(&root);
        let staged = tree(&root.join(".baseline.partial"));
        assert!(
            staged.contains(&"checkpoint.safetensors".to_owned()),
            "{staged:?}"
        );
        let mut resume = args.to_vec();
        resume.push("--resume");
        if full == "manifest.json" {
            assert_ok(&trainer(&resume));
            assert_eq!(json(&dir.join("fit.json"))["config"]["seed"], 1);
            assert_eq!(tree(&root).len(), old.len(), "{:?}", tree(&root));
        } else {
            std::fs::remove_dir_all(root.join(".baseline.partial")).unwrap();
        }
    }
}

#[test]
fn a_model_file_replaced_under_a_reader_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = small_model(&tmp.path().join("a"), "1");
    let b = small_model(&tmp.path().join("b"), "2");
    let img = tmp.path().join("x.png");
    first_test_image().save(&img).unwrap();
    let models = tmp.path().join("a");
    let m = models.to_str().unwrap();
    let predict = |int8: bool| {
        let mut args = vec!["predict", "--model", "baseline", "--models", m];
        if int8 {
            args.push("--int8");
        }
        args.push(img.to_str().unwrap());
        trainer(&args)
    };
    assert_ok(&predict(false));
    assert_ok(&predict(true));
    // Files of another run copied over this run's: every reader refuses them.
    std::fs::copy(b.join("model.fmq"), a.join("model.fmq")).unwrap();
    assert_fails_with(&predict(true), "model.fmq: its SHA-256 is not the one in");
    std::fs::copy(b.join("model.safetensors"), a.join("model.safetensors")).unwrap();
    assert_fails_with(
        &predict(false),
        "model.safetensors: its SHA-256 is not the one in",
    );
    let r = trainer(&[
        "evaluate", "--model", "baseline", "--models", m, "--limit", "10",
    ]);
    assert_fails_with(&r, "model.safetensors: its SHA-256");
    let r = trainer(&[
        "export", "--model", "baseline", "--models", m, "--calib", "50",
    ]);
    assert_fails_with(&r, "model.safetensors: its SHA-256");
    std::fs::copy(b.join("fit.json"), a.join("fit.json")).unwrap();
    assert_fails_with(&predict(false), "fit.json: its SHA-256");
}

#[test]
fn absurd_flags_are_clear_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let fit = |flags: &[&str]| {
        let mut args = vec!["fit", "--limit", "64", "--models", o];
        args.extend(flags);
        trainer(&args)
    };
    let cv = |flags: &[&str]| {
        let mut args = vec!["cv", "--out", o];
        args.extend(flags);
        trainer(&args)
    };
    let at_least_1 = "--epochs and --batch-size must be at least 1";
    for flag in ["--epochs", "--batch-size"] {
        assert_fails_with(&fit(&[flag, "0"]), at_least_1);
    }
    for lr in ["-0.1", "NaN", "inf"] {
        let needle = format!("--lr must be a positive number (got {lr})");
        assert_fails_with(&fit(&["--lr", lr]), &needle);
    }
    for (r, needle) in [
        (
            fit(&["--name", "../x"]),
            "a model name must be a plain folder name",
        ),
        (fit(&["--resume"]), "no checkpoint to resume"),
        (cv(&["--folds", "1"]), "--folds must be at least 2 (got 1)"),
        (
            cv(&["--folds", "1", "--fold", "0"]),
            "--folds must be at least 2 (got 1)",
        ),
        (
            cv(&["--fold", "9"]),
            "--fold 9 is out of range for --folds 5",
        ),
        (
            cv(&["--folds", "5", "--limit", "3"]),
            "--limit 3 is smaller than --folds 5",
        ),
        (cv(&["--epochs", "0"]), at_least_1),
        (cv(&["--jobs", "0"]), "--jobs must be at least 1"),
        (
            cv(&["--threads", "0", "--jobs", "1"]),
            "--threads must be at least 1",
        ),
    ] {
        assert_fails_with(&r, needle);
    }
    assert!(!out.exists(), "a refused run wrote {:?}", tree(&out));
}

#[test]
fn predict_keeps_the_model_it_loaded_while_the_folder_is_replaced() {
    use std::io::{BufRead, BufReader, Write};
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("models");
    small_model(&root, "1");
    let img = tmp.path().join("x.png");
    first_test_image().save(&img).unwrap();
    let png = std::fs::read(&img).unwrap();
    let m = root.to_str().unwrap();
    let answer = |out: &[u8]| -> serde_json::Value {
        let mut v: serde_json::Value = serde_json::from_slice(out).unwrap();
        v.as_object_mut().unwrap().remove("path");
        v
    };
    let predict = |images: &[&Path]| {
        let mut c = common::command(&[
            "predict", "--json", "--top", "10", "--model", "baseline", "--models", m,
        ]);
        c.args(images);
        c
    };
    let old = answer(&predict(&[&img]).output().unwrap().stdout);

    // A second image that is a named pipe: predict answers the first, then waits on the
    // pipe while another run replaces the whole model folder.
    let fifo = tmp.path().join("later.png");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = predict(&[&img, &fifo])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(answer(first.as_bytes()), old);
    small_model(&root, "2");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(&png)
        .unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(child.wait().unwrap().success());
    // The answer after the swap comes from the model loaded at the start, whole.
    assert_eq!(answer(second.as_bytes()), old);
    let new = answer(&predict(&[&img]).output().unwrap().stdout);
    assert_ne!(new, old, "the folder now holds the seed-2 model");
}
