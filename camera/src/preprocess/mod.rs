//! Camera preprocessing: from a grayscale camera frame to a 28x28 model input.
//!
//! Pictures come in two styles ([`Mode`]), decided per frame by [`decide_mode`] unless
//! [`Config::mode`] forces one:
//!
//! - **Dataset**: a light garment filling a flat dark picture (a Fashion-MNIST image,
//!   maybe enlarged): the whole frame, padded to a square with the background level, is
//!   area-resized to 28x28 and its levels stretched so that the background becomes 0
//!   and the lightest pixel 255 (a Fashion-MNIST image passes unchanged).
//! - **Scene** ([`Mode::Photo`]): everything else. The garment lies anywhere on a
//!   background of any level, plain or textured (wood, fabric, paper), unevenly lit
//!   (a gradient, a bright spot, vignetting, a cast shadow), and is lighter or darker
//!   than it. One path for all of them, in stages, each its own module:
//!
//! 1. **Background** (`background`): a grid of cells over the frame (4 pixels a side
//!    in a QQVGA frame, at most 40 cells along a side), each cell's level the median of
//!    16 of its pixels. The border cells are background; a flood spreads from them over
//!    every neighbouring cell whose level is within a step of the one it comes from
//!    (the step measured on the border: 1.5 times the 90th percentile of the steps
//!    between neighbouring border cells, plus 4, at least 8 levels), so the light's slow
//!    changes and a cast shadow that reaches the border are followed and a garment's
//!    edge is not. The cells left over are filled in from around them, ring by ring: the
//!    background under the garment. Opened by one cell (so a shadow's edge, a line, is
//!    dropped), the left-over cells' largest connected region is the garment's (regions
//!    touching it join it); the sign of its cells' summed departure from the background
//!    is its polarity. The noise is the median departure of the border ring's pixels
//!    from their cells' levels.
//! 2. **Contrast view** (`view`): every pixel read as `255 - contrast`, the contrast
//!    being its departure from its cell's background level in the garment's polarity
//!    (clamped to 0..=255): the garment is dark on a background of 255, light or dark
//!    as it was.
//! 3. **Mask and box** (`mask`): in the garment's region (widened by two cells), a pixel
//!    is foreground when its contrast and the mean contrast of its 3x3 neighbourhood
//!    reach `max(min_contrast, noise_factor * noise)`; the box spans the rows, then the
//!    columns, holding a run of at least `min_run` foreground pixels; a box whose longer
//!    side is below `min_side_percent` of the frame's shorter side is a speck. The box
//!    then grows, side by side, over the adjoining rows and columns that hold a run of
//!    pixels with a quarter of the object's peak contrast (its strongest 3x3 block; at
//!    least half the detection's, at most all of it), within the region.
//! 4. **Resample** (`resample`): a square crop centred on the box (its longer side plus
//!    an optional margin; outside the frame counts as background), area-averaged to
//!    28x28 (every source pixel weighted by its exact overlap, counted in 1/28 pixel
//!    units), the contrast less a floor of a quarter of step 3's growth contrast scaled
//!    so that the strongest averaged pixel becomes 255 and the background 0: the
//!    garment light on black from its contrast against the local background, as the
//!    dataset shows it, whatever the absolute levels.
//!
//! A frame without a garment is answered with an error for which
//! [`Error::nothing_there`] is true: every cell is background, nothing in the region
//! reaches the threshold, or what does is a speck. A cast shadow's edge alone is a line
//! of cells that the opening drops.
//!
//! Work is bounded: one pass over the frame for the cells' samples, a few passes over a
//! grid of at most 1,600 cells, then the row and column scans of the region and the
//! resize of the crop: about 1.3 million instructions a QQVGA frame on the Cortex-M4
//! (`firmware/README.md`); the grid and its queues take about 10 KiB of stack. Moving a
//! garment by whole cells changes nothing, nor, on a plain background, moving a garment
//! of a few cells by any number of pixels (property tests).
//!
//! No float, no allocation, no panic: every input size is either processed or answered
//! with an [`Error`].

