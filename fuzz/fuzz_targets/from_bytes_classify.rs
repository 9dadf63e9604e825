//! Parses arbitrary bytes as a `.fmq` model; when that succeeds, classifies three
//! fixed images. Neither step may panic, and a parsed model's answers must be
//! consistent.
//!
//! Inputs that pass the CRC are rare, so every input is tried twice: as it is, and with
//! the header's CRC re-stamped over its payload, so that mutations reach the payload
//! decoder, the validator and the kernels. The seed corpus
//! (`fuzz/corpus-seed/from_bytes_classify`) starts from small valid models written by
//! `cargo run --bin seeds` (see `fuzz/README.md`). `Model::from_bytes_unverified`
//! of the input must answer as `Model::from_bytes` of the re-stamped copy.
#![no_main]

use infer_core::{HEADER_LEN, IMAGE_LEN, Model, crc32};
use libfuzzer_sys::fuzz_target;

/// Fixed test images: a bright diagonal band on a dark background, all black, all white.
fn images() -> [[u8; IMAGE_LEN]; 3] {
    let mut band = [0u8; IMAGE_LEN];
    for (i, p) in band.iter_mut().enumerate() {
        let (y, x) = (i / 28, i % 28);
        if y.abs_diff(x) < 4 {
            *p = 200 + (x as u8 % 50);
        }
    }
    [band, [0; IMAGE_LEN], [255; IMAGE_LEN]]
}

fn run(bytes: &[u8]) {
    let Ok(model) = Model::from_bytes(bytes) else {
        return;
    };
    let mut scratch = vec![0i8; model.scratch_len()];
    for image in &images() {
        let prediction = model
            .classify(image, &mut scratch)
            .expect("scratch_len() bytes are enough");
        assert!(prediction.class < model.num_classes());
        assert_eq!(prediction.scores.len(), model.num_classes());
        let best = prediction.scores.iter().max().expect("at least one class");
        assert_eq!(prediction.scores[prediction.class], *best);
        assert_eq!(
            Some(prediction.name),
            model.class_names().nth(prediction.class)
        );
    }
    // Too little scratch is an error, not a panic.
    let mut short = vec![0i8; model.scratch_len().saturating_sub(1)];
    if model.scratch_len() > 0 {
        assert!(model.classify(&images()[0], &mut short).is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    run(data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let crc = crc32(&fixed[HEADER_LEN..]);
        fixed[12..16].copy_from_slice(&crc.to_le_bytes());
        if fixed != data {
            run(&fixed);
        }
        // Skipping the CRC changes nothing else: the unverified parse of the input
        // answers exactly as the checked parse of its re-stamped copy.
        assert_eq!(
            Model::from_bytes_unverified(data).map(|m| m.scratch_len()),
            Model::from_bytes(&fixed).map(|m| m.scratch_len())
        );
    }
});
