//! The training loop (SGD with momentum, cross-entropy) and evaluation helpers.

pub mod checkpoint;
pub mod distill;
pub mod progress;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::nn::{Arch, Net, NetOptions};
use crate::train::checkpoint::{Best, Checkpoint, CheckpointMeta, RngState};
pub use crate::train::distill::Distill;
use trainer_core::data::{Dataset, IMAGE_SIDE};

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// SGD with momentum (the seed's); `--weight-decay` is an L2 penalty.
    #[default]
    Sgd,
    /// AdamW (betas 0.9, 0.999); `--weight-decay` is decoupled.
    Adamw,
}

/// How the learning rate changes over the run (per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The same rate throughout (the seed's).
    #[default]
    Constant,
    /// Cosine decay from the rate to zero.
    Cosine,
    /// One cycle: linear warm-up from rate/25 over the first 30 % of steps, then
    /// cosine decay to rate/10,000 (as PyTorch's `OneCycleLR`).
    Onecycle,
}

impl Schedule {
    /// The learning rate at `step` of `total` steps for peak rate `lr`.
    pub fn rate(self, lr: f64, step: usize, total: usize) -> f64 {
        let t = step as f64 / total.max(1) as f64;
        let cos = |from: f64, to: f64, u: f64| {
            to + 0.5 * (from - to) * (1.0 + (std::f64::consts::PI * u).cos())
        };
        match self {
            Schedule::Constant => lr,
            Schedule::Cosine => cos(lr, 0.0, t),
            Schedule::Onecycle => {
                const WARM: f64 = 0.3;
                if t < WARM {
                    lr / 25.0 + (lr - lr / 25.0) * t / WARM
                } else {
                    cos(lr, lr / 1e4, (t - WARM) / (1.0 - WARM))
                }
            }
        }
    }
}

/// Random training-time changes of each image (off by default). Random erasing,
/// applied after these, is [`TrainConfig::erase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Augment {
    /// Largest random shift in pixels, each direction (0 = none); uncovered pixels are 0.
    /// This is pad-and-crop (torchvision's `RandomCrop(28, padding=shift)`): zero
    /// padding of `shift` pixels on every side, then a 28x28 crop at a uniformly random
    /// offset (`--shift N`, alias `--pad-crop N`).
    pub shift: i64,
    /// Mirror half of the images left to right, at random.
    pub flip: bool,
}

impl Augment {
    /// True when it changes nothing.
    pub fn is_off(&self) -> bool {
        self.shift == 0 && !self.flip
    }
}

/// Early stopping on a hold-out split carved from the training data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without a lower hold-out loss before training stops.
    pub patience: usize,
    /// Fraction of the training images held out (never the fold's validation data).
    pub holdout: f64,
}

/// Hyper-parameters of one training run: everything needed to repeat it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The architecture.
    pub arch: Arch,
    /// Batch norm and dropout.
    #[serde(flatten)]
    pub net: NetOptions,
    /// Passes over the training data (at most, with early stopping).
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Learning rate (the peak rate of a schedule).
    pub lr: f64,
    /// SGD momentum (unused by AdamW).
    pub momentum: f64,
    /// Seeds the weight initialisation, the batch order, dropout and augmentation.
    pub seed: u64,
    /// The optimizer.
    #[serde(default)]
    pub optimizer: Optimizer,
    /// Weight decay (L2 for SGD, decoupled for AdamW).
    #[serde(default)]
    pub weight_decay: f64,
    /// Learning-rate schedule.
    #[serde(default)]
    pub schedule: Schedule,
    /// Data augmentation.
    #[serde(default)]
    pub augment: Augment,
    /// Label smoothing of the cross-entropy (0 = none).
    #[serde(default)]
    pub label_smoothing: f64,
    /// Early stopping, if any.
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Random erasing: the probability that an image gets one random rectangle set to 0,
    /// after the shift and flip ([`erase`]; 0 = off).
    #[serde(default)]
    pub erase: f64,
    /// Weight averaging: the decay of an exponential moving average of the weights and
    /// batch-norm statistics ([`Ema`]), which replaces the weights at the end (None = off).
    #[serde(default)]
    pub ema: Option<f64>,
    /// Knowledge distillation from a saved teacher model, if any ([`distill`]).
    #[serde(default)]
    pub distill: Option<Distill>,
}

impl Default for TrainConfig {
    /// The seed study's settings: baseline, SGD lr 0.01, momentum 0.9, batch 32, 10 epochs.
    fn default() -> Self {
        TrainConfig {
            arch: Arch::baseline(),
            net: NetOptions::default(),
            epochs: 10,
            batch_size: 32,
            lr: 0.01,
            momentum: 0.9,
            seed: 1,
            optimizer: Optimizer::Sgd,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            augment: Augment::default(),
            label_smoothing: 0.0,
            early_stopping: None,
            erase: 0.0,
            ema: None,
            distill: None,
        }
    }
}

