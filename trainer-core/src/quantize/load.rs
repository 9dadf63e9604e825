//! Building a [`FloatModel`] from named parameters (a safetensors file or
//! tensors already in memory) for the architectures of `docs/contract.md`.

use std::collections::HashMap;
use std::path::Path;

use infer_core::Padding;
use safetensors::{Dtype, SafeTensors};

use super::QuantizeError;
use super::float::{FloatConv2d, FloatDense, FloatLayer, FloatModel, SIDE};

/// One named parameter: its shape and f32 values in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

fn get<'p>(
    params: &'p HashMap<String, Param>,
    name: &str,
    rank: usize,
) -> Result<&'p Param, QuantizeError> {
    let p = params
        .get(name)
        .ok_or_else(|| QuantizeError::MissingTensor {
            name: name.to_string(),
        })?;
    if p.shape.len() != rank || p.shape.iter().product::<usize>() != p.data.len() {
        return Err(QuantizeError::TensorShape {
            name: name.to_string(),
            shape: p.shape.clone(),
            expected: format!("rank {rank}"),
        });
    }
    Ok(p)
}

fn expect_shape(name: &str, p: &Param, expected: &[usize]) -> Result<(), QuantizeError> {
    if p.shape != expected {
        return Err(QuantizeError::TensorShape {
            name: name.to_string(),
            shape: p.shape.clone(),
            expected: format!("{expected:?}"),
        });
    }
    Ok(())
}

/// The 3x3 convolution number `index` (`conv`, `conv2`, ...) from `c` to `out`
/// channels, its batch norm (`bn`, `bn2`, ...) folded in when `batch_norm`:
/// `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g / sqrt(var + eps) + beta`.
fn load_conv(
    params: &HashMap<String, Param>,
    index: usize,
    c: usize,
    out: usize,
    padding: Padding,
    batch_norm: bool,
    relu: bool,
) -> Result<FloatLayer, QuantizeError> {
    use crate::arch::conv_name;
    let name = conv_name("conv", index);
    let w = get(params, &format!("{name}.weight"), 4)?;
    expect_shape(&format!("{name}.weight"), w, &[out, c, 3, 3])?;
    let b = get(params, &format!("{name}.bias"), 1)?;
    expect_shape(&format!("{name}.bias"), b, &[out])?;
    let (mut weight, mut bias) = (w.data.clone(), b.data.clone());
    if batch_norm {
        let bn = conv_name("bn", index);
        let part = |p: &str| -> Result<&Param, QuantizeError> {
            let t = get(params, &format!("{bn}.{p}"), 1)?;
            expect_shape(&format!("{bn}.{p}"), t, &[out])?;
            Ok(t)
        };
        let (g, beta) = (part("weight")?, part("bias")?);
        let (mean, var) = (part("running_mean")?, part("running_var")?);
        let fan = weight.len() / out;
        for o in 0..out {
            let k = g.data[o] / (var.data[o] + BN_EPS).sqrt();
            weight[o * fan..(o + 1) * fan]
                .iter_mut()
                .for_each(|v| *v *= k);
            bias[o] = (bias[o] - mean.data[o]) * k + beta.data[o];
        }
    }
    Ok(FloatLayer::Conv2d(FloatConv2d {
        in_channels: c,
        out_channels: out,
        kernel: 3,
        padding,
        relu,
        weight,
        bias,
    }))
}

