//! Experimental scene preprocessing ([`preprocess_scene`]): like [`crate::preprocess()`],
//! for a garment lighter or darker than a background of any level, plain or textured
//! (wood, fabric, paper), unevenly lit (a gradient, a bright spot, vignetting, a cast
//! shadow).
//!
//! A frame whose border ring is dark and flat (median below [`DARK_BORDER`], MAD at most
//! [`DATASET_MAX_MAD`]) and whose light object fills it is dataset-style and goes to
//! [`crate::preprocess()`]; every other frame is a scene ([`Mode::Photo`]), read in
//! stages, each its own module:
//!
//! 1. **Background** (`background`): a grid of cells over the frame (4 pixels a side
//!    in a QQVGA frame, at most 40 cells along a side), each cell's level the median of
//!    16 of its pixels (four 4-pixel cells at a time, lane by lane in a word: `lanes`). The flood reads the cells averaged over 3x3 when that cuts the
//!    border's step (below) by a third or more (a texture finer than the cells, such
//!    as grain), else the cells as they are (sharper garment edges). The flood's seeds are the border cells within a step of the
//!    median of the 17 border cells around them (so a garment touching the border is no
//!    seed); the step is 1.5 times the 75th percentile of the steps between
//!    neighbouring border cells, plus 4, at least 8 levels. The flood carries a
//!    background level: a seed's own; a neighbour joins when its level is within the
//!    step of the carried one, scaled to the carried level (a relative step, so that a
//!    shadow or a falloff counts as the same change), and carries a level an eighth of
//!    the way from the one it came with to its own. A joined cell's background is the
//!    carried level; the cells left over are filled in from around them, ring by ring,
//!    then smoothed by two sweeps in which each takes its neighbours' mean.
//!    Opened by one cell (so a shadow's edge, a line, is dropped), the left-over cells'
//!    largest connected region, widened by two cells, is where the garment is looked
//!    for first (other regions join it); the sign of its cells' summed departure from
//!    the background is its polarity. When the flood took in every cell, the whole
//!    frame is searched, the polarity that of all cells' summed departure. The noise is
//!    the median departure of the border ring's pixels from their cells' background.
//! 2. **Contrast view** (`view`): every pixel read as `255 - contrast`, the contrast
//!    being its departure from its cell's background in the garment's polarity, scaled
//!    by the border's median over the cell's background (as if the background were lit
//!    evenly) and clamped to 0..=255: the garment is dark on a background of 255, light
//!    or dark as it was.
//! 3. **Mask and box** (`mask`): in the garment's region (or the whole frame when the
//!    region holds none), a pixel
//!    is foreground when its contrast and the mean contrast of its 3x3 neighbourhood
//!    reach `max(min_contrast, noise_factor * noise / 2)`, `min_contrast` scaled down
//!    in proportion when the border's median is below 100 (a dim scene: `DIM_LEVEL`)
//!    (in the region, seven eighths of it: `REGION_DISTANCE_EIGHTHS`); the box spans
//!    the rows, then the
//!    columns, holding a run of at least `min_run` foreground pixels; a box whose longer
//!    side is below `min_side_percent` of the frame's shorter side is a speck. The box
//!    then grows, side by side, over the adjoining rows and columns that hold a run of
//!    pixels with a quarter of the object's peak contrast (its strongest 3x3 block; at
//!    least half the detection's, at most all of it), within the region.
//! 4. **Resample** (`resample`): a square crop centred on the box (its longer side plus
//!    an optional margin; outside the frame counts as background), area-averaged to
//!    28x28 (every source pixel weighted by its exact overlap, counted in 1/28 pixel
//!    units), the contrast less a floor of half of step 3's growth contrast scaled
//!    so that the strongest averaged pixel becomes 255 and the background 0: the
//!    garment light on black from its contrast against the local background, as the
//!    dataset shows it, whatever the absolute levels.
//!
//! A frame without a garment is answered with an error for which
//! [`Error::nothing_there`] is true: every cell is background and nothing departs from
//! it, nothing in the region or the frame reaches the threshold, or what does is a
//! speck. A cast shadow's edge alone is a line of cells that the opening drops.
//!
//! Work is bounded: one pass over the frame for the cells' samples, a few passes over a
//! grid of at most 1,600 cells, then the row and column scans of the region (or of the
//! whole frame, when the region holds no garment) and the resize of the crop; the grid
//! and its queues take about 16 KiB of stack (the figure from before the third round of
//! issue 28, which added up to about 4 KiB of row buffers and queues). The firmware
//! runs this path on every frame; `fw-qemu --example scene-cost` measures it alone and
//! checks it against the host.
//!
//! **Status: the default, short of issue 28's targets.** With the default model
//! (`mcu-scene`, trained on its crops) it answers 75 to 85 % of `photo-eval`'s scene
//! kinds right (the earlier [`crate::preprocess()`] got 36 and 18 % of desk and fabric
//! scenes when issue 28 was filed) and keeps every earlier kind at 91.8 % or more
//! (`docs/photos.md`). Its
//! cost on the Cortex-M4 is about 1.40 M instructions per QQVGA frame on average
//! (`fw-qemu --example scene-cost`), at most 1.91 M on 40 frames, below the issue's
//! 2 M (with feature `arm-dsp`, as the firmware builds it: the cells' medians use the
//! DSP instructions). Known failure, kept as an ignored test: a ramp from black to white
//! across a small frame is taken for a garment.
//!
//! No float, no allocation, no panic: every input size is either processed or answered
//! with an [`Error`].

