//! The `trainer` binary end to end: happy paths on small slices, and every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

mod common;
use common::{
    assert_fails_with, cv_args, dataset_copy, first_test_image, fit_args, json, names, stdout_ok,
    text, trainer, trainer_env,
};

/// A model trained once for all tests here: 1 epoch on 2,000 images, exported to int8.
fn fixture() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let models = dir.join("models");
        let mut args = fit_args("baseline", "1", "2000");
        args.extend(["--test-limit", "500", "--calib", "200"]);
        args.extend(["--models", models.to_str().unwrap()]);
        let stdout = stdout_ok(&trainer(&args));
        assert!(stdout.contains("test accuracy"), "{stdout}");
        models
    })
}

fn models_arg() -> String {
    fixture().to_str().unwrap().to_owned()
}

/// Runs `trainer COMMAND --model baseline --models MODELS` with `extra` arguments.
fn on_baseline(command: &str, models: &str, extra: &[&str]) -> Output {
    let mut args = vec![command, "--model", "baseline", "--models", models];
    args.extend(extra);
    trainer(&args)
}

#[test]
fn fit_writes_weights_records_and_int8_export() {
    let dir = fixture().join("baseline");
    for f in [
        "model.safetensors",
        "fit.json",
        "eval.json",
        "model.fmq",
        "confusion.png",
        "confusion-int8.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let eval = json(&dir.join("eval.json"));
    assert!(eval["float"]["accuracy"].as_f64().unwrap() > 0.6);
    assert!(eval["int8"]["accuracy"].as_f64().unwrap() > 0.6);
    assert_eq!(eval["float"]["images"], 500);
    let leftovers: Vec<_> = names(&dir)
        .into_iter()
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// `trainer fit --model spec --batch-norm` on 500 images writes a `model.fmq` of
/// format `version` that has a layer `holds` accepts and that infer-core loads and
/// classifies with.
fn fit_exports_a_file_infer_core_runs(
    spec: &str,
    version: u8,
    holds: fn(&infer_core::Layer<'_>) -> bool,
) {
    let root = tempfile::tempdir().unwrap();
    let mut args = fit_args(spec, "1", "500");
    args.extend(common::SMALL_EVAL);
    args.extend(["--batch-norm", "--models", root.path().to_str().unwrap()]);
    let stdout = stdout_ok(&trainer(&args));
    assert!(stdout.contains("test accuracy"), "{stdout}");
    let fmq = std::fs::read(root.path().join(spec).join("model.fmq")).unwrap();
    assert_eq!(&fmq[4..6], &[version, 0], "a version-{version} file");
    let model = infer_core::Model::from_bytes(&fmq).unwrap();
    assert!(model.file().layers.iter().any(holds));
    assert_eq!(model.num_classes(), 10);
    let image: [u8; 784] = first_test_image().into_raw().try_into().unwrap();
    let mut scratch = vec![0i8; model.scratch_len()];
    let p = model.classify(&image, &mut scratch).unwrap();
    assert!(p.class < 10 && p.scores.len() == 10);
    // `fit` evaluated the export too (through infer-core).
    let eval = json(&root.path().join(spec).join("eval.json"));
    assert_eq!(eval["int8"]["images"], 100);
}

#[test]
fn fit_of_a_global_average_pooling_model_exports_a_version_4_file_infer_core_runs() {
    // `g` is written as a GlobalMean (the means on a grid of their own).
    fit_exports_a_file_infer_core_runs("c8,p,c16,p,g,d10", 4, |l| {
        matches!(l, infer_core::Layer::GlobalMean(_))
    });
}

#[test]
fn fit_of_a_residual_model_exports_a_version_4_file_infer_core_runs() {
    fit_exports_a_file_infer_core_runs("c8,p,r8,r16,p,g,d10", 4, |l| {
        matches!(l, infer_core::Layer::Add(_))
    });
}

#[test]
fn refitting_without_export_removes_the_stale_int8_model() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("baseline");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture().join("baseline/model.fmq"), dir.join("model.fmq")).unwrap();
    let mut args = fit_args("baseline", "1", "200");
    args.extend(["--no-export", "--test-limit", "100"]);
    args.extend(["--models", root.path().to_str().unwrap()]);
    let r = trainer(&args);
    let (stdout, stderr) = text(&r);
    assert!(r.status.success(), "{stdout}{stderr}");
    assert!(dir.join("model.safetensors").is_file());
    assert!(!dir.join("model.fmq").exists(), "{stderr}");
}

#[test]
fn cv_on_a_slice_writes_json_and_plots_and_folds_merge() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    for k in ["0", "1"] {
        let mut args = cv_args("1000");
        args.extend(["--fold", k, "--out", o]);
        let r = trainer(&args);
        assert!(r.status.success(), "{:?}", text(&r));
    }
    let stdout = stdout_ok(&trainer(&["cv", "merge", "--out", o]));
    assert!(stdout.contains("fold accuracies"), "{stdout}");
    for f in [
        "cv.json",
        "curves.png",
        "box.png",
        "fold-0.json",
        "fold-1.json",
    ] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    let r = trainer(&["compare", o, o]);
    assert!(r.status.success(), "{:?}", text(&r));
}

