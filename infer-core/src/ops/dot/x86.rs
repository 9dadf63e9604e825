//! x86-64 SSE2 kernels for the inner loops (feature `x86-simd`).
//!
//! SSE2 is part of the x86-64 baseline, so no runtime detection is needed and
//! the code runs on every x86-64 CPU. Each 16-bit multiply-add `pmaddwd`
//! (`_mm_madd_epi16`) does eight multiplies and adds adjacent pairs into four
//! i32 lanes; int8 values are widened to i16 with `punpck{l,h}bw` + `psraw 8`.
//! Products of two int8 values fit in 15 bits and a pair in 16, so `pmaddwd`
//! never saturates, and i32 addition is the same modulo 2^32 in any order:
//! the results equal the portable kernels' bit for bit (the kernels' property
//! tests check it against [`reference`](crate::reference)).
//!
//! Intrinsics with `#[target_feature(enable = "sse2")]` are safe to call from
//! functions with that attribute, and the loads are written as safe
//! `_mm_set_*` of array elements (which LLVM turns into `movdqu` / `movq`), so
//! the only unsafe code is the call of each `#[target_feature]` kernel from
//! plain code, one block per entry point.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_castps_si128, _mm_castsi128_ps, _mm_cvtsi32_si128,
    _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_madd_epi16, _mm_move_epi64, _mm_set_epi16,
    _mm_set_epi64x, _mm_set1_epi32, _mm_setzero_si128, _mm_shuffle_epi32, _mm_shuffle_ps,
    _mm_srai_epi16, _mm_srli_si128, _mm_unpackhi_epi8, _mm_unpackhi_epi32, _mm_unpackhi_epi64,
    _mm_unpacklo_epi8, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
};

use super::{GROUP, PIXELS, SMALL_ROW};
use crate::layout::DENSE_BLOCK;

/// 16 bytes.
#[inline]
#[target_feature(enable = "sse2")]
fn load_u8x16(a: &[u8; 16]) -> __m128i {
    let (lo, hi) = a.split_at(8);
    _mm_set_epi64x(
        i64::from_le_bytes(hi.try_into().unwrap()),
        i64::from_le_bytes(lo.try_into().unwrap()),
    )
}

/// 8 bytes into the low half (high half zero).
#[inline]
#[target_feature(enable = "sse2")]
fn load_u8x8(a: &[u8; 8]) -> __m128i {
    _mm_cvtsi64_si128(i64::from_le_bytes(*a))
}

/// 4 bytes into the low lane (the rest zero).
#[inline]
#[target_feature(enable = "sse2")]
fn load_u8x4(a: &[u8; 4]) -> __m128i {
    _mm_cvtsi32_si128(i32::from_le_bytes(*a))
}

/// 8 halfwords.
#[inline]
#[target_feature(enable = "sse2")]
fn load_i16x8(a: &[i16; 8]) -> __m128i {
    _mm_set_epi16(a[7], a[6], a[5], a[4], a[3], a[2], a[1], a[0])
}

/// 4 halfwords into the low half (high half zero).
#[inline]
#[target_feature(enable = "sse2")]
fn load_i16x4(a: &[i16; 4]) -> __m128i {
    _mm_set_epi16(0, 0, 0, 0, a[3], a[2], a[1], a[0])
}

/// Bytes 0..8 of `v` sign-extended to eight i16.
#[inline]
#[target_feature(enable = "sse2")]
fn widen_lo(v: __m128i) -> __m128i {
    _mm_srai_epi16::<8>(_mm_unpacklo_epi8(v, v))
}

/// Bytes 8..16 of `v` sign-extended to eight i16.
#[inline]
#[target_feature(enable = "sse2")]
fn widen_hi(v: __m128i) -> __m128i {
    _mm_srai_epi16::<8>(_mm_unpackhi_epi8(v, v))
}

/// `[sum(a), sum(b), sum(c), sum(d)]` of the four lanes of each.
#[inline]
#[target_feature(enable = "sse2")]
fn hsum4(a: __m128i, b: __m128i, c: __m128i, d: __m128i) -> __m128i {
    // [a0 + a2, b0 + b2, a1 + a3, b1 + b3], the same for c and d.
    let ab = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    let cd = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
    _mm_add_epi32(_mm_unpacklo_epi64(ab, cd), _mm_unpackhi_epi64(ab, cd))
}

