//! Frames as a camera delivers them, and the sample frames kept in flash.
//!
//! The blob `firmware/frames/frames.bin` is written by `trainer frames`; its format
//! and parser are in the `camera` crate ([`camera::frames`]), re-exported here.

use camera::Frame;
pub use camera::frames::{FrameSet, FramesError, HEADER_LEN, MAGIC, SampleFrame, VERSION};

/// A frame as delivered by a [`FrameSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured<'a> {
    /// The grayscale frame (valid until the next capture).
    pub frame: Frame<'a>,
    /// The true class when it is known (sample frames), `None` from a live camera.
    pub label: Option<u8>,
}

/// Something that delivers grayscale frames one after another, as a camera does.
///
/// A camera driver (for example an OV7670 in QQVGA YUV mode, keeping the Y bytes)
/// implements it by capturing into its own buffer and lending that buffer out.
pub trait FrameSource {
    /// What can go wrong while capturing.
    type Error;

    /// Captures the next frame; `Ok(None)` when the source has no more frames.
    fn next_frame(&mut self) -> Result<Option<Captured<'_>>, Self::Error>;
}

/// The sample frames in flash, delivered once each, in order (a frame labelled
/// [`camera::frames::UNKNOWN_LABEL`], a user's picture, has no label).
#[derive(Debug, Clone)]
pub struct FlashFrames<'a> {
    set: FrameSet<'a>,
    next: usize,
}

impl<'a> FlashFrames<'a> {
    /// Serves the frames of `set` from the first one on.
    pub fn new(set: FrameSet<'a>) -> Self {
        Self { set, next: 0 }
    }

    /// The underlying frame set.
    pub fn set(&self) -> &FrameSet<'a> {
        &self.set
    }
}

impl FrameSource for FlashFrames<'_> {
    type Error = core::convert::Infallible;

    fn next_frame(&mut self) -> Result<Option<Captured<'_>>, Self::Error> {
        let Some(sample) = self.set.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some(Captured {
            frame: sample.frame,
            label: (sample.label != camera::frames::UNKNOWN_LABEL).then_some(sample.label),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn serves_the_sample_frames_in_order() {
        let mut b = Vec::new();
        b.extend_from_slice(b"FMCF\x01\x00");
        b.extend_from_slice(&[2, 0, 1, 0, 3, 0]);
        b.extend_from_slice(&[7, 0, 100, 0, 2, 0, 101, 0, 255, 0, 255, 255]);
        b.extend_from_slice(&[0, 0, 1, 1, 2, 2]);
        let set = FrameSet::parse(&b).unwrap();
        let mut source = FlashFrames::new(set);
        let labels: Vec<_> =
            core::iter::from_fn(|| source.next_frame().unwrap().map(|c| c.label)).collect();
        assert_eq!(labels, [Some(7), Some(2), None]);
    }
}
