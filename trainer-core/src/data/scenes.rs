//! Scene kinds: a garment lying on a textured, unevenly lit surface, as an OV7675's
//! 160x120 Y plane shows it, light garments in half of the frames (even test indices)
//! and dark ones in the other half; and the same surfaces empty.
//!
//! A frame is made in reflectance, then lit, then sensed:
//!
//! - **Surface** (one family per kind): `wood` (grain: rings of a randomly warped
//!   sine along a random direction, plank seams), `fabric` (blotches: value noise of
//!   2..3 octaves, a fine weave), `paper` (low-contrast mottling and fibre noise),
//!   and, held out (never used while developing the preprocessing), `tiles` (square or
//!   oblong tiles of jittered levels, grout lines lighter or darker) and `carpet`
//!   (coarse per-pixel pile, clumps). Mean reflectance 0.20..0.50 (a mid-grey),
//!   texture contrast of the family's range.
//! - **Garment**: the test image resized to 56..104 pixels (Triangle filter), anywhere
//!   in the frame at least 2 pixels from its edge; cloth reflectance 0.80..0.97 (light)
//!   or 0.02..0.15 (dark), with a faint weave of its own; dataset value `t` mixes the
//!   surface and the cloth (`(1 - t) surface + t cloth`).
//! - **Light**: a linear fall-off across the frame (0..45 % from one side to the
//!   other, any direction), a soft bright spot (+10..60 %, radius 20..70 pixels,
//!   anywhere), vignetting (0..30 % at the corners), and, in `fabric-shadow` and in
//!   half of the held-out frames, a hard-edged cast shadow: a half-plane through the
//!   frame (light 0.35..0.75 of the rest; an edge 0..1.5 pixels soft).
//! - **Sensor**: a slight lens blur (3x3 binomial, or 5x5 in a third of the frames),
//!   an exposure that puts the surface's mean at 90..170 levels, a gain of 1..6 that
//!   scales the shot noise (variance = signal x gain / 20) and the read noise
//!   (σ = 0.6 x gain), a black level of 0..12, clipping to 0..255.
//!
//! `tools`' `photo-eval` judges the scene preprocessing (`camera::scene`) on these
//! frames made from test images; [`with_scene_crops`] gives a training set the scene
//! path's crops of its own images drawn as the development kinds (`trainer fit
//! --scene-train`).

use image::{GrayImage, Luma, imageops::FilterType};
use infer_core::rng::SplitMix64;

use anyhow::Context;

use super::photo::{CameraFrame, prepare_scene_frame};
use super::{Dataset, IMAGE_SIDE};

/// The surface families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Wood grain, planks and seams.
    Wood,
    /// Blotches and a fine weave.
    Fabric,
    /// Low-contrast mottling and fibres.
    Paper,
    /// Tiles and grout (held out).
    Tiles,
    /// Coarse pile and clumps (held out).
    Carpet,
}

/// A scene kind: its name, surface, and whether it always has a cast shadow
/// (`Some(true)`), never (`Some(false)`) or in half of the frames (`None`). The
/// held-out kinds say so in their names.
pub struct SceneKind {
    /// Its name in `photo-eval`'s tables.
    pub name: &'static str,
    /// Its surface family.
    pub surface: Surface,
    /// A cast shadow always, never, or in half of the frames (`None`).
    pub shadow: Option<bool>,
}

/// Every scene kind: three used while developing, two held out.
pub const SCENE_KINDS: [SceneKind; 5] = [
    SceneKind {
        name: "desk-wood",
        surface: Surface::Wood,
        shadow: Some(false),
    },
    SceneKind {
        name: "fabric-shadow",
        surface: Surface::Fabric,
        shadow: Some(true),
    },
    SceneKind {
        name: "paper-mixed",
        surface: Surface::Paper,
        shadow: None,
    },
    SceneKind {
        name: "tiles-held-out",
        surface: Surface::Tiles,
        shadow: None,
    },
    SceneKind {
        name: "carpet-held-out",
        surface: Surface::Carpet,
        shadow: None,
    },
];

