// AVX2 twins of the scalar primitives in edgecardio/qmath.h. Lanes are 64 bits wide and carry one
// int32 lead value each (in the low half), because _mm256_mul_epi32 multiplies the low 32 bits of
// each 64-bit lane into an exact 64-bit product: 4 leads per register. Include only from files
// compiled with -mavx2.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace edgecardio {
namespace avx2 {

// q::rshift_round_sat32(acc, N) per 64-bit lane, in the low 32 bits of each lane (the upper 32
// bits are not meaningful: _mm256_mul_epi32 and store4 read only the low halves).
// AVX2 has no 64-bit arithmetic shift, but the low 32 bits of a logical shift of acc + 2^(N-1) are
// the rounded value's whenever it fits int32; whether it fits is decided on acc itself:
// rounded > INT32_MAX  <=>  acc >= 2^(31+N) - 2^(N-1),   rounded < INT32_MIN  <=>  acc < -2^(31+N) - 2^(N-1).
// So the result equals the scalar twin for every int64 acc (where acc + 2^(N-1) wraps, acc
// saturates), and the recurrences' critical path is add, shift, blend.
template <int N>
inline __m256i rshift_round_sat32(__m256i acc) {
  static_assert(N >= 1 && N <= 31, "shift out of range");
  const __m256i hi_limit = _mm256_set1_epi64x((std::int64_t{1} << (31 + N)) - (std::int64_t{1} << (N - 1)) - 1);
  const __m256i lo_limit = _mm256_set1_epi64x(-(std::int64_t{1} << (31 + N)) - (std::int64_t{1} << (N - 1)));
  const __m256i r = _mm256_srli_epi64(_mm256_add_epi64(acc, _mm256_set1_epi64x(std::int64_t{1} << (N - 1))), N);
  const __m256i over = _mm256_cmpgt_epi64(acc, hi_limit);
  const __m256i under = _mm256_cmpgt_epi64(lo_limit, acc);
  const __m256i rail = _mm256_blendv_epi8(_mm256_set1_epi64x(INT32_MIN), _mm256_set1_epi64x(INT32_MAX), over);
  return _mm256_blendv_epi8(r, rail, _mm256_or_si256(over, under));
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
