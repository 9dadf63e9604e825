//! The training loop: epochs of augmented batches, validation, early stopping,
//! weight averaging, checkpoints and resume.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

use crate::nn::Net;
use crate::train::augment::{alternate_flip, augment_with_flips, erase};
use crate::train::checkpoint::{Best, Checkpoint, CheckpointMeta, RngState};
use crate::train::config::{Optimizer, Schedule, TrainConfig};
use crate::train::distill::{self};
use crate::train::ema::{Ema, restore};
use crate::train::lookahead::Lookahead;
use crate::train::model::loss_and_accuracy;
use crate::train::optim::{OwnedOptimizer, Stepper};
use crate::train::progress::progress_bar;
use crate::train::scene_crops::scene_crops;
use crate::train::tensors::Tensors;

/// Metrics after one epoch. With weight averaging (`ema`), the validation and
/// hold-out figures are those of the averaged weights (the model the run delivers),
/// the training figures those of the weights being trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (as Keras reports it): the
    /// cross-entropy (label-smoothed if set), or the distillation loss with a teacher.
    pub train_loss: f64,
    /// Accuracy over the epoch's training batches.
    pub train_accuracy: f64,
    /// Cross-entropy on the validation data after the epoch, if any.
    pub val_loss: Option<f64>,
    /// Accuracy on the validation data after the epoch, if any.
    pub val_accuracy: Option<f64>,
    /// Wall time of the epoch's training steps (excluding validation), seconds.
    pub train_seconds: f64,
    /// Cross-entropy on the early-stopping hold-out after the epoch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_loss: Option<f64>,
    /// Learning rate at the end of the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

/// Checkpointing of a run: where the checkpoint goes, what it records, and the
/// checkpoint to continue from.
#[derive(Debug)]
pub struct Checkpointing {
    /// The checkpoint file, rewritten atomically after every epoch.
    pub path: PathBuf,
    /// SHA-256 of the training data ([`trainer_core::data::Dataset::digest`]).
    pub data: String,
    /// Continue from this checkpoint (already checked against the run's settings).
    pub resume: Option<Checkpoint>,
    /// Said when the run is interrupted: how to continue it.
    pub resume_hint: String,
}

/// Trains `net` (whose variables are `vs`) on `train`, validating on `val` after
/// every epoch. `label` prefixes the progress bar.
///
/// With early stopping, a seeded hold-out split is carved from `train` (never from
/// `val`); training stops after `patience` epochs without a lower hold-out loss and
/// the weights of the best epoch are restored.
///
/// The training steps run in `cfg.precision` ([`crate::train::precision`]; `auto`
/// is resolved here if the caller has not); validation runs in fp32.
///
/// With weight averaging (`cfg.ema`), validation, the hold-out and the best epoch's
/// snapshot use the averaged weights ([`Ema`]), and the average replaces the weights at
/// the end. With a teacher (`cfg.distill`), the loss is the distillation loss
/// ([`distill::loss`]).
pub fn train(
    vs: &nn::VarStore,
    net: &Net,
    train: &Tensors,
    val: Option<&Tensors>,
    cfg: &TrainConfig,
    label: &str,
) -> anyhow::Result<Vec<EpochStats>> {
    train_with(vs, net, train, val, cfg, label, None)
}