impl FloatModel {
    /// The contract's network from its parameters `conv.weight [C,1,k,k]`,
    /// `conv.bias [C]`, `fc1.weight [H, F]`, `fc1.bias [H]`, `fc2.weight
    /// [N, H]`, `fc2.bias [N]`: conv + ReLU, max-pool 2x2, flatten, dense +
    /// ReLU, dense. The padding is inferred from `F` (`C * 13 * 13` for valid,
    /// `C * 14 * 14` for same with k = 3), which covers `baseline`, `padded`
    /// and `wide`. `class_names` must have `N` entries.
    pub fn from_params(
        params: &HashMap<String, Param>,
        class_names: &[&str],
    ) -> Result<Self, QuantizeError> {
        let conv_w = get(params, "conv.weight", 4)?;
        let [c, in_c, k, k2] = [
            conv_w.shape[0],
            conv_w.shape[1],
            conv_w.shape[2],
            conv_w.shape[3],
        ];
        if in_c != 1 || k != k2 || k.is_multiple_of(2) || k > SIDE {
            return Err(QuantizeError::TensorShape {
                name: "conv.weight".into(),
                shape: conv_w.shape.clone(),
                expected: "[C, 1, k, k] with odd k <= 28".into(),
            });
        }
        let conv_b = get(params, "conv.bias", 1)?;
        expect_shape("conv.bias", conv_b, &[c])?;
        let fc1_w = get(params, "fc1.weight", 2)?;
        let (hidden, features) = (fc1_w.shape[0], fc1_w.shape[1]);
        // Side after the convolution, then after the 2x2 max-pool (floor).
        let conv_side = SIDE - k + 1;
        let valid_side = conv_side / 2;
        let same_side = SIDE / 2;
        let padding = if features == c * same_side * same_side {
            Padding::Same
        } else if features == c * valid_side * valid_side {
            Padding::Valid
        } else {
            return Err(QuantizeError::Architecture(format!(
                "fc1.weight has {features} inputs: neither {} (valid) nor {} (same padding)",
                c * valid_side * valid_side,
                c * same_side * same_side
            )));
        };
        let fc1_b = get(params, "fc1.bias", 1)?;
        expect_shape("fc1.bias", fc1_b, &[hidden])?;
        let fc2_w = get(params, "fc2.weight", 2)?;
        let classes = fc2_w.shape[0];
        expect_shape("fc2.weight", fc2_w, &[classes, hidden])?;
        let fc2_b = get(params, "fc2.bias", 1)?;
        expect_shape("fc2.bias", fc2_b, &[classes])?;
        if class_names.len() != classes {
            return Err(QuantizeError::Architecture(format!(
                "fc2 has {classes} outputs but {} class names were given",
                class_names.len()
            )));
        }
        let model = FloatModel {
            layers: vec![
                FloatLayer::Conv2d(FloatConv2d {
                    in_channels: 1,
                    out_channels: c,
                    kernel: k,
                    padding,
                    relu: true,
                    weight: conv_w.data.clone(),
                    bias: conv_b.data.clone(),
                }),
                FloatLayer::MaxPool2d,
                FloatLayer::Flatten,
                FloatLayer::Dense(FloatDense {
                    in_features: features,
                    out_features: hidden,
                    relu: true,
                    weight: fc1_w.data.clone(),
                    bias: fc1_b.data.clone(),
                }),
                FloatLayer::Dense(FloatDense {
                    in_features: hidden,
                    out_features: classes,
                    relu: false,
                    weight: fc2_w.data.clone(),
                    bias: fc2_b.data.clone(),
                }),
            ],
            class_names: class_names.iter().map(|s| s.to_string()).collect(),
        };
        model.shapes()?;
        Ok(model)
    }

