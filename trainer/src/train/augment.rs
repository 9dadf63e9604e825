//! Augmentation of a batch: random shifts, flips and erasing.

use rand_chacha::ChaCha8Rng;
use tch::Tensor;

use crate::train::config::Augment;

/// Random shifts (zero fill) and left-right flips of a batch `[B, 1, H, W]`.
///
/// Each image is flipped with probability 1/2 and shifted by `dy`, `dx` drawn
/// uniformly from `-shift..=shift` (uncovered pixels are 0). The draws come from `rng`
/// in a fixed order (every image's flip, then each image's `dy` and `dx`), and the
/// whole batch is moved with one zero pad and one `gather` whose source indices are
/// computed here: three tensor operations per batch, whatever its size (the first
/// version narrowed and stacked every image: 3 operations per image). The result is
/// exactly the first version's (a unit test keeps it as the oracle).
pub fn augment(xs: &Tensor, aug: Augment, rng: &mut ChaCha8Rng) -> Tensor {
    augment_with_flips(xs, aug, None, rng)
}

/// [`augment`], with each image's flip given (`Some`, one per image: no flips are
/// drawn from `rng`) or drawn as [`augment`] draws them (`None`).
pub fn augment_with_flips(
    xs: &Tensor,
    aug: Augment,
    flips: Option<&[bool]>,
    rng: &mut ChaCha8Rng,
) -> Tensor {
    use rand::Rng;
    if aug.is_off() {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    let flips: Vec<bool> = match flips {
        Some(given) => {
            assert_eq!(given.len() as i64, b, "one flip per image");
            given.to_vec()
        }
        None if aug.flip => (0..b).map(|_| rng.random_bool(0.5)).collect(),
        None => vec![false; b as usize],
    };
    let s = aug.shift;
    let (ph, pw) = (h + 2 * s, w + 2 * s);
    let mut index = Vec::with_capacity((b * h * w) as usize);
    for &flip in &flips {
        let (dy, dx) = if s > 0 {
            (rng.random_range(0..=2 * s), rng.random_range(0..=2 * s))
        } else {
            (0, 0)
        };
        // Output pixel (y, x) is padded pixel (y + dy, x + dx) of the image, or of its
        // mirror image: (y + dy, pw - 1 - (x + dx)) of the unflipped one.
        for y in 0..h {
            let row = (y + dy) * pw;
            for x in 0..w {
                let col = if flip { pw - 1 - (x + dx) } else { x + dx };
                index.push(row + col);
            }
        }
    }
    let padded = if s > 0 {
        xs.constant_pad_nd([s, s, s, s])
    } else {
        xs.shallow_clone()
    };
    let index = Tensor::from_slice(&index)
        .to_device(xs.device())
        .view([b, h * w]);
    padded
        .reshape([b, ph * pw])
        .gather(1, &index, false)
        .view([b, 1, h, w])
}

/// Whether training image `index` is mirrored in `epoch` (1-based) under alternating
/// flips (`--flip alternate`): a coin of the image's own in the first epoch (a hash of
/// `seed` and `index`, so no generator state is needed and a resumed run agrees), the
/// opposite of the previous epoch's choice after.
pub fn alternate_flip(seed: u64, index: i64, epoch: usize) -> bool {
    // SplitMix64's finaliser (Steele et al., 2014) as the hash.
    let mut z = seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z & 1 == 1) ^ epoch.is_multiple_of(2)
}

/// The area of a random-erasing rectangle, as a fraction of the image (Zhong et al.,
/// "Random erasing data augmentation", 2020, and torchvision's `RandomErasing`).
pub const ERASE_AREA: (f64, f64) = (0.02, 0.33);
/// The aspect ratio (height / width) of a random-erasing rectangle, drawn log-uniformly.
pub const ERASE_ASPECT: (f64, f64) = (0.3, 3.3);

