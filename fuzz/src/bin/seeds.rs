//! Writes the seed inputs of the fuzz targets into `corpus-seed/<target>/seed-*`:
//! small valid `.fmq` models (and infer-core's golden ones), IDX file pairs (raw and gzip), small pictures in every
//! format `trainer predict` reads, and camera frames. Deterministic; run from `fuzz/`:
//!
//! ```text
//! cargo run --bin seeds
//! ```
//!
//! The fuzzers start from these and `scripts/fuzz.sh --merge` folds what they find
//! into the same folders (see `README.md`).

use std::io::{Cursor, Write};
use std::path::Path;

use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use infer_core::layout::{self, Kind};
use infer_core::{
    Conv2d, Dense, I8Array, I32Array, InputSpec, Layer, Model, ModelFile, Padding, QuantParams,
    encode, encoded_len,
};

/// SplitMix64: small deterministic numbers for weights and noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

/// Owned bytes of one conv or dense layer's parameters.
struct Params {
    weights: Vec<u8>,
    bias: Vec<u8>,
    multiplier: Vec<u8>,
    shift: Vec<u8>,
    output: QuantParams,
    relu: bool,
}

/// Parameters for `out` channels of `fan_in` terms, scaled so outputs rarely saturate,
/// stored as the file keeps them (`infer_core::layout`: rows padded to four, dense rows
/// interleaved; the random bias stands for an already folded one).
fn params(rng: &mut Rng, kind: Kind, out: usize, fan_in: usize, relu: bool) -> Params {
    let bmax = fan_in as i64 * 127 * 16;
    let shift = 31 + 8 + (usize::BITS - fan_in.leading_zeros()) as i64 / 2;
    let natural: Vec<i8> = (0..out * fan_in)
        .map(|_| rng.range(-127, 127) as i8)
        .collect();
    let row = layout::row_len(fan_in).expect("a small row");
    let mut weights = vec![0u8; out * row];
    layout::pack_weights(kind, &natural, out, fan_in, &mut weights);
    Params {
        weights,
        bias: (0..out)
            .flat_map(|_| (rng.range(-bmax, bmax) as i32).to_le_bytes())
            .collect(),
        multiplier: (0..out)
            .flat_map(|_| (rng.range(1 << 30, i64::from(i32::MAX)) as i32).to_le_bytes())
            .collect(),
        shift: (0..out)
            .map(|_| rng.range(shift - 2, shift + 1) as u8)
            .collect(),
        output: QuantParams {
            scale: 0.05,
            zero_point: if relu { -128 } else { rng.range(-20, 20) as i8 },
        },
        relu,
    }
}

/// A layer of a seed model, before it is borrowed into a [`ModelFile`].
enum Spec {
    Conv(u16, u8, Padding, Params),
    Pool,
    Flatten,
    Dense(u16, Params),
}

fn conv(rng: &mut Rng, c_in: usize, out: u16, k: u8, padding: Padding, relu: bool) -> Spec {
    let fan_in = usize::from(k) * usize::from(k) * c_in;
    Spec::Conv(
        out,
        k,
        padding,
        params(rng, Kind::Conv, usize::from(out), fan_in, relu),
    )
}

fn dense(rng: &mut Rng, n_in: usize, out: u16, relu: bool) -> Spec {
    Spec::Dense(out, params(rng, Kind::Dense, usize::from(out), n_in, relu))
}

/// Encodes `specs` as a `.fmq` file and checks that infer-core accepts it.
fn model_bytes(specs: &[Spec], classes: usize) -> Vec<u8> {
    let names: Vec<String> = (0..classes).map(|i| format!("class {i}")).collect();
    let mut layers = heapless::Vec::new();
    for spec in specs {
        let layer = match spec {
            Spec::Conv(out_channels, kernel, padding, p) => Layer::Conv2d(Conv2d {
                out_channels: *out_channels,
                kernel: *kernel,
                padding: *padding,
                relu: p.relu,
                weights: I8Array::new(&p.weights),
                bias: I32Array::new(&p.bias),
                multiplier: I32Array::new(&p.multiplier),
                shift: &p.shift,
                output: p.output,
            }),
            Spec::Pool => Layer::MaxPool2d,
            Spec::Flatten => Layer::Flatten,
            Spec::Dense(out_features, p) => Layer::Dense(Dense {
                out_features: *out_features,
                relu: p.relu,
                weights: I8Array::new(&p.weights),
                bias: I32Array::new(&p.bias),
                multiplier: I32Array::new(&p.multiplier),
                shift: &p.shift,
                output: p.output,
            }),
        };
        assert!(layers.push(layer).is_ok(), "too many layers");
    }
    let mut class_names = heapless::Vec::new();
    for name in &names {
        assert!(class_names.push(name.as_str()).is_ok(), "too many classes");
    }
    let file = ModelFile {
        input: InputSpec::default(),
        layers,
        class_names,
    };
    let mut out = vec![0u8; encoded_len(&file).expect("a valid model")];
    let n = encode(&file, &mut out).expect("a valid model");
    out.truncate(n);
    Model::from_bytes(&out).expect("infer-core reads what it wrote");
    out
}