/// The four i32 lanes of `v`.
#[inline]
#[target_feature(enable = "sse2")]
fn lanes(v: __m128i) -> [i32; 4] {
    let lo = _mm_cvtsi128_si64(v);
    let hi = _mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
    [lo as i32, (lo >> 32) as i32, hi as i32, (hi >> 32) as i32]
}

/// `bias + w . patch[p]` for the four pixel rows of `b` (`PIXELS * w.len()`
/// values, pixel `p` at `p * w.len()`), `w.len()` a multiple of [`GROUP`].
#[inline(always)]
pub(super) fn dot4(w: &[u8], b: &[i16], bias: i32) -> [i32; PIXELS] {
    let row = w.len();
    assert!(row.is_multiple_of(GROUP) && b.len() == PIXELS * row);
    // SAFETY: SSE2 is part of the x86-64 baseline (this module is compiled
    // for `target_arch = "x86_64"` only), so the CPU has the feature
    // `dot4_sse2` is compiled for; it has no other safety condition.
    unsafe { dot4_sse2(w, b, bias) }
}

#[target_feature(enable = "sse2")]
fn dot4_sse2(w: &[u8], b: &[i16], bias: i32) -> [i32; PIXELS] {
    let row = w.len();
    let (p0, rest) = b.split_at(row);
    let (p1, rest) = rest.split_at(row);
    let (p2, p3) = rest.split_at(row);
    let (w16, w_tail) = w.as_chunks::<16>();
    let (c0, _) = p0.as_chunks::<8>();
    let (c1, _) = p1.as_chunks::<8>();
    let (c2, _) = p2.as_chunks::<8>();
    let (c3, _) = p3.as_chunks::<8>();
    let mut a = [_mm_setzero_si128(); PIXELS];
    // 16 weights (two vectors of i16) against 16 values of each pixel.
    for ((((w, x0), x1), x2), x3) in w16
        .iter()
        .zip(c0.chunks_exact(2))
        .zip(c1.chunks_exact(2))
        .zip(c2.chunks_exact(2))
        .zip(c3.chunks_exact(2))
    {
        let wv = load_u8x16(w);
        let (lo, hi) = (widen_lo(wv), widen_hi(wv));
        for (a, x) in a.iter_mut().zip([x0, x1, x2, x3]) {
            let s = _mm_add_epi32(
                _mm_madd_epi16(load_i16x8(&x[0]), lo),
                _mm_madd_epi16(load_i16x8(&x[1]), hi),
            );
            *a = _mm_add_epi32(*a, s);
        }
    }
    // The last `row % 16` (0, 4, 8 or 12) by groups of four.
    let done = row - w_tail.len();
    let tails = [&p0[done..], &p1[done..], &p2[done..], &p3[done..]];
    let (wg, _) = w_tail.as_chunks::<GROUP>();
    for (g, w) in wg.iter().enumerate() {
        let wv = widen_lo(load_u8x4(w));
        for (a, x) in a.iter_mut().zip(tails) {
            let (x, _) = x[g * GROUP..].as_chunks::<GROUP>();
            *a = _mm_add_epi32(*a, _mm_madd_epi16(load_i16x4(&x[0]), wv));
        }
    }
    let [a0, a1, a2, a3] = a;
    lanes(_mm_add_epi32(hsum4(a0, a1, a2, a3), _mm_set1_epi32(bias)))
}

/// [`dot4`] of two rows `w0`, `w1` at once (bias `bias[r]` for row `r`):
/// each patch vector is loaded once for both rows.
#[inline(always)]
pub(super) fn dot4x2(w0: &[u8], w1: &[u8], b: &[i16], bias: [i32; 2]) -> [[i32; PIXELS]; 2] {
    let row = w0.len();
    assert!(row.is_multiple_of(GROUP) && w1.len() == row && b.len() == PIXELS * row);
    // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has the feature
    // `dot4x2_sse2` is compiled for; it has no other safety condition.
    unsafe { dot4x2_sse2(w0, w1, b, bias) }
}

