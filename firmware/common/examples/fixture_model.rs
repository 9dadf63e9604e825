//! Writes a baseline-shaped model with seeded random int8 weights, for trying the
//! firmware before a trained `models/baseline/model.fmq` exists. Its predictions are
//! meaningless but deterministic, so host/target parity can still be checked.
//!
//! `cargo run -p fw-common --example fixture_model --target x86_64-unknown-linux-gnu -- OUT.fmq`

use infer_core::{
    Conv2d, Dense, I8Array, I32Array, InputSpec, Layer, ModelFile, Padding, QuantParams,
};

/// SplitMix64, for reproducible weights.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn weights(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| ((self.next() % 255) as i32 - 127) as i8 as u8)
            .collect()
    }
}

fn i32_bytes(values: impl Iterator<Item = i32>) -> Vec<u8> {
    values.flat_map(i32::to_le_bytes).collect()
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: fixture_model OUT.fmq");
    let mut rng = Rng(2024);
    let (conv_w, fc1_w, fc2_w) = (
        rng.weights(32 * 9),
        rng.weights(100 * 5408),
        rng.weights(10 * 100),
    );
    let zeros = |n: usize| i32_bytes(std::iter::repeat_n(0, n));
    // Real multiplier M * 2^-n with M = 2^30: 2^-9, 2^-13 and 2^-10 keep activations
    // in range for random weights.
    let mult = |n: usize| i32_bytes(std::iter::repeat_n(1 << 30, n));
    let (conv_b, fc1_b, fc2_b) = (zeros(32), zeros(100), zeros(10));
    let (conv_m, fc1_m, fc2_m) = (mult(32), mult(100), mult(10));
    let (conv_s, fc1_s, fc2_s) = (vec![39u8; 32], vec![43u8; 100], vec![40u8; 10]);
    let relu_out = QuantParams {
        scale: 0.05,
        zero_point: -128,
    };
    let mut layers = heapless::Vec::new();
    let conv = Conv2d {
        out_channels: 32,
        kernel: 3,
        padding: Padding::Valid,
        relu: true,
        weights: I8Array::new(&conv_w),
        bias: I32Array::new(&conv_b),
        multiplier: I32Array::new(&conv_m),
        shift: &conv_s,
        output: relu_out,
    };
    let fc1 = Dense {
        out_features: 100,
        relu: true,
        weights: I8Array::new(&fc1_w),
        bias: I32Array::new(&fc1_b),
        multiplier: I32Array::new(&fc1_m),
        shift: &fc1_s,
        output: relu_out,
    };
    let fc2 = Dense {
        out_features: 10,
        relu: false,
        weights: I8Array::new(&fc2_w),
        bias: I32Array::new(&fc2_b),
        multiplier: I32Array::new(&fc2_m),
        shift: &fc2_s,
        output: QuantParams {
            scale: 0.1,
            zero_point: 0,
        },
    };
    for layer in [
        Layer::Conv2d(conv),
        Layer::MaxPool2d,
        Layer::Flatten,
        Layer::Dense(fc1),
        Layer::Dense(fc2),
    ] {
        layers.push(layer).expect("fits MAX_LAYERS");
    }
    let names = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ];
    let file = ModelFile {
        input: InputSpec::default(),
        layers,
        class_names: names.iter().copied().collect(),
    };
    let mut bytes = vec![0u8; infer_core::encoded_len(&file).expect("size")];
    let n = infer_core::encode(&file, &mut bytes).expect("a valid model");
    bytes.truncate(n);
    std::fs::write(&out, &bytes).expect("writing the model");
    eprintln!("wrote {out} ({n} bytes)");
}
