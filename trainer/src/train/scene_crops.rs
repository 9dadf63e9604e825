//! Scene-crop augmentation (`--scene-crops P`): training images changed the way the scene
//! preprocessing's crops differ from Fashion-MNIST (issue 28, part 2).
//!
//! A garment found on a textured, unevenly lit surface comes out of the preprocessing
//! light on black, but not as the dataset shows it: its box is a little too large or too
//! small and off centre, its levels are stretched from its contrast against the local
//! background (a gamma-like change of the garment's inner shading), some of the
//! surface's texture survives around it, and the sensor blurs and adds noise. Each
//! image, with probability `p`, gets all of these at random strengths:
//!
//! - **zoom and shift**: scale 0.85..1.2 (above 1 the garment gets smaller), shift up to
//!   ±2 pixels, bilinear, zero outside;
//! - **gamma**: the levels raised to a power drawn log-uniformly in 0.6..1.6;
//! - **residue**: a smooth random field (value noise at 4x4 and 10x10, bilinearly
//!   upsampled) above its median, scaled to a peak of 0..0.35, added where the image is
//!   dark (`x + r (1 - x)`);
//! - **blur**: half of the changed images get a 3x3 binomial blur;
//! - **noise**: uniform noise of standard deviation 0..0.04; then clamped to 0..1.
//!
//! Every draw comes from the augmentation's seeded generator on the host (no libtorch
//! random numbers), image by image in a fixed order, so a run repeats exactly.
//! `p` = 0 draws nothing and returns the batch unchanged.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Zoom range (the sampling grid's scale: above 1 the garment gets smaller).
pub const ZOOM: (f64, f64) = (0.85, 1.2);
/// Largest shift, in pixels of the 28x28 image.
pub const SHIFT: f64 = 2.0;
/// Gamma range (drawn log-uniformly).
pub const GAMMA: (f64, f64) = (0.6, 1.6);
/// Largest peak of the background residue.
pub const RESIDUE: f64 = 0.35;
/// Largest standard deviation of the added noise.
pub const NOISE: f64 = 0.04;
/// Side lengths of the two value-noise grids of the residue.
const FIELD: [i64; 2] = [4, 10];

/// The draws for one image.
struct Draw {
    changed: bool,
    theta: [f32; 6],
    gamma: f32,
    residue: f32,
    blur: bool,
    noise: f32,
}

fn draw(rng: &mut ChaCha8Rng, p: f64) -> Draw {
    if !rng.random_bool(p) {
        return Draw {
            changed: false,
            theta: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
            gamma: 1.0,
            residue: 0.0,
            blur: false,
            noise: 0.0,
        };
    }
    let scale = rng.random_range(ZOOM.0..ZOOM.1);
    // The grid spans -1..1 over 28 pixels: one pixel is 2/28.
    let tx = rng.random_range(-SHIFT..=SHIFT) * 2.0 / 28.0;
    let ty = rng.random_range(-SHIFT..=SHIFT) * 2.0 / 28.0;
    let gamma = rng.random_range(GAMMA.0.ln()..GAMMA.1.ln()).exp();
    let residue = rng.random_range(0.0..RESIDUE);
    let blur = rng.random_bool(0.5);
    let noise = rng.random_range(0.0..NOISE);
    Draw {
        changed: true,
        theta: [scale as f32, 0.0, tx as f32, 0.0, scale as f32, ty as f32],
        gamma: gamma as f32,
        residue: residue as f32,
        blur,
        noise: noise as f32,
    }
}