mod background;
mod mask;
mod resample;
mod view;

use core::fmt;

pub use background::BORDER;
use view::{Line, View};

use infer_core::{IMAGE_LEN as PIXELS, IMAGE_SIDE as SIDE};

/// Width of a QQVGA frame, the size the sample frames use.
pub const QQVGA_WIDTH: usize = 160;
/// Height of a QQVGA frame.
pub const QQVGA_HEIGHT: usize = 120;
/// Largest accepted frame width or height; keeps every intermediate sum in range.
pub const MAX_FRAME_SIDE: usize = 4096;

/// Why a frame could not be turned into a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The frame has no pixels (zero width or height).
    Empty,
    /// The pixel buffer's length is not `width * height`.
    SizeMismatch {
        /// `width * height`.
        expected: usize,
        /// The buffer's length.
        actual: usize,
    },
    /// Width or height is larger than [`MAX_FRAME_SIDE`].
    TooLarge {
        /// The frame's width.
        width: usize,
        /// The frame's height.
        height: usize,
    },
    /// The background is too light for a light object to stand out against it (dataset
    /// style; a scene is never answered so, as its garment may be light or dark):
    /// nothing there.
    NoContrast {
        /// The estimated background level.
        background: u8,
        /// The style the frame was taken for.
        mode: Mode,
    },
    /// Nothing in the frame stands out from the background by the threshold (scene), or
    /// is lighter than it (dataset style): nothing there.
    NoObject {
        /// The estimated background level (a scene: 255, that of its contrast view).
        background: u8,
        /// Pixels at or above this level count as foreground (dataset style); a scene's
        /// pixels at or below it in the contrast view, `255 - contrast`.
        threshold: u8,
        /// The style the frame was taken for.
        mode: Mode,
    },
    /// What stands out is too small to be a garment (a speck): nothing there.
    TooSmall {
        /// The longer side of the object's box, in pixels.
        side: u32,
        /// The least longer side of a garment in this frame, in pixels.
        min_side: u32,
        /// The style the frame was taken for.
        mode: Mode,
    },
}

impl Error {
    /// True for the answers "no garment in this frame" ([`NoContrast`](Self::NoContrast),
    /// [`NoObject`](Self::NoObject), [`TooSmall`](Self::TooSmall)); false for frames that
    /// cannot be processed at all (empty, wrong size, too large).
    pub fn nothing_there(&self) -> bool {
        matches!(
            self,
            Self::NoContrast { .. } | Self::NoObject { .. } | Self::TooSmall { .. }
        )
    }

    /// The style the frame was taken for, when preprocessing got that far.
    pub fn mode(&self) -> Option<Mode> {
        match *self {
            Self::NoContrast { mode, .. }
            | Self::NoObject { mode, .. }
            | Self::TooSmall { mode, .. } => Some(mode),
            _ => None,
        }
    }
}

/// How a picture shows its garment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Like the dataset: a light garment on a dark background, filling the picture.
    Dataset,
    /// A photo or camera scene: a garment lighter or darker than a background of any
    /// level, texture and lighting, anywhere in the frame (named `photo` as before).
    Photo,
}

