//! Golden int8 outputs: the exact scores of a fixed `.fmq` for the first 64 test images.
//! Any change to the arithmetic or the file format shows here bit for bit.
//!
//! `mcu`: a pinned copy of the committed export, `tests/golden/mcu.fmq`, so that the check
//! does not depend on a model folder that a `trainer fit` may rewrite (a refit gives other
//! weights; the parity tests check those; the quick start refits the default,
//! `mcu-scene`, which has `mcu`'s layers, so the same kernels). `baseline`: the committed
//! `models/baseline/model.fmq` (the quick start does not refit it).
//!
//! The score files were produced by this test itself with `UPDATE_GOLDEN=1 cargo test -p
//! parity-tests --test golden`; regenerate them only on purpose.

use std::fmt::Write;
use std::path::PathBuf;

use parity_tests::{committed, test_set};
use trainer::eval::int8;

const IMAGES: usize = 64;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("golden/{name}-first-64.txt"))
}

#[test]
fn mcu_gives_the_recorded_scores() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/mcu.fmq");
    let fmq = std::fs::read(&path).expect("tests/golden/mcu.fmq");
    check("mcu", &fmq);
}

#[test]
fn baseline_gives_the_recorded_scores() {
    let (_vs, _net, fmq) = committed("baseline").unwrap();
    check("baseline", &fmq);
}

fn check(name: &str, fmq: &[u8]) {
    let test = test_set().unwrap().head(IMAGES);
    let outputs = int8::classify_all(fmq, &test).unwrap();
    let mut text = format!("# image label class scores (int8), from models/{name}/model.fmq\n");
    for (i, o) in outputs.iter().enumerate() {
        let scores: Vec<String> = o.scores.iter().map(i8::to_string).collect();
        writeln!(
            text,
            "{i} {} {} {}",
            test.labels[i],
            o.class,
            scores.join(" ")
        )
        .unwrap();
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(golden_path(name), &text).unwrap();
    }
    let expected = std::fs::read_to_string(golden_path(name))
        .expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(text, expected, "{name}: int8 outputs changed");
}
