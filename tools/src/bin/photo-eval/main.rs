//! Accuracy of `trainer predict`'s default reading (the scene path) on pictures of many kinds made
//! from the TEST split (never from training images), and its "nothing there" answer on
//! empty frames: for the float model (tch) and the int8 export (infer-core).
//!
//! ```text
//! cargo run --release -p tools --bin photo-eval -- [--limit N] [--empty N]
//!     [--kinds a,b,...] [--model mcu] [--models models] [--seed S] [--samples DIR]
//! cargo run --release -p tools --bin photo-eval -- --help   # every option
//! ```
//!
//! `--kinds` evaluates only the named kinds (below; default: all of them).
//! `--scene-empty N` (default 1,000) empty frames of each scene kind evaluated are
//! rendered too (seeds `seed + 2,000,000 + k`); `--empty 0` skips the other empty frames.
//! Pictures are preprocessed with `camera::scene::preprocess_scene`, what `trainer
//! predict` and the firmware run; `--classic` uses the earlier `camera::preprocess`
//! instead (`trainer predict --mode auto`). `--scene`, the scene path's flag before it
//! became the default, is still accepted.
//! `--true-crop` (a diagnostic, not with `--classic`): on the scene kinds, the model input is
//! made from the square the garment was drawn into and its known polarity
//! (`camera::scene::scene_input_for_crop`: the scene path's background model and levels
//! without its box search), so that the loss of the box search shows apart.
//! `--dump DIR` writes the first 8 pictures of each kind and their model inputs
//! (`--dump-count N`: the first N; for checking that a change leaves the outputs alone).
//!
//! `--scene-frames FILE` only writes a frames blob (`camera::frames`, as
//! `firmware/frames/frames.bin`) of 10 scene frames into FILE and exits: test images
//! 0..=9, image `k` as scene kind `k / 2` (each kind once light, once dark) with the seed
//! `seed + k`; `firmware/frames/scenes.bin` holds them for the QEMU example `scene-cost`.
//!
//! `--scene-train DIR` only writes a training set into DIR (IDX files, uncompressed, for
//! `trainer fit --data DIR`) and exits: every training image as it is, plus the scene
//! path's model input for each training image drawn as a development scene kind (never a
//! held-out one), where a garment is found; the test split unchanged (an experiment of
//! issue 28, part 2: `docs/photos.md`).
//!
//! `--samples DIR` only writes example pictures into DIR (test images 0, 1 and 2 as
//! `plain-28`, `product-photo` and `colour-jpeg`, and a low-contrast noise frame) and
//! exits: `docs/pictures/` holds them for `scripts/run-firmware.sh`.
//!
//! Every picture goes through `trainer_core::data::photo::prepare_scene` (with
//! `--classic`: `prepare` with `mode: None`), exactly what `trainer predict` does with no
//! flags (with `--mode auto`); a colour JPEG is encoded and decoded first.
//! A real picture answered "no garment found" is a false reject and counts as wrong.
//! Kinds (each test image `i` is drawn with the seed `seed + i`):
//!
//! - `plain-28`: the test image itself (28x28, light on black);
//! - `enlarged-112`: enlarged to 112x112 (bilinear), dataset style;
//! - `low-contrast-56`: enlarged to 56x56, levels squeezed to 25..140;
//! - `product-photo`: inverted (dark on white), enlarged to 112x112, centred on a white
//!   140x140 picture;
//! - `gray-photo`: inverted on mid-gray (background 170, garment 60..170), 84x84 on a
//!   120x100 picture, with noise (±6 levels);
//! - `camera-160x120`: the firmware's sample-frame synthesis: 60..100 pixels, off-centre
//!   in a noisy, unevenly lit 160x120 frame with dead and hot pixels;
//! - `colour-jpeg`: the same frame in colour (a random dark garment colour on a random
//!   light background colour), JPEG quality 75;
//! - `sensor-ov7675`: the test image as an OV7675's 160x120 Y plane shows a real garment,
//!   dark (reflectance 0.02..0.25 at its darkest) on a light background (0.55..0.90), 56..104
//!   pixels anywhere in the frame: a slight lens blur (3x3 binomial), vignetting (the
//!   corners 15..45 % darker), an exposure that puts the background at the centre at
//!   150..235 levels, a gain of 1..6 that scales the shot noise (variance = signal x gain
//!   / 20) and the read noise (σ = 0.6 x gain), an uncorrected black level of 4..20, and
//!   clipping to 0..255;
//! - `colour-photo`: a colour picture made another way than `colour-jpeg`: 120..320 x
//!   100..320 pixels, a light, nearly grey background (185..250, each channel within ±12,
//!   with a lighting gradient), the garment in a saturated colour (any hue, saturation
//!   55..100 %, value 45..100 %: yellow, cyan and light green among them) at 45..90 % of the
//!   shorter side anywhere in the picture, noise ±3 per channel, JPEG quality 60..90;
//! - the scene kinds `desk-wood`, `fabric-shadow`, `paper-mixed` and, held out while the
//!   preprocessing was developed, `tiles-held-out` and `carpet-held-out`: a garment, light
//!   for even seeds and dark for odd ones, on a textured mid-grey surface, unevenly lit,
//!   as an OV7675's 160x120 Y plane (described in `trainer_core::data::scenes`).
//!
//! Empty frames (the seed `seed + 1,000,000 + k`), 28..200 pixels a side: uniform of any
//! level, low-contrast noise (±2..15 levels around any level), linear gradients of any
//! direction and span, a speck (1..4 pixels a side, any contrast) on a plain or
//! noisy background, and the bare background of `sensor-ov7675` (160x120, vignetting,
//! noise and all).

