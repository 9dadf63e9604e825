//! The half of the trainer that needs no libtorch: the Fashion-MNIST files, pictures
//! and camera-like frames, files written atomically and model folders, the layer
//! grammar, the int8 quantizer, the statistics that compare runs, and the host's side of
//! the serial link to a board (`board`).
//!
//! `trainer` (tch) builds on it; the fuzz targets and developer tools use it directly,
//! and its tests run without libtorch.
#![forbid(unsafe_code)]

pub mod arch;
pub mod board;
pub mod compare;
pub mod data;
pub mod files;
pub mod interrupt;
pub mod metrics;
pub mod quantize;
pub mod stats;