impl Mode {
    /// The lowercase name (`dataset`, `photo`), as logged and printed.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dataset => "dataset",
            Self::Photo => "photo",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Empty => write!(f, "the frame is empty"),
            Error::SizeMismatch { expected, actual } => {
                write!(f, "the frame needs {expected} pixels but has {actual}")
            }
            Error::TooLarge { width, height } => write!(
                f,
                "a {width}x{height} frame is larger than {MAX_FRAME_SIDE} pixels on a side"
            ),
            Error::NoContrast {
                background,
                mode: Mode::Photo,
            } => write!(
                f,
                "nothing there: the background (level {background}) is too dark for a photo"
            ),
            Error::NoContrast {
                background,
                mode: Mode::Dataset,
            } => write!(
                f,
                "nothing there: the background (level {background}) is too light for a dataset-style picture"
            ),
            Error::NoObject {
                threshold,
                mode: Mode::Photo,
                ..
            } => write!(
                f,
                "nothing there: nothing stands out from the background (by {} levels)",
                255 - threshold
            ),
            Error::NoObject {
                background,
                threshold,
                mode: Mode::Dataset,
            } => write!(
                f,
                "nothing there: no object lighter than the background (level {background}; foreground at or above {threshold})"
            ),
            Error::TooSmall {
                side,
                min_side,
                mode: _,
            } => write!(
                f,
                "nothing there: the only object is a speck ({side} pixels, a garment needs {min_side})"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// A grayscale frame (one byte per pixel, row-major, 255 = white) borrowed from a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pixels: &'a [u8],
    width: usize,
    height: usize,
}

impl<'a> Frame<'a> {
    /// Checks that `pixels` holds exactly `width * height` bytes and that neither side
    /// is zero or larger than [`MAX_FRAME_SIDE`].
    pub fn new(pixels: &'a [u8], width: usize, height: usize) -> Result<Self, Error> {
        if width == 0 || height == 0 {
            return Err(Error::Empty);
        }
        if width > MAX_FRAME_SIDE || height > MAX_FRAME_SIDE {
            return Err(Error::TooLarge { width, height });
        }
        // Both sides are at most 4096, so the product fits even a 32-bit usize.
        let expected = width * height;
        if pixels.len() != expected {
            return Err(Error::SizeMismatch {
                expected,
                actual: pixels.len(),
            });
        }
        Ok(Self {
            pixels,
            width,
            height,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &'a [u8] {
        self.pixels
    }

    /// One row of pixels; empty when `y` is out of range.
    fn row(&self, y: usize) -> &'a [u8] {
        let start = y.saturating_mul(self.width);
        self.pixels
            .get(start..start.saturating_add(self.width))
            .unwrap_or(&[])
    }
}

/// Tuning of [`preprocess`]; [`Config::default`] suits the sample frames, pictures and
/// camera scenes of every kind `photo-eval` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Least contrast (levels away from the background) of a foreground pixel.
    pub min_contrast: u8,
    /// The threshold distance is at least this many times the noise: the border ring's
    /// median absolute deviation (dataset style; about 0.67 standard deviations of
    /// Gaussian noise), or its pixels' median departure from the background model
    /// (scene).
    pub noise_factor: u8,
    /// A row or column is part of the object when it holds a run of at least this many
    /// consecutive foreground pixels (0 is treated as 1).
    pub min_run: u16,
    /// Margin added on each side of the object's longer side, in percent of that side.
    /// Fashion-MNIST garments touch the image edge along their longer side, hence 0.
    pub margin_percent: u8,
    /// The object's longer side must be at least this percentage of the frame's shorter
    /// side; anything smaller is a speck and the frame has nothing there.
    pub min_side_percent: u8,
    /// The picture style; `None` decides it per frame ([`decide_mode`]).
    pub mode: Option<Mode>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            min_contrast: 40,
            noise_factor: 6,
            min_run: 2,
            margin_percent: 0,
            min_side_percent: 15,
            mode: None,
        }
    }
}

/// An axis-aligned box in frame coordinates; `left`/`top` may be negative and the box
/// may reach past the frame (the crop square does when the object is near an edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rect {
    /// Leftmost column.
    pub left: i32,
    /// Topmost row.
    pub top: i32,
    /// Width in pixels (at least 1).
    pub width: u32,
    /// Height in pixels (at least 1).
    pub height: u32,
}

