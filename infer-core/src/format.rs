//! The `.fmq` model file: a 16-byte header and a postcard payload.
//!
//! The byte-by-byte layout is documented in `docs/model-format.md`. In short:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 4 | [`MAGIC`] `b"FMQ8"` |
//! | 4 | 2 | format version, u16 little-endian: [`OLDEST_FORMAT_VERSION`] (2) to [`FORMAT_VERSION`] (4) |
//! | 6 | 2 | reserved, zero |
//! | 8 | 4 | payload length in bytes, u32 little-endian |
//! | 12 | 4 | CRC-32 (IEEE) of the payload, u32 little-endian |
//! | 16 | n | payload: postcard encoding of [`ModelFile`] |
//!
//! Multi-byte parameter arrays are stored as postcard byte strings holding
//! little-endian values and are read in place ([`I8Array`], [`I32Array`]), so
//! decoding copies no parameter and needs no alignment.
//!
//! Versions 2 to 4 share one payload grammar; version 3 adds the
//! [`Layer::GlobalAvgPool`] variant, version 4 the residual pair
//! [`Layer::Save`] and [`Layer::Add`], [`Layer::GlobalMean`] (global average
//! pooling with its own output quantization) and up to 32 layers. A file says the oldest version that has
//! all its layers ([`ModelFile::format_version`]): [`encode`] writes version 2
//! for a model without global average pooling or residual add, so such files
//! stay readable by version-2 readers, byte for byte what they were, version 3
//! for one with global average pooling only, and version 4 for one with a
//! residual add. A file holding a layer newer than its version is refused
//! ([`Error::LayerVersion`]).

use heapless::Vec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, MAX_CLASSES, MAX_LAYERS};

/// First four bytes of every `.fmq` file.
pub const MAGIC: [u8; 4] = *b"FMQ8";

/// The newest format version this crate reads and writes: version 4, which
/// adds [`Layer::Save`], [`Layer::Add`] and [`Layer::GlobalMean`] to version
/// 3's grammar (itself
/// version 2's with [`Layer::GlobalAvgPool`]).
///
/// The crate reads versions [`OLDEST_FORMAT_VERSION`]`..=FORMAT_VERSION` and
/// writes the oldest one a model needs ([`ModelFile::format_version`]).
/// Version 2 stores the parameters in the kernels'
/// [`layout`](crate::layout); files of version 1 (natural order, unfolded
/// bias) are rejected with [`Error::UnsupportedVersion`]: re-export them with
/// `trainer export`.
pub const FORMAT_VERSION: u16 = 4;

/// The oldest format version this crate reads (and writes, for a model
/// without global average pooling or residual add).
pub const OLDEST_FORMAT_VERSION: u16 = 2;

/// The first format version with [`Layer::GlobalAvgPool`].
const GLOBAL_AVG_POOL_VERSION: u16 = 3;

/// The first format version with [`Layer::Save`] and [`Layer::Add`], and with
/// more than [`OLD_MAX_LAYERS`] layers.
const RESIDUAL_VERSION: u16 = 4;

/// Most layers of a file of version 2 or 3 (their readers' limit).
const OLD_MAX_LAYERS: usize = 16;

/// Length of the fixed header before the postcard payload.
pub const HEADER_LEN: usize = 16;

/// An int8 array borrowed from the file (one byte per value, two's complement).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct I8Array<'a>(&'a [u8]);

impl<'a> I8Array<'a> {
    /// Wraps raw bytes; each byte is one `i8`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The underlying bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of values.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the array holds no value.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value `i`, if in range.
    pub fn get(&self, i: usize) -> Option<i8> {
        self.0.get(i).map(|&b| b as i8)
    }

    /// All values in order.
    pub fn iter(&self) -> impl Iterator<Item = i8> + 'a {
        self.0.iter().map(|&b| b as i8)
    }
}

