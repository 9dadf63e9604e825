//! Parses arbitrary bytes as a `.fmq` model; when that succeeds, classifies a
//! fixed image. Neither step may panic.
//!
//! Run with `cargo +nightly fuzz run from_bytes_classify` from the repository
//! root (seed the corpus with `infer-core/tests/golden/tiny.fmq` and the
//! exported models). Inputs that pass the CRC are rare; the target also
//! re-stamps the header's CRC so the payload decoder and validator are reached.
//!
//! Without nightly (no sanitizers, but coverage-guided), from `fuzz/`:
//!
//! ```text
//! RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
//!   -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
//!   -Cllvm-args=-sanitizer-coverage-pc-table \
//!   -Cllvm-args=-sanitizer-coverage-trace-compares \
//!   --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
//!   cargo build --release --target x86_64-unknown-linux-gnu
//! mkdir -p corpus/from_bytes_classify && cp ../infer-core/tests/golden/tiny.fmq corpus/from_bytes_classify/
//! target/x86_64-unknown-linux-gnu/release/from_bytes_classify -max_total_time=120 corpus/from_bytes_classify
//! ```
#![no_main]

use infer_core::{HEADER_LEN, Model, crc32};
use libfuzzer_sys::fuzz_target;

/// A fixed test image: a bright diagonal band on a dark background.
fn image() -> [u8; 784] {
    let mut img = [0u8; 784];
    for (i, p) in img.iter_mut().enumerate() {
        let (y, x) = (i / 28, i % 28);
        if y.abs_diff(x) < 4 {
            *p = 200 + (x as u8 % 50);
        }
    }
    img
}

fn run(bytes: &[u8]) {
    if let Ok(model) = Model::from_bytes(bytes) {
        let mut scratch = vec![0i8; model.scratch_len()];
        let prediction = model
            .classify(&image(), &mut scratch)
            .expect("scratch_len() bytes are enough");
        assert!(prediction.class < model.num_classes());
        assert_eq!(prediction.scores.len(), model.num_classes());
        // Too little scratch is an error, not a panic.
        let mut short = vec![0i8; model.scratch_len() - 1];
        assert!(model.classify(&image(), &mut short).is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let crc = crc32(&fixed[HEADER_LEN..]);
        fixed[12..16].copy_from_slice(&crc.to_le_bytes());
        run(&fixed);
    }
});