#[target_feature(enable = "sse2")]
fn dot4x2_sse2(w0: &[u8], w1: &[u8], b: &[i16], bias: [i32; 2]) -> [[i32; PIXELS]; 2] {
    let row = w0.len();
    let (p0, rest) = b.split_at(row);
    let (p1, rest) = rest.split_at(row);
    let (p2, p3) = rest.split_at(row);
    let (v0, w0_tail) = w0.as_chunks::<8>();
    let (v1, w1_tail) = w1.as_chunks::<8>();
    let (c0, _) = p0.as_chunks::<8>();
    let (c1, _) = p1.as_chunks::<8>();
    let (c2, _) = p2.as_chunks::<8>();
    let (c3, _) = p3.as_chunks::<8>();
    let mut a = [_mm_setzero_si128(); PIXELS];
    let mut b = [_mm_setzero_si128(); PIXELS];
    // 8 weights of each row against 8 values of each pixel.
    for (((((w0, w1), x0), x1), x2), x3) in v0.iter().zip(v1).zip(c0).zip(c1).zip(c2).zip(c3) {
        let w0 = widen_lo(load_u8x8(w0));
        let w1 = widen_lo(load_u8x8(w1));
        for ((a, b), x) in a.iter_mut().zip(&mut b).zip([x0, x1, x2, x3]) {
            let x = load_i16x8(x);
            *a = _mm_add_epi32(*a, _mm_madd_epi16(x, w0));
            *b = _mm_add_epi32(*b, _mm_madd_epi16(x, w1));
        }
    }
    // The last group of four, if `row % 8 == 4`.
    let done = row - w0_tail.len();
    if let (Ok(w0), Ok(w1)) = (
        <&[u8; GROUP]>::try_from(w0_tail),
        <&[u8; GROUP]>::try_from(w1_tail),
    ) {
        let w0 = widen_lo(load_u8x4(w0));
        let w1 = widen_lo(load_u8x4(w1));
        for ((a, b), p) in a.iter_mut().zip(&mut b).zip([p0, p1, p2, p3]) {
            let (x, _) = p[done..].as_chunks::<GROUP>();
            let x = load_i16x4(&x[0]);
            *a = _mm_add_epi32(*a, _mm_madd_epi16(x, w0));
            *b = _mm_add_epi32(*b, _mm_madd_epi16(x, w1));
        }
    }
    let [a0, a1, a2, a3] = a;
    let [b0, b1, b2, b3] = b;
    [
        lanes(_mm_add_epi32(
            hsum4(a0, a1, a2, a3),
            _mm_set1_epi32(bias[0]),
        )),
        lanes(_mm_add_epi32(
            hsum4(b0, b1, b2, b3),
            _mm_set1_epi32(bias[1]),
        )),
    ]
}

/// `acc[r] += sum_i w[r][i] * x[i]` for one interleaved block of four dense
/// rows (`block.len() == DENSE_BLOCK * x.len()`, `x.len()` a multiple of
/// [`GROUP`]).
#[inline(always)]
pub(super) fn dense4(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    assert!(x.len().is_multiple_of(GROUP) && block.len() == DENSE_BLOCK * x.len());
    // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has the feature
    // `dense4_sse2` is compiled for; it has no other safety condition.
    unsafe { dense4_sse2(block, x, acc) }
}

#[target_feature(enable = "sse2")]
fn dense4_sse2(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    // Group g of the block is 16 bytes: rows 0..4, four weights each. Its low
    // half (rows 0, 1) and high half (rows 2, 3), widened, meet the group's
    // four inputs repeated twice: `pmaddwd` gives two partial sums per row.
    let (x8, x_tail) = x.as_chunks::<8>();
    let (w32, w_tail) = block.as_chunks::<32>();
    let mut a01 = _mm_setzero_si128();
    let mut a23 = _mm_setzero_si128();
    for (x, w) in x8.iter().zip(w32) {
        let xv = widen_lo(_mm_cvtsi64_si128(i64::from_le_bytes(x.map(|v| v as u8))));
        // [x0..x3, x0..x3] and [x4..x7, x4..x7].
        let xa = _mm_shuffle_epi32::<0b01_00_01_00>(xv);
        let xb = _mm_shuffle_epi32::<0b11_10_11_10>(xv);
        let (w0, w1) = w.split_at(16);
        let w0 = load_u8x16(w0.try_into().unwrap());
        let w1 = load_u8x16(w1.try_into().unwrap());
        a01 = _mm_add_epi32(a01, _mm_madd_epi16(widen_lo(w0), xa));
        a23 = _mm_add_epi32(a23, _mm_madd_epi16(widen_hi(w0), xa));
        a01 = _mm_add_epi32(a01, _mm_madd_epi16(widen_lo(w1), xb));
        a23 = _mm_add_epi32(a23, _mm_madd_epi16(widen_hi(w1), xb));
    }
    // An odd last group.
    if let (Ok(x), Ok(w)) = (
        <&[i8; GROUP]>::try_from(x_tail),
        <&[u8; 16]>::try_from(w_tail),
    ) {
        let xv = widen_lo(load_u8x4(&x.map(|v| v as u8)));
        let xa = _mm_shuffle_epi32::<0b01_00_01_00>(xv);
        let w0 = load_u8x16(w);
        a01 = _mm_add_epi32(a01, _mm_madd_epi16(widen_lo(w0), xa));
        a23 = _mm_add_epi32(a23, _mm_madd_epi16(widen_hi(w0), xa));
    }
    // [r0, r0, r1, r1] and [r2, r2, r3, r3] -> [r0, r1, r2, r3].
    let (f01, f23) = (_mm_castsi128_ps(a01), _mm_castsi128_ps(a23));
    let even = _mm_castps_si128(_mm_shuffle_ps::<0b10_00_10_00>(f01, f23));
    let odd = _mm_castps_si128(_mm_shuffle_ps::<0b11_01_11_01>(f01, f23));
    let [r0, r1, r2, r3] = lanes(_mm_add_epi32(even, odd));
    [acc[0] + r0, acc[1] + r1, acc[2] + r2, acc[3] + r3]
}