/// An int32 array borrowed from the file (four little-endian bytes per value).
///
/// The byte length is checked to be a multiple of four by
/// [`Model::from_bytes`](crate::Model::from_bytes); a trailing partial value is
/// ignored by [`len`](Self::len) and [`iter`](Self::iter).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct I32Array<'a>(&'a [u8]);

impl<'a> I32Array<'a> {
    /// Wraps raw bytes; each group of four is one little-endian `i32`.
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The underlying bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Number of whole values.
    pub const fn len(&self) -> usize {
        self.0.len() / 4
    }

    /// True when the array holds no whole value.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`, if in range.
    pub fn get(&self, i: usize) -> Option<i32> {
        let start = i.checked_mul(4)?;
        let b = self.0.get(start..start.checked_add(4)?)?;
        Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Value `i`; the caller has checked `i < len()` (panics otherwise).
    #[inline(always)]
    pub(crate) fn at(&self, i: usize) -> i32 {
        let b = &self.0[4 * i..4 * i + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Values `i..i + N`; the caller has checked they exist (panics otherwise).
    #[inline(always)]
    pub(crate) fn block<const N: usize>(&self, i: usize) -> [i32; N] {
        let bytes = &self.0[4 * i..][..4 * N];
        core::array::from_fn(|k| {
            let b = &bytes[4 * k..4 * k + 4];
            i32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    }

    /// All whole values in order.
    pub fn iter(&self) -> impl Iterator<Item = i32> + 'a {
        self.0
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// `Debug` and `defmt::Format` show the number of values only: a model's
/// weights are hundreds of kilobytes, too many to log.
macro_rules! length_only_debug {
    ($t:ident) => {
        impl core::fmt::Debug for $t<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("len", &self.len())
                    .finish_non_exhaustive()
            }
        }

        #[cfg(feature = "defmt")]
        impl defmt::Format for $t<'_> {
            fn format(&self, f: defmt::Formatter<'_>) {
                defmt::write!(
                    f,
                    "{=str} {{ len: {=usize}, .. }}",
                    stringify!($t),
                    self.len()
                )
            }
        }
    };
}
length_only_debug!(I8Array);
length_only_debug!(I32Array);

macro_rules! bytes_serde {
    ($t:ident) => {
        impl Serialize for $t<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $t<'a> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <&'a [u8]>::deserialize(deserializer).map($t)
            }
        }
    };
}
bytes_serde!(I8Array);
bytes_serde!(I32Array);

/// Quantization of an activation tensor: `real = scale * (q - zero_point)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QuantParams {
    /// Real value of one quantization step (positive, finite). Only used to
    /// display dequantized values; inference never reads it.
    pub scale: f32,
    /// The int8 value that represents real zero.
    pub zero_point: i8,
}

/// Shape and quantization of the model input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InputSpec {
    /// Rows (28).
    pub height: u16,
    /// Columns (28).
    pub width: u16,
    /// Channels (1).
    pub channels: u16,
    /// Input quantization (scale 1/255, zero point -128).
    pub quant: QuantParams,
}

impl Default for InputSpec {
    /// The only input models accept: 28x28x1, scale 1/255, zero point -128.
    fn default() -> Self {
        Self {
            height: crate::IMAGE_SIDE as u16,
            width: crate::IMAGE_SIDE as u16,
            channels: 1,
            quant: QuantParams {
                scale: crate::INPUT_SCALE,
                zero_point: crate::INPUT_ZERO_POINT,
            },
        }
    }
}

/// Spatial padding of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Padding {
    /// No padding: the output is `in - kernel + 1` on each side.
    #[default]
    Valid,
    /// `kernel / 2` zero-point pixels on every side: the output keeps the input size.
    Same,
}

