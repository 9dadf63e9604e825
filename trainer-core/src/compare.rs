//! Comparing cross-validation runs: which runs may be paired, what differs between their
//! configurations, and the paired test of each run against a reference.
//!
//! A run is read from its `cv.json` as plain JSON, not as `trainer::study::CvReport`, so that
//! runs written before or after a change of the training settings still compare: only
//! the fold-defining fields ([`FOLD_FIELDS`], `repeats`), the training seed and the
//! per-fold results are read by name; everything else in `config` is diffed generically.
//!
//! A run of repeated k-fold (`trainer cv --repeats R`) holds R x k folds; two such runs
//! are paired by (repeat, fold), and the test is the corrected repeated k-fold t-test
//! ([`crate::stats`]) over the R·k pairs.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::stats::{self, PairedTest, Verdict};

/// Fields of a run's `config` that define its folds (the number of folds, the seed of the
/// split, and the data limit): two runs are paired fold by fold only if these agree.
pub const FOLD_FIELDS: [&str; 3] = ["folds", "split_seed", "limit"];

/// One fold of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    /// The repeat it belongs to (0 without repeats).
    pub repeat: u64,
    /// Its number within the repeat.
    pub fold: u64,
    /// Validation accuracy (a fraction).
    pub accuracy: f64,
    /// Images trained on.
    pub train_len: u64,
    /// Images validated on.
    pub val_len: u64,
    /// The fold's training seed, if recorded.
    pub seed: Option<u64>,
}

/// A cross-validation run as needed for a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// How the run is named in output (the path it was read from).
    pub label: String,
    /// The run's whole `config` object.
    pub config: Map<String, Value>,
    /// Repeats of the k-fold (1 for a plain k-fold run).
    pub repeats: usize,
    /// The folds of every repeat, in (repeat, fold) order.
    pub folds: Vec<Fold>,
}