use std::io::Cursor;

use anyhow::{Context, Result};
use clap::Parser;
use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage, imageops::FilterType};
use infer_core::rng::SplitMix64;
use tch::nn::ModuleT;
use tch::{Device, Kind, Tensor};
use trainer::nn::saved;
use trainer_core::data::image_input::{Reading, prepare};
use trainer_core::data::photo::{self, Prepared};
use trainer_core::data::{self, IMAGE_LEN, IMAGE_SIDE, Split, scenes};

const KINDS: [&str; 9] = [
    "plain-28",
    "enlarged-112",
    "low-contrast-56",
    "product-photo",
    "gray-photo",
    "camera-160x120",
    "colour-jpeg",
    "sensor-ov7675",
    "colour-photo",
];
const EMPTY_KINDS: [&str; 5] = ["uniform", "noise", "gradient", "speck", "sensor"];

fn gray(img: &[u8; IMAGE_LEN]) -> GrayImage {
    GrayImage::from_raw(IMAGE_SIDE as u32, IMAGE_SIDE as u32, img.to_vec()).expect("28x28")
}

fn map(img: &GrayImage, f: impl Fn(u8) -> u8) -> GrayImage {
    GrayImage::from_fn(img.width(), img.height(), |x, y| {
        Luma([f(img.get_pixel(x, y).0[0])])
    })
}

fn jpeg(img: &RgbImage, quality: u8) -> Result<DynamicImage> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut Cursor::new(&mut bytes), quality)
        .encode_image(img)?;
    trainer_core::data::image_input::decode(&bytes)
}

/// Approximately standard normal: a sum of four uniforms, scaled to variance 1.
fn normal(rng: &mut SplitMix64) -> f64 {
    let sum: i64 = (0..4).map(|_| rng.range(-1000, 1000)).sum();
    sum as f64 / 1000.0 * 0.75f64.sqrt()
}