/// The training settings a model uses unless told otherwise: the seed study's for
/// every model but `mcu`, whose recipe came out of the search in `docs/results.md`.
pub fn recipe(arch: &Arch) -> TrainConfig {
    let seed = TrainConfig {
        arch: arch.clone(),
        ..TrainConfig::default()
    };
    match arch.name() {
        "mcu" => TrainConfig {
            net: NetOptions {
                batch_norm: true,
                dropout: 0.0,
            },
            epochs: 30,
            batch_size: 128,
            lr: 0.003,
            optimizer: Optimizer::Adamw,
            weight_decay: 0.05,
            schedule: Schedule::Onecycle,
            augment: Augment {
                shift: 2,
                flip: true,
            },
            label_smoothing: 0.1,
            ..seed
        },
        // The second search's best (docs/results.md): the same recipe, 60 epochs.
        "mcu-long" => TrainConfig {
            arch: arch.clone(),
            epochs: 60,
            ..recipe(&Arch::parse("mcu").expect("named"))
        },
        _ => seed,
    }
}

impl TrainConfig {
    /// Checks the values: a clear message instead of a NaN run or a panic.
    pub fn validate(&self) -> anyhow::Result<()> {
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        if self.epochs == 0 || self.batch_size == 0 {
            anyhow::bail!("--epochs and --batch-size must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            anyhow::bail!("--lr must be a positive number (got {})", self.lr);
        }
        if !finite_nonneg(self.momentum) || self.momentum >= 1.0 {
            anyhow::bail!("--momentum must be in [0, 1) (got {})", self.momentum);
        }
        if !finite_nonneg(self.weight_decay) {
            anyhow::bail!("--weight-decay must be >= 0 (got {})", self.weight_decay);
        }
        if !finite_nonneg(self.net.dropout) || self.net.dropout >= 1.0 {
            anyhow::bail!("--dropout must be in [0, 1) (got {})", self.net.dropout);
        }
        if !finite_nonneg(self.label_smoothing) || self.label_smoothing >= 1.0 {
            anyhow::bail!(
                "--label-smoothing must be in [0, 1) (got {})",
                self.label_smoothing
            );
        }
        if !(0..=8).contains(&self.augment.shift) {
            anyhow::bail!("--shift must be 0..=8 pixels (got {})", self.augment.shift);
        }
        if let Some(e) = self.early_stopping
            && (e.patience == 0 || !(e.holdout > 0.0 && e.holdout < 0.5))
        {
            anyhow::bail!("early stopping needs --patience >= 1 and --holdout in (0, 0.5)");
        }
        if !(finite_nonneg(self.erase) && self.erase <= 1.0) {
            anyhow::bail!("--erase must be in [0, 1] (got {})", self.erase);
        }
        if let Some(d) = self.ema
            && !(d.is_finite() && d > 0.0 && d < 1.0)
        {
            anyhow::bail!("--ema must be in (0, 1), e.g. 0.999 (got {d})");
        }
        if let Some(d) = &self.distill {
            d.validate()?;
        }
        Ok(())
    }
}

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

/// Images and labels as tensors on a device.
#[derive(Debug)]
pub struct Tensors {
    /// `[N, 1, 28, 28]` float pixels in [0, 1].
    pub images: Tensor,
    /// `[N]` int64 labels.
    pub labels: Tensor,
}

impl Tensors {
    /// Converts a dataset: pixels are scaled to [0, 1].
    pub fn new(data: &Dataset, device: Device) -> Tensors {
        let n = data.len() as i64;
        let side = IMAGE_SIDE as i64;
        let images = Tensor::from_slice(&data.images)
            .view([n, 1, side, side])
            .to_kind(Kind::Float)
            .divide_scalar(255.0)
            .to_device(device);
        let labels = Tensor::from_slice(&data.labels)
            .to_kind(Kind::Int64)
            .to_device(device);
        Tensors { images, labels }
    }

    /// Number of images.
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same tensors (no copy).
    pub fn shallow_clone(&self) -> Tensors {
        Tensors {
            images: self.images.shallow_clone(),
            labels: self.labels.shallow_clone(),
        }
    }

