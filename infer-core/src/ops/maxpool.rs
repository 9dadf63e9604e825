//! Max-pool 2x2, stride 2, on int8 HWC tensors.
//!
//! The output is `[H/2][W/2][C]` (floor: an odd last row or column is
//! dropped, as PyTorch's default). Max-pool commutes with the monotonic
//! quantization map, so it runs on the int8 values directly and the output
//! keeps the input's scale and zero point.

use crate::reference::PoolShape;

/// Fast kernel: `input.len() == s.in_len()`, `output.len() == s.out_len()`.
#[inline(never)]
pub(crate) fn maxpool2x2(s: &PoolShape, input: &[i8], output: &mut [i8]) {
    let c = s.c;
    let row = s.w * c;
    let out_row = s.out_w() * c;
    for oy in 0..s.out_h() {
        let r0 = &input[2 * oy * row..][..row];
        let r1 = &input[(2 * oy + 1) * row..][..row];
        let out = &mut output[oy * out_row..][..out_row];
        for (ox, o) in out.chunks_exact_mut(c).enumerate() {
            let a = &r0[2 * ox * c..][..2 * c];
            let b = &r1[2 * ox * c..][..2 * c];
            let (a0, a1) = a.split_at(c);
            let (b0, b1) = b.split_at(c);
            for ((((o, &p), &q), &r), &t) in o.iter_mut().zip(a0).zip(a1).zip(b0).zip(b1) {
                *o = p.max(q).max(r.max(t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_2x2_two_channels() {
        // Hand-computed: a 3x2x2 input (odd height: the last row is dropped).
        #[rustfmt::skip]
        let input = [
            1, -5,   4, -6,
            3, -7,   2, -8,
            99, 99,  99, 99,
        ];
        let s = PoolShape { h: 3, w: 2, c: 2 };
        let mut out = [0i8; 2];
        maxpool2x2(&s, &input, &mut out);
        assert_eq!(out, [4, -5]);
    }

    proptest! {
        #[test]
        fn matches_reference(
            (h, w, c, input) in (2usize..9, 2usize..9, 1usize..6).prop_flat_map(|(h, w, c)| {
                (Just(h), Just(w), Just(c), proptest::collection::vec(any::<i8>(), h * w * c))
            })
        ) {
            let s = PoolShape { h, w, c };
            let mut out = std::vec![0i8; s.out_len()];
            maxpool2x2(&s, &input, &mut out);
            let mut expected = std::vec![0i8; s.out_len()];
            crate::reference::maxpool2x2(&s, &input, &mut expected);
            prop_assert_eq!(out, expected);
        }
    }
}
