//! Comparing cross-validation runs: which runs may be paired, what differs between their
//! configurations, and the paired test of each run against a reference.
//!
//! A run is read from its `cv.json` as plain JSON, not as `trainer::study::CvReport`, so that
//! runs written before or after a change of the training settings still compare: only
//! the fold-defining fields ([`FOLD_FIELDS`]), the training seed and the per-fold results
//! are read by name; everything else in `config` is diffed generically.

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
    /// The folds, in fold order.
    pub folds: Vec<Fold>,
}

impl Run {
    /// Reads a run from the JSON of a `cv.json` file.
    ///
    /// Needs `config` (an object) and `folds` (one entry per fold with `fold`, `accuracy`,
    /// `train_len` and `val_len`, each fold index once), at least two folds, accuracies
    /// in [0, 1], and `config.folds`, when present, equal to the number of folds.
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
        let mut indexed = Vec::with_capacity(entries.len());
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
            let fold = Fold {
                accuracy,
                train_len: uint("train_len")?,
                val_len: uint("val_len")?,
                seed: e.get("seed").and_then(Value::as_u64),
            };
            indexed.push((uint("fold")?, fold));
        }
        indexed.sort_by_key(|(f, _)| *f);
        let order: Vec<u64> = indexed.iter().map(|(f, _)| *f).collect();
        if order != (0..indexed.len() as u64).collect::<Vec<_>>() {
            bail!("folds must hold each fold index 0..k once, found {order:?}");
        }
        if indexed.len() < 2 {
            bail!(
                "a paired comparison needs at least 2 folds, the run has {}",
                indexed.len()
            );
        }
        if let Some(k) = config.get("folds").filter(|v| !v.is_null())
            && k.as_u64() != Some(indexed.len() as u64)
        {
            bail!(
                "config.folds is {k} but the report holds {} folds",
                indexed.len()
            );
        }
        Ok(Run {
            label: label.into(),
            config,
            folds: indexed.into_iter().map(|(_, f)| f).collect(),
        })
    }

    /// Fold accuracies, in fold order.
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
/// folds (the [`FOLD_FIELDS`], the number of folds and every fold's training and
/// validation sizes) and their training seed.
pub fn check_comparable(reference: &Run, run: &Run) -> Result<()> {
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
            run.folds.len(),
            reference.folds.len()
        ));
    }
    for (i, (a, b)) in reference.folds.iter().zip(&run.folds).enumerate() {
        if (a.train_len, a.val_len) != (b.train_len, b.val_len) {
            return folds_differ(format!(
                "fold {i} trains on {} and validates on {} images here, {} and {} in the \
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
/// sorted order, leaving out the fold fields and the training seed (which must match).
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
            let skip =
                FOLD_FIELDS.iter().any(|f| *f == field) || field == "seed" || field == "train.seed";
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
    /// Configuration fields that differ from the reference.
    pub config_diff: Vec<ConfigChange>,
    /// The paired test of the fold accuracies, run minus reference (fractions).
    #[serde(flatten)]
    pub test: PairedTest,
    /// The corrected test's verdict at [`stats::ALPHA`].
    pub verdict: Verdict,
}

/// Checks that `run` may be paired with `reference` ([`check_comparable`]), then tests
/// the difference of their fold accuracies.
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
