//! Weight averaging (`--ema`): an exponential moving average of the weights.

use std::collections::HashMap;

use anyhow::Context;
use tch::nn::{self};
use tch::{Device, Kind, Tensor};

use crate::train::checkpoint::Checkpoint;
use crate::train::optim::FlatVar;

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
        FlatVar::assign(&self.vars, &self.average);
    }

    /// The state to checkpoint: `ema/<name>` (views of the flat average).
    pub(super) fn state(&self) -> Vec<(String, Tensor)> {
        FlatVar::named(&self.vars, &self.average, "ema")
    }

    /// Takes the average saved in `saved`, after `updates` updates.
    pub(super) fn restore(
        &mut self,
        saved: &Checkpoint,
        updates: u64,
        device: Device,
    ) -> anyhow::Result<()> {
        self.average = FlatVar::saved(&self.vars, saved, "ema", device)?
            .context("checkpoint: the weight average (ema/) is missing")?;
        self.updates = updates;
        Ok(())
    }
}

/// Copies saved values (weights and batch-norm statistics) back into the variables.
pub(super) fn restore(vs: &nn::VarStore, snapshot: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            if let Some(saved) = snapshot.get(&name) {
                var.copy_(saved);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