mod background;
mod lanes;
mod mask;
mod resample;
mod view;

use crate::preprocess::{
    Config, DARK_BORDER, Detection, Error, Frame, Mode, Rect, preprocess, to_u32,
};
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

/// A diagnostic, not a preprocessing: the model input that [`preprocess_scene`] would
/// give for `frame` (a scene) if its box search had chosen the square `crop` and the
/// polarity `light` (a light garment), both known from outside (a generator's true
/// placement): the same background model, contrast view, resize and levels, without
/// the mask and the box search. It tells the loss of the box search apart from that of
/// the background model. Returns false, with `out` all zeros, when nothing in the crop
/// stands out.
#[doc(hidden)]
pub fn scene_input_for_crop(
    frame: &Frame<'_>,
    config: &Config,
    crop: &Rect,
    light: bool,
    out: &mut [u8; PIXELS],
) -> bool {
    let (reference, _) = background::ring_level(frame);
    let (grid, _) = background::Grid::estimate(frame, reference);
    let noise = background::ring_noise(frame, &grid);
    let distance = scene_distance(config, noise.div_ceil(2), reference).min(255);
    let view = View {
        frame: *frame,
        contrast: Some(view::Contrast { grid: &grid, light }),
    };
    // The crop within the frame, for the peak contrast.
    let (w, h) = (to_i64(frame.width()), to_i64(frame.height()));
    let (l, t) = (i64::from(crop.left).max(0), i64::from(crop.top).max(0));
    let r = (i64::from(crop.left) + i64::from(crop.width)).min(w);
    let b = (i64::from(crop.top) + i64::from(crop.height)).min(h);
    let inside = (r > l && b > t).then(|| Rect {
        left: l as i32,
        top: t as i32,
        width: (r - l) as u32,
        height: (b - t) as u32,
    });
    let peak = inside.map_or(0, |o| mask::peak_darkness(&view, &o, 255));
    let follow = (peak / 4).max(distance / 2).max(1).min(distance);
    resample::resize_area(&view, crop, 255, out);
    let ok = resample::invert_and_stretch(out, 255, follow / 2);
    if !ok {
        out.fill(0);
    }
    ok
}