/// A 2-D convolution, stride 1, with fused optional ReLU.
///
/// Input `[H][W][C_in]`, output `[H'][W'][out_channels]` (HWC).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conv2d<'a> {
    /// Number of output channels (filters).
    pub out_channels: u16,
    /// Kernel side `k` (odd); the kernel is `k x k`.
    pub kernel: u8,
    /// Padding mode.
    pub padding: Padding,
    /// Whether ReLU is fused (the output is clamped below at its zero point).
    pub relu: bool,
    /// Weights `[out_channels][k][k][C_in]` (OHWI), int8 in [-127, 127].
    #[serde(borrow)]
    pub weights: I8Array<'a>,
    /// Bias per output channel, int32 with scale `input_scale * weight_scale[c]`.
    #[serde(borrow)]
    pub bias: I32Array<'a>,
    /// Q31 requantization multiplier per output channel (non-negative).
    #[serde(borrow)]
    pub multiplier: I32Array<'a>,
    /// Right shift per output channel, 1..=62: the real multiplier is
    /// `multiplier * 2^-shift`.
    pub shift: &'a [u8],
    /// Quantization of the output.
    pub output: QuantParams,
}

/// A fully connected layer with fused optional ReLU, on a flat input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dense<'a> {
    /// Number of outputs.
    pub out_features: u16,
    /// Whether ReLU is fused.
    pub relu: bool,
    /// Weights `[out_features][in_features]`, int8 in [-127, 127]; the input
    /// index follows the HWC order of the tensor before `Flatten`.
    #[serde(borrow)]
    pub weights: I8Array<'a>,
    /// Bias per output, int32 with scale `input_scale * weight_scale[o]`.
    #[serde(borrow)]
    pub bias: I32Array<'a>,
    /// Q31 requantization multiplier per output (non-negative).
    #[serde(borrow)]
    pub multiplier: I32Array<'a>,
    /// Right shift per output, 1..=62.
    pub shift: &'a [u8],
    /// Quantization of the output.
    pub output: QuantParams,
}

/// The residual add: `y = clamp(out_zp + round((a - a_zp) * M_a * 2^-n +
/// (s - s_zp) * M_s * 2^-n), lo, 127)`, with `a` the current tensor (the main
/// path) and `s` the tensor kept by the last [`Layer::Save`] (the shortcut).
///
/// `M_a` and `M_s` are non-negative Q31-style multipliers sharing one right
/// shift `n` in `1..=62`: the real multipliers are `a_scale / out_scale =
/// M_a * 2^-n` and `s_scale / out_scale = M_s * 2^-n`. The sum is formed
/// exactly in 64 bits and rounded once, half up, as every other requantization
/// in this crate ([`reference::add`](crate::reference::add) is the definition).
///
/// The shortcut has the main path's rows and columns and at most its
/// channels: main-path channels beyond the shortcut's add real zero (the
/// zero-padding shortcut of ResNet's "option A", which needs no parameter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Add {
    /// Whether ReLU is fused (the output is clamped below at its zero point).
    pub relu: bool,
    /// `M_a`, the main path's multiplier (non-negative).
    pub main_multiplier: i32,
    /// `M_s`, the shortcut's multiplier (non-negative).
    pub skip_multiplier: i32,
    /// `n`, the shared right shift, 1..=62.
    pub shift: u8,
    /// Quantization of the output.
    pub output: QuantParams,
}

/// Global average pooling with its own output quantization (TFLite's int8
/// MEAN over the rows and columns): `y[c] = clamp(out_zp + round(s[c] * M *
/// 2^-n), -128, 127)`, `s[c]` the channel's sum of `x - in_zp` over the `H * W`
/// pixels, `M * 2^-n = in_scale / (H * W * out_scale)`, one rounding, half up
/// ([`reference::global_mean`](crate::reference::global_mean) is the
/// definition). Unlike [`Layer::GlobalAvgPool`], which keeps its input's
/// grid, the means get a grid of their own, fitted to their (narrower) range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GlobalMean {
    /// `M`, the Q31-style multiplier (non-negative).
    pub multiplier: i32,
    /// `n`, the right shift, 1..=62.
    pub shift: u8,
    /// Quantization of the output.
    pub output: QuantParams,
}

