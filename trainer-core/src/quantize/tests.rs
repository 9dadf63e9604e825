//! Quantizer tests on small random float models (no trained model needed).

use std::collections::HashMap;

use infer_core::{IMAGE_LEN, IMAGE_SIDE, Model, Padding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Uniform He-style initialization: `U(-a, a)` with `a = sqrt(6 / fan_in)`.
fn init(rng: &mut ChaCha8Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let a = (6.0 / fan_in as f32).sqrt();
    (0..n).map(|_| rng.random_range(-a..a)).collect()
}

fn small_bias(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-0.1..0.1)).collect()
}

/// conv(1 -> c, k, padding) + ReLU, max-pool, flatten, dense + ReLU, dense 10.
fn random_model(seed: u64, c: usize, k: usize, padding: Padding, hidden: usize) -> FloatModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let side = match padding {
        Padding::Valid => IMAGE_SIDE - k + 1,
        Padding::Same => IMAGE_SIDE,
    } / 2;
    let features = c * side * side;
    FloatModel {
        layers: vec![
            FloatLayer::Conv2d(FloatConv2d {
                in_channels: 1,
                out_channels: c,
                kernel: k,
                padding,
                relu: true,
                weight: init(&mut rng, c * k * k, k * k),
                bias: small_bias(&mut rng, c),
            }),
            FloatLayer::MaxPool2d,
            FloatLayer::Flatten,
            FloatLayer::Dense(FloatDense {
                in_features: features,
                out_features: hidden,
                relu: true,
                weight: init(&mut rng, hidden * features, features),
                bias: small_bias(&mut rng, hidden),
            }),
            FloatLayer::Dense(FloatDense {
                in_features: hidden,
                out_features: 10,
                relu: false,
                weight: init(&mut rng, 10 * hidden, hidden),
                bias: small_bias(&mut rng, 10),
            }),
        ],
        class_names: (0..10).map(|i| format!("class {i}")).collect(),
    }
}

/// The grammar's `c{c1},p,c{c2},p,g,d10`: conv(1 -> c1) 3x3 same + ReLU,
/// max-pool, conv(c1 -> c2) 3x3 same + ReLU, max-pool, global average pool,
/// dense 10.
fn random_gap_model(seed: u64, c1: usize, c2: usize) -> FloatModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut conv = |c_in: usize, c_out: usize| {
        FloatLayer::Conv2d(FloatConv2d {
            in_channels: c_in,
            out_channels: c_out,
            kernel: 3,
            padding: Padding::Same,
            relu: true,
            weight: init(&mut rng, c_out * c_in * 9, c_in * 9),
            bias: small_bias(&mut rng, c_out),
        })
    };
    let (conv1, conv2) = (conv(1, c1), conv(c1, c2));
    FloatModel {
        layers: vec![
            conv1,
            FloatLayer::MaxPool2d,
            conv2,
            FloatLayer::MaxPool2d,
            FloatLayer::GlobalAvgPool,
            FloatLayer::Dense(FloatDense {
                in_features: c2,
                out_features: 10,
                relu: false,
                // Larger than He: the channel means vary less than single pixels.
                weight: init(&mut rng, 10 * c2, 1),
                bias: small_bias(&mut rng, 10),
            }),
        ],
        class_names: (0..10).map(|i| format!("class {i}")).collect(),
    }
}