/// What [`preprocess`] found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Detection {
    /// The picture style the frame was taken for.
    pub mode: Mode,
    /// The background level: in the dataset style the median of the border ring; in a
    /// scene 255, the background of the contrast view (step 2 of the
    /// [module documentation](self)), whatever the frame's own levels.
    pub background: u8,
    /// Dataset style: pixels at or above this level were the object. Scene: the
    /// contrast view's level the box finally grew to (step 3), `255 - contrast`.
    pub threshold: u8,
    /// The object's bounding box, inside the frame.
    pub object: Rect,
    /// The square that was resized to 28x28: around the object (photo style) or around
    /// the whole frame (dataset style).
    pub crop: Rect,
}

/// Turns a frame into a 28x28 model input in dataset convention, written to `out`:
/// a scene is cropped around the garment and its contrast against the local background
/// becomes the level (0 = background, 255 = the strongest part of the garment); a
/// dataset-style frame is resized whole.
///
/// On error `out` is all zeros; [`Error::nothing_there`] tells "no garment" apart from
/// a frame that cannot be processed.
pub fn preprocess(
    frame: &Frame<'_>,
    config: &Config,
    out: &mut [u8; PIXELS],
) -> Result<Detection, Error> {
    let result = preprocess_inner(frame, config, out);
    if result.is_err() {
        out.fill(0);
    }
    result
}

fn preprocess_inner(
    frame: &Frame<'_>,
    config: &Config,
    out: &mut [u8; PIXELS],
) -> Result<Detection, Error> {
    let (background, mad) = background::ring_level(frame);
    let distance = threshold_distance(config, mad);
    let mode = config
        .mode
        .unwrap_or_else(|| decide(frame, config, background, mad));
    match mode {
        Mode::Photo => scene(frame, config, out),
        Mode::Dataset => dataset(frame, config, background, distance, out),
    }
}

/// The least distance from the background level of a foreground pixel.
fn threshold_distance(config: &Config, mad: u8) -> u32 {
    u32::from(config.min_contrast)
        .max(u32::from(config.noise_factor) * u32::from(mad))
        .max(1)
}

/// Border medians below this are dark: such a frame may be dataset-style.
pub const DARK_BORDER: u8 = 96;

/// Border rings that spread more than this (median absolute deviation) are not
/// dataset-style: a dark desk or fabric, not the dataset's flat black.
pub const DATASET_MAX_MAD: u8 = 3;

/// Decides the picture style of `frame` the way [`preprocess`] does when
/// [`Config::mode`] is `None`: the dataset style when the border ring is dark (median
/// below [`DARK_BORDER`]) and flat (MAD at most [`DATASET_MAX_MAD`]), and what is
/// lighter than it by the threshold distance either fills the picture (its box's longer
/// side at least three quarters of the frame's shorter side) or is not there at all; a
/// scene ([`Mode::Photo`]) otherwise. The decision reads the ring and the rows and
/// columns that hold the light object, so moving a garment that stays clear of the ring
/// cannot change it.
pub fn decide_mode(frame: &Frame<'_>, config: &Config) -> Mode {
    let (background, mad) = background::ring_level(frame);
    decide(frame, config, background, mad)
}

fn decide(frame: &Frame<'_>, config: &Config, background: u8, mad: u8) -> Mode {
    if background >= DARK_BORDER || mad > DATASET_MAX_MAD {
        return Mode::Photo;
    }
    let distance = threshold_distance(config, mad);
    let Some(box_) = light_box(frame, config, background, distance) else {
        return Mode::Dataset;
    };
    let short = to_u32(frame.width.min(frame.height));
    if 4 * box_.width.max(box_.height) >= 3 * short {
        Mode::Dataset
    } else {
        Mode::Photo
    }
}

/// The box of what is lighter than `background` by `distance` (dataset style), if any.
fn light_box(frame: &Frame<'_>, config: &Config, background: u8, distance: u32) -> Option<Rect> {
    let threshold = u8::try_from(u32::from(background) + distance).ok()?;
    let view = View {
        frame: *frame,
        contrast: None,
    };
    let (w, h) = (frame.width, frame.height);
    let min_run = config.min_run.max(1);
    mask::bounding_box([0, 0, w - 1, h - 1], |line| {
        view.line_has_run(line, min_run, |_, p| p >= threshold)
    })
}

