//! Turning an image file into the model's 28x28 input.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use image::imageops::FilterType;

use crate::data::{IMAGE_LEN, IMAGE_SIDE};

/// Largest picture side, in pixels, that [`from_bytes`] decodes.
pub const MAX_SIDE: u32 = 8192;
/// Most memory, in bytes, that decoding one picture may take. A tiny GIF can declare a
/// frame of 10240x6144 pixels (found by the fuzz target `image_input`); without a bound
/// the decoder allocated and filled it, taking seconds.
pub const MAX_DECODED_BYTES: u64 = 128 << 20;

/// Reads an image file (PNG, JPEG, BMP, GIF, PNM; any size, colour or grey) as 28x28 pixels.
///
/// Without `camera` it does what the seed's `load_img(..., color_mode='grayscale',
/// target_size=(28, 28))` does: grayscale, nearest-neighbour resize, no inversion (the
/// image is expected to look like the dataset: a light garment on black). With `camera`
/// it runs the camera crate's preprocessing (find the object on a light background,
/// crop, resize, invert), the same code the firmware runs.
pub fn load(path: &Path, camera: bool) -> Result<[u8; IMAGE_LEN]> {
    let bytes = std::fs::read(path).context("cannot open")?;
    from_bytes(&bytes, camera)
}

/// [`load`] of a file's contents: the format is recognised from the bytes themselves.
///
/// Never panics, whatever the bytes (the fuzz target `image_input` checks that).
pub fn from_bytes(bytes: &[u8], camera: bool) -> Result<[u8; IMAGE_LEN]> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read")?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = crate::panic_guard::quietly(|| reader.decode())
        .map_err(|panic| anyhow!("not a readable image: the decoder failed ({panic})"))?;
    let img = decoded.map_err(|e| match e {
        image::ImageError::Limits(_) => anyhow!(
            "the picture is too large: at most {MAX_SIDE} pixels a side and {} MiB decoded",
            MAX_DECODED_BYTES >> 20
        ),
        other => anyhow::Error::new(other).context("not a readable image"),
    })?;
    if camera {
        return crate::camera::camera_input(&img).map(|(pixels, _)| pixels);
    }
    let side = IMAGE_SIDE as u32;
    let gray = image::imageops::resize(&img.to_luma8(), side, side, FilterType::Nearest);
    let mut out = [0u8; IMAGE_LEN];
    out.copy_from_slice(gray.as_raw());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, GrayImage, ImageFormat, Luma};

    #[test]
    fn from_bytes_knows_the_format_by_content_and_refuses_the_rest() {
        // Left half black, right half white; nearest-neighbour keeps the edge columns.
        let img = GrayImage::from_fn(40, 30, |x, _| Luma([if x < 20 { 0 } else { 255 }]));
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(img)
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        let pixels = from_bytes(png.get_ref(), false).unwrap();
        assert_eq!((pixels[0], pixels[IMAGE_SIDE - 1]), (0, 255));
        for (bytes, camera) in [(&b"GIF89a"[..], false), (&b"plain text"[..], true)] {
            let e = format!("{:#}", from_bytes(bytes, camera).unwrap_err());
            assert!(e.contains("not a readable image"), "{e}");
        }
    }

    #[test]
    fn a_jpeg_that_makes_the_decoder_panic_is_refused() {
        // Found by the fuzz target `image_input`: zune-jpeg panics in its AVX2 IDCT
        // (etemesi254/zune-image#361). On CPUs without AVX2 it may decode instead.
        let bytes = include_bytes!("../../fuzz/findings/image_input/jpeg-idct-panic.jpg");
        for camera in [false, true] {
            if let Err(e) = from_bytes(bytes, camera) {
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
            &include_bytes!("../../fuzz/findings/image_input/gif-frame-10240x6144.gif")[..],
            include_bytes!("../../fuzz/findings/image_input/gif-frame-10240x6144-b.gif"),
            include_bytes!("../../fuzz/findings/image_input/gif-frame-1155x32768.gif"),
        ] {
            for camera in [false, true] {
                let e = format!("{:#}", from_bytes(bytes, camera).unwrap_err());
                assert!(e.contains("too large"), "{e}");
            }
        }
    }
}
