//! Choosing an activation range from calibration data, and the affine int8
//! parameters of a range.

use serde::{Deserialize, Serialize};

/// How a hidden layer's output range is chosen from the calibration values.
///
/// The model input is fixed (scale 1/255, zero point -128); hidden layers and
/// the logits have separate settings in `QuantizeOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Calibration {
    /// The observed minimum and maximum.
    MinMax,
    /// Clip each tail at this fraction of the values, e.g. `0.9999`.
    Percentile(f64),
    /// The range `[a*min, a*max]`, `a` in `(0, 1]`, that minimizes the mean
    /// squared quantization error (clipping plus rounding) over a histogram.
    Mse,
}

/// Number of histogram bins used by `Percentile` and `Mse`.
const BINS: usize = 2048;

/// Observed `(min, max)` of `values`; `(0, 0)` when empty.
pub fn min_max<'a>(values: impl Iterator<Item = &'a f32>) -> (f32, f32) {
    values.fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// A histogram of values over `[lo, hi]`.
struct Histogram {
    lo: f64,
    width: f64,
    counts: Vec<u64>,
}

impl Histogram {
    fn new<'a>(lo: f32, hi: f32, values: impl Iterator<Item = &'a f32>) -> Self {
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        let width = (hi - lo) / BINS as f64;
        let mut counts = vec![0u64; BINS];
        for &v in values {
            let b = ((f64::from(v) - lo) / width) as usize;
            counts[b.min(BINS - 1)] += 1;
        }
        Self { lo, width, counts }
    }

    fn center(&self, b: usize) -> f64 {
        self.lo + (b as f64 + 0.5) * self.width
    }
}

/// The range to quantize, always containing 0. `values` is iterated twice
/// for the histogram-based methods (it must yield the same values each time).
pub fn choose_range<'a, I>(method: Calibration, values: impl Fn() -> I) -> (f32, f32)
where
    I: Iterator<Item = &'a f32>,
{
    let (lo, hi) = min_max(values());
    if hi - lo <= 0.0 || method == Calibration::MinMax {
        return (lo, hi);
    }
    let h = Histogram::new(lo, hi, values());
    let total: u64 = h.counts.iter().sum();
    match method {
        Calibration::MinMax => (lo, hi),
        Calibration::Percentile(p) => {
            let tail = ((1.0 - p.clamp(0.0, 1.0)) * total as f64).floor() as u64;
            // Upper edge: drop the top `tail` values (when the range goes above 0).
            let mut new_hi = hi;
            if hi > 0.0 {
                let mut seen = 0;
                for b in (0..BINS).rev() {
                    seen += h.counts[b];
                    if seen > tail {
                        new_hi = (h.lo + (b + 1) as f64 * h.width) as f32;
                        break;
                    }
                }
            }
            let mut new_lo = lo;
            if lo < 0.0 {
                let mut seen = 0;
                for b in 0..BINS {
                    seen += h.counts[b];
                    if seen > tail {
                        new_lo = (h.lo + b as f64 * h.width) as f32;
                        break;
                    }
                }
            }
            (new_lo.min(0.0), new_hi.max(0.0))
        }
        Calibration::Mse => {
            let mut best = (f64::INFINITY, lo, hi);
            for step in 1..=200 {
                let a = f64::from(step) / 200.0;
                let (clo, chi) = (f64::from(lo) * a, f64::from(hi) * a);
                let delta = (chi - clo) / 255.0;
                let mut err = 0.0;
                for (b, &n) in h.counts.iter().enumerate() {
                    if n == 0 {
                        continue;
                    }
                    let v = h.center(b);
                    let e = if v > chi {
                        (v - chi).powi(2)
                    } else if v < clo {
                        (clo - v).powi(2)
                    } else {
                        delta * delta / 12.0
                    };
                    err += n as f64 * e;
                }
                if err < best.0 {
                    best = (err, clo as f32, chi as f32);
                }
            }
            (best.1, best.2)
        }
    }
}

/// Scale and zero point of the int8 grid that covers `[lo, hi]` (widened to
/// contain 0, so real zero is exactly representable).
pub fn affine_params(lo: f32, hi: f32) -> (f32, i8) {
    let lo = f64::from(lo.min(0.0));
    let mut hi = f64::from(hi.max(0.0));
    if hi - lo < 1e-6 {
        hi = lo + 1e-6;
    }
    let scale = ((hi - lo) / 255.0) as f32;
    let zp = (-128.0 - lo / f64::from(scale))
        .round()
        .clamp(-128.0, 127.0);
    (scale, zp as i8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_params_cover_the_range() {
        assert_eq!(affine_params(0.0, 255.0), (1.0, -128));
        let (s, zp) = affine_params(-1.0, 3.0);
        assert!((s - 4.0 / 255.0).abs() < 1e-9);
        assert_eq!(zp, -64); // -128 + 63.75
        let (s, zp) = affine_params(0.5, 2.0); // widened to [0, 2]
        assert!((s - 2.0 / 255.0).abs() < 1e-9);
        assert_eq!(zp, -128);
        let (_, zp) = affine_params(-3.0, -1.0); // widened to [-3, 0]
        assert_eq!(zp, 127);
    }

    #[test]
    fn percentile_clips_outliers() {
        let mut v: Vec<f32> = (0..10_000).map(|i| (i % 100) as f32 / 100.0).collect();
        v.push(1000.0);
        let (lo, hi) = choose_range(Calibration::Percentile(0.999), || v.iter());
        assert_eq!(lo, 0.0);
        assert!(hi < 2.0, "{hi}");
        let (_, hi) = choose_range(Calibration::MinMax, || v.iter());
        assert_eq!(hi, 1000.0);
        // With 8 bits a single outlier costs little rounding error: MSE keeps
        // most of the range.
        let (_, hi) = choose_range(Calibration::Mse, || v.iter());
        assert!((900.0..=1000.0).contains(&hi), "{hi}");
    }

    #[test]
    fn mse_stays_within_the_observed_range() {
        // Exponential quantiles, max ~ 10.3.
        let n = 20_000;
        let v: Vec<f32> = (0..n)
            .map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln() as f32)
            .collect();
        let (lo, hi) = choose_range(Calibration::Mse, || v.iter());
        assert_eq!(lo, 0.0);
        let (_, max) = min_max(v.iter());
        assert!(hi <= max && hi > 0.5 * max, "{hi}");
    }
}
