//! End to end: `Model::classify` equals a literal reference evaluation of the
//! file's definition on random models and images.

mod common;

use common::{Rng, baseline_shaped, image, random_gap_model, random_model, reference_logits};
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