/// The `sensor-ov7675` kind (see the module documentation): a 160x120 Y plane of
/// `garment`, or of the bare background (an empty frame).
fn sensor_frame(garment: Option<&GrayImage>, rng: &mut SplitMix64) -> GrayImage {
    let (w, h) = (160u32, 120u32);
    let side = rng.range(56, 104) as u32;
    let left = rng.range(2, i64::from(w - side - 2)) as u32;
    let top = rng.range(2, i64::from(h - side - 2)) as u32;
    let paper = rng.range(550, 900) as f64 / 1000.0;
    let cloth = rng.range(20, 250) as f64 / 1000.0;
    let vignetting = rng.range(15, 45) as f64 / 100.0;
    let level = rng.range(150, 235) as f64;
    let gain = rng.range(10, 60) as f64 / 10.0;
    let black = rng.range(4, 20) as f64;
    let big = garment.map(|g| image::imageops::resize(g, side, side, FilterType::Triangle));
    // The scene's reflectance: the garment dark on the light background.
    let scene = |x: i64, y: i64| {
        let (x, y) = (x.clamp(0, i64::from(w) - 1), y.clamp(0, i64::from(h) - 1));
        let (gx, gy) = (x - i64::from(left), y - i64::from(top));
        let inside = (0..i64::from(side)).contains(&gx) && (0..i64::from(side)).contains(&gy);
        if let (true, Some(big)) = (inside, &big) {
            let v = f64::from(big.get_pixel(gx as u32, gy as u32).0[0]) / 255.0;
            paper - v * (paper - cloth)
        } else {
            paper
        }
    };
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let corner = cx * cx + cy * cy;
    GrayImage::from_fn(w, h, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        // The lens: a 3x3 binomial blur.
        let mut blurred = 0.0;
        for (dy, wy) in [(-1, 1.0), (0, 2.0), (1, 1.0)] {
            for (dx, wx) in [(-1, 1.0), (0, 2.0), (1, 1.0)] {
                blurred += wx * wy * scene(x + dx, y + dy);
            }
        }
        blurred /= 16.0;
        let (rx, ry) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
        let falloff = 1.0 - vignetting * (rx * rx + ry * ry) / corner;
        let signal = level * blurred / paper * falloff;
        let variance = signal * gain / 20.0 + (0.6 * gain).powi(2);
        let v = signal + variance.sqrt() * normal(rng) + black;
        Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

/// An RGB colour from a hue in degrees, a saturation and a value in percent.
fn hsv(hue: i64, saturation: i64, value: i64) -> [i64; 3] {
    let v = value * 255 / 100;
    let c = v * saturation / 100;
    let sector = hue / 60;
    let x = c * (60 - (hue % 120 - 60).abs()) / 60;
    let (r, g, b) = match sector {
        0 => (c, x, 0),
        1 => (x, c, 0),
        2 => (0, c, x),
        3 => (0, x, c),
        4 => (x, 0, c),
        _ => (c, 0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// The `colour-photo` kind (see the module documentation).
fn colour_photo(g: &GrayImage, rng: &mut SplitMix64) -> Result<DynamicImage> {
    let (w, h) = (rng.range(120, 320), rng.range(100, 320));
    let short = w.min(h);
    let side = rng.range(short * 45 / 100, short * 90 / 100);
    let left = rng.range(3, w - side - 3);
    let top = rng.range(3, h - side - 3);
    let base = rng.range(185, 250);
    let paper: [i64; 3] = std::array::from_fn(|_| base + rng.range(-12, 12));
    let (grad_x, grad_y) = (rng.range(-15, 15), rng.range(-15, 15));
    let ink = hsv(rng.range(0, 359), rng.range(55, 100), rng.range(45, 100));
    let quality = rng.range(60, 90) as u8;
    let big = image::imageops::resize(g, side as u32, side as u32, FilterType::Triangle);
    let picture = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        let light = grad_x * (2 * x - w) / (2 * w) + grad_y * (2 * y - h) / (2 * h);
        let (gx, gy) = (x - left, y - top);
        let t = if (0..side).contains(&gx) && (0..side).contains(&gy) {
            i64::from(big.get_pixel(gx as u32, gy as u32).0[0])
        } else {
            0
        };
        Rgb(std::array::from_fn(|c| {
            let bg = paper[c] + light;
            (bg + (ink[c] - bg) * t / 255 + rng.range(-3, 3)).clamp(0, 255) as u8
        }))
    });
    jpeg(&picture, quality)
}

/// Picture of kind `kind` made from test image `img` with `rng`.
fn render(kind: &str, img: &[u8; IMAGE_LEN], seed: u64) -> Result<DynamicImage> {
    let mut rng = SplitMix64::new(seed);
    let g = gray(img);
    Ok(match kind {
        "plain-28" => DynamicImage::ImageLuma8(g),
        "enlarged-112" => {
            DynamicImage::ImageLuma8(image::imageops::resize(&g, 112, 112, FilterType::Triangle))
        }
        "low-contrast-56" => {
            let big = image::imageops::resize(&g, 56, 56, FilterType::Triangle);
            DynamicImage::ImageLuma8(map(&big, |p| (25 + u32::from(p) * 115 / 255) as u8))
        }
        "product-photo" => {
            let big = image::imageops::resize(&g, 112, 112, FilterType::Triangle);
            let mut canvas = GrayImage::from_pixel(140, 140, Luma([255]));
            image::imageops::replace(&mut canvas, &map(&big, |p| 255 - p), 14, 14);
            DynamicImage::ImageLuma8(canvas)
        }
        "gray-photo" => {
            let big = image::imageops::resize(&g, 84, 84, FilterType::Triangle);
            let mut canvas = GrayImage::from_pixel(120, 100, Luma([170]));
            image::imageops::replace(
                &mut canvas,
                &map(&big, |p| (170 - u32::from(p) * 110 / 255) as u8),
                18,
                8,
            );
            for p in canvas.pixels_mut() {
                p.0[0] = (i64::from(p.0[0]) + rng.range(-6, 6)).clamp(0, 255) as u8;
            }
            DynamicImage::ImageLuma8(canvas)
        }
        "camera-160x120" => {
            let (frame, _) = photo::synthesize_frame(img, seed);
            DynamicImage::ImageLuma8(frame.to_gray_image())
        }
        "colour-jpeg" => {
            let (frame, _) = photo::synthesize_frame(img, seed);
            let ink: [i64; 3] = std::array::from_fn(|_| rng.range(0, 110));
            let paper: [i64; 3] = std::array::from_fn(|_| rng.range(175, 255));
            let colour = RgbImage::from_fn(frame.width as u32, frame.height as u32, |x, y| {
                let t = i64::from(frame.pixels[y as usize * frame.width + x as usize]);
                Rgb(std::array::from_fn(|c| {
                    ((ink[c] * (255 - t) + paper[c] * t) / 255) as u8
                }))
            });
            jpeg(&colour, 75)?
        }
        "sensor-ov7675" => DynamicImage::ImageLuma8(sensor_frame(Some(&g), &mut rng)),
        "colour-photo" => colour_photo(&g, &mut rng)?,
        other => {
            let kind = scene_kind(other).with_context(|| format!("unknown kind {other}"))?;
            let light = seed.is_multiple_of(2);
            DynamicImage::ImageLuma8(scenes::scene_frame(kind, Some((&g, light)), &mut rng))
        }
    })
}

/// The picture of scene kind `kind` made from `img` with `seed` (as [`render`] makes
/// it) and the diagnostic `--true-crop` input: the scene path's levels in the square the
/// garment was drawn into, its polarity known.
fn true_crop(
    kind: &scenes::SceneKind,
    img: &[u8; IMAGE_LEN],
    seed: u64,
) -> Result<(DynamicImage, Prepared)> {
    let mut rng = SplitMix64::new(seed);
    let light = seed.is_multiple_of(2);
    let (picture, crop) = scenes::scene_frame_placed(kind, Some((&gray(img), light)), &mut rng);
    let picture = DynamicImage::ImageLuma8(picture);
    let frame = photo::frame_from_photo(&picture);
    let mut out = [0u8; IMAGE_LEN];
    let config = camera::Config::default();
    let prepared =
        if camera::scene::scene_input_for_crop(&frame.as_frame()?, &config, &crop, light, &mut out)
        {
            Prepared::Garment {
                input: Box::new(out),
                detection: camera::Detection {
                    mode: camera::Mode::Photo,
                    background: 255,
                    threshold: 255,
                    object: crop,
                    crop,
                },
            }
        } else {
            Prepared::Nothing(camera::Error::NoObject {
                background: 255,
                threshold: 255,
                mode: camera::Mode::Photo,
            })
        };
    Ok((picture, prepared))
}

/// Writes the `--scene-train` data set into `dir` (an experiment of issue 28, part 2):
/// every TRAINING image as it is, then, for every training image `i`, the scene path's
/// model input for it drawn as the development scene kind `i % 3` (`desk-wood`,
/// `fabric-shadow`, `paper-mixed`; never a held-out kind) with the seed
/// `seed + 3,000,000 + i`, where the path finds a garment; the test split unchanged. The
/// IDX files are written uncompressed, so `trainer fit --data DIR` trains on them.
fn write_scene_train(test: &data::Dataset, seed: u64, dir: &std::path::Path) -> Result<()> {
    let train = data::load(&data::locate(None)?, Split::Train)?;
    let (set, missed) = scenes::with_scene_crops(&train, seed + 3_000_000, 1.0)?;
    let (images, labels) = (set.images, set.labels);
    let found = labels.len() - train.len();
    std::fs::create_dir_all(dir)?;
    let idx = |dims: &[u32], data: &[u8]| {
        let mut out = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    };
    let side = IMAGE_SIDE as u32;
    let n = labels.len() as u32;
    for (stem, bytes) in [
        ("train-images-idx3-ubyte", idx(&[n, side, side], &images)),
        ("train-labels-idx1-ubyte", idx(&[n], &labels)),
        (
            "t10k-images-idx3-ubyte",
            idx(&[test.len() as u32, side, side], &test.images),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx(&[test.len() as u32], &test.labels),
        ),
    ] {
        trainer_core::files::atomic::write_atomic(&dir.join(stem), &bytes)?;
    }
    println!(
        "wrote {} training images ({} as they are, {found} scene crops; {missed} scenes with no \
         garment found) into {}",
        n,
        train.len(),
        dir.display()
    );
    Ok(())
}

/// Writes the frames blob of `--scene-frames` to `path` (through a temporary file in
/// the same folder, renamed when complete).
fn write_scene_frames(test: &data::Dataset, seed: u64, path: &std::path::Path) -> Result<()> {
    let mut frames = Vec::new();
    for (k, kind) in (0..10).zip(scenes::SCENE_KINDS.iter().flat_map(|k| [k, k])) {
        let picture = render(kind.name, test.image(k), seed + k as u64)?.into_luma8();
        frames.push((picture, test.labels[k], k));
    }
    let (w, h) = frames[0].0.dimensions();
    let records: Vec<camera::frames::FrameRecord<'_>> = frames
        .iter()
        .map(|(picture, label, k)| camera::frames::FrameRecord {
            pixels: picture.as_raw(),
            label: *label,
            test_index: u16::try_from(*k).unwrap_or(u16::MAX),
        })
        .collect();
    let blob = camera::frames::encode(w as usize, h as usize, &records)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, blob)?;
    std::fs::rename(&tmp, path)?;
    println!(
        "wrote {} scene frames into {}",
        records.len(),
        path.display()
    );
    Ok(())
}

/// The scene kind called `name`.
fn scene_kind(name: &str) -> Option<&'static scenes::SceneKind> {
    scenes::SCENE_KINDS.iter().find(|k| k.name == name)
}

/// Every kind's name: the pictures of the earlier rounds, then the scenes.
fn all_kinds() -> Vec<&'static str> {
    KINDS
        .into_iter()
        .chain(scenes::SCENE_KINDS.iter().map(|k| k.name))
        .collect()
}

