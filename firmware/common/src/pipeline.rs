//! One camera frame through the whole pipeline: preprocess, classify, draw.
//!
//! The firmware and the host's expected-output example both call [`process`], so the
//! only thing that can differ between them is the machine.

use camera::preprocess::{self, Config, Detection, Mode};
use embedded_graphics::pixelcolor::Gray8;
use embedded_graphics::prelude::DrawTarget;
use infer_core::IMAGE_LEN as PIXELS;
use infer_core::{Model, Prediction};

use crate::display::{self, Shown, View};
use crate::frames::Captured;

/// Reads a free-running counter; the firmware counts SysTick ticks, the host nothing.
pub trait Stopwatch {
    /// The counter now, in the stopwatch's units (instructions in QEMU, cycles on a
    /// board).
    fn now(&mut self) -> u32;

    /// Units elapsed since `start`, an earlier [`now`](Self::now).
    fn since(&mut self, start: u32) -> u32;
}

/// A stopwatch that always reads 0 (for the host).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStopwatch;

impl Stopwatch for NoStopwatch {
    fn now(&mut self) -> u32 {
        0
    }

    fn since(&mut self, _start: u32) -> u32 {
        0
    }
}

/// Why a frame produced no prediction: no garment there (an answer, see
/// [`FrameError::nothing_there`]) or a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "firmware", derive(defmt::Format))]
pub enum FrameError {
    /// No garment in the frame, or the frame could not be processed.
    Preprocess(preprocess::Error),
    /// The model refused to run (for example, too little scratch memory).
    Classify(infer_core::Error),
}

impl FrameError {
    /// A short fixed name, printed the same way by the firmware and the host.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Preprocess(preprocess::Error::NoObject { .. }) => "no-object",
            Self::Preprocess(preprocess::Error::NoContrast { .. }) => "no-contrast",
            Self::Preprocess(preprocess::Error::TooSmall { .. }) => "too-small",
            Self::Preprocess(_) => "bad-frame",
            Self::Classify(_) => "classify",
        }
    }

    /// True when the frame simply holds no garment: the answer "no garment found", not
    /// a failure.
    pub fn nothing_there(&self) -> bool {
        matches!(self, Self::Preprocess(e) if e.nothing_there())
    }

    /// The picture style the frame was taken for, when preprocessing got that far.
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Self::Preprocess(e) => e.mode(),
            Self::Classify(_) => None,
        }
    }
}

/// What the apps log and the screen shows for a frame without a garment.
pub const NOTHING: &str = "no garment found";

/// The name of a frame's picture style for logs (`dataset`, `photo`, `-` when unknown).
pub fn mode_name(mode: Option<Mode>) -> &'static str {
    mode.map_or("-", Mode::name)
}

/// Work spent on one frame, in the stopwatch's units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "firmware", derive(defmt::Format))]
pub struct Timing {
    /// Finding, cropping and resizing the object.
    pub preprocess: u32,
    /// `Model::classify`.
    pub classify: u32,
    /// Drawing the view.
    pub draw: u32,
}

/// What happened to one frame.
#[derive(Debug, Clone)]
pub struct Outcome<'a> {
    /// Where the object was and what the model said, or why there is no answer.
    pub result: Result<(Detection, Prediction<'a>), FrameError>,
    /// Softmax probability of the predicted class in percent (0 without one).
    pub confidence_percent: u8,
    /// Work spent.
    pub timing: Timing,
}

/// Softmax probability of `class` in percent, from int8 scores with the given scale.
///
/// Display only: uses micromath's approximate `exp` (a few percent off at worst),
/// which is the same code on the host and the target.
pub fn confidence_percent(scores: &[i8], class: usize, scale: f32) -> u8 {
    let Some(&top) = scores.get(class) else {
        return 0;
    };
    let sum: f32 = scores
        .iter()
        .map(|&s| micromath::F32Ext::exp(scale * (f32::from(s) - f32::from(top))))
        .sum();
    let percent = 100.0 / sum + 0.5;
    if percent >= 100.0 { 100 } else { percent as u8 }
}

/// Preprocesses `captured`, classifies it, draws the result onto `display` and
/// returns what happened. `input` receives the 28x28 model input (all zeros when no
/// object was found); `scratch` must hold `model.scratch_len()` bytes.
#[allow(clippy::too_many_arguments)]
pub fn process<'m, D, W>(
    model: &Model<'m>,
    index: usize,
    captured: &Captured<'_>,
    config: &Config,
    input: &mut [u8; PIXELS],
    scratch: &mut [i8],
    display: &mut D,
    stopwatch: &mut W,
) -> Result<Outcome<'m>, D::Error>
where
    D: DrawTarget<Color = Gray8>,
    W: Stopwatch,
{
    let mut timing = Timing::default();
    let t = stopwatch.now();
    let detection = camera::scene::preprocess_scene(&captured.frame, config, input);
    timing.preprocess = stopwatch.since(t);
    let result = match detection {
        Err(e) => Err(FrameError::Preprocess(e)),
        Ok(d) => {
            let t = stopwatch.now();
            let prediction = model.classify(input, scratch);
            timing.classify = stopwatch.since(t);
            prediction.map(|p| (d, p)).map_err(FrameError::Classify)
        }
    };
    let confidence = match &result {
        Ok((_, p)) => confidence_percent(&p.scores, p.class, p.quant.scale),
        Err(_) => 0,
    };
    let truth = captured
        .label
        .and_then(|l| model.class_names().nth(usize::from(l)));
    let mode = match &result {
        Ok((d, _)) => Some(d.mode),
        Err(e) => e.mode(),
    };
    let view = View {
        index,
        mode,
        nothing_there: result.as_ref().err().is_some_and(FrameError::nothing_there),
        frame: captured.frame,
        detection: result.as_ref().ok().map(|(d, _)| *d),
        input,
        truth,
        prediction: result.as_ref().ok().map(|(_, p)| Shown {
            class: p.class,
            name: p.name,
            scores: &p.scores,
            confidence_percent: confidence,
        }),
    };
    let t = stopwatch.now();
    display::draw_view(display, &view)?;
    timing.draw = stopwatch.since(t);
    Ok(Outcome {
        result,
        confidence_percent: confidence,
        timing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_of_clear_and_tied_scores() {
        // Scale 0.1: a lead of 100 steps is e^10, essentially certain.
        assert_eq!(confidence_percent(&[100, 0, 0], 0, 0.1), 100);
        // Two equal scores share the probability.
        let tied = confidence_percent(&[5, 5], 0, 0.1);
        assert!((48..=52).contains(&tied), "{tied}");
        assert_eq!(confidence_percent(&[5], 3, 0.1), 0);
    }

    #[test]
    fn frame_error_names() {
        let e = FrameError::Preprocess(preprocess::Error::NoObject {
            background: 200,
            threshold: 160,
            mode: Mode::Photo,
        });
        assert_eq!(e.name(), "no-object");
        assert!(e.nothing_there());
        assert_eq!(mode_name(e.mode()), "photo");
        assert!(!FrameError::Preprocess(preprocess::Error::Empty).nothing_there());
        assert_eq!(mode_name(None), "-");
        assert_eq!(
            FrameError::Preprocess(preprocess::Error::Empty).name(),
            "bad-frame"
        );
    }
}
