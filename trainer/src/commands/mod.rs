//! One module per subcommand, plus what they share.

pub mod camera;
pub mod compare;
pub mod cv;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod fit;
pub mod frames;
pub mod predict;

use anyhow::Result;
use tch::Device;
use trainer::train::{self, TrainConfig};
use trainer_core::data::{Dataset, Split};

use crate::{DataArgs, TrainArgs};

impl DataArgs {
    /// Loads one split, optionally only its first `limit` images.
    pub fn load(&self, split: Split, limit: Option<usize>) -> Result<Dataset> {
        let dir = trainer_core::data::locate(self.data.as_deref())?;
        let set = trainer_core::data::load(&dir, split)?;
        Ok(match limit {
            Some(n) => set.head(n),
            None => set,
        })
    }
}

impl TrainArgs {
    /// The training settings these flags describe: the model's recipe, overridden by
    /// every flag given. `default_model` is used without `--model`.
    pub fn config(&self, default_model: &str) -> Result<TrainConfig> {
        let arch = match &self.model {
            Some(a) => a.clone(),
            None => trainer::nn::Arch::parse(default_model).map_err(anyhow::Error::msg)?,
        };
        let mut c = train::recipe(&arch);
        c.seed = self.seed;
        if let Some(v) = self.epochs {
            c.epochs = v;
        }
        if let Some(v) = self.batch_size {
            c.batch_size = v;
        }
        if let Some(v) = self.lr {
            c.lr = v;
        }
        if let Some(v) = self.momentum {
            c.momentum = v;
        }
        if let Some(v) = self.optimizer {
            c.optimizer = v;
        }
        if let Some(v) = self.weight_decay {
            c.weight_decay = v;
        }
        if let Some(v) = self.schedule {
            c.schedule = v;
        }
        if let Some(v) = self.batch_norm {
            c.net.batch_norm = v;
        }
        if let Some(v) = self.dropout {
            c.net.dropout = v;
        }
        if let Some(v) = self.shift {
            c.augment.shift = v;
        }
        if let Some(v) = self.flip {
            c.augment.flip = v;
        }
        if let Some(v) = self.label_smoothing {
            c.label_smoothing = v;
        }
        if let Some(patience) = self.patience {
            c.early_stopping = Some(train::EarlyStopping {
                patience,
                holdout: self.holdout,
            });
        }
        if let Some(v) = self.erase {
            c.erase = v;
        }
        if let Some(v) = self.ema {
            c.ema = Some(v);
        }
        if let Some(v) = self.scene_crops {
            c.scene_crops = v;
        }
        // Still `auto` here: resolved on the device ([`TrainArgs::resolve_precision`]).
        c.precision = self.precision;
        c.validate()?;
        if let Some(dir) = &self.init {
            c.init = Some(train::Init::new(dir, &c.arch, c.net)?);
        }
        if let Some(dir) = &self.teacher {
            // After the cheap checks; before any output: a bad teacher writes nothing.
            let d = train::Distill::new(dir, self.distill_alpha, self.distill_temperature)?;
            c.distill = Some(d);
        }
        Ok(c)
    }

    /// Applies `--threads` and picks the device (CUDA when available unless `--cpu`).
    pub fn device(&self) -> Result<Device> {
        if let Some(n) = self.threads {
            if n < 1 {
                anyhow::bail!("--threads must be at least 1");
            }
            tch::set_num_threads(n);
        }
        let device = self.chosen_device();
        eprintln!(
            "device: {device:?}, libtorch threads: {}",
            tch::get_num_threads()
        );
        Ok(device)
    }

    /// The device [`TrainArgs::device`] trains on, without applying `--threads`.
    pub fn chosen_device(&self) -> Device {
        if self.cpu {
            Device::Cpu
        } else {
            train::default_device()
        }
    }

    /// Resolves `--precision auto` in `cfg` on `device` (a probe, once per process) and
    /// says which precision the run uses.
    pub fn resolve_precision(cfg: &mut TrainConfig, device: Device) {
        cfg.precision = cfg.precision.resolve(device);
        eprintln!("precision: {}", cfg.precision.name());
    }
}

/// The command line as typed, for the records saved beside results.
pub fn command_line() -> String {
    let mut args: Vec<String> = std::env::args().collect();
    if let Some(first) = args.first_mut() {
        *first = "trainer".to_owned();
    }
    args.join(" ")
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use trainer::nn::Arch;
    use trainer::train;

    use crate::{Cli, Command};

    /// A shell variable's value in `scripts/search.sh` (`NAME=value` or `NAME="..."`,
    /// with `\` line continuations).
    fn search_sh_variable(script: &str, name: &str) -> String {
        let start = script
            .find(&format!("\n{name}="))
            .unwrap_or_else(|| panic!("scripts/search.sh sets no {name}"))
            + name.len()
            + 2;
        let rest = &script[start..];
        let value = match rest.strip_prefix('"') {
            Some(quoted) => &quoted[..quoted.find('"').expect("a closing quote")],
            None => rest.lines().next().expect("a value"),
        };
        value.replace("\\\n", " ")
    }

    #[test]
    fn the_search_scripts_spelled_out_recipe_is_the_trainers_mcu_recipe() {
        let script = include_str!("../../../scripts/search.sh");
        let layers = search_sh_variable(script, "mcu");
        let recipe = search_sh_variable(script, "recipe");
        let argv = ["trainer", "cv", "--model", &layers]
            .into_iter()
            .chain(recipe.split_whitespace());
        let Command::Cv(cv) = Cli::try_parse_from(argv).expect("the flags parse").cmd else {
            panic!("not a cv command");
        };
        let spelled_out = cv.args.train.config("mcu").expect("a valid config");
        let mut expected = train::recipe(&Arch::parse("mcu").unwrap());
        expected.arch = Arch::parse(&layers).unwrap();
        // Every candidate gives its own --epochs and runs with the default seed.
        expected.epochs = spelled_out.epochs;
        expected.seed = spelled_out.seed;
        assert_eq!(spelled_out, expected);
    }
}
