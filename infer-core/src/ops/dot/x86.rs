//! x86-64 SSE2 and AVX2 kernels for the inner loops (feature `x86-simd`).
//!
//! SSE2 is part of the x86-64 baseline, so the SSE2 kernels run on every
//! x86-64 CPU without detection. With the `std` feature as well, the AVX2
//! kernels (twice the lanes, and `vpmovsxbw` to widen) run instead where the
//! CPU has AVX2, detected once at run time ([`avx2`]); setting the
//! environment variable `INFER_CORE_NO_AVX2` keeps the SSE2 ones (the tests
//! use it to check both). Each 16-bit multiply-add `pmaddwd`
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
//! plain code, one block per entry point, and in the AVX2 kernels unaligned
//! loads and stores of whole arrays (where LLVM does not merge the `set`s).
#![allow(unsafe_code)]

use core::arch::x86_64::_mm256_max_epi32;
use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_castps_si128, _mm_castsi128_ps, _mm_cvtsi32_si128,
    _mm_cvtsi64_si128, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_madd_epi16, _mm_move_epi64,
    _mm_set_epi16, _mm_set_epi64x, _mm_set1_epi32, _mm_setzero_si128, _mm_shuffle_epi32,
    _mm_shuffle_ps, _mm_srai_epi16, _mm_srli_si128, _mm_unpackhi_epi8, _mm_unpackhi_epi32,
    _mm_unpackhi_epi64, _mm_unpacklo_epi8, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
};
use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_broadcastq_epi64, _mm256_castsi256_si128,
    _mm256_cvtepi8_epi16, _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_madd_epi16,
    _mm256_set1_epi32, _mm256_setzero_si256, _mm256_storeu_si256,
};

use super::{GROUP, PIXELS, SMALL_ROW, SMALL_ROW_FILTERS};
use crate::layout::DENSE_BLOCK;

/// Whether the AVX2 kernels run (see the module docs); decided once.
#[inline]
pub(super) fn avx2() -> bool {
    #[cfg(feature = "std")]
    {
        use std::sync::atomic::{AtomicU8, Ordering};
        // 0: not decided yet, 1: no, 2: yes.
        static STATE: AtomicU8 = AtomicU8::new(0);
        match STATE.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = std::is_x86_feature_detected!("avx2")
                    && std::env::var_os("INFER_CORE_NO_AVX2").is_none();
                STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
        }
    }
    #[cfg(not(feature = "std"))]
    false
}

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
    if avx2() {
        // SAFETY: `avx2()` checked that the CPU has AVX2, the feature
        // `dot4x2_avx2` is compiled for; it has no other safety condition.
        return unsafe { dot4x2_avx2(w0, w1, b, bias) };
    }
    // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has the feature
    // `dot4x2_sse2` is compiled for; it has no other safety condition.
    unsafe { dot4x2_sse2(w0, w1, b, bias) }
}

/// [`dot4x2`] with AVX2: 16 values of each pixel against 16 weights of each
/// row per step, the last `row % 16` values scalar.
#[target_feature(enable = "avx2")]
fn dot4x2_avx2(w0: &[u8], w1: &[u8], b: &[i16], bias: [i32; 2]) -> [[i32; PIXELS]; 2] {
    let row = w0.len();
    let (p0, rest) = b.split_at(row);
    let (p1, rest) = rest.split_at(row);
    let (p2, p3) = rest.split_at(row);
    let pixels = [p0, p1, p2, p3];
    let (v0, _) = w0.as_chunks::<16>();
    let (v1, _) = w1.as_chunks::<16>();
    let (c0, _) = p0.as_chunks::<16>();
    let (c1, _) = p1.as_chunks::<16>();
    let (c2, _) = p2.as_chunks::<16>();
    let (c3, _) = p3.as_chunks::<16>();
    let mut a = [_mm256_setzero_si256(); PIXELS];
    let mut b = [_mm256_setzero_si256(); PIXELS];
    for (((((w0, w1), x0), x1), x2), x3) in v0.iter().zip(v1).zip(c0).zip(c1).zip(c2).zip(c3) {
        let w0 = _mm256_cvtepi8_epi16(load16(w0));
        let w1 = _mm256_cvtepi8_epi16(load16(w1));
        for ((a, b), x) in a.iter_mut().zip(&mut b).zip([x0, x1, x2, x3]) {
            let x = load_i16x16(x);
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(x, w0));
            *b = _mm256_add_epi32(*b, _mm256_madd_epi16(x, w1));
        }
    }
    let [a0, a1, a2, a3] = a.map(|v| fold256(v));
    let [b0, b1, b2, b3] = b.map(|v| fold256(v));
    let mut out = [
        lanes(_mm_add_epi32(
            hsum4(a0, a1, a2, a3),
            _mm_set1_epi32(bias[0]),
        )),
        lanes(_mm_add_epi32(
            hsum4(b0, b1, b2, b3),
            _mm_set1_epi32(bias[1]),
        )),
    ];
    // The last `row % 16` values (none in the shipped models' layers).
    let done = row / 16 * 16;
    for (r, w) in [w0, w1].iter().enumerate() {
        for (o, p) in out[r].iter_mut().zip(pixels) {
            for (&w, &x) in w[done..].iter().zip(&p[done..]) {
                *o += i32::from(w as i8) * i32::from(x);
            }
        }
    }
    out
}

