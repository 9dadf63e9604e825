//! k-fold cross-validation: seeded splits, one fresh model per fold, summary.
//!
//! Repeated k-fold (`--repeats R`) runs the whole k-fold R times on R different splits:
//! repeat r splits with seed `split_seed + r` ([`repeat_split_seed`]) and trains fold f
//! with seed [`repeat_fold_seed`]; repeat 0 is exactly the plain k-fold run.

pub mod left_out;
pub mod plots;
pub mod workers;

pub use left_out::LeftOutFold;

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
    /// 0-based repeat (of repeated k-fold; 0 in files written before repeats existed).
    #[serde(default)]
    pub repeat: usize,
    /// 0-based fold number (within its repeat).
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
    /// Seed of the fold split (of repeat 0; repeat r uses [`repeat_split_seed`]).
    pub split_seed: u64,
    /// How many times the k-fold runs, each on its own split (1 = plain k-fold; absent,
    /// so 1, in files written before repeats existed).
    #[serde(default = "one")]
    pub repeats: usize,
    /// Use only the first `limit` training images (None: all 60,000).
    pub limit: Option<usize>,
    /// SHA-256 of the training images and labels used ([`Dataset::digest`]); absent in
    /// files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

fn one() -> usize {
    1
}

impl CvConfig {
    /// Every (repeat, fold) of the run, in order.
    pub fn all_folds(&self) -> Vec<(usize, usize)> {
        (0..self.repeats)
            .flat_map(|r| (0..self.folds).map(move |f| (r, f)))
            .collect()
    }
}

/// The seed for fold `f`'s initialisation and batch order.
pub fn fold_seed(base: u64, f: usize) -> u64 {
    base.wrapping_mul(1000).wrapping_add(f as u64)
}

/// The split seed of repeat `r`: `split_seed + r` (repeat 0 is the plain k-fold's, and
/// repeat r's folds are those of a plain run with `--split-seed` `split_seed + r`).
pub fn repeat_split_seed(split_seed: u64, r: usize) -> u64 {
    split_seed.wrapping_add(r as u64)
}

/// The training seed of fold `f` of repeat `r` with `k` folds: [`fold_seed`] of the
/// fold's index counted over all repeats, `r·k + f` (repeat 0: the plain k-fold's seeds).
pub fn repeat_fold_seed(base: u64, r: usize, k: usize, f: usize) -> u64 {
    fold_seed(base, r * k + f)
}

/// The name of fold `f` of repeat `r` in messages: `fold 2/5`, or `repeat 1/3 fold 2/5`
/// with repeats.
pub fn fold_label(cfg: &CvConfig, r: usize, f: usize) -> String {
    let fold = format!("fold {}/{}", f + 1, cfg.folds);
    if cfg.repeats > 1 {
        format!("repeat {}/{} {fold}", r + 1, cfg.repeats)
    } else {
        fold
    }
}

/// Runs fold `f` of repeat 0 ([`run_repeat_fold`]).
pub fn run_fold(
    data: &Dataset,
    splits: &[Vec<usize>],
    f: usize,
    cfg: &CvConfig,
    device: Device,
) -> Result<FoldResult> {
    run_repeat_fold(data, splits, 0, f, cfg, device)
}

