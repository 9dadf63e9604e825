//! The training loop (SGD with momentum, cross-entropy) and evaluation helpers.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::data::{Dataset, IMAGE_SIDE};
use crate::model::{Arch, Net};

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The architecture.
    pub arch: Arch,
    /// Passes over the training data.
    pub epochs: usize,
    /// Images per SGD step.
    pub batch_size: usize,
    /// SGD learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Seeds the weight initialisation and the batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    /// The seed study's settings: SGD lr 0.01, momentum 0.9, batch 32, 10 epochs.
    fn default() -> Self {
        TrainConfig {
            arch: Arch::Baseline,
            epochs: 10,
            batch_size: 32,
            lr: 0.01,
            momentum: 0.9,
            seed: 1,
        }
    }
}

/// Metrics after one epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (as Keras reports it).
    pub train_loss: f64,
    /// Accuracy over the epoch's training batches.
    pub train_accuracy: f64,
    /// Cross-entropy on the validation data after the epoch, if any.
    pub val_loss: Option<f64>,
    /// Accuracy on the validation data after the epoch, if any.
    pub val_accuracy: Option<f64>,
    /// Wall time of the epoch's training steps (excluding validation), seconds.
    pub train_seconds: f64,
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
pub fn fresh_model(arch: Arch, seed: u64, device: Device) -> (nn::VarStore, Net) {
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let net = Net::new(&vs.root(), arch);
    (vs, net)
}

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

/// Trains `net` (whose variables are `vs`) on `train`, validating on `val` after
/// every epoch. `label` prefixes the progress bar.
pub fn train(
    vs: &nn::VarStore,
    net: &Net,
    train: &Tensors,
    val: Option<&Tensors>,
    cfg: &TrainConfig,
    label: &str,
) -> anyhow::Result<Vec<EpochStats>> {
    let mut opt = nn::Sgd {
        momentum: cfg.momentum,
        ..Default::default()
    }
    .build(vs, cfg.lr)?;
    let n = train.len();
    let batch = cfg.batch_size as i64;
    let steps = (n + batch - 1) / batch;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<i64> = (0..n).collect();
    let mut history = Vec::with_capacity(cfg.epochs);
    for epoch in 1..=cfg.epochs {
        let bar = progress_bar(
            steps as u64,
            &format!("{label} epoch {epoch}/{}", cfg.epochs),
        );
        let start = Instant::now();
        order.shuffle(&mut rng);
        let perm = Tensor::from_slice(&order).to_device(train.images.device());
        let mut loss_sum = Tensor::zeros([], (Kind::Float, train.images.device()));
        let mut correct = Tensor::zeros([], (Kind::Int64, train.images.device()));
        for step in 0..steps {
            let take = batch.min(n - step * batch);
            let idx = perm.narrow(0, step * batch, take);
            let xs = train.images.index_select(0, &idx);
            let ys = train.labels.index_select(0, &idx);
            let out = net.forward_t(&xs, true);
            let loss = out.cross_entropy_for_logits(&ys);
            opt.backward_step(&loss);
            tch::no_grad(|| {
                loss_sum += loss.detach() * take as f64;
                correct += out.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64);
            });
            bar.inc(1);
        }
        let train_loss = loss_sum.double_value(&[]) / n as f64;
        let train_accuracy = correct.int64_value(&[]) as f64 / n as f64;
        let train_seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let (val_loss, val_accuracy) = match val {
            Some(v) => {
                let (l, a) = loss_and_accuracy(net, v);
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let stats = EpochStats {
            epoch,
            train_loss,
            train_accuracy,
            val_loss,
            val_accuracy,
            train_seconds,
        };
        eprintln!("{label} {}", describe(&stats));
        history.push(stats);
    }
    Ok(history)
}

fn describe(s: &EpochStats) -> String {
    let mut line = format!(
        "epoch {:>2}: loss {:.4} acc {:.4}",
        s.epoch, s.train_loss, s.train_accuracy
    );
    if let (Some(l), Some(a)) = (s.val_loss, s.val_accuracy) {
        line += &format!(" | val loss {l:.4} acc {a:.4}");
    }
    line + &format!(" | {:.1} s", s.train_seconds)
}

/// A progress bar on stderr (drawn only on a terminal), or reported as lines to a
/// parent process when [`crate::progress::report_as_lines`] is on.
pub fn progress_bar(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    // In a `cv --jobs` worker, the parent draws the bar from progress lines instead.
    crate::progress::watch(&bar);
    bar
}
