//! A fold left out of a fit: `trainer fit --leave-out-fold K` trains on fold K's
//! training part only, so that the model can teach fold K of a cross-validation
//! (`cv --teacher`) without having seen its validation images.

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use super::{kfold, repeat_split_seed, train_indices};

/// Which validation fold a model never saw: fold `fold` of repeat `repeat` of the
/// `folds`-fold split with seed `split_seed` of the first `limit` training images (all
/// when `None`), exactly as `trainer cv` splits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOutFold {
    /// 0-based fold number.
    pub fold: usize,
    /// Number of folds of the split.
    pub folds: usize,
    /// Seed of the split (of repeat 0; repeat r uses [`repeat_split_seed`]).
    pub split_seed: u64,
    /// 0-based repeat of repeated k-fold (0: plain k-fold).
    pub repeat: usize,
    /// `--limit` of the training images the split was made of.
    pub limit: Option<usize>,
}

impl LeftOutFold {
    /// Checks the numbers against each other (the fold exists, at least two folds).
    pub fn validate(&self) -> Result<()> {
        if self.folds < 2 {
            bail!("--folds must be at least 2 (got {})", self.folds);
        }
        if self.fold >= self.folds {
            bail!(
                "--leave-out-fold {} is out of range for --folds {} (folds are numbered 0..{})",
                self.fold,
                self.folds,
                self.folds - 1
            );
        }
        Ok(())
    }

    /// The indices (ascending) of the `n` training images that are not in the fold.
    pub fn training_indices(&self, n: usize) -> Result<Vec<usize>> {
        let seed = repeat_split_seed(self.split_seed, self.repeat);
        Ok(train_indices(&kfold(n, self.folds, seed)?, self.fold))
    }
}

impl std::fmt::Display for LeftOutFold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fold {} (0-based) of {}, split seed {}, repeat {}",
            self.fold, self.folds, self.split_seed, self.repeat
        )?;
        match self.limit {
            Some(n) => write!(f, ", the first {n} images"),
            None => write!(f, ", every image"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_training_indices_are_the_cv_folds_training_part() {
        let left_out = LeftOutFold {
            fold: 2,
            folds: 5,
            split_seed: 1,
            repeat: 1,
            limit: None,
        };
        let folds = kfold(103, 5, 2).unwrap();
        let train = left_out.training_indices(103).unwrap();
        assert_eq!(train, train_indices(&folds, 2));
        assert!(folds[2].iter().all(|i| !train.contains(i)));
        assert_eq!(train.len() + folds[2].len(), 103);
    }

    #[test]
    fn a_fold_out_of_range_is_refused() {
        let mut left_out = LeftOutFold {
            fold: 5,
            folds: 5,
            split_seed: 1,
            repeat: 0,
            limit: None,
        };
        assert!(left_out.validate().is_err());
        left_out.fold = 4;
        assert!(left_out.validate().is_ok());
        left_out.folds = 1;
        assert!(left_out.validate().is_err());
    }
}
