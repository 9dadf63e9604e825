//! A run's configuration: the optimizer, the learning-rate schedule, augmentation,
//! early stopping, and the named models' recipes.

use serde::{Deserialize, Serialize};

use crate::nn::{Arch, NetOptions};
use crate::train::distill::Distill;
use crate::train::init::Init;
use crate::train::lookahead::LookaheadConfig;
use crate::train::precision::Precision;

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// SGD with momentum (the seed's); `--weight-decay` is an L2 penalty.
    #[default]
    Sgd,
    /// SGD with Nesterov momentum (PyTorch's `SGD(nesterov=True)`); L2 weight decay.
    #[serde(rename = "sgd-nesterov")]
    #[value(name = "sgd-nesterov")]
    SgdNesterov,
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
    /// With `flip`: alternating flips instead of random ones (`--flip alternate`, as
    /// airbench, arXiv 2404.00498): each image is mirrored or not at random in the first
    /// epoch, then the opposite of the epoch before, so every two epochs show each image
    /// both ways ([`alternate_flip`](crate::train::alternate_flip)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub alternate_flip: bool,
}

impl Augment {
    /// True when it changes nothing.
    pub fn is_off(&self) -> bool {
        self.shift == 0 && !self.flip
    }
}

/// How images are mirrored during training (`--flip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flip {
    /// No flips.
    False,
    /// Each image mirrored with probability 1/2, drawn anew every time.
    True,
    /// Alternating: random in the first epoch, the opposite of the previous epoch after.
    Alternate,
}

impl Flip {
    /// Sets `aug`'s flip fields to this choice.
    pub fn apply(self, aug: &mut Augment) {
        aug.flip = self != Flip::False;
        aug.alternate_flip = self == Flip::Alternate;
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
    /// after the shift and flip ([`erase`](crate::train::erase); 0 = off).
    #[serde(default)]
    pub erase: f64,
    /// Weight averaging: the decay of an exponential moving average of the weights and
    /// batch-norm statistics ([`Ema`](crate::train::Ema)), which replaces the weights at the end (None = off).
    #[serde(default)]
    pub ema: Option<f64>,
    /// Lookahead's slow weights ([`Lookahead`](crate::train::Lookahead)), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookahead: Option<LookaheadConfig>,
    /// Knowledge distillation from a saved teacher model, if any ([`distill`](crate::train::distill)).
    #[serde(default)]
    pub distill: Option<Distill>,
    /// Scene-crop augmentation: the probability that an image is changed the way the
    /// scene preprocessing's crops differ from the dataset, after the shift and flip and
    /// before erasing ([`scene_crops`](fn@crate::train::scene_crops); 0 = off).
    #[serde(default)]
    pub scene_crops: f64,
    /// Training on scene crops: the training images, then the scene preprocessing's
    /// model input of each drawn as a garment on a textured, unevenly lit surface
    /// ([`with_scene_crops`](trainer_core::data::scenes::with_scene_crops)), in every
    /// epoch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scene_train: bool,
    /// The share of the training images drawn as scenes with `scene_train`, in (0, 1]
    /// ([`drawn_ordinal`](trainer_core::data::scenes::drawn_ordinal)); records written
    /// before the option drew all of them.
    #[serde(default = "all", skip_serializing_if = "is_all")]
    pub scene_share: f64,
    /// The saved model whose weights the run starts from (fine-tuning), if any
    /// ([`Init`]); a fresh initialisation otherwise.
    #[serde(default)]
    pub init: Option<Init>,
    /// The precision of the training steps ([`Precision`]); records hold the resolved
    /// one (fp32 or bf16), and records written before the option were fp32.
    #[serde(default)]
    pub precision: Precision,
    /// The class names of a model of classes of one's own, in label order; `None`:
    /// Fashion-MNIST's ten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_names: Option<Vec<String>>,
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
            lookahead: None,
            distill: None,
            scene_crops: 0.0,
            scene_train: false,
            scene_share: 1.0,
            init: None,
            precision: Precision::Fp32,
            class_names: None,
        }
    }
}

/// The training settings a model uses unless told otherwise: the seed study's for
/// every model but the `mcu` family, whose recipe came out of the search in
/// `docs/results.md`.
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
                ..Default::default()
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
                alternate_flip: false,
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
        // The scene path's model (docs/photos.md): `mcu-long` with `--scene-train
        // --scene-share 0.5`, mcu-long's test accuracy and 1.45x its steps.
        "mcu-scene" => TrainConfig {
            arch: arch.clone(),
            scene_train: true,
            scene_share: 0.5,
            ..recipe(&Arch::parse("mcu-long").expect("named"))
        },
        _ => seed,
    }
}

impl TrainConfig {
    /// The model's class names, in label order.
    pub fn class_names(&self) -> Vec<String> {
        match &self.class_names {
            Some(names) => names.clone(),
            None => trainer_core::data::CLASS_NAMES.map(String::from).to_vec(),
        }
    }

    /// Checks the values: a clear message instead of a NaN run or a panic.
    pub fn validate(&self) -> anyhow::Result<()> {
        let classes = self.class_names().len();
        if self.arch.classes() != classes {
            anyhow::bail!(
                "the model {} has {} outputs for {classes} classes: its last layer must be d{classes}",
                self.arch,
                self.arch.classes()
            );
        }
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
        if !(self.net.bn_momentum.is_finite()
            && self.net.bn_momentum > 0.0
            && self.net.bn_momentum < 1.0)
        {
            anyhow::bail!(
                "--bn-momentum must be in (0, 1) (got {})",
                self.net.bn_momentum
            );
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
        if !(finite_nonneg(self.scene_crops) && self.scene_crops <= 1.0) {
            anyhow::bail!("--scene-crops must be in [0, 1] (got {})", self.scene_crops);
        }
        if !(self.scene_share > 0.0 && self.scene_share <= 1.0) {
            anyhow::bail!("--scene-share must be in (0, 1] (got {})", self.scene_share);
        }
        if self.scene_share != 1.0 && !self.scene_train {
            anyhow::bail!("--scene-share needs --scene-train");
        }
        if self.optimizer == Optimizer::SgdNesterov && self.momentum <= 0.0 {
            anyhow::bail!("--optimizer sgd-nesterov needs a --momentum above 0");
        }
        if let Some(d) = self.ema
            && !(d.is_finite() && d > 0.0 && d < 1.0)
        {
            anyhow::bail!("--ema must be in (0, 1), e.g. 0.999 (got {d})");
        }
        if let Some(l) = &self.lookahead {
            l.validate()?;
        }
        if let Some(d) = &self.distill {
            d.validate()?;
        }
        Ok(())
    }
}

/// A share of 1: all of a set ([`TrainConfig::scene_share`]'s default).
fn all() -> f64 {
    1.0
}

/// Whether `share` is 1, the default a record leaves out.
fn is_all(share: &f64) -> bool {
    *share == 1.0
}

#[cfg(test)]
mod tests {
    use super::*;
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
