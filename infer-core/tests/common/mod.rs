//! Shared helpers of the integration tests: a random model generator and an
//! evaluator that chains infer-core's public reference kernels.
#![allow(dead_code)]

use infer_core::reference::{
    self, AddParams, ConvShape, GlobalPoolShape, LayerParams, MeanParams, PoolShape,
};
use infer_core::{
    Add, IMAGE_SIDE, INPUT_ZERO_POINT, InputSpec, OwnedLayer, OwnedModel, OwnedParams, Padding,
    QuantParams,
};

/// The project's SplitMix64, seeded by proptest.
pub use infer_core::rng::SplitMix64 as Rng;

/// A random 28x28 image (every pixel uniform).
pub fn image(rng: &mut Rng) -> [u8; 784] {
    let mut img = [0u8; 784];
    for p in &mut img {
        *p = rng.next_u64() as u8;
    }
    img
}

/// Owned parameters of a conv or dense layer.
pub fn params(
    relu: bool,
    weights: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<u8>,
    output: QuantParams,
) -> OwnedParams {
    OwnedParams {
        relu,
        weights,
        bias,
        multiplier,
        shift,
        output,
    }
}

/// Random parameters for `out` channels of `fan_in` terms each, with biases
/// and multipliers that keep outputs mostly unsaturated.
pub fn random_params(rng: &mut Rng, out: usize, fan_in: usize, relu: bool) -> OwnedParams {
    let weights = (0..out * fan_in)
        .map(|_| rng.range(-127, 127) as i8)
        .collect();
    let bmax = (fan_in as i64) * 127 * 16;
    let bias = (0..out).map(|_| rng.range(-bmax, bmax) as i32).collect();
    let multiplier = (0..out)
        .map(|_| rng.range(1 << 30, i64::from(i32::MAX)) as i32)
        .collect();
    // acc ~ sqrt(fan_in) * 127 * 128; aim for outputs of order 100.
    let base = 31 + 8 + (fan_in as f64).log2().ceil() as i64 / 2;
    let shift = (0..out)
        .map(|_| rng.range(base - 2, base + 1) as u8)
        .collect();
    let output = QuantParams {
        scale: 0.05,
        zero_point: if relu { -128 } else { rng.range(-20, 20) as i8 },
    };
    params(relu, weights, bias, multiplier, shift, output)
}

/// The baseline architecture with random int8 parameters (seed fixed).
pub fn baseline_shaped() -> OwnedModel {
    let mut rng = Rng::new(2024);
    OwnedModel::baseline(
        random_params(&mut rng, 32, 9, true),
        random_params(&mut rng, 100, 13 * 13 * 32, true),
        random_params(&mut rng, 10, 100, false),
        (0..10).map(|i| format!("class {i}")).collect(),
    )
}

/// A random valid model: 1-2 convolutions (odd kernels, either padding) with
/// max-pools, flatten, 1-2 dense layers, 1-12 classes.
pub fn random_model(rng: &mut Rng) -> OwnedModel {
    let (mut layers, [h, w, c]) = random_convs(rng);
    layers.push(OwnedLayer::Flatten);
    random_dense_head(rng, layers, h * w * c)
}

/// A random valid model with global average pooling: 1-2 convolutions with
/// max-pools as in [`random_model`], a global average pool, 1-2 dense layers.
pub fn random_gap_model(rng: &mut Rng) -> OwnedModel {
    let (mut layers, [_, _, c]) = random_convs(rng);
    layers.push(OwnedLayer::GlobalAvgPool);
    random_dense_head(rng, layers, c)
}

/// [`random_gap_model`] with a global mean of its own output quantization
/// instead of the global average pool (format version 4).
pub fn random_mean_model(rng: &mut Rng) -> OwnedModel {
    let (mut layers, [h, w, c]) = random_convs(rng);
    // About the real multiplier in_scale / (h * w * out_scale) with out_scale
    // a quarter of in_scale: 4 / (h * w), normalized.
    let shift = 31 + (h * w).ilog2() as u8 - 2;
    layers.push(OwnedLayer::GlobalMean(infer_core::GlobalMean {
        multiplier: rng.range(1 << 30, i64::from(i32::MAX)) as i32,
        shift,
        output: QuantParams {
            scale: 0.01,
            zero_point: rng.range(-128, 0) as i8,
        },
    }));
    random_dense_head(rng, layers, c)
}

