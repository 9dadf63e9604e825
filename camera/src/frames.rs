//! The sample-frames blob: camera frames with their labels, as the firmware
//! keeps them in flash.
//!
//! `trainer frames` writes `firmware/frames/frames.bin` with `encode`
//! (feature `std`); the firmware reads it in place with [`FrameSet::parse`].
//! Layout, little-endian:
//! ```text
//! offset  size        field
//! 0       4           magic b"FMCF"
//! 4       1           version = 1
//! 5       1           reserved = 0
//! 6       2           width (u16)
//! 8       2           height (u16)
//! 10      2           count (u16)
//! 12      4 * count   per frame: label (u8, 255 = unknown), reserved (u8),
//!                     test-set index (u16, 65535 for a user's picture)
//! ...     w*h*count   the frames' pixels, row-major, frame after frame
//! ```

use core::fmt;

use crate::preprocess::Frame;

/// Magic bytes that open a frames blob.
pub const MAGIC: [u8; 4] = *b"FMCF";
/// The blob layout this code reads.
pub const VERSION: u8 = 1;
/// Bytes before the per-frame descriptors.
pub const HEADER_LEN: usize = 12;
/// The label of a frame whose class is not known (a user's picture, not a test image).
pub const UNKNOWN_LABEL: u8 = 255;

/// Why a frames blob was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FramesError {
    /// Shorter than its header.
    Truncated,
    /// Does not start with [`MAGIC`].
    BadMagic,
    /// A layout version other than [`VERSION`].
    UnsupportedVersion(u8),
    /// The length is not what the header implies.
    WrongLength {
        /// Length implied by the header.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// Width or height is zero.
    EmptyFrames,
}

impl fmt::Display for FramesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => write!(f, "frames blob shorter than its header"),
            Self::BadMagic => write!(f, "not a frames blob (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "frames blob version {v} unsupported"),
            Self::WrongLength { expected, actual } => {
                write!(
                    f,
                    "frames blob has {actual} bytes, its header implies {expected}"
                )
            }
            Self::EmptyFrames => write!(f, "frames of zero width or height"),
        }
    }
}

impl core::error::Error for FramesError {}

/// A validated frames blob (borrowed, typically from flash).
#[derive(Debug, Clone, Copy)]
pub struct FrameSet<'a> {
    blob: &'a [u8],
    width: usize,
    height: usize,
    count: usize,
}

/// One frame of a [`FrameSet`] with what is known about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleFrame<'a> {
    /// The garment's class (the test image's label).
    pub label: u8,
    /// Index of the source image in the Fashion-MNIST test set.
    pub test_index: u16,
    /// The camera frame.
    pub frame: Frame<'a>,
}

impl<'a> FrameSet<'a> {
    /// Checks the header and the length; after this, [`get`](Self::get) cannot fail
    /// for an index below [`len`](Self::len).
    pub fn parse(blob: &'a [u8]) -> Result<Self, FramesError> {
        let header = blob.get(..HEADER_LEN).ok_or(FramesError::Truncated)?;
        if header[..4] != MAGIC {
            return Err(FramesError::BadMagic);
        }
        if header[4] != VERSION {
            return Err(FramesError::UnsupportedVersion(header[4]));
        }
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([header[i], header[i + 1]]));
        let (width, height, count) = (u16_at(6), u16_at(8), u16_at(10));
        if width == 0 || height == 0 {
            return Err(FramesError::EmptyFrames);
        }
        // At most 12 + 4 * 65535 + 65535^3 bytes: checked, as usize may be 32 bits.
        let expected = width
            .checked_mul(height)
            .and_then(|px| px.checked_mul(count))
            .and_then(|px| px.checked_add(HEADER_LEN + 4 * count))
            .unwrap_or(usize::MAX);
        if blob.len() != expected {
            return Err(FramesError::WrongLength {
                expected,
                actual: blob.len(),
            });
        }
        Ok(Self {
            blob,
            width,
            height,
            count,
        })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the blob holds no frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Frame width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Frame `k`, or `None` past the end.
    pub fn get(&self, k: usize) -> Option<SampleFrame<'a>> {
        if k >= self.count {
            return None;
        }
        let d = HEADER_LEN + 4 * k;
        let descriptor = self.blob.get(d..d + 4)?;
        let size = self.width * self.height;
        let start = HEADER_LEN + 4 * self.count + k * size;
        let pixels = self.blob.get(start..start + size)?;
        Some(SampleFrame {
            label: descriptor[0],
            test_index: u16::from_le_bytes([descriptor[2], descriptor[3]]),
            frame: Frame::new(pixels, self.width, self.height).ok()?,
        })
    }
}

/// One frame to [`encode`]: its pixels (row-major, `width * height` bytes) and
/// what is known about it.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRecord<'a> {
    /// The garment's class.
    pub label: u8,
    /// Index of the source image in the Fashion-MNIST test set.
    pub test_index: u16,
    /// The frame's pixels.
    pub pixels: &'a [u8],
}

/// Why [`encode`] refused its frames.
#[cfg(feature = "std")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// Width or height is zero or above 65535, or there are more than 65535 frames.
    TooLarge,
    /// Frame `index` does not hold `width * height` pixels.
    FrameSize {
        /// Position of the frame in the list.
        index: usize,
    },
}

