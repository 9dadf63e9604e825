//! The residual add, in place on the main path: the fast form of
//! [`reference::add`](crate::reference::add).
//!
//! The reference forms `(a - a_zp) * M_a + (s - s_zp) * M_s + 2^(n-1)` and
//! shifts it right by `n`. Here the zero points and the rounding term are
//! folded into one 64-bit constant per layer, `k = 2^(n-1) - a_zp * M_a -
//! s_zp * M_s` (`k' = 2^(n-1) - a_zp * M_a` for channels the shortcut does
//! not have), so that each value costs two multiply-accumulates into an i64,
//! a shift and a clamp. The terms are the same integers summed in another
//! order, all exactly (every partial sum stays below `2^62` in magnitude), so
//! the result is the reference's bit for bit. The same portable code runs on
//! the host and on the Cortex-M4 (the compiler emits `smlal` for the
//! multiply-accumulates), and the self-check compares it with the reference
//! on the target.

use crate::reference::AddParams;

/// A validated residual add: its parameters and shapes.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct AddOp {
    /// Zero points, multipliers, shift and ReLU.
    pub params: AddParams,
    /// Pixels (`h * w`).
    pub pixels: usize,
    /// Channels of the main path and the output.
    pub c: usize,
    /// Channels of the shortcut (`<= c`).
    pub skip_c: usize,
}

impl AddOp {
    /// Values of the main path (and of the output).
    pub fn len(&self) -> usize {
        self.pixels * self.c
    }

    /// Values of the shortcut.
    pub fn skip_len(&self) -> usize {
        self.pixels * self.skip_c
    }
}

/// Fast kernel: `data` (the main path, `op.len()` values) becomes the sum;
/// `skip` holds `op.skip_len()` values.
#[inline(never)]
pub(crate) fn add_in_place(op: &AddOp, data: &mut [i8], skip: &[i8]) {
    let p = &op.params;
    let (ma, ms) = (i64::from(p.main_multiplier), i64::from(p.skip_multiplier));
    let round = 1i64 << (p.shift - 1);
    let main_only = round - i64::from(p.main_zp) * ma;
    let both = main_only - i64::from(p.skip_zp) * ms;
    let (shift, zp) = (u32::from(p.shift), i64::from(p.out_zp));
    let min = if p.relu { zp } else { -128 };
    let finish = |acc: i64| ((acc >> shift) + zp).max(min).min(127) as i8;
    if op.skip_c == op.c {
        for (y, &s) in data[..op.len()].iter_mut().zip(&skip[..op.len()]) {
            *y = finish(both + i64::from(*y) * ma + i64::from(s) * ms);
        }
        return;
    }
    if op.skip_c == 0 {
        for y in &mut data[..op.len()] {
            *y = finish(main_only + i64::from(*y) * ma);
        }
        return;
    }
    for (a, s) in data[..op.len()]
        .chunks_exact_mut(op.c)
        .zip(skip[..op.skip_len()].chunks_exact(op.skip_c))
    {
        let (with, without) = a.split_at_mut(op.skip_c);
        for (y, &s) in with.iter_mut().zip(s) {
            *y = finish(both + i64::from(*y) * ma + i64::from(s) * ms);
        }
        for y in without {
            *y = finish(main_only + i64::from(*y) * ma);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(zps: (i8, i8, i8), ma: i32, ms: i32, shift: u8, relu: bool) -> AddParams {
        AddParams {
            main_zp: i32::from(zps.0),
            skip_zp: i32::from(zps.1),
            main_multiplier: ma,
            skip_multiplier: ms,
            shift,
            out_zp: i32::from(zps.2),
            relu,
        }
    }

    #[test]
    fn golden_halves_and_padding() {
        // Hand-computed: M_a = M_s = 2^30, n = 31 (both real multipliers 0.5),
        // zero points 0. Pixel 0: (3 + 0) / 2 = 1.5 -> 2; (-3 + 0) / 2 = -1.5
        // -> -1 (half up); channel 2 has no shortcut: 5 / 2 = 2.5 -> 3.
        // Pixel 1: (127 + 127) / 2 = 127; (-128 - 128) / 2 = -128; -1 / 2 -> 0.
        let p = params((0, 0, 0), 1 << 30, 1 << 30, 31, false);
        let op = AddOp {
            params: p,
            pixels: 2,
            c: 3,
            skip_c: 2,
        };
        let mut data = [3i8, -3, 5, 127, -128, -1];
        let skip = [0i8, 0, 127, -128];
        let mut expected = [0i8; 6];
        crate::reference::add(&p, 3, 2, &data, &skip, &mut expected);
        add_in_place(&op, &mut data, &skip);
        assert_eq!(data, [2, -1, 3, 127, -128, 0]);
        assert_eq!(expected, data);
    }

    #[test]
    fn relu_clamps_at_the_output_zero_point() {
        let p = params((0, 0, -100), 1 << 30, 1 << 30, 31, true);
        let op = AddOp {
            params: p,
            pixels: 1,
            c: 2,
            skip_c: 2,
        };
        let mut data = [-50i8, 50];
        add_in_place(&op, &mut data, &[-50, 50]);
        assert_eq!(data, [-100, -50]);
    }

    proptest! {
        #[test]
        fn matches_reference(
            (pixels, c, skip_c) in (1usize..20, 1usize..20).prop_flat_map(|(p, c)| (Just(p), Just(c), 0..=c)),
            zps in any::<(i8, i8, i8)>(),
            ma in 0..=i32::MAX,
            ms in 0..=i32::MAX,
            shift in 1u8..=62,
            relu in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut rng = crate::rng::SplitMix64::new(seed);
            let main: std::vec::Vec<i8> = (0..pixels * c).map(|_| rng.next_u64() as i8).collect();
            let skip: std::vec::Vec<i8> = (0..pixels * skip_c).map(|_| rng.next_u64() as i8).collect();
            let p = params(zps, ma, ms, shift, relu);
            let mut expected = std::vec![0i8; pixels * c];
            crate::reference::add(&p, c, skip_c, &main, &skip, &mut expected);
            let mut data = main.clone();
            add_in_place(&AddOp { params: p, pixels, c, skip_c }, &mut data, &skip);
            prop_assert_eq!(data, expected);
        }

        #[test]
        fn selfcheck_cases_match_reference(seed in any::<u64>()) {
            let r = crate::selfcheck::add_case(seed);
            prop_assert!(r.is_ok(), "{:?}", r);
        }
    }
}