/// The grammar's `c{c1},p,r{c1},r{c2},p,g,d10`: conv(1 -> c1) + ReLU,
/// max-pool, two residual blocks (Save, conv + ReLU, conv, Add + ReLU; the
/// second widens c1 to c2 with a zero-padded shortcut), max-pool, global
/// average pool, dense 10.
fn random_residual_model(seed: u64, c1: usize, c2: usize) -> FloatModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut conv = |c_in: usize, c_out: usize, relu: bool| {
        FloatLayer::Conv2d(FloatConv2d {
            in_channels: c_in,
            out_channels: c_out,
            kernel: 3,
            padding: Padding::Same,
            relu,
            weight: init(&mut rng, c_out * c_in * 9, c_in * 9),
            bias: small_bias(&mut rng, c_out),
        })
    };
    let mut layers = vec![conv(1, c1, true), FloatLayer::MaxPool2d];
    for (c_in, c_out) in [(c1, c1), (c1, c2)] {
        layers.push(FloatLayer::Save);
        layers.push(conv(c_in, c_out, true));
        layers.push(conv(c_out, c_out, false));
        layers.push(FloatLayer::Add { relu: true });
    }
    layers.push(FloatLayer::MaxPool2d);
    layers.push(FloatLayer::GlobalAvgPool);
    let weight = init(&mut rng, 10 * c2, 1);
    layers.push(FloatLayer::Dense(FloatDense {
        in_features: c2,
        out_features: 10,
        relu: false,
        weight,
        bias: small_bias(&mut rng, 10),
    }));
    FloatModel {
        layers,
        class_names: (0..10).map(|i| format!("class {i}")).collect(),
    }
}

/// Images with structure (a few bright rectangles on a dark background), so
/// that activations look more like real data than uniform noise does.
fn random_images(seed: u64, n: usize) -> Vec<[u8; IMAGE_LEN]> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut img = [0u8; IMAGE_LEN];
            for _ in 0..rng.random_range(1..4) {
                let (y0, x0) = (rng.random_range(0..24), rng.random_range(0..24));
                let (h, w) = (rng.random_range(3..14), rng.random_range(3..14));
                let v: u8 = rng.random_range(80..=255);
                for y in y0..(y0 + h).min(IMAGE_SIDE) {
                    for x in x0..(x0 + w).min(IMAGE_SIDE) {
                        let noise: u8 = rng.random_range(0..40);
                        img[y * IMAGE_SIDE + x] = v.saturating_sub(noise);
                    }
                }
            }
            img
        })
        .collect()
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Fraction of `test` images where int8 and float agree on the class, and the
/// mean absolute dequantized logit error relative to the float logit range.
fn agreement(model: &FloatModel, fmq: &[u8], test: &[[u8; IMAGE_LEN]]) -> (f64, f64) {
    let q = Model::from_bytes(fmq).expect("valid model");
    let mut scratch = vec![0i8; q.scratch_len()];
    let (mut same, mut err, mut range) = (0usize, 0f64, 0f64);
    for img in test {
        let f = model.forward(img);
        let p = q.classify(img, &mut scratch).expect("classify");
        if p.class == argmax(&f) {
            same += 1;
        }
        for (a, b) in p.dequantized().iter().zip(&f) {
            err += f64::from((a - b).abs());
        }
        let (lo, hi) = f
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        range += f64::from(hi - lo);
    }
    let n = test.len() as f64;
    (same as f64 / n, (err / (n * 10.0)) / (range / n))
}

#[test]
fn random_models_agree_with_float() {
    let calib = random_images(1, 300);
    let test = random_images(2, 300);
    for (seed, k, padding) in [
        (10, 3, Padding::Valid),
        (11, 3, Padding::Same),
        (12, 5, Padding::Valid),
        (13, 1, Padding::Same),
    ] {
        let model = random_model(seed, 4, k, padding, 24);
        for options in [
            QuantizeOptions::default(),
            QuantizeOptions {
                calibration: Calibration::Percentile(0.9999),
                logit_calibration: Calibration::MinMax,
                bias_correction: false,
            },
            QuantizeOptions {
                calibration: Calibration::Mse,
                logit_calibration: Calibration::Percentile(0.999),
                bias_correction: true,
            },
        ] {
            let fmq = quantize(&model, &calib, &options).expect("quantize");
            let (agree, rel_err) = agreement(&model, &fmq, &test);
            assert!(
                agree >= 0.95 && rel_err < 0.02,
                "k={k} {padding:?} {options:?}: agreement {agree}, relative logit error {rel_err}"
            );
        }
    }
}

