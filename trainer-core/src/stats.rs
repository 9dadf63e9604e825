//! Is a difference between two cross-validated models real? Paired tests across folds.
//!
//! Two runs on the same folds give k paired scores; their differences `d_i = b_i - a_i`
//! have mean `d̄` and sample variance `s²` (k - 1 in the denominator). The plain paired
//! t-test takes `d̄ / sqrt(s²/k)` to be Student-t with k - 1 degrees of freedom. That
//! assumes independent folds, but every two folds' training sets share (k - 2)/(k - 1)
//! of their images, so the scores are positively correlated and the plain test is
//! over-confident. Nadeau and Bengio's corrected resampled t-test (Machine Learning 52,
//! 2003) inflates the variance to `s² (1/k + n_test/n_train)`; with 5 folds that is
//! `s² (0.2 + 0.25)`, a standard error 1.5 times the plain one.
//!
//! Repeated k-fold (R repeats on different splits) gives n = k·R pairs. The same
//! correction over all of them, `s² (1/(kR) + n_test/n_train)` with kR - 1 degrees of
//! freedom, is the corrected repeated k-fold cv test (Bouckaert and Frank, PAKDD 2004);
//! [`paired`] computes it when given the R·k paired scores. More repeats shrink the
//! first term and the t quantile, never the second: the interval narrows towards a
//! floor ([`half_width_factor`]).

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// The significance level of the verdicts: a 95 % two-sided test.
pub const ALPHA: f64 = 0.05;

/// A paired comparison of per-fold scores (`b - a`), with two-sided tests and intervals
/// at confidence `1 - ALPHA`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PairedTest {
    /// Number of pairs: the folds, or folds x repeats for repeated k-fold.
    pub k: usize,
    /// Mean of the per-fold differences `b - a`.
    pub mean_diff: f64,
    /// Sample standard deviation of the per-fold differences (k - 1 in the denominator).
    pub sd_diff: f64,
    /// The variance factor of the corrected test, `1/k + n_test/n_train` (k pairs).
    pub correction: f64,
    /// t statistic of the plain paired t-test; None when every difference is the same
    /// (zero variance: the statistic is undefined or infinite).
    pub t: Option<f64>,
    /// Two-sided p-value of the plain paired t-test (k - 1 degrees of freedom).
    pub p: f64,
    /// Confidence interval of the mean difference from the plain paired t-test.
    pub ci: [f64; 2],
    /// t statistic with Nadeau and Bengio's correction for overlapping training sets
    /// (None as for `t`).
    pub t_corrected: Option<f64>,
    /// Two-sided p-value of the corrected test.
    pub p_corrected: f64,
    /// Confidence interval of the mean difference from the corrected test.
    pub ci_corrected: [f64; 2],
}

/// The plain-language outcome of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The corrected test finds the run better than the reference (p < alpha, higher mean).
    #[serde(rename = "better")]
    Better,
    /// The corrected test finds the run worse than the reference (p < alpha, lower mean).
    #[serde(rename = "worse")]
    Worse,
    /// The corrected test cannot tell the two apart at this alpha.
    #[serde(rename = "no evidence")]
    NoEvidence,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoEvidence => "no evidence",
        })
    }
}

impl PairedTest {
    /// The verdict of the corrected test at level `alpha`: `better` or `worse` when its
    /// p-value is below `alpha` (equivalently, at `alpha` = [`ALPHA`], when the corrected
    /// interval excludes 0), else `no evidence`.
    pub fn verdict(&self, alpha: f64) -> Verdict {
        if self.p_corrected < alpha && self.mean_diff > 0.0 {
            Verdict::Better
        } else if self.p_corrected < alpha && self.mean_diff < 0.0 {
            Verdict::Worse
        } else {
            Verdict::NoEvidence
        }
    }
}