/// `acc[o] = w[o] . patch` for every row of `w` (rows of [`SMALL_ROW`]).
#[inline(always)]
pub(super) fn dot_rows12(patch: &[i8; SMALL_ROW], w: &[u8], acc: &mut [i32]) {
    assert_eq!(w.len(), SMALL_ROW * acc.len());
    // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has the feature
    // `dot_rows12_sse2` is compiled for; it has no other safety condition.
    unsafe { dot_rows12_sse2(patch, w, acc) }
}

#[target_feature(enable = "sse2")]
fn dot_rows12_sse2(patch: &[i8; SMALL_ROW], w: &[u8], acc: &mut [i32]) {
    let patch = patch.map(|v| v as u8);
    let (lo8, hi4) = patch.split_at(8);
    // p0 = x0..x7, p1 = [x8..x11, x0..x3], p2 = x4..x11 (as i16).
    let p0 = widen_lo(load_u8x8(lo8.try_into().unwrap()));
    let x8 = widen_lo(load_u8x4(hi4.try_into().unwrap()));
    let p1 = _mm_unpacklo_epi64(x8, p0);
    let p2 = _mm_unpackhi_epi64(p0, _mm_unpacklo_epi64(x8, x8));
    // Four rows are 48 bytes: three vectors, six halves. Halves 0 and 2 are
    // r0[0..8] and r1[4..12]; half 1 is r0[8..12] + r1[0..4], against p1.
    // Likewise for rows 2, 3 in halves 3..6.
    let (w48, w_rest) = w.as_chunks::<48>();
    let (acc4, acc_rest) = acc.as_chunks_mut::<4>();
    for (w, acc) in w48.iter().zip(acc4) {
        let (v0, rest) = w.split_at(16);
        let (v1, v2) = rest.split_at(16);
        let v0 = load_u8x16(v0.try_into().unwrap());
        let v1 = load_u8x16(v1.try_into().unwrap());
        let v2 = load_u8x16(v2.try_into().unwrap());
        let s0 = _mm_madd_epi16(widen_lo(v0), p0);
        let s1 = _mm_madd_epi16(widen_hi(v0), p1);
        let s2 = _mm_madd_epi16(widen_lo(v1), p2);
        let s3 = _mm_madd_epi16(widen_hi(v1), p0);
        let s4 = _mm_madd_epi16(widen_lo(v2), p1);
        let s5 = _mm_madd_epi16(widen_hi(v2), p2);
        let r0 = _mm_add_epi32(s0, _mm_move_epi64(s1));
        let r1 = _mm_add_epi32(s2, _mm_srli_si128::<8>(s1));
        let r2 = _mm_add_epi32(s3, _mm_move_epi64(s4));
        let r3 = _mm_add_epi32(s5, _mm_srli_si128::<8>(s4));
        *acc = lanes(hsum4(r0, r1, r2, r3));
    }
    // The last `acc.len() % 4` rows, one at a time: the high half of each
    // row's second vector is zero, so p1's copy of x0..x3 adds nothing.
    for (w, a) in w_rest.as_chunks::<SMALL_ROW>().0.iter().zip(acc_rest) {
        let (lo8, hi4) = w.split_at(8);
        let s = _mm_add_epi32(
            _mm_madd_epi16(widen_lo(load_u8x8(lo8.try_into().unwrap())), p0),
            _mm_madd_epi16(widen_lo(load_u8x4(hi4.try_into().unwrap())), p1),
        );
        let z = _mm_setzero_si128();
        *a = lanes(hsum4(s, z, z, z))[0];
    }
}