/// A random valid model with a residual block: 1-2 convolutions with
/// max-pools as in [`random_model`], a `Save`, 1-2 same-padded convolutions
/// to at least as many channels, an `Add` (ReLU two times in three), then a
/// global average pool or a flatten and 1-2 dense layers.
pub fn random_residual_model(rng: &mut Rng) -> OwnedModel {
    let (mut layers, [h, w, mut c]) = random_convs(rng);
    layers.push(OwnedLayer::Save);
    let skip_c = c;
    for _ in 0..rng.range(1, 2) {
        let k = [1usize, 3][rng.range(0, 1) as usize];
        let out_c = rng.range(skip_c as i64, 5) as usize;
        let relu = rng.range(0, 1) == 1;
        layers.push(OwnedLayer::Conv2d {
            out_channels: out_c as u16,
            kernel: k as u8,
            padding: Padding::Same,
            params: random_params(rng, out_c, k * k * c, relu),
        });
        c = out_c;
    }
    layers.push(OwnedLayer::Add(random_add(rng)));
    if rng.range(0, 1) == 1 {
        layers.push(OwnedLayer::GlobalAvgPool);
        random_dense_head(rng, layers, c)
    } else {
        layers.push(OwnedLayer::Flatten);
        random_dense_head(rng, layers, h * w * c)
    }
}

/// A random residual add: multipliers of real value about 0.25 to 1 at a
/// shift of 31 to 33, ReLU two times in three.
pub fn random_add(rng: &mut Rng) -> Add {
    let relu = rng.range(0, 2) != 0;
    Add {
        relu,
        main_multiplier: rng.range(1 << 29, i64::from(i32::MAX)) as i32,
        skip_multiplier: rng.range(1 << 29, i64::from(i32::MAX)) as i32,
        shift: rng.range(31, 33) as u8,
        output: QuantParams {
            scale: 0.1,
            zero_point: if relu { -128 } else { rng.range(-20, 20) as i8 },
        },
    }
}

/// 1-2 random convolutions (odd kernels, either padding, 1-4 filters), each
/// followed by a max-pool two times in three; and the `[h, w, c]` they give.
fn random_convs(rng: &mut Rng) -> (Vec<OwnedLayer>, [usize; 3]) {
    let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
    let mut layers = vec![];
    for _ in 0..rng.range(1, 2) {
        let k = [1usize, 3, 5][rng.range(0, 2) as usize];
        let same = rng.range(0, 1) == 1;
        let out_c = rng.range(1, 4) as usize;
        let relu = rng.range(0, 3) != 0;
        layers.push(OwnedLayer::Conv2d {
            out_channels: out_c as u16,
            kernel: k as u8,
            padding: if same { Padding::Same } else { Padding::Valid },
            params: random_params(rng, out_c, k * k * c, relu),
        });
        if !same {
            (h, w) = (h - k + 1, w - k + 1);
        }
        c = out_c;
        if rng.range(0, 2) != 0 {
            layers.push(OwnedLayer::MaxPool2d);
            (h, w) = (h / 2, w / 2);
        }
    }
    (layers, [h, w, c])
}

/// `layers` (ending in a flat tensor of `n` values) followed by an optional
/// hidden dense layer with ReLU and a dense layer to 1-12 classes.
fn random_dense_head(rng: &mut Rng, mut layers: Vec<OwnedLayer>, mut n: usize) -> OwnedModel {
    if rng.range(0, 1) == 1 {
        let hidden = rng.range(1, 20) as usize;
        layers.push(OwnedLayer::Dense {
            out_features: hidden as u16,
            params: random_params(rng, hidden, n, true),
        });
        n = hidden;
    }
    let classes = rng.range(1, 12) as usize;
    layers.push(OwnedLayer::Dense {
        out_features: classes as u16,
        params: random_params(rng, classes, n, false),
    });
    OwnedModel {
        input: InputSpec::default(),
        layers,
        class_names: (0..classes).map(|i| format!("c{i}")).collect(),
    }
}