/// 16 halfwords. (The AVX2 kernels load with `loadu`: LLVM does not always
/// merge `_mm_set_epi16` of array elements into one load there.)
#[inline]
#[target_feature(enable = "avx2")]
fn load_i16x16(a: &[i16; 16]) -> __m256i {
    // SAFETY: reads the 32 bytes of `a`; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(a.as_ptr().cast()) }
}

/// 16 bytes (see [`load_i16x16`]).
#[inline]
#[target_feature(enable = "avx2")]
fn load16(a: &[u8; 16]) -> __m128i {
    // SAFETY: reads the 16 bytes of `a`; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(a.as_ptr().cast()) }
}

/// 8 i32 (see [`load_i16x16`]).
#[inline]
#[target_feature(enable = "avx2")]
fn load_i32x8(a: &[i32; 8]) -> __m256i {
    // SAFETY: reads the 32 bytes of `a`; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(a.as_ptr().cast()) }
}

/// The sum of the two 128-bit halves of `v`, lane by lane.
#[inline]
#[target_feature(enable = "avx2")]
fn fold256(v: __m256i) -> __m128i {
    _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v))
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
    if avx2() {
        // SAFETY: `avx2()` checked that the CPU has AVX2, the feature
        // `dense4_avx2` is compiled for; it has no other safety condition.
        return unsafe { dense4_avx2(block, x, acc) };
    }
    // SAFETY: SSE2 is part of the x86-64 baseline, so the CPU has the feature
    // `dense4_sse2` is compiled for; it has no other safety condition.
    unsafe { dense4_sse2(block, x, acc) }
}

/// [`dense4`] of two blocks over the same inputs (AVX2: each group's inputs
/// widened and repeated once for both).
#[inline(always)]
pub(super) fn dense4x2(
    blocks: [&[u8]; 2],
    x: &[i8],
    acc: [[i32; DENSE_BLOCK]; 2],
) -> [[i32; DENSE_BLOCK]; 2] {
    assert!(
        x.len().is_multiple_of(GROUP)
            && blocks[0].len() == DENSE_BLOCK * x.len()
            && blocks[1].len() == DENSE_BLOCK * x.len()
    );
    if avx2() {
        // SAFETY: `avx2()` checked that the CPU has AVX2, the feature
        // `dense4x2_avx2` is compiled for; it has no other safety condition.
        return unsafe { dense4x2_avx2(blocks, x, acc) };
    }
    [dense4(blocks[0], x, acc[0]), dense4(blocks[1], x, acc[1])]
}

