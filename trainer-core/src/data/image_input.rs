//! Turning an image file into the model's 28x28 input.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use camera::Mode;
use image::DynamicImage;

use crate::data::photo::Prepared;

/// Largest picture side, in pixels, that [`from_bytes`] decodes.
pub const MAX_SIDE: u32 = 8192;
/// Most memory, in bytes, that decoding one picture may take. A tiny GIF can declare a
/// frame of 10240x6144 pixels (found by the fuzz target `image_input`); without a bound
/// the decoder allocated and filled it, taking seconds.
pub const MAX_DECODED_BYTES: u64 = 128 << 20;

/// How a picture becomes the model's input: which of the camera crate's preprocessing
/// paths reads it, the same code the firmware runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reading {
    /// [`camera::preprocess()`], deciding per picture whether it is dataset-style (a
    /// light garment on dark, as the seed's `load_img(..., color_mode='grayscale',
    /// target_size=(28, 28))` expects: resized whole, not inverted; a 28x28 image passes
    /// unchanged) or a photo (a dark garment on a light background, anywhere: found,
    /// cropped, resized, inverted): the reading before the scene path.
    Auto,
    /// [`camera::preprocess()`] with the style forced.
    Forced(Mode),
    /// The scene path, `camera::scene::preprocess_scene`: a garment lighter or darker
    /// than a surface of any level, plain or textured, unevenly lit (a desk, a fabric, a
    /// cast shadow); dataset-style pictures still go the dataset way. The firmware's
    /// reading, and the default.
    #[default]
    Scene,
}

impl Reading {
    /// Its name as `trainer predict --mode` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Reading::Auto => "auto",
            Reading::Forced(mode) => mode.name(),
            Reading::Scene => "scene",
        }
    }
}

/// Reads an image file (PNG, JPEG, BMP, GIF, PNM; any size, colour or grey) and turns
/// it into the model's 28x28 input the way `reading` says
/// ([`crate::data::photo::prepare`] or [`crate::data::photo::prepare_scene`]). A
/// picture without a garment gives [`Prepared::Nothing`].
pub fn load(path: &Path, reading: Reading) -> Result<Prepared> {
    let bytes = std::fs::read(path).context("cannot open")?;
    from_bytes(&bytes, reading)
}

/// [`load`] of a file's contents: the format is recognised from the bytes themselves.
///
/// Never panics, whatever the bytes (the fuzz target `image_input` checks that).
pub fn from_bytes(bytes: &[u8], reading: Reading) -> Result<Prepared> {
    prepare(&decode(bytes)?, reading)
}

/// A decoded picture turned into the model's input the way `reading` says (what
/// [`from_bytes`] does after decoding; `photo-eval` calls it on the pictures it draws).
pub fn prepare(picture: &DynamicImage, reading: Reading) -> Result<Prepared> {
    match reading {
        Reading::Auto => crate::data::photo::prepare(picture, None),
        Reading::Forced(mode) => crate::data::photo::prepare(picture, Some(mode)),
        Reading::Scene => crate::data::photo::prepare_scene(picture),
    }
}

/// Decodes a picture, with bounds on its size ([`MAX_SIDE`], [`MAX_DECODED_BYTES`]).
pub fn decode(bytes: &[u8]) -> Result<DynamicImage> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read")?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = crate::data::panic_guard::quietly(|| reader.decode())
        .map_err(|panic| anyhow!("not a readable image: the decoder failed ({panic})"))?;
    decoded.map_err(|e| match e {
        image::ImageError::Limits(_) => anyhow!(
            "the picture is too large: at most {MAX_SIDE} pixels a side and {} MiB decoded",
            MAX_DECODED_BYTES >> 20
        ),
        other => anyhow::Error::new(other).context("not a readable image"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, GrayImage, ImageFormat, Luma};

    /// Every way a picture can be read.
    const READINGS: [Reading; 4] = [
        Reading::Auto,
        Reading::Forced(Mode::Photo),
        Reading::Forced(Mode::Dataset),
        Reading::Scene,
    ];

    #[test]
    fn from_bytes_knows_the_format_by_content_and_refuses_the_rest() {
        // A light square on black, 56x56: dataset style, resized whole to 28x28.
        let img = GrayImage::from_fn(56, 56, |x, y| {
            Luma([if (10..46).contains(&x) && (4..52).contains(&y) {
                200
            } else {
                0
            }])
        });
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(img)
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        let p = from_bytes(png.get_ref(), Reading::Auto).unwrap();
        assert_eq!(p.mode(), Some(Mode::Dataset));
        let pixels = p.input().unwrap();
        // Stretched: the background 0, the lightest level 255.
        assert_eq!((pixels[0], pixels[28 * 14 + 14]), (0, 255));
        for (bytes, reading) in [
            (&b"GIF89a"[..], Reading::Auto),
            (&b"plain text"[..], Reading::Forced(Mode::Photo)),
            (&b"plain text"[..], Reading::Scene),
        ] {
            let e = format!("{:#}", from_bytes(bytes, reading).unwrap_err());
            assert!(e.contains("not a readable image"), "{e}");
        }
    }

    #[test]
    fn the_scene_reading_takes_the_scene_path() {
        // A light garment (a rectangle) lying on the wood desk, as the OV7675 sees it.
        let garment = GrayImage::from_fn(28, 28, |x, y| {
            Luma([if (8..20).contains(&x) && (4..24).contains(&y) {
                210
            } else {
                0
            }])
        });
        let kind = &crate::data::scenes::SCENE_KINDS[0];
        let mut rng = infer_core::rng::SplitMix64::new(4);
        let picture = crate::data::scenes::scene_frame(kind, Some((&garment, true)), &mut rng);
        let picture = DynamicImage::ImageLuma8(picture);
        let mut png = Cursor::new(Vec::new());
        picture.write_to(&mut png, ImageFormat::Png).unwrap();
        let scene = from_bytes(png.get_ref(), Reading::Scene).unwrap();
        assert!(scene.input().is_some(), "{scene:?}");
        assert_eq!(scene, crate::data::photo::prepare_scene(&picture).unwrap());
        let auto = from_bytes(png.get_ref(), Reading::Auto).unwrap();
        assert_ne!(auto, scene, "the scene reading read it the classic way");
    }

    #[test]
    fn a_jpeg_that_makes_the_decoder_panic_is_refused() {
        // Found by the fuzz target `image_input`: zune-jpeg panics in its AVX2 IDCT
        // (etemesi254/zune-image#361). On CPUs without AVX2 it may decode instead.
        let bytes = include_bytes!("../../../fuzz/findings/image_input/jpeg-idct-panic.jpg");
        for reading in READINGS {
            if let Err(e) = from_bytes(bytes, reading) {
                let e = format!("{e:#}");
                assert!(e.contains("not a readable image"), "{e}");
            }
        }
    }

    #[test]
    fn tiny_gifs_declaring_huge_frames_are_refused_at_once() {
        // Found by the fuzz target `image_input` (slow units): a 40x24 GIF screen holding
        // one frame declared 10240x6144 or 1155x32768 pixels.
        for bytes in [
            &include_bytes!("../../../fuzz/findings/image_input/gif-frame-10240x6144.gif")[..],
            include_bytes!("../../../fuzz/findings/image_input/gif-frame-10240x6144-b.gif"),
            include_bytes!("../../../fuzz/findings/image_input/gif-frame-1155x32768.gif"),
        ] {
            for reading in READINGS {
                let e = format!("{:#}", from_bytes(bytes, reading).unwrap_err());
                assert!(e.contains("too large"), "{e}");
            }
        }
    }
}
