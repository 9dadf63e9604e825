//! Fine-tuning from a saved model (`--init`), the scene-crop augmentation
//! (`--scene-crops`) and training on scene crops (`--scene-train`) end to end on tiny
//! slices.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::{Value, json};

mod common;
use common::{assert_fails_with, cv_args, fit_args, json, stdout_ok, trainer, tree};

/// A small model with batch norm that trains in a second or two.
const SMALL: &str = "c8,p,f,d10";

/// The starting model, made once: a 1-epoch fit of [`SMALL`] with batch norm on 640 images.
fn base() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = tempfile::tempdir().unwrap().keep();
        let mut args = fit_args(SMALL, "1", "640");
        args.extend(["--batch-norm", "--no-export", "--test-limit", "100"]);
        args.extend(["--threads", "1", "--name", "base"]);
        args.extend(["--models", root.to_str().unwrap()]);
        stdout_ok(&trainer(&args));
        root.join("base")
    })
}

fn base_arg() -> &'static str {
    base().to_str().unwrap()
}

/// A 1-epoch fit of [`SMALL`] with batch norm on 640 images (seed 2), as `root/name`.
fn fit(root: &Path, name: &str, extra: &[&str]) -> Output {
    let mut args = fit_args(SMALL, "1", "640");
    args.extend(["--batch-norm", "--no-export", "--test-limit", "100"]);
    args.extend(["--seed", "2", "--threads", "1"]);
    args.extend(["--models", root.to_str().unwrap(), "--name", name]);
    args.extend(extra);
    trainer(&args)
}

fn weights(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name).join("model.safetensors")).unwrap()
}

#[test]
fn a_fine_tune_starts_from_the_saved_weights_repeats_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let tuned = ["--init", base_arg(), "--lr", "0.001"];
    for name in ["a", "b"] {
        stdout_ok(&fit(root, name, &tuned));
    }
    assert!(
        weights(root, "a") == weights(root, "b"),
        "seeded runs repeat"
    );
    stdout_ok(&fit(root, "fresh", &tuned[2..]));
    assert!(
        weights(root, "fresh") != weights(root, "a"),
        "--init changed nothing"
    );
    let c = json(&root.join("a/fit.json"))["config"].clone();
    let path = std::fs::canonicalize(base()).unwrap();
    assert_eq!(c["init"]["model"], json!(path.to_str().unwrap()));
    let sha = trainer_core::files::folder::sha256_hex(&weights(base(), ""));
    assert_eq!(c["init"]["weights_sha256"], json!(sha));
    assert_eq!(
        json(&root.join("fresh/fit.json"))["config"]["init"],
        Value::Null
    );
    // One epoch more from the saved model beats one epoch from scratch at this small rate.
    let accuracy = |name: &str| {
        json(&root.join(name).join("fit.json"))["test_accuracy"]
            .as_f64()
            .unwrap()
    };
    assert!(
        accuracy("a") > accuracy("fresh"),
        "{} vs {}",
        accuracy("a"),
        accuracy("fresh")
    );
}

/// Fits `a` and `b` with `flags` and `off` without them under `root`: `a` and `b` must
/// have the same weights, `off` others.
fn fits_repeat_and_differ_from_a_fit_without(root: &Path, flags: &[&str]) {
    for name in ["a", "b"] {
        stdout_ok(&fit(root, name, flags));
    }
    stdout_ok(&fit(root, "off", &[]));
    assert!(
        weights(root, "a") == weights(root, "b"),
        "seeded runs repeat"
    );
    assert!(
        weights(root, "a") != weights(root, "off"),
        "{flags:?} changed nothing"
    );
}

#[test]
fn scene_crops_change_the_run_repeat_and_are_recorded_in_fit_and_cv() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fits_repeat_and_differ_from_a_fit_without(root, &["--scene-crops", "0.5"]);
    assert_eq!(
        json(&root.join("a/fit.json"))["config"]["scene_crops"],
        json!(0.5)
    );
    assert_eq!(
        json(&root.join("off/fit.json"))["config"]["scene_crops"],
        json!(0.0)
    );
    let out = root.join("cv");
    let mut args = cv_args("400");
    args.extend(["--scene-crops", "0.3", "--threads", "1"]);
    args.extend(["--out", out.to_str().unwrap()]);
    stdout_ok(&trainer(&args));
    for file in ["cv.json", "fold-0.json", "fold-1.json"] {
        let train = &json(&out.join(file))["config"]["train"];
        assert_eq!(train["scene_crops"], json!(0.3), "{file}");
    }
}