fn to_i64(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The least distance from the background level of a foreground pixel.
fn threshold_distance(config: &Config, mad: u8) -> u32 {
    u32::from(config.min_contrast)
        .max(u32::from(config.noise_factor) * u32::from(mad))
        .max(1)
}

/// A scene whose border ring is dimmer than this level (a dim room, a short exposure)
/// has the floor of its detection distance, [`Config::min_contrast`], lowered in
/// proportion: a garment's contrast against the surface it lies on scales with the
/// light on both, so in half the light it departs half as far. The noise term is
/// measured in the frame and not scaled. 100 answered "no garment found" for 1..8 % fewer
/// of `photo-eval`'s scene garments, rejecting as many empty scenes of the development
/// kinds and 0.5..1 % fewer of the held-out ones; 128 and 160 found more still but let
/// 6..15 % more empty fabric scenes through (`docs/photos.md`).
const DIM_LEVEL: u32 = 100;

/// The least distance from the background of a foreground pixel in a scene whose
/// border ring's median is `reference`: [`threshold_distance`], its floor lowered in a
/// scene dimmer than [`DIM_LEVEL`].
fn scene_distance(config: &Config, mad: u8, reference: u8) -> u32 {
    let light = u32::from(reference).clamp(1, DIM_LEVEL);
    (u32::from(config.min_contrast) * light / DIM_LEVEL)
        .max(u32::from(config.noise_factor) * u32::from(mad))
        .max(1)
}

/// Inside the garment's region (cells the flood did not reach: they already depart
/// from the background), a pixel is foreground at this many eighths of the detection
/// distance; elsewhere at all of it. Seven eighths found a garment in 2..8 % more of
/// `photo-eval`'s scene frames with as many empty scenes rejected; six eighths in 4..8 %
/// more, but rejected 0.5..1.5 % fewer empty scenes (`docs/photos.md`).
const REGION_DISTANCE_EIGHTHS: u32 = 7;

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
    let mad = noise.div_ceil(2);
    // The whole frame is searched at the full distance, the garment's region at a
    // dim scene's nearer one (which, over the whole frame, would cost a frame of dark
    // tiles 2.13 M instructions). The contrast view's background is 255; both
    // distances are at most 255.
    let distance = threshold_distance(config, mad).min(255);
    let region_distance = scene_distance(config, mad, reference).min(255);
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
    let detected_at = |detect: u8| {
        move |line: Line| {
            view.line_has_run_at_most(line, min_run, detect, |pos, p| {
                let (x, y) = line.point(pos);
                view.dark(x, y, p, detect)
            })
        }
    };
    let detected = detected_at(detect);
    // The region first, at the nearer distance its cells earned; when it holds no
    // garment, the whole frame.
    let whole = [0, 0, frame.width() - 1, frame.height() - 1];
    let region_detect = if found.region == whole {
        detect
    } else {
        (255 - region_distance * REGION_DISTANCE_EIGHTHS / 8) as u8
    };
    let in_region = mask::bounding_box(found.region, detected_at(region_detect))
        .ok_or(no_object)
        .and_then(|o| mask::check_size(frame, &o, config, mode).map(|()| o));
    let (object, region, distance) = match in_region {
        Ok(object) => (object, found.region, region_distance),
        Err(e) if found.region == whole => return Err(e),
        Err(_) => {
            let object = mask::bounding_box(whole, detected).ok_or(no_object)?;
            mask::check_size(frame, &object, config, mode)?;
            (object, whole, distance)
        }
    };
    // Follow the object's contrast: a quarter of its peak, between half the detection
    // distance and all of it.
    let peak = mask::peak_darkness(&view, &object, 255);
    let follow = (peak / 4).max(distance / 2).max(1).min(distance);
    let threshold = (255 - follow) as u8;
    let adjoining = |line: Line| view.line_has_run_at_most(line, min_run, threshold, |_, _| true);
    let object = mask::grow(object, region, adjoining);
    let crop = resample::square_around(&object, config.margin_percent);
    resample::resize_area(&view, &crop, 255, out);
    // Averaged contrast can fall below the floor when the object is very thin.
    if !resample::invert_and_stretch(out, 255, follow / 2) {
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

#[cfg(test)]
mod tests;
