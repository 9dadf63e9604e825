//! Image loading for `trainer predict` (`trainer_core::data::image_input::from_bytes`): any bytes,
//! decoded as PNG, JPEG, BMP, GIF or PNM, then turned into the model's 28x28 input in
//! the automatic mode, in each forced one (dataset: resize whole; photo: find the
//! garment, crop, resize, invert) and by the scene path, or answered "nothing there".
//! Nothing may panic.
//!
//! The code is `trainer-core`'s, the trainer's half without libtorch, so the target
//! needs neither libtorch nor the rest of the trainer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainer_core::data::image_input::{self, Reading};

fuzz_target!(|bytes: &[u8]| {
    // The same picture decodes in every reading or in none: only the preprocessing
    // differs, and it answers (a garment or nothing there) for every decoded picture
    // within the camera crate's size limit.
    let auto = image_input::from_bytes(bytes, Reading::Auto);
    for mode in [camera::Mode::Photo, camera::Mode::Dataset] {
        let forced = image_input::from_bytes(bytes, Reading::Forced(mode));
        assert_eq!(auto.is_ok(), forced.is_ok());
        if let Ok(p) = forced {
            assert_eq!(p.mode(), Some(mode));
        }
    }
    let scene = image_input::from_bytes(bytes, Reading::Scene);
    assert_eq!(auto.is_ok(), scene.is_ok());
    for p in [auto, scene].into_iter().flatten() {
        assert!(p.mode().is_some());
    }
});