#[cfg(feature = "std")]
impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLarge => write!(
                f,
                "frames must have sides and a count between 1 and 65535 (count may be 0)"
            ),
            Self::FrameSize { index } => {
                write!(f, "frame {index} does not hold width * height pixels")
            }
        }
    }
}

#[cfg(feature = "std")]
impl core::error::Error for EncodeError {}

/// Writes `frames` of `width x height` pixels as a frames blob (layout in the
/// module docs), which [`FrameSet::parse`] reads back.
#[cfg(feature = "std")]
pub fn encode(
    width: usize,
    height: usize,
    frames: &[FrameRecord<'_>],
) -> Result<std::vec::Vec<u8>, EncodeError> {
    let u16_of = |v: usize| u16::try_from(v).map_err(|_| EncodeError::TooLarge);
    if width == 0 || height == 0 {
        return Err(EncodeError::TooLarge);
    }
    let (w, h, count) = (u16_of(width)?, u16_of(height)?, u16_of(frames.len())?);
    let mut blob = std::vec::Vec::with_capacity(HEADER_LEN + frames.len() * (4 + width * height));
    blob.extend_from_slice(&MAGIC);
    blob.extend_from_slice(&[VERSION, 0]);
    blob.extend_from_slice(&w.to_le_bytes());
    blob.extend_from_slice(&h.to_le_bytes());
    blob.extend_from_slice(&count.to_le_bytes());
    for f in frames {
        blob.extend_from_slice(&[f.label, 0]);
        blob.extend_from_slice(&f.test_index.to_le_bytes());
    }
    for (index, f) in frames.iter().enumerate() {
        if f.pixels.len() != width * height {
            return Err(EncodeError::FrameSize { index });
        }
        blob.extend_from_slice(f.pixels);
    }
    Ok(blob)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn blob(width: u16, height: u16, labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"FMCF\x01\x00");
        b.extend_from_slice(&width.to_le_bytes());
        b.extend_from_slice(&height.to_le_bytes());
        b.extend_from_slice(&(labels.len() as u16).to_le_bytes());
        for (i, &l) in labels.iter().enumerate() {
            b.extend_from_slice(&[l, 0]);
            b.extend_from_slice(&(100 + i as u16).to_le_bytes());
        }
        for (i, _) in labels.iter().enumerate() {
            b.extend(core::iter::repeat_n(i as u8, usize::from(width * height)));
        }
        b
    }

    #[test]
    fn parses_and_serves_frames_in_order() {
        let b = blob(4, 3, &[7, 2]);
        let set = FrameSet::parse(&b).unwrap();
        assert_eq!((set.len(), set.width(), set.height()), (2, 4, 3));
        let second = set.get(1).unwrap();
        assert_eq!((second.label, second.test_index), (2, 101));
        assert_eq!(second.frame.pixels(), &[1u8; 12]);
        assert!(set.get(2).is_none());
    }

    #[cfg(feature = "std")]
    #[test]
    fn encode_writes_the_layout_and_round_trips() {
        let pixels = [[1u8; 12], [2u8; 12]];
        let frames = [
            FrameRecord {
                label: 7,
                test_index: 100,
                pixels: &pixels[0],
            },
            FrameRecord {
                label: 2,
                test_index: 101,
                pixels: &pixels[1],
            },
        ];
        let encoded = encode(4, 3, &frames).unwrap();
        let mut by_hand = blob(4, 3, &[7, 2]);
        // `blob` fills frame i with the value i; these frames hold i + 1.
        for (i, p) in by_hand[HEADER_LEN + 8..].iter_mut().enumerate() {
            *p = 1 + (i / 12) as u8;
        }
        assert_eq!(encoded, by_hand);
        let set = FrameSet::parse(&encoded).unwrap();
        assert_eq!(set.get(1).unwrap().frame.pixels(), &[2u8; 12]);
        assert_eq!(
            encode(
                4,
                3,
                &[FrameRecord {
                    label: 0,
                    test_index: 0,
                    pixels: &[0; 11]
                }]
            ),
            Err(EncodeError::FrameSize { index: 0 })
        );
        assert_eq!(encode(0, 3, &[]), Err(EncodeError::TooLarge));
    }

    #[test]
    fn rejects_damaged_blobs() {
        let b = blob(4, 3, &[7, 2]);
        assert_eq!(FrameSet::parse(&b[..5]).err(), Some(FramesError::Truncated));
        assert_eq!(
            FrameSet::parse(&b[..b.len() - 1]).err(),
            Some(FramesError::WrongLength {
                expected: b.len(),
                actual: b.len() - 1
            })
        );
        let mut bad = b.clone();
        bad[1] = b'X';
        assert_eq!(FrameSet::parse(&bad).err(), Some(FramesError::BadMagic));
        bad = b.clone();
        bad[4] = 2;
        assert_eq!(
            FrameSet::parse(&bad).err(),
            Some(FramesError::UnsupportedVersion(2))
        );
        assert_eq!(
            FrameSet::parse(&blob(0, 3, &[])).err(),
            Some(FramesError::EmptyFrames)
        );
        assert!(FrameSet::parse(&blob(2, 2, &[])).unwrap().is_empty());
    }
}