impl Run {
    /// Reads a run from the JSON of a `cv.json` file.
    ///
    /// Needs `config` (an object) and `folds` (one entry per fold with `fold`, `accuracy`,
    /// `train_len` and `val_len`, and `repeat` with repeats; each (repeat, fold) once,
    /// every repeat with the same folds), at least two folds, accuracies in [0, 1],
    /// `config.folds`, when present, equal to the number of folds per repeat, and
    /// `config.repeats` (absent: 1) equal to the number of repeats.
    pub fn from_json(label: impl Into<String>, json: &Value) -> Result<Run> {
        let config = json
            .get("config")
            .and_then(Value::as_object)
            .context("no `config` object: not a cv.json report")?
            .clone();
        let entries = json
            .get("folds")
            .and_then(Value::as_array)
            .context("no `folds` list: not a merged cv.json report")?;
        let mut folds = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let field = |name: &str| -> Result<&Value> {
                e.get(name)
                    .with_context(|| format!("folds[{i}] has no `{name}`"))
            };
            let uint = |name: &str| -> Result<u64> {
                field(name)?
                    .as_u64()
                    .with_context(|| format!("folds[{i}].{name} is not a whole number"))
            };
            let accuracy = field("accuracy")?
                .as_f64()
                .filter(|a| (0.0..=1.0).contains(a))
                .with_context(|| format!("folds[{i}].accuracy is not a number in [0, 1]"))?;
            let repeat = match e.get("repeat") {
                None => 0,
                Some(_) => uint("repeat")?,
            };
            folds.push(Fold {
                repeat,
                fold: uint("fold")?,
                accuracy,
                train_len: uint("train_len")?,
                val_len: uint("val_len")?,
                seed: e.get("seed").and_then(Value::as_u64),
            });
        }
        folds.sort_by_key(|f| (f.repeat, f.fold));
        let repeats = folds.last().map_or(1, |f| f.repeat + 1);
        let k = folds.iter().filter(|f| f.repeat == 0).count() as u64;
        let order: Vec<(u64, u64)> = folds.iter().map(|f| (f.repeat, f.fold)).collect();
        let want: Vec<(u64, u64)> = (0..repeats)
            .flat_map(|r| (0..k).map(move |f| (r, f)))
            .collect();
        if order != want {
            if repeats == 1 {
                let order: Vec<u64> = order.iter().map(|(_, f)| *f).collect();
                bail!("folds must hold each fold index 0..k once, found {order:?}");
            }
            bail!(
                "folds must hold each fold 0..k of each repeat 0..{repeats} once, found \
                 (repeat, fold) {order:?}"
            );
        }
        if k < 2 {
            bail!("a paired comparison needs at least 2 folds, the run has {k}");
        }
        if let Some(c) = config.get("folds").filter(|v| !v.is_null())
            && c.as_u64() != Some(k)
        {
            bail!("config.folds is {c} but the report holds {k} folds");
        }
        let recorded = config.get("repeats").filter(|v| !v.is_null());
        if recorded.map_or(1, |r| r.as_u64().unwrap_or(0)) != repeats {
            bail!(
                "config.repeats is {} but the report holds {repeats} repeats",
                show(recorded)
            );
        }
        Ok(Run {
            label: label.into(),
            config,
            repeats: repeats as usize,
            folds,
        })
    }

    /// Folds per repeat (k).
    pub fn folds_per_repeat(&self) -> usize {
        self.folds.len() / self.repeats.max(1)
    }

    /// Fold accuracies, in (repeat, fold) order.
    pub fn accuracies(&self) -> Vec<f64> {
        self.folds.iter().map(|f| f.accuracy).collect()
    }

    /// Mean and population standard deviation of the fold accuracies (as `trainer cv`
    /// reports them).
    pub fn mean_std(&self) -> (f64, f64) {
        stats::mean_std(&self.accuracies())
    }

    /// The training seed: `config.train.seed`, or `config.seed` where a run keeps it there.
    pub fn training_seed(&self) -> Option<&Value> {
        self.config
            .get("train")
            .and_then(|t| t.get("seed"))
            .or_else(|| self.config.get("seed"))
            .filter(|v| !v.is_null())
    }
}

