//! Repeated k-fold end to end on a tiny slice: `trainer cv --repeats R` (files, seeds,
//! workers, one fold of one repeat) and `trainer compare` pairing by (repeat, fold).

use std::path::Path;

use serde_json::{Value, json};

mod common;
use common::{assert_fails_with, cv_args, json, stdout_ok, trainer, tree};

/// `cv` of 2 folds x 1 epoch on 200 images, one thread, with `extra`, into `out`.
fn cv(out: &Path, extra: &[&str]) -> Value {
    let mut args = cv_args("200");
    args.extend(["--threads", "1", "--out", out.to_str().unwrap()]);
    args.extend(extra);
    stdout_ok(&trainer(&args));
    json(&out.join("cv.json"))
}

/// (repeat, fold, seed, accuracy, final weights) of each entry of a cv.json.
fn entries(report: &Value) -> Vec<(Value, Value, Value, Value, Value)> {
    report["folds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["repeat"].clone(),
                f["fold"].clone(),
                f["seed"].clone(),
                f["accuracy"].clone(),
                f["final_params"].clone(),
            )
        })
        .collect()
}

#[test]
fn repeated_cv_pairs_by_repeat_and_fold_and_compare_refuses_other_repeats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let plain = cv(&dir("plain"), &["--jobs", "1"]);
    let twice = cv(&dir("twice"), &["--repeats", "2", "--jobs", "1"]);
    let workers = cv(&dir("workers"), &["--repeats", "2", "--jobs", "2"]);
    cv(
        &dir("other"),
        &["--repeats", "2", "--jobs", "1", "--lr", "0.03"],
    );

    assert_eq!(twice["config"]["repeats"], json!(2));
    assert_eq!(plain["config"]["repeats"], json!(1));
    let got = entries(&twice);
    let keys: Vec<(Value, Value, Value)> = got
        .iter()
        .map(|e| (e.0.clone(), e.1.clone(), e.2.clone()))
        .collect();
    let want: Vec<(Value, Value, Value)> = [(0, 0, 1000), (0, 1, 1001), (1, 0, 1002), (1, 1, 1003)]
        .iter()
        .map(|&(r, f, s)| (json!(r), json!(f), json!(s)))
        .collect();
    assert_eq!(keys, want, "every (repeat, fold), each with its own seed");
    assert_eq!(twice["accuracies"].as_array().unwrap().len(), 4);
    // Repeat 0 is the plain run; repeat 1 trains on another split.
    assert_eq!(got[..2], entries(&plain)[..], "repeat 0 = the plain k-fold");
    assert_ne!(got[2].4, got[0].4);
    assert_eq!(entries(&workers), got, "workers get --repeat");
    let files = tree(&dir("twice"));
    for f in [
        "box.png",
        "curves.png",
        "cv.json",
        "fold-0-repeat-1.json",
        "fold-0.json",
        "fold-1-repeat-1.json",
        "fold-1.json",
    ] {
        assert!(files.contains(&f.to_owned()), "{f} in {files:?}");
    }
    // One fold of one repeat, as a separate process (a cluster task) would run it.
    let one = dir("one");
    let mut args = cv_args("200");
    args.extend([
        "--threads",
        "1",
        "--repeats",
        "2",
        "--repeat",
        "1",
        "--fold",
        "0",
    ]);
    args.extend(["--out", one.to_str().unwrap()]);
    stdout_ok(&trainer(&args));
    let file = json(&one.join("fold-0-repeat-1.json"));
    let same = |v: &Value| {
        (
            v["repeat"].clone(),
            v["seed"].clone(),
            v["final_params"].clone(),
        )
    };
    assert_eq!(same(&file["result"]), same(&twice["folds"][2]));

    let path = |name: &str| dir(name).to_str().unwrap().to_owned();
    let stdout = stdout_ok(&trainer(&["compare", &path("twice"), &path("other")]));
    assert!(
        stdout.contains("mean of 4 pairs (2 repeats x 2 folds)"),
        "{stdout}"
    );
    assert!(stdout.contains("train.lr: 0.01 -> 0.03"), "{stdout}");
    assert!(stdout.contains("(3 df)"), "{stdout}");
    let out = stdout_ok(&trainer(&[
        "compare",
        "--json",
        &path("twice"),
        &path("other"),
    ]));
    let out: Value = serde_json::from_str(&out).unwrap();
    let c = &out["comparisons"][0];
    assert_eq!(
        (c["repeats"].clone(), c["folds"].clone(), c["k"].clone()),
        (json!(2), json!(2), json!(4))
    );
    // 1/(kR) + n_val/n_train = 1/4 + 100/100.
    assert!(
        (c["correction"].as_f64().unwrap() - 1.25).abs() < 1e-12,
        "{c}"
    );
    assert_eq!(out["runs"][0]["repeats"], json!(2));

    for (a, b, here, there) in [("plain", "twice", 2, 1), ("twice", "plain", 1, 2)] {
        let r = trainer(&["compare", &path(a), &path(b)]);
        assert_fails_with(&r, "repeats differ");
        assert_fails_with(&r, &format!("{here} here, {there} in the reference"));
    }
    let bad = dir("bad");
    let mut args = cv_args("200");
    args.extend(["--repeats", "2", "--repeat", "2", "--fold", "0"]);
    args.extend(["--out", bad.to_str().unwrap()]);
    assert_fails_with(
        &trainer(&args),
        "--repeat 2 is out of range for --repeats 2",
    );
    let r = trainer(&["cv", "--repeat", "1", "--out", bad.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "--repeat needs --fold");
    assert!(!bad.exists());
}
