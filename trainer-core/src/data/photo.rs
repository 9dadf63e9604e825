//! Camera-like frames on the host.
//!
//! - [`synthesize_frame`] makes a deterministic 160x120 (QQVGA) grayscale frame from a
//!   28x28 test image the way a camera would see the garment: scaled up, dark on a
//!   light, unevenly lit background, off-centre, with sensor noise and a few dead or
//!   hot pixels.
//! - [`write_sample_frames`] writes such frames as the blob the firmware embeds
//!   (`firmware/frames/frames.bin`, format and parser in [`camera::frames`]) with a
//!   readable manifest and a preview picture.
//! - [`prepare`] turns any picture (an [`image::DynamicImage`]) into the model's 28x28
//!   input through [`camera::preprocess()`], the very code the firmware runs: it
//!   decides whether the picture is dataset-style or a photo, and may find nothing
//!   there. A colour picture becomes gray with [`to_gray`] first, which keeps a
//!   saturated garment dark against a light background.
//! - [`firmware_frame`] fits any picture into a 160x120 frame for the firmware
//!   (`scripts/run-firmware.sh`), and [`write_picture_frames`] writes such frames as a
//!   blob.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, ensure};
use camera::frames::{self, FrameRecord, FrameSet};
use camera::preprocess::{self, Config, Detection, Frame, Mode};
use image::{DynamicImage, GrayImage, imageops::FilterType};
use infer_core::rng::SplitMix64;
use infer_core::{IMAGE_LEN as PIXELS, IMAGE_SIDE as SIDE};

use crate::data::CLASS_NAMES;
use crate::files::atomic::write_atomic;

/// Width of a synthesized frame (QQVGA).
pub const FRAME_WIDTH: usize = preprocess::QQVGA_WIDTH;
/// Height of a synthesized frame (QQVGA).
pub const FRAME_HEIGHT: usize = preprocess::QQVGA_HEIGHT;
/// Seed of the first sample frame; frame `k` uses `SAMPLE_SEED + k`.
pub const SAMPLE_SEED: u64 = 0xF00D_CAFE;
/// Photos larger than this on their longer side are scaled down before preprocessing,
/// to about what a small camera module delivers.
pub const MAX_PHOTO_SIDE: u32 = 320;

/// An owned grayscale frame, row-major, 255 = white.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` pixels.
    pub pixels: Vec<u8>,
}

impl CameraFrame {
    /// Borrows the frame as the camera crate's [`Frame`] (checks the size).
    pub fn as_frame(&self) -> Result<Frame<'_>, preprocess::Error> {
        Frame::new(&self.pixels, self.width, self.height)
    }

    /// Converts any image to a grayscale frame ([`to_gray`], no resizing).
    pub fn from_image(img: &DynamicImage) -> Self {
        let gray = to_gray(img);
        Self {
            width: gray.width() as usize,
            height: gray.height() as usize,
            pixels: gray.into_raw(),
        }
    }

    /// The frame as an `image` grayscale buffer (for saving previews).
    pub fn to_gray_image(&self) -> GrayImage {
        GrayImage::from_raw(self.width as u32, self.height as u32, self.pixels.clone())
            .expect("width * height pixels")
    }
}

