//! Writes a baseline-shaped model with seeded random int8 weights, for trying the
//! firmware before a trained `models/baseline/model.fmq` exists. Its predictions are
//! meaningless but deterministic, so host/target parity can still be checked.
//!
//! `cargo run -p fw-host --bin fixture-model --target x86_64-unknown-linux-gnu -- OUT.fmq`

use infer_core::rng::SplitMix64;
use infer_core::{OwnedModel, OwnedParams, QuantParams};

/// `n` reproducible weights in [-127, 127].
fn weights(rng: &mut SplitMix64, n: usize) -> Vec<i8> {
    (0..n)
        .map(|_| ((rng.next_u64() % 255) as i32 - 127) as i8)
        .collect()
}

/// Zero biases, multiplier 2^30 and shift `shift` for `n` channels: the real
/// multiplier is `2^(30 - shift)`.
fn params(weights: Vec<i8>, n: usize, shift: u8, relu: bool, output: QuantParams) -> OwnedParams {
    OwnedParams {
        relu,
        weights,
        bias: vec![0; n],
        multiplier: vec![1 << 30; n],
        shift: vec![shift; n],
        output,
    }
}

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: fixture_model OUT.fmq");
        std::process::exit(2);
    };
    let mut rng = SplitMix64::new(2024);
    let (conv_w, fc1_w, fc2_w) = (
        weights(&mut rng, 32 * 9),
        weights(&mut rng, 100 * 5408),
        weights(&mut rng, 10 * 100),
    );
    let relu_out = QuantParams {
        scale: 0.05,
        zero_point: -128,
    };
    let logits = QuantParams {
        scale: 0.1,
        zero_point: 0,
    };
    // Real multipliers 2^-9, 2^-13 and 2^-10 keep activations in range for
    // random weights.
    let model = OwnedModel::baseline(
        params(conv_w, 32, 39, true, relu_out),
        params(fc1_w, 100, 43, true, relu_out),
        params(fc2_w, 10, 40, false, logits),
        infer_core::FASHION_MNIST_CLASSES.map(String::from).to_vec(),
    );
    let bytes = match model.to_bytes() {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("fixture_model: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&out, &bytes) {
        eprintln!("fixture_model: cannot write {out}: {e}");
        std::process::exit(1);
    }
    eprintln!("wrote {out} ({} bytes)", bytes.len());
}
