//! k-fold cross-validation: seeded splits, one fresh model per fold, summary.

pub mod plots;
pub mod workers;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::train::{self, EpochStats, Tensors, TrainConfig};
use trainer_core::data::Dataset;
use trainer_core::stats::mean_std;

/// Splits `0..n` into `k` disjoint validation folds after a seeded shuffle.
///
/// The first `n % k` folds get one extra index; together the folds cover every index once.
pub fn kfold(n: usize, k: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if k < 2 || k > n {
        bail!("k-fold needs 2 <= k <= n (k = {k}, n = {n})");
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut folds = Vec::with_capacity(k);
    let mut start = 0;
    for f in 0..k {
        let len = n / k + usize::from(f < n % k);
        folds.push(order[start..start + len].to_vec());
        start += len;
    }
    Ok(folds)
}

/// The training indices of fold `f`: every index not in its validation fold, ascending.
pub fn train_indices(folds: &[Vec<usize>], f: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = folds
        .iter()
        .enumerate()
        .filter(|(g, _)| *g != f)
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    idx.sort_unstable();
    idx
}

/// The outcome of one fold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// 0-based fold number.
    pub fold: usize,
    /// Number of folds in the run.
    pub folds: usize,
    /// Validation accuracy after the last epoch.
    pub accuracy: f64,
    /// Per-epoch metrics.
    pub history: Vec<EpochStats>,
    /// Seed of this fold's weight initialisation and batch order.
    pub seed: u64,
    /// Digest of the weights before training (a fresh model every fold).
    pub initial_params: String,
    /// Digest of the weights after training.
    pub final_params: String,
    /// Wall time of the fold, seconds (training and validation).
    pub seconds: f64,
    /// Images trained on and validated on.
    pub train_len: usize,
    /// Images validated on.
    pub val_len: usize,
    /// libtorch intra-op threads the fold ran with (results repeat exactly only at the
    /// same count); absent in files written before it was recorded.
    #[serde(default)]
    pub threads: Option<usize>,
}

/// Settings of a cross-validation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvConfig {
    /// Training settings (the same for every fold; each fold's seed is derived from `train.seed`).
    pub train: TrainConfig,
    /// Number of folds.
    pub folds: usize,
    /// Seed of the fold split.
    pub split_seed: u64,
    /// Use only the first `limit` training images (None: all 60,000).
    pub limit: Option<usize>,
    /// SHA-256 of the training images and labels used ([`Dataset::digest`]); absent in
    /// files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// The seed for fold `f`'s initialisation and batch order.
pub fn fold_seed(base: u64, f: usize) -> u64 {
    base.wrapping_mul(1000).wrapping_add(f as u64)
}

/// Runs fold `f`: builds a fresh model, trains it on the other folds and validates on fold `f`.
pub fn run_fold(
    data: &Dataset,
    splits: &[Vec<usize>],
    f: usize,
    cfg: &CvConfig,
    device: Device,
) -> Result<FoldResult> {
    let start = Instant::now();
    let train_idx = train_indices(splits, f);
    let train_set = Tensors::new(&data.select(&train_idx), device);
    let val_set = Tensors::new(&data.select(&splits[f]), device);
    let seed = fold_seed(cfg.train.seed, f);
    // A new VarStore for every fold: nothing learnt in one fold reaches the next.
    let (vs, net) = train::fresh_model(&cfg.train.arch, cfg.train.net, seed, device);
    let initial_params = train::param_digest(&vs);
    let fold_cfg = TrainConfig {
        seed,
        ..cfg.train.clone()
    };
    let label = format!("fold {}/{}", f + 1, splits.len());
    let history = train::train(&vs, &net, &train_set, Some(&val_set), &fold_cfg, &label)?;
    let accuracy = history
        .last()
        .and_then(|h| h.val_accuracy)
        .context("no epochs were run")?;
    Ok(FoldResult {
        fold: f,
        folds: splits.len(),
        accuracy,
        history,
        seed,
        initial_params,
        final_params: train::param_digest(&vs),
        seconds: start.elapsed().as_secs_f64(),
        train_len: train_idx.len(),
        val_len: splits[f].len(),
        threads: usize::try_from(tch::get_num_threads()).ok(),
    })
}