    /// Splits off a seeded random `fraction` as a hold-out: `(rest, holdout)`.
    pub fn split_holdout(&self, fraction: f64, seed: u64) -> anyhow::Result<(Tensors, Tensors)> {
        let n = self.len();
        let k = (n as f64 * fraction).round() as i64;
        if k < 1 || k >= n {
            anyhow::bail!(
                "a hold-out of {fraction} of {n} images leaves nothing to train on or to check"
            );
        }
        let mut order: Vec<i64> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x4_01d0));
        let (hold, rest) = order.split_at(k as usize);
        let pick = |idx: &[i64]| {
            let mut idx = idx.to_vec();
            idx.sort_unstable();
            let t = Tensor::from_slice(&idx).to_device(self.images.device());
            Tensors {
                images: self.images.index_select(0, &t),
                labels: self.labels.index_select(0, &t),
            }
        };
        Ok((pick(rest), pick(hold)))
    }
}

/// The device training uses: the first CUDA device when libtorch sees one, else the CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

/// A freshly initialised network and its variables, seeded by `seed`.
///
/// libtorch's random generator is global to the process, so seeding and drawing the
/// initial weights happen under one lock: two threads creating models at once (tests,
/// or folds run side by side) still get exactly the weights their seeds promise.
pub fn fresh_model(
    arch: &Arch,
    options: NetOptions,
    seed: u64,
    device: Device,
) -> (nn::VarStore, Net) {
    let _guard = TORCH_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), arch, options);
    (vs, net)
}