    /// The network of `arch` from its saved parameters (names as in
    /// `trainer::nn::Net`: `conv`, `conv2`, ..., `bn`, `bn2`, ..., `fc1`, `fc2`, ...;
    /// a residual block's two convolutions take the next two numbers).
    /// With `batch_norm`, each convolution's batch norm (running statistics, eval mode)
    /// is folded into it: `w' = w * g / sqrt(var + eps)`, `b' = (b - mean) * g /
    /// sqrt(var + eps) + beta`, so infer-core needs no batch-norm layer.
    pub fn from_arch(
        params: &HashMap<String, Param>,
        arch: &crate::arch::Arch,
        batch_norm: bool,
        class_names: &[&str],
    ) -> Result<Self, QuantizeError> {
        use crate::arch::LayerSpec;
        let mut layers = Vec::new();
        let (mut c, mut side, mut n_in) = (1usize, SIDE, 0usize);
        let (mut convs, mut denses) = (0usize, 0usize);
        for spec in arch.layers() {
            match *spec {
                LayerSpec::Conv { filters, padding } => {
                    let out = filters as usize;
                    let padding = if padding == 0 {
                        Padding::Valid
                    } else {
                        Padding::Same
                    };
                    layers.push(load_conv(params, convs, c, out, padding, batch_norm, true)?);
                    convs += 1;
                    c = out;
                    if padding == Padding::Valid {
                        side -= 2;
                    }
                }
                LayerSpec::Residual { filters } => {
                    // Save, conv + ReLU, conv, Add + ReLU (the shortcut's
                    // missing channels are zero).
                    let out = filters as usize;
                    layers.push(FloatLayer::Save);
                    layers.push(load_conv(
                        params,
                        convs,
                        c,
                        out,
                        Padding::Same,
                        batch_norm,
                        true,
                    )?);
                    layers.push(load_conv(
                        params,
                        convs + 1,
                        out,
                        out,
                        Padding::Same,
                        batch_norm,
                        false,
                    )?);
                    layers.push(FloatLayer::Add { relu: true });
                    convs += 2;
                    c = out;
                }
                LayerSpec::Pool => {
                    side /= 2;
                    layers.push(FloatLayer::MaxPool2d);
                }
                LayerSpec::Flatten => {
                    n_in = c * side * side;
                    layers.push(FloatLayer::Flatten);
                }
                LayerSpec::GlobalAvgPool => {
                    n_in = c;
                    layers.push(FloatLayer::GlobalAvgPool);
                }
                LayerSpec::Dense { outputs } => {
                    denses += 1;
                    let out = outputs as usize;
                    let name = format!("fc{denses}");
                    let w = get(params, &format!("{name}.weight"), 2)?;
                    expect_shape(&format!("{name}.weight"), w, &[out, n_in])?;
                    let b = get(params, &format!("{name}.bias"), 1)?;
                    expect_shape(&format!("{name}.bias"), b, &[out])?;
                    let last = denses
                        == arch
                            .layers()
                            .iter()
                            .filter(|l| matches!(l, LayerSpec::Dense { .. }))
                            .count();
                    layers.push(FloatLayer::Dense(FloatDense {
                        in_features: n_in,
                        out_features: out,
                        relu: !last,
                        weight: w.data.clone(),
                        bias: b.data.clone(),
                    }));
                    n_in = out;
                }
            }
        }
        if class_names.len() != n_in {
            return Err(QuantizeError::Architecture(format!(
                "the last layer has {n_in} outputs but {} class names were given",
                class_names.len()
            )));
        }
        let model = FloatModel {
            layers,
            class_names: class_names.iter().map(|s| s.to_string()).collect(),
        };
        model.shapes()?;
        Ok(model)
    }

    /// [`from_arch`](Self::from_arch) on the tensors of a safetensors file at `path`.
    pub fn load_arch(
        path: &Path,
        arch: &crate::arch::Arch,
        batch_norm: bool,
        class_names: &[&str],
    ) -> Result<Self, QuantizeError> {
        let bytes = std::fs::read(path).map_err(|source| QuantizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        read_params(&bytes)
            .and_then(|params| Self::from_arch(&params, arch, batch_norm, class_names))
            .map_err(|e| QuantizeError::File {
                path: path.to_path_buf(),
                source: Box::new(e),
            })
    }

    /// [`from_params`](Self::from_params) on the f32 (or f64, f16, bf16)
    /// tensors of a safetensors file's bytes.
    pub fn from_safetensors(bytes: &[u8], class_names: &[&str]) -> Result<Self, QuantizeError> {
        Self::from_params(&read_params(bytes)?, class_names)
    }

    /// [`from_safetensors`](Self::from_safetensors) on the file at `path`.
    pub fn load_safetensors(path: &Path, class_names: &[&str]) -> Result<Self, QuantizeError> {
        let bytes = std::fs::read(path).map_err(|source| QuantizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors(&bytes, class_names).map_err(|e| QuantizeError::File {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}

/// Epsilon of tch's (and PyTorch's) batch norm.
const BN_EPS: f32 = 1e-5;

/// Every tensor of a safetensors file as f32.
fn read_params(bytes: &[u8]) -> Result<HashMap<String, Param>, QuantizeError> {
    let st = SafeTensors::deserialize(bytes)?;
    let mut params = HashMap::new();
    for (name, view) in st.iter() {
        let data = decode_floats(name, view.dtype(), view.data())?;
        params.insert(
            name.to_string(),
            Param {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok(params)
}

/// Little-endian float tensor bytes as f32.
fn decode_floats(name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>, QuantizeError> {
    let out = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        other => {
            return Err(QuantizeError::Dtype {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            });
        }
    };
    Ok(out)
}

/// IEEE half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = f32::from_bits(u32::from(h >> 15) << 31);
    let exp = i32::from((h >> 10) & 0x1F);
    let mant = f32::from(h & 0x3FF);
    let magnitude = match exp {
        0 => mant * 2f32.powi(-24),
        31 if mant == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + mant / 1024.0) * 2f32.powi(exp - 15),
    };
    magnitude.copysign(sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values() {
        assert_eq!(f16_to_f32(0x3C00), 1.0);
        assert_eq!(f16_to_f32(0xC000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7C00), f32::INFINITY);
    }
}
