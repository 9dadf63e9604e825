//! Turning an image file into the model's 28x28 input.

use std::io::Cursor;
use std::path::Path;

use anyhow::{Context, Result};
use image::imageops::FilterType;

use crate::data::{IMAGE_LEN, IMAGE_SIDE};

/// Reads an image file (PNG, JPEG, BMP, GIF, PNM; any size, colour or grey) as 28x28 pixels.
///
/// Without `camera` it does what the seed's `load_img(..., color_mode='grayscale',
/// target_size=(28, 28))` does: grayscale, nearest-neighbour resize, no inversion (the
/// image is expected to look like the dataset: a light garment on black). With `camera`
/// it runs infer-core's camera preprocessing (find the object on a light background,
/// crop, resize, invert), the same code the firmware runs.
pub fn load(path: &Path, camera: bool) -> Result<[u8; IMAGE_LEN]> {
    let bytes = std::fs::read(path).context("cannot open")?;
    from_bytes(&bytes, camera)
}

/// [`load`] of a file's contents: the format is recognised from the bytes themselves.
///
/// Never panics, whatever the bytes (the fuzz target `image_input` checks that).
pub fn from_bytes(bytes: &[u8], camera: bool) -> Result<[u8; IMAGE_LEN]> {
    let img = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot read")?
        .decode()
        .context("not a readable image")?;
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
        for (bytes, camera) in [
            (&b"GIF89a, then nothing"[..], false),
            (&b"plain text"[..], true),
        ] {
            let e = format!("{:#}", from_bytes(bytes, camera).unwrap_err());
            assert!(e.contains("not a readable image"), "{e}");
        }
    }
}
