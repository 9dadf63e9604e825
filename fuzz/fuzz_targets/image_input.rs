//! Image loading for `trainer predict` (`trainer_core::data::image_input::from_bytes`): any bytes,
//! decoded as PNG, JPEG, BMP, GIF or PNM, then turned into the model's 28x28 input in
//! the automatic mode and in each forced one (dataset: resize whole; photo: find the
//! garment, crop, resize, invert), or answered "nothing there". Nothing may panic.
//!
//! The code is `trainer-core`'s, the trainer's half without libtorch, so the target
//! needs neither libtorch nor the rest of the trainer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainer_core::data::image_input;

fuzz_target!(|bytes: &[u8]| {
    // The same picture decodes in every mode or in none: only the preprocessing
    // differs, and it answers (a garment or nothing there) for every decoded picture
    // within the camera crate's size limit.
    let auto = image_input::from_bytes(bytes, None);
    for mode in [Some(camera::Mode::Photo), Some(camera::Mode::Dataset)] {
        let forced = image_input::from_bytes(bytes, mode);
        assert_eq!(auto.is_ok(), forced.is_ok());
        if let Ok(p) = forced {
            assert_eq!(p.mode(), mode);
        }
    }
    if let Ok(p) = auto {
        assert!(p.mode().is_some());
    }
});
