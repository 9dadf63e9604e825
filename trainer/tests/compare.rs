//! `trainer compare` end to end on small hand-written cv.json files: verdicts, `--json`,
//! the configuration diff, and the refusal of runs that cannot be paired.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

mod common;
use common::{stdout_ok, trainer};

/// Asserts a clean failure (as [`common::assert_fails_with`]) naming every needle.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    for needle in needles {
        common::assert_fails_with(out, needle);
    }
}

/// A cv.json shaped like `docs/results/cv-baseline/cv.json`: 5 folds of 48,000 training
/// and 12,000 validation images, with the given training settings and fold accuracies.
fn cv_json(train: Value, accuracies: [f64; 5]) -> Value {
    let seed = train["seed"].as_u64().unwrap_or(1);
    let folds: Vec<Value> = accuracies
        .iter()
        .enumerate()
        .map(|(f, a)| {
            json!({
                "fold": f, "folds": 5, "accuracy": a,
                "history": [{"epoch": 1, "train_loss": 0.4, "train_accuracy": 0.85,
                             "val_loss": 0.3, "val_accuracy": a, "train_seconds": 12.0}],
                "seed": seed * 1000 + f as u64,
                "initial_params": "0", "final_params": "1", "seconds": 120.0,
                "train_len": 48000, "val_len": 12000
            })
        })
        .collect();
    json!({
        "command": "trainer cv",
        "wall_seconds": 600.0,
        "config": {"train": train, "folds": 5, "split_seed": 1, "limit": null},
        "folds": folds,
        "accuracies": accuracies,
        "mean": 0.0, "std": 0.0, "fold_seconds": 600.0, "seconds_per_epoch": 12.0
    })
}

fn baseline_train() -> Value {
    json!({"arch": "baseline", "epochs": 10, "batch_size": 32, "lr": 0.01, "momentum": 0.9, "seed": 1})
}

/// Writes `json` as `dir/name/cv.json` and returns the folder.
fn write_run(dir: &Path, name: &str, json: &Value) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("cv.json"),
        serde_json::to_string_pretty(json).unwrap(),
    )
    .unwrap();
    run
}

const REFERENCE: [f64; 5] = [0.900, 0.905, 0.898, 0.902, 0.901];
const CLEARLY_BETTER: [f64; 5] = [0.910, 0.916, 0.907, 0.913, 0.911];
/// Better on every fold, but by too little and too unevenly for the corrected test.
const SLIGHTLY_BETTER: [f64; 5] = [0.9012, 0.9080, 0.8985, 0.9055, 0.9016];