#[target_feature(enable = "avx2")]
fn dense4x2_avx2(
    blocks: [&[u8]; 2],
    x: &[i8],
    acc: [[i32; DENSE_BLOCK]; 2],
) -> [[i32; DENSE_BLOCK]; 2] {
    let (x8, x_tail) = x.as_chunks::<8>();
    let (wa32, wa_tail) = blocks[0].as_chunks::<32>();
    let (wb32, wb_tail) = blocks[1].as_chunks::<32>();
    let mut sa = _mm256_setzero_si256();
    let mut sb = _mm256_setzero_si256();
    for ((x, wa), wb) in x8.iter().zip(wa32).zip(wb32) {
        let xv = widen_lo(_mm_cvtsi64_si128(i64::from_le_bytes(x.map(|v| v as u8))));
        let x0 = _mm256_broadcastq_epi64(xv);
        let x1 = _mm256_broadcastq_epi64(_mm_unpackhi_epi64(xv, xv));
        for (s, w) in [(&mut sa, wa), (&mut sb, wb)] {
            let (w0, w1) = w.split_at(16);
            let w0 = _mm256_cvtepi8_epi16(load16(w0.try_into().unwrap()));
            let w1 = _mm256_cvtepi8_epi16(load16(w1.try_into().unwrap()));
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(w0, x0));
            *s = _mm256_add_epi32(*s, _mm256_madd_epi16(w1, x1));
        }
    }
    // An odd last group.
    if let (Ok(x), Ok(wa), Ok(wb)) = (
        <&[i8; GROUP]>::try_from(x_tail),
        <&[u8; 16]>::try_from(wa_tail),
        <&[u8; 16]>::try_from(wb_tail),
    ) {
        let x0 = _mm256_broadcastq_epi64(widen_lo(load_u8x4(&x.map(|v| v as u8))));
        sa = _mm256_add_epi32(sa, _mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(wa)), x0));
        sb = _mm256_add_epi32(sb, _mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(wb)), x0));
    }
    [rows4(sa, acc[0]), rows4(sb, acc[1])]
}

/// `acc` plus the row sums of `s`, lanes `[r0, r0, r1, r1 | r2, r2, r3, r3]`.
#[inline]
#[target_feature(enable = "avx2")]
fn rows4(s: __m256i, acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    let (f01, f23) = (
        _mm_castsi128_ps(_mm256_castsi256_si128(s)),
        _mm_castsi128_ps(_mm256_extracti128_si256::<1>(s)),
    );
    let even = _mm_castps_si128(_mm_shuffle_ps::<0b10_00_10_00>(f01, f23));
    let odd = _mm_castps_si128(_mm_shuffle_ps::<0b11_01_11_01>(f01, f23));
    let [r0, r1, r2, r3] = lanes(_mm_add_epi32(even, odd));
    [acc[0] + r0, acc[1] + r1, acc[2] + r2, acc[3] + r3]
}

/// [`dense4`] with AVX2: a group's 16 weights (four rows of four) widened
/// with one `vpmovsxbw` against its four inputs repeated four times.
#[target_feature(enable = "avx2")]
fn dense4_avx2(block: &[u8], x: &[i8], acc: [i32; DENSE_BLOCK]) -> [i32; DENSE_BLOCK] {
    let (x8, x_tail) = x.as_chunks::<8>();
    let (w32, w_tail) = block.as_chunks::<32>();
    // Lanes [r0, r0, r1, r1 | r2, r2, r3, r3]: two partial sums per row.
    let mut s = _mm256_setzero_si256();
    for (x, w) in x8.iter().zip(w32) {
        let xv = widen_lo(_mm_cvtsi64_si128(i64::from_le_bytes(x.map(|v| v as u8))));
        let xa = _mm256_broadcastq_epi64(xv);
        let xb = _mm256_broadcastq_epi64(_mm_unpackhi_epi64(xv, xv));
        let (wa, wb) = w.split_at(16);
        let wa = _mm256_cvtepi8_epi16(load16(wa.try_into().unwrap()));
        let wb = _mm256_cvtepi8_epi16(load16(wb.try_into().unwrap()));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(wa, xa));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(wb, xb));
    }
    // An odd last group.
    if let (Ok(x), Ok(w)) = (
        <&[i8; GROUP]>::try_from(x_tail),
        <&[u8; 16]>::try_from(w_tail),
    ) {
        let xa = _mm256_broadcastq_epi64(widen_lo(load_u8x4(&x.map(|v| v as u8))));
        let w = _mm256_cvtepi8_epi16(load16(w));
        s = _mm256_add_epi32(s, _mm256_madd_epi16(w, xa));
    }
    rows4(s, acc)
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

/// A first layer's weights for the AVX2 kernel [`Rows12Pairs::dot`]: tap
/// pair `p` (taps `2p`, `2p + 1` of the 12 stored ones: a 3x3 kernel's 9 and
/// their padding, or a 1x1 kernel on 9 to 12 channels) of filter `f` as one
/// word of two i16, `words[p][f]`, the filters padded with zeros to a
/// multiple of 8.
#[derive(Debug)]
pub(super) struct Rows12Pairs {
    words: [[i32; SMALL_ROW_FILTERS]; SMALL_ROW / 2],
    /// Blocks of 8 filters.
    blocks: usize,
}