/// Empty frame number `k` (kind `k % 5`).
fn empty_frame(k: usize, seed: u64) -> (usize, DynamicImage) {
    let mut rng = SplitMix64::new(seed);
    let (w, h) = (rng.range(28, 200) as u32, rng.range(28, 200) as u32);
    let level = rng.range(0, 255);
    let kind = k % EMPTY_KINDS.len();
    let img = match kind {
        0 => GrayImage::from_pixel(w, h, Luma([level as u8])),
        1 => {
            let amp = rng.range(2, 15);
            GrayImage::from_fn(w, h, |_, _| {
                Luma([(level + rng.range(-amp, amp)).clamp(0, 255) as u8])
            })
        }
        2 => {
            let (a, b) = (rng.range(0, 255), rng.range(0, 255));
            let (dx, dy) = (rng.range(-100, 100), rng.range(-100, 100));
            let span = (dx.abs() * i64::from(w) + dy.abs() * i64::from(h)).max(1);
            let base = dx.min(0) * i64::from(w) + dy.min(0) * i64::from(h);
            GrayImage::from_fn(w, h, |x, y| {
                let t = dx * i64::from(x) + dy * i64::from(y) - base;
                Luma([(a + (b - a) * t / span).clamp(0, 255) as u8])
            })
        }
        4 => sensor_frame(None, &mut rng),
        _ => {
            let amp = rng.range(0, 6);
            let mut img = GrayImage::from_fn(w, h, |_, _| {
                Luma([(level + rng.range(-amp, amp)).clamp(0, 255) as u8])
            });
            let (sw, sh) = (rng.range(1, 4) as u32, rng.range(1, 4) as u32);
            let (sx, sy) = (
                rng.range(0, i64::from(w - sw)) as u32,
                rng.range(0, i64::from(h - sh)) as u32,
            );
            let ink = rng.range(0, 255) as u8;
            for y in sy..sy + sh {
                for x in sx..sx + sw {
                    img.put_pixel(x, y, Luma([ink]));
                }
            }
            img
        }
    };
    (kind, DynamicImage::ImageLuma8(img))
}

