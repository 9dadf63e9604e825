//! Each committed float model against its committed int8 export, on all 10,000 test
//! images: `mcu-scene` (the default: `mcu-long`'s recipe with half the training images
//! also drawn as scenes, for the scene path), `mcu-long` (`mcu`'s layers, trained 60
//! epochs), `mcu` (the microcontroller-class model, 30 epochs) and `baseline` (the
//! seed's).

use parity_tests::{committed, test_set};
use trainer::eval::{int8, parity};

/// The limits one model must meet.
struct Limits {
    /// Largest drop from float to int8 test accuracy.
    max_accuracy_drop: f64,
    /// Smallest top-1 agreement of int8 with float.
    min_agreement: f64,
    /// Smallest float test accuracy (the committed model is the trained one).
    min_float_accuracy: f64,
}

fn check(name: &str, limits: Limits) {
    let (_vs, net, fmq) = committed(name).unwrap();
    let test = test_set().unwrap();
    let outputs = int8::classify_all(&fmq, &test).unwrap();
    let p = parity::compare(&parity::float_logits(&net, &test), &test.labels, &outputs);
    println!("{name}: {p:#?}");
    assert_eq!(p.images, 10_000);
    assert!(
        p.float_accuracy - p.int8_accuracy <= limits.max_accuracy_drop,
        "{name}: int8 {:.4} vs float {:.4}",
        p.int8_accuracy,
        p.float_accuracy
    );
    assert!(
        p.top1_agreement >= limits.min_agreement,
        "{name}: agreement {:.4}",
        p.top1_agreement
    );
    assert!(
        p.float_accuracy > limits.min_float_accuracy,
        "{name}: float accuracy {:.4}",
        p.float_accuracy
    );
    // The scores track the logits closely: errors well below the logits' own size.
    assert!(
        p.mean_abs_score_error < 0.05 * p.mean_abs_logit,
        "{name}: {p:?}"
    );
}

/// The "better small model" issue's limits: int8 within 0.2 pt of float, agreement
/// >= 99.5 %.
#[test]
fn mcu_long_int8_answers_like_float_on_the_whole_test_set() {
    check(
        "mcu-long",
        Limits {
            max_accuracy_drop: 0.002,
            min_agreement: 0.995,
            min_float_accuracy: 0.935,
        },
    );
}

/// The same limits as `mcu-long`'s.
#[test]
fn mcu_scene_int8_answers_like_float_on_the_whole_test_set() {
    check(
        "mcu-scene",
        Limits {
            max_accuracy_drop: 0.002,
            min_agreement: 0.995,
            min_float_accuracy: 0.935,
        },
    );
}

/// The "better models" issue's limits: int8 within 0.2 pt of float, agreement >= 99.5 %.
#[test]
fn mcu_int8_answers_like_float_on_the_whole_test_set() {
    check(
        "mcu",
        Limits {
            max_accuracy_drop: 0.002,
            min_agreement: 0.995,
            min_float_accuracy: 0.93,
        },
    );
}

/// The int8 issue's limits: int8 within 0.3 pt of float, agreement >= 99.3 %.
#[test]
fn baseline_int8_answers_like_float_on_the_whole_test_set() {
    check(
        "baseline",
        Limits {
            max_accuracy_drop: 0.003,
            min_agreement: 0.993,
            min_float_accuracy: 0.90,
        },
    );
}
