//! Is a difference between two cross-validated models real? Paired tests across folds.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A paired comparison of per-fold scores (`b - a`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedTest {
    /// Mean of the per-fold differences.
    pub mean_diff: f64,
    /// t statistic of the plain paired t-test.
    pub t: f64,
    /// Two-sided p-value of the plain paired t-test (k - 1 degrees of freedom).
    pub p: f64,
    /// t statistic with Nadeau and Bengio's correction for overlapping training sets.
    pub t_corrected: f64,
    /// Two-sided p-value of the corrected test.
    pub p_corrected: f64,
}

/// Compares paired scores `a` and `b` from the same k folds, where each fold trained on
/// `train_len` images and validated on `val_len`.
///
/// The plain paired t-test treats folds as independent, which they are not (their
/// training sets overlap), so it is over-confident; the corrected resampled t-test
/// (Nadeau & Bengio, 2003) scales the variance by `1/k + val_len/train_len`.
/// Returns None with fewer than two folds or when every difference is equal.
pub fn paired(a: &[f64], b: &[f64], train_len: usize, val_len: usize) -> Option<PairedTest> {
    let k = a.len();
    if k < 2 || b.len() != k {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let mean = d.iter().sum::<f64>() / k as f64;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1) as f64;
    if var <= 0.0 {
        return None;
    }
    let dist = StudentsT::new(0.0, 1.0, (k - 1) as f64).ok()?;
    let two_sided = |t: f64| 2.0 * (1.0 - dist.cdf(t.abs()));
    let t = mean / (var / k as f64).sqrt();
    let t_corrected = mean / (var * (1.0 / k as f64 + val_len as f64 / train_len as f64)).sqrt();
    Some(PairedTest {
        mean_diff: mean,
        t,
        p: two_sided(t),
        t_corrected,
        p_corrected: two_sided(t_corrected),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_case() {
        // d = [1, 2, 3]: mean 2, sample var 1, t = 2 / sqrt(1/3) = 3.4641; df 2 -> p = 0.0742.
        let r = paired(&[0.0, 0.0, 0.0], &[1.0, 2.0, 3.0], 8, 4).unwrap();
        assert!((r.t - 3.4641).abs() < 1e-3, "{r:?}");
        assert!((r.p - 0.0742).abs() < 1e-3, "{r:?}");
        // corrected: var * (1/3 + 1/2) -> t = 2 / sqrt(5/6) = 2.1909
        assert!((r.t_corrected - 2.1909).abs() < 1e-3, "{r:?}");
        assert!(r.p_corrected > r.p);
        assert!(paired(&[1.0], &[2.0], 1, 1).is_none());
        assert!(paired(&[1.0, 2.0], &[2.0, 3.0], 1, 1).is_none());
    }
}
