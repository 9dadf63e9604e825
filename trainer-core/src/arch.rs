//! The network architectures: named models and a small layer grammar (no tch).
//!
//! An architecture is a list of layers written as a short string, for example
//! `c32v,p,f,d100,d10` (the seed's baseline):
//!
//! | token | layer |
//! |---|---|
//! | `cN` | 3x3 convolution with N filters, "same" padding, ReLU |
//! | `cNv` | the same with "valid" padding (no padding) |
//! | `p` | max-pool 2x2, stride 2 |
//! | `f` | flatten (channel-major, as `torch.flatten`) |
//! | `g` | global average pooling: each channel's mean over the pixels, a vector of C (instead of `f`) |
//! | `rN` | residual block of N filters: 3x3 conv, ReLU, 3x3 conv, plus the block's input (its channels zero-padded to N), ReLU |
//! | `dN` | dense layer with N outputs; ReLU on every dense layer but the last |
//!
//! Convolutions and max-pools come first, then either `f` or `g` (which turns the
//! image into a vector), then the dense layers; the last is `d10`. For example
//! `c8,p,c16,p,g,d10` ends in a global average pool of 16 channels and one dense layer.
//!
//! A residual block `rN` keeps its input's size ("same" padding) and needs at most N
//! input channels: its shortcut is the input itself, with zero channels appended when
//! N is larger (ResNet's parameter-free "option A" shortcut; downsampling is the
//! max-pool `p` between blocks). With batch normalization each convolution has its
//! own (the second one's before the add). For example a ResNet-8-like network:
//! `c16,p,r16,r32,p,r64,g,d10`.
//!
//! Named models (`--model NAME`) are fixed strings of this grammar; any other string
//! is parsed as a description, so a new shape can be tried without new code.
//! `trainer::nn::NetOptions` add batch normalization after every convolution (folded into the
//! convolution at export) and dropout before every dense layer (training only).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use infer_core::MAX_CLASSES;

/// One layer of an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSpec {
    /// 3x3 convolution + ReLU (after batch norm, when enabled).
    Conv {
        /// Output channels.
        filters: i64,
        /// Zero padding on each side: 1 ("same") or 0 ("valid").
        padding: i64,
    },
    /// Max-pool 2x2, stride 2 (floor).
    Pool,
    /// Flatten to a vector (CHW order).
    Flatten,
    /// Global average pooling: `[C][H][W]` to the vector of the C channel means.
    GlobalAvgPool,
    /// Residual block: 3x3 conv + ReLU, 3x3 conv, plus the zero-padded input, ReLU
    /// (both convolutions "same" padded, each with its batch norm when enabled).
    Residual {
        /// Output channels of both convolutions (at least the input's).
        filters: i64,
    },
    /// Fully connected layer; ReLU unless it is the last layer.
    Dense {
        /// Outputs.
        outputs: i64,
    },
}

/// The model `trainer fit`, `evaluate`, `predict`, `export`, the parity tests and the
/// firmware use unless told otherwise: the microcontroller-class model trained for the
/// scene path.
pub const DEFAULT_MODEL: &str = "mcu-scene";

/// Named architectures: (name, layer string, what it is).
pub const NAMED: &[(&str, &str, &str)] = &[
    (
        "baseline",
        "c32v,p,f,d100,d10",
        "the seed study: conv 32 3x3 valid, max-pool, dense 100, dense 10",
    ),
    (
        "padded",
        "c32,p,f,d100,d10",
        "the seed's first improvement: same padding",
    ),
    (
        "wide",
        "c64,p,f,d100,d10",
        "the seed's second improvement: 64 filters, same padding",
    ),
    (
        "deep",
        "c32,p,c64,p,f,d100,d10",
        "a second conv block (64 filters) before the dense layers",
    ),
    (
        "dense2",
        "c32v,p,f,d100,d100,d10",
        "the baseline with an extra dense layer of 100",
    ),
    (
        "mcu",
        "c16,c16,p,c32,c32,p,c64,c64,p,f,d10",
        "microcontroller-class: three VGG-style blocks, under 100K parameters",
    ),
    (
        "mcu-long",
        "c16,c16,p,c32,c32,p,c64,c64,p,f,d10",
        "mcu's layers, trained twice as long (60 epochs; the second search's best)",
    ),
    (
        "mcu-scene",
        "c16,c16,p,c32,c32,p,c64,c64,p,f,d10",
        "mcu-long, with half of the training images also drawn as scenes (the default)",
    ),
];

