//! The scene preprocessing (`camera::scene::preprocess_scene`, which
//! [`crate::pipeline::process`] runs) on one frame alone, summed up in a few numbers
//! that the QEMU example `scene-cost` logs and fw-host's `expected --scene` prints, so
//! that the two can be compared bit for bit on the scene frames.

use camera::preprocess::{Config, Frame, Rect};
use camera::scene::preprocess_scene;
use infer_core::IMAGE_LEN as PIXELS;

use crate::pipeline::FrameError;

/// What the scene path made of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceneDigest {
    /// `garment`, or the reason there is none ([`FrameError::name`]).
    pub outcome: &'static str,
    /// The garment's box, when there is one.
    pub object: Option<Rect>,
    /// CRC-32 of the 28x28 model input (all zeros on an error).
    pub input_crc: u32,
}

/// Runs the scene path on `frame` with [`Config::default`], leaving the model input in
/// `input`.
pub fn scene_digest(frame: &Frame<'_>, input: &mut [u8; PIXELS]) -> SceneDigest {
    let result = preprocess_scene(frame, &Config::default(), input);
    let (outcome, object) = match result {
        Ok(d) => ("garment", Some(d.object)),
        Err(e) => (FrameError::Preprocess(e).name(), None),
    };
    SceneDigest {
        outcome,
        object,
        input_crc: infer_core::crc32(input),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dark_square_on_grey_is_found_and_a_flat_frame_is_not() {
        let (w, h) = (160, 120);
        let mut pixels = [140u8; 160 * 120];
        for y in 40..90 {
            for x in 50..110 {
                pixels[y * w + x] = 40;
            }
        }
        let mut input = [0u8; PIXELS];
        let frame = Frame::new(&pixels, w, h).unwrap();
        let found = scene_digest(&frame, &mut input);
        assert_eq!(found.outcome, "garment");
        let object = found.object.unwrap();
        assert!(object.width >= 50 && object.height >= 40);
        assert_eq!(found.input_crc, infer_core::crc32(&input));
        let flat = [140u8; 160 * 120];
        let frame = Frame::new(&flat, w, h).unwrap();
        let empty = scene_digest(&frame, &mut input);
        assert_eq!(empty.outcome, "no-object");
        assert_eq!(empty.object, None);
    }
}
