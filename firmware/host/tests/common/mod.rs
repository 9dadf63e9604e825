//! Shared helpers of the fw-host tests: the committed mcu model and sample frames, a
//! delay that does not wait, and one frame through the pipeline untimed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::Gray8;
use embedded_graphics::prelude::DrawTarget;
use embedded_hal::delay::DelayNs;
use fw_common::frames::Captured;
use fw_common::pipeline::{self, NoStopwatch, Outcome};
use infer_core::Model;

/// A delay that returns at once.
pub struct NoDelay;

impl DelayNs for NoDelay {
    fn delay_ns(&mut self, _ns: u32) {}
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bytes of the committed mcu model (`models/mcu/model.fmq`).
pub fn mcu_model_bytes() -> Vec<u8> {
    std::fs::read(root().join("models/mcu/model.fmq")).unwrap()
}

/// The bytes of the committed sample frames (`firmware/frames/frames.bin`).
pub fn frames_blob() -> Vec<u8> {
    std::fs::read(root().join("firmware/frames/frames.bin")).unwrap()
}

/// `captured` through [`pipeline::process`] with the default camera configuration,
/// untimed, drawn on `display`.
pub fn process<'m, D>(
    model: &Model<'m>,
    index: usize,
    captured: &Captured<'_>,
    input: &mut [u8; infer_core::IMAGE_LEN],
    scratch: &mut [i8],
    display: &mut D,
) -> Outcome<'m>
where
    D: DrawTarget<Color = Gray8>,
    D::Error: core::fmt::Debug,
{
    let config = camera::Config::default();
    pipeline::process(
        model,
        index,
        captured,
        &config,
        input,
        scratch,
        display,
        &mut NoStopwatch,
    )
    .unwrap()
}
