//! Shared helpers of the integration tests: owned model builders, a random
//! model generator and an independent, literal reference evaluator.
#![allow(dead_code)]

use infer_core::{
    Conv2d, Dense, I8Array, I32Array, IMAGE_SIDE, InputSpec, Layer, ModelFile, Padding,
    QuantParams, encode, encoded_len,
};

/// SplitMix64, seeded by proptest.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub fn image(&mut self) -> [u8; 784] {
        let mut img = [0u8; 784];
        for p in &mut img {
            *p = self.next_u64() as u8;
        }
        img
    }
}

/// Owned parameters of a conv or dense layer.
#[derive(Debug, Clone)]
pub struct Params {
    pub relu: bool,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub multiplier: Vec<i32>,
    pub shift: Vec<u8>,
    pub output: QuantParams,
    /// Little-endian copies that the borrowed `Layer` points into.
    w_bytes: Vec<u8>,
    b_bytes: Vec<u8>,
    m_bytes: Vec<u8>,
}

impl Params {
    pub fn new(
        relu: bool,
        weights: Vec<i8>,
        bias: Vec<i32>,
        multiplier: Vec<i32>,
        shift: Vec<u8>,
        output: QuantParams,
    ) -> Self {
        let mut p = Self {
            relu,
            weights,
            bias,
            multiplier,
            shift,
            output,
            w_bytes: vec![],
            b_bytes: vec![],
            m_bytes: vec![],
        };
        p.sync();
        p
    }

    /// Refreshes the byte copies after the typed fields changed.
    pub fn sync(&mut self) {
        self.w_bytes = self.weights.iter().map(|&w| w as u8).collect();
        self.b_bytes = self.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
        self.m_bytes = self
            .multiplier
            .iter()
            .flat_map(|m| m.to_le_bytes())
            .collect();
    }
}

/// An owned layer.
#[derive(Debug, Clone)]
pub enum OwnedLayer {
    Conv {
        out_channels: u16,
        kernel: u8,
        padding: Padding,
        params: Params,
    },
    Pool,
    Flatten,
    Dense {
        out_features: u16,
        params: Params,
    },
}

/// An owned model that can be borrowed as a `ModelFile` and encoded.
#[derive(Debug, Clone)]
pub struct OwnedModel {
    pub input: InputSpec,
    pub layers: Vec<OwnedLayer>,
    pub class_names: Vec<String>,
}

impl OwnedModel {
    pub fn file(&self) -> ModelFile<'_> {
        let mut layers = heapless::Vec::new();
        for l in &self.layers {
            let layer = match l {
                OwnedLayer::Conv {
                    out_channels,
                    kernel,
                    padding,
                    params: p,
                } => Layer::Conv2d(Conv2d {
                    out_channels: *out_channels,
                    kernel: *kernel,
                    padding: *padding,
                    relu: p.relu,
                    weights: I8Array::new(&p.w_bytes),
                    bias: I32Array::new(&p.b_bytes),
                    multiplier: I32Array::new(&p.m_bytes),
                    shift: &p.shift,
                    output: p.output,
                }),
                OwnedLayer::Pool => Layer::MaxPool2d,
                OwnedLayer::Flatten => Layer::Flatten,
                OwnedLayer::Dense {
                    out_features,
                    params: p,
                } => Layer::Dense(Dense {
                    out_features: *out_features,
                    relu: p.relu,
                    weights: I8Array::new(&p.w_bytes),
                    bias: I32Array::new(&p.b_bytes),
                    multiplier: I32Array::new(&p.m_bytes),
                    shift: &p.shift,
                    output: p.output,
                }),
            };
            layers.push(layer).expect("at most MAX_LAYERS layers");
        }
        let mut class_names = heapless::Vec::new();
        for n in &self.class_names {
            class_names
                .push(n.as_str())
                .expect("at most MAX_CLASSES names");
        }
        ModelFile {
            input: self.input,
            layers,
            class_names,
        }
    }

    /// The `.fmq` bytes (panics if the model is invalid).
    pub fn encode(&self) -> Vec<u8> {
        let file = self.file();
        let mut out = vec![0u8; encoded_len(&file).expect("size")];
        let n = encode(&file, &mut out).expect("valid model");
        assert_eq!(n, out.len());
        out
    }
}

/// Random parameters for `out` channels of `fan_in` terms each, with biases
/// and multipliers that keep outputs mostly unsaturated.
pub fn random_params(rng: &mut Rng, out: usize, fan_in: usize, relu: bool) -> Params {
    let weights = (0..out * fan_in)
        .map(|_| rng.range(-127, 127) as i8)
        .collect();
    let bmax = (fan_in as i64) * 127 * 16;
    let bias = (0..out).map(|_| rng.range(-bmax, bmax) as i32).collect();
    let multiplier = (0..out)
        .map(|_| rng.range(1 << 30, i64::from(i32::MAX)) as i32)
        .collect();
    // acc ~ sqrt(fan_in) * 127 * 128; aim for outputs of order 100.
    let base = 31 + 8 + (fan_in as f64).log2().ceil() as i64 / 2;
    let shift = (0..out)
        .map(|_| rng.range(base - 2, base + 1) as u8)
        .collect();
    let output = QuantParams {
        scale: 0.05,
        zero_point: if relu { -128 } else { rng.range(-20, 20) as i8 },
    };
    Params::new(relu, weights, bias, multiplier, shift, output)
}