fn layer_params(p: &OwnedParams, in_zp: i32) -> LayerParams<'_> {
    LayerParams {
        in_zp,
        weights: &p.weights,
        bias: &p.bias,
        multiplier: &p.multiplier,
        shift: &p.shift,
        out_zp: i32::from(p.output.zero_point),
        relu: p.relu,
    }
}

/// Runs `model` layer by layer with infer-core's public reference kernels
/// (plain loops from the definitions), in HWC order.
pub fn reference_logits(model: &OwnedModel, pixels: &[u8; 784]) -> Vec<i8> {
    let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
    let mut x = vec![0i8; pixels.len()];
    reference::quantize_input(pixels, &mut x);
    let mut zp = i32::from(INPUT_ZERO_POINT);
    let mut kept: Option<(Vec<i8>, usize, i32)> = None;
    for layer in &model.layers {
        match layer {
            OwnedLayer::Conv2d {
                out_channels,
                kernel,
                padding,
                params: p,
            } => {
                let s = ConvShape::new(
                    h,
                    w,
                    c,
                    usize::from(*out_channels),
                    usize::from(*kernel),
                    *padding,
                )
                .expect("a valid convolution");
                let mut y = vec![0i8; s.out_len()];
                reference::conv2d(&s, &layer_params(p, zp), &x, &mut y);
                (h, w, c, x, zp) = (s.out_h, s.out_w, s.out_c, y, i32::from(p.output.zero_point));
            }
            OwnedLayer::MaxPool2d => {
                let s = PoolShape { h, w, c };
                let mut y = vec![0i8; s.out_len()];
                reference::maxpool2x2(&s, &x, &mut y);
                (h, w, x) = (s.out_h(), s.out_w(), y);
            }
            OwnedLayer::Flatten => (h, w, c) = (1, 1, h * w * c),
            OwnedLayer::GlobalAvgPool => {
                let s = GlobalPoolShape::new(h, w, c).expect("a valid global pool");
                let mut y = vec![0i8; s.out_len()];
                reference::global_avg_pool(&s, &x, &mut y);
                (h, w, x) = (1, 1, y);
            }
            OwnedLayer::GlobalMean(m) => {
                let s = GlobalPoolShape::new(h, w, c).expect("a valid global pool");
                let p = MeanParams {
                    in_zp: zp,
                    multiplier: m.multiplier,
                    shift: m.shift,
                    out_zp: i32::from(m.output.zero_point),
                };
                let mut y = vec![0i8; s.out_len()];
                reference::global_mean(&s, &p, &x, &mut y);
                (h, w, x, zp) = (1, 1, y, p.out_zp);
            }
            OwnedLayer::Save => kept = Some((x.clone(), c, zp)),
            OwnedLayer::Add(a) => {
                let (skip, skip_c, skip_zp) = kept.take().expect("a Save before each Add");
                let p = AddParams {
                    main_zp: zp,
                    skip_zp,
                    main_multiplier: a.main_multiplier,
                    skip_multiplier: a.skip_multiplier,
                    shift: a.shift,
                    out_zp: i32::from(a.output.zero_point),
                    relu: a.relu,
                };
                let mut y = vec![0i8; x.len()];
                reference::add(&p, c, skip_c, &x, &skip, &mut y);
                (x, zp) = (y, p.out_zp);
            }
            OwnedLayer::Dense {
                out_features,
                params: p,
            } => {
                let n = usize::from(*out_features);
                let mut y = vec![0i8; n];
                reference::dense(&layer_params(p, zp), &x, &mut y);
                (c, x, zp) = (n, y, i32::from(p.output.zero_point));
            }
        }
    }
    x
}
