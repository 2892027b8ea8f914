// AVX2 twins of the scalar primitives in edgecardio/qmath.h. Lanes are 64 bits wide and carry one
// int32 lead value (sign-extended) each, because _mm256_mul_epi32 multiplies the low 32 bits of
// each 64-bit lane into an exact 64-bit product: 4 leads per register. Include only from files
// compiled with -mavx2.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace edgecardio {
namespace avx2 {

// q::rshift_round_sat32(acc, N) per 64-bit lane; the result is sign-extended to 64 bits.
// AVX2 has no 64-bit arithmetic shift: shift logically, then sign-extend from bit 63-N with the
// xor/sub trick; add bit N-1 (round half up, the overflow-free form of q::rshift_round).
template <int N>
inline __m256i rshift_round_sat32(__m256i acc) {
  static_assert(N >= 1 && N <= 62, "shift out of range");
  const __m256i sign = _mm256_set1_epi64x(std::int64_t{1} << (63 - N));
  __m256i r = _mm256_srli_epi64(acc, N);
  r = _mm256_sub_epi64(_mm256_xor_si256(r, sign), sign);
  r = _mm256_add_epi64(r, _mm256_and_si256(_mm256_srli_epi64(acc, N - 1), _mm256_set1_epi64x(1)));
  const __m256i hi = _mm256_set1_epi64x(INT32_MAX);
  const __m256i lo = _mm256_set1_epi64x(INT32_MIN);
  r = _mm256_blendv_epi8(r, hi, _mm256_cmpgt_epi64(r, hi));
  return _mm256_blendv_epi8(r, lo, _mm256_cmpgt_epi64(lo, r));
}

// q::round_residual(acc, N) per 64-bit lane (in [-2^(N-1), 2^(N-1)), so its low half is exact).
template <int N>
inline __m256i round_residual(__m256i acc) {
  const __m256i half = _mm256_set1_epi64x(std::int64_t{1} << (N - 1));
  const __m256i mask = _mm256_set1_epi64x((std::int64_t{1} << N) - 1);
  return _mm256_sub_epi64(_mm256_and_si256(_mm256_add_epi64(acc, half), mask), half);
}

// Four int32 from memory into the four 64-bit lanes (sign-extended).
inline __m256i load4(const std::int32_t *p) {
  return _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

// The low 32 bits of the four 64-bit lanes to memory.
inline void store4(std::int32_t *p, __m256i v) {
  const __m256i packed = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
  _mm_storeu_si128(reinterpret_cast<__m128i *>(p), _mm256_castsi256_si128(packed));
}

}  // namespace avx2
}  // namespace edgecardio
