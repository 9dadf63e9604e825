//! Image loading for `trainer predict` (`trainer::image_input::from_bytes`): any bytes,
//! decoded as PNG, JPEG, BMP, GIF or PNM, then turned into the model's 28x28 input the
//! dataset way and the camera way (find the garment, crop, resize, invert). Nothing may
//! panic.
//!
//! `trainer/src/{data,camera,image_input,panic_guard,atomic}.rs` are compiled here as modules (`#[path]`),
//! so the target needs neither libtorch nor the rest of the trainer.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../trainer/src/atomic.rs"]
mod atomic;
#[allow(dead_code)]
#[path = "../../trainer/src/camera.rs"]
mod camera;
#[allow(dead_code)]
#[path = "../../trainer/src/data.rs"]
mod data;
#[allow(dead_code)]
#[path = "../../trainer/src/image_input.rs"]
mod image_input;
#[path = "../../trainer/src/panic_guard.rs"]
mod panic_guard;

fuzz_target!(|bytes: &[u8]| {
    let plain = image_input::from_bytes(bytes, false);
    let camera = image_input::from_bytes(bytes, true);
    // A picture that decodes always gives a dataset-style input; the camera way may
    // still find no garment in it.
    if camera.is_ok() {
        assert!(plain.is_ok());
    }
});