/// [`train`], writing a checkpoint after every epoch and optionally resuming from one.
///
/// A checkpointed run steps with [`OwnedOptimizer`] (whose state can be saved), an
/// unchecked one with tch's optimizer (the one every earlier result was computed with;
/// the two agree up to rounding). A run resumed from the checkpoint of epoch `k` at the
/// same thread count computes exactly the weights an uninterrupted run does. Ctrl-C
/// stops the run before the next step with an [`trainer_core::interrupt::Interrupted`] error.
pub fn train_with(
    vs: &nn::VarStore,
    net: &Net,
    train: &Tensors,
    val: Option<&Tensors>,
    cfg: &TrainConfig,
    label: &str,
    mut checkpointing: Option<Checkpointing>,
) -> anyhow::Result<Vec<EpochStats>> {
    cfg.validate()?;
    let device = train.images.device();
    let compute = cfg.precision.resolve(device).compute_kind();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let (fit, holdout) = match cfg.early_stopping {
        Some(e) => {
            let (fit, hold) = train.split_holdout(e.holdout, cfg.seed)?;
            (fit, Some(hold))
        }
        None => (train.shallow_clone(), None),
    };
    let mut opt = if checkpointing.is_some() {
        Stepper::Owned(OwnedOptimizer::new(vs, cfg))
    } else {
        Stepper::Torch(match cfg.optimizer {
            Optimizer::Sgd | Optimizer::SgdNesterov => nn::Sgd {
                momentum: cfg.momentum,
                wd: cfg.weight_decay,
                nesterov: cfg.optimizer == Optimizer::SgdNesterov,
                ..Default::default()
            }
            .build(vs, cfg.lr)?,
            Optimizer::Adamw => nn::AdamW {
                wd: cfg.weight_decay,
                ..Default::default()
            }
            .build(vs, cfg.lr)?,
        })
    };
    // After the optimizer, which may move the variables into its flat buffer.
    let mut ema = cfg.ema.map(|decay| Ema::new(vs, decay));
    let mut lookahead = cfg.lookahead.map(|c| Lookahead::new(vs, c));
    let teacher = cfg
        .distill
        .as_ref()
        .map(|d| distill::Teacher::load(d, device))
        .transpose()?;
    // Dropout masks come from the network's own generator, seeded for this run.
    net.seed_dropout(cfg.seed.wrapping_add(0x5eed));
    let mut augment_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xa59_3e17);
    let n = fit.len();
    let batch = cfg.batch_size as i64;
    let steps = (n + batch - 1) / batch;
    let total_steps = steps as usize * cfg.epochs;
    let mut order: Vec<i64> = (0..n).collect();
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(f64, usize, HashMap<String, Tensor>)> = None;
    let mut first_epoch = 1;
    if let Some(saved) = checkpointing.as_mut().and_then(|c| c.resume.take()) {
        let m = &saved.meta;
        let vars: HashMap<String, Tensor> = vs
            .variables()
            .into_keys()
            .map(|name| {
                let t = saved.tensor(&format!("var/{name}"))?;
                Ok((name, t.to_device(device)))
            })
            .collect::<anyhow::Result<_>>()?;
        restore(vs, &vars);
        if let Stepper::Owned(o) = &mut opt {
            o.restore(&saved, device)?;
        }
        if let Some(e) = &mut ema {
            // One average update per optimizer step.
            e.restore(&saved, m.optimizer_steps, device)?;
        }
        if let Some(l) = &mut lookahead {
            l.restore(&saved, m.optimizer_steps, device)?;
        }
        rng = m.batch_rng.restore()?;
        augment_rng = m.augment_rng.restore()?;
        net.set_dropout_rng(m.dropout_rng.restore()?);
        order = Vec::<i64>::try_from(saved.tensor("order")?)?;
        if order.len() as i64 != n {
            anyhow::bail!(
                "checkpoint: the batch order has {} images, not {n}",
                order.len()
            );
        }
        history = m.history.clone();
        if let Some(b) = m.best {
            let snapshot = vs
                .variables()
                .into_keys()
                .map(|name| {
                    let t = saved.tensor(&format!("best/{name}"))?;
                    Ok((name, t.to_device(device)))
                })
                .collect::<anyhow::Result<_>>()?;
            best = Some((b.loss, b.epoch, snapshot));
        }
        first_epoch = m.epoch + 1;
        eprintln!("{label} resumed after epoch {}/{}", m.epoch, cfg.epochs);
    }
    let hint = |c: &Option<Checkpointing>| {
        c.as_ref().map_or_else(
            || "nothing of this run was saved".to_owned(),
            |c| c.resume_hint.clone(),
        )
    };
    for epoch in first_epoch..=cfg.epochs {
        let bar = progress_bar(
            steps as u64,
            &format!("{label} epoch {epoch}/{}", cfg.epochs),
        );
        let start = Instant::now();
        order.shuffle(&mut rng);
        let perm = Tensor::from_slice(&order).to_device(device);
        let mut loss_sum = Tensor::zeros([], (Kind::Float, device));
        let mut correct = Tensor::zeros([], (Kind::Int64, device));
        let mut lr = cfg.lr;
        for step in 0..steps {
            trainer_core::interrupt::check(|| hint(&checkpointing))?;
            if cfg.schedule != Schedule::Constant {
                lr = cfg.schedule.rate(
                    cfg.lr,
                    (epoch - 1) * steps as usize + step as usize,
                    total_steps,
                );
                if let Stepper::Torch(o) = &mut opt {
                    o.set_lr(lr);
                }
            }
            let take = batch.min(n - step * batch);
            let idx = perm.narrow(0, step * batch, take);
            let flips: Option<Vec<bool>> = cfg.augment.alternate_flip.then(|| {
                let start = (step * batch) as usize;
                order[start..start + take as usize]
                    .iter()
                    .map(|&i| alternate_flip(cfg.seed, i, epoch))
                    .collect()
            });
            let xs = augment_with_flips(
                &fit.images.index_select(0, &idx),
                cfg.augment,
                flips.as_deref(),
                &mut augment_rng,
            );
            let xs = scene_crops(&xs, cfg.scene_crops, &mut augment_rng);
            let xs = erase(&xs, cfg.erase, &mut augment_rng);
            let ys = fit.labels.index_select(0, &idx);
            let out = net.forward_in(&xs, true, compute);
            let loss = match (&teacher, &cfg.distill) {
                (Some(t), Some(d)) => {
                    distill::loss(&out, &t.logits(&xs), &ys, cfg.label_smoothing, d)
                }
                _ => distill::hard_loss(&out, &ys, cfg.label_smoothing),
            };
            match &mut opt {
                Stepper::Torch(o) => o.backward_step(&loss),
                Stepper::Owned(o) => o.step(&loss, lr)?,
            }
            if let Some(l) = &mut lookahead {
                l.after_step();
            }
            if let Some(e) = &mut ema {
                e.update();
            }
            tch::no_grad(|| {
                loss_sum += loss.detach() * take as f64;
                correct += out.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64);
            });
            bar.inc(1);
        }
        let train_loss = loss_sum.double_value(&[]) / n as f64;
        if !train_loss.is_finite() {
            anyhow::bail!(
                "{label}: the training loss became {train_loss} in epoch {epoch} (learning rate too high?)"
            );
        }
        let train_accuracy = correct.int64_value(&[]) as f64 / n as f64;
        let train_seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        // Validated, held out and kept as the best epoch: the averaged weights.
        if let Some(e) = &mut ema {
            e.swap();
        }
        let (val_loss, val_accuracy) = match val {
            Some(v) => {
                let (l, a) = loss_and_accuracy(net, v);
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let holdout_loss = holdout.as_ref().map(|h| loss_and_accuracy(net, h).0);
        let stats = EpochStats {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            train_seconds,
            holdout_loss,
            lr: Some(lr),
        };
        eprintln!("{label} {}", describe(&stats));
        history.push(stats);
        let mut stop = false;
        if let (Some(e), Some(h)) = (cfg.early_stopping, holdout_loss) {
            if best.as_ref().is_none_or(|(b, _, _)| h < *b) {
                let snapshot = tch::no_grad(|| {
                    vs.variables()
                        .into_iter()
                        .map(|(name, t)| (name, t.copy()))
                        .collect()
                });
                best = Some((h, epoch, snapshot));
            } else if best
                .as_ref()
                .is_some_and(|(_, at, _)| epoch - at >= e.patience)
            {
                eprintln!(
                    "{label} early stop: no better hold-out loss for {} epochs",
                    e.patience
                );
                stop = true;
            }
        }
        if let Some(e) = &mut ema {
            e.swap();
        }
        if stop {
            break;
        }
        if let (Some(c), Stepper::Owned(o)) = (&checkpointing, &opt) {
            let meta = CheckpointMeta {
                format: crate::train::checkpoint::FORMAT,
                config: cfg.clone(),
                data: c.data.clone(),
                threads: tch::get_num_threads(),
                epoch,
                history: history.clone(),
                batch_rng: RngState::of(&rng),
                augment_rng: RngState::of(&augment_rng),
                dropout_rng: RngState::of(&net.dropout_rng()),
                optimizer_steps: o.steps,
                best: best.as_ref().map(|(loss, epoch, _)| Best {
                    loss: *loss,
                    epoch: *epoch,
                }),
            };
            let mut tensors: Vec<(String, Tensor)> = vs
                .variables()
                .into_iter()
                .map(|(name, t)| (format!("var/{name}"), t))
                .collect();
            tensors.extend(o.state());
            if let Some(e) = &ema {
                tensors.extend(e.state());
            }
            if let Some(l) = &lookahead {
                tensors.extend(l.state());
            }
            if let Some((_, _, snapshot)) = &best {
                tensors.extend(
                    snapshot
                        .iter()
                        .map(|(name, t)| (format!("best/{name}"), t.shallow_clone())),
                );
            }
            tensors.push(("order".to_owned(), Tensor::from_slice(&order)));
            crate::train::checkpoint::save(&c.path, &meta, &tensors)?;
            trainer_core::interrupt::test_pause("checkpoint");
        }
    }
    if let Some((_, at, snapshot)) = best {
        restore(vs, &snapshot);
        history.truncate(at);
        eprintln!("{label} restored the weights of epoch {at}");
    } else if let Some(e) = &ema {
        // Folded into the weights: what is evaluated, saved and exported.
        e.fold();
    }
    Ok(history)
}

pub(super) fn describe(s: &EpochStats) -> String {
    let mut line = format!(
        "epoch {:>2}: loss {:.4} acc {:.4}",
        s.epoch, s.train_loss, s.train_accuracy
    );
    if let (Some(l), Some(a)) = (s.val_loss, s.val_accuracy) {
        line += &format!(" | val loss {l:.4} acc {a:.4}");
    }
    if let Some(h) = s.holdout_loss {
        line += &format!(" | hold-out loss {h:.4}");
    }
    line + &format!(" | {:.1} s", s.train_seconds)
}