/// One layer of the network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layer<'a> {
    /// Convolution (postcard variant 0).
    Conv2d(#[serde(borrow)] Conv2d<'a>),
    /// Max-pool 2x2, stride 2, floor (odd trailing rows/columns dropped); keeps
    /// the input quantization (postcard variant 1).
    MaxPool2d,
    /// `[H][W][C]` to `[H*W*C]` (HWC order: a no-op on the data) (variant 2).
    Flatten,
    /// Fully connected layer (variant 3).
    Dense(#[serde(borrow)] Dense<'a>),
    /// Global average pooling, `[H][W][C]` to `[C]`: each channel's mean over
    /// the `H * W` pixels, rounded to the nearest integer, ties away from zero
    /// (as TFLite's int8 average pool); keeps the input quantization (variant
    /// 4, format version 3 and later). Its input must be spatial (not after a
    /// `Flatten`, a `Dense` or another `GlobalAvgPool`); its output is flat,
    /// so a `Dense` layer may follow directly.
    GlobalAvgPool,
    /// Keeps the current tensor (unchanged, still the current one) as the
    /// shortcut of the next [`Layer::Add`] (variant 5, format version 4). At
    /// most one tensor is kept at a time: each `Save` is followed by exactly
    /// one `Add` before the next `Save` or the end of the model.
    Save,
    /// Adds the kept tensor to the current one (variant 6, format version 4);
    /// see [`Add`].
    Add(Add),
    /// Global average pooling with its own output quantization (variant 7,
    /// format version 4); see [`GlobalMean`]. Its input must be spatial, as
    /// [`Layer::GlobalAvgPool`]'s.
    GlobalMean(GlobalMean),
}

impl Layer<'_> {
    /// The oldest format version that has this layer.
    pub const fn format_version(&self) -> u16 {
        match self {
            Layer::GlobalAvgPool => GLOBAL_AVG_POOL_VERSION,
            Layer::Save | Layer::Add(_) | Layer::GlobalMean(_) => RESIDUAL_VERSION,
            Layer::Conv2d(_) | Layer::MaxPool2d | Layer::Flatten | Layer::Dense(_) => {
                OLDEST_FORMAT_VERSION
            }
        }
    }
}

/// The decoded payload of a `.fmq` file; parameters borrow from the file bytes.
///
/// Field order is the postcard order on disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ModelFile<'a> {
    /// Input shape and quantization.
    pub input: InputSpec,
    /// Layers in execution order.
    #[serde(borrow)]
    pub layers: Vec<Layer<'a>, MAX_LAYERS>,
    /// One name per output of the last layer.
    #[serde(borrow)]
    pub class_names: Vec<&'a str, MAX_CLASSES>,
}

impl ModelFile<'_> {
    /// The format version [`encode`] writes for this model: the oldest that
    /// has all its layers (2 without global average pooling or residual add,
    /// 3 with global average pooling only, 4 with a residual add) and their
    /// number (4 for more than 16).
    pub fn format_version(&self) -> u16 {
        let by_count = if self.layers.len() > OLD_MAX_LAYERS {
            RESIDUAL_VERSION
        } else {
            OLDEST_FORMAT_VERSION
        };
        self.layers
            .iter()
            .map(Layer::format_version)
            .fold(by_count, u16::max)
    }
}

/// Splits a `.fmq` file into its version and checked payload, verifying magic,
/// version, length and (with `check_crc`) the CRC.
fn payload(bytes: &[u8], check_crc: bool) -> Result<(u16, &[u8]), Error> {
    if bytes.len() < HEADER_LEN {
        return Err(if bytes.len() >= 4 && bytes[..4] != MAGIC {
            Error::BadMagic
        } else {
            Error::Truncated
        });
    }
    let (header, rest) = bytes.split_at(HEADER_LEN);
    if header[0..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion { found: version });
    }
    if header[6] != 0 || header[7] != 0 {
        return Err(Error::BadHeader);
    }
    let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let expected = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
    let len = usize::try_from(len).map_err(|_| Error::Truncated)?;
    if rest.len() < len {
        return Err(Error::Truncated);
    }
    if rest.len() > len {
        return Err(Error::TrailingBytes);
    }
    if check_crc {
        let computed = crate::crc32(rest);
        if computed != expected {
            return Err(Error::Checksum { expected, computed });
        }
    }
    Ok((version, rest))
}