fn models(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    use Padding::{Same, Valid};
    // conv 3x3 valid (2) -> pool -> dense 4 -> dense 3: the baseline's shape, shrunk.
    let a = vec![
        conv(rng, 1, 2, 3, Valid, true),
        Spec::Pool,
        Spec::Flatten,
        dense(rng, 13 * 13 * 2, 4, true),
        dense(rng, 4, 3, false),
    ];
    // conv 1x1 same (1) -> pool -> pool -> dense 2 (no ReLU anywhere).
    let b = vec![
        conv(rng, 1, 1, 1, Same, false),
        Spec::Pool,
        Spec::Pool,
        Spec::Flatten,
        dense(rng, 7 * 7, 2, false),
    ];
    // Two convolutions (5x5 same, 3x3 valid) with pools, ten classes.
    let c = vec![
        conv(rng, 1, 3, 5, Same, true),
        Spec::Pool,
        conv(rng, 3, 2, 3, Valid, true),
        Spec::Pool,
        Spec::Flatten,
        dense(rng, 6 * 6 * 2, 10, false),
    ];
    vec![
        ("small-baseline.fmq", model_bytes(&a, 3)),
        ("one-by-one.fmq", model_bytes(&b, 2)),
        ("two-convs.fmq", model_bytes(&c, 10)),
    ]
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("in memory");
    enc.finish().expect("in memory")
}

/// A fuzz input of the `idx` target: the split point, the image file, the label file.
fn idx_pair(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = (images.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(images);
    out.extend_from_slice(labels);
    out
}

fn idx_seeds(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let pixels: Vec<u8> = (0..2 * 784).map(|_| rng.next() as u8 & 0xf0).collect();
    let images = idx(&[2, 28, 28], &pixels);
    let labels = idx(&[2], &[3, 9]);
    vec![
        ("raw.bin", idx_pair(&images, &labels)),
        ("gzip.bin", idx_pair(&gzip(&images), &gzip(&labels))),
        ("gzip-images.bin", idx_pair(&gzip(&images), &labels)),
        (
            "empty.bin",
            idx_pair(&idx(&[0, 28, 28], &[]), &gzip(&idx(&[0], &[]))),
        ),
    ]
}

/// A light background with a darker garment-like block, some noise: both the plain and
/// the camera path of `predict` have something to work on.
fn picture(rng: &mut Rng, w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let inside = (w / 4..3 * w / 4).contains(&x) && (h / 5..4 * h / 5).contains(&y);
        let level = if inside { 40 } else { 210 };
        Luma([level + rng.range(0, 8) as u8])
    })
}

fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("in memory");
    out.into_inner()
}

fn image_seeds(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let gray = DynamicImage::ImageLuma8(picture(rng, 28, 28));
    let wide = DynamicImage::ImageLuma8(picture(rng, 40, 24));
    let colour = DynamicImage::ImageRgb8(RgbImage::from_fn(20, 16, |x, y| {
        let v = picture(&mut Rng(u64::from(x * 31 + y)), 1, 1).get_pixel(0, 0)[0];
        Rgb([v, v / 2, 255 - v])
    }));
    vec![
        ("gray.png", encoded(&gray, ImageFormat::Png)),
        ("colour.png", encoded(&colour, ImageFormat::Png)),
        (
            "wide.jpg",
            encoded(&wide.to_rgb8().into(), ImageFormat::Jpeg),
        ),
        ("gray.jpg", encoded(&gray, ImageFormat::Jpeg)),
        ("colour.bmp", encoded(&colour, ImageFormat::Bmp)),
        (
            "wide.gif",
            encoded(&wide.to_rgba8().into(), ImageFormat::Gif),
        ),
        ("gray.pgm", encoded(&gray, ImageFormat::Pnm)),
        ("colour.ppm", encoded(&colour, ImageFormat::Pnm)),
    ]
}

/// A fuzz input of the `camera_frame` target (layout in its docs).
fn frame_input(width: u16, config: [u8; 5], pixels: &[u8]) -> Vec<u8> {
    let mut out = width.to_le_bytes().to_vec();
    out.extend_from_slice(&config);
    out.extend_from_slice(pixels);
    out
}

fn frame_seeds(rng: &mut Rng) -> Vec<(&'static str, Vec<u8>)> {
    let default = [40, 6, 2, 0, 0];
    let small = picture(rng, 48, 36).into_raw();
    let tall = picture(rng, 12, 64).into_raw();
    let blank = vec![200u8; 30 * 20];
    vec![
        ("garment.bin", frame_input(48, default, &small)),
        ("tall-margin.bin", frame_input(12, [20, 3, 1, 0, 50], &tall)),
        ("blank.bin", frame_input(30, default, &blank)),
        ("mismatched.bin", frame_input(0x8000 | 48, default, &small)),
    ]
}

fn write_all(dir: &Path, target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus folder");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("corpus-seed");
    let mut rng = Rng(0x5EED);
    let mut fmq = models(&mut rng);
    // infer-core's golden files: format version 2, version 3 with a global
    // average pool and version 4 with a residual block (Save, Add), so that the
    // fuzzer starts from files that hold them.
    for name in ["tiny.fmq", "tiny-gap.fmq", "tiny-res.fmq"] {
        let golden = root.join("../infer-core/tests/golden").join(name);
        fmq.push((
            name,
            std::fs::read(golden).expect("infer-core's golden files"),
        ));
    }
    write_all(&out, "from_bytes_classify", &fmq);
    write_all(&out, "idx", &idx_seeds(&mut rng));
    write_all(&out, "image_input", &image_seeds(&mut rng));
    write_all(&out, "camera_frame", &frame_seeds(&mut rng));
}