impl Rows12Pairs {
    /// The pairs of `w` (rows of [`SMALL_ROW`] stored weights, at most
    /// [`SMALL_ROW_FILTERS`] of them), or `None` without AVX2.
    pub fn new(w: &[u8]) -> Option<Self> {
        if !avx2() {
            return None;
        }
        let filters = w.len() / SMALL_ROW;
        assert!(filters <= SMALL_ROW_FILTERS && w.len() == filters * SMALL_ROW);
        let mut words = [[0i32; SMALL_ROW_FILTERS]; SMALL_ROW / 2];
        for (f, row) in w.chunks_exact(SMALL_ROW).enumerate() {
            for (p, words) in words.iter_mut().enumerate() {
                words[f] = pair(row[2 * p] as i8, row[2 * p + 1] as i8);
            }
        }
        Some(Self {
            words,
            blocks: filters.div_ceil(8),
        })
    }

    /// `acc[f] = w[f] . patch` for every filter (and zeros up to the next
    /// multiple of 8): six broadcast tap pairs against eight filters per
    /// `vpmaddwd`.
    #[inline(always)]
    pub fn dot(&self, patch: &[i8; SMALL_ROW], acc: &mut [i32; SMALL_ROW_FILTERS]) {
        // SAFETY: `new` returned `Some` only after `avx2()` checked that the
        // CPU has AVX2, the feature `rows12_avx2` is compiled for; it has no
        // other safety condition.
        unsafe { rows12_avx2(self, patch, acc) }
    }
}

impl Rows12Pairs {
    /// `max[f] = max over the four patches p of w[f] . patches[p]` (a pooling
    /// window's four pixels), the running maximum kept in registers.
    #[inline(always)]
    pub fn dot_max4(&self, patches: &[[i8; SMALL_ROW]; 4], max: &mut [i32; SMALL_ROW_FILTERS]) {
        // SAFETY: as in `dot`.
        unsafe { rows12_max4_avx2(self, patches, max) }
    }
}

#[target_feature(enable = "avx2")]
fn rows12_max4_avx2(
    w: &Rows12Pairs,
    patches: &[[i8; SMALL_ROW]; 4],
    max: &mut [i32; SMALL_ROW_FILTERS],
) {
    let x: [[__m256i; SMALL_ROW / 2]; 4] = core::array::from_fn(|q| {
        core::array::from_fn(|p| _mm256_set1_epi32(pair(patches[q][2 * p], patches[q][2 * p + 1])))
    });
    let (max8, _) = max.as_chunks_mut::<8>();
    for (b, out) in max8.iter_mut().enumerate().take(w.blocks) {
        let v: [__m256i; SMALL_ROW / 2] = core::array::from_fn(|p| {
            let (v, _) = w.words[p][8 * b..].as_chunks::<8>();
            load_i32x8(&v[0])
        });
        let mut m = _mm256_set1_epi32(i32::MIN);
        for x in &x {
            let mut a = _mm256_setzero_si256();
            for (x, v) in x.iter().zip(&v) {
                a = _mm256_add_epi32(a, _mm256_madd_epi16(*x, *v));
            }
            m = _mm256_max_epi32(m, a);
        }
        // SAFETY: `out` is 8 i32 (32 bytes) of `max`, writable; `storeu` has
        // no alignment requirement.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), m) };
    }
}

/// Taps `a` and `b` as one word of two i16 (`a` in the low half).
fn pair(a: i8, b: i8) -> i32 {
    (u32::from(a as i16 as u16) | (u32::from(b as i16 as u16) << 16)) as i32
}

#[target_feature(enable = "avx2")]
fn rows12_avx2(w: &Rows12Pairs, patch: &[i8; SMALL_ROW], acc: &mut [i32; SMALL_ROW_FILTERS]) {
    let x: [__m256i; SMALL_ROW / 2] =
        core::array::from_fn(|p| _mm256_set1_epi32(pair(patch[2 * p], patch[2 * p + 1])));
    let (acc8, _) = acc.as_chunks_mut::<8>();
    for (b, out) in acc8.iter_mut().enumerate().take(w.blocks) {
        let mut a = _mm256_setzero_si256();
        for (x, words) in x.iter().zip(&w.words) {
            let (v, _) = words[8 * b..].as_chunks::<8>();
            let v = load_i32x8(&v[0]);
            a = _mm256_add_epi32(a, _mm256_madd_epi16(*x, v));
        }
        // SAFETY: `out` is 8 i32 (32 bytes) of `acc`, writable; `storeu` has
        // no alignment requirement.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), a) };
    }
}