/// The merged report written to `cv.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// The settings.
    pub config: CvConfig,
    /// One result per fold, in fold order.
    pub folds: Vec<FoldResult>,
    /// Fold accuracies, in fold order.
    pub accuracies: Vec<f64>,
    /// Mean fold accuracy.
    pub mean: f64,
    /// Population standard deviation (numpy's default, as in the seed study) of fold accuracies.
    pub std: f64,
    /// Sum of the folds' wall times, seconds.
    pub fold_seconds: f64,
    /// Mean seconds per training epoch over all folds.
    pub seconds_per_epoch: f64,
}

/// Combines fold results (from one process or several) into a report.
pub fn merge(config: CvConfig, mut folds: Vec<FoldResult>) -> Result<CvReport> {
    folds.sort_by_key(|f| f.fold);
    let k = config.folds;
    let got: Vec<usize> = folds.iter().map(|f| f.fold).collect();
    if got != (0..k).collect::<Vec<_>>() {
        bail!("need one result for each of folds 0..{k}, have {got:?}");
    }
    let accuracies: Vec<f64> = folds.iter().map(|f| f.accuracy).collect();
    let (mean, std) = mean_std(&accuracies);
    let epochs: Vec<f64> = folds
        .iter()
        .flat_map(|f| f.history.iter().map(|h| h.train_seconds))
        .collect();
    Ok(CvReport {
        config,
        accuracies,
        mean,
        std,
        fold_seconds: folds.iter().map(|f| f.seconds).sum(),
        seconds_per_epoch: epochs.iter().sum::<f64>() / epochs.len().max(1) as f64,
        folds,
    })
}

/// One fold's result file as written by `trainer cv --fold K`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldFile {
    /// The run's settings (must agree across fold files to be merged).
    pub config: CvConfig,
    /// The fold's result.
    pub result: FoldResult,
}

/// The file name of fold `f`'s result in an output directory.
pub fn fold_file_name(f: usize) -> String {
    format!("fold-{f}.json")
}

/// The first setting in which two JSON values differ, as `path: a vs b` (dotted
/// path, `None` when equal). Used to say which setting keeps a result from being reused.
pub fn first_difference(
    found: &serde_json::Value,
    wanted: &serde_json::Value,
) -> Option<(String, String, String)> {
    use serde_json::Value;
    fn walk(a: &Value, b: &Value, path: &str) -> Option<(String, String, String)> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|k| {
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        &sub,
                    )
                })
            }
            _ if a == b => None,
            _ => Some((path.to_owned(), a.to_string(), b.to_string())),
        }
    }
    walk(found, wanted, "")
}

/// Fold `k`'s finished result in `dir`, if its file is there and was computed with
/// exactly `config` and `threads` libtorch threads (the thread count changes the
/// bits of a result). `Ok(None)`: no file yet. An error names the first setting that
/// differs and how to go on: the folder belongs to another run.
pub fn reusable_fold(
    dir: &Path,
    k: usize,
    config: &CvConfig,
    threads: usize,
) -> Result<Option<FoldResult>> {
    let Some(result) = same_settings(dir, k, config)? else {
        return Ok(None);
    };
    let path = dir.join(fold_file_name(k));
    let advice = "use another --out, or delete the folder to start over";
    match result.threads {
        Some(had) if had == threads => {}
        Some(had) => bail!(
            "{}: computed with {had} libtorch threads, this run would use {threads} (the \
             thread count changes the results' last bits); pass --threads {had} to continue \
             it, or {advice}",
            path.display()
        ),
        None => bail!(
            "{}: written before thread counts were recorded, so it cannot be continued \
             exactly; {advice}",
            path.display()
        ),
    }
    Ok(Some(result))
}

