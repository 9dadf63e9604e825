//! A fresh network, its weights' digest, and its logits, loss and accuracy on data.

use sha2::{Digest, Sha256};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};

use crate::nn::{Arch, Net, NetOptions};
use crate::train::config::TrainConfig;
use crate::train::tensors::Tensors;

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

/// The model a run of `cfg` starts from: [`fresh_model`] with `seed`, then the weights
/// of [`TrainConfig::init`] when fine-tuning.
pub fn initial_model(
    cfg: &TrainConfig,
    seed: u64,
    device: Device,
) -> anyhow::Result<(nn::VarStore, Net)> {
    let (vs, net) = fresh_model(&cfg.arch, cfg.net, seed, device);
    if let Some(init) = &cfg.init {
        init.apply(&vs)?;
    }
    Ok((vs, net))
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
