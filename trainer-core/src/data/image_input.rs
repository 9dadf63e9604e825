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

/// Reads an image file (PNG, JPEG, BMP, GIF, PNM; any size, colour or grey) and turns
/// it into the model's 28x28 input with [`crate::data::photo::prepare`]: the camera crate's
/// preprocessing, the same code the firmware runs.
///
/// `mode` `None` decides per picture whether it is dataset-style (a light garment on
/// dark, as the seed's `load_img(..., color_mode='grayscale', target_size=(28, 28))`
/// expects: resized whole, not inverted; a 28x28 image passes unchanged) or a photo (a
/// dark garment on a light background, anywhere: found, cropped, resized, inverted);
/// `Some` forces one. A picture without a garment gives [`Prepared::Nothing`].
pub fn load(path: &Path, mode: Option<Mode>) -> Result<Prepared> {
    let bytes = std::fs::read(path).context("cannot open")?;
    from_bytes(&bytes, mode)
}

/// [`load`] of a file's contents: the format is recognised from the bytes themselves.
///
/// Never panics, whatever the bytes (the fuzz target `image_input` checks that).
pub fn from_bytes(bytes: &[u8], mode: Option<Mode>) -> Result<Prepared> {
    crate::data::photo::prepare(&decode(bytes)?, mode)
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
        let p = from_bytes(png.get_ref(), None).unwrap();
        assert_eq!(p.mode(), Some(Mode::Dataset));
        let pixels = p.input().unwrap();
        // Stretched: the background 0, the lightest level 255.
        assert_eq!((pixels[0], pixels[28 * 14 + 14]), (0, 255));
        for (bytes, mode) in [
            (&b"GIF89a"[..], None),
            (&b"plain text"[..], Some(Mode::Photo)),
        ] {
            let e = format!("{:#}", from_bytes(bytes, mode).unwrap_err());
            assert!(e.contains("not a readable image"), "{e}");
        }
    }

    #[test]
    fn a_jpeg_that_makes_the_decoder_panic_is_refused() {
        // Found by the fuzz target `image_input`: zune-jpeg panics in its AVX2 IDCT
        // (etemesi254/zune-image#361). On CPUs without AVX2 it may decode instead.
        let bytes = include_bytes!("../../../fuzz/findings/image_input/jpeg-idct-panic.jpg");
        for mode in [None, Some(Mode::Photo), Some(Mode::Dataset)] {
            if let Err(e) = from_bytes(bytes, mode) {
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
            for mode in [None, Some(Mode::Photo), Some(Mode::Dataset)] {
                let e = format!("{:#}", from_bytes(bytes, mode).unwrap_err());
                assert!(e.contains("too large"), "{e}");
            }
        }
    }
}