/// Fold `k`'s result in `dir` if its file is there, checked to come from a run with
/// exactly `config` (any thread count); an error names the first setting that differs.
pub fn same_settings(dir: &Path, k: usize, config: &CvConfig) -> Result<Option<FoldResult>> {
    let path = dir.join(fold_file_name(k));
    if !path.exists() {
        return Ok(None);
    }
    let file: FoldFile = trainer_core::files::atomic::read_json(&path)?;
    let advice = "use another --out, or delete the folder to start over";
    if file.config != *config {
        let (field, found, wanted) = first_difference(
            &serde_json::to_value(&file.config)?,
            &serde_json::to_value(config)?,
        )
        .unwrap_or_else(|| ("config".into(), "?".into(), "?".into()));
        let field = if field == "data" {
            "data (SHA-256 of the training images and labels: the dataset changed)".to_owned()
        } else {
            field
        };
        bail!(
            "{}: computed with other settings than this run ({field}: {found} there, {wanted} now); \
             {advice}",
            path.display()
        );
    }
    if file.result.fold != k || file.result.folds != config.folds {
        bail!(
            "{}: holds fold {} of {}, not fold {k} of {}; {advice}",
            path.display(),
            file.result.fold,
            file.result.folds,
            config.folds
        );
    }
    Ok(Some(file.result))
}

/// Reads every `fold-*.json` in `dir`, checking they come from the same settings.
pub fn read_fold_files(dir: &Path) -> Result<(CvConfig, Vec<FoldResult>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("fold-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    let mut config = None;
    let mut results = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file: FoldFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a fold result", path.display()))?;
        match config {
            None => config = Some(file.config),
            Some(ref c) if *c != file.config => {
                bail!(
                    "{}: settings differ from the other fold files",
                    path.display()
                )
            }
            _ => {}
        }
        results.push(file.result);
    }
    let config = config.with_context(|| format!("no fold-*.json in {}", dir.display()))?;
    Ok((config, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_disjoint_covering_deterministic_and_seeded() {
        for (n, k) in [(10, 5), (11, 5), (60_000, 5), (7, 2)] {
            let folds = kfold(n, k, 1).unwrap();
            assert_eq!(folds.len(), k);
            let mut all: Vec<usize> = folds.iter().flatten().copied().collect();
            all.sort_unstable();
            assert_eq!(all, (0..n).collect::<Vec<_>>(), "cover each index once");
            let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            assert_eq!(folds, kfold(n, k, 1).unwrap(), "deterministic");
            assert_ne!(folds, kfold(n, k, 2).unwrap(), "depends on the seed");
            for f in 0..k {
                let train = train_indices(&folds, f);
                assert_eq!(train.len() + folds[f].len(), n);
                assert!(folds[f].iter().all(|i| train.binary_search(i).is_err()));
            }
        }
        assert!(kfold(3, 1, 0).is_err());
        assert!(kfold(3, 4, 0).is_err());
    }

    #[test]
    fn merge_needs_every_fold_once() {
        let config = CvConfig {
            train: TrainConfig::default(),
            folds: 2,
            split_seed: 1,
            limit: None,
            data: None,
        };
        let fold = |f, acc| FoldResult {
            fold: f,
            folds: 2,
            accuracy: acc,
            history: vec![],
            seed: 0,
            initial_params: String::new(),
            final_params: String::new(),
            seconds: 1.0,
            train_len: 1,
            val_len: 1,
            threads: Some(1),
        };
        let r = merge(config.clone(), vec![fold(1, 0.8), fold(0, 0.9)]).unwrap();
        assert_eq!(r.accuracies, vec![0.9, 0.8]);
        assert!((r.mean - 0.85).abs() < 1e-12);
        assert!(merge(config.clone(), vec![fold(0, 0.9)]).is_err());
        assert!(merge(config, vec![fold(0, 0.9), fold(0, 0.9)]).is_err());
    }
}