const W: u32 = 160;
const H: u32 = 120;

fn uniform(rng: &mut SplitMix64, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Approximately standard normal: a sum of four uniforms, scaled to variance 1.
fn normal(rng: &mut SplitMix64) -> f64 {
    let sum: f64 = (0..4).map(|_| uniform(rng, -1.0, 1.0)).sum();
    sum * 0.75f64.sqrt()
}

/// Smooth value noise: random values on a lattice of `spacing` pixels, interpolated
/// with a smoothstep, in -1..1.
struct ValueNoise {
    cols: usize,
    spacing: f64,
    values: Vec<f64>,
}

impl ValueNoise {
    fn new(rng: &mut SplitMix64, spacing: f64) -> Self {
        let cols = (f64::from(W) / spacing).ceil() as usize + 2;
        let rows = (f64::from(H) / spacing).ceil() as usize + 2;
        let values = (0..cols * rows).map(|_| uniform(rng, -1.0, 1.0)).collect();
        Self {
            cols,
            spacing,
            values,
        }
    }

    /// With a spacing drawn from `lo..hi`.
    fn between(rng: &mut SplitMix64, lo: f64, hi: f64) -> Self {
        let spacing = uniform(rng, lo, hi);
        Self::new(rng, spacing)
    }

    fn at(&self, x: f64, y: f64) -> f64 {
        let (u, v) = (x / self.spacing, y / self.spacing);
        let (i, j) = (u.floor().max(0.0) as usize, v.floor().max(0.0) as usize);
        let (fu, fv) = (u - u.floor(), v - v.floor());
        let s = |t: f64| t * t * (3.0 - 2.0 * t);
        let g = |a: usize, b: usize| {
            let rows = self.values.len() / self.cols;
            self.values[b.min(rows - 1) * self.cols + a.min(self.cols - 1)]
        };
        let top = g(i, j) + (g(i + 1, j) - g(i, j)) * s(fu);
        let bottom = g(i, j + 1) + (g(i + 1, j + 1) - g(i, j + 1)) * s(fu);
        top + (bottom - top) * s(fv)
    }
}

/// A surface texture: reflectance around 1 (multiplied by the mean later).
fn texture(surface: Surface, rng: &mut SplitMix64) -> Box<dyn Fn(f64, f64) -> f64> {
    match surface {
        Surface::Wood => {
            let angle = uniform(rng, 0.0, std::f64::consts::PI);
            let (c, s) = (angle.cos(), angle.sin());
            let period = uniform(rng, 3.0, 12.0);
            let amp = uniform(rng, 0.05, 0.22);
            let warp = ValueNoise::between(rng, 15.0, 40.0);
            let warp_amp = uniform(rng, 2.0, 12.0);
            let fine = ValueNoise::new(rng, 2.0);
            let plank = uniform(rng, 25.0, 70.0);
            let seam = uniform(rng, 0.0, 0.25);
            let plank_levels: Vec<f64> = (0..16).map(|_| uniform(rng, -0.08, 0.08)).collect();
            Box::new(move |x, y| {
                let across = -x * s + y * c + 200.0;
                let phase = across + warp_amp * warp.at(x, y);
                let grain = (phase * std::f64::consts::TAU / period).sin();
                let k = (across / plank).floor();
                let level = plank_levels[(k as i64).rem_euclid(16) as usize];
                let in_plank = across - k * plank;
                let seam_dark = if in_plank < 1.0 { seam } else { 0.0 };
                1.0 + amp * grain + level + 0.03 * fine.at(x, y) - seam_dark
            })
        }
        Surface::Fabric => {
            let octaves: Vec<(ValueNoise, f64)> = (0..rng.range(2, 3))
                .map(|o| {
                    let spacing = uniform(rng, 5.0, 22.0) / (1 << o) as f64 + 2.0;
                    (ValueNoise::new(rng, spacing), uniform(rng, 0.05, 0.18))
                })
                .collect();
            let weave_period = uniform(rng, 2.0, 4.0);
            let weave = uniform(rng, 0.0, 0.06);
            Box::new(move |x, y| {
                let blotches: f64 = octaves.iter().map(|(n, a)| a * n.at(x, y)).sum();
                let w = (x * std::f64::consts::TAU / weave_period).sin()
                    * (y * std::f64::consts::TAU / weave_period).sin();
                1.0 + blotches + weave * w
            })
        }
        Surface::Paper => {
            let mottle = ValueNoise::between(rng, 10.0, 30.0);
            let fibres = ValueNoise::new(rng, 1.5);
            let (a, b) = (uniform(rng, 0.01, 0.06), uniform(rng, 0.01, 0.05));
            Box::new(move |x, y| 1.0 + a * mottle.at(x, y) + b * fibres.at(x, y))
        }
        Surface::Tiles => {
            let (tw, th) = (uniform(rng, 14.0, 45.0), uniform(rng, 14.0, 45.0));
            let (ox, oy) = (uniform(rng, 0.0, tw), uniform(rng, 0.0, th));
            let grout = uniform(rng, 1.0, 3.0);
            let grout_level = uniform(rng, -0.35, 0.25);
            let jitter = uniform(rng, 0.0, 0.12);
            let levels: Vec<f64> = (0..64).map(|_| uniform(rng, -jitter, jitter)).collect();
            let speckle = ValueNoise::new(rng, 2.0);
            let sp = uniform(rng, 0.0, 0.06);
            Box::new(move |x, y| {
                let (u, v) = ((x + ox) / tw, (y + oy) / th);
                let (i, j) = (u.floor() as i64, v.floor() as i64);
                let (fu, fv) = ((u - u.floor()) * tw, (v - v.floor()) * th);
                if fu < grout || fv < grout {
                    return 1.0 + grout_level;
                }
                let k = (i * 7 + j * 13).rem_euclid(64) as usize;
                1.0 + levels[k] + sp * speckle.at(x, y)
            })
        }
        Surface::Carpet => {
            let clumps = ValueNoise::between(rng, 4.0, 12.0);
            let ca = uniform(rng, 0.03, 0.12);
            let pile: Vec<f64> = (0..(W * H) as usize)
                .map(|_| uniform(rng, -1.0, 1.0))
                .collect();
            let pa = uniform(rng, 0.04, 0.16);
            Box::new(move |x, y| {
                let (xi, yi) = (
                    x.clamp(0.0, f64::from(W - 1)),
                    y.clamp(0.0, f64::from(H - 1)),
                );
                let p = pile[yi as usize * W as usize + xi as usize];
                1.0 + ca * clumps.at(x, y) + pa * p
            })
        }
    }
}

/// A frame of scene kind `kind`: with `garment` (light when `light`), or empty.
pub fn scene_frame(
    kind: &SceneKind,
    garment: Option<(&GrayImage, bool)>,
    rng: &mut SplitMix64,
) -> GrayImage {
    scene_frame_placed(kind, garment, rng).0
}

/// [`scene_frame`], and the square the garment's 28x28 image was drawn into (left, top,
/// side in pixels; drawn also for an empty frame).
pub fn scene_frame_placed(
    kind: &SceneKind,
    garment: Option<(&GrayImage, bool)>,
    rng: &mut SplitMix64,
) -> (GrayImage, camera::Rect) {
    let surface = texture(kind.surface, rng);
    let mean = uniform(rng, 0.2, 0.5);
    // The garment.
    let side = rng.range(56, 104) as u32;
    let left = rng.range(2, i64::from(W - side - 2)) as f64;
    let top = rng.range(2, i64::from(H - side - 2)) as f64;
    let big = garment.map(|(g, light)| {
        let cloth = if light {
            uniform(rng, 0.80, 0.97)
        } else {
            uniform(rng, 0.02, 0.15)
        };
        (
            image::imageops::resize(g, side, side, FilterType::Triangle),
            cloth,
        )
    });
    let cloth_weave = ValueNoise::between(rng, 1.5, 4.0);
    let weave_amp = uniform(rng, 0.0, 0.05);
    // The light.
    let fall_angle = uniform(rng, 0.0, std::f64::consts::TAU);
    let fall = uniform(rng, 0.0, 0.45);
    let (spot_x, spot_y) = (
        uniform(rng, 0.0, f64::from(W)),
        uniform(rng, 0.0, f64::from(H)),
    );
    let spot = uniform(rng, 0.10, 0.60);
    let spot_r = uniform(rng, 20.0, 70.0);
    let vignetting = uniform(rng, 0.0, 0.30);
    let shadow = match kind.shadow {
        Some(s) => s,
        None => rng.range(0, 1) == 1,
    };
    // A half-plane through a random point of the frame, any direction.
    let (sx, sy) = (uniform(rng, 20.0, 140.0), uniform(rng, 15.0, 105.0));
    let sa = uniform(rng, 0.0, std::f64::consts::TAU);
    let shade = uniform(rng, 0.35, 0.75);
    let soft = uniform(rng, 0.0, 1.5);
    // The sensor.
    let wide_blur = rng.range(0, 2) == 0;
    let level = uniform(rng, 90.0, 170.0);
    let gain = uniform(rng, 1.0, 6.0);
    let black = uniform(rng, 0.0, 12.0);

    let (cx, cy) = (f64::from(W) / 2.0, f64::from(H) / 2.0);
    let corner = cx * cx + cy * cy;
    let reflectance = |x: f64, y: f64| {
        let bg = mean * surface(x, y);
        let Some((big, cloth)) = &big else {
            return bg;
        };
        let (gx, gy) = (x - left, y - top);
        if gx < 0.0 || gy < 0.0 || gx >= f64::from(side) || gy >= f64::from(side) {
            return bg;
        }
        let t = f64::from(big.get_pixel(gx as u32, gy as u32).0[0]) / 255.0;
        let c = cloth * (1.0 + weave_amp * cloth_weave.at(x, y));
        bg * (1.0 - t) + c * t
    };
    let light = |x: f64, y: f64| {
        let (rx, ry) = (x - cx, y - cy);
        let along = (rx * fall_angle.cos() + ry * fall_angle.sin()) / cx.hypot(cy);
        let mut l = 1.0 - fall * (along + 1.0) / 2.0;
        let d2 = (x - spot_x).powi(2) + (y - spot_y).powi(2);
        l *= 1.0 + spot * (-d2 / (2.0 * spot_r * spot_r)).exp();
        l *= 1.0 - vignetting * (rx * rx + ry * ry) / corner;
        if shadow {
            let d = (x - sx) * sa.cos() + (y - sy) * sa.sin();
            let k = if soft > 0.05 {
                (0.5 + d / (2.0 * soft)).clamp(0.0, 1.0)
            } else if d > 0.0 {
                1.0
            } else {
                0.0
            };
            l *= 1.0 - (1.0 - shade) * k;
        }
        l
    };
    let lit: Vec<f64> = (0..H)
        .flat_map(|y| (0..W).map(move |x| (f64::from(x) + 0.5, f64::from(y) + 0.5)))
        .map(|(x, y)| reflectance(x, y) * light(x, y))
        .collect();
    let taps: &[f64] = if wide_blur {
        &[1.0, 4.0, 6.0, 4.0, 1.0]
    } else {
        &[1.0, 2.0, 1.0]
    };
    let r = (taps.len() / 2) as i64;
    let norm: f64 = taps.iter().sum::<f64>().powi(2);
    let at = |x: i64, y: i64| {
        let (x, y) = (x.clamp(0, i64::from(W) - 1), y.clamp(0, i64::from(H) - 1));
        lit[(y * i64::from(W) + x) as usize]
    };
    let scale = level / mean;
    let placed = camera::Rect {
        left: left as i32,
        top: top as i32,
        width: side,
        height: side,
    };
    let frame = GrayImage::from_fn(W, H, |x, y| {
        let (x, y) = (i64::from(x), i64::from(y));
        let mut blurred = 0.0;
        for (dy, wy) in taps.iter().enumerate() {
            for (dx, wx) in taps.iter().enumerate() {
                blurred += wx * wy * at(x + dx as i64 - r, y + dy as i64 - r);
            }
        }
        let signal = scale * blurred / norm;
        let variance = signal.max(0.0) * gain / 20.0 + (0.6 * gain).powi(2);
        let v = signal + variance.sqrt() * normal(rng) + black;
        Luma([v.round().clamp(0.0, 255.0) as u8])
    });
    (frame, placed)
}

/// The kinds a training set is drawn as ([`with_scene_crops`]): those used while
/// developing the preprocessing, never a held-out one.
pub const TRAINING_KINDS: usize = 3;

/// `set` followed by the scene path's model input (`camera::scene::preprocess_scene`)
/// of a share of its images drawn as scenes ([`drawn_ordinal`]: all of them at share 1,
/// every other one at 0.5). Image `i`, the `j`-th drawn, is drawn as development kind
/// `j % 3` ([`TRAINING_KINDS`]) with the seed `seed + i`, a light garment when `seed + j`
/// is even and a dark one when it is odd; a scene in which the path finds no garment
/// adds nothing. Returns the set and the number of such scenes. The work is spread over
/// the CPU's threads; the result does not depend on their number.
pub fn with_scene_crops(set: &Dataset, seed: u64, share: f64) -> anyhow::Result<(Dataset, usize)> {
    let n = set.len();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let chunk = n.div_ceil(threads.max(1)).max(1);
    let parts: Vec<anyhow::Result<Dataset>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let range = start..(start + chunk).min(n);
                scope.spawn(move || scene_crops(set, seed, share, range))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a scene-rendering thread panicked")))
            })
            .collect()
    });
    let mut out = Dataset {
        images: set.images.clone(),
        labels: set.labels.clone(),
    };
    for part in parts {
        let part = part?;
        out.images.extend_from_slice(&part.images);
        out.labels.extend_from_slice(&part.labels);
    }
    let drawn = (0..n)
        .filter(|&i| drawn_ordinal(i, share).is_some())
        .count();
    let missed = drawn + set.len() - out.len();
    Ok((out, missed))
}

