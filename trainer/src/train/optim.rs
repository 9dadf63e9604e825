//! The optimizers a run steps with: tch's, and ours on a flat buffer whose state can be
//! checkpointed.

use tch::nn::{self};
use tch::{Device, Kind, Tensor};

use crate::train::checkpoint::Checkpoint;
use crate::train::config::{Optimizer, TrainConfig};

/// The optimizer a run steps with.
pub(super) enum Stepper {
    /// tch's (libtorch's C++) optimizer: its state cannot be read or set.
    Torch(nn::Optimizer),
    /// Ours, on tensors we own: its state goes into checkpoints.
    Owned(OwnedOptimizer),
}

/// SGD with momentum, plain or Nesterov (L2 weight decay), and AdamW (betas 0.9, 0.999, eps 1e-8,
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
    pub(super) steps: u64,
}

/// One trainable variable of an [`OwnedOptimizer`] and where it lies in the flat buffer.
#[derive(Debug)]
pub(super) struct FlatVar {
    pub(super) name: String,
    pub(super) var: Tensor,
    pub(super) offset: i64,
    numel: i64,
    shape: Vec<i64>,
}

impl FlatVar {
    /// This variable's slice of a flat buffer, in its shape.
    pub(super) fn of(&self, flat: &Tensor) -> Tensor {
        flat.narrow(0, self.offset, self.numel)
            .view(self.shape.as_slice())
    }

    /// The variables of `vs` that `keep` selects, sorted by name, with consecutive
    /// offsets in a flat buffer.
    pub(super) fn list(vs: &nn::VarStore, keep: impl Fn(&Tensor) -> bool) -> Vec<FlatVar> {
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
    pub(super) fn concat(vars: &[FlatVar], device: Device) -> Tensor {
        tch::no_grad(|| {
            let parts: Vec<Tensor> = vars.iter().map(|p| p.var.reshape([-1])).collect();
            if parts.is_empty() {
                Tensor::zeros([0], (Kind::Float, device))
            } else {
                Tensor::cat(&parts, 0)
            }
        })
    }

    /// Sets the values of `vars` from a flat buffer (the inverse of [`FlatVar::concat`]).
    pub(super) fn assign(vars: &[FlatVar], flat: &Tensor) {
        tch::no_grad(|| {
            for p in vars {
                p.var.shallow_clone().copy_(&p.of(flat));
            }
        });
    }

    /// A flat buffer as checkpoint tensors `<prefix>/<name>` (views of it), one per
    /// variable: what [`FlatVar::saved`] reads back.
    pub(super) fn named(vars: &[FlatVar], flat: &Tensor, prefix: &str) -> Vec<(String, Tensor)> {
        vars.iter()
            .map(|p| (format!("{prefix}/{}", p.name), p.of(flat)))
            .collect()
    }

    /// The checkpoint tensors `<prefix>/<name>` of `vars`, concatenated into a flat
    /// buffer on `device`; None when the checkpoint has none of them.
    pub(super) fn saved(
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
                Optimizer::Sgd | Optimizer::SgdNesterov => {
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
                        d = if self.kind == Optimizer::SgdNesterov {
                            d + &buf * self.momentum
                        } else {
                            buf.shallow_clone()
                        };
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
    pub(super) fn state(&self) -> Vec<(String, Tensor)> {
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
    pub(super) fn restore(&mut self, saved: &Checkpoint, device: Device) -> anyhow::Result<()> {
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
