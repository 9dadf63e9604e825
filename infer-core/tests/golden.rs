//! Golden bytes of the format: a small fixed model is encoded and compared
//! with the committed `tests/golden/tiny.fmq`, decoded again, and run on two
//! fixed images.
//!
//! The committed file was produced by this test itself with
//! `UPDATE_GOLDEN=1 cargo test -p infer-core --test golden` and checked
//! against `docs/model-format.md` by hand. A diff here means the on-disk format
//! changed: bump `FORMAT_VERSION` and regenerate deliberately.

mod common;

use common::{params, reference_logits};
use infer_core::{InputSpec, Model, Padding, QuantParams};
use infer_core::{OwnedLayer, OwnedModel};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny.fmq");

/// conv 3x3 valid 1->2 + ReLU, max-pool x3 (26 -> 13 -> 6 -> 3), flatten (18),
/// dense 18->3 without ReLU.
fn tiny() -> OwnedModel {
    let conv = params(
        true,
        // Filter 0: vertical edge; filter 1: box blur.
        vec![-1, 0, 1, -2, 0, 2, -1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        vec![0, -100],
        vec![1 << 30, 3 << 29],
        vec![34, 36],
        QuantParams {
            scale: 0.25,
            zero_point: -128,
        },
    );
    let dense = params(
        false,
        (0..54).map(|i| ((i * 37) % 255 - 127) as i8).collect(),
        vec![500, -500, 0],
        vec![1 << 30, 1 << 30, 1 << 30],
        vec![40, 40, 41],
        QuantParams {
            scale: 0.125,
            zero_point: 3,
        },
    );
    OwnedModel {
        input: InputSpec::default(),
        layers: vec![
            OwnedLayer::Conv2d {
                out_channels: 2,
                kernel: 3,
                padding: Padding::Valid,
                params: conv,
            },
            OwnedLayer::MaxPool2d,
            OwnedLayer::MaxPool2d,
            OwnedLayer::MaxPool2d,
            OwnedLayer::Flatten,
            OwnedLayer::Dense {
                out_features: 3,
                params: dense,
            },
        ],
        class_names: vec!["left".into(), "right".into(), "none".into()],
    }
}

/// A bright square and a left-to-right ramp.
fn images() -> [[u8; 784]; 2] {
    let mut square = [0u8; 784];
    let mut ramp = [0u8; 784];
    for y in 0..28 {
        for x in 0..28 {
            if (8..20).contains(&y) && (8..20).contains(&x) {
                square[y * 28 + x] = 250;
            }
            ramp[y * 28 + x] = (x * 9) as u8;
        }
    }
    [square, ramp]
}

#[test]
fn golden_bytes() {
    let owned = tiny();
    let bytes = owned.to_bytes().unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(GOLDEN, &bytes).unwrap();
    }
    let golden = std::fs::read(GOLDEN).expect("tests/golden/tiny.fmq (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(bytes, golden, "encoding changed");

    let model = Model::from_bytes(&golden).unwrap();
    owned.with_file(|f| assert_eq!(model.file(), f)).unwrap();
    // The max-pool runs fused into the convolution: its 26x26x2 output is
    // never stored, only the pooled 13x13x2.
    assert_eq!(model.scratch_len(), 784 + 13 * 13 * 2);
    // conv 26 * 26 * 2 outputs of 3 * 3 * 1 terms, dense 18 * 3.
    assert_eq!(model.macs(), 26 * 26 * 2 * 9 + 18 * 3);
    let mut scratch = vec![0i8; model.scratch_len()];
    for img in images() {
        let p = model.classify(&img, &mut scratch).unwrap();
        assert_eq!(
            p.scores.as_slice(),
            reference_logits(&owned, &img).as_slice()
        );
    }
}

#[test]
fn golden_header_fields() {
    let golden = std::fs::read(GOLDEN).unwrap();
    assert_eq!(&golden[0..4], b"FMQ8");
    assert_eq!(u16::from_le_bytes([golden[4], golden[5]]), 2);
    assert_eq!(&golden[6..8], &[0, 0]);
    let len = u32::from_le_bytes(golden[8..12].try_into().unwrap()) as usize;
    assert_eq!(len, golden.len() - 16);
    let crc = u32::from_le_bytes(golden[12..16].try_into().unwrap());
    assert_eq!(crc, infer_core::crc32(&golden[16..]));
    // Payload start: input 28, 28, 1, scale 1/255 (f32 LE 0x3B808081), zp -128,
    // then 6 layers, the first a Conv2d (tag 0) with 2 filters of 3x3.
    assert_eq!(
        &golden[16..27],
        &[28, 28, 1, 0x81, 0x80, 0x80, 0x3B, 0x80, 6, 0, 2]
    );
}
