//! Training: the configuration ([`config`]), the data on the device ([`tensors`]), the
//! network's helpers ([`model`]), the loop ([`run`]), the optimizers ([`optim`]), weight
//! averaging ([`ema`]), lookahead ([`lookahead`]), mixed precision ([`precision`]), augmentation ([`mod@augment`],
//! [`mod@scene_crops`]), training on scene crops ([`scene_train`]), fine-tuning ([`init`]), checkpoints, distillation and
//! progress. Everything public is re-exported here, so `crate::train::X` names it.

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod distill;
pub mod ema;
pub mod init;
pub mod lookahead;
pub mod model;
pub mod optim;
pub mod precision;
pub mod progress;
pub mod run;
pub mod scene_crops;
pub mod scene_train;
pub mod tensors;

pub use augment::{
    ERASE_AREA, ERASE_ASPECT, alternate_flip, augment, augment_with_flips, erase, erase_rectangle,
};
pub use config::{Augment, EarlyStopping, Flip, Optimizer, Schedule, TrainConfig, recipe};
pub use distill::Distill;
pub use ema::Ema;
pub use init::Init;
pub use lookahead::{Lookahead, LookaheadConfig};
pub use model::{fresh_model, initial_model, logits, loss_and_accuracy, param_digest};
pub use optim::OwnedOptimizer;
pub use precision::Precision;
pub use progress::progress_bar;
pub use run::{Checkpointing, EpochStats, train, train_with};
pub use scene_crops::scene_crops;
pub use tensors::{Tensors, default_device};
