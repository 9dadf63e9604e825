//! Lookahead (`--lookahead`): slow weights that the fast ones are pulled back to.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tch::nn::{self};
use tch::{Device, Kind, Tensor};

use crate::train::checkpoint::Checkpoint;
use crate::train::optim::FlatVar;

/// The settings of lookahead (Zhang et al., "Lookahead optimizer: k steps forward, 1
/// step back", 2019).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LookaheadConfig {
    /// Optimizer steps between two synchronisations (the paper's k).
    pub every: usize,
    /// How far the slow weights move towards the fast ones at a synchronisation (α).
    pub alpha: f64,
}

impl LookaheadConfig {
    /// Checks the values.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.every == 0 {
            anyhow::bail!("--lookahead-every must be at least 1");
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha <= 1.0) {
            anyhow::bail!(
                "--lookahead must be in (0, 1], e.g. 0.5 (got {})",
                self.alpha
            );
        }
        Ok(())
    }
}

/// Lookahead's slow weights: every `every` optimizer steps, `slow ← slow + α·(fast −
/// slow)` and the network's variables are set to `slow`. As airbench (arXiv
/// 2404.00498) does, every float variable takes part, batch-norm running statistics
/// included, so the statistics stay those of the weights in use. The inner optimizer's
/// state is kept (the paper's choice). The slow weights live in one flat buffer;
/// checkpoints hold them as `lookahead/<name>`.
#[derive(Debug)]
pub struct Lookahead {
    config: LookaheadConfig,
    steps: u64,
    vars: Vec<FlatVar>,
    slow: Tensor,
}

impl Lookahead {
    /// Slow weights for the variables of `vs`, starting at their current values.
    pub fn new(vs: &nn::VarStore, config: LookaheadConfig) -> Lookahead {
        let vars = FlatVar::list(vs, |t| t.kind() == Kind::Float);
        let slow = FlatVar::concat(&vars, vs.device());
        Lookahead {
            config,
            steps: 0,
            vars,
            slow,
        }
    }

    /// Counts one optimizer step; synchronises after every `every`-th.
    pub fn after_step(&mut self) {
        self.steps += 1;
        if !self.steps.is_multiple_of(self.config.every as u64) {
            return;
        }
        let fast = FlatVar::concat(&self.vars, self.slow.device());
        tch::no_grad(|| {
            let _ = self.slow.lerp_(&fast, self.config.alpha);
        });
        FlatVar::assign(&self.vars, &self.slow);
    }

    /// The state to checkpoint: `lookahead/<name>` (views of the slow weights).
    pub(super) fn state(&self) -> Vec<(String, Tensor)> {
        FlatVar::named(&self.vars, &self.slow, "lookahead")
    }

    /// Takes the slow weights saved in `saved`, after `steps` optimizer steps.
    pub(super) fn restore(
        &mut self,
        saved: &Checkpoint,
        steps: u64,
        device: Device,
    ) -> anyhow::Result<()> {
        self.slow = FlatVar::saved(&self.vars, saved, "lookahead", device)?
            .context("checkpoint: the lookahead weights (lookahead/) are missing")?;
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_weights_are_pulled_back_every_k_steps() {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut w = vs.root().zeros("w", &[2]);
        let config = LookaheadConfig {
            every: 3,
            alpha: 0.5,
        };
        let mut la = Lookahead::new(&vs, config);
        let (mut fast, mut slow) = (0.0f64, 0.0f64);
        for step in 1..=9u64 {
            // The "optimizer" adds 1 each step.
            fast += 1.0;
            tch::no_grad(|| {
                let _ = w.fill_(fast);
            });
            la.after_step();
            if step % 3 == 0 {
                slow += 0.5 * (fast - slow);
                fast = slow;
            }
            assert!((w.double_value(&[1]) - fast).abs() < 1e-6, "step {step}");
        }
        // 0 → 3 → 1.5; 4.5 → 3; 6 → 4.5.
        assert!((w.double_value(&[0]) - 4.5).abs() < 1e-6);
        assert!(config.validate().is_ok());
        assert!(
            LookaheadConfig {
                every: 0,
                alpha: 0.5
            }
            .validate()
            .is_err()
        );
        assert!(
            LookaheadConfig {
                every: 5,
                alpha: 1.5
            }
            .validate()
            .is_err()
        );
    }
}
