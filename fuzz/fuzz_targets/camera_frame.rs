//! Camera-frame preprocessing of any size and content, with any configuration, by both
//! paths: the scene path (`camera::scene::preprocess_scene`, the code the firmware runs
//! on every frame) and `camera::preprocess` (the earlier reading, whose dataset path the
//! scene path shares). Neither may panic; each must accept exactly the frames whose
//! buffer matches their size, and keep its promises about the output.
//!
//! Input layout: width (u16, little-endian), `min_contrast`, `noise_factor`, `min_run`
//! (u16), `margin_percent` (its top two bits pick the mode: auto, photo, dataset, auto;
//! the rest is the margin, and `min_side_percent` is the margin's value too), then the
//! pixels. The height is the number of whole rows the
//! pixels fill; a flag in the width's top bit drops the last pixel, so that sizes that
//! do not match are tried too.
#![no_main]

use camera::preprocess::{self, Config, Detection, Error, Frame, MAX_FRAME_SIDE, Mode};
use camera::scene::preprocess_scene;
use infer_core::IMAGE_LEN as PIXELS;
use libfuzzer_sys::fuzz_target;

/// The one call into a preprocessing path (`scene`: the scene path), so that a move of
/// the code changes one line.
fn preprocess_frame(
    scene: bool,
    pixels: &[u8],
    width: usize,
    height: usize,
    config: &Config,
    out: &mut [u8; PIXELS],
) -> Result<Detection, Error> {
    let frame = Frame::new(pixels, width, height)?;
    if scene {
        preprocess_scene(&frame, config, out)
    } else {
        preprocess::preprocess(&frame, config, out)
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 7 {
        return;
    }
    let (head, pixels) = input.split_at(7);
    let raw_width = u16::from_le_bytes([head[0], head[1]]);
    let width = usize::from(raw_width & 0x7fff);
    let config = Config {
        min_contrast: head[2],
        noise_factor: head[3],
        min_run: u16::from_le_bytes([head[4], head[5]]),
        margin_percent: head[6] & 0x3f,
        min_side_percent: head[6] & 0x3f,
        mode: [None, Some(Mode::Photo), Some(Mode::Dataset), None][usize::from(head[6] >> 6)],
    };
    let height = pixels.len().checked_div(width).unwrap_or(0);
    let mut used = &pixels[..width * height];
    let mismatched = raw_width & 0x8000 != 0 && !used.is_empty();
    if mismatched {
        used = &used[..used.len() - 1];
    }
    for (scene, config) in [
        (true, config),
        (true, Config::default()),
        (false, config),
        (false, Config::default()),
    ] {
        let mut out = [0xa5u8; PIXELS];
        match preprocess_frame(scene, used, width, height, &config, &mut out) {
            Ok(d) => {
                assert!(!mismatched);
                // The object lies inside the frame; the crop is a square around it.
                let (left, top) = (d.object.left as usize, d.object.top as usize);
                assert!(d.object.left >= 0 && d.object.top >= 0);
                assert!(left + d.object.width as usize <= width);
                assert!(top + d.object.height as usize <= height);
                assert_eq!(d.crop.width, d.crop.height);
                assert!(d.crop.width >= d.object.width.max(d.object.height));
                if let Some(mode) = config.mode {
                    assert_eq!(d.mode, mode);
                }
                match d.mode {
                    // The scene path's levels come from its contrast view, not the frame.
                    Mode::Photo if scene => {}
                    Mode::Photo => {
                        assert!(d.threshold < d.background);
                        // Dataset convention: the darkest part of the object becomes 255.
                        assert_eq!(out.iter().max(), Some(&255));
                    }
                    Mode::Dataset => {
                        assert!(d.threshold > d.background);
                        // The whole frame, padded to a square, was resized.
                        assert_eq!(d.crop.width as usize, width.max(height));
                    }
                }
            }
            Err(e @ (Error::Empty | Error::SizeMismatch { .. } | Error::TooLarge { .. })) => {
                // Refused by `Frame::new`, before any preprocessing.
                let too_large = width.max(height) > MAX_FRAME_SIDE;
                assert!(mismatched || width == 0 || height == 0 || too_large, "{e}");
                assert!(!mismatched || too_large || matches!(e, Error::SizeMismatch { .. }));
            }
            Err(e) => {
                // Once preprocessing ran, the only answer left is "nothing there", and
                // it leaves the output all zeros.
                assert!(!mismatched, "{e}");
                assert!(e.nothing_there(), "{e}");
                assert!(out.iter().all(|&p| p == 0), "{e}");
            }
        }
    }
});
