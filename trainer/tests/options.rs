//! The training options of the small-model search end to end on tiny slices: random
//! erasing, pad-and-crop, weight averaging (EMA) and distillation from a saved teacher.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{Value, json};

mod common;
use common::{assert_fails_with, cv_args, fit_args, json, stdout_ok, text, trainer, tree};

/// A small model that trains in a second or two.
const SMALL: &str = "c8,p,f,d10";

/// A teacher made once for all tests here: a 1-epoch fit of [`SMALL`] on 640 images.
fn teacher() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let mut args = fit_args(SMALL, "1", "640");
        args.extend(["--no-export", "--test-limit", "100", "--threads", "1"]);
        args.extend(["--name", "teacher", "--models", root.to_str().unwrap()]);
        stdout_ok(&trainer(&args));
        root.join("teacher")
    })
}

fn teacher_arg() -> &'static str {
    teacher().to_str().unwrap()
}

/// `fit` without `--precision` runs `auto`: it says what the probe chose and records the
/// resolved precision, never `auto`.
#[test]
fn fit_defaults_to_auto_and_records_what_it_resolved() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().to_str().unwrap();
    let args = [
        "fit",
        "--model",
        SMALL,
        "--epochs",
        "1",
        "--limit",
        "64",
        "--no-export",
        "--test-limit",
        "100",
        "--threads",
        "1",
        "--models",
        o,
        "--name",
        "default",
    ];
    let out = trainer(&args);
    stdout_ok(&out);
    assert!(
        text(&out).1.contains("precision auto: "),
        "{}",
        text(&out).1
    );
    let precision = &json(&tmp.path().join("default/fit.json"))["config"]["precision"];
    assert!(precision == "fp32" || precision == "bf16", "{precision}");
}

/// A 2-epoch fit of [`SMALL`] with batch norm on 640 images, as `root/name`, with `extra`.
fn fit(root: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args = fit_args(SMALL, "2", "640");
    args.extend(["--batch-norm", "--no-export", "--test-limit", "100"]);
    args.extend([
        "--threads",
        "1",
        "--models",
        root.to_str().unwrap(),
        "--name",
        name,
    ]);
    args.extend(extra);
    trainer(&args)
}

fn weights(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name).join("model.safetensors")).unwrap()
}

/// Every new option at once (with shifts and flips).
fn all_new(teacher: &str) -> Vec<&str> {
    vec![
        "--shift",
        "2",
        "--flip",
        "--erase",
        "0.5",
        "--ema",
        "0.9",
        "--teacher",
        teacher,
        "--distill-alpha",
        "0.7",
        "--distill-temperature",
        "3",
    ]
}

#[test]
fn erasing_averaging_and_distillation_repeat_exactly_and_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let options = all_new(teacher_arg());
    for name in ["a", "b"] {
        stdout_ok(&fit(root, name, &options));
    }
    assert!(
        weights(root, "a") == weights(root, "b"),
        "seeded runs repeat"
    );
    // --pad-crop is --shift under its other name.
    let mut pad_crop = options.clone();
    pad_crop[0] = "--pad-crop";
    stdout_ok(&fit(root, "pad-crop", &pad_crop));
    assert!(weights(root, "pad-crop") == weights(root, "a"));
    // Each option changes the result: without the teacher, the average or the erasing.
    for (name, drop) in [
        ("no-teacher", "--teacher"),
        ("no-ema", "--ema"),
        ("no-erase", "--erase"),
    ] {
        let at = options.iter().position(|a| *a == drop).unwrap();
        let mut fewer = options.clone();
        fewer.drain(at..at + if drop == "--teacher" { 6 } else { 2 });
        stdout_ok(&fit(root, name, &fewer));
        assert!(
            weights(root, name) != weights(root, "a"),
            "{drop} changed nothing"
        );
    }

    let record = json(&root.join("a/fit.json"));
    let c = &record["config"];
    assert_eq!(c["erase"], json!(0.5));
    assert_eq!(c["ema"], json!(0.9));
    assert_eq!(c["augment"], json!({"shift": 2, "flip": true}));
    let d = &c["distill"];
    let path = std::fs::canonicalize(teacher()).unwrap();
    assert_eq!(d["teacher"], json!(path.to_str().unwrap()));
    let sha = trainer_core::files::folder::sha256_hex(&weights(teacher(), ""));
    assert_eq!(d["teacher_sha256"], json!(sha));
    assert_eq!(
        (d["alpha"].as_f64(), d["temperature"].as_f64()),
        (Some(0.7), Some(3.0))
    );
    // Far above chance (10 %) after 2 epochs on 640 images, with the average folded in.
    let accuracy = record["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.4, "{accuracy}");
    // Off, the options are recorded as off.
    let off = json(&root.join("no-teacher/fit.json"))["config"].clone();
    assert_eq!(off["distill"], Value::Null);
}