/// Runs fold `f` of repeat `r`, whose split is `splits`: builds a fresh model, trains it
/// on the other folds and validates on fold `f`.
pub fn run_repeat_fold(
    data: &Dataset,
    splits: &[Vec<usize>],
    r: usize,
    f: usize,
    cfg: &CvConfig,
    device: Device,
) -> Result<FoldResult> {
    let start = Instant::now();
    let train_idx = train_indices(splits, f);
    let train_set = train::scene_train::training_set(data.select(&train_idx), &cfg.train)?;
    let train_set = Tensors::new(&train_set, device);
    let val_set = Tensors::new(&data.select(&splits[f]), device);
    let seed = repeat_fold_seed(cfg.train.seed, r, splits.len(), f);
    // A new VarStore for every fold: nothing learnt in one fold reaches the next (with
    // --init, every fold starts from the same saved weights).
    let (vs, net) = train::initial_model(&cfg.train, seed, device)?;
    let initial_params = train::param_digest(&vs);
    let fold_cfg = TrainConfig {
        seed,
        ..cfg.train.clone()
    };
    let label = fold_label(cfg, r, f);
    let history = train::train(&vs, &net, &train_set, Some(&val_set), &fold_cfg, &label)?;
    let accuracy = history
        .last()
        .and_then(|h| h.val_accuracy)
        .context("no epochs were run")?;
    Ok(FoldResult {
        repeat: r,
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
    /// One result per fold of every repeat, in (repeat, fold) order.
    pub folds: Vec<FoldResult>,
    /// Fold accuracies, in the same order.
    pub accuracies: Vec<f64>,
    /// Mean fold accuracy (over all repeats' folds).
    pub mean: f64,
    /// Population standard deviation (numpy's default, as in the seed study) of fold
    /// accuracies (over all repeats' folds).
    pub std: f64,
    /// Sum of the folds' wall times, seconds.
    pub fold_seconds: f64,
    /// Mean seconds per training epoch over all folds.
    pub seconds_per_epoch: f64,
}

/// Combines fold results (from one process or several) into a report.
pub fn merge(config: CvConfig, mut folds: Vec<FoldResult>) -> Result<CvReport> {
    folds.sort_by_key(|f| (f.repeat, f.fold));
    let (k, repeats) = (config.folds, config.repeats);
    let got: Vec<(usize, usize)> = folds.iter().map(|f| (f.repeat, f.fold)).collect();
    if got != config.all_folds() {
        bail!(
            "need one result for each fold 0..{k} of each repeat 0..{repeats}, have \
             (repeat, fold) {got:?}"
        );
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

/// The file name of fold `f` of repeat `r` in an output directory: `fold-F.json` for
/// repeat 0 (as a plain k-fold run), `fold-F-repeat-R.json` for the others.
pub fn fold_file_name(r: usize, f: usize) -> String {
    if r == 0 {
        format!("fold-{f}.json")
    } else {
        format!("fold-{f}-repeat-{r}.json")
    }
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

/// Fold `k` of repeat `r`: its finished result in `dir`, if its file is there and was
/// computed with exactly `config` and `threads` libtorch threads (the thread count
/// changes the bits of a result). `Ok(None)`: no file yet. An error names the first
/// setting that differs and how to go on: the folder belongs to another run.
pub fn reusable_fold(
    dir: &Path,
    r: usize,
    k: usize,
    config: &CvConfig,
    threads: usize,
) -> Result<Option<FoldResult>> {
    let Some(result) = same_settings(dir, r, k, config)? else {
        return Ok(None);
    };
    let path = dir.join(fold_file_name(r, k));
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

/// Fold `k` of repeat `r`: its result in `dir` if its file is there, checked to come
/// from a run with exactly `config` (any thread count); an error names the first
/// setting that differs.
pub fn same_settings(
    dir: &Path,
    r: usize,
    k: usize,
    config: &CvConfig,
) -> Result<Option<FoldResult>> {
    let path = dir.join(fold_file_name(r, k));
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
    if file.result.fold != k || file.result.folds != config.folds || file.result.repeat != r {
        bail!(
            "{}: holds fold {} of {} of repeat {}, not fold {k} of {} of repeat {r}; {advice}",
            path.display(),
            file.result.fold,
            file.result.folds,
            file.result.repeat,
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
            repeats: 1,
            limit: None,
            data: None,
        };
        let fold = |f, acc| FoldResult {
            repeat: 0,
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
        assert!(merge(config.clone(), vec![fold(0, 0.9), fold(0, 0.9)]).is_err());

        // Two repeats: every (repeat, fold) once, in that order.
        let repeated = CvConfig {
            repeats: 2,
            ..config.clone()
        };
        let of = |r, f, acc| FoldResult {
            repeat: r,
            ..fold(f, acc)
        };
        let all = vec![of(1, 1, 0.7), of(0, 1, 0.8), of(1, 0, 0.6), of(0, 0, 0.9)];
        let r = merge(repeated.clone(), all.clone()).unwrap();
        assert_eq!(r.accuracies, vec![0.9, 0.8, 0.6, 0.7]);
        assert!((r.mean - 0.75).abs() < 1e-12);
        let order: Vec<(usize, usize)> = r.folds.iter().map(|f| (f.repeat, f.fold)).collect();
        assert_eq!(order, [(0, 0), (0, 1), (1, 0), (1, 1)]);
        let e = merge(repeated, all[1..].to_vec()).unwrap_err().to_string();
        assert!(e.contains("each repeat 0..2"), "{e}");
        // A plain run refuses a fold of another repeat.
        assert!(merge(config, vec![of(1, 0, 0.9), of(0, 1, 0.9)]).is_err());
    }

    #[test]
    fn repeats_have_their_own_splits_seeds_and_files_and_repeat_0_is_the_plain_run() {
        assert_eq!(repeat_split_seed(7, 0), 7);
        assert_eq!(repeat_split_seed(7, 2), 9);
        let n = 100;
        assert_ne!(
            kfold(n, 5, repeat_split_seed(1, 0)).unwrap(),
            kfold(n, 5, repeat_split_seed(1, 1)).unwrap()
        );
        for f in 0..5 {
            assert_eq!(repeat_fold_seed(3, 0, 5, f), fold_seed(3, f));
        }
        assert_eq!(repeat_fold_seed(3, 2, 5, 1), 3011);
        assert_eq!(fold_file_name(0, 3), "fold-3.json");
        assert_eq!(fold_file_name(2, 3), "fold-3-repeat-2.json");
        let config = CvConfig {
            train: TrainConfig::default(),
            folds: 5,
            split_seed: 1,
            repeats: 1,
            limit: None,
            data: None,
        };
        assert_eq!(fold_label(&config, 0, 1), "fold 2/5");
        let three = CvConfig {
            repeats: 3,
            ..config
        };
        assert_eq!(fold_label(&three, 2, 1), "repeat 3/3 fold 2/5");
    }

    #[test]
    fn result_files_from_before_repeats_and_the_new_options_still_load() {
        // A fold file's JSON as written before repeats, erasing, EMA and distillation.
        let old = serde_json::json!({
            "config": {
                "train": {"arch": "baseline", "batch_norm": false, "dropout": 0.0,
                          "epochs": 1, "batch_size": 32, "lr": 0.01, "momentum": 0.9,
                          "seed": 1},
                "folds": 2, "split_seed": 1, "limit": 200
            },
            "result": {"fold": 1, "folds": 2, "accuracy": 0.5, "history": [], "seed": 1001,
                       "initial_params": "a", "final_params": "b", "seconds": 1.0,
                       "train_len": 100, "val_len": 100}
        });
        let file: FoldFile = serde_json::from_value(old).unwrap();
        assert_eq!((file.config.repeats, file.result.repeat), (1, 0));
        let t = &file.config.train;
        assert_eq!((t.erase, t.ema, t.distill.is_none()), (0.0, None, true));
    }
}