/// Guards libtorch's process-global random generator (weight initialisation).
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// SHA-256 over every variable (sorted by name): tells two weight sets apart.
pub fn param_digest(vs: &nn::VarStore) -> String {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (name, t) in vars {
        hasher.update(name.as_bytes());
        let flat = t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
        let values: Vec<f32> = Vec::<f32>::try_from(&flat).expect("float tensor");
        for v in values {
            hasher.update(v.to_le_bytes());
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Logits for every image, computed in batches without gradients.
pub fn logits(net: &Net, images: &Tensor, batch: i64) -> Tensor {
    tch::no_grad(|| {
        let n = images.size()[0];
        let chunks: Vec<Tensor> = (0..n)
            .step_by(batch as usize)
            .map(|start| net.forward_t(&images.narrow(0, start, batch.min(n - start)), false))
            .collect();
        Tensor::cat(&chunks, 0)
    })
}

/// Mean cross-entropy and accuracy of `net` on `data`.
pub fn loss_and_accuracy(net: &Net, data: &Tensors) -> (f64, f64) {
    let out = logits(net, &data.images, 1000);
    let loss = out.cross_entropy_for_logits(&data.labels).double_value(&[]);
    let acc = out.accuracy_for_logits(&data.labels).double_value(&[]);
    (loss, acc)
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
            Optimizer::Sgd => nn::Sgd {
                momentum: cfg.momentum,
                wd: cfg.weight_decay,
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
            let xs = augment(
                &fit.images.index_select(0, &idx),
                cfg.augment,
                &mut augment_rng,
            );
            let xs = erase(&xs, cfg.erase, &mut augment_rng);
            let ys = fit.labels.index_select(0, &idx);
            let out = net.forward_t(&xs, true);
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

/// The optimizer a run steps with.
enum Stepper {
    /// tch's (libtorch's C++) optimizer: its state cannot be read or set.
    Torch(nn::Optimizer),
    /// Ours, on tensors we own: its state goes into checkpoints.
    Owned(OwnedOptimizer),
}

/// SGD with momentum (L2 weight decay) and AdamW (betas 0.9, 0.999, eps 1e-8,
/// decoupled weight decay), implemented on tensors this struct owns so that their
/// state can be checkpointed. The update rules are libtorch's (`torch::optim::SGD`,
/// `torch::optim::AdamW`); the results differ from tch's optimizer only in rounding
/// (libtorch fuses some multiply-adds that tch's tensor API cannot express).
///
/// All trainable variables live in one flat buffer: at construction each variable's
/// data is replaced (`set_data`, the same values) by a view of its slice of `flat`,
/// so the network, the `VarStore` and this optimizer share that memory. A step
/// concatenates the gradients once and updates the flat parameters and moments with
/// about a dozen whole-buffer operations, whatever the number of variables (one set
/// per variable before: about 12 operations for each of the 26 variables of `mcu`).
/// Every element goes through the same arithmetic as in the per-variable version,
/// so the numbers are the same.
#[derive(Debug)]
pub struct OwnedOptimizer {
    kind: Optimizer,
    momentum: f64,
    weight_decay: f64,
    /// The trainable variables, by name (sorted), with their offsets in `flat`.
    params: Vec<FlatVar>,
    /// Every trainable variable, concatenated (their data are views of it).
    flat: Tensor,
    /// SGD momentum buffer, or AdamW first moment, flat (none before the first step).
    first: Option<Tensor>,
    /// AdamW second moment, flat.
    second: Option<Tensor>,
    /// Steps taken.
    steps: u64,
}

/// One trainable variable of an [`OwnedOptimizer`] and where it lies in the flat buffer.
#[derive(Debug)]
struct FlatVar {
    name: String,
    var: Tensor,
    offset: i64,
    numel: i64,
    shape: Vec<i64>,
}

impl FlatVar {
    /// This variable's slice of a flat buffer, in its shape.
    fn of(&self, flat: &Tensor) -> Tensor {
        flat.narrow(0, self.offset, self.numel)
            .view(self.shape.as_slice())
    }

    /// The variables of `vs` that `keep` selects, sorted by name, with consecutive
    /// offsets in a flat buffer.
    fn list(vs: &nn::VarStore, keep: impl Fn(&Tensor) -> bool) -> Vec<FlatVar> {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| keep(t))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut offset = 0;
        vars.into_iter()
            .map(|(name, var)| {
                let numel = var.numel() as i64;
                let p = FlatVar {
                    name,
                    shape: var.size(),
                    var,
                    offset,
                    numel,
                };
                offset += numel;
                p
            })
            .collect()
    }

    /// The current values of `vars`, concatenated into a new flat buffer on `device`.
    fn concat(vars: &[FlatVar], device: Device) -> Tensor {
        tch::no_grad(|| {
            let parts: Vec<Tensor> = vars.iter().map(|p| p.var.reshape([-1])).collect();
            if parts.is_empty() {
                Tensor::zeros([0], (Kind::Float, device))
            } else {
                Tensor::cat(&parts, 0)
            }
        })
    }

    /// The checkpoint tensors `<prefix>/<name>` of `vars`, concatenated into a flat
    /// buffer on `device`; None when the checkpoint has none of them.
    fn saved(
        vars: &[FlatVar],
        saved: &Checkpoint,
        prefix: &str,
        device: Device,
    ) -> anyhow::Result<Option<Tensor>> {
        let mut parts = Vec::with_capacity(vars.len());
        for p in vars {
            let Some(t) = saved.tensors.get(&format!("{prefix}/{}", p.name)) else {
                return Ok(None);
            };
            if t.size() != p.shape {
                anyhow::bail!(
                    "checkpoint: {prefix}/{} has shape {:?}, the variable {:?}",
                    p.name,
                    t.size(),
                    p.shape
                );
            }
            parts.push(t.reshape([-1]));
        }
        Ok((!parts.is_empty()).then(|| Tensor::cat(&parts, 0).to_device(device)))
    }
}

const ADAM_BETA1: f64 = 0.9;
const ADAM_BETA2: f64 = 0.999;
const ADAM_EPS: f64 = 1e-8;

impl OwnedOptimizer {
    /// An optimizer for the trainable variables of `vs` with the settings of `cfg`.
    /// Moves the variables' data into one flat buffer (same values, see the type's docs).
    pub fn new(vs: &nn::VarStore, cfg: &TrainConfig) -> OwnedOptimizer {
        let params = FlatVar::list(vs, Tensor::requires_grad);
        let flat = FlatVar::concat(&params, vs.device());
        for p in &params {
            // The variable keeps its identity (autograd leaf, the network's handle),
            // only its storage changes.
            p.var.shallow_clone().set_data(&p.of(&flat));
        }
        OwnedOptimizer {
            kind: cfg.optimizer,
            momentum: cfg.momentum,
            weight_decay: cfg.weight_decay,
            params,
            flat,
            first: None,
            second: None,
            steps: 0,
        }
    }

    /// One step on the gradients of `loss` at learning rate `lr`.
    pub fn step(&mut self, loss: &Tensor, lr: f64) -> anyhow::Result<()> {
        let vars: Vec<&Tensor> = self.params.iter().map(|p| &p.var).collect();
        let grads = Tensor::run_backward(&[loss], &vars, false, false);
        self.steps += 1;
        let wd = self.weight_decay;
        tch::no_grad(|| -> anyhow::Result<()> {
            let parts: Vec<Tensor> = grads.iter().map(|g| g.reshape([-1])).collect();
            let g = Tensor::f_cat(&parts, 0)?;
            let mut p = self.flat.shallow_clone();
            match self.kind {
                Optimizer::Sgd => {
                    let mut d = g;
                    if wd != 0.0 {
                        d += &p * wd;
                    }
                    if self.momentum != 0.0 {
                        let buf = match self.first.take() {
                            None => d.copy(),
                            Some(mut b) => {
                                let _ = b.f_mul_scalar_(self.momentum)?;
                                b += &d;
                                b
                            }
                        };
                        d = buf.shallow_clone();
                        self.first = Some(buf);
                    }
                    let _ = p.f_sub_(&(d * lr))?;
                }
                Optimizer::Adamw => {
                    if wd != 0.0 {
                        let _ = p.f_mul_scalar_(1.0 - lr * wd)?;
                    }
                    let t = self.steps as i32;
                    let m = match self.first.take() {
                        None => &g * (1.0 - ADAM_BETA1),
                        Some(mut m) => {
                            let _ = m.f_mul_scalar_(ADAM_BETA1)?;
                            m += &g * (1.0 - ADAM_BETA1);
                            m
                        }
                    };
                    let v = match self.second.take() {
                        None => (&g * &g) * (1.0 - ADAM_BETA2),
                        Some(mut v) => {
                            let _ = v.f_mul_scalar_(ADAM_BETA2)?;
                            v += (&g * &g) * (1.0 - ADAM_BETA2);
                            v
                        }
                    };
                    let correction1 = 1.0 - ADAM_BETA1.powi(t);
                    let correction2 = 1.0 - ADAM_BETA2.powi(t);
                    let mut denom = v.sqrt();
                    let _ = denom.f_div_scalar_(correction2.sqrt())?;
                    let _ = denom.f_add_scalar_(ADAM_EPS)?;
                    let mut update = &m / denom;
                    let _ = update.f_mul_scalar_(lr / correction1)?;
                    let _ = p.f_sub_(&update)?;
                    self.first = Some(m);
                    self.second = Some(v);
                }
            }
            Ok(())
        })
    }

    /// The state to checkpoint: `opt.m/<name>` and `opt.v/<name>` tensors (views of
    /// the flat buffers, in each variable's shape).
    fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for p in &self.params {
            if let Some(m) = &self.first {
                out.push((format!("opt.m/{}", p.name), p.of(m)));
            }
            if let Some(v) = &self.second {
                out.push((format!("opt.v/{}", p.name), p.of(v)));
            }
        }
        out
    }

    /// Takes the state saved in `saved` (the step count and every buffer).
    fn restore(&mut self, saved: &Checkpoint, device: Device) -> anyhow::Result<()> {
        self.steps = saved.meta.optimizer_steps;
        self.first = FlatVar::saved(&self.params, saved, "opt.m", device)?;
        self.second = FlatVar::saved(&self.params, saved, "opt.v", device)?;
        let needs_state = self.steps > 0
            && (self.kind == Optimizer::Adamw || self.momentum != 0.0)
            && (self.first.is_none() || (self.kind == Optimizer::Adamw && self.second.is_none()));
        if needs_state {
            anyhow::bail!("checkpoint: optimizer state missing");
        }
        Ok(())
    }
}

/// An exponential moving average of a network's weights and batch-norm running
/// statistics (every float variable), for weight averaging (`--ema DECAY`).
///
/// After every optimizer step, `average ← d·average + (1 - d)·current` with
/// `d = min(decay, (1 + n) / (10 + n))` at the n-th update (TensorFlow's
/// `ExponentialMovingAverage` with `num_updates`): the warm-up keeps a short run from
/// averaging in its random initial weights. The average lives in one flat buffer, so an
/// update is one concatenation and one `lerp_`, whatever the number of variables.
/// Averaging the batch-norm statistics too (as timm's `ModelEma` does) keeps them those
/// of the averaged trajectory without an extra pass over the data. The training
/// loop evaluates the average after every epoch ([`Ema::swap`]) and folds it into the
/// weights at the end ([`Ema::fold`]); checkpoints hold it as `ema/<name>`.
#[derive(Debug)]
pub struct Ema {
    decay: f64,
    updates: u64,
    /// Every float variable, by name (sorted), with its offset in `average`.
    vars: Vec<FlatVar>,
    /// The average, flat.
    average: Tensor,
}

impl Ema {
    /// An average of the variables of `vs`, starting at their current values.
    pub fn new(vs: &nn::VarStore, decay: f64) -> Ema {
        let vars = FlatVar::list(vs, |t| t.kind() == Kind::Float);
        let average = FlatVar::concat(&vars, vs.device());
        Ema {
            decay,
            updates: 0,
            vars,
            average,
        }
    }

    /// The decay of the next update (with the warm-up of the type's docs).
    fn next_decay(&self) -> f64 {
        let n = (self.updates + 1) as f64;
        self.decay.min((1.0 + n) / (10.0 + n))
    }

    /// Moves the average towards the variables' current values (after a step).
    pub fn update(&mut self) {
        let d = self.next_decay();
        self.updates += 1;
        let current = FlatVar::concat(&self.vars, self.average.device());
        tch::no_grad(|| {
            let _ = self.average.lerp_(&current, 1.0 - d);
        });
    }

    /// Exchanges the variables' values and the average: the network then computes with
    /// the averaged weights; a second call gives the trained ones back (bit for bit).
    pub fn swap(&mut self) {
        let current = FlatVar::concat(&self.vars, self.average.device());
        self.fold();
        self.average = current;
    }

    /// Copies the average into the variables (the end of training).
    pub fn fold(&self) {
        tch::no_grad(|| {
            for p in &self.vars {
                p.var.shallow_clone().copy_(&p.of(&self.average));
            }
        });
    }

    /// The state to checkpoint: `ema/<name>` (views of the flat average).
    fn state(&self) -> Vec<(String, Tensor)> {
        self.vars
            .iter()
            .map(|p| (format!("ema/{}", p.name), p.of(&self.average)))
            .collect()
    }

    /// Takes the average saved in `saved`, after `updates` updates.
    fn restore(&mut self, saved: &Checkpoint, updates: u64, device: Device) -> anyhow::Result<()> {
        self.average = FlatVar::saved(&self.vars, saved, "ema", device)?
            .context("checkpoint: the weight average (ema/) is missing")?;
        self.updates = updates;
        Ok(())
    }
}

/// Copies saved values (weights and batch-norm statistics) back into the variables.
fn restore(vs: &nn::VarStore, snapshot: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            if let Some(saved) = snapshot.get(&name) {
                var.copy_(saved);
            }
        }
    });
}

