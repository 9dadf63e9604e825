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

use crate::preprocess::{Config, DARK_BORDER, Detection, Error, Frame, Mode, Rect, preprocess};
use infer_core::{IMAGE_LEN as PIXELS, IMAGE_SIDE as SIDE};
use view::{Line, View};

/// Like [`preprocess`] (same arguments, same answers), with the scene path of this
/// module for every frame that is not dataset-style ([`decide_scene_mode`]); a
/// dataset-style frame goes through [`preprocess`] forced to [`Mode::Dataset`].
///
/// On error `out` is all zeros; [`Error::nothing_there`] tells "no garment" apart from
/// a frame that cannot be processed.
pub fn preprocess_scene(
    frame: &Frame<'_>,
    config: &Config,
    out: &mut [u8; PIXELS],
) -> Result<Detection, Error> {
    let mode = config
        .mode
        .unwrap_or_else(|| decide_scene_mode(frame, config));
    if mode == Mode::Dataset {
        let forced = Config {
            mode: Some(Mode::Dataset),
            ..*config
        };
        return preprocess(frame, &forced, out);
    }
    let result = scene(frame, config, out);
    if result.is_err() {
        out.fill(0);
    }
    result
}

/// The least distance from the background level of a foreground pixel.
fn threshold_distance(config: &Config, mad: u8) -> u32 {
    u32::from(config.min_contrast)
        .max(u32::from(config.noise_factor) * u32::from(mad))
        .max(1)
}

/// Border rings that spread more than this (median absolute deviation) are not
/// dataset-style: a dark desk or fabric, not the dataset's flat black.
pub const DATASET_MAX_MAD: u8 = 3;

/// Decides the picture style of `frame` the way [`preprocess_scene`] does when
/// [`Config::mode`] is `None`: the dataset style when the border ring is dark (median
/// below [`DARK_BORDER`]) and flat (MAD at most [`DATASET_MAX_MAD`]), and what is
/// lighter than it by the threshold distance either fills the picture (its box's longer
/// side at least three quarters of the frame's shorter side) or is not there at all; a
/// scene ([`Mode::Photo`]) otherwise. The decision reads the ring and the rows and
/// columns that hold the light object, so moving a garment that stays clear of the ring
/// cannot change it.
pub fn decide_scene_mode(frame: &Frame<'_>, config: &Config) -> Mode {
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
    let short = to_u32(frame.width().min(frame.height()));
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
    let (w, h) = (frame.width(), frame.height());
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
    let whole = [0, 0, frame.width() - 1, frame.height() - 1];
    let in_region = mask::bounding_box(found.region, detected)
        .ok_or(no_object)
        .and_then(|o| mask::check_size(frame, &o, config, mode).map(|()| o));
    let (object, region) = match in_region {
        Ok(object) => (object, found.region),
        Err(e) if found.region == whole => return Err(e),
        Err(_) => {
            let object = mask::bounding_box(whole, detected).ok_or(no_object)?;
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

fn to_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn to_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