/// `photo-eval`'s command line (the module documentation says more).
#[derive(Debug, Parser)]
#[command(
    name = "photo-eval",
    about = "Accuracy of the picture preprocessing and a model on pictures of many kinds made \
             from the Fashion-MNIST test split, and its \"nothing there\" on empty frames"
)]
struct Cli {
    /// Test images per kind (the first N).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    limit: usize,
    /// Empty frames of the earlier kinds (0: none).
    #[arg(long, value_name = "N", default_value_t = 4_000)]
    empty: usize,
    /// Empty frames of each scene kind evaluated (seeds seed + 2,000,000 + k).
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    scene_empty: usize,
    /// Only these kinds, comma separated [default: all].
    #[arg(long, value_name = "A,B,...", value_delimiter = ',')]
    kinds: Vec<String>,
    /// The model folder's name.
    #[arg(long, default_value = trainer::nn::DEFAULT_MODEL)]
    model: String,
    /// Where the model folders are.
    #[arg(long, value_name = "DIR", default_value = "models")]
    models: std::path::PathBuf,
    /// Test image i is drawn with the seed SEED + i.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Only write example pictures into DIR and exit.
    #[arg(long, value_name = "DIR")]
    samples: Option<std::path::PathBuf>,
    /// Also write the first pictures of each kind and their model inputs into DIR.
    #[arg(long, value_name = "DIR")]
    dump: Option<std::path::PathBuf>,
    /// How many pictures of each kind --dump writes.
    #[arg(long, value_name = "N", default_value_t = 8)]
    dump_count: usize,
    /// Only write a frames blob of 10 scene frames into FILE and exit.
    #[arg(long, value_name = "FILE")]
    scene_frames: Option<std::path::PathBuf>,
    /// Only write the scene-crop training set (IDX files) into DIR and exit.
    #[arg(long, value_name = "DIR")]
    scene_train: Option<std::path::PathBuf>,
    /// Preprocess with the earlier reading (`camera::preprocess`, as `trainer predict
    /// --mode auto`) instead of the scene path, the default.
    #[arg(long)]
    classic: bool,
    /// The scene path, the default now: accepted so that recorded commands still run.
    #[arg(long, hide = true, conflicts_with = "classic")]
    scene: bool,
    /// A diagnostic: on the scene kinds, the model input made from the square the
    /// garment was drawn into and its known polarity.
    #[arg(long, conflicts_with = "classic")]
    true_crop: bool,
}