/// Random erasing of a batch `[B, 1, H, W]`: each image, with probability `p`, gets one
/// rectangle set to 0 (the background of Fashion-MNIST, as the shifts' fill).
///
/// A rectangle's area is drawn uniformly from [`ERASE_AREA`] of the image and its
/// aspect ratio log-uniformly from [`ERASE_ASPECT`]; its height and width are rounded,
/// and a rectangle that does not fit is drawn again, at most 10 times (then the image
/// is left as it is), as torchvision's `RandomErasing` does; its corner is uniform
/// among the places where it fits. The draws come from `rng`, image by image (the
/// coin, then the rectangle's area, aspect, row and column); `p` = 0 draws nothing and
/// returns `xs`. The rectangles are drawn into a 0/1 mask on the host and applied with
/// one multiplication, whatever the batch size.
pub fn erase(xs: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Tensor {
    if p <= 0.0 {
        return xs.shallow_clone();
    }
    let size = xs.size();
    let (b, h, w) = (size[0], size[2], size[3]);
    let mut mask = vec![1f32; (b * h * w) as usize];
    for image in mask.chunks_exact_mut((h * w) as usize) {
        if let Some((top, left, eh, ew)) = erase_rectangle(h, w, p, rng) {
            for row in image.chunks_exact_mut(w as usize).skip(top).take(eh) {
                row[left..left + ew].fill(0.0);
            }
        }
    }
    let mask = Tensor::from_slice(&mask)
        .to_device(xs.device())
        .view([b, 1, h, w]);
    xs * mask
}

/// The rectangle erased from one `h` x `w` image (row, column, height, width), if any:
/// the draws of [`erase`] for one image.
pub fn erase_rectangle(
    h: i64,
    w: i64,
    p: f64,
    rng: &mut ChaCha8Rng,
) -> Option<(usize, usize, usize, usize)> {
    use rand::Rng;
    if !rng.random_bool(p) {
        return None;
    }
    let area = (h * w) as f64;
    let (lo, hi) = (ERASE_ASPECT.0.ln(), ERASE_ASPECT.1.ln());
    for _ in 0..10 {
        let target = area * rng.random_range(ERASE_AREA.0..ERASE_AREA.1);
        let aspect = rng.random_range(lo..hi).exp();
        let eh = (target * aspect).sqrt().round() as i64;
        let ew = (target / aspect).sqrt().round() as i64;
        if !(eh >= 1 && ew >= 1 && eh < h && ew < w) {
            continue;
        }
        let top = rng.random_range(0..=h - eh);
        let left = rng.random_range(0..=w - ew);
        return Some((top as usize, left as usize, eh as usize, ew as usize));
    }
    None
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    fn augment_per_image(xs: &Tensor, aug: Augment, rng: &mut ChaCha8Rng) -> Tensor {
        use rand::Rng;
        let size = xs.size();
        let (b, h, w) = (size[0], size[2], size[3]);
        let mut out = xs.shallow_clone();
        if aug.flip {
            let mask: Vec<bool> = (0..b).map(|_| rng.random_bool(0.5)).collect();
            let mask = Tensor::from_slice(&mask)
                .to_device(xs.device())
                .view([b, 1, 1, 1]);
            out = out.flip([3]).where_self(&mask, &out);
        }
        if aug.shift > 0 {
            let s = aug.shift;
            let padded = out.constant_pad_nd([s, s, s, s]);
            let shifted: Vec<Tensor> = (0..b)
                .map(|i| {
                    let dy = rng.random_range(0..=2 * s);
                    let dx = rng.random_range(0..=2 * s);
                    padded.get(i).narrow(1, dy, h).narrow(2, dx, w)
                })
                .collect();
            out = Tensor::stack(&shifted, 0);
        }
        out
    }

    #[test]
    fn batched_augmentation_is_exactly_the_per_image_one() {
        tch::manual_seed(11);
        let xs = Tensor::rand([37, 1, 28, 28], tch::kind::FLOAT_CPU);
        for (shift, flip) in [(2, true), (0, true), (3, false), (8, true), (1, false)] {
            let aug = Augment {
                shift,
                flip,
                ..Augment::default()
            };
            let mut a = ChaCha8Rng::seed_from_u64(shift as u64);
            let mut b = a.clone();
            let got = augment(&xs, aug, &mut a);
            let want = augment_per_image(&xs, aug, &mut b);
            assert_eq!(got.size(), want.size());
            assert!(got.equal(&want), "shift {shift} flip {flip}");
            assert_eq!(a.get_word_pos(), b.get_word_pos(), "the same draws");
        }
        let off = augment(&xs, Augment::default(), &mut ChaCha8Rng::seed_from_u64(0));
        assert!(off.equal(&xs));
    }

    #[test]
    fn alternating_flips_mirror_every_image_both_ways_every_two_epochs() {
        let flipped = |epoch| (0..1000).filter(|&i| alternate_flip(7, i, epoch)).count();
        // About half in the first epoch, and each epoch the opposite of the one before.
        assert!((400..600).contains(&flipped(1)), "{}", flipped(1));
        for i in 0..1000 {
            for epoch in 1..6 {
                assert_ne!(alternate_flip(7, i, epoch), alternate_flip(7, i, epoch + 1));
            }
        }
        // Another seed chooses other images.
        assert!((0..1000).any(|i| alternate_flip(7, i, 1) != alternate_flip(8, i, 1)));
    }

    #[test]
    fn given_flips_are_applied_and_draw_nothing() {
        let xs = Tensor::arange(2 * 28 * 28, tch::kind::FLOAT_CPU).view([2, 1, 28, 28]);
        let aug = Augment {
            shift: 0,
            flip: true,
            alternate_flip: true,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let out = augment_with_flips(&xs, aug, Some(&[true, false]), &mut rng);
        assert_eq!(rng.get_word_pos(), 0, "no draws");
        assert!(out.get(0).equal(&xs.get(0).flip([2])));
        assert!(out.get(1).equal(&xs.get(1)));
    }

    /// [`erase`] one image at a time with tensor operations (`narrow` + `fill_`): the oracle.
    fn erase_per_image(xs: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Tensor {
        let size = xs.size();
        let out = xs.copy();
        for i in 0..size[0] {
            if let Some((top, left, eh, ew)) = erase_rectangle(size[2], size[3], p, rng) {
                let _ = out
                    .get(i)
                    .narrow(1, top as i64, eh as i64)
                    .narrow(2, left as i64, ew as i64)
                    .fill_(0.0);
            }
        }
        out
    }

    #[test]
    fn batched_erasing_is_exactly_the_per_image_one_and_draws_nothing_when_off() {
        tch::manual_seed(12);
        let xs = Tensor::rand([41, 1, 28, 28], tch::kind::FLOAT_CPU) + 0.5;
        for p in [0.5, 1.0, 0.1] {
            let mut a = ChaCha8Rng::seed_from_u64(3);
            let mut b = a.clone();
            let got = erase(&xs, p, &mut a);
            let want = erase_per_image(&xs, p, &mut b);
            assert!(got.equal(&want), "p {p}");
            assert_eq!(a.get_word_pos(), b.get_word_pos(), "the same draws");
            // The same draws again: seeded and repeatable.
            let again = erase(&xs, p, &mut ChaCha8Rng::seed_from_u64(3));
            assert!(again.equal(&got));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let off = erase(&xs, 0.0, &mut rng);
        assert!(off.equal(&xs));
        assert_eq!(rng.get_word_pos(), 0, "p = 0 draws nothing");
    }

    #[test]
    fn erased_rectangles_follow_the_usual_ranges() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let (mut erased, n) = (0, 4000);
        for _ in 0..n {
            if let Some((top, left, h, w)) = erase_rectangle(28, 28, 0.5, &mut rng) {
                erased += 1;
                assert!(top + h <= 28 && left + w <= 28 && h < 28 && w < 28);
                // Rounding the sides moves the area a little off the drawn fraction.
                let area = (h * w) as f64 / 784.0;
                assert!((0.01..0.40).contains(&area), "{h}x{w}");
                let aspect = h as f64 / w as f64;
                assert!((0.2..5.0).contains(&aspect), "{h}x{w}");
            }
        }
        let rate = erased as f64 / n as f64;
        assert!((rate - 0.5).abs() < 0.04, "{rate}");
        assert!(erase_rectangle(28, 28, 1.0, &mut rng).is_some());
    }
}