/// Applies the scene-crop changes to a batch `[B, 1, H, W]` of images in 0..1, each image
/// with probability `p` (see the module's documentation).
pub fn scene_crops(xs: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Tensor {
    if p <= 0.0 {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    let device = xs.device();
    let draws: Vec<Draw> = (0..b).map(|_| draw(rng, p)).collect();
    // The host-drawn fields: two value-noise grids per image, and the noise pattern.
    let mut fields = Vec::with_capacity(FIELD.len());
    for side in FIELD {
        let values: Vec<f32> = (0..b * side * side)
            .map(|_| rng.random_range(0.0..1.0f32))
            .collect();
        fields.push(
            Tensor::from_slice(&values)
                .to_device(device)
                .view([b, 1, side, side])
                .upsample_bilinear2d([h, w], false, None, None),
        );
    }
    // Uniform in -1..1 has standard deviation 1/sqrt(3).
    let unit: Vec<f32> = (0..b * h * w)
        .map(|_| rng.random_range(-1.0..1.0f32) * 3f32.sqrt())
        .collect();
    let per_image = |f: fn(&Draw) -> f32| {
        let v: Vec<f32> = draws.iter().map(f).collect();
        Tensor::from_slice(&v).to_device(device).view([b, 1, 1, 1])
    };
    let theta: Vec<f32> = draws.iter().flat_map(|d| d.theta).collect();
    let theta = Tensor::from_slice(&theta).to_device(device).view([b, 2, 3]);
    let grid = Tensor::affine_grid_generator(&theta, [b, 1, h, w], false);
    // Bilinear (mode 0), zeros outside (padding mode 0).
    let mut out = xs.grid_sampler(&grid, 0, 0, false).clamp(0.0, 1.0);
    out = out.pow(&per_image(|d| d.gamma));
    let field = (&fields[0] + &fields[1]) / 2.0;
    let median = field
        .view([b, h * w])
        .median_dim(1, true)
        .0
        .view([b, 1, 1, 1]);
    let bumps = (field - median).clamp_min(0.0);
    let peak = bumps.amax([2, 3], true).clamp_min(1e-6);
    let residue = bumps / peak * per_image(|d| d.residue);
    out = &out + residue * (1.0 - &out);
    let kernel = Tensor::from_slice(&[1f32, 2., 1., 2., 4., 2., 1., 2., 1.])
        .to_device(device)
        .view([1, 1, 3, 3])
        / 16.0;
    let blurred = out.conv2d(&kernel, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1);
    let blur = per_image(|d| if d.blur { 1.0 } else { 0.0 }).gt(0.5);
    out = blurred.where_self(&blur, &out);
    let unit = Tensor::from_slice(&unit)
        .to_device(device)
        .view([b, 1, h, w]);
    out = (out + unit * per_image(|d| d.noise)).clamp(0.0, 1.0);
    let changed = per_image(|d| if d.changed { 1.0 } else { 0.0 }).gt(0.5);
    out.where_self(&changed, xs).to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn batch() -> Tensor {
        tch::manual_seed(5);
        // Garment-like: a bright block on black in every image.
        let xs = Tensor::zeros([16, 1, 28, 28], tch::kind::FLOAT_CPU);
        let _ = xs.narrow(2, 6, 16).narrow(3, 8, 12).fill_(0.8);
        xs
    }

    #[test]
    fn off_draws_nothing_and_changes_nothing() {
        let xs = batch();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(scene_crops(&xs, 0.0, &mut rng).equal(&xs));
        assert_eq!(rng.get_word_pos(), 0);
    }

    #[test]
    fn seeded_and_repeatable_and_in_range() {
        let xs = batch();
        let a = scene_crops(&xs, 1.0, &mut ChaCha8Rng::seed_from_u64(7));
        let b = scene_crops(&xs, 1.0, &mut ChaCha8Rng::seed_from_u64(7));
        let c = scene_crops(&xs, 1.0, &mut ChaCha8Rng::seed_from_u64(8));
        assert!(a.equal(&b));
        assert!(!a.equal(&c));
        assert_eq!(a.size(), xs.size());
        assert!(a.min().double_value(&[]) >= 0.0);
        assert!(a.max().double_value(&[]) <= 1.0);
    }

    #[test]
    fn every_image_changes_at_p_1_and_about_half_at_p_half() {
        let xs = batch();
        let changed = |p: f64, seed: u64| {
            let out = scene_crops(&xs, p, &mut ChaCha8Rng::seed_from_u64(seed));
            (0..16).filter(|&i| !out.get(i).equal(&xs.get(i))).count()
        };
        assert_eq!(changed(1.0, 3), 16);
        let half: usize = (0..8).map(|s| changed(0.5, s)).sum();
        assert!((40..=88).contains(&half), "{half} of 128");
    }

    #[test]
    fn the_background_gets_some_residue_and_the_garment_stays_brightest() {
        let xs = batch();
        let out = scene_crops(&xs, 1.0, &mut ChaCha8Rng::seed_from_u64(11));
        // Far corners are background in every image (the block is well inside).
        let corner = out.narrow(2, 0, 4).narrow(3, 0, 4).mean(Kind::Float);
        let garment = out.narrow(2, 12, 4).narrow(3, 12, 4).mean(Kind::Float);
        assert!(corner.double_value(&[]) > 0.001, "some residue");
        assert!(garment.double_value(&[]) > 3.0 * corner.double_value(&[]));
    }
}