/// Compares paired scores `a` and `b` from the same k folds, where each fold trained on
/// `train_len` images and validated on `val_len` (means over the folds when they differ
/// by one).
///
/// Returns None with fewer than two folds, different lengths, a non-finite score or
/// non-positive sizes. When every difference is the same the variance is zero: the
/// intervals shrink to that difference, and the p-values are 1 if it is 0, else 0.
pub fn paired(a: &[f64], b: &[f64], train_len: f64, val_len: f64) -> Option<PairedTest> {
    let k = a.len();
    let finite = a.iter().chain(b).all(|x| x.is_finite());
    if k < 2 || b.len() != k || !finite || !(train_len > 0.0 && val_len > 0.0) {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let kf = k as f64;
    let mean = d.iter().sum::<f64>() / kf;
    let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (kf - 1.0);
    let correction = 1.0 / kf + val_len / train_len;
    let dist = StudentsT::new(0.0, 1.0, kf - 1.0).ok()?;
    let t_crit = dist.inverse_cdf(1.0 - ALPHA / 2.0);
    // One test: the statistic, its p-value and interval for a squared standard error.
    let test = |se2: f64| -> (Option<f64>, f64, [f64; 2]) {
        let se = se2.sqrt();
        let ci = [mean - t_crit * se, mean + t_crit * se];
        if se > 0.0 {
            let t = mean / se;
            (Some(t), 2.0 * dist.sf(t.abs()), ci)
        } else {
            (None, if mean == 0.0 { 1.0 } else { 0.0 }, ci)
        }
    };
    let (t, p, ci) = test(var / kf);
    let (t_corrected, p_corrected, ci_corrected) = test(var * correction);
    Some(PairedTest {
        k,
        mean_diff: mean,
        sd_diff: var.sqrt(),
        correction,
        t,
        p,
        ci,
        t_corrected,
        p_corrected,
        ci_corrected,
    })
}

/// The half-width of the corrected test's interval at confidence `1 - ALPHA`, in units
/// of the standard deviation of the per-pair differences, for `pairs` pairs (k folds x R
/// repeats) whose folds train on `train_len` and validate on `val_len` images:
/// `t(1 - ALPHA/2, pairs - 1) · sqrt(1/pairs + val_len/train_len)`. None below 2 pairs.
pub fn half_width_factor(pairs: usize, train_len: f64, val_len: f64) -> Option<f64> {
    if pairs < 2 || !(train_len > 0.0 && val_len > 0.0) {
        return None;
    }
    let n = pairs as f64;
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .ok()?
        .inverse_cdf(1.0 - ALPHA / 2.0);
    Some(t * (1.0 / n + val_len / train_len).sqrt())
}

/// Mean and population standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_population_std() {
        let (m, s) = mean_std(&[1.0, 3.0]);
        assert_eq!((m, s), (2.0, 1.0));
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn matches_a_hand_computed_case() {
        // d = [1, 2, 3]: mean 2, sample var 1, t = 2 / sqrt(1/3) = 3.4641; df 2 -> p = 0.0742.
        let r = paired(&[0.0, 0.0, 0.0], &[1.0, 2.0, 3.0], 8.0, 4.0).unwrap();
        assert!(close(r.t.unwrap(), 3.4641, 1e-3), "{r:?}");
        assert!(close(r.p, 0.0742, 1e-3), "{r:?}");
        // corrected: var * (1/3 + 1/2) -> t = 2 / sqrt(5/6) = 2.1909
        assert!(close(r.t_corrected.unwrap(), 2.1909, 1e-3), "{r:?}");
        assert!(r.p_corrected > r.p);
        assert!(paired(&[1.0], &[2.0], 1.0, 1.0).is_none());
        assert!(paired(&[1.0, 2.0], &[2.0], 1.0, 1.0).is_none());
        assert!(paired(&[1.0, f64::NAN], &[2.0, 3.0], 1.0, 1.0).is_none());
        assert!(paired(&[1.0, 2.0], &[2.0, 3.0], 0.0, 1.0).is_none());
    }

    /// Five folds of 48,000 / 12,000 images, as in the seed study's protocol (`docs/results.md`).
    ///
    /// Expected values computed independently with SciPy 1.17.1 (`python3 -m venv v &&
    /// v/bin/pip install scipy`), in a throwaway venv:
    /// ```text
    /// import numpy as np; from scipy import stats
    /// a = np.array([0.91183, 0.91283, 0.90850, 0.91050, 0.90542])
    /// b = np.array([0.91400, 0.91650, 0.90900, 0.91500, 0.90800])
    /// d = b - a; k = 5; m = d.mean(); s2 = d.var(ddof=1); c = 1/k + 12000/48000
    /// stats.ttest_rel(b, a)                    # plain t and p
    /// tq = stats.t.ppf(0.975, k - 1)
    /// m - tq*np.sqrt(s2/k), m + tq*np.sqrt(s2/k)
    /// tc = m/np.sqrt(s2*c); 2*stats.t.sf(abs(tc), k - 1)
    /// m - tq*np.sqrt(s2*c), m + tq*np.sqrt(s2*c)
    /// ```
    #[test]
    fn matches_scipy_on_five_folds() {
        let a = [0.91183, 0.91283, 0.90850, 0.91050, 0.90542];
        let b = [0.91400, 0.91650, 0.90900, 0.91500, 0.90800];
        let r = paired(&a, &b, 48_000.0, 12_000.0).unwrap();
        let want = SCIPY_FIVE_FOLDS;
        assert!(close(r.mean_diff, want[0], 1e-12), "{r:?}");
        assert!(close(r.t.unwrap(), want[1], 1e-9), "{r:?}");
        assert!(close(r.p, want[2], 1e-9), "{r:?}");
        assert!(close(r.ci[0], want[3], 1e-9), "{r:?}");
        assert!(close(r.ci[1], want[4], 1e-9), "{r:?}");
        assert!(close(r.t_corrected.unwrap(), want[5], 1e-9), "{r:?}");
        assert!(close(r.p_corrected, want[6], 1e-9), "{r:?}");
        assert!(close(r.ci_corrected[0], want[7], 1e-9), "{r:?}");
        assert!(close(r.ci_corrected[1], want[8], 1e-9), "{r:?}");
        assert!(close(r.correction, 0.45, 1e-15));
    }

    /// mean diff, t, p, ci lo, ci hi, t corrected, p corrected, ci corrected lo, hi.
    const SCIPY_FIVE_FOLDS: [f64; 9] = [
        0.0026840000000000197,
        3.9328550896235894,
        0.01706197238381155,
        0.0007891987697151391,
        0.0045788012302849,
        2.621903393082393,
        0.05868209522567873,
        -0.00015820184542730126,
        0.005526201845427341,
    ];

    /// The table of `docs/trainer.md` ("How much repeats narrow the interval"): 5 folds
    /// of 48,000 / 12,000 images. The t quantiles are those of printed tables (4 df
    /// 2.776, 9 df 2.262, 14 df 2.145, 24 df 2.064, 49 df 2.010).
    #[test]
    fn repeats_narrow_the_corrected_interval_towards_a_floor() {
        let factor = |r: usize| half_width_factor(5 * r, 48_000.0, 12_000.0).unwrap();
        let want = [(1, 1.862), (2, 1.338), (3, 1.207), (5, 1.111), (10, 1.044)];
        for (r, f) in want {
            assert!(close(factor(r), f, 5e-4), "R = {r}: {}", factor(r));
        }
        // Relative to one repeat; the floor is 1.96 · sqrt(0.25) = 0.98 for many repeats.
        assert!(close(factor(3) / factor(1), 0.648, 5e-4));
        assert!(factor(1000) > 0.98 && factor(1000) < 0.99);
        // The same factor as the interval `paired` computes over 15 pairs.
        let a: Vec<f64> = (0..15).map(|i| 0.9 + 0.001 * (i % 4) as f64).collect();
        let b: Vec<f64> = (0..15).map(|i| 0.903 + 0.0013 * (i % 3) as f64).collect();
        let r = paired(&a, &b, 48_000.0, 12_000.0).unwrap();
        let half = (r.ci_corrected[1] - r.ci_corrected[0]) / 2.0;
        assert!(close(half / r.sd_diff, factor(3), 1e-12));
        assert!(half_width_factor(1, 1.0, 1.0).is_none());
    }

    #[test]
    fn t_quantile_for_four_degrees_of_freedom() {
        // Printed tables of Student's t: t(0.975, 4) = 2.776 (2.7764451051977934 in SciPy).
        let dist = StudentsT::new(0.0, 1.0, 4.0).unwrap();
        assert!(close(dist.inverse_cdf(0.975), 2.7764451051977934, 1e-9));
    }

    #[test]
    fn verdicts_follow_the_corrected_test() {
        // A clear, consistent gain: significant even after the correction.
        let a = [0.900, 0.905, 0.898, 0.902, 0.901];
        let up = [0.910, 0.916, 0.907, 0.913, 0.911];
        let r = paired(&a, &up, 48_000.0, 12_000.0).unwrap();
        assert_eq!(r.verdict(ALPHA), Verdict::Better, "{r:?}");
        // SciPy (as above): corrected p = 5.3908358156834376e-05, interval [0.008642, 0.011758].
        assert!(close(r.p_corrected, 5.3908358156834376e-05, 1e-12), "{r:?}");
        assert!(
            close(r.ci_corrected[0], 0.008641724049474657, 1e-9),
            "{r:?}"
        );
        let r = paired(&up, &a, 48_000.0, 12_000.0).unwrap();
        assert_eq!(r.verdict(ALPHA), Verdict::Worse, "{r:?}");
        // Identical runs: zero difference, no evidence, p = 1.
        let r = paired(&a, &a, 48_000.0, 12_000.0).unwrap();
        assert_eq!(r.verdict(ALPHA), Verdict::NoEvidence);
        assert_eq!((r.p, r.p_corrected, r.t), (1.0, 1.0, None));
        assert_eq!(r.ci_corrected, [0.0, 0.0]);
    }

    #[test]
    fn the_corrected_test_is_more_cautious_than_the_plain_one() {
        // Significant for the plain test, not after the correction: the case the
        // correction exists for.
        let a = [0.9118, 0.9128, 0.9085, 0.9105, 0.9054];
        let b = [0.9140, 0.9165, 0.9090, 0.9150, 0.9080];
        let r = paired(&a, &b, 48_000.0, 12_000.0).unwrap();
        assert!(r.p < ALPHA && r.p_corrected >= ALPHA, "{r:?}");
        assert!(r.ci[0] > 0.0 && r.ci_corrected[0] < 0.0, "{r:?}");
        assert_eq!(r.verdict(ALPHA), Verdict::NoEvidence);
        // Width ratio is sqrt(k * correction) = sqrt(2.25) = 1.5 for 5 folds of 48k/12k.
        let ratio = (r.ci_corrected[1] - r.ci_corrected[0]) / (r.ci[1] - r.ci[0]);
        assert!(close(ratio, 1.5, 1e-12), "{ratio}");
    }
}