#[test]
fn cv_records_the_options_in_every_result_file_and_passes_them_to_workers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    // `auto` is a timing decision: the parallel run makes it once for its workers, and
    // the sequential run repeats it with the precision the first one resolved to, so
    // that both compute the same arithmetic.
    let mut precision = "auto".to_owned();
    for jobs in ["2", "1"] {
        let out = tmp.path().join(format!("jobs-{jobs}"));
        let mut args = cv_args("400");
        args.extend([
            "--erase",
            "0.3",
            "--ema",
            "0.95",
            "--teacher",
            teacher_arg(),
            // Fitted on all 640 images, so it saw the validation folds.
            "--leaky-teacher",
            "--precision",
            &precision,
        ]);
        args.extend(["--threads", "1", "--jobs", jobs]);
        args.extend(["--out", out.to_str().unwrap()]);
        stdout_ok(&trainer(&args));
        for file in ["cv.json", "fold-0.json", "fold-1.json"] {
            let train = &json(&out.join(file))["config"]["train"];
            assert_eq!(train["erase"], json!(0.3), "{file}");
            assert_eq!(train["ema"], json!(0.95), "{file}");
            assert!(train["distill"]["teacher_sha256"].is_string(), "{file}");
            // What `auto` resolved to, decided once by the parent for every worker.
            let resolved = &train["precision"];
            assert!(
                resolved == "fp32" || resolved == "bf16",
                "{file}: {resolved}"
            );
            assert!(
                precision == "auto" || resolved == precision.as_str(),
                "{file}"
            );
        }
        precision = json(&out.join("cv.json"))["config"]["train"]["precision"]
            .as_str()
            .unwrap()
            .to_owned();
        let report = json(&out.join("cv.json"));
        let finals: Vec<Value> = report["folds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["final_params"].clone())
            .collect();
        results.push((report["accuracies"].clone(), finals));
    }
    assert_eq!(
        results[0], results[1],
        "--jobs 1 gives the parallel results"
    );
}

#[test]
fn a_fold_is_taught_only_by_a_teacher_that_left_it_out() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    // A teacher for fold 0 of cv_args("400")'s split (2 folds, split seed 1).
    let mut args = fit_args(SMALL, "1", "400");
    args.extend(["--no-export", "--test-limit", "50", "--threads", "1"]);
    args.extend(["--leave-out-fold", "0", "--folds", "2", "--name", "fold-0"]);
    args.extend(["--models", models.to_str().unwrap()]);
    stdout_ok(&trainer(&args));
    let fold_0 = models.join("fold-0");
    let record = json(&fold_0.join("fit.json"));
    let left_out = json!({"fold": 0, "folds": 2, "split_seed": 1, "repeat": 0, "limit": 400});
    assert_eq!(record["left_out"], left_out);
    assert_eq!(record["train_images"], 200, "fold 1's 200 images only");
    let out = tmp.path().join("cv");
    let run = |fold: &str, teacher: &str| {
        let mut args = cv_args("400");
        args.extend(["--fold", fold, "--teacher", teacher, "--threads", "1"]);
        args.extend(["--out", out.to_str().unwrap()]);
        trainer(&args)
    };
    stdout_ok(&run("0", fold_0.to_str().unwrap()));
    let distill = &json(&out.join("fold-0.json"))["config"]["train"]["distill"];
    assert_eq!(distill["teacher_left_out"], left_out);
    // The other fold, and a teacher fitted on every image: refused, nothing written.
    let r = run("1", fold_0.to_str().unwrap());
    assert_fails_with(&r, "it left out another fold");
    assert_fails_with(
        &r,
        "trainer fit --leave-out-fold 1 --folds 2 --split-seed 1",
    );
    let r = run("0", teacher_arg());
    assert_fails_with(&r, "it was fitted on every training image");
    assert_eq!(tree(&out), ["fold-0.json"]);
    // A fold out of range, and the split's flags without the fold: errors.
    let mut args = fit_args(SMALL, "1", "400");
    args.extend(["--leave-out-fold", "2", "--folds", "2"]);
    args.extend(["--models", models.to_str().unwrap()]);
    assert_fails_with(
        &trainer(&args),
        "--leave-out-fold 2 is out of range for --folds 2",
    );
    let r = trainer(&["fit", "--folds", "2", "--models", models.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "a usage error");
}

