//! What both firmware apps share, written so that the host can test it.
//!
//! - [`frames`]: the sample frames in flash (the blob format is `camera::frames`) and
//!   the [`frames::FrameSource`] trait a camera driver implements.
//! - [`pipeline`]: one frame through `camera::preprocess`, `Model::classify` and
//!   the drawing, returning everything the apps log; the host's expected output comes
//!   from the same function.
//! - [`display`]: drawing with embedded-graphics onto any `DrawTarget<Color = Gray8>`,
//!   and an in-memory [`display::Framebuffer`].
//! - [`live`]: what the board apps add: a [`live::OvCamera`] frame source (the OV767x
//!   driver's capture into a caller-owned buffer) and the line a board prints per frame.
//! - [`link`]: the board's side of the serial link to `trainer camera` (a request
//!   heard, the frame's answer written in pieces).
//! - [`scene`]: the scene preprocessing (the one [`pipeline`] runs) on one frame alone,
//!   summed up for the host-and-QEMU comparison of `fw-qemu --example scene-cost`.
//! - `app` (feature `firmware`): the demo loop with defmt logging and instruction or
//!   cycle counts, and `stack`: the stack high-water mark.
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs, missing_debug_implementations)]

#[cfg(feature = "firmware")]
pub mod app;
pub mod display;
pub mod frames;
pub mod link;
pub mod live;
pub mod pipeline;
pub mod scene;
#[cfg(feature = "firmware")]
pub mod stack;

/// The camera crate (preprocessing, frames blob), re-exported likewise.
pub use camera;
/// The inference crate, re-exported so the apps use the very same version.
pub use infer_core;
/// The camera driver, re-exported likewise.
pub use ov767x;
