//! The camera side of the pipeline, shared by the host trainer and the firmware.
//!
//! - [`mod@preprocess`]: from a grayscale frame to the model's 28x28 input in the
//!   dataset's convention, with integer arithmetic only: it decides whether the frame is
//!   a photo (a light background, the garment dark and anywhere in it) or dataset-style
//!   (a light garment on dark), and answers "nothing there" for frames without a
//!   garment.
//! - [`mod@scene`]: the scene path (a background model, a garment lighter or darker
//!   than a textured, unevenly lit background), [`scene::preprocess_scene`]: what the
//!   firmware and `trainer predict` run (`docs/photos.md` has its measurements).
//! - [`frames`]: the sample-frames blob format (`firmware/frames/frames.bin`): read in
//!   place without std, written with feature `std`.
//! - [`link`]: the serial protocol between a board and the host (`trainer camera`):
//!   a request, and an answer with the frame, the model input and the verdict.
//!
//! `#![no_std]`, no allocation, no panic on any input. The model itself lives in
//! `infer-core`; this crate only takes the model input's size from it.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
// Unsafe code lives in `scene::lanes` only (feature `arm-dsp`, on an Arm target);
// without it the whole crate forbids it.
#![cfg_attr(
    not(all(feature = "arm-dsp", target_arch = "arm")),
    forbid(unsafe_code)
)]
#![cfg_attr(all(feature = "arm-dsp", target_arch = "arm"), deny(unsafe_code))]
#![warn(missing_docs, missing_debug_implementations)]

pub mod frames;
pub mod link;
pub mod preprocess;
pub mod scene;

pub use frames::{FrameSet, FramesError, SampleFrame};
pub use preprocess::{Config, Detection, Error, Frame, Mode, Rect, decide_mode, preprocess};