#[test]
fn global_average_pooling_models_agree_with_float() {
    let calib = random_images(6, 300);
    let test = random_images(7, 300);
    for (seed, c1, c2) in [(70, 4, 8), (71, 8, 16)] {
        let model = random_gap_model(seed, c1, c2);
        assert_eq!(model.shapes().unwrap()[4], [c2, 1, 1]);
        for options in [
            QuantizeOptions::default(),
            QuantizeOptions {
                calibration: Calibration::Mse,
                logit_calibration: Calibration::MinMax,
                bias_correction: false,
            },
        ] {
            let q = quantize_with_report(&model, &calib, &options).expect("quantize");
            // Version 4: the pool is a GlobalMean, whose grid of its own the
            // dense layer then takes as its input.
            assert_eq!(&q.bytes[4..6], &[4, 0]);
            let kinds: Vec<&str> = q.layers.iter().map(|l| l.kind.as_str()).collect();
            assert_eq!(kinds, ["conv2d", "conv2d", "dense"]);
            let decoded = Model::from_bytes(&q.bytes).unwrap();
            let Some(infer_core::Layer::GlobalMean(mean)) = decoded.file().layers.get(4) else {
                panic!("layer 4 is a GlobalMean")
            };
            assert_eq!(
                q.layers[2].input,
                (mean.output.scale, mean.output.zero_point)
            );
            // Finer than the second convolution's grid.
            assert!(mean.output.scale < q.layers[1].output.0);
            // Measured: logits within 0.29 to 0.35 % of their range, agreement 96 to
            // 99.7 % (with the means on the second convolution's grid, as the
            // version-3 GlobalAvgPool keeps them: 0.4 to 0.7 %, 92 to 99 %). The
            // channel means of these random images vary little, so a random dense
            // layer leaves near-ties between classes; a trained model's margins are
            // wider (trainer/tests/training.rs).
            let (agree, rel_err) = agreement(&model, &q.bytes, &test);
            assert!(
                agree >= 0.95 && rel_err < 0.004,
                "{c1},{c2} {options:?}: agreement {agree}, relative logit error {rel_err}"
            );
        }
    }
}

#[test]
fn residual_models_agree_with_float() {
    let calib = random_images(5, 200);
    let test = random_images(6, 200);
    for (seed, c1, c2) in [(90, 4, 8), (91, 8, 8)] {
        let model = random_residual_model(seed, c1, c2);
        let q =
            quantize_with_report(&model, &calib, &QuantizeOptions::default()).expect("quantize");
        // Version 4: Save and Add around each block's two convolutions.
        assert_eq!(&q.bytes[4..6], &[4, 0]);
        let decoded = Model::from_bytes(&q.bytes).unwrap();
        let kinds: Vec<&str> = decoded
            .file()
            .layers
            .iter()
            .map(|l| match l {
                infer_core::Layer::Save => "s",
                infer_core::Layer::Add(_) => "a",
                infer_core::Layer::Conv2d(_) => "c",
                _ => "-",
            })
            .collect();
        assert_eq!(kinds.concat(), "c-scca scca---".replace(' ', ""));
        // Measured: 100 % agreement, 0.47 to 0.48 % of the logit range (with
        // the shortcut's multiplier at half its value: 3.0 %, which fails).
        let (agree, rel_err) = agreement(&model, &q.bytes, &test);
        assert!(
            agree >= 0.95 && rel_err < 0.01,
            "{c1},{c2}: agreement {agree}, relative logit error {rel_err}"
        );
    }
}

#[test]
fn add_multipliers_share_one_shift() {
    // 0.5 and 0.25 are exact: the larger normalized, the smaller at its shift.
    assert_eq!(
        add_multipliers(0, 1.0, 0.5, 2.0).unwrap(),
        (1 << 30, 1 << 29, 31)
    );
    assert_eq!(
        add_multipliers(0, 0.5, 1.0, 2.0).unwrap(),
        (1 << 29, 1 << 30, 31)
    );
    // Above 1: a smaller shift.
    let (ma, ms, n) = add_multipliers(0, 3.0, 1.0, 2.0).unwrap();
    assert_eq!((ma, ms, n), (3 << 29, 1 << 29, 30));
    assert!(add_multipliers(0, 1.0, f32::INFINITY, 1.0).is_err());
}

