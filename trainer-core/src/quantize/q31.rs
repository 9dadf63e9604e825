//! Real multipliers as a Q31 integer and a right shift, as
//! [`infer_core::reference::requantize`] takes them.

/// Splits a real multiplier `m > 0` into `(M, n)` with `m ~= M * 2^-n`,
/// `M` in `[2^30, 2^31)` and `n` in `1..=62`.
///
/// Multipliers below `2^-32` cannot keep `M` normalized within the shift
/// range; they get `n = 62` and a smaller `M` (possibly 0). Returns `None` for
/// `m >= 2^30` (needs `n < 1`), zero, negative or non-finite values.
///
/// Exact whenever `m` has at most 31 significant bits, e.g. `0.5 -> (2^30, 31)`.
pub fn quantize_multiplier(m: f64) -> Option<(i32, u8)> {
    if !m.is_finite() || m <= 0.0 {
        return None;
    }
    // m = frac * 2^exp with frac in [0.5, 1).
    let mut exp = m.log2().floor() as i32 + 1;
    let mut frac = m * 2f64.powi(-exp);
    // log2 can be off by one ulp near powers of two.
    while frac >= 1.0 {
        frac /= 2.0;
        exp += 1;
    }
    while frac < 0.5 {
        frac *= 2.0;
        exp -= 1;
    }
    let mut q = (frac * 2f64.powi(31)).round() as i64;
    if q == 1 << 31 {
        q /= 2;
        exp += 1;
    }
    let n = 31 - exp;
    if n < 1 {
        return None;
    }
    if n > 62 {
        let q = (m * 2f64.powi(62)).round() as i64;
        return Some((q as i32, 62));
    }
    Some((q as i32, n as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_for_representable_multipliers() {
        assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 31)));
        assert_eq!(quantize_multiplier(0.75), Some((3 << 29, 31)));
        assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 30)));
        assert_eq!(quantize_multiplier(3.0), Some((3 << 29, 29)));
        assert_eq!(quantize_multiplier(2f64.powi(-10)), Some((1 << 30, 40)));
        assert_eq!(quantize_multiplier(2f64.powi(-32)), Some((1 << 30, 62)));
        // 2^-33 no longer fits a normalized M: n = 62, M = 2^29.
        assert_eq!(quantize_multiplier(2f64.powi(-33)), Some((1 << 29, 62)));
        // 31 significant bits survive exactly.
        let m = f64::from((1u32 << 31) - 1) * 2f64.powi(-40);
        assert_eq!(quantize_multiplier(m), Some((i32::MAX, 40)));
        let m = 5.0 / 8.0 + 2f64.powi(-31);
        assert_eq!(quantize_multiplier(m), Some(((5 << 28) + 1, 31)));
    }

    #[test]
    fn rounds_to_nearest_and_carries() {
        // Just below 1: rounds up to 2^31, renormalized to 2^30 with one less shift.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), Some((1 << 30, 30)));
        let (q, n) = quantize_multiplier(0.1).unwrap();
        let back = f64::from(q) * 2f64.powi(-i32::from(n));
        assert!((back - 0.1).abs() <= 2f64.powi(-i32::from(n) - 1));
        assert!(q >= 1 << 30);
    }

    #[test]
    fn rejects_out_of_range() {
        assert_eq!(quantize_multiplier(0.0), None);
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        assert_eq!(quantize_multiplier(f64::INFINITY), None);
        assert_eq!(quantize_multiplier(2f64.powi(30)), None);
        assert!(quantize_multiplier(2f64.powi(29)).is_some());
    }
}
