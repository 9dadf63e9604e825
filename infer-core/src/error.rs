//! The crate's single error type.

use core::fmt;

/// Everything that can go wrong when reading, writing or running a model.
///
/// `layer` fields are 0-based indices into the model's layer list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The bytes end before the header or before the payload length it declares.
    Truncated,
    /// The first four bytes are not [`MAGIC`](crate::MAGIC).
    BadMagic,
    /// The file has a format version this crate cannot read (it reads
    /// [`OLDEST_FORMAT_VERSION`](crate::OLDEST_FORMAT_VERSION) to
    /// [`FORMAT_VERSION`](crate::FORMAT_VERSION)).
    UnsupportedVersion {
        /// The version found in the header.
        found: u16,
    },
    /// A layer that the file's format version does not have (a
    /// `GlobalAvgPool` in a version-2 file, a `Save` or `Add` before version 4).
    LayerVersion {
        /// Index of the offending layer.
        layer: u8,
        /// The oldest format version with that layer.
        needs: u16,
        /// The version found in the header.
        found: u16,
    },
    /// The header's reserved field is not zero.
    BadHeader,
    /// A residual pair out of order: an `Add` without a `Save` before it, a
    /// `Save` while another's tensor is still kept, or a `Save` without its
    /// `Add` (then `layer` is the last layer).
    Residual {
        /// Index of the offending layer.
        layer: u8,
    },
    /// The CRC-32 of the payload does not match the one in the header.
    Checksum {
        /// CRC-32 stored in the header.
        expected: u32,
        /// CRC-32 computed over the payload.
        computed: u32,
    },
    /// The payload is not a valid postcard encoding of a model (this includes
    /// more than [`MAX_LAYERS`](crate::MAX_LAYERS) layers (16 in a file of
    /// version 2 or 3) or
    /// [`MAX_CLASSES`](crate::MAX_CLASSES) class names).
    Decode,
    /// Bytes are left over after the payload, or inside it after the model.
    TrailingBytes,
    /// The input shape is not 28x28x1.
    InputShape,
    /// The input quantization is not scale 1/255, zero point -128.
    InputQuantization,
    /// The model has no layers.
    NoLayers,
    /// A layer does not fit the shape of its input (for example an even or zero
    /// kernel, a kernel larger than a valid-padded input, a dense layer on an
    /// input that is not flat, a max-pool on an input smaller than 2x2, a
    /// global average pool on an input that is flat, zero output channels, or
    /// a residual add whose shortcut has other rows or columns, or more
    /// channels, than the main path).
    Shape {
        /// Index of the offending layer.
        layer: u8,
    },
    /// A tensor or parameter size overflows the arithmetic used to check it.
    TooLarge {
        /// Index of the offending layer.
        layer: u8,
    },
    /// A parameter array (weights, bias, multiplier or shift) has the wrong length.
    ParamLength {
        /// Index of the offending layer.
        layer: u8,
    },
    /// A weight in the padding of a row (see [`layout`](crate::layout)) is not zero.
    WeightPadding {
        /// Index of the offending layer.
        layer: u8,
    },
    /// A requantization multiplier is negative or a shift is outside 1..=62.
    Requant {
        /// Index of the offending layer.
        layer: u8,
    },
    /// A scale is not a positive, finite, normal f32.
    Scale {
        /// Index of the offending layer.
        layer: u8,
    },
    /// The worst-case accumulator `|bias| + n * 127 * 255` of some output
    /// channel exceeds `i32::MAX`.
    AccumulatorOverflow {
        /// Index of the offending layer.
        layer: u8,
    },
    /// The width of the last layer differs from the number of class names.
    ClassCount {
        /// Number of values the last layer produces.
        outputs: u32,
        /// Number of class names in the file.
        names: u32,
    },
    /// The scratch buffer given to `classify` is shorter than
    /// [`Model::scratch_len`](crate::Model::scratch_len).
    ScratchTooSmall {
        /// Bytes needed.
        needed: u32,
        /// Bytes given.
        got: u32,
    },
    /// The output buffer given to [`encode`](crate::encode) is too small.
    BufferTooSmall,
    /// The model could not be serialized.
    Encode,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("model file truncated"),
            Error::BadMagic => f.write_str("not a model file (bad magic)"),
            Error::UnsupportedVersion { found } if found < crate::OLDEST_FORMAT_VERSION => {
                write!(
                    f,
                    "model format version {found} is no longer read (expected {} to {}): \
                     re-export the model with `trainer export`",
                    crate::OLDEST_FORMAT_VERSION,
                    crate::FORMAT_VERSION
                )
            }
            Error::UnsupportedVersion { found } => write!(
                f,
                "unsupported model format version {found} (expected {} to {})",
                crate::OLDEST_FORMAT_VERSION,
                crate::FORMAT_VERSION
            ),
            Error::LayerVersion {
                layer,
                needs,
                found,
            } => write!(
                f,
                "layer {layer}: this layer type needs model format version {needs} \
                 or later, but the file says version {found}"
            ),
            Error::Residual { layer } => write!(
                f,
                "layer {layer}: a residual Save and Add do not pair up (one Add after each Save)"
            ),
            Error::BadHeader => f.write_str("reserved header field is not zero"),
            Error::Checksum { expected, computed } => write!(
                f,
                "payload CRC-32 mismatch: header {expected:#010x}, computed {computed:#010x}"
            ),
            Error::Decode => f.write_str("malformed model payload"),
            Error::TrailingBytes => f.write_str("trailing bytes after the model"),
            Error::InputShape => f.write_str("input shape is not 28x28x1"),
            Error::InputQuantization => {
                f.write_str("input quantization is not scale 1/255, zero point -128")
            }
            Error::NoLayers => f.write_str("model has no layers"),
            Error::Shape { layer } => write!(f, "layer {layer}: shape does not fit its input"),
            Error::TooLarge { layer } => write!(f, "layer {layer}: size overflows"),
            Error::ParamLength { layer } => {
                write!(f, "layer {layer}: parameter array has the wrong length")
            }
            Error::WeightPadding { layer } => {
                write!(f, "layer {layer}: nonzero weight in a row's padding")
            }
            Error::Requant { layer } => {
                write!(
                    f,
                    "layer {layer}: negative multiplier or shift outside 1..=62"
                )
            }
            Error::Scale { layer } => write!(f, "layer {layer}: scale is not positive and finite"),
            Error::AccumulatorOverflow { layer } => {
                write!(f, "layer {layer}: int32 accumulator could overflow")
            }
            Error::ClassCount { outputs, names } => write!(
                f,
                "last layer has {outputs} outputs but the file names {names} classes"
            ),
            Error::ScratchTooSmall { needed, got } => {
                write!(
                    f,
                    "scratch buffer too small: need {needed} bytes, got {got}"
                )
            }
            Error::BufferTooSmall => f.write_str("output buffer too small for the encoded model"),
            Error::Encode => f.write_str("model could not be serialized"),
        }
    }
}

impl core::error::Error for Error {}
