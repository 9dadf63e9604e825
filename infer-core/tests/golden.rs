//! Golden bytes of the format: two small fixed models are encoded and compared
//! with the committed `tests/golden/tiny.fmq` (format version 2) and
//! `tests/golden/tiny-gap.fmq` (version 3: global average pooling) and
//! `tests/golden/tiny-res.fmq` (version 4: a residual add), decoded again, and
//! run on two fixed images.
//!
//! The committed files were produced by this test itself with
//! `UPDATE_GOLDEN=1 cargo test -p infer-core --test golden` and checked
//! against `docs/model-format.md` by hand. A diff here means the on-disk format
//! changed: bump `FORMAT_VERSION` and regenerate deliberately.

mod common;

use common::{params, reference_logits};
use infer_core::{Add, GlobalMean, InputSpec, Model, Padding, QuantParams};
use infer_core::{OwnedLayer, OwnedModel};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny.fmq");
const GOLDEN_GAP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny-gap.fmq");
const GOLDEN_RES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/tiny-res.fmq");

/// The convolution of both models: 3x3 valid 1->2 + ReLU.
fn tiny_conv() -> OwnedLayer {
    let params = params(
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
    OwnedLayer::Conv2d {
        out_channels: 2,
        kernel: 3,
        padding: Padding::Valid,
        params,
    }
}

/// conv 3x3 valid 1->2 + ReLU, max-pool x3 (26 -> 13 -> 6 -> 3), flatten (18),
/// dense 18->3 without ReLU.
fn tiny() -> OwnedModel {
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
            tiny_conv(),
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

/// conv 3x3 valid 1->2 + ReLU, max-pool (26 -> 13), global average pool (2),
/// dense 2->3 without ReLU: format version 3.
fn tiny_gap() -> OwnedModel {
    let dense = params(
        false,
        vec![3, -2, -1, 4, 2, 2],
        vec![-300, 100, 0],
        vec![1 << 30, 1 << 30, 1 << 30],
        vec![33, 33, 34],
        QuantParams {
            scale: 0.5,
            zero_point: -4,
        },
    );
    OwnedModel {
        input: InputSpec::default(),
        layers: vec![
            tiny_conv(),
            OwnedLayer::MaxPool2d,
            OwnedLayer::GlobalAvgPool,
            OwnedLayer::Dense {
                out_features: 3,
                params: dense,
            },
        ],
        class_names: vec!["left".into(), "right".into(), "none".into()],
    }
}

/// conv 3x3 valid 1->2 + ReLU, max-pool (26 -> 13), Save, conv 3x3 same
/// 2->3 without ReLU, Add (the shortcut's two channels plus a zero-padded
/// third) + ReLU, global mean on a grid of its own (3), dense 3->3: format
/// version 4.
fn tiny_res() -> OwnedModel {
    let conv = params(
        false,
        (0..54).map(|i| ((i * 37) % 19) as i8 - 9).collect(),
        vec![500, -200, 0],
        vec![1 << 30, 3 << 29, 1 << 30],
        vec![36, 36, 37],
        QuantParams {
            scale: 0.25,
            zero_point: 3,
        },
    );
    let dense = params(
        false,
        vec![3, -2, -1, 4, 2, 2, 0, 1, -5],
        vec![-300, 100, 0],
        vec![1 << 30, 1 << 30, 1 << 30],
        vec![33, 33, 34],
        QuantParams {
            scale: 0.5,
            zero_point: -4,
        },
    );
    OwnedModel {
        input: InputSpec::default(),
        layers: vec![
            tiny_conv(),
            OwnedLayer::MaxPool2d,
            OwnedLayer::Save,
            OwnedLayer::Conv2d {
                out_channels: 3,
                kernel: 3,
                padding: Padding::Same,
                params: conv,
            },
            OwnedLayer::Add(Add {
                relu: true,
                main_multiplier: 3 << 29,
                skip_multiplier: 1 << 30,
                shift: 31,
                output: QuantParams {
                    scale: 0.4,
                    zero_point: -128,
                },
            }),
            // in_scale / (n * out_scale) = 0.4 / (169 * 0.15) ~ 2^30 * 2^-36.
            OwnedLayer::GlobalMean(GlobalMean {
                multiplier: 1 << 30,
                shift: 36,
                output: QuantParams {
                    scale: 0.15,
                    zero_point: -128,
                },
            }),
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

/// Encodes `owned`, compares the bytes with the committed file at `path`
/// (`UPDATE_GOLDEN=1` writes it), decodes it, checks its scratch length and
/// MACs, and runs it on [`images`] against the reference; returns the bytes.
fn check_golden(owned: &OwnedModel, path: &str, scratch_len: usize, macs: u64) -> Vec<u8> {
    let bytes = owned.to_bytes().unwrap();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &bytes).unwrap();
    }
    let golden = std::fs::read(path).expect("the golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(bytes, golden, "encoding changed");

    let model = Model::from_bytes(&bytes).unwrap();
    owned.with_file(|f| assert_eq!(model.file(), f)).unwrap();
    assert_eq!(model.scratch_len(), scratch_len);
    assert_eq!(model.macs(), macs);
    let mut scratch = vec![0i8; model.scratch_len()];
    for img in images() {
        let p = model.classify(&img, &mut scratch).unwrap();
        assert_eq!(
            p.scores.as_slice(),
            reference_logits(owned, &img).as_slice()
        );
    }
    golden
}

#[test]
fn golden_bytes() {
    // The max-pool runs fused into the convolution: its 26x26x2 output is
    // never stored, only the pooled 13x13x2. MACs: conv 26 * 26 * 2 outputs
    // of 3 * 3 * 1 terms, dense 18 * 3.
    check_golden(&tiny(), GOLDEN, 784 + 13 * 13 * 2, 26 * 26 * 2 * 9 + 18 * 3);
}

#[test]
fn golden_global_avg_pool_bytes() {
    let golden = check_golden(
        &tiny_gap(),
        GOLDEN_GAP,
        784 + 13 * 13 * 2,
        26 * 26 * 2 * 9 + 2 * 3,
    );
    let model = Model::from_bytes(&golden).unwrap();
    // Three steps: the fused conv and pool, the global average pool, the dense layer.
    let mut steps = vec![];
    let mut scratch = vec![0i8; model.scratch_len()];
    model
        .logits_observed(&images()[0], &mut scratch, |s| steps.push(s))
        .unwrap();
    let kinds: Vec<(&str, u64, usize)> =
        steps.iter().map(|s| (s.kind, s.macs, s.outputs)).collect();
    assert_eq!(
        kinds,
        [
            ("conv2d+maxpool2d", 26 * 26 * 2 * 9, 13 * 13 * 2),
            ("globalavgpool", 0, 2),
            ("dense", 6, 3),
        ]
    );
    // Version 3; four layers: the same 56-byte Conv2d as tiny.fmq at 0x19
    // (tag 0), then MaxPool2d (1), GlobalAvgPool (4) and Dense (3).
    assert_eq!(u16::from_le_bytes([golden[4], golden[5]]), 3);
    assert_eq!(&golden[0x18..0x1A], &[4, 0]);
    assert_eq!(&golden[0x51..0x54], &[1, 4, 3]);
}

#[test]
fn golden_residual_add_bytes() {
    // Scratch: the kept 13x13x2 tensor (338 bytes) before the ping-pong
    // region, whose largest step is the fused conv and pool (784 + 338).
    let golden = check_golden(
        &tiny_res(),
        GOLDEN_RES,
        338 + 784 + 338,
        26 * 26 * 2 * 9 + 13 * 13 * 3 * 18 + 3 * 3,
    );
    let model = Model::from_bytes(&golden).unwrap();
    let mut steps = vec![];
    let mut scratch = vec![0i8; model.scratch_len()];
    model
        .logits_observed(&images()[1], &mut scratch, |s| steps.push(s))
        .unwrap();
    let kinds: Vec<(&str, u64, usize)> =
        steps.iter().map(|s| (s.kind, s.macs, s.outputs)).collect();
    assert_eq!(
        kinds,
        [
            ("conv2d+maxpool2d", 26 * 26 * 2 * 9, 338),
            ("save", 0, 338),
            ("conv2d", 13 * 13 * 3 * 18, 507),
            ("add", 0, 507),
            ("globalmean", 0, 3),
            ("dense", 9, 3),
        ]
    );
    // Version 4; seven layers: the same Conv2d as tiny.fmq at 0x19, then
    // MaxPool2d (tag 1) and Save (tag 5) right after it.
    assert_eq!(u16::from_le_bytes([golden[4], golden[5]]), 4);
    assert_eq!(&golden[0x18..0x1A], &[7, 0]);
    assert_eq!(&golden[0x51..0x54], &[1, 5, 0]);
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
