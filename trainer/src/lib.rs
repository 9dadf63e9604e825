//! Training, evaluation, quantization and export of the Fashion-MNIST CNN.
//!
//! The `trainer` binary is a thin clap layer over these modules.

pub mod atomic;
pub mod camera;
pub mod checkpoint;
pub mod compare;
pub mod cv;
pub mod data;
pub mod download;
pub mod evaluate;
pub mod folder;
pub mod image_input;
pub mod int8;
pub mod interrupt;
pub mod metrics;
pub mod model;
pub mod panic_guard;
pub mod parity;
pub mod plots;
pub mod progress;
pub mod quantize;
pub mod saved;
pub mod stats;
pub mod train;
pub mod workers;