#[test]
fn scene_training_adds_the_scene_crops_repeats_and_is_recorded_in_fit_and_cv() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fits_repeat_and_differ_from_a_fit_without(root, &["--scene-train"]);
    let record = json(&root.join("a/fit.json"));
    assert_eq!(record["config"]["scene_train"], json!(true));
    // The 640 images and a scene crop of most of them (the path finds the garment in
    // about nine scenes of ten).
    let images = record["train_images"].as_u64().unwrap();
    assert!(
        (640 + 480..=1280).contains(&images),
        "{images} training images"
    );
    assert_eq!(json(&root.join("off/fit.json"))["train_images"], json!(640));
    assert_eq!(
        json(&root.join("off/fit.json"))["config"]["scene_train"],
        Value::Null
    );
    // A share of a quarter: 160 of the images drawn as scenes, most with a crop.
    stdout_ok(&fit(
        root,
        "quarter",
        &["--scene-train", "--scene-share", "0.25"],
    ));
    let quarter = json(&root.join("quarter/fit.json"));
    assert_eq!(quarter["config"]["scene_share"], json!(0.25));
    let images = quarter["train_images"].as_u64().unwrap();
    assert!(
        (640 + 120..=800).contains(&images),
        "{images} training images"
    );
    assert_eq!(
        record["config"]["scene_share"],
        Value::Null,
        "share 1 is left out"
    );
    let out = root.join("cv");
    let mut args = cv_args("400");
    args.extend(["--scene-train", "--scene-share", "0.5", "--threads", "1"]);
    args.extend(["--out", out.to_str().unwrap()]);
    stdout_ok(&trainer(&args));
    for file in ["cv.json", "fold-0.json", "fold-1.json"] {
        let train = &json(&out.join(file))["config"]["train"];
        assert_eq!(train["scene_train"], json!(true), "{file}");
        assert_eq!(train["scene_share"], json!(0.5), "{file}");
    }
}

#[test]
fn a_bad_starting_model_or_rate_is_a_clear_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = out.to_str().unwrap();
    let missing = tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    let weights_dir = tmp.path().join("damaged");
    std::fs::create_dir_all(&weights_dir).unwrap();
    for f in ["model.safetensors", "fit.json", "manifest.json"] {
        std::fs::copy(base().join(f), weights_dir.join(f)).unwrap();
    }
    std::fs::write(weights_dir.join("model.safetensors"), b"not a model").unwrap();
    let damaged = weights_dir.to_str().unwrap();
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["--batch-norm", "--init", missing],
            "no such model folder",
        ),
        (
            vec!["--batch-norm", "--init", damaged],
            "its SHA-256 is not the one in",
        ),
        (
            vec!["--init", base_arg()],
            "give the same --model and --batch-norm",
        ),
        (
            vec!["--scene-crops", "1.5"],
            "--scene-crops must be in [0, 1] (got 1.5)",
        ),
        (
            vec!["--scene-share", "0.5"],
            "--scene-share needs --scene-train",
        ),
        (
            vec!["--scene-train", "--scene-share", "0"],
            "--scene-share must be in (0, 1] (got 0)",
        ),
    ];
    for (flags, needle) in cases {
        let mut args = fit_args(SMALL, "1", "64");
        args.extend(["--models", o]);
        args.extend(flags.iter().copied());
        assert_fails_with(&trainer(&args), needle);
        let mut cv = cv_args("64");
        cv.extend(["--model", SMALL, "--out", o]);
        cv.extend(flags.iter().copied());
        assert_fails_with(&trainer(&cv), needle);
    }
    assert!(tree(&out).is_empty(), "{:?}", tree(&out));
}
