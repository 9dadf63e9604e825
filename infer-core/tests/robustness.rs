//! Malformed files never panic and give the specific error; classify after a
//! successful parse never panics.

mod common;

use common::{
    Rng, image, random_gap_model, random_mean_model, random_model, random_residual_model,
};
use infer_core::{
    Error, FORMAT_VERSION, HEADER_LEN, Layer, MAGIC, Model, ModelFile, Padding, crc32,
};
use infer_core::{OwnedLayer, OwnedModel};
use proptest::prelude::*;

/// Header (the version `encode` would write) + postcard payload without
/// validating the model (the format written out by hand, to build files that
/// `encode` would refuse).
fn raw_encode(file: &ModelFile<'_>) -> Vec<u8> {
    let payload = postcard::to_stdvec(file).unwrap();
    with_version_header(file.format_version(), &payload)
}

/// The newest version's header before `payload`.
fn with_header(payload: &[u8]) -> Vec<u8> {
    with_version_header(FORMAT_VERSION, payload)
}

fn with_version_header(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Rewrites the header's CRC after the payload was changed.
fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32(&bytes[HEADER_LEN..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn model(seed: u64) -> OwnedModel {
    random_model(&mut Rng::new(seed))
}

fn gap_model(seed: u64) -> OwnedModel {
    random_gap_model(&mut Rng::new(seed))
}

/// `from_bytes` of `m` encoded without validation, and `encode`'s verdict.
fn parse_raw(m: &OwnedModel) -> Result<(), Error> {
    m.with_file(|file| {
        let bytes = raw_encode(file);
        let parsed = Model::from_bytes(&bytes).map(|_| ());
        let mut out = vec![0u8; 1 << 16];
        let encoded = infer_core::encode(file, &mut out).map(|_| ());
        assert_eq!(parsed, encoded, "encode and from_bytes disagree");
        parsed
    })
    .unwrap()
}

fn first_conv(
    m: &mut OwnedModel,
) -> (
    &mut u16,
    &mut u8,
    &mut Padding,
    &mut infer_core::OwnedParams,
) {
    for l in &mut m.layers {
        if let OwnedLayer::Conv2d {
            out_channels,
            kernel,
            padding,
            params,
        } = l
        {
            return (out_channels, kernel, padding, params);
        }
    }
    unreachable!("random models start with a convolution")
}

fn last_dense(m: &mut OwnedModel) -> (&mut u16, &mut infer_core::OwnedParams) {
    match m.layers.last_mut() {
        Some(OwnedLayer::Dense {
            out_features,
            params,
        }) => (out_features, params),
        _ => unreachable!("random models end with a dense layer"),
    }
}

#[test]
fn raw_encoding_matches_encode() {
    for m in [model(1), gap_model(1)] {
        assert_eq!(m.with_file(raw_encode).unwrap(), m.to_bytes().unwrap());
    }
}

#[test]
fn every_truncated_prefix_is_an_error() {
    for seed in 0..4 {
        let bytes = model(seed).to_bytes().unwrap();
        assert!(Model::from_bytes(&bytes).is_ok());
        for len in 0..bytes.len() {
            let err = Model::from_bytes(&bytes[..len]).unwrap_err();
            assert_eq!(err, Error::Truncated, "prefix of {len} bytes");
        }
    }
}

#[test]
fn header_errors() {
    let good = model(2).to_bytes().unwrap();

    let mut b = good.clone();
    b[0] = b'X';
    assert_eq!(Model::from_bytes(&b).unwrap_err(), Error::BadMagic);
    assert_eq!(Model::from_bytes(b"NOPE").unwrap_err(), Error::BadMagic);

    for version in [0u16, 1, 5, u16::MAX] {
        let mut b = good.clone();
        b[4..6].copy_from_slice(&version.to_le_bytes());
        assert_eq!(
            Model::from_bytes(&b).unwrap_err(),
            Error::UnsupportedVersion { found: version }
        );
    }
    // A model without global average pooling is written as version 2, and
    // reads the same as version 3 (the version is outside the CRC).
    assert_eq!(&good[4..6], &[2, 0]);
    let mut b = good.clone();
    b[4..6].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(
        Model::from_bytes(&b).unwrap().file(),
        Model::from_bytes(&good).unwrap().file()
    );

    let mut b = good.clone();
    b[7] = 1;
    assert_eq!(Model::from_bytes(&b).unwrap_err(), Error::BadHeader);

    let mut b = good.clone();
    b.push(0);
    assert_eq!(Model::from_bytes(&b).unwrap_err(), Error::TrailingBytes);

    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 0x40;
    assert!(matches!(
        Model::from_bytes(&b).unwrap_err(),
        Error::Checksum { .. }
    ));

    // Valid CRC over bytes that are not a model.
    let b = with_header(&[0xFF; 40]);
    assert_eq!(Model::from_bytes(&b).unwrap_err(), Error::Decode);
    // A valid model followed by junk inside the payload.
    let mut payload = good[HEADER_LEN..].to_vec();
    payload.push(7);
    assert_eq!(
        Model::from_bytes(&with_header(&payload)).unwrap_err(),
        Error::TrailingBytes
    );
}

#[test]
fn input_errors() {
    let mut m = model(3);
    m.input.height = 65535;
    assert_eq!(parse_raw(&m), Err(Error::InputShape));
    let mut m = model(3);
    m.input.channels = 3;
    assert_eq!(parse_raw(&m), Err(Error::InputShape));
    let mut m = model(3);
    m.input.quant.zero_point = 0;
    assert_eq!(parse_raw(&m), Err(Error::InputQuantization));
    let mut m = model(3);
    m.input.quant.scale = 1.0 / 256.0;
    assert_eq!(parse_raw(&m), Err(Error::InputQuantization));
    let mut m = model(3);
    m.layers.clear();
    m.class_names.truncate(1);
    assert_eq!(parse_raw(&m), Err(Error::NoLayers));
}

#[test]
fn absurd_dimensions() {
    // 65535 filters of 255x255: the parameters cannot be there.
    let mut m = model(4);
    let (oc, k, pad, _) = first_conv(&mut m);
    (*oc, *k, *pad) = (65535, 255, Padding::Same);
    assert_eq!(parse_raw(&m), Err(Error::ParamLength { layer: 0 }));

    // A valid-padded kernel larger than the image.
    let mut m = model(4);
    let (_, k, pad, _) = first_conv(&mut m);
    (*k, *pad) = (29, Padding::Valid);
    assert_eq!(parse_raw(&m), Err(Error::Shape { layer: 0 }));

    // Even and zero kernels, zero filters.
    for kernel in [0u8, 2, 4] {
        let mut m = model(4);
        *first_conv(&mut m).1 = kernel;
        assert_eq!(parse_raw(&m), Err(Error::Shape { layer: 0 }));
    }
    let mut m = model(4);
    *first_conv(&mut m).0 = 0;
    assert_eq!(parse_raw(&m), Err(Error::Shape { layer: 0 }));

    // A dense layer of 65535 outputs and one of none.
    let mut m = model(4);
    let last = m.layers.len() - 1;
    *last_dense(&mut m).0 = 65535;
    assert_eq!(parse_raw(&m), Err(Error::ParamLength { layer: last as u8 }));
    let mut m = model(4);
    *last_dense(&mut m).0 = 0;
    assert_eq!(parse_raw(&m), Err(Error::Shape { layer: last as u8 }));

    // Dense on a spatial tensor (Flatten removed).
    let mut m = model(4);
    let flatten = m
        .layers
        .iter()
        .position(|l| matches!(l, OwnedLayer::Flatten))
        .unwrap();
    m.layers.remove(flatten);
    assert_eq!(
        parse_raw(&m),
        Err(Error::Shape {
            layer: flatten as u8
        })
    );

    // Pooling down to nothing.
    let mut m = model(4);
    m.layers
        .splice(0..0, std::iter::repeat_n(OwnedLayer::MaxPool2d, 5));
    assert_eq!(parse_raw(&m), Err(Error::Shape { layer: 4 }));

    // More layers than MAX_LAYERS does not decode; exactly MAX_LAYERS does.
    // Extra `Flatten`s after the model's own one are no-ops.
    let m = model(4);
    let build = |total: usize| {
        m.with_file(|file| {
            let flat = file
                .layers
                .iter()
                .position(|l| *l == Layer::Flatten)
                .unwrap();
            let mut layers: Vec<Layer<'_>> = file.layers.to_vec();
            let extra = total - layers.len();
            layers.splice(flat..flat, std::iter::repeat_n(Layer::Flatten, extra));
            let unbounded = Unbounded {
                input: file.input,
                layers,
                class_names: file.class_names.to_vec(),
            };
            with_header(&postcard::to_stdvec(&unbounded).unwrap())
        })
        .unwrap()
    };
    let max = infer_core::MAX_LAYERS;
    assert_eq!(
        Model::from_bytes(&build(max + 1)).unwrap_err(),
        Error::Decode
    );
    assert!(Model::from_bytes(&build(max)).is_ok());
    // Versions 2 and 3 hold at most 16 layers: 17 need version 4.
    let at_version = |n: usize, version: u16| {
        let mut b = build(n);
        b[4..6].copy_from_slice(&version.to_le_bytes());
        Model::from_bytes(&b).map(|_| ())
    };
    assert_eq!(at_version(16, 2), Ok(()));
    assert_eq!(at_version(17, 3), Err(Error::Decode));
    assert_eq!(at_version(17, 4), Ok(()));
}

/// `ModelFile` with unbounded lists (same postcard encoding).
#[derive(serde::Serialize)]
struct Unbounded<'a> {
    input: infer_core::InputSpec,
    layers: Vec<Layer<'a>>,
    class_names: Vec<&'a str>,
}

#[test]
fn global_avg_pool_needs_version_3_and_a_spatial_input() {
    let m = gap_model(7);
    let gap = m
        .layers
        .iter()
        .position(|l| *l == OwnedLayer::GlobalAvgPool)
        .unwrap();
    let good = m.to_bytes().unwrap();
    assert_eq!(&good[4..6], &[3, 0]);
    assert!(Model::from_bytes(&good).is_ok());
    // The same payload under a version-2 header: refused, by either parse.
    let mut v2 = good.clone();
    v2[4..6].copy_from_slice(&2u16.to_le_bytes());
    let err = Error::LayerVersion {
        layer: gap as u8,
        needs: 3,
        found: 2,
    };
    assert_eq!(Model::from_bytes(&v2).unwrap_err(), err);
    assert_eq!(Model::from_bytes_unverified(&v2).unwrap_err(), err);
    assert_eq!(
        err.to_string(),
        format!(
            "layer {gap}: this layer type needs model format version 3 or later, \
             but the file says version 2"
        )
    );

    // After a flatten, a dense layer or another global pool, the input is a
    // vector: refused.
    let mut m = gap_model(7);
    m.layers.insert(gap, OwnedLayer::Flatten);
    assert_eq!(
        parse_raw(&m),
        Err(Error::Shape {
            layer: gap as u8 + 1
        })
    );
    let mut m = gap_model(7);
    m.layers.insert(gap + 1, OwnedLayer::GlobalAvgPool);
    assert_eq!(
        parse_raw(&m),
        Err(Error::Shape {
            layer: gap as u8 + 1
        })
    );
    let mut m = gap_model(7);
    m.layers.push(OwnedLayer::GlobalAvgPool);
    assert_eq!(
        parse_raw(&m),
        Err(Error::Shape {
            layer: m.layers.len() as u8 - 1
        })
    );
    // A flatten after it changes nothing.
    let mut m = gap_model(7);
    m.layers.insert(gap + 1, OwnedLayer::Flatten);
    assert_eq!(parse_raw(&m), Ok(()));
    // The dense layer after it takes C inputs: four more are refused (the
    // stored rows are C rounded up to four long).
    let mut m = gap_model(7);
    let Some(OwnedLayer::Dense { params, .. }) = m.layers.get_mut(gap + 1) else {
        unreachable!("a dense layer follows the global pool")
    };
    let out = params.bias.len();
    params.weights.extend(std::iter::repeat_n(1, 4 * out));
    assert_eq!(
        parse_raw(&m),
        Err(Error::ParamLength {
            layer: gap as u8 + 1
        })
    );
}

#[test]
fn residual_pairs_need_version_4_order_and_shapes() {
    let m = random_residual_model(&mut Rng::new(11));
    let save = m
        .layers
        .iter()
        .position(|l| *l == OwnedLayer::Save)
        .unwrap();
    let add = m
        .layers
        .iter()
        .position(|l| matches!(l, OwnedLayer::Add(_)))
        .unwrap();
    let good = m.to_bytes().unwrap();
    assert_eq!(&good[4..6], &[4, 0]);
    assert!(Model::from_bytes(&good).is_ok());
    // Under a version-3 header: the Save is the first layer it lacks.
    let mut v3 = good.clone();
    v3[4..6].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(
        Model::from_bytes(&v3).unwrap_err(),
        Error::LayerVersion {
            layer: save as u8,
            needs: 4,
            found: 3,
        }
    );
    // An Add without a Save; a Save without an Add; two Saves in a row.
    let mut m2 = m.clone();
    m2.layers.remove(save);
    assert_eq!(
        parse_raw(&m2),
        Err(Error::Residual {
            layer: add as u8 - 1
        })
    );
    let mut m2 = m.clone();
    m2.layers.remove(add);
    assert_eq!(
        parse_raw(&m2),
        Err(Error::Residual {
            layer: m2.layers.len() as u8 - 1
        })
    );
    let mut m2 = m.clone();
    m2.layers.insert(save, OwnedLayer::Save);
    assert_eq!(
        parse_raw(&m2),
        Err(Error::Residual {
            layer: save as u8 + 1
        })
    );
    // A shortcut of other rows and columns: a max-pool inside the block.
    let mut m2 = m.clone();
    m2.layers.insert(save + 1, OwnedLayer::MaxPool2d);
    assert_eq!(
        parse_raw(&m2),
        Err(Error::Shape {
            layer: add as u8 + 1
        })
    );
    // Out-of-range shift or multiplier, bad output scale.
    for (shift, mult, scale, err) in [
        (0u8, 1, 0.1f32, Error::Requant { layer: add as u8 }),
        (63, 1, 0.1, Error::Requant { layer: add as u8 }),
        (31, -1, 0.1, Error::Requant { layer: add as u8 }),
        (31, 1, 0.0, Error::Scale { layer: add as u8 }),
    ] {
        let mut m2 = m.clone();
        let OwnedLayer::Add(a) = &mut m2.layers[add] else {
            unreachable!()
        };
        a.shift = shift;
        a.skip_multiplier = mult;
        a.output.scale = scale;
        assert_eq!(parse_raw(&m2), Err(err));
    }
}

#[test]
fn global_mean_needs_version_4_a_spatial_input_and_valid_parameters() {
    let m = random_mean_model(&mut Rng::new(13));
    let at = m
        .layers
        .iter()
        .position(|l| matches!(l, OwnedLayer::GlobalMean(_)))
        .unwrap();
    let good = m.to_bytes().unwrap();
    assert_eq!(&good[4..6], &[4, 0]);
    let mut v3 = good.clone();
    v3[4..6].copy_from_slice(&3u16.to_le_bytes());
    assert_eq!(
        Model::from_bytes(&v3).unwrap_err(),
        Error::LayerVersion {
            layer: at as u8,
            needs: 4,
            found: 3,
        }
    );
    let mut flat = m.clone();
    flat.layers.insert(at, OwnedLayer::Flatten);
    assert_eq!(
        parse_raw(&flat),
        Err(Error::Shape {
            layer: at as u8 + 1
        })
    );
    for (shift, mult, scale, err) in [
        (0u8, 1, 0.1f32, Error::Requant { layer: at as u8 }),
        (63, 1, 0.1, Error::Requant { layer: at as u8 }),
        (31, -1, 0.1, Error::Requant { layer: at as u8 }),
        (31, 1, f32::NAN, Error::Scale { layer: at as u8 }),
    ] {
        let mut bad = m.clone();
        let OwnedLayer::GlobalMean(g) = &mut bad.layers[at] else {
            unreachable!()
        };
        (g.shift, g.multiplier, g.output.scale) = (shift, mult, scale);
        assert_eq!(parse_raw(&bad), Err(err));
    }
}

#[test]
fn residual_shortcut_with_more_channels_is_refused() {
    use infer_core::{Add, QuantParams};
    // conv to 3 channels, Save, 1x1 conv to 2 channels, Add: 3 > 2.
    let mut rng = Rng::new(5);
    let conv = |rng: &mut Rng, out: usize, fan_in: usize| OwnedLayer::Conv2d {
        out_channels: out as u16,
        kernel: 1,
        padding: Padding::Same,
        params: common::random_params(rng, out, fan_in, false),
    };
    let mut m = OwnedModel {
        input: infer_core::InputSpec::default(),
        layers: vec![conv(&mut rng, 3, 1), OwnedLayer::Save, conv(&mut rng, 2, 3)],
        class_names: (0..2).map(|i| format!("c{i}")).collect(),
    };
    m.layers.push(OwnedLayer::Add(Add {
        relu: false,
        main_multiplier: 1 << 30,
        skip_multiplier: 1 << 30,
        shift: 31,
        output: QuantParams {
            scale: 0.1,
            zero_point: 0,
        },
    }));
    m.layers.push(OwnedLayer::GlobalAvgPool);
    assert_eq!(parse_raw(&m), Err(Error::Shape { layer: 3 }));
    // With 3 channels after the 1x1 convolution it is fine.
    m.layers[2] = conv(&mut rng, 3, 3);
    m.class_names.push("c2".into());
    assert_eq!(parse_raw(&m), Ok(()));
}

#[test]
fn parameter_errors() {
    // -128 is a valid weight (the accumulator bound allows |w| <= 128).
    let mut m = model(5);
    first_conv(&mut m).3.weights[0] = -128;
    assert_eq!(parse_raw(&m), Ok(()));

    // A nonzero weight in a row's padding (the first conv's rows are 9 long,
    // stored 12), and weights one row short: only a hand-made file holds them.
    let w = |f: fn(&mut Vec<u8>)| {
        model(5)
            .with_file(|file| {
                let mut file = file.clone();
                let Layer::Conv2d(conv) = &mut file.layers[0] else {
                    panic!("the first layer is a convolution")
                };
                let mut w = conv.weights.as_bytes().to_vec();
                f(&mut w);
                conv.weights = infer_core::I8Array::new(w.leak());
                Model::from_bytes(&raw_encode(&file)).map(|_| ())
            })
            .unwrap()
    };
    assert_eq!(w(|w| w[9] = 1), Err(Error::WeightPadding { layer: 0 }));
    assert_eq!(
        w(|w| w.truncate(w.len() - 12)),
        Err(Error::ParamLength { layer: 0 })
    );

    for shift in [0u8, 63, 255] {
        let mut m = model(5);
        first_conv(&mut m).3.shift[0] = shift;
        assert_eq!(parse_raw(&m), Err(Error::Requant { layer: 0 }));
    }
    let mut m = model(5);
    first_conv(&mut m).3.multiplier[0] = -1;
    assert_eq!(parse_raw(&m), Err(Error::Requant { layer: 0 }));

    for scale in [0.0, -1.0, f32::NAN, f32::INFINITY, 1e-45] {
        let mut m = model(5);
        first_conv(&mut m).3.output.scale = scale;
        assert_eq!(parse_raw(&m), Err(Error::Scale { layer: 0 }), "{scale}");
    }

    let mut m = model(5);
    let last = (m.layers.len() - 1) as u8;
    last_dense(&mut m).1.bias[0] = i32::MAX - 1000;
    assert_eq!(
        parse_raw(&m),
        Err(Error::AccumulatorOverflow { layer: last })
    );
    // A stored (folded) bias of i32::MIN: only a hand-made file holds one.
    let bytes = model(5)
        .with_file(|file| {
            let mut file = file.clone();
            let Some(Layer::Dense(dense)) = file.layers.last_mut() else {
                panic!("the last layer is dense")
            };
            let mut b = dense.bias.as_bytes().to_vec();
            b[..4].copy_from_slice(&i32::MIN.to_le_bytes());
            dense.bias = infer_core::I32Array::new(b.leak());
            raw_encode(&file)
        })
        .unwrap();
    assert_eq!(
        Model::from_bytes(&bytes).unwrap_err(),
        Error::AccumulatorOverflow { layer: last }
    );

    let mut m = model(5);
    let n = m.class_names.len() as u32;
    m.class_names.push("extra".into());
    assert_eq!(
        parse_raw(&m),
        Err(Error::ClassCount {
            outputs: n,
            names: n + 1
        })
    );
}

#[test]
fn scratch_too_small() {
    let bytes = model(6).to_bytes().unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    let mut scratch = vec![0i8; m.scratch_len() - 1];
    assert_eq!(
        m.classify(&[0; 784], &mut scratch).unwrap_err(),
        Error::ScratchTooSmall {
            needed: m.scratch_len() as u32,
            got: m.scratch_len() as u32 - 1
        }
    );
    // Larger is fine, and leftover contents do not matter.
    let mut big = vec![0x55i8; m.scratch_len() + 100];
    let mut exact = vec![-1i8; m.scratch_len()];
    assert_eq!(
        m.classify(&[9; 784], &mut big).unwrap(),
        m.classify(&[9; 784], &mut exact).unwrap()
    );
}

#[test]
fn errors_display() {
    let e = Error::UnsupportedVersion { found: 9 };
    assert_eq!(
        e.to_string(),
        "unsupported model format version 9 (expected 2 to 4)"
    );
    assert_eq!(
        Error::UnsupportedVersion { found: 1 }.to_string(),
        "model format version 1 is no longer read (expected 2 to 4): \
         re-export the model with `trainer export`"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(Error::Truncated);
    assert_eq!(boxed.to_string(), "model file truncated");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_bit_flips_never_panic(
        seed in any::<u64>(),
        flips in proptest::collection::vec(any::<u64>(), 1..8),
        fix in any::<bool>(),
        kind in 0u8..4,
    ) {
        let m = match kind {
            0 => model(seed),
            1 => gap_model(seed),
            2 => random_mean_model(&mut Rng::new(seed)),
            _ => random_residual_model(&mut Rng::new(seed)),
        };
        let mut bytes = m.to_bytes().unwrap();
        let bits = bytes.len() as u64 * 8;
        for f in flips {
            let bit = f % bits;
            bytes[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        if fix {
            // Defeat the CRC so that the decoder and validator are exercised.
            fix_crc(&mut bytes);
        }
        if let Ok(m) = Model::from_bytes(&bytes) {
            let mut scratch = vec![0i8; m.scratch_len()];
            let mut rng = Rng::new(seed);
            let p = m.classify(&image(&mut rng), &mut scratch).unwrap();
            prop_assert!(p.class < m.num_classes());
            prop_assert_eq!(p.scores.len(), m.num_classes());
        }
    }

    #[test]
    fn random_bytes_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        header in any::<bool>(),
    ) {
        let bytes = if header { with_header(&payload) } else { payload };
        let _ = Model::from_bytes(&bytes);
    }
}

#[test]
fn unverified_parse_skips_only_the_crc() {
    let bytes = model(11).to_bytes().unwrap();
    let checked = Model::from_bytes(&bytes).unwrap();
    let unverified = Model::from_bytes_unverified(&bytes).unwrap();
    assert_eq!(checked.file(), unverified.file());
    let mut scratch = vec![0i8; checked.scratch_len()];
    let img = image(&mut Rng::new(3));
    let a = checked.classify(&img, &mut scratch).unwrap();
    let b = unverified.classify(&img, &mut scratch).unwrap();
    assert_eq!(a, b);

    // A wrong CRC: refused by one, not looked at by the other.
    let mut wrong = bytes.clone();
    wrong[12] ^= 1;
    assert!(matches!(
        Model::from_bytes(&wrong),
        Err(Error::Checksum { .. })
    ));
    assert!(Model::from_bytes_unverified(&wrong).is_ok());
    // Everything else is still checked: every truncated prefix, a bad magic.
    for n in 0..bytes.len() {
        assert!(
            Model::from_bytes_unverified(&bytes[..n]).is_err(),
            "prefix of {n} bytes"
        );
    }
    let mut magic = bytes.clone();
    magic[0] ^= 0xFF;
    assert_eq!(
        Model::from_bytes_unverified(&magic).unwrap_err(),
        Error::BadMagic
    );
}