#[test]
fn verdicts_intervals_and_config_diff() {
    let dir = tempfile::tempdir().unwrap();
    let reference = write_run(
        dir.path(),
        "baseline",
        &cv_json(baseline_train(), REFERENCE),
    );
    let mut train = baseline_train();
    train["arch"] = json!("padded");
    train["dropout"] = json!(0.25);
    let better = write_run(
        dir.path(),
        "padded",
        &cv_json(train.clone(), CLEARLY_BETTER),
    );
    let same = write_run(
        dir.path(),
        "padded-2",
        &cv_json(train.clone(), SLIGHTLY_BETTER),
    );
    // The reference compared with a run that is worse: the reference as the second run.
    let worse_ref = write_run(dir.path(), "ref-better", &cv_json(train, CLEARLY_BETTER));
    let paths: Vec<&str> = [&reference, &better, &same]
        .iter()
        .map(|p| p.to_str().unwrap())
        .collect();

    let mut args = vec!["compare"];
    args.extend(&paths);
    let stdout = stdout_ok(&trainer(&args));
    // Mean ± population std of the reference: 90.12 ± 0.2315 (by hand).
    assert!(stdout.contains("90.120 ±  0.232  (reference)"), "{stdout}");
    assert!(
        stdout.contains("train.arch: baseline -> padded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("train.dropout: (absent) -> 0.25"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("train.lr"),
        "unchanged fields are not listed: {stdout}"
    );
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("verdict: "))
        .collect();
    assert_eq!(verdicts, ["better", "no evidence"], "{stdout}");

    let stdout = stdout_ok(&trainer(&[
        "compare",
        worse_ref.to_str().unwrap(),
        paths[0],
    ]));
    assert!(stdout.contains("verdict: worse"), "{stdout}");
    assert!(
        stdout.contains("train.arch: padded -> baseline"),
        "{stdout}"
    );

    let mut args = vec!["compare", "--json"];
    args.extend(&paths);
    let stdout = stdout_ok(&trainer(&args));
    let out: Value = serde_json::from_str(&stdout).expect("--json prints JSON only");
    assert_eq!(out["runs"].as_array().unwrap().len(), 3);
    let c = &out["comparisons"];
    assert_eq!(c[0]["verdict"], "better");
    assert_eq!(c[1]["verdict"], "no evidence");
    assert_eq!(c[0]["reference"], paths[0]);
    assert_eq!(
        c[0]["config_diff"][0],
        json!({"field": "train.arch", "reference": "baseline", "run": "padded"})
    );
    // SciPy 1.17.1, as in stats.rs: d = CLEARLY_BETTER - REFERENCE, k = 5, 48k/12k:
    // corrected p = 5.3908358156834376e-05, corrected CI [0.0086417, 0.0117583].
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-9;
    assert!(close(&c[0]["p_corrected"], 5.3908358156834376e-05), "{c}");
    assert!(close(&c[0]["ci_corrected"][0], 0.008641724049474657), "{c}");
    assert!(close(&c[0]["mean_diff"], 0.0102), "{c}");
    // The slight gain: significant for the plain t-test, not after the correction.
    assert!(c[1]["p"].as_f64().unwrap() < 0.05, "{c}");
    assert!(c[1]["p_corrected"].as_f64().unwrap() >= 0.05, "{c}");
}

#[test]
fn runs_on_other_folds_or_seeds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = cv_json(baseline_train(), REFERENCE);
    let reference = write_run(dir.path(), "reference", &base);
    let refuse = |name: &str, damage: &dyn Fn(&mut Value), needles: &[&str]| {
        let mut json = base.clone();
        damage(&mut json);
        let run = write_run(dir.path(), name, &json);
        let r = trainer(&[
            "compare",
            reference.to_str().unwrap(),
            run.to_str().unwrap(),
        ]);
        let mut all = vec![name];
        all.extend(needles);
        assert_fails_with(&r, &all);
    };
    refuse(
        "split",
        &|j: &mut Value| j["config"]["split_seed"] = json!(2),
        &["folds differ", "split_seed is 2 here, 1 in the reference"],
    );
    refuse(
        "limit",
        &|j: &mut Value| j["config"]["limit"] = json!(30000),
        &[
            "folds differ",
            "limit is 30000 here, (absent) in the reference",
        ],
    );
    refuse(
        "sizes",
        &|j: &mut Value| {
            j["folds"][3]["val_len"] = json!(11999);
            j["folds"][3]["train_len"] = json!(48001);
        },
        &[
            "folds differ",
            "fold 3 trains on 48001 and validates on 11999",
        ],
    );
    refuse(
        "fewer",
        &|j: &mut Value| {
            j["config"]["folds"] = json!(4);
            j["folds"].as_array_mut().unwrap().pop();
        },
        &["folds differ", "config.folds is 4 here, 5 in the reference"],
    );
    refuse(
        "seed",
        &|j: &mut Value| j["config"]["train"]["seed"] = json!(7),
        &["training seed differs", "7 here, 1 in the reference"],
    );
    refuse(
        "no-folds",
        &|j: &mut Value| {
            j.as_object_mut().unwrap().remove("folds");
        },
        &["not a usable cross-validation report", "no `folds` list"],
    );
    std::fs::write(dir.path().join("bad.json"), "{ not json").unwrap();
    let r = trainer(&[
        "compare",
        reference.to_str().unwrap(),
        dir.path().join("bad.json").to_str().unwrap(),
    ]);
    assert_fails_with(&r, &["bad.json", "invalid JSON"]);
    let r = trainer(&[
        "compare",
        reference.to_str().unwrap(),
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert_fails_with(&r, &["missing"]);
}