/// Whether two optional JSON values mean the same: absent equals null, and numbers are
/// equal when their values are (so `10` equals `10.0`).
fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    let a = a.filter(|v| !v.is_null());
    let b = b.filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => true,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x == y || (x.as_f64().is_some() && x.as_f64() == y.as_f64())
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.keys().chain(y.keys()).all(|k| same(x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// A value for a message: strings without quotes, absent as `(absent)`.
fn show(v: Option<&Value>) -> String {
    match v.filter(|v| !v.is_null()) {
        None => "(absent)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Refuses (with the reason) to pair `run` with `reference` unless they share their
/// repeats, their folds (the [`FOLD_FIELDS`], the number of folds and every fold's
/// training and validation sizes) and their training seed.
pub fn check_comparable(reference: &Run, run: &Run) -> Result<()> {
    if run.repeats != reference.repeats {
        bail!(
            "its repeats differ from the reference {}: {} here, {} in the reference; folds are \
             paired by (repeat, fold), so a paired test needs both runs made with the same \
             --repeats (and the same folds)",
            reference.label,
            run.repeats,
            reference.repeats
        );
    }
    let folds_differ = |what: String| -> Result<()> {
        bail!(
            "its folds differ from the reference {}: {what}; a paired test needs the same \
             folds (number of folds, split seed, data limit, fold sizes)",
            reference.label
        )
    };
    for name in FOLD_FIELDS {
        let (a, b) = (reference.config.get(name), run.config.get(name));
        if !same(a, b) {
            return folds_differ(format!(
                "config.{name} is {} here, {} in the reference",
                show(b),
                show(a)
            ));
        }
    }
    if run.folds.len() != reference.folds.len() {
        return folds_differ(format!(
            "{} folds here, {} in the reference",
            run.folds_per_repeat(),
            reference.folds_per_repeat()
        ));
    }
    for (a, b) in reference.folds.iter().zip(&run.folds) {
        if (a.train_len, a.val_len) != (b.train_len, b.val_len) {
            let which = if reference.repeats > 1 {
                format!("repeat {} fold {}", a.repeat, a.fold)
            } else {
                format!("fold {}", a.fold)
            };
            return folds_differ(format!(
                "{which} trains on {} and validates on {} images here, {} and {} in the \
                 reference",
                b.train_len, b.val_len, a.train_len, a.val_len
            ));
        }
    }
    let (a, b) = (reference.training_seed(), run.training_seed());
    if a.is_none() || b.is_none() {
        bail!(
            "no training seed recorded (config.train.seed) in {}",
            if b.is_none() {
                &run.label
            } else {
                &reference.label
            }
        );
    }
    let fold_seeds_differ = reference
        .folds
        .iter()
        .zip(&run.folds)
        .any(|(x, y)| x.seed.is_some() && y.seed.is_some() && x.seed != y.seed);
    if !same(a, b) || fold_seeds_differ {
        bail!(
            "its training seed differs from the reference {}: {} here, {} in the reference; \
             compare runs trained with the same --seed, so that paired folds differ only \
             in their configuration",
            reference.label,
            show(b),
            show(a)
        );
    }
    Ok(())
}

/// One configuration field that differs between a run and the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigChange {
    /// Dotted path of the field in `config`, e.g. `train.lr`.
    pub field: String,
    /// The reference's value (left out when the reference has no such field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<Value>,
    /// The run's value (left out when the run has no such field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<Value>,
}

impl std::fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.field,
            show(self.reference.as_ref()),
            show(self.run.as_ref())
        )
    }
}

/// The fields of `run`'s configuration that differ from `reference`'s, by dotted path in
/// sorted order, leaving out the fold fields, the repeats and the training seed (which
/// must match).
/// Objects are compared field by field at any depth; anything else as a whole value.
pub fn config_diff(reference: &Map<String, Value>, run: &Map<String, Value>) -> Vec<ConfigChange> {
    fn walk(
        prefix: &str,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        out: &mut Vec<ConfigChange>,
    ) {
        let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for key in keys {
            let field = format!("{prefix}{key}");
            let skip = FOLD_FIELDS.iter().any(|f| *f == field)
                || ["repeats", "seed", "train.seed"].contains(&field.as_str());
            let (x, y) = (a.get(key), b.get(key));
            if skip || same(x, y) {
                continue;
            }
            match (x, y) {
                (Some(Value::Object(p)), Some(Value::Object(q))) => {
                    walk(&format!("{field}."), p, q, out)
                }
                _ => out.push(ConfigChange {
                    field,
                    reference: x.filter(|v| !v.is_null()).cloned(),
                    run: y.filter(|v| !v.is_null()).cloned(),
                }),
            }
        }
    }
    let mut out = Vec::new();
    walk("", reference, run, &mut out);
    out
}

/// A run compared with the reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The run.
    pub run: String,
    /// The reference run.
    pub reference: String,
    /// Repeats of the k-fold in both runs (1: plain k-fold).
    pub repeats: usize,
    /// Folds per repeat (k); the test has `repeats` x `folds` pairs.
    pub folds: usize,
    /// Configuration fields that differ from the reference.
    pub config_diff: Vec<ConfigChange>,
    /// The paired test of the fold accuracies, run minus reference (fractions).
    #[serde(flatten)]
    pub test: PairedTest,
    /// The corrected test's verdict at [`stats::ALPHA`].
    pub verdict: Verdict,
}