#[test]
fn float_add_pads_missing_channels_with_zero() {
    let main = Activation {
        shape: [2, 1, 2],
        data: vec![1.0, -2.0, 3.0, -4.0],
    };
    let skip = Activation {
        shape: [1, 1, 2],
        data: vec![0.5, 1.0],
    };
    assert_eq!(float::add(&main, &skip, false).data, [1.5, -1.0, 3.0, -4.0]);
    assert_eq!(float::add(&main, &skip, true).data, [1.5, 0.0, 3.0, 0.0]);
}

#[test]
fn loads_a_residual_architecture() {
    let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let model = random_residual_model(92, 4, 8);
    let mut params = named_params(&model);
    let arch = crate::arch::Arch::parse("c4,p,r4,r8,p,g,d10").unwrap();
    let loaded = FloatModel::from_arch(&params, &arch, false, &names).unwrap();
    assert_eq!(loaded, model);
    // Save and Add must pair up: without the first Add, two Saves in a row.
    let mut bad = model.clone();
    bad.layers.remove(5);
    let e = bad.shapes().unwrap_err().to_string();
    assert!(e.contains("another tensor is kept"), "{e}");
    // The second block's first convolution takes 4 channels, not 8.
    params.get_mut("conv4.weight").unwrap().shape = vec![8, 8, 3, 3];
    assert!(FloatModel::from_arch(&params, &arch, false, &names).is_err());
}

#[test]
fn float_global_avg_pool_is_the_channel_mean() {
    let x = Activation {
        shape: [2, 2, 3],
        data: vec![
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -1.0, -1.0, -1.0, -1.0, -1.0, 5.0,
        ],
    };
    let y = float::global_avg_pool(&x);
    assert_eq!(y.shape, [2, 1, 1]);
    assert_eq!(y.data, [3.5, 0.0]);
}

#[test]
fn report_describes_each_layer() {
    let model = random_model(20, 3, 3, Padding::Valid, 16);
    let calib = random_images(3, 50);
    let q = quantize_with_report(&model, &calib, &QuantizeOptions::default()).unwrap();
    let kinds: Vec<&str> = q.layers.iter().map(|l| l.kind.as_str()).collect();
    assert_eq!(kinds, ["conv2d", "dense", "dense"]);
    assert_eq!(q.layers[0].input, (infer_core::INPUT_SCALE, -128));
    // Fused ReLU: zero point -128; each layer's input is the previous output.
    assert_eq!(q.layers[0].output.1, -128);
    assert_eq!(q.layers[1].input, q.layers[0].output);
    assert_eq!(q.layers[2].input, q.layers[1].output);
    let m = Model::from_bytes(&q.bytes).unwrap();
    assert_eq!(m.num_classes(), 10);
    assert_eq!(m.class_names().nth(3), Some("class 3"));
    assert_eq!(m.output_quant().scale, q.layers[2].output.0);
}

#[test]
fn bias_correction_removes_the_mean_shift() {
    // A coarse model where weight rounding shifts the mean: with correction,
    // the mean dequantized logit error over the calibration set shrinks.
    let model = random_model(30, 4, 3, Padding::Valid, 24);
    let calib = random_images(4, 200);
    let mean_error = |bias_correction| {
        let options = QuantizeOptions {
            bias_correction,
            ..QuantizeOptions::default()
        };
        let fmq = quantize(&model, &calib, &options).unwrap();
        let q = Model::from_bytes(&fmq).unwrap();
        let mut scratch = vec![0i8; q.scratch_len()];
        let mut sum = [0f64; 10];
        for img in &calib {
            let f = model.forward(img);
            let p = q.classify(img, &mut scratch).unwrap();
            for (s, (a, b)) in sum.iter_mut().zip(p.dequantized().iter().zip(&f)) {
                *s += f64::from(a - b);
            }
        }
        sum.iter()
            .map(|s| (s / calib.len() as f64).abs())
            .sum::<f64>()
    };
    let (with, without) = (mean_error(true), mean_error(false));
    assert!(with <= without, "with correction {with}, without {without}");
}

