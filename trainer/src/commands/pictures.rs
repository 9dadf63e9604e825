//! Labelled picture folders for `trainer fit` and `trainer evaluate`: reading one with
//! a model's class names, and mixing Fashion-MNIST into the training images.

use std::path::Path;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use trainer_core::data::Dataset;
use trainer_core::data::folders::{self, Classes, Folders, Options};

use crate::PictureArgs;

/// Reads the folder set `dir` for `classes`, holding out `fraction` of the pictures
/// (chosen with `seed`), and prints what it found and skipped.
pub fn read(
    dir: &Path,
    args: &PictureArgs,
    classes: Classes<'_>,
    fraction: f64,
    seed: u64,
) -> Result<Folders> {
    let options = Options {
        classes,
        held_out: fraction,
        seed,
        reading: args.reading(),
    };
    let set = folders::load(dir, &options).with_context(|| format!("--data {}", dir.display()))?;
    eprint!("{}", set.summary());
    Ok(set)
}

/// Fashion-MNIST images to add to `pictures` so that they are `mix` of the whole.
pub fn mix_count(pictures: usize, mix: f64) -> Result<usize> {
    if !(0.0..1.0).contains(&mix) {
        bail!("--mix {mix}: must be at least 0 and below 1");
    }
    Ok((pictures as f64 * mix / (1.0 - mix)).round() as usize)
}

/// `pictures` followed by `count` images drawn (seeded, without repeats) from
/// `fashion`; fewer when `fashion` holds fewer.
pub fn mixed(pictures: &Dataset, fashion: &Dataset, count: usize, seed: u64) -> Dataset {
    let mut order: Vec<usize> = (0..fashion.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order.truncate(count);
    let drawn = fashion.select(&order);
    let mut out = pictures.clone();
    out.images.extend_from_slice(&drawn.images);
    out.labels.extend_from_slice(&drawn.labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainer_core::data::IMAGE_LEN;

    fn set(label: u8, n: usize) -> Dataset {
        Dataset {
            images: (0..n * IMAGE_LEN).map(|i| (i / IMAGE_LEN) as u8).collect(),
            labels: vec![label; n],
        }
    }

    #[test]
    fn the_mix_is_the_fraction_of_the_whole_and_seeded() {
        assert_eq!(mix_count(100, 0.0).unwrap(), 0);
        assert_eq!(mix_count(100, 0.5).unwrap(), 100);
        assert_eq!(mix_count(100, 0.75).unwrap(), 300);
        assert!(mix_count(100, 1.0).is_err());
        assert!(mix_count(100, -0.1).is_err());
        let (p, f) = (set(1, 4), set(7, 50));
        let a = mixed(&p, &f, 12, 3);
        assert_eq!(a.len(), 16);
        assert_eq!(a.labels.iter().filter(|&&l| l == 7).count(), 12);
        assert_eq!(a.head(4), p);
        assert_eq!(a, mixed(&p, &f, 12, 3));
        assert_ne!(a, mixed(&p, &f, 12, 4));
        assert_eq!(mixed(&p, &f, 500, 3).len(), 54);
    }
}
