//! One module per subcommand, plus what they share.

pub mod camera;
pub mod compare;
pub mod cv;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod fit;
pub mod frames;
pub mod pictures;
pub mod predict;

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use tch::Device;
use trainer::nn::saved;
use trainer::train::{self, TrainConfig};
use trainer_core::data::{DataDir, Dataset, Split};

use crate::{DataArgs, TrainArgs};

/// Epochs of a fine-tune on a picture folder unless `--epochs` is given: a few hundred
/// pictures make short epochs, and a few passes move a trained model without
/// overwriting what it learned.
pub const FINE_TUNE_EPOCHS: usize = 10;
/// The learning rate of a fine-tune on a picture folder is the recipe's divided by this
/// unless `--lr` is given: small steps keep the starting model's features.
pub const FINE_TUNE_LR_DIVISOR: f64 = 10.0;
/// Largest batch of a fine-tune on a picture folder unless `--batch-size` is given:
/// enough steps per epoch on a small folder.
pub const FINE_TUNE_MAX_BATCH: usize = 32;

/// What `--data` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Fashion-MNIST (the folder given, or the default places).
    FashionMnist,
    /// A labelled picture folder.
    Pictures(PathBuf),
}

impl DataArgs {
    /// What `--data` names: without it, Fashion-MNIST.
    pub fn source(&self) -> Result<Source> {
        Ok(match &self.data {
            None => Source::FashionMnist,
            Some(dir) => match trainer_core::data::data_dir_kind(dir)? {
                DataDir::FashionMnist(_) => Source::FashionMnist,
                DataDir::Pictures(dir) => Source::Pictures(dir),
            },
        })
    }

    /// Loads one Fashion-MNIST split, optionally only its first `limit` images; a
    /// picture folder given as `--data` is refused.
    pub fn load(&self, split: Split, limit: Option<usize>) -> Result<Dataset> {
        if let Source::Pictures(dir) = self.source()? {
            bail!(
                "--data {}: a labelled picture folder; only `trainer fit` and `trainer \
                 evaluate` read those, this command needs the Fashion-MNIST IDX files",
                dir.display()
            );
        }
        self.fashion_mnist(split, limit)
    }

    /// Loads one Fashion-MNIST split (first `limit` images): from `--data` when it
    /// names the IDX files, else from the default places (beside a picture folder).
    pub fn fashion_mnist(&self, split: Split, limit: Option<usize>) -> Result<Dataset> {
        let explicit = match self.source()? {
            Source::FashionMnist => self.data.as_deref(),
            Source::Pictures(_) => None,
        };
        let dir = trainer_core::data::locate(explicit)?;
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
        self.with_flags(train::recipe(&arch))
    }

    /// The settings of a fine-tune on a picture folder: `--init` is needed; without
    /// `--model` the model, batch norm and dropout are the starting model's; the recipe
    /// is the model's with [`FINE_TUNE_EPOCHS`] epochs, a learning rate divided by
    /// [`FINE_TUNE_LR_DIVISOR`] and batches of at most [`FINE_TUNE_MAX_BATCH`]; every
    /// flag given overrides.
    ///
    /// `own` gives the class names of classes of one's own: the model gets a new output
    /// layer of their count. Otherwise the classes are the starting model's.
    pub fn fine_tune_config(
        &self,
        data: &std::path::Path,
        own: Option<Vec<String>>,
    ) -> Result<TrainConfig> {
        let start = self.init_config(data)?;
        let arch = self.model.clone().unwrap_or_else(|| start.arch.clone());
        let mut base = match &self.model {
            Some(arch) => train::recipe(arch),
            None => TrainConfig {
                net: start.net,
                ..train::recipe(&arch)
            },
        };
        base.class_names = start.class_names;
        // Scenes are drawn from Fashion-MNIST's images, never from a picture folder.
        base.scene_train = false;
        base.scene_share = 1.0;
        if let Some(names) = own {
            base.arch = arch.with_classes(names.len()).map_err(anyhow::Error::msg)?;
            base.class_names = Some(names);
        }
        base.epochs = FINE_TUNE_EPOCHS;
        base.lr /= FINE_TUNE_LR_DIVISOR;
        base.batch_size = base.batch_size.min(FINE_TUNE_MAX_BATCH);
        self.with_flags(base)
    }

    /// The training settings of the `--init` model, which a picture folder needs.
    pub fn init_config(&self, data: &std::path::Path) -> Result<TrainConfig> {
        let Some(init) = &self.init else {
            bail!(
                "--data {}: a picture folder is for fine-tuning a saved model: give --init \
                 <model folder>, e.g. --init models/mcu-scene",
                data.display()
            );
        };
        Ok(saved::read_fit_record(init)
            .with_context(|| format!("--init {}: not a usable starting model", init.display()))?
            .config)
    }

    /// `c` overridden by every flag given, checked.
    fn with_flags(&self, mut c: TrainConfig) -> Result<TrainConfig> {
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
            v.apply(&mut c.augment);
        }
        if let Some(v) = self.bn_momentum {
            c.net.bn_momentum = v;
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
        if let Some(alpha) = self.lookahead {
            c.lookahead = Some(train::LookaheadConfig {
                alpha,
                every: self.lookahead_every,
            });
        }
        if let Some(v) = self.scene_crops {
            c.scene_crops = v;
        }
        c.scene_train |= self.scene_train;
        if let Some(share) = self.scene_share {
            c.scene_share = share;
        }
        // fp32 unless given (`fit` makes its default `auto`); `auto` is resolved on the
        // device ([`TrainArgs::resolve_precision`]).
        c.precision = self.precision.unwrap_or_default();
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

    #[test]
    fn fit_without_a_model_trains_mcu_scene_mcu_long_with_half_its_images_as_scenes() {
        let Command::Fit(fit) = Cli::try_parse_from(["trainer", "fit"]).unwrap().cmd else {
            panic!("not a fit command");
        };
        let cfg = fit.train.config(trainer::nn::DEFAULT_MODEL).unwrap();
        assert_eq!(cfg.arch.name(), "mcu-scene");
        assert!(cfg.scene_train);
        assert_eq!(cfg.scene_share, 0.5);
        let long = train::recipe(&Arch::parse("mcu-long").unwrap());
        let without_scenes = train::TrainConfig {
            arch: long.arch.clone(),
            scene_train: false,
            scene_share: 1.0,
            ..cfg
        };
        assert_eq!(without_scenes, long);
    }
}