/// Converts a picture to grayscale the way the garment stands out best.
///
/// A grey picture, or a colour one with a dark border ring (the dataset style), becomes
/// its luma. In a colour picture with a light border (the ring's luma median at least
/// [`preprocess::DARK_BORDER`]) the garment is what is darker than the background in
/// *some* channel: luma averages the channels' contrast, and a saturated garment (yellow,
/// cyan, light green) can have nearly the luma of a white background. So each pixel
/// becomes the border's luma plus its largest drop below the border's colour (the
/// channels' medians over the ring) in any channel: `luma(border) + min_c (p_c -
/// border_c)`; on a grey background that is `min(R, G, B)` up to a constant.
pub fn to_gray(img: &DynamicImage) -> GrayImage {
    let luma = img.to_luma8();
    if !img.color().has_color() {
        return luma;
    }
    let rgb = img.to_rgb8();
    let (w, h) = rgb.dimensions();
    let band = preprocess::BORDER as u32;
    // Red, green, blue and luma over the border ring.
    let mut hist = [[0u32; 256]; 4];
    for ((x, y, p), l) in rgb.enumerate_pixels().zip(luma.pixels()) {
        if x < band || y < band || x + band >= w || y + band >= h {
            for (c, &v) in p.0.iter().enumerate() {
                hist[c][usize::from(v)] += 1;
            }
            hist[3][usize::from(l.0[0])] += 1;
        }
    }
    let [red, green, blue, border] = hist.map(|h| lower_median(&h));
    if border < preprocess::DARK_BORDER {
        return luma;
    }
    let colour = [red, green, blue].map(i32::from);
    GrayImage::from_fn(w, h, |x, y| {
        let p = rgb.get_pixel(x, y).0;
        let drop = (0..3)
            .map(|c| i32::from(p[c]) - colour[c])
            .min()
            .unwrap_or(0);
        image::Luma([(i32::from(border) + drop).clamp(0, 255) as u8])
    })
}

/// The lower median of a histogram (as the camera crate takes it).
fn lower_median(hist: &[u32; 256]) -> u8 {
    let half = hist.iter().sum::<u32>().div_ceil(2);
    let mut seen = 0;
    for (v, &k) in hist.iter().enumerate() {
        seen += k;
        if seen >= half && seen > 0 {
            return v as u8;
        }
    }
    255
}

/// What [`synthesize_frame`] chose for a frame (for manifests and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Left column of the scaled-up 28x28 image.
    pub left: usize,
    /// Top row of the scaled-up 28x28 image.
    pub top: usize,
    /// Side of the scaled-up image in pixels.
    pub side: usize,
    /// Background level at the frame's centre.
    pub background: u8,
    /// Level of the darkest garment pixel (dataset value 255).
    pub ink: u8,
}

/// Bilinear sample of a 28x28 image at output pixel `o` of `side`, per axis, in 1/256
/// pixel fixed point: returns the lower source index and the weight of the next one.
fn source_coord(o: usize, side: usize) -> (usize, i64) {
    // Centre of output pixel o, mapped to source coordinates, minus half a pixel.
    let u = ((2 * o + 1) * SIDE * 256 / (2 * side)) as i64 - 128;
    let u = u.clamp(0, (SIDE as i64 - 1) * 256);
    ((u >> 8) as usize, u & 255)
}

