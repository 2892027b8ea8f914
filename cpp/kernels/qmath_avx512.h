// AVX-512 (F + VL) twins of the scalar primitives in edgecardio/qmath.h, for 8 lanes (zmm) and 4
// lanes (ymm). AVX-512 has the 64-bit arithmetic shift, min and max that AVX2 lacks, so these are
// the scalar formulas almost verbatim. Include only from files compiled with -mavx512f -mavx512vl.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace edgecardio {
namespace avx512 {

// q::rshift_round_sat32(acc, N): (acc >> N) + bit N-1 (overflow-free round half up), then clamp;
// the result is sign-extended in each 64-bit lane.
template <int N>
inline __m512i rshift_round_sat32(__m512i acc) {
  const __m512i bit = _mm512_and_si512(_mm512_srli_epi64(acc, N - 1), _mm512_set1_epi64(1));
  const __m512i r = _mm512_add_epi64(_mm512_srai_epi64(acc, N), bit);
  return _mm512_max_epi64(_mm512_min_epi64(r, _mm512_set1_epi64(INT32_MAX)), _mm512_set1_epi64(INT32_MIN));
}
template <int N>
inline __m256i rshift_round_sat32(__m256i acc) {
  const __m256i bit = _mm256_and_si256(_mm256_srli_epi64(acc, N - 1), _mm256_set1_epi64x(1));
  const __m256i r = _mm256_add_epi64(_mm256_srai_epi64(acc, N), bit);
  return _mm256_max_epi64(_mm256_min_epi64(r, _mm256_set1_epi64x(INT32_MAX)), _mm256_set1_epi64x(INT32_MIN));
}

// q::round_residual(acc, N).
template <int N>
inline __m512i round_residual(__m512i acc) {
  const __m512i half = _mm512_set1_epi64(std::int64_t{1} << (N - 1));
  const __m512i mask = _mm512_set1_epi64((std::int64_t{1} << N) - 1);
  return _mm512_sub_epi64(_mm512_and_si512(_mm512_add_epi64(acc, half), mask), half);
}
template <int N>
inline __m256i round_residual(__m256i acc) {
  const __m256i half = _mm256_set1_epi64x(std::int64_t{1} << (N - 1));
  const __m256i mask = _mm256_set1_epi64x((std::int64_t{1} << N) - 1);
  return _mm256_sub_epi64(_mm256_and_si256(_mm256_add_epi64(acc, half), mask), half);
}

// int32 <-> 64-bit lanes: 8 (zmm) or 4 (ymm) leads of a frame.
inline __m512i load8(const std::int32_t *p) {
  return _mm512_cvtepi32_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}
inline __m256i load4(const std::int32_t *p) {
  return _mm256_cvtepi32_epi64(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
inline void store8(std::int32_t *p, __m512i v) {  // v already in int32 range: plain truncation
  _mm256_storeu_si256(reinterpret_cast<__m256i *>(p), _mm512_cvtepi64_epi32(v));
}
inline void store4(std::int32_t *p, __m256i v) {
  _mm_storeu_si128(reinterpret_cast<__m128i *>(p), _mm256_cvtepi64_epi32(v));
}

}  // namespace avx512
}  // namespace edgecardio