/// Decodes a `.fmq` file without checking shapes (see `Model::from_bytes`);
/// `check_crc: false` skips only the payload's CRC (see
/// `Model::from_bytes_unverified`). Every layer must exist in the file's
/// format version.
pub(crate) fn decode(bytes: &[u8], check_crc: bool) -> Result<ModelFile<'_>, Error> {
    let (version, body) = payload(bytes, check_crc)?;
    let (file, rest) =
        postcard::take_from_bytes::<ModelFile<'_>>(body).map_err(|_| Error::Decode)?;
    if !rest.is_empty() {
        return Err(Error::TrailingBytes);
    }
    if version < RESIDUAL_VERSION && file.layers.len() > OLD_MAX_LAYERS {
        // What a reader of that version refuses while decoding.
        return Err(Error::Decode);
    }
    if let Some((i, layer)) = file
        .layers
        .iter()
        .enumerate()
        .find(|(_, l)| l.format_version() > version)
    {
        return Err(Error::LayerVersion {
            // MAX_LAYERS <= 256, so the index fits.
            layer: i as u8,
            needs: layer.format_version(),
            found: version,
        });
    }
    Ok(file)
}

/// Number of bytes [`encode`] writes for `model`.
pub fn encoded_len(model: &ModelFile<'_>) -> Result<usize, Error> {
    let n = postcard::serialize_with_flavor(model, postcard::ser_flavors::Size::default())
        .map_err(|_| Error::Encode)?;
    Ok(HEADER_LEN + n)
}

/// Writes `model` as a `.fmq` file into `out` and returns the number of bytes
/// written. Needs no allocator. The header says
/// [`model.format_version()`](ModelFile::format_version): version 2 unless the
/// model has a layer that needs version 3 or 4.
///
/// The model is validated first with the same checks as
/// [`Model::from_bytes`](crate::Model::from_bytes), so every file this writes
/// can be read back.
pub fn encode(model: &ModelFile<'_>, out: &mut [u8]) -> Result<usize, Error> {
    crate::model::validate(model)?;
    if out.len() < HEADER_LEN {
        return Err(Error::BufferTooSmall);
    }
    let (header, body) = out.split_at_mut(HEADER_LEN);
    let n = match postcard::to_slice(model, body) {
        Ok(written) => written.len(),
        Err(postcard::Error::SerializeBufferFull) => return Err(Error::BufferTooSmall),
        Err(_) => return Err(Error::Encode),
    };
    let len = u32::try_from(n).map_err(|_| Error::Encode)?;
    let crc = crate::crc32(&body[..n]);
    header[0..4].copy_from_slice(&MAGIC);
    header[4..6].copy_from_slice(&model.format_version().to_le_bytes());
    header[6..8].copy_from_slice(&[0, 0]);
    header[8..12].copy_from_slice(&len.to_le_bytes());
    header[12..16].copy_from_slice(&crc.to_le_bytes());
    Ok(HEADER_LEN + n)
}

/// [`encode`] into a new `Vec` (host convenience).
#[cfg(feature = "std")]
pub fn to_vec(model: &ModelFile<'_>) -> Result<std::vec::Vec<u8>, Error> {
    let mut out = std::vec![0u8; encoded_len(model)?];
    let n = encode(model, &mut out)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_length_only() {
        let bytes = [7u8; 1000];
        assert_eq!(
            format!("{:?}", I8Array::new(&bytes)),
            "I8Array { len: 1000, .. }"
        );
        assert_eq!(
            format!("{:?}", I32Array::new(&bytes)),
            "I32Array { len: 250, .. }"
        );
    }
}