/// Makes a 160x120 camera-like frame from a 28x28 dataset image, deterministically
/// from `seed`: the image is scaled up bilinearly to 60..=100 pixels, mapped to dark on
/// a light background (level 190..=225 with a linear lighting gradient), placed
/// off-centre, and given noise (σ ≈ 5.2 levels) and about 5 dead or hot pixels.
pub fn synthesize_frame(image: &[u8; PIXELS], seed: u64) -> (CameraFrame, Placement) {
    let (w, h) = (FRAME_WIDTH, FRAME_HEIGHT);
    let mut rng = SplitMix64::new(seed);
    let side = rng.range(60, 100) as usize;
    let background = rng.range(190, 225);
    let ink = rng.range(15, 50);
    let (grad_x, grad_y) = (rng.range(-12, 12), rng.range(-12, 12));
    // Off-centre: the image's centre is at least 12 pixels from the frame's centre.
    let (left, top) = loop {
        let left = rng.range(3, (w - side - 3) as i64) as usize;
        let top = rng.range(3, (h - side - 3) as i64) as usize;
        let dx = (left + side / 2).abs_diff(w / 2);
        let dy = (top + side / 2).abs_diff(h / 2);
        if dx.max(dy) >= 12 {
            break (left, top);
        }
    };
    let mut pixels = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let level = background
                + grad_x * (2 * x as i64 - w as i64) / (2 * w as i64)
                + grad_y * (2 * y as i64 - h as i64) / (2 * h as i64);
            let v = if (left..left + side).contains(&x) && (top..top + side).contains(&y) {
                let (sx, fx) = source_coord(x - left, side);
                let (sy, fy) = source_coord(y - top, side);
                let at = |xx: usize, yy: usize| {
                    i64::from(image[yy.min(SIDE - 1) * SIDE + xx.min(SIDE - 1)])
                };
                let top_row = at(sx, sy) * (256 - fx) + at(sx + 1, sy) * fx;
                let bottom_row = at(sx, sy + 1) * (256 - fx) + at(sx + 1, sy + 1) * fx;
                (top_row * (256 - fy) + bottom_row * fy + (1 << 15)) >> 16
            } else {
                0
            };
            // Sum of four uniforms in -4..=4: variance 4 * 80 / 12, σ ≈ 5.2.
            let noise: i64 = (0..4).map(|_| rng.range(-4, 4)).sum();
            let mut p = level - v * (level - ink) / 255 + noise;
            // About one pixel in 4096 is dead (black) or hot (white).
            match rng.next_u64() % 8192 {
                0 => p = 0,
                1 => p = 255,
                _ => {}
            }
            pixels[y * w + x] = p.clamp(0, 255) as u8;
        }
    }
    let frame = CameraFrame {
        width: w,
        height: h,
        pixels,
    };
    let placement = Placement {
        left,
        top,
        side,
        background: background as u8,
        ink: ink as u8,
    };
    (frame, placement)
}

/// Scales a photo down to at most [`MAX_PHOTO_SIDE`] on its longer side (aspect kept)
/// and converts it to a grayscale frame.
pub fn frame_from_photo(img: &DynamicImage) -> CameraFrame {
    let longer = img.width().max(img.height());
    if longer > MAX_PHOTO_SIDE {
        let small = img.resize(MAX_PHOTO_SIDE, MAX_PHOTO_SIDE, FilterType::Triangle);
        CameraFrame::from_image(&small)
    } else {
        CameraFrame::from_image(img)
    }
}

/// What preprocessing made of a picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    /// A garment: the model's 28x28 input in dataset convention and what was found.
    Garment {
        /// The model input.
        input: Box<[u8; PIXELS]>,
        /// The style, the object's box and the crop.
        detection: Detection,
    },
    /// No garment in the picture; the reason's [`preprocess::Error::nothing_there`] is
    /// true.
    Nothing(preprocess::Error),
}

impl Prepared {
    /// The picture style it was taken for.
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Self::Garment { detection, .. } => Some(detection.mode),
            Self::Nothing(e) => e.mode(),
        }
    }

    /// The model input, when there is a garment.
    pub fn input(&self) -> Option<&[u8; PIXELS]> {
        match self {
            Self::Garment { input, .. } => Some(input),
            Self::Nothing(_) => None,
        }
    }
}

/// Runs [`camera::preprocess()`] on `frame` with the default [`Config`] and `mode`
/// (`None`: decided per frame).
pub fn prepare_frame(frame: &CameraFrame, mode: Option<Mode>) -> anyhow::Result<Prepared> {
    let config = Config {
        mode,
        ..Config::default()
    };
    run(frame, |f, out| preprocess::preprocess(f, &config, out))
}

/// Like [`prepare_frame`] with no forced style, through the scene path
/// (`camera::scene::preprocess_scene`, the firmware's) instead of [`preprocess::preprocess`].
pub fn prepare_scene_frame(frame: &CameraFrame) -> anyhow::Result<Prepared> {
    let config = Config::default();
    run(frame, |f, out| {
        camera::scene::preprocess_scene(f, &config, out)
    })
}