#[test]
fn rejects_bad_inputs() {
    let model = random_model(40, 2, 3, Padding::Valid, 8);
    assert!(matches!(
        quantize(&model, &[], &QuantizeOptions::default()),
        Err(QuantizeError::NoCalibrationImages)
    ));
    let mut bad = model.clone();
    if let FloatLayer::Dense(d) = &mut bad.layers[3] {
        d.weight[5] = f32::NAN;
    }
    assert!(matches!(
        quantize(&bad, &random_images(5, 4), &QuantizeOptions::default()),
        Err(QuantizeError::NonFinite { layer: 3 })
    ));
    let mut bad = model.clone();
    bad.class_names.pop();
    assert!(matches!(
        quantize(&bad, &random_images(5, 4), &QuantizeOptions::default()),
        Err(QuantizeError::Shape { layer: 4, .. })
    ));
    let mut bad = model;
    bad.layers.swap(1, 2);
    assert!(matches!(
        quantize(&bad, &random_images(5, 4), &QuantizeOptions::default()),
        Err(QuantizeError::Shape { .. })
    ));
}

#[test]
fn float_conv_matches_a_direct_definition() {
    // Same padding, k = 3, two input channels: compare with the textbook sum.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let conv = FloatConv2d {
        in_channels: 2,
        out_channels: 3,
        kernel: 3,
        padding: Padding::Same,
        relu: false,
        weight: init(&mut rng, 3 * 2 * 9, 18),
        bias: small_bias(&mut rng, 3),
    };
    let (h, w) = (5, 4);
    let x = Activation {
        shape: [2, h, w],
        data: (0..2 * h * w).map(|_| rng.random_range(0.0..1.0)).collect(),
    };
    let y = conv.pre_activation(&x);
    assert_eq!(y.shape, [3, h, w]);
    for o in 0..3 {
        for oy in 0..h {
            for ox in 0..w {
                let mut acc = conv.bias[o];
                for ic in 0..2 {
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (iy, ix) = (oy as i64 + ky as i64 - 1, ox as i64 + kx as i64 - 1);
                            if iy >= 0 && ix >= 0 && iy < h as i64 && ix < w as i64 {
                                acc += conv.weight[((o * 2 + ic) * 3 + ky) * 3 + kx]
                                    * x.data[(ic * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                }
                let got = y.data[(o * h + oy) * w + ox];
                assert!((got - acc).abs() < 1e-5, "{got} vs {acc}");
            }
        }
    }
}

/// The contract's parameter names for a model like `random_model`.
fn params_of(model: &FloatModel) -> HashMap<String, Param> {
    let mut p = HashMap::new();
    let mut put = |name: &str, shape: Vec<usize>, data: &[f32]| {
        p.insert(
            name.to_string(),
            Param {
                shape,
                data: data.to_vec(),
            },
        );
    };
    for (i, layer) in model.layers.iter().enumerate() {
        match layer {
            FloatLayer::Conv2d(c) => {
                put(
                    "conv.weight",
                    vec![c.out_channels, 1, c.kernel, c.kernel],
                    &c.weight,
                );
                put("conv.bias", vec![c.out_channels], &c.bias);
            }
            FloatLayer::Dense(d) => {
                let name = if i == 3 { "fc1" } else { "fc2" };
                put(
                    &format!("{name}.weight"),
                    vec![d.out_features, d.in_features],
                    &d.weight,
                );
                put(&format!("{name}.bias"), vec![d.out_features], &d.bias);
            }
            _ => {}
        }
    }
    p
}

/// The parameters of `model` under `trainer::nn::Net`'s names: convolutions
/// `conv`, `conv2`, ... and dense layers `fc1`, `fc2`, ... in order.
fn named_params(model: &FloatModel) -> HashMap<String, Param> {
    let mut params = HashMap::new();
    let (mut convs, mut denses) = (0, 0);
    for layer in &model.layers {
        let (name, shape, weight, bias) = match layer {
            FloatLayer::Conv2d(c) => {
                convs += 1;
                let name = crate::arch::conv_name("conv", convs - 1);
                let shape = vec![c.out_channels, c.in_channels, 3, 3];
                (name, shape, &c.weight, &c.bias)
            }
            FloatLayer::Dense(d) => {
                denses += 1;
                let shape = vec![d.out_features, d.in_features];
                (format!("fc{denses}"), shape, &d.weight, &d.bias)
            }
            _ => continue,
        };
        let bias_shape = vec![bias.len()];
        for (part, shape, data) in [("weight", shape, weight), ("bias", bias_shape, bias)] {
            params.insert(
                format!("{name}.{part}"),
                Param {
                    shape,
                    data: data.clone(),
                },
            );
        }
    }
    params
}

fn safetensors_bytes(params: &HashMap<String, Param>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|(n, p)| {
            let data = p.data.iter().flat_map(|v| v.to_le_bytes()).collect();
            (n.clone(), p.shape.clone(), data)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, shape, data)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .unwrap();
            (n.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

#[test]
fn loads_the_contract_architectures_from_safetensors() {
    let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for (c, padding) in [
        (32, Padding::Valid),
        (32, Padding::Same),
        (64, Padding::Same),
    ] {
        let model = random_model(50, c, 3, padding, 100);
        let bytes = safetensors_bytes(&params_of(&model));
        let loaded = FloatModel::from_safetensors(&bytes, &names).unwrap();
        assert_eq!(loaded, model, "{c} {padding:?}");
    }
    let dir = std::env::temp_dir().join(format!("quantize-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let model = random_model(51, 32, 3, Padding::Valid, 100);
    std::fs::write(&path, safetensors_bytes(&params_of(&model))).unwrap();
    assert_eq!(FloatModel::load_safetensors(&path, &names).unwrap(), model);
    let missing = FloatModel::load_safetensors(&dir.join("nope.safetensors"), &names);
    assert!(matches!(missing, Err(QuantizeError::Io { .. })));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loads_a_global_average_pooling_architecture() {
    let names: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let model = random_gap_model(80, 4, 8);
    let mut params = named_params(&model);
    let arch = crate::arch::Arch::parse("c4,p,c8,p,g,d10").unwrap();
    let loaded = FloatModel::from_arch(&params, &arch, false, &names).unwrap();
    assert_eq!(loaded, model);
    // The dense layer takes the 8 channel means: a wider one is refused.
    params.get_mut("fc1.weight").unwrap().shape = vec![10, 8 * 7 * 7];
    assert!(FloatModel::from_arch(&params, &arch, false, &names).is_err());
}

#[test]
fn loader_reports_what_is_wrong() {
    let names: Vec<&str> = (0..10).map(|_| "x").collect();
    let model = random_model(60, 4, 3, Padding::Valid, 8);
    let params = params_of(&model);

    let mut p = params.clone();
    p.remove("fc2.bias");
    assert!(matches!(
        FloatModel::from_params(&p, &names),
        Err(QuantizeError::MissingTensor { name }) if name == "fc2.bias"
    ));

    let mut p = params.clone();
    p.get_mut("fc1.weight").unwrap().shape = vec![8, 4 * 14 * 14 + 1];
    assert!(FloatModel::from_params(&p, &names).is_err());

    let mut p = params.clone();
    p.get_mut("conv.bias").unwrap().shape = vec![5];
    assert!(matches!(
        FloatModel::from_params(&p, &names),
        Err(QuantizeError::TensorShape { .. })
    ));

    assert!(matches!(
        FloatModel::from_params(&params, &names[..9]),
        Err(QuantizeError::Architecture(_))
    ));
    assert!(matches!(
        FloatModel::from_safetensors(b"not a safetensors file", &names),
        Err(QuantizeError::SafeTensors(_))
    ));

    // An integer tensor is rejected with its name.
    let data = vec![0u8; 4 * 4];
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::I32, vec![4], &data).unwrap();
    let bytes = safetensors::serialize([("conv.bias", view)], None).unwrap();
    assert!(matches!(
        FloatModel::from_safetensors(&bytes, &names),
        Err(QuantizeError::Dtype { name, .. }) if name == "conv.bias"
    ));
}