/// A random valid model: 1-2 convolutions (odd kernels, either padding) with
/// max-pools, flatten, 1-2 dense layers, 1-12 classes.
pub fn random_model(rng: &mut Rng) -> OwnedModel {
    let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
    let mut layers = vec![];
    for _ in 0..rng.range(1, 2) {
        let k = [1usize, 3, 5][rng.range(0, 2) as usize];
        let same = rng.range(0, 1) == 1;
        let out_c = rng.range(1, 4) as usize;
        let relu = rng.range(0, 3) != 0;
        layers.push(OwnedLayer::Conv {
            out_channels: out_c as u16,
            kernel: k as u8,
            padding: if same { Padding::Same } else { Padding::Valid },
            params: random_params(rng, out_c, k * k * c, relu),
        });
        if !same {
            (h, w) = (h - k + 1, w - k + 1);
        }
        c = out_c;
        if rng.range(0, 2) != 0 {
            layers.push(OwnedLayer::Pool);
            (h, w) = (h / 2, w / 2);
        }
    }
    layers.push(OwnedLayer::Flatten);
    let mut n = h * w * c;
    if rng.range(0, 1) == 1 {
        let hidden = rng.range(1, 20) as usize;
        layers.push(OwnedLayer::Dense {
            out_features: hidden as u16,
            params: random_params(rng, hidden, n, true),
        });
        n = hidden;
    }
    let classes = rng.range(1, 12) as usize;
    layers.push(OwnedLayer::Dense {
        out_features: classes as u16,
        params: random_params(rng, classes, n, false),
    });
    OwnedModel {
        input: InputSpec::default(),
        layers,
        class_names: (0..classes).map(|i| format!("c{i}")).collect(),
    }
}

/// `clamp(zp + floor(acc * m / 2^n + 1/2), lo, 127)` in i128.
fn requant(acc: i64, m: i32, n: u8, zp: i8, relu: bool) -> i8 {
    let a = i128::from(acc) * i128::from(m);
    let q = (2 * a + (1i128 << n)).div_euclid(1i128 << (u32::from(n) + 1));
    let lo = if relu { i128::from(zp) } else { -128 };
    (q + i128::from(zp)).clamp(lo, 127) as i8
}

/// Runs `model` literally from the format's definition, in i64, HWC.
pub fn reference_logits(model: &OwnedModel, pixels: &[u8; 784]) -> Vec<i8> {
    let (mut h, mut w, mut c) = (IMAGE_SIDE, IMAGE_SIDE, 1usize);
    let mut x: Vec<i8> = pixels.iter().map(|&p| (i16::from(p) - 128) as i8).collect();
    let mut zp = -128i64;
    for layer in &model.layers {
        match layer {
            OwnedLayer::Conv {
                out_channels,
                kernel,
                padding,
                params: p,
            } => {
                let (oc, k) = (usize::from(*out_channels), usize::from(*kernel));
                let pad = if *padding == Padding::Same { k / 2 } else { 0 };
                let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
                let mut y = vec![0i8; oh * ow * oc];
                for oy in 0..oh {
                    for ox in 0..ow {
                        for o in 0..oc {
                            let mut acc = i64::from(p.bias[o]);
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = oy as i64 + ky as i64 - pad as i64;
                                    let ix = ox as i64 + kx as i64 - pad as i64;
                                    if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                        continue;
                                    }
                                    for ci in 0..c {
                                        let xv = x[(iy as usize * w + ix as usize) * c + ci];
                                        let wv = p.weights[((o * k + ky) * k + kx) * c + ci];
                                        acc += i64::from(wv) * (i64::from(xv) - zp);
                                    }
                                }
                            }
                            y[(oy * ow + ox) * oc + o] = requant(
                                acc,
                                p.multiplier[o],
                                p.shift[o],
                                p.output.zero_point,
                                p.relu,
                            );
                        }
                    }
                }
                (h, w, c, x, zp) = (oh, ow, oc, y, i64::from(p.output.zero_point));
            }
            OwnedLayer::Pool => {
                let (oh, ow) = (h / 2, w / 2);
                let mut y = vec![0i8; oh * ow * c];
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ci in 0..c {
                            let at = |dy: usize, dx: usize| {
                                x[((2 * oy + dy) * w + 2 * ox + dx) * c + ci]
                            };
                            y[(oy * ow + ox) * c + ci] =
                                at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
                        }
                    }
                }
                (h, w, x) = (oh, ow, y);
            }
            OwnedLayer::Flatten => (h, w, c) = (1, 1, h * w * c),
            OwnedLayer::Dense {
                out_features,
                params: p,
            } => {
                let n = usize::from(*out_features);
                let y = (0..n)
                    .map(|o| {
                        let mut acc = i64::from(p.bias[o]);
                        for (i, &xv) in x.iter().enumerate() {
                            acc += i64::from(p.weights[o * c + i]) * (i64::from(xv) - zp);
                        }
                        requant(
                            acc,
                            p.multiplier[o],
                            p.shift[o],
                            p.output.zero_point,
                            p.relu,
                        )
                    })
                    .collect();
                (c, x, zp) = (n, y, i64::from(p.output.zero_point));
            }
        }
    }
    x
}