/// Checks that `run` may be paired with `reference` ([`check_comparable`]), then tests
/// the difference of their fold accuracies, paired by (repeat, fold): with R repeats of
/// k folds, the corrected test over R·k pairs ([`stats::paired`]).
pub fn compare(reference: &Run, run: &Run) -> Result<Comparison> {
    check_comparable(reference, run)?;
    let k = reference.folds.len() as f64;
    // The mean over the reference's folds of one size.
    let mean =
        |len: fn(&Fold) -> u64| reference.folds.iter().map(|f| len(f) as f64).sum::<f64>() / k;
    let train_len = mean(|f| f.train_len);
    let val_len = mean(|f| f.val_len);
    let test = stats::paired(
        &reference.accuracies(),
        &run.accuracies(),
        train_len,
        val_len,
    )
    .context("fold sizes must be positive for a paired test")?;
    Ok(Comparison {
        run: run.label.clone(),
        reference: reference.label.clone(),
        repeats: reference.repeats,
        folds: reference.folds_per_repeat(),
        config_diff: config_diff(&reference.config, &run.config),
        verdict: test.verdict(stats::ALPHA),
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A minimal cv.json: 3 folds of 80 training and 40 validation images.
    fn report(train: Value, split_seed: u64, accs: [f64; 3]) -> Value {
        let folds: Vec<Value> = accs
            .iter()
            .enumerate()
            .map(|(f, a)| json!({"fold": f, "accuracy": a, "train_len": 80, "val_len": 40}))
            .collect();
        json!({
            "config": {"train": train, "folds": 3, "split_seed": split_seed, "limit": 120},
            "folds": folds,
        })
    }

    #[test]
    fn diffs_any_field_and_skips_the_paired_ones() {
        let a = report(
            json!({"arch": "baseline", "lr": 0.01, "seed": 1, "epochs": 10}),
            1,
            [0.5; 3],
        );
        let b = report(
            json!({"arch": "padded", "lr": 0.01, "seed": 1, "epochs": 10.0, "aug": {"flip": true}}),
            1,
            [0.5; 3],
        );
        let (a, b) = (
            Run::from_json("a", &a).unwrap(),
            Run::from_json("b", &b).unwrap(),
        );
        let diff = config_diff(&a.config, &b.config);
        let text: Vec<String> = diff.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "train.arch: baseline -> padded",
                "train.aug: (absent) -> {\"flip\":true}"
            ]
        );
        assert!(config_diff(&a.config, &a.config).is_empty());
        assert!(compare(&a, &b).is_ok());
    }

    #[test]
    fn refuses_other_folds_and_other_seeds() {
        let train = json!({"arch": "baseline", "seed": 1});
        let a = Run::from_json("a", &report(train.clone(), 1, [0.5; 3])).unwrap();
        let split = Run::from_json("b", &report(train.clone(), 2, [0.5; 3])).unwrap();
        let err = compare(&a, &split).unwrap_err().to_string();
        assert!(
            err.contains("folds differ") && err.contains("split_seed"),
            "{err}"
        );
        let mut sized = report(train.clone(), 1, [0.5; 3]);
        sized["folds"][2]["val_len"] = json!(39);
        let sized = Run::from_json("c", &sized).unwrap();
        let err = compare(&a, &sized).unwrap_err().to_string();
        assert!(err.contains("fold 2"), "{err}");
        let seed = Run::from_json(
            "d",
            &report(json!({"arch": "baseline", "seed": 2}), 1, [0.5; 3]),
        )
        .unwrap();
        let err = compare(&a, &seed).unwrap_err().to_string();
        assert!(err.contains("training seed differs"), "{err}");
    }

    /// A cv.json of `repeats` x 3 folds (80 / 40 images), fold seeds as `trainer cv`'s.
    fn repeated(repeats: u64, accs: &[f64]) -> Value {
        let folds: Vec<Value> = accs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let (r, f) = (i as u64 / 3, i as u64 % 3);
                json!({"repeat": r, "fold": f, "accuracy": a, "train_len": 80,
                       "val_len": 40, "seed": 1000 + i as u64})
            })
            .collect();
        json!({
            "config": {"train": {"seed": 1}, "folds": 3, "split_seed": 1, "repeats": repeats,
                       "limit": 120},
            "folds": folds,
        })
    }

    #[test]
    fn repeated_runs_pair_by_repeat_and_fold() {
        let a = [0.50, 0.52, 0.54, 0.51, 0.53, 0.55];
        let b = [0.51, 0.54, 0.55, 0.52, 0.55, 0.56];
        let mut shuffled = repeated(2, &b);
        shuffled["folds"].as_array_mut().unwrap().reverse();
        let (ra, rb) = (
            Run::from_json("a", &repeated(2, &a)).unwrap(),
            Run::from_json("b", &shuffled).unwrap(),
        );
        assert_eq!((rb.repeats, rb.folds_per_repeat()), (2, 3));
        assert_eq!(
            rb.accuracies(),
            b,
            "(repeat, fold) order whatever the file's"
        );
        let c = compare(&ra, &rb).unwrap();
        assert_eq!((c.repeats, c.folds, c.test.k), (2, 3, 6));
        // The corrected repeated k-fold test: 1/(kR) + n_val/n_train over kR - 1 df.
        assert!((c.test.correction - (1.0 / 6.0 + 0.5)).abs() < 1e-12);
        let want = stats::paired(&a, &b, 80.0, 40.0).unwrap();
        assert_eq!(c.test, want);
        assert!(config_diff(&ra.config, &rb.config).is_empty());
        // Files without repeats are one repeat, whatever their age.
        let plain = Run::from_json("p", &report(json!({"seed": 1}), 1, [0.5; 3])).unwrap();
        assert_eq!(plain.repeats, 1);
    }

    #[test]
    fn runs_with_other_repeats_are_refused_and_holes_are_found() {
        let two = Run::from_json("two", &repeated(2, &[0.5; 6])).unwrap();
        let one = Run::from_json("one", &repeated(1, &[0.5; 3])).unwrap();
        for (reference, run, here, there) in [(&two, &one, 1, 2), (&one, &two, 2, 1)] {
            let err = compare(reference, run).unwrap_err().to_string();
            assert!(err.contains("repeats differ"), "{err}");
            assert!(
                err.contains(&format!("{here} here, {there} in the reference")),
                "{err}"
            );
        }
        let mut sized = repeated(2, &[0.5; 6]);
        sized["folds"][4]["val_len"] = json!(39);
        let err = compare(&two, &Run::from_json("s", &sized).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("repeat 1 fold 1 trains on"), "{err}");
        let mut hole = repeated(2, &[0.5; 6]);
        hole["folds"].as_array_mut().unwrap().remove(4);
        let err = Run::from_json("h", &hole).unwrap_err().to_string();
        assert!(err.contains("each repeat 0..2"), "{err}");
        let mut count = repeated(2, &[0.5; 6]);
        count["config"]["repeats"] = json!(3);
        let err = Run::from_json("c", &count).unwrap_err().to_string();
        assert!(err.contains("config.repeats is 3"), "{err}");
    }

    #[test]
    fn rejects_malformed_reports() {
        let good = report(json!({"seed": 1}), 1, [0.5; 3]);
        assert!(Run::from_json("x", &json!({"folds": []})).is_err());
        let mut bad = good.clone();
        bad["folds"][1]["fold"] = json!(0);
        assert!(Run::from_json("x", &bad).is_err());
        let mut bad = good.clone();
        bad["folds"][1]["accuracy"] = json!(1.5);
        assert!(Run::from_json("x", &bad).is_err());
        let mut bad = good.clone();
        bad["config"]["folds"] = json!(5);
        assert!(Run::from_json("x", &bad).is_err());
        let mut bad = good;
        bad["folds"] = json!([bad["folds"][0]]);
        bad["config"]["folds"] = json!(1);
        assert!(Run::from_json("x", &bad).is_err());
    }
}