#[test]
fn a_bad_teacher_or_option_is_a_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    // Broken copies of the teacher's folder.
    let broken = |name: &str, damage: &dyn Fn(&Path)| -> String {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["model.safetensors", "fit.json", "manifest.json"] {
            std::fs::copy(teacher().join(f), dir.join(f)).unwrap();
        }
        damage(&dir);
        dir.to_str().unwrap().to_owned()
    };
    let missing = tmp.path().join("missing").to_str().unwrap().to_owned();
    let empty = broken("empty", &|d| {
        for f in ["model.safetensors", "fit.json", "manifest.json"] {
            std::fs::remove_file(d.join(f)).unwrap();
        }
    });
    let weights = broken("weights", &|d| {
        std::fs::write(d.join("model.safetensors"), b"not a model").unwrap()
    });
    let unlisted = broken("unlisted", &|d| {
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        std::fs::write(d.join("model.safetensors"), b"not a model").unwrap();
    });
    let record = broken("record", &|d| {
        std::fs::remove_file(d.join("manifest.json")).unwrap();
        std::fs::write(d.join("fit.json"), b"{ truncated").unwrap();
    });
    let usable = "not a usable teacher model";
    for (dir, needle) in [
        (&missing, "no such model folder"),
        (&empty, "model.safetensors"),
        (&weights, "its SHA-256 is not the one in"),
        (&unlisted, "not a valid"),
        (&record, "not a training record"),
    ] {
        let mut fit = fit_args(SMALL, "1", "64");
        fit.extend(["--teacher", dir, "--models", o]);
        let mut cv = cv_args("64");
        cv.extend(["--teacher", dir, "--out", o]);
        for args in [fit, cv] {
            let r = trainer(&args);
            assert_fails_with(&r, &format!("--teacher {dir}: {usable}"));
            assert_fails_with(&r, needle);
        }
    }
    for (flags, needle) in [
        (
            vec!["--teacher", teacher_arg(), "--distill-alpha", "1.5"],
            "--distill-alpha must be in [0, 1] (got 1.5)",
        ),
        (
            vec!["--teacher", teacher_arg(), "--distill-temperature", "0"],
            "--distill-temperature must be a positive number (got 0)",
        ),
        (vec!["--erase", "2"], "--erase must be in [0, 1] (got 2)"),
        (
            vec!["--ema", "1"],
            "--ema must be in (0, 1), e.g. 0.999 (got 1)",
        ),
    ] {
        let mut args = fit_args(SMALL, "1", "64");
        args.extend(["--models", o]);
        args.extend(flags);
        assert_fails_with(&trainer(&args), needle);
    }
    // The distillation settings need a teacher: a usage error.
    let r = trainer(&["fit", "--distill-alpha", "0.5", "--models", o]);
    let (_, stderr) = text(&r);
    assert_eq!(r.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--teacher"), "{stderr}");
    assert!(!out.exists(), "a refused run wrote {:?}", tree(&out));
}