#[test]
fn cv_jobs_runs_folds_as_workers_with_the_results_of_the_sequential_run() {
    let seq = tempfile::tempdir().unwrap();
    let par = tempfile::tempdir().unwrap();
    for (jobs, dir) in [("1", &seq), ("2", &par)] {
        let mut args = cv_args("2000");
        args.extend([
            "--threads",
            "1",
            "--jobs",
            jobs,
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        let r = trainer(&args);
        let (stdout, stderr) = text(&r);
        assert!(r.status.success(), "--jobs {jobs}: {stdout}{stderr}");
        assert!(stdout.contains("fold accuracies"), "{stdout}");
        if jobs == "2" {
            assert!(stderr.contains("2 worker processes at a time, 1 libtorch thread each"));
            // Each worker's lines reach the parent's stderr.
            for k in [
                "fold 1/2: accuracy",
                "fold 2/2: accuracy",
                "fold 2/2 epoch  1",
            ] {
                assert!(stderr.contains(k), "{k:?} in {stderr}");
            }
        }
    }
    let (a, b) = (
        json(&seq.path().join("cv.json")),
        json(&par.path().join("cv.json")),
    );
    assert_eq!(a["config"], b["config"]);
    assert_eq!(a["accuracies"], b["accuracies"]);
    assert_eq!(a["mean"], b["mean"]);
    for k in 0..2 {
        let fold_a = &a["folds"][k];
        let fold_b = &b["folds"][k];
        for key in [
            "fold",
            "accuracy",
            "seed",
            "initial_params",
            "final_params",
            "threads",
        ] {
            assert_eq!(fold_a[key], fold_b[key], "fold {k} {key}");
        }
        assert_eq!(fold_b["threads"], 1);
        let (ha, hb) = (&fold_a["history"][0], &fold_b["history"][0]);
        for key in ["train_loss", "train_accuracy", "val_loss", "val_accuracy"] {
            assert_eq!(ha[key], hb[key], "fold {k} {key}");
        }
        let file = json(&par.path().join(format!("fold-{k}.json")));
        assert_eq!(file["result"]["final_params"], fold_b["final_params"]);
    }
}

#[test]
fn cv_jobs_fails_naming_the_fold_with_its_stderr_when_a_worker_fails() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    // A missing dataset stops the parent before any worker starts (it checks the data
    // digest of folds already done).
    let missing = out.path().join("no-dataset-here");
    let r = trainer(&[
        "cv",
        "--jobs",
        "2",
        "--folds",
        "2",
        "--epochs",
        "1",
        "--data",
        missing.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert_fails_with(&r, "no-dataset-here");
    // A worker that fails (here: the disk is full when fold 1 writes its result).
    let mut args = cv_args("600");
    args.extend(["--jobs", "2", "--out", o]);
    let r = trainer_env(&args, &[("TRAINER_TEST_DISK_FULL", "fold-1.json")]);
    assert_fails_with(&r, "failed (exit status: 1); the last lines of its stderr:");
    let (_, stderr) = text(&r);
    let error = &stderr[stderr
        .find("error: fold 2/2")
        .expect("the error names the fold")..];
    assert!(
        error.contains("fold-1.json: No space left on device"),
        "{error}"
    );
    assert!(!out.path().join("cv.json").exists());
    assert!(!out.path().join("fold-1.json").exists());
    let r = trainer(&["cv", "--jobs", "0"]);
    assert_fails_with(&r, "--jobs must be at least 1");
    let r = trainer(&["cv", "--jobs", "2", "--fold", "1"]);
    assert_eq!(r.status.code(), Some(2), "clap rejects --jobs with --fold");
}

#[test]
fn evaluate_prints_the_confusion_matrix_for_float_and_int8() {
    let out = tempfile::tempdir().unwrap();
    let r = on_baseline(
        "evaluate",
        &models_arg(),
        &[
            "--int8",
            "--limit",
            "300",
            "--out",
            out.path().to_str().unwrap(),
        ],
    );
    let stdout = stdout_ok(&r);
    assert!(
        stdout.contains("Ankle boot") && stdout.contains("int8 model"),
        "{stdout}"
    );
    assert!(out.path().join("eval.json").is_file());
}

fn write_test_images(dir: &Path) -> Vec<PathBuf> {
    let gray = first_test_image();
    let big = image::imageops::resize(&gray, 300, 300, image::imageops::FilterType::Triangle);
    let rgb = image::DynamicImage::ImageLuma8(image::imageops::resize(
        &gray,
        100,
        80,
        image::imageops::FilterType::Triangle,
    ))
    .to_rgb8();
    let paths = vec![dir.join("a.png"), dir.join("b.jpg"), dir.join("c.bmp")];
    gray.save(&paths[0]).unwrap();
    rgb.save(&paths[1]).unwrap();
    big.save(&paths[2]).unwrap();
    paths
}

#[test]
fn predict_reads_several_sizes_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let paths = write_test_images(dir.path());
    let models = models_arg();
    for extra in [&[][..], &["--int8"][..]] {
        let mut args = vec!["--top", "3"];
        args.extend(extra);
        let strs: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(strs.iter().map(String::as_str));
        let stdout = stdout_ok(&on_baseline("predict", &models, &args));
        for p in &strs {
            assert!(stdout.contains(&format!("{p}: ")), "{stdout}");
        }
        assert_eq!(stdout.lines().count(), 9, "3 images x top 3: {stdout}");
    }
    let r = on_baseline("predict", &models, &["--json", paths[0].to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(v["class"].as_u64().unwrap() < 10);
    assert!(v["probability"].as_f64().unwrap() > 0.0);
}

#[test]
fn predict_auto_decides_the_style_and_answers_no_garment_found() {
    let dir = tempfile::tempdir().unwrap();
    let img = first_test_image();
    let dataset = dir.path().join("dataset.png");
    img.save(&dataset).unwrap();
    // A product photo: dark on white, enlarged, with a white margin.
    let photo = dir.path().join("photo.png");
    let inverted =
        image::GrayImage::from_fn(28, 28, |x, y| image::Luma([255 - img.get_pixel(x, y)[0]]));
    let big = image::imageops::resize(&inverted, 84, 84, image::imageops::FilterType::Triangle);
    let mut canvas = image::GrayImage::from_pixel(120, 100, image::Luma([255]));
    image::imageops::replace(&mut canvas, &big, 20, 8);
    canvas.save(&photo).unwrap();
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 48, image::Luma([230]))
        .save(&blank)
        .unwrap();
    let black = dir.path().join("black.jpg");
    image::RgbImage::from_pixel(30, 30, image::Rgb([3, 2, 1]))
        .save(&black)
        .unwrap();
    let models = models_arg();
    let paths: Vec<&str> = [&dataset, &photo, &blank, &black]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();
    let mut args = vec!["--mode", "auto"];
    args.extend(&paths);
    let stdout = stdout_ok(&on_baseline("predict", &models, &args));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].ends_with("[dataset]") && lines[0].contains('%'),
        "{stdout}"
    );
    assert!(
        lines[1].ends_with("[photo]") && lines[1].contains('%'),
        "{stdout}"
    );
    assert!(
        lines[2].ends_with("blank.png: no garment found [photo]"),
        "{stdout}"
    );
    assert!(
        lines[3].ends_with("black.jpg: no garment found [dataset]"),
        "{stdout}"
    );

    // JSON: the class is null, the mode and the reason are given.
    let mut args = vec!["--json", "--int8", "--mode", "auto"];
    args.extend(&paths);
    let r = on_baseline("predict", &models, &args);
    assert!(r.status.success(), "{:?}", text(&r));
    let answers: Vec<serde_json::Value> = r
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["mode"], "dataset");
    assert!(answers[0]["class"].as_u64().unwrap() < 10);
    assert_eq!(answers[1]["mode"], "photo");
    for a in &answers[2..] {
        assert!(a["class"].is_null() && a["name"].is_null(), "{a}");
        assert!(a["probability"].is_null(), "{a}");
        assert!(
            a["reason"].as_str().unwrap().contains("nothing there"),
            "{a}"
        );
    }

    // Forced styles; `--camera` is the old name of `--mode photo`.
    let predict = |extra: &[&str]| on_baseline("predict", &models, extra);
    let r = predict(&["--mode", "photo", paths[0]]);
    let (stdout, _) = text(&r);
    assert!(r.status.success());
    assert!(stdout.contains("no garment found [photo]"), "{stdout}");
    let r = predict(&["--camera", paths[1]]);
    assert!(text(&r).0.ends_with("[photo]\n"), "{:?}", text(&r));
    let r = predict(&["--mode", "dataset", paths[1]]);
    assert!(text(&r).0.contains("[dataset]"), "{:?}", text(&r));
    let r = predict(&["--camera", "--mode", "dataset", paths[1]]);
    assert_eq!(r.status.code(), Some(2), "{:?}", text(&r));
    // The default, the scene path (as `--mode scene`): a dataset-style picture the
    // dataset way, a photo as a scene, nothing on a blank or a black picture.
    for extra in [&[][..], &["--mode", "scene"][..]] {
        let mut args = extra.to_vec();
        args.extend(&paths);
        let r = predict(&args);
        let (stdout, _) = text(&r);
        assert!(r.status.success(), "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines[0].ends_with("[dataset]"), "{stdout}");
        assert!(lines[1].ends_with("[scene]"), "{stdout}");
        assert!(
            lines[2].ends_with("blank.png: no garment found [scene]"),
            "{stdout}"
        );
        assert!(
            lines[3].ends_with("black.jpg: no garment found [dataset]"),
            "{stdout}"
        );
    }
}

#[test]
fn predict_reports_an_unreadable_image_and_still_predicts_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_test_images(dir.path()).remove(0);
    let bad = dir.path().join("broken.png");
    std::fs::write(&bad, b"this is not a png").unwrap();
    let missing = dir.path().join("missing.jpg");
    let r = on_baseline(
        "predict",
        &models_arg(),
        &[
            bad.to_str().unwrap(),
            good.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
    );
    assert_fails_with(&r, "broken.png");
    let (stdout, stderr) = text(&r);
    assert!(stderr.contains("missing.jpg"), "{stderr}");
    assert!(
        stdout.contains("a.png: "),
        "the good image is still predicted: {stdout}"
    );
}

#[test]
fn missing_or_damaged_models_are_clear_errors() {
    let empty = tempfile::tempdir().unwrap();
    let r = on_baseline("evaluate", empty.path().to_str().unwrap(), &[]);
    assert_fails_with(&r, "no such model file");

    let damaged = tempfile::tempdir().unwrap();
    let dir = damaged.path().join("baseline");
    std::fs::create_dir(&dir).unwrap();
    let src = fixture().join("baseline");
    std::fs::copy(src.join("fit.json"), dir.join("fit.json")).unwrap();
    let weights = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
    let fmq = std::fs::read(src.join("model.fmq")).unwrap();
    std::fs::write(dir.join("model.fmq"), &fmq[..fmq.len() - 7]).unwrap();
    let img = write_test_images(damaged.path()).remove(0);
    let m = damaged.path().to_str().unwrap();
    let r = on_baseline("evaluate", m, &["--limit", "10"]);
    assert_fails_with(&r, "model.safetensors: not a valid baseline model");
    let r = on_baseline("predict", m, &["--int8", img.to_str().unwrap()]);
    assert_fails_with(&r, "model.fmq");
}

/// Copies the real dataset into a temporary folder, letting `damage` spoil one file.
fn dataset_with(damage: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = dataset_copy();
    damage(dir.path());
    dir
}

#[test]
fn bad_datasets_fail_cleanly_and_write_nothing() {
    let missing = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let models = out.path().join("models");
    let m = models.to_str().unwrap();
    let fit = |data: &Path| {
        let mut args = fit_args("baseline", "1", "64");
        args.extend(["--data", data.to_str().unwrap(), "--models", m]);
        trainer(&args)
    };

    assert_fails_with(&fit(missing.path()), "not found");

    let truncated = dataset_with(|d| {
        let p = d.join("train-labels-idx1-ubyte.gz");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
    });
    assert_fails_with(
        &fit(truncated.path()),
        "train-labels-idx1-ubyte.gz: corrupt or truncated gzip",
    );

    let wrong_magic = dataset_with(|d| {
        std::fs::remove_file(d.join("t10k-images-idx3-ubyte.gz")).unwrap();
        std::fs::write(d.join("t10k-images-idx3-ubyte"), [7u8, 7, 8, 3, 0, 0, 0, 0]).unwrap();
    });
    assert_fails_with(
        &fit(wrong_magic.path()),
        "t10k-images-idx3-ubyte: bad magic",
    );

    let short_body = dataset_with(|d| {
        std::fs::remove_file(d.join("t10k-labels-idx1-ubyte.gz")).unwrap();
        std::fs::write(
            d.join("t10k-labels-idx1-ubyte"),
            [0u8, 0, 8, 1, 0, 0, 0, 5, 1, 2],
        )
        .unwrap();
    });
    assert_fails_with(&fit(short_body.path()), "(truncated)");

    assert!(
        !models.exists(),
        "a failed fit must not leave output behind"
    );
    let r = trainer(&[
        "data",
        "verify",
        "--data",
        truncated.path().to_str().unwrap(),
    ]);
    assert_fails_with(&r, "train-labels-idx1-ubyte.gz");
}

#[test]
fn the_real_dataset_verifies_and_show_draws_the_first_nine() {
    let r = trainer(&["data", "verify"]);
    assert!(r.status.success(), "{:?}", text(&r));
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).matches(": ok").count(),
        4
    );
    let out = tempfile::tempdir().unwrap();
    let png = out.path().join("nine.png");
    let r = trainer(&["data", "show", "--out", png.to_str().unwrap()]);
    assert!(r.status.success(), "{:?}", text(&r));
    let img = image::open(&png).unwrap();
    assert!(img.width() > 600 && img.height() > 600);
}

#[test]
fn bad_flags_are_rejected() {
    let r = trainer(&["cv", "--fold", "5", "--folds", "5"]);
    assert_fails_with(&r, "--fold 5 is out of range");
    let r = trainer(&["fit", "--model", "nonexistent"]);
    assert_eq!(r.status.code(), Some(2), "clap rejects unknown models");
}
