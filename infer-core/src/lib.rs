//! int8 inference of the Fashion-MNIST CNN without std or an allocator.
//!
//! The crate reads a `.fmq` model file (see `docs/model-format.md`) with
//! [`Model::from_bytes`], which borrows the bytes (no copy) and validates every
//! size once, and then classifies 28x28 grayscale images with
//! [`Model::classify`] into a caller-provided scratch buffer.
//!
//! Arithmetic follows the TFLite int8 scheme: int8 weights symmetric per output
//! channel, int8 activations asymmetric per tensor, int32 accumulators and an
//! integer-only requantization with a Q31 multiplier and one rounding step
//! (round half up, see `docs/model-format.md`). Inference uses no floating point, so the
//! host and a Cortex-M produce the same bits.
//!
//! ```
//! # fn demo(bytes: &[u8]) -> Result<(), infer_core::Error> {
//! use infer_core::Model;
//! let model = Model::from_bytes(bytes)?;
//! let mut scratch = [0i8; 32 * 1024];
//! let pixels = [0u8; 784];
//! let prediction = model.classify(&pixels, &mut scratch)?;
//! # let _ = prediction.name;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), no_std)]
// Unsafe code lives in `ops::dot::arm` (feature `arm-dsp`) and
// `ops::dot::x86` (feature `x86-simd`) only; without them the whole crate
// forbids it.
#![cfg_attr(
    not(any(feature = "arm-dsp", feature = "x86-simd")),
    forbid(unsafe_code)
)]
#![cfg_attr(any(feature = "arm-dsp", feature = "x86-simd"), deny(unsafe_code))]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "std")]
extern crate std;

mod crc;
mod error;
mod format;
pub mod layout;
mod model;
mod ops;
#[cfg(feature = "std")]
mod owned;
pub mod reference;
pub mod rng;
#[cfg(any(test, feature = "selfcheck"))]
pub mod selfcheck;

pub use crc::{Crc32, crc32};
pub use error::Error;
#[cfg(feature = "std")]
pub use format::to_vec;
pub use format::{
    Add, Conv2d, Dense, FORMAT_VERSION, GlobalMean, HEADER_LEN, I8Array, I32Array, InputSpec,
    Layer, MAGIC, ModelFile, OLDEST_FORMAT_VERSION, Padding, QuantParams, encode, encoded_len,
};
/// The bounded collections of the public API ([`ModelFile::layers`],
/// [`Prediction::scores`], ...), re-exported so that users name the same version.
pub use heapless;
pub use model::{Model, Prediction, Step};
#[cfg(feature = "std")]
pub use owned::{OwnedLayer, OwnedModel, OwnedParams};

/// Most layers a model file may hold: 32 from format version 4 on, 16 in
/// files of versions 2 and 3 ([`ModelFile::format_version`] says 4 for a model
/// with more than 16 layers, so that older readers are never handed one).
pub const MAX_LAYERS: usize = 32;

/// Most classes a model may have (the width of [`Prediction::scores`]).
pub const MAX_CLASSES: usize = 32;

/// Side of the square input image in pixels.
pub const IMAGE_SIDE: usize = 28;

/// Number of input pixels (`IMAGE_SIDE * IMAGE_SIDE`, one channel).
pub const IMAGE_LEN: usize = IMAGE_SIDE * IMAGE_SIDE;

/// The names of Fashion-MNIST's ten classes, indexed by label (a model file carries
/// its own names; these are the dataset's).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Scale of the input quantization every model uses: `pixel / 255`.
pub const INPUT_SCALE: f32 = 1.0 / 255.0;

/// Zero point of the input quantization every model uses: `q = pixel - 128`.
pub const INPUT_ZERO_POINT: i8 = -128;