/// An architecture: its name (a [`NAMED`] entry or the layer string itself) and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arch {
    name: String,
    layers: Vec<LayerSpec>,
}

impl Arch {
    /// A named model or a layer string (see the module docs).
    pub fn parse(s: &str) -> Result<Arch, String> {
        if let Some((name, spec, _)) = NAMED.iter().find(|(n, _, _)| *n == s) {
            let layers = parse_layers(spec).expect("named models are valid");
            return Ok(Arch {
                name: (*name).to_owned(),
                layers,
            });
        }
        let layers = parse_layers(s).map_err(|e| {
            let names: Vec<&str> = NAMED.iter().map(|(n, _, _)| *n).collect();
            format!(
                "{e}; expected one of {} or a layer string such as c32v,p,f,d100,d10",
                names.join(", ")
            )
        })?;
        Ok(Arch {
            name: s.to_owned(),
            layers,
        })
    }

    /// The seed's baseline.
    pub fn baseline() -> Arch {
        Arch::parse("baseline").expect("named")
    }

    /// The name used on the command line and for `models/<name>/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[LayerSpec] {
        &self.layers
    }

    /// The number of classes: the outputs of the last (dense) layer.
    pub fn classes(&self) -> usize {
        match self.layers.last() {
            Some(LayerSpec::Dense { outputs }) => *outputs as usize,
            _ => unreachable!("a parsed architecture ends in a dense layer"),
        }
    }

    /// The same layers with a new output layer of `classes` outputs, named by its layer
    /// string; `self` unchanged when it has that many classes already.
    pub fn with_classes(&self, classes: usize) -> Result<Arch, String> {
        if classes == self.classes() {
            return Ok(self.clone());
        }
        let mut layers = self.layers.clone();
        if let Some(last) = layers.last_mut() {
            *last = LayerSpec::Dense {
                outputs: classes as i64,
            };
        }
        let spec = Arch {
            name: String::new(),
            layers,
        }
        .spec();
        Arch::parse(&spec)
    }

    /// The layer string (`c32v,p,f,d100,d10` style).
    pub fn spec(&self) -> String {
        self.layers
            .iter()
            .map(|l| match *l {
                LayerSpec::Conv { filters, padding } => {
                    format!("c{filters}{}", if padding == 0 { "v" } else { "" })
                }
                LayerSpec::Pool => "p".to_owned(),
                LayerSpec::Flatten => "f".to_owned(),
                LayerSpec::GlobalAvgPool => "g".to_owned(),
                LayerSpec::Residual { filters } => format!("r{filters}"),
                LayerSpec::Dense { outputs } => format!("d{outputs}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of trainable parameters (without batch-norm parameters, which the
    /// export folds into the convolutions).
    pub fn parameters(&self) -> i64 {
        self.walk().1
    }

    /// Multiply-accumulates of one forward pass (convolutions and dense layers).
    pub fn macs(&self) -> i64 {
        self.walk().2
    }

    /// Walks the shapes: (feature length at the end, parameters, MACs).
    fn walk(&self) -> (i64, i64, i64) {
        let (mut c, mut side, mut flat) = (1i64, IMAGE_SIDE as i64, None::<i64>);
        let (mut params, mut macs) = (0i64, 0i64);
        for layer in &self.layers {
            match *layer {
                LayerSpec::Conv { filters, padding } => {
                    side = side - 2 + 2 * padding;
                    params += filters * c * 9 + filters;
                    macs += filters * c * 9 * side * side;
                    c = filters;
                }
                LayerSpec::Residual { filters } => {
                    params += filters * c * 9 + filters + filters * filters * 9 + filters;
                    macs += (filters * c * 9 + filters * filters * 9) * side * side;
                    c = filters;
                }
                LayerSpec::Pool => side /= 2,
                LayerSpec::Flatten => flat = Some(c * side * side),
                LayerSpec::GlobalAvgPool => flat = Some(c),
                LayerSpec::Dense { outputs } => {
                    let n_in = flat.unwrap_or(c);
                    params += n_in * outputs + outputs;
                    macs += n_in * outputs;
                    flat = Some(outputs);
                }
            }
        }
        (flat.unwrap_or(c * side * side), params, macs)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Arch::parse(s)
    }
}

/// Recorded as its name (a named model) or its layer string.
impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Arch::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses and checks a layer string: every convolution fits its input, every
/// residual block has at least its input's channels, exactly one flatten or global
/// average pool before the first dense layer, and the last layer is `d10`.
fn parse_layers(s: &str) -> Result<Vec<LayerSpec>, String> {
    let mut layers = Vec::new();
    for token in s.split(',').map(str::trim) {
        let number = |t: &str| -> Result<i64, String> {
            t.parse::<i64>()
                .ok()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| format!("bad layer {token:?} in {s:?}"))
        };
        let layer = match token {
            "p" => LayerSpec::Pool,
            "f" => LayerSpec::Flatten,
            "g" => LayerSpec::GlobalAvgPool,
            t if t.starts_with('c') && t.ends_with('v') => LayerSpec::Conv {
                filters: number(&t[1..t.len() - 1])?,
                padding: 0,
            },
            t if t.starts_with('c') => LayerSpec::Conv {
                filters: number(&t[1..])?,
                padding: 1,
            },
            t if t.starts_with('r') => LayerSpec::Residual {
                filters: number(&t[1..])?,
            },
            t if t.starts_with('d') => LayerSpec::Dense {
                outputs: number(&t[1..])?,
            },
            _ => return Err(format!("bad layer {token:?} in {s:?}")),
        };
        layers.push(layer);
    }
    let mut side = IMAGE_SIDE as i64;
    let mut flat = false;
    let mut c = 1i64;
    for layer in &layers {
        match *layer {
            LayerSpec::Conv { padding, filters } if !flat => {
                side = side - 2 + 2 * padding;
                c = filters;
                if side < 1 {
                    return Err(format!("{s:?}: a convolution has no input left"));
                }
            }
            LayerSpec::Residual { filters } if !flat => {
                if filters < c {
                    return Err(format!(
                        "{s:?}: a residual block r{filters} after {c} channels: its \
                         shortcut needs at least as many filters as input channels"
                    ));
                }
                c = filters;
            }
            LayerSpec::Pool if !flat => {
                side /= 2;
                if side < 1 {
                    return Err(format!("{s:?}: a max-pool has no input left"));
                }
            }
            LayerSpec::Flatten | LayerSpec::GlobalAvgPool if !flat => flat = true,
            LayerSpec::Dense { .. } if flat => {}
            _ => {
                return Err(format!(
                    "{s:?}: convolutions, residual blocks and pools come first, then one \
                     flatten (f) or global average pool (g), then dense layers"
                ));
            }
        }
    }
    match layers.last() {
        Some(LayerSpec::Dense { outputs }) if (2..=MAX_CLASSES as i64).contains(outputs) => {
            Ok(layers)
        }
        _ => Err(format!(
            "{s:?}: the last layer must be dN, one output per class: d{NUM_CLASSES} for \
             Fashion-MNIST, 2 to {MAX_CLASSES} for classes of your own"
        )),
    }
}

/// The saved name of the `i`-th (0-based) convolution or batch norm: `conv`, `conv2`, ...
pub fn conv_name(prefix: &str, i: usize) -> String {
    if i == 0 {
        prefix.to_owned()
    } else {
        format!("{prefix}{}", i + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_output_layer_for_classes_of_ones_own() {
        let mcu = Arch::parse("mcu").unwrap();
        assert_eq!(mcu.classes(), NUM_CLASSES);
        assert_eq!(mcu.with_classes(10).unwrap(), mcu);
        let three = mcu.with_classes(3).unwrap();
        assert_eq!(three.name(), "c16,c16,p,c32,c32,p,c64,c64,p,f,d3");
        assert_eq!(three.classes(), 3);
        assert_eq!(three.layers()[..10], mcu.layers()[..10]);
        assert!(mcu.with_classes(1).unwrap_err().contains("must be dN"));
        assert!(mcu.with_classes(MAX_CLASSES + 1).is_err());
        assert!(Arch::parse("c8,p,f,d32").is_ok());
    }

    #[test]
    fn layer_strings_parse_and_bad_ones_are_refused() {
        let a = Arch::parse("c8,c8v,p,f,d20,d10").unwrap();
        assert_eq!(a.spec(), "c8,c8v,p,f,d20,d10");
        assert_eq!(a.name(), "c8,c8v,p,f,d20,d10");
        for bad in [
            "",
            "c8",
            "c8,p,f,d1",
            "c8,p,f,d33",
            "c8,f,d10,p",
            "x3,f,d10",
            "c0,f,d10",
            "p,p,p,p,p,f,d10",
            "d10",
            "c8,p,f,f,d10",
            "c-3,f,d10",
        ] {
            assert!(Arch::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn global_average_pooling_takes_the_place_of_flatten() {
        let a = Arch::parse("c8,p,c16,p,g,d10").unwrap();
        assert_eq!(a.spec(), "c8,p,c16,p,g,d10");
        assert_eq!(a.layers()[4], LayerSpec::GlobalAvgPool);
        // The dense layer takes the 16 channel means.
        assert_eq!(
            a.parameters(),
            (8 * 9 + 8) + (16 * 8 * 9 + 16) + (16 * 10 + 10)
        );
        assert_eq!(a.macs(), 8 * 9 * 28 * 28 + 16 * 8 * 9 * 14 * 14 + 16 * 10);
        assert!(Arch::parse("c8,g,d32,d10").is_ok());
        for bad in [
            "c8,g,f,d10",
            "c8,f,g,d10",
            "c8,g,g,d10",
            "c8,g",
            "c8,g,c8,d10",
            "c8,d10,g",
        ] {
            let e = Arch::parse(bad).unwrap_err();
            assert!(
                e.contains("global average pool (g)") || e.contains("must be dN"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn residual_blocks_keep_the_size_and_widen_only() {
        let a = Arch::parse("c16,p,r16,r32,p,r64,g,d10").unwrap();
        assert_eq!(a.spec(), "c16,p,r16,r32,p,r64,g,d10");
        assert_eq!(a.layers()[2], LayerSpec::Residual { filters: 16 });
        // Each block: two 3x3 convolutions, c -> N and N -> N, at its input's size.
        let conv = |i: i64, o: i64, side: i64| (o * i * 9 + o, o * i * 9 * side * side);
        let parts = [
            conv(1, 16, 28),
            conv(16, 16, 14),
            conv(16, 16, 14),
            conv(16, 32, 14),
            conv(32, 32, 14),
            conv(32, 64, 7),
            conv(64, 64, 7),
            (64 * 10 + 10, 64 * 10),
        ];
        assert_eq!(a.parameters(), parts.iter().map(|p| p.0).sum::<i64>());
        assert_eq!(a.macs(), parts.iter().map(|p| p.1).sum::<i64>());
        assert_eq!(a.parameters(), 74_762);
        assert_eq!(a.macs(), 6_435_712);
        for bad in ["c32,r16,g,d10", "c8,g,r8,d10", "r0,g,d10", "c8,r8v,g,d10"] {
            assert!(Arch::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Arch::parse("c32,r16,g,d10")
                .unwrap_err()
                .contains("at least as many filters")
        );
    }
}
