//! The committed `baseline` float model against its committed int8 export, on all
//! 10,000 test images.

use parity_tests::{committed, test_set};
use trainer::{int8, parity};

/// Limits asserted here (the issue's): int8 accuracy within 0.3 pt of float, and
/// top-1 agreement of at least 99.3 %.
const MAX_ACCURACY_DROP: f64 = 0.003;
const MIN_AGREEMENT: f64 = 0.993;

#[test]
fn int8_answers_like_float_on_the_whole_test_set() {
    let (_vs, net, fmq) = committed("baseline").unwrap();
    let test = test_set().unwrap();
    let outputs = int8::classify_all(&fmq, &test).unwrap();
    let p = parity::compare(&parity::float_logits(&net, &test), &test.labels, &outputs);
    println!("{p:#?}");
    assert_eq!(p.images, 10_000);
    assert!(
        p.float_accuracy - p.int8_accuracy <= MAX_ACCURACY_DROP,
        "int8 {:.4} vs float {:.4}",
        p.int8_accuracy,
        p.float_accuracy
    );
    assert!(
        p.top1_agreement >= MIN_AGREEMENT,
        "agreement {:.4}",
        p.top1_agreement
    );
    assert!(
        p.float_accuracy > 0.90,
        "the committed model is the trained one"
    );
    // The scores track the logits closely: errors well below the logits' own size.
    assert!(p.mean_abs_score_error < 0.05 * p.mean_abs_logit, "{p:?}");
}