/// Runs the preprocessing `path` on `frame`: a garment, nothing there, or an error.
fn run(
    frame: &CameraFrame,
    path: impl FnOnce(&Frame<'_>, &mut [u8; PIXELS]) -> Result<Detection, preprocess::Error>,
) -> anyhow::Result<Prepared> {
    let mut out = [0u8; PIXELS];
    match path(&frame.as_frame().context("picture size")?, &mut out) {
        Ok(detection) => Ok(Prepared::Garment {
            input: Box::new(out),
            detection,
        }),
        Err(e) if e.nothing_there() => Ok(Prepared::Nothing(e)),
        Err(e) => Err(anyhow::Error::new(e).context("preprocessing the picture")),
    }
}

/// The path of `trainer predict --mode auto|dataset|photo`: picture → grayscale frame
/// (photos larger than [`MAX_PHOTO_SIDE`] scaled down) → [`prepare_frame`].
pub fn prepare(img: &DynamicImage, mode: Option<Mode>) -> anyhow::Result<Prepared> {
    prepare_frame(&frame_from_photo(img), mode)
}

/// The scene path, `trainer predict`'s default (`--mode scene`): picture → grayscale
/// frame (photos larger than [`MAX_PHOTO_SIDE`] scaled down) → [`prepare_scene_frame`].
pub fn prepare_scene(img: &DynamicImage) -> anyhow::Result<Prepared> {
    prepare_scene_frame(&frame_from_photo(img))
}

/// Fits any picture into a [`FRAME_WIDTH`]x[`FRAME_HEIGHT`] grayscale frame (luma,
/// the camera's Y plane, not [`to_gray`]), as the firmware's camera delivers: scaled (aspect kept) to fill it along one side, the rest
/// filled by repeating the picture's edge pixels, so the border still shows the
/// picture's own background.
pub fn firmware_frame(img: &DynamicImage) -> CameraFrame {
    let (w, h) = (FRAME_WIDTH as u32, FRAME_HEIGHT as u32);
    let gray = img.to_luma8();
    let (iw, ih) = (gray.width().max(1), gray.height().max(1));
    // The larger scale that still fits: min(w / iw, h / ih), rounded, at least 1 pixel.
    let (sw, sh) = if u64::from(iw) * u64::from(h) >= u64::from(ih) * u64::from(w) {
        (
            w,
            ((u64::from(ih) * u64::from(w) + u64::from(iw) / 2) / u64::from(iw)) as u32,
        )
    } else {
        (
            ((u64::from(iw) * u64::from(h) + u64::from(ih) / 2) / u64::from(ih)) as u32,
            h,
        )
    };
    let (sw, sh) = (sw.clamp(1, w), sh.clamp(1, h));
    let scaled = image::imageops::resize(&gray, sw, sh, FilterType::Triangle);
    let (ox, oy) = (((w - sw) / 2) as i64, ((h - sh) / 2) as i64);
    let mut pixels = Vec::with_capacity(FRAME_WIDTH * FRAME_HEIGHT);
    for y in 0..i64::from(h) {
        for x in 0..i64::from(w) {
            let sx = (x - ox).clamp(0, i64::from(sw) - 1) as u32;
            let sy = (y - oy).clamp(0, i64::from(sh) - 1) as u32;
            pixels.push(scaled.get_pixel(sx, sy).0[0]);
        }
    }
    CameraFrame {
        width: FRAME_WIDTH,
        height: FRAME_HEIGHT,
        pixels,
    }
}

/// Label of a frame whose class is not known (a user's picture).
pub const UNKNOWN_LABEL: u8 = camera::frames::UNKNOWN_LABEL;

/// Writes user pictures as firmware frames ([`firmware_frame`]) into `out_dir`:
/// `frames.bin` (labels unknown, test-set index 65535) and `frames.txt` (frame number
/// and the picture's path). Used by `trainer frames --pictures` and
/// `scripts/run-firmware.sh`.
pub fn write_picture_frames(pictures: &[std::path::PathBuf], out_dir: &Path) -> anyhow::Result<()> {
    ensure!(!pictures.is_empty(), "no pictures given");
    ensure!(
        pictures.len() <= usize::from(u16::MAX),
        "at most {} pictures",
        u16::MAX
    );
    let mut frames = Vec::with_capacity(pictures.len());
    let mut manifest = String::from("# frame picture (written by `trainer frames --pictures`)\n");
    for (k, path) in pictures.iter().enumerate() {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot open", path.display()))?;
        let img =
            crate::data::image_input::decode(&bytes).with_context(|| path.display().to_string())?;
        frames.push(firmware_frame(&img));
        writeln!(manifest, "{k} {}", path.display())?;
    }
    let labels = vec![UNKNOWN_LABEL; frames.len()];
    let indices = vec![usize::from(u16::MAX); frames.len()];
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let blob = encode_frames(&frames, &labels, &indices)?;
    write_atomic(&out_dir.join("frames.bin"), &blob)?;
    write_atomic(&out_dir.join("frames.txt"), manifest.as_bytes())
}

/// Test-set indices for `count` sample frames: frame `k` shows class `k % 10`, the
/// `k / 10`-th image of that class in test-set order.
pub fn pick_samples(labels: &[u8], count: usize) -> anyhow::Result<Vec<usize>> {
    let mut picked = Vec::with_capacity(count);
    for k in 0..count {
        let class = (k % 10) as u8;
        let index = labels
            .iter()
            .enumerate()
            .filter(|&(_, &l)| l == class)
            .map(|(i, _)| i)
            .nth(k / 10)
            .with_context(|| format!("not enough test images of class {class}"))?;
        picked.push(index);
    }
    Ok(picked)
}

/// Encodes frames and their descriptors as a frames blob ([`camera::frames`]).
pub fn encode_frames(
    frames: &[CameraFrame],
    labels: &[u8],
    indices: &[usize],
) -> anyhow::Result<Vec<u8>> {
    ensure!(
        frames.len() == labels.len() && frames.len() == indices.len(),
        "frames, labels and indices differ in number"
    );
    let (w, h) = frames.first().map_or((0, 0), |f| (f.width, f.height));
    ensure!(
        frames.iter().all(|f| f.width == w && f.height == h),
        "frames differ in size"
    );
    let records = frames
        .iter()
        .zip(labels.iter().zip(indices))
        .map(|(f, (&label, &index))| {
            let test_index =
                u16::try_from(index).with_context(|| format!("test index {index} exceeds u16"))?;
            Ok(FrameRecord {
                label,
                test_index,
                pixels: &f.pixels,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(frames::encode(w, h, &records)?)
}

/// One frame read back from a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleFrame {
    /// The known label.
    pub label: u8,
    /// Index of the source image in the test set.
    pub test_index: u16,
    /// The frame.
    pub frame: CameraFrame,
}

/// Decodes a frames blob ([`FrameSet::parse`]) into owned frames.
pub fn decode_frames(blob: &[u8]) -> anyhow::Result<Vec<SampleFrame>> {
    let set = FrameSet::parse(blob)?;
    Ok((0..set.len())
        .filter_map(|k| set.get(k))
        .map(|f| SampleFrame {
            label: f.label,
            test_index: f.test_index,
            frame: CameraFrame {
                width: f.frame.width(),
                height: f.frame.height(),
                pixels: f.frame.pixels().to_vec(),
            },
        })
        .collect())
}

/// Writes `count` synthesized sample frames for the firmware into `out_dir`:
/// `frames.bin` (the blob it `include_bytes!`s), `frames.txt` (a manifest: frame,
/// test-set index, label, class name, placement) and `frames.png` (the frames side by
/// side). Frame `k` shows class `k % 10` (see [`pick_samples`]) and uses seed
/// `SAMPLE_SEED + k`, so the output depends only on the test set.
pub fn write_sample_frames(
    test_images: &[[u8; PIXELS]],
    labels: &[u8],
    count: usize,
    out_dir: &Path,
) -> anyhow::Result<()> {
    ensure!(
        test_images.len() == labels.len(),
        "images and labels differ in number"
    );
    ensure!(count > 0, "no frames requested");
    let indices = pick_samples(labels, count)?;
    let mut frames = Vec::with_capacity(count);
    let mut picked_labels = Vec::with_capacity(count);
    let mut manifest = String::from(
        "# frame test_index label name left top side background ink (written by `trainer frames`)\n",
    );
    for (k, &i) in indices.iter().enumerate() {
        let (frame, p) = synthesize_frame(&test_images[i], SAMPLE_SEED + k as u64);
        let label = labels[i];
        let name = CLASS_NAMES.get(usize::from(label)).copied().unwrap_or("?");
        writeln!(
            manifest,
            "{k} {i} {label} {name:?} {} {} {} {} {}",
            p.left, p.top, p.side, p.background, p.ink
        )?;
        frames.push(frame);
        picked_labels.push(label);
    }
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let blob = encode_frames(&frames, &picked_labels, &indices)?;
    write_atomic(&out_dir.join("frames.bin"), &blob)?;
    write_atomic(&out_dir.join("frames.txt"), manifest.as_bytes())?;
    // Preview: up to five frames per row, two pixels apart.
    let cols = count.min(5);
    let rows = count.div_ceil(cols);
    let (pw, ph) = (FRAME_WIDTH + 2, FRAME_HEIGHT + 2);
    let mut sheet = GrayImage::from_pixel((cols * pw) as u32, (rows * ph) as u32, image::Luma([0]));
    for (k, f) in frames.iter().enumerate() {
        let (ox, oy) = ((k % cols) * pw, (k / cols) * ph);
        image::imageops::replace(&mut sheet, &f.to_gray_image(), ox as i64, oy as i64);
    }
    let mut png = Vec::new();
    sheet
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .context("encoding frames.png")?;
    write_atomic(&out_dir.join("frames.png"), &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A garment-like test image: a filled "T" touching the top and bottom edges.
    fn t_shape() -> [u8; PIXELS] {
        let mut img = [0u8; PIXELS];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let bar = y < 8 && (2..26).contains(&x);
                let stem = (10..18).contains(&x);
                if bar || stem {
                    img[y * SIDE + x] = 200 + (x % 5) as u8 * 10;
                }
            }
        }
        img
    }

    #[test]
    fn synthesis_is_deterministic_and_off_centre() {
        let img = t_shape();
        let (a, pa) = synthesize_frame(&img, 42);
        let (b, pb) = synthesize_frame(&img, 42);
        assert_eq!(a, b);
        assert_eq!(pa, pb);
        let (c, _) = synthesize_frame(&img, 43);
        assert_ne!(a, c);
        assert_eq!(a.pixels.len(), FRAME_WIDTH * FRAME_HEIGHT);
        let (cx, cy) = (pa.left + pa.side / 2, pa.top + pa.side / 2);
        assert!(cx.abs_diff(80).max(cy.abs_diff(60)) >= 12);
        // Background light, garment dark.
        assert!(a.pixels[0] > 150);
        let stem = (pa.top + pa.side / 2) * FRAME_WIDTH + pa.left + pa.side * 14 / 28;
        assert!(a.pixels[stem] < 100);
    }

    #[test]
    fn preprocessing_a_synthesized_frame_recovers_the_image() {
        let img = t_shape();
        for seed in 0..20 {
            let (frame, p) = synthesize_frame(&img, seed);
            let mut out = [0u8; PIXELS];
            let d =
                preprocess::preprocess(&frame.as_frame().unwrap(), &Config::default(), &mut out)
                    .unwrap();
            // The object box is the scaled "T" (it spans the image's height).
            assert!((d.object.top - p.top as i32).abs() <= 2, "{d:?} {p:?}");
            assert!(
                (d.object.height as i32 - p.side as i32).abs() <= 3,
                "{d:?} {p:?}"
            );
            let mean_abs: u32 = out
                .iter()
                .zip(&img)
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .sum::<u32>()
                / PIXELS as u32;
            assert!(mean_abs < 30, "seed {seed}: mean |diff| {mean_abs}");
        }
    }

    #[test]
    fn blob_round_trips_and_rejects_damage() {
        let img = t_shape();
        let frames: Vec<_> = (0..3).map(|s| synthesize_frame(&img, s).0).collect();
        let blob = encode_frames(&frames, &[1, 2, 3], &[10, 20, 9999]).unwrap();
        assert_eq!(
            blob.len(),
            frames::HEADER_LEN + 3 * 4 + 3 * FRAME_WIDTH * FRAME_HEIGHT
        );
        assert_eq!(
            &blob[..12],
            &[b'F', b'M', b'C', b'F', 1, 0, 160, 0, 120, 0, 3, 0]
        );
        let back = decode_frames(&blob).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[2].label, 3);
        assert_eq!(back[2].test_index, 9999);
        assert_eq!(back[1].frame, frames[1]);
        assert!(decode_frames(&blob[..blob.len() - 1]).is_err());
        let mut bad = blob.clone();
        bad[0] = b'X';
        assert!(decode_frames(&bad).is_err());
    }

    #[test]
    fn pick_samples_cycles_through_classes() {
        let labels = [3, 0, 1, 0, 2, 4, 5, 6, 7, 8, 9, 1];
        assert_eq!(
            pick_samples(&labels, 12).unwrap(),
            vec![1, 2, 4, 0, 5, 6, 7, 8, 9, 10, 3, 11]
        );
        // A 13th frame needs a second image of class 2.
        let err = pick_samples(&labels, 13).unwrap_err().to_string();
        assert!(err.contains("class 2"), "{err}");
    }

    #[test]
    fn prepare_handles_photos_dataset_images_and_blank_images() {
        let img = t_shape();
        let (frame, _) = synthesize_frame(&img, 7);
        // A 2x larger "photo" is scaled down to 320x240 first.
        let big = image::imageops::resize(&frame.to_gray_image(), 640, 480, FilterType::Nearest);
        let Prepared::Garment { input, detection } =
            prepare(&DynamicImage::ImageLuma8(big), None).unwrap()
        else {
            panic!("no garment found in a photo")
        };
        assert_eq!(input.iter().max(), Some(&255));
        assert_eq!(detection.mode, Mode::Photo);
        assert!(detection.crop.width > 100);
        // The dataset image itself: only its levels stretched so that its lightest
        // pixel (240 here) becomes 255 (a Fashion-MNIST image, which reaches 255,
        // passes unchanged).
        let gray = GrayImage::from_raw(28, 28, img.to_vec()).unwrap();
        let p = prepare(&DynamicImage::ImageLuma8(gray), None).unwrap();
        assert_eq!(p.mode(), Some(Mode::Dataset));
        let stretched = img.map(|v| ((u32::from(v) * 255 + 120) / 240) as u8);
        assert_eq!(p.input(), Some(&stretched));
        for level in [0, 128, 230] {
            let blank =
                DynamicImage::ImageLuma8(GrayImage::from_pixel(50, 40, image::Luma([level])));
            for mode in [None, Some(Mode::Photo), Some(Mode::Dataset)] {
                let p = prepare(&blank, mode).unwrap();
                assert!(matches!(p, Prepared::Nothing(_)), "{level} {mode:?}: {p:?}");
            }
        }
    }

    #[test]
    fn a_saturated_garment_stands_out_in_gray() {
        // A yellow garment on an off-white background: nearly the same luma, but far
        // darker in blue.
        let (paper, ink) = ([235u8, 230, 225], [255u8, 240, 40]);
        let colour = image::RgbImage::from_fn(120, 90, |x, y| {
            let inside = (40..80).contains(&x) && (15..75).contains(&y);
            image::Rgb(if inside { ink } else { paper })
        });
        let img = DynamicImage::ImageRgb8(colour);
        let luma = img.to_luma8();
        assert!(luma.get_pixel(60, 40).0[0].abs_diff(luma.get_pixel(5, 5).0[0]) < 10);
        let gray = to_gray(&img);
        let (bg, garment) = (gray.get_pixel(5, 5).0[0], gray.get_pixel(60, 40).0[0]);
        assert_eq!(bg, luma.get_pixel(5, 5).0[0]);
        // The border's luma plus the blue channel's drop, 40 - 225.
        assert_eq!(i32::from(garment), i32::from(bg) - 185);
        let Prepared::Garment { detection, .. } = prepare(&img, None).unwrap() else {
            panic!("the yellow garment was not found")
        };
        assert_eq!(detection.mode, Mode::Photo);
        assert_eq!((detection.object.width, detection.object.height), (40, 60));
        // Grey pictures, and colour ones with a dark border, are their luma.
        let grey = DynamicImage::ImageLuma8(luma.clone());
        assert_eq!(to_gray(&grey), luma);
        let dark = DynamicImage::ImageRgb8(image::RgbImage::from_fn(50, 40, |x, _| {
            image::Rgb(if (20..30).contains(&x) {
                ink
            } else {
                [10, 20, 0]
            })
        }));
        assert_eq!(to_gray(&dark), dark.to_luma8());
    }

    #[test]
    fn firmware_frames_keep_the_aspect_and_repeat_the_edges() {
        let img = t_shape();
        let gray = GrayImage::from_raw(28, 28, img.to_vec()).unwrap();
        let f = firmware_frame(&DynamicImage::ImageLuma8(gray));
        assert_eq!((f.width, f.height), (FRAME_WIDTH, FRAME_HEIGHT));
        // 28x28 -> 120x120 in the middle: columns 20..140; left of it the edge repeats.
        for y in 0..FRAME_HEIGHT {
            let row = &f.pixels[y * FRAME_WIDTH..(y + 1) * FRAME_WIDTH];
            assert!(row[..20].iter().all(|&p| p == row[20]), "row {y}");
            assert!(row[140..].iter().all(|&p| p == row[139]), "row {y}");
        }
        // A wide picture fills the width.
        let wide = GrayImage::from_pixel(400, 100, image::Luma([200]));
        let f = firmware_frame(&DynamicImage::ImageLuma8(wide));
        assert!(f.pixels.iter().all(|&p| p == 200));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.png");
        GrayImage::from_raw(28, 28, img.to_vec())
            .unwrap()
            .save(&path)
            .unwrap();
        write_picture_frames(&[path.clone(), path], dir.path()).unwrap();
        let back = decode_frames(&std::fs::read(dir.path().join("frames.bin")).unwrap()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].label, UNKNOWN_LABEL);
        let bad = dir.path().join("bad.png");
        std::fs::write(&bad, b"nope").unwrap();
        let e = format!(
            "{:#}",
            write_picture_frames(&[bad], dir.path()).unwrap_err()
        );
        assert!(e.contains("bad.png"), "{e}");
    }

    #[test]
    fn writes_the_three_files() {
        let images: Vec<[u8; PIXELS]> = (0..10).map(|_| t_shape()).collect();
        let labels: Vec<u8> = (0..10).collect();
        let dir = tempfile::tempdir().unwrap();
        write_sample_frames(&images, &labels, 10, dir.path()).unwrap();
        let blob = std::fs::read(dir.path().join("frames.bin")).unwrap();
        let back = decode_frames(&blob).unwrap();
        assert_eq!(back.iter().map(|f| f.label).collect::<Vec<_>>(), labels);
        let manifest = std::fs::read_to_string(dir.path().join("frames.txt")).unwrap();
        assert_eq!(manifest.lines().count(), 11);
        assert!(dir.path().join("frames.png").exists());
    }
}
