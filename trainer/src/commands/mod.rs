//! One module per subcommand, plus what they share.

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
use trainer::data::{Dataset, Split};
use trainer::train::{self, TrainConfig};

use crate::{DataArgs, TrainArgs};

impl DataArgs {
    /// Loads one split, optionally only its first `limit` images.
    pub fn load(&self, split: Split, limit: Option<usize>) -> Result<Dataset> {
        let dir = trainer::data::locate(self.data.as_deref())?;
        let set = trainer::data::load(&dir, split)?;
        Ok(match limit {
            Some(n) => set.head(n),
            None => set,
        })
    }
}

impl TrainArgs {
    /// The training settings these flags describe.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            arch: self.model,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            momentum: self.momentum,
            seed: self.seed,
        }
    }

    /// Applies `--threads` and picks the device (CUDA when available unless `--cpu`).
    pub fn device(&self) -> Result<Device> {
        if self.epochs == 0 || self.batch_size == 0 {
            anyhow::bail!("--epochs and --batch-size must be at least 1");
        }
        if let Some(n) = self.threads {
            if n < 1 {
                anyhow::bail!("--threads must be at least 1");
            }
            tch::set_num_threads(n);
        }
        let device = if self.cpu {
            Device::Cpu
        } else {
            train::default_device()
        };
        eprintln!(
            "device: {device:?}, libtorch threads: {}",
            tch::get_num_threads()
        );
        Ok(device)
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