/// The kinds `names` name (all of them when it is empty), or which name is unknown.
fn checked_kinds(names: &[String]) -> Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(all_kinds());
    }
    names
        .iter()
        .map(|name| {
            all_kinds()
                .into_iter()
                .find(|k| k == name)
                .with_context(|| {
                    format!("unknown kind {name:?} (kinds: {})", all_kinds().join(", "))
                })
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Cli::parse();
    let kinds = checked_kinds(&args.kinds)?;
    let test = data::load(&data::locate(None)?, Split::Test)?;
    if let Some(dir) = &args.samples {
        std::fs::create_dir_all(dir)?;
        for (i, kind, file) in [
            (0usize, "plain-28", "dataset-28x28.png"),
            (1, "product-photo", "product-photo.png"),
            (2, "colour-jpeg", "colour-photo.jpg"),
        ] {
            let picture = render(kind, test.image(i), args.seed + i as u64)?;
            picture.save(dir.join(file))?;
        }
        // Low-contrast noise (kind 1 of the empty frames), 160x120.
        let mut rng = SplitMix64::new(args.seed);
        let noise = GrayImage::from_fn(160, 120, |_, _| Luma([(200 + rng.range(-8, 8)) as u8]));
        noise.save(dir.join("empty-noise.png"))?;
        println!("wrote 4 pictures into {}", dir.display());
        return Ok(());
    }
    if let Some(path) = &args.scene_frames {
        return write_scene_frames(&test, args.seed, path);
    }
    if let Some(dir) = &args.scene_train {
        return write_scene_train(&test, args.seed, dir);
    }
    let n = args.limit.min(test.len());
    let dir = saved::model_dir(&args.models, &args.model);
    let (_vs, net, _record) = saved::load_model(&dir, Device::Cpu)?;
    let fmq = trainer_core::files::folder::read_checked(&dir, saved::INT8_FILE)?;
    let model = trainer::eval::int8::parse(&fmq)?;
    let mut scratch = vec![0i8; model.scratch_len()];
    // What `trainer predict` does with no flags (the scene path), or with `--mode auto`.
    let reading = if args.classic {
        Reading::Auto
    } else {
        Reading::Scene
    };
    println!(
        "model {} on the first {n} test images, seed {}, preprocessing {}",
        args.model,
        args.seed,
        if args.classic {
            "camera::preprocess"
        } else {
            "camera::scene::preprocess_scene"
        }
    );
    println!();
    println!(
        "| kind | images | read as dataset / photo | no garment found (false rejects) | float accuracy | int8 accuracy | int8 light / dark garments | empty scenes answered \"no garment found\" |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let (mut all_rejects, mut all_total) = (0usize, 0usize);
    for &kind in &kinds {
        let mut inputs: Vec<u8> = Vec::with_capacity(n * IMAGE_LEN);
        let mut labels: Vec<i64> = Vec::with_capacity(n);
        let (mut rejects, mut dataset, mut int8_right) = (0usize, 0usize, 0usize);
        // int8 right on light (even seed) and dark garments, for the scene kinds.
        let mut by_polarity = [0usize; 2];
        for i in 0..n {
            let seed = args.seed + i as u64;
            let (picture, prepared) = match scene_kind(kind).filter(|_| args.true_crop) {
                Some(scene) => true_crop(scene, test.image(i), seed)?,
                None => {
                    let picture = render(kind, test.image(i), seed)?;
                    let prepared = prepare(&picture, reading)?;
                    (picture, prepared)
                }
            };
            if let Some(dir) = args.dump.as_ref().filter(|_| i < args.dump_count) {
                std::fs::create_dir_all(dir)?;
                picture.save(dir.join(format!("{kind}-{i}.png")))?;
                if let Some(input) = prepared.input() {
                    gray(input).save(dir.join(format!("{kind}-{i}-input.png")))?;
                }
            }
            if prepared.mode() == Some(camera::Mode::Dataset) {
                dataset += 1;
            }
            let Prepared::Garment { input, .. } = prepared else {
                rejects += 1;
                continue;
            };
            let label = test.labels[i];
            let p = model
                .classify(&input, &mut scratch)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let right = usize::from(p.class == usize::from(label));
            int8_right += right;
            by_polarity[((args.seed + i as u64) % 2) as usize] += right;
            inputs.extend_from_slice(&input[..]);
            labels.push(i64::from(label));
        }
        let mut float_right = 0usize;
        let side = IMAGE_SIDE as i64;
        for (chunk, chunk_labels) in inputs.chunks(500 * IMAGE_LEN).zip(labels.chunks(500)) {
            let x = Tensor::from_slice(chunk)
                .view([-1, 1, side, side])
                .to_kind(Kind::Float)
                / 255.0;
            let predicted = tch::no_grad(|| net.forward_t(&x, false).argmax(-1, false));
            let want = Tensor::from_slice(chunk_labels);
            float_right += predicted.eq_tensor(&want).sum(Kind::Int64).int64_value(&[]) as usize;
        }
        all_rejects += rejects;
        all_total += n;
        let pct = |k: usize| 100.0 * k as f64 / n.max(1) as f64;
        let (polarity, empty) = match scene_kind(kind) {
            Some(scene) => {
                let half = |parity: u64| {
                    (0..n as u64)
                        .filter(|i| (args.seed + i) % 2 == parity)
                        .count()
                        .max(1)
                };
                let polarity = format!(
                    "{:.2} % / {:.2} %",
                    100.0 * by_polarity[0] as f64 / half(0) as f64,
                    100.0 * by_polarity[1] as f64 / half(1) as f64
                );
                let mut caught = 0usize;
                for k in 0..args.scene_empty {
                    let mut rng = SplitMix64::new(args.seed + 2_000_000 + k as u64);
                    let img = DynamicImage::ImageLuma8(scenes::scene_frame(scene, None, &mut rng));
                    caught += usize::from(matches!(prepare(&img, reading)?, Prepared::Nothing(_)));
                }
                let empty = format!(
                    "{caught} of {} ({:.2} %)",
                    args.scene_empty,
                    100.0 * caught as f64 / args.scene_empty.max(1) as f64
                );
                (polarity, empty)
            }
            None => ("".to_owned(), "".to_owned()),
        };
        println!(
            "| `{kind}` | {n} | {dataset} / {} | {rejects} ({:.2} %) | {:.2} % | {:.2} % | {polarity} | {empty} |",
            n - dataset,
            pct(rejects),
            pct(float_right),
            pct(int8_right)
        );
    }
    println!();
    println!(
        "false rejects on all {} real pictures: {all_rejects} ({:.3} %)",
        all_total,
        100.0 * all_rejects as f64 / all_total.max(1) as f64
    );
    println!();
    println!("| empty frames | frames | answered \"no garment found\" |");
    println!("|---|---:|---:|");
    if args.empty == 0 {
        return Ok(());
    }
    let mut caught = [0usize; EMPTY_KINDS.len()];
    let mut count = [0usize; EMPTY_KINDS.len()];
    for k in 0..args.empty {
        let (kind, img) = empty_frame(k, args.seed + 1_000_000 + k as u64);
        count[kind] += 1;
        if matches!(prepare(&img, reading)?, Prepared::Nothing(_)) {
            caught[kind] += 1;
        }
    }
    for (kind, name) in EMPTY_KINDS.iter().enumerate() {
        println!(
            "| {name} | {} | {} ({:.2} %) |",
            count[kind],
            caught[kind],
            100.0 * caught[kind] as f64 / count[kind].max(1) as f64
        );
    }
    let (c, t): (usize, usize) = (caught.iter().sum(), count.iter().sum());
    println!(
        "| all | {t} | {c} ({:.2} %) |",
        100.0 * c as f64 / t.max(1) as f64
    );
    Ok(())
}