/// A scene (the photo style): the background model, the garment's region and polarity
/// in it, then in the contrast view (the garment dark on 255) the mask, the box, the
/// crop, the resize and the levels.
fn scene(frame: &Frame<'_>, config: &Config, out: &mut [u8; PIXELS]) -> Result<Detection, Error> {
    let mode = Mode::Photo;
    let (reference, _) = background::ring_level(frame);
    let (grid, found) = background::Grid::estimate(frame, reference);
    let noise = background::ring_noise(frame, &grid);
    let distance = threshold_distance(config, noise.div_ceil(2)).min(255);
    // The contrast view's background is 255; `distance <= 255`.
    let detect = (255 - distance) as u8;
    let no_object = Error::NoObject {
        background: 255,
        threshold: detect,
        mode,
    };
    let found = found.ok_or(no_object)?;
    let view = View {
        frame: *frame,
        contrast: Some(view::Contrast {
            grid: &grid,
            light: found.light,
        }),
    };
    let min_run = config.min_run.max(1);
    let detected = |line: Line| {
        view.line_has_run(line, min_run, |pos, p| {
            let (x, y) = line.point(pos);
            view.dark(x, y, p, detect)
        })
    };
    // The region first; when it holds no garment, the whole frame.
    let whole = [0, 0, frame.width - 1, frame.height - 1];
    let in_region = mask::bounding_box(found.region, &detected)
        .ok_or(no_object)
        .and_then(|o| mask::check_size(frame, &o, config, mode).map(|()| o));
    let (object, region) = match in_region {
        Ok(object) => (object, found.region),
        Err(e) if found.region == whole => return Err(e),
        Err(_) => {
            let object = mask::bounding_box(whole, &detected).ok_or(no_object)?;
            mask::check_size(frame, &object, config, mode)?;
            (object, whole)
        }
    };
    // Follow the object's contrast: a quarter of its peak, between half the detection
    // distance and all of it.
    let peak = mask::peak_darkness(&view, &object, 255);
    let follow = (peak / 4).max(distance / 2).max(1).min(distance);
    let threshold = (255 - follow) as u8;
    let adjoining = |line: Line| view.line_has_run(line, min_run, |_, p| p <= threshold);
    let object = mask::grow(object, region, adjoining);
    let crop = resample::square_around(&object, config.margin_percent);
    resample::resize_area(&view, &crop, 255, out);
    // Averaged contrast can fall below the floor when the object is very thin.
    if !resample::invert_and_stretch(out, 255, follow / 4) {
        return Err(no_object);
    }
    Ok(Detection {
        mode,
        background: 255,
        threshold,
        object,
        crop,
    })
}

/// The dataset style: check that a light object is there, then resize the whole frame
/// (padded to a square with the background level) as it is.
fn dataset(
    frame: &Frame<'_>,
    config: &Config,
    background: u8,
    distance: u32,
    out: &mut [u8; PIXELS],
) -> Result<Detection, Error> {
    let mode = Mode::Dataset;
    let Ok(threshold) = u8::try_from(u32::from(background) + distance) else {
        return Err(Error::NoContrast { background, mode });
    };
    let object = light_box(frame, config, background, distance).ok_or(Error::NoObject {
        background,
        threshold,
        mode,
    })?;
    mask::check_size(frame, &object, config, mode)?;
    let (w, h) = (to_u32(frame.width), to_u32(frame.height));
    let side = w.max(h);
    // Centred: the padding is split evenly, the odd pixel going right or down.
    let crop = Rect {
        left: -(((side - w) / 2) as i32),
        top: -(((side - h) / 2) as i32),
        width: side,
        height: side,
    };
    let view = View {
        frame: *frame,
        contrast: None,
    };
    resample::resize_area(&view, &crop, background, out);
    resample::stretch_light(out, background);
    Ok(Detection {
        mode,
        background,
        threshold,
        object,
        crop,
    })
}

fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