/// Whether image `i` of a set is drawn as a scene when a share `share` (0 < share <= 1)
/// of the set is, and if so, its ordinal among the drawn images: `i` is drawn when
/// `floor((i + 1) * share)` exceeds `floor(i * share)`, which spreads the drawn images
/// evenly over the set.
pub fn drawn_ordinal(i: usize, share: f64) -> Option<usize> {
    let before = (i as f64 * share).floor();
    ((((i + 1) as f64) * share).floor() > before).then_some(before as usize)
}

/// The scene crops of images `range` of `set` (see [`with_scene_crops`]).
fn scene_crops(
    set: &Dataset,
    seed: u64,
    share: f64,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Dataset> {
    let mut crops = Dataset {
        images: Vec::new(),
        labels: Vec::new(),
    };
    let side = IMAGE_SIDE as u32;
    for i in range {
        let Some(j) = drawn_ordinal(i, share) else {
            continue;
        };
        let s = seed + i as u64;
        let mut rng = SplitMix64::new(s);
        let garment = GrayImage::from_raw(side, side, set.image(i).to_vec())
            .ok_or_else(|| anyhow::anyhow!("image {i} is not {side}x{side}"))?;
        let kind = &SCENE_KINDS[j % TRAINING_KINDS];
        let light = (seed + j as u64).is_multiple_of(2);
        let picture = scene_frame(kind, Some((&garment, light)), &mut rng);
        let frame = CameraFrame {
            width: W as usize,
            height: H as usize,
            pixels: picture.into_raw(),
        };
        let prepared =
            prepare_scene_frame(&frame).with_context(|| format!("scene of image {i}"))?;
        if let Some(input) = prepared.input() {
            crops.images.extend_from_slice(input);
            crops.labels.push(set.labels[i]);
        }
    }
    Ok(crops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::IMAGE_LEN;

    /// Six dataset-style garments: light rectangles of several sizes on black.
    fn garments() -> Dataset {
        let mut set = Dataset {
            images: Vec::new(),
            labels: Vec::new(),
        };
        for k in 0..6usize {
            let (w, h) = (10 + 2 * k, 20 - k);
            let mut img = [0u8; IMAGE_LEN];
            for y in (28 - h) / 2..(28 + h) / 2 {
                for x in (28 - w) / 2..(28 + w) / 2 {
                    img[y * IMAGE_SIDE + x] = 160 + 15 * k as u8;
                }
            }
            set.images.extend_from_slice(&img);
            set.labels.push(k as u8);
        }
        set
    }

    #[test]
    fn scene_crops_follow_the_set_repeat_and_are_model_inputs() {
        let set = garments();
        let (out, missed) = with_scene_crops(&set, 7, 1.0).unwrap();
        assert_eq!(out.len(), 2 * set.len() - missed);
        assert!(missed < set.len(), "no garment found in any scene");
        assert_eq!(out.images[..set.images.len()], set.images[..]);
        assert_eq!(out.labels[..set.len()], set.labels[..]);
        // The crops' labels are those of their images, in order.
        let crops = &out.labels[set.len()..];
        assert!(crops.windows(2).all(|w| w[0] < w[1]), "{crops:?}");
        // Each crop is stretched so that its strongest pixel is 255.
        for i in set.len()..out.len() {
            assert_eq!(out.image(i).iter().max(), Some(&255), "crop {i}");
        }
        let (again, _) = with_scene_crops(&set, 7, 1.0).unwrap();
        assert_eq!(again.images, out.images);
        let (other, _) = with_scene_crops(&set, 8, 1.0).unwrap();
        assert_ne!(other.images, out.images, "the seed changed nothing");
    }

    #[test]
    fn a_share_draws_that_share_of_the_images_spread_over_the_set() {
        let ordinals = |share: f64, n: usize| -> Vec<Option<usize>> {
            (0..n).map(|i| drawn_ordinal(i, share)).collect()
        };
        assert_eq!(ordinals(1.0, 4), [Some(0), Some(1), Some(2), Some(3)]);
        assert_eq!(ordinals(0.5, 4), [None, Some(0), None, Some(1)]);
        let drawn = |share: f64| (0..60_000).filter(move |&i| drawn_ordinal(i, share).is_some());
        assert_eq!(drawn(0.25).count(), 15_000);
        assert_eq!(drawn(0.3).count(), 18_000);
        // Within any 100 images, 0.3 draws 30 (give or take one).
        let first: Vec<usize> = drawn(0.3).take_while(|&i| i < 100).collect();
        assert!((29..=31).contains(&first.len()), "{first:?}");

        let set = garments();
        let (half, missed) = with_scene_crops(&set, 7, 0.5).unwrap();
        assert_eq!(half.len(), set.len() + set.len() / 2 - missed);
        // Images 1, 3 and 5 (labelled so) are the drawn ones.
        let crops = &half.labels[set.len()..];
        assert!(
            !crops.is_empty() && crops.iter().all(|l| l % 2 == 1),
            "{crops:?}"
        );
    }
}
