//! Golden int8 outputs: the exact scores of the committed `baseline.fmq` for the first
//! 64 test images. Any change to the arithmetic, the file format or the export shows
//! here bit for bit.
//!
//! The file was produced by this test itself with `UPDATE_GOLDEN=1 cargo test -p
//! parity-tests --test golden` from the committed model; regenerate it only on purpose.

use std::fmt::Write;
use std::path::PathBuf;

use parity_tests::{committed, test_set};
use trainer::int8;

const IMAGES: usize = 64;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/baseline-first-64.txt")
}

#[test]
fn first_test_images_give_the_recorded_scores() {
    let (_vs, _net, fmq) = committed("baseline").unwrap();
    let test = test_set().unwrap().head(IMAGES);
    let outputs = int8::classify_all(&fmq, &test).unwrap();
    let mut text =
        String::from("# image label class scores (int8), from models/baseline/model.fmq\n");
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
        std::fs::write(golden_path(), &text).unwrap();
    }
    let expected =
        std::fs::read_to_string(golden_path()).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(text, expected, "int8 outputs changed");
}