/// Random shifts (zero fill) and left-right flips of a batch `[B, 1, H, W]`.
///
/// Each image is flipped with probability 1/2 and shifted by `dy`, `dx` drawn
/// uniformly from `-shift..=shift` (uncovered pixels are 0). The draws come from `rng`
/// in a fixed order (every image's flip, then each image's `dy` and `dx`), and the
/// whole batch is moved with one zero pad and one `gather` whose source indices are
/// computed here: three tensor operations per batch, whatever its size (the first
/// version narrowed and stacked every image: 3 operations per image). The result is
/// exactly the first version's (a unit test keeps it as the oracle).
pub fn augment(xs: &Tensor, aug: Augment, rng: &mut ChaCha8Rng) -> Tensor {
    use rand::Rng;
    if aug.is_off() {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    let flips: Vec<bool> = if aug.flip {
        (0..b).map(|_| rng.random_bool(0.5)).collect()
    } else {
        vec![false; b as usize]
    };
    let s = aug.shift;
    let (ph, pw) = (h + 2 * s, w + 2 * s);
    let mut index = Vec::with_capacity((b * h * w) as usize);
    for &flip in &flips {
        let (dy, dx) = if s > 0 {
            (rng.random_range(0..=2 * s), rng.random_range(0..=2 * s))
        } else {
            (0, 0)
        };
        // Output pixel (y, x) is padded pixel (y + dy, x + dx) of the image, or of its
        // mirror image: (y + dy, pw - 1 - (x + dx)) of the unflipped one.
        for y in 0..h {
            let row = (y + dy) * pw;
            for x in 0..w {
                let col = if flip { pw - 1 - (x + dx) } else { x + dx };
                index.push(row + col);
            }
        }
    }
    let padded = if s > 0 {
        xs.constant_pad_nd([s, s, s, s])
    } else {
        xs.shallow_clone()
    };
    let index = Tensor::from_slice(&index)
        .to_device(xs.device())
        .view([b, h * w]);
    padded
        .reshape([b, ph * pw])
        .gather(1, &index, false)
        .view([b, 1, h, w])
}

/// The area of a random-erasing rectangle, as a fraction of the image (Zhong et al.,
/// "Random erasing data augmentation", 2020, and torchvision's `RandomErasing`).
pub const ERASE_AREA: (f64, f64) = (0.02, 0.33);
/// The aspect ratio (height / width) of a random-erasing rectangle, drawn log-uniformly.
pub const ERASE_ASPECT: (f64, f64) = (0.3, 3.3);

/// Random erasing of a batch `[B, 1, H, W]`: each image, with probability `p`, gets one
/// rectangle set to 0 (the background of Fashion-MNIST, as the shifts' fill).
///
/// A rectangle's area is drawn uniformly from [`ERASE_AREA`] of the image and its
/// aspect ratio log-uniformly from [`ERASE_ASPECT`]; its height and width are rounded,
/// and a rectangle that does not fit is drawn again, at most 10 times (then the image
/// is left as it is), as torchvision's `RandomErasing` does; its corner is uniform
/// among the places where it fits. The draws come from `rng`, image by image (the
/// coin, then the rectangle's area, aspect, row and column); `p` = 0 draws nothing and
/// returns `xs`. The rectangles are drawn into a 0/1 mask on the host and applied with
/// one multiplication, whatever the batch size.
pub fn erase(xs: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Tensor {
    if p <= 0.0 {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    let mut mask = vec![1f32; (b * h * w) as usize];
    for image in mask.chunks_exact_mut((h * w) as usize) {
        if let Some((top, left, eh, ew)) = erase_rectangle(h, w, p, rng) {
            for row in image.chunks_exact_mut(w as usize).skip(top).take(eh) {
                row[left..left + ew].fill(0.0);
            }
        }
    }
    let mask = Tensor::from_slice(&mask)
        .to_device(xs.device())
        .view([b, 1, h, w]);
    xs * mask
}

/// The rectangle erased from one `h` x `w` image (row, column, height, width), if any:
/// the draws of [`erase`] for one image.
pub fn erase_rectangle(
    h: i64,
    w: i64,
    p: f64,
    rng: &mut ChaCha8Rng,
) -> Option<(usize, usize, usize, usize)> {
    use rand::Rng;
    if !rng.random_bool(p) {
        return None;
    }
    let area = (h * w) as f64;
    let (lo, hi) = (ERASE_ASPECT.0.ln(), ERASE_ASPECT.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(ERASE_AREA.0..ERASE_AREA.1);
        let aspect = rng.random_range(lo..hi).exp();
        let eh = (target * aspect).sqrt().round() as i64;
        let ew = (target / aspect).sqrt().round() as i64;
        if !(eh >= 1 && ew >= 1 && eh < h && ew < w) {
            continue;
        }
        let top = rng.random_range(0..=h - eh);
        let left = rng.random_range(0..=w - ew);
        return Some((top as usize, left as usize, eh as usize, ew as usize));
    }
    None
}

fn describe(s: &EpochStats) -> String {
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

/// A progress bar on stderr (drawn only on a terminal), or reported as lines to a
/// parent process when [`crate::train::progress::report_as_lines`] is on.
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    // In a `cv --jobs` worker, the parent draws the bar from progress lines instead.
    crate::train::progress::watch(&bar);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first version of [`augment`], one `narrow` per image and a `stack`: the oracle.
    fn augment_per_image(xs: &Tensor, aug: Augment, rng: &mut ChaCha8Rng) -> Tensor {
        use rand::Rng;
        let size = xs.size();
        let (b, h, w) = (size[0], size[2], size[3]);
        let mut out = xs.shallow_clone();
        if aug.flip {
            let mask: Vec<bool> = (0..b).map(|_| rng.random_bool(0.5)).collect();
            let mask = Tensor::from_slice(&mask)
                .to_device(xs.device())
                .view([b, 1, 1, 1]);
            out = out.flip([3]).where_self(&mask, &out);
        }
        if aug.shift > 0 {
            let s = aug.shift;
            let padded = out.constant_pad_nd([s, s, s, s]);
            let shifted: Vec<Tensor> = (0..b)
                .map(|i| {
                    let dy = rng.random_range(0..=2 * s);
                    let dx = rng.random_range(0..=2 * s);
                    padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
                })
                .collect();
            out = Tensor::stack(&shifted, 0);
        }
        out
    }

    #[test]
    fn batched_augmentation_is_exactly_the_per_image_one() {
        tch::manual_seed(11);
        let xs = Tensor::rand([37, 1, 28, 28], tch::kind::FLOAT_CPU);
        for (shift, flip) in [(2, true), (0, true), (3, false), (8, true), (1, false)] {
            let aug = Augment { shift, flip };
            let mut a = ChaCha8Rng::seed_from_u64(shift as u64);
            let mut b = a.clone();
            let got = augment(&xs, aug, &mut a);
            let want = augment_per_image(&xs, aug, &mut b);
            assert_eq!(got.size(), want.size());
            assert!(got.equal(&want), "shift {shift} flip {flip}");
            assert_eq!(a.get_word_pos(), b.get_word_pos(), "the same draws");
        }
        let off = augment(&xs, Augment::default(), &mut ChaCha8Rng::seed_from_u64(0));
        assert!(off.equal(&xs));
    }

    /// [`erase`] one image at a time with tensor operations (`narrow` + `fill_`): the oracle.
    fn erase_per_image(xs: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Tensor {
        let size = xs.size();
        let out = xs.copy();
        for i in 0..size[0] {
            if let Some((top, left, eh, ew)) = erase_rectangle(size[2], size[3], p, rng) {
                let _ = out
                    .get(i)
                    .narrow(1, top as i64, eh as i64)
                    .narrow(2, left as i64, ew as i64)
                    .fill_(0.0);
            }
        }
        out
    }

    #[test]
    fn batched_erasing_is_exactly_the_per_image_one_and_draws_nothing_when_off() {
        tch::manual_seed(12);
        let xs = Tensor::rand([41, 1, 28, 28], tch::kind::FLOAT_CPU) + 0.5;
        for p in [0.5, 1.0, 0.1] {
            let mut a = ChaCha8Rng::seed_from_u64(3);
            let mut b = a.clone();
            let got = erase(&xs, p, &mut a);
            let want = erase_per_image(&xs, p, &mut b);
            assert!(got.equal(&want), "p {p}");
            assert_eq!(a.get_word_pos(), b.get_word_pos(), "the same draws");
            // The same draws again: seeded and repeatable.
            let again = erase(&xs, p, &mut ChaCha8Rng::seed_from_u64(3));
            assert!(again.equal(&got));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let off = erase(&xs, 0.0, &mut rng);
        assert!(off.equal(&xs));
        assert_eq!(rng.get_word_pos(), 0, "p = 0 draws nothing");
    }

    #[test]
    fn erased_rectangles_follow_the_usual_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut erased, n) = (0, 4000);
        for _ in 0..n {
            if let Some((top, left, h, w)) = erase_rectangle(28, 28, 0.5, &mut rng) {
                erased += 1;
                assert!(top + h <= 28 && left + w <= 28 && h < 28 && w < 28);
                // Rounding the sides moves the area a little off the drawn fraction.
                let area = (h * w) as f64 / 784.0;
                assert!((0.01..0.40).contains(&area), "{h}x{w}");
                let aspect = h as f64 / w as f64;
                assert!((0.2..5.0).contains(&aspect), "{h}x{w}");
            }
        }
        let rate = erased as f64 / n as f64;
        assert!((rate - 0.5).abs() < 0.04, "{rate}");
        assert!(erase_rectangle(28, 28, 1.0, &mut rng).is_some());
    }

    #[test]
    fn the_weight_average_follows_its_formula_swaps_exactly_and_folds() {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut w = root.zeros("w", &[3]);
        // A batch-norm statistic (not trainable) is averaged too.
        let mut stat = root.zeros_no_train("running_mean", &[2]);
        let mut ema = Ema::new(&vs, 0.9);
        let (mut avg_w, mut avg_s) = (0.0f64, 0.0f64);
        for step in 1..=30u64 {
            let (x, y) = (step as f64, -2.0 * step as f64);
            tch::no_grad(|| {
                let _ = w.fill_(x);
                let _ = stat.fill_(y);
            });
            ema.update();
            let n = step as f64;
            let d = 0.9f64.min((1.0 + n) / (10.0 + n));
            avg_w = d * avg_w + (1.0 - d) * x;
            avg_s = d * avg_s + (1.0 - d) * y;
        }
        let live = |t: &Tensor| t.double_value(&[0]);
        let before = (w.copy(), stat.copy());
        ema.swap();
        assert!((live(&w) - avg_w).abs() < 1e-4, "{} vs {avg_w}", live(&w));
        assert!((live(&stat) - avg_s).abs() < 1e-4);
        ema.swap();
        assert!(
            w.equal(&before.0) && stat.equal(&before.1),
            "swapped back bit for bit"
        );
        ema.fold();
        assert!((live(&w) - avg_w).abs() < 1e-4);
        let names: Vec<String> = ema.state().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["ema/running_mean", "ema/w"]);
    }

    #[test]
    fn the_one_cycle_schedule_fits_any_length() {
        for total in [100, 469 * 30, 469 * 200, 469 * 1000] {
            let rate = |step| Schedule::Onecycle.rate(0.003, step, total);
            let peak = (0..total).map(rate).fold(0.0, f64::max);
            assert!((peak - 0.003).abs() < 0.003 * 0.05, "{total}: {peak}");
            assert!((rate(0) - 0.003 / 25.0).abs() < 1e-12);
            assert!(
                rate(total - 1) < 0.003 / 100.0,
                "{total}: {}",
                rate(total - 1)
            );
            let warm = (total as f64 * 0.3) as usize;
            assert!((1..warm).all(|s| rate(s) >= rate(s - 1)), "rises");
            assert!(
                (warm + 2..total).all(|s| rate(s) <= rate(s - 1)),
                "then falls"
            );
        }
    }
}
