//! End to end: `Model::classify` equals a literal reference evaluation of the
//! file's definition on random models and images.

mod common;

use common::{
    Rng, baseline_shaped, image, random_gap_model, random_mean_model, random_model,
    random_residual_model, reference_logits,
};
use infer_core::{Model, OwnedModel};
use proptest::prelude::*;

/// `Model::classify` of `owned` on three random images equals the reference
/// evaluation; the file says `version`.
fn classify_matches(rng: &mut Rng, owned: &OwnedModel, version: u16) -> Result<(), TestCaseError> {
    let bytes = owned.to_bytes().unwrap();
    prop_assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), version);
    let model = Model::from_bytes(&bytes).unwrap();
    prop_assert_eq!(model.num_classes(), owned.class_names.len());
    let mut scratch = vec![0i8; model.scratch_len()];
    for _ in 0..3 {
        let img = image(rng);
        let expected = reference_logits(owned, &img);
        let p = model.classify(&img, &mut scratch).unwrap();
        prop_assert_eq!(p.scores.as_slice(), expected.as_slice());
        // First index of the maximum.
        let max = *expected.iter().max().unwrap();
        let class = expected.iter().position(|&s| s == max).unwrap();
        prop_assert_eq!(p.class, class);
        prop_assert_eq!(p.name, owned.class_names[class].as_str());
        let deq = p.dequantized();
        let q = model.output_quant();
        for (d, &s) in deq.iter().zip(&expected) {
            prop_assert_eq!(*d, q.scale * (f32::from(s) - f32::from(q.zero_point)));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn classify_matches_reference(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let owned = random_model(&mut rng);
        classify_matches(&mut rng, &owned, 2)?;
    }

    /// Models with global average pooling: written as version 3.
    #[test]
    fn classify_with_global_avg_pool_matches_reference(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let owned = random_gap_model(&mut rng);
        classify_matches(&mut rng, &owned, 3)?;
    }

    /// Models with a global mean of its own output quantization: version 4.
    #[test]
    fn classify_with_global_mean_matches_reference(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let owned = random_mean_model(&mut rng);
        classify_matches(&mut rng, &owned, 4)?;
    }

    /// Models with a residual block (Save, convolutions, Add): version 4.
    #[test]
    fn classify_with_residual_add_matches_reference(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let owned = random_residual_model(&mut rng);
        classify_matches(&mut rng, &owned, 4)?;
    }
}

#[test]
fn model_accessors() {
    let owned = random_model(&mut Rng::new(99));
    let bytes = owned.to_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let names: Vec<&str> = model.class_names().collect();
    assert_eq!(
        names,
        owned
            .class_names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    owned.with_file(|f| assert_eq!(model.file(), f)).unwrap();
    assert!(model.scratch_len() >= 784);
}

#[test]
fn macs_of_the_baseline_shape() {
    let bytes = baseline_shaped().to_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    // 26*26*32*9 + 5408*100 + 100*10 = 194,688 + 540,800 + 1,000.
    assert_eq!(model.macs(), 736_488);
}

/// A random model of the grammar's residual shape: conv 16 (a max-pool after it
/// if `pool_after_stem`), residual blocks of `widths`
/// (each `(width, max-pool before it)`), global average pool, d10.
fn resnet_shaped(pool_after_stem: bool, widths: &[(usize, bool)]) -> OwnedModel {
    use common::{random_add, random_params};
    use infer_core::{InputSpec, OwnedLayer, Padding};
    let mut rng = Rng::new(8);
    let conv = |rng: &mut Rng, c: usize, out: usize, relu: bool| OwnedLayer::Conv2d {
        out_channels: out as u16,
        kernel: 3,
        padding: Padding::Same,
        params: random_params(rng, out, 9 * c, relu),
    };
    let mut layers = vec![conv(&mut rng, 1, 16, true)];
    if pool_after_stem {
        layers.push(OwnedLayer::MaxPool2d);
    }
    let mut c = 16;
    for &(n, pool_before) in widths {
        if pool_before {
            layers.push(OwnedLayer::MaxPool2d);
        }
        layers.push(OwnedLayer::Save);
        layers.push(conv(&mut rng, c, n, true));
        layers.push(conv(&mut rng, n, n, false));
        layers.push(OwnedLayer::Add(random_add(&mut rng)));
        c = n;
    }
    layers.push(OwnedLayer::GlobalAvgPool);
    layers.push(OwnedLayer::Dense {
        out_features: 10,
        params: random_params(&mut rng, 10, c, false),
    });
    OwnedModel {
        input: InputSpec::default(),
        layers,
        class_names: (0..10).map(|i| format!("c{i}")).collect(),
    }
}

#[test]
fn scratch_of_resnet8_like_shapes() {
    // c16,p,r16,r32,p,r64,g,d10: the kept 14x14x16 tensor (3,136 bytes) and the
    // second block's 14x14x32 -> 14x14x32 convolution (2 * 6,272).
    let early = resnet_shaped(true, &[(16, false), (32, false), (64, true)]);
    let bytes = early.to_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.scratch_len(), 3136 + 2 * 6272);
    assert_eq!(model.macs(), 6_435_712);
    // c16,r16,p,r32,p,r64,g,d10: a kept 28x28x16 tensor and a 28x28x16
    // convolution, over the 32 KB budget.
    let late = resnet_shaped(false, &[(16, false), (32, true), (64, true)]);
    let bytes = late.to_bytes().unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    assert_eq!(model.scratch_len(), 3 * 12544);
    assert_eq!(model.macs(), 9_145_216);
}
