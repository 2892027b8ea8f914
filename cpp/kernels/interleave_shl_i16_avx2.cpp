// interleave_shl_i16_avx2: planar int16 rows -> interleaved int32 frames, 4 leads x 8 samples per
// step: widen (vpmovsxwd), shift, and a 4x8 transpose in registers (unpack 32/64), so every store
// is a contiguous 4-lead slice of a frame instead of a strided scalar store.
//
// Arithmetic contract: identical to interleave_shl_i16_scalar (see there); shifts are exact.
#include <immintrin.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels_avx2 {

void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames) {
  std::size_t c = 0;
  for (; c + 4 <= n_ch; c += 4) {
    const std::int16_t *r0 = in + c * in_stride, *r1 = r0 + in_stride, *r2 = r1 + in_stride, *r3 = r2 + in_stride;
    const __m128i s0 = _mm_cvtsi32_si128(shift[c]), s1 = _mm_cvtsi32_si128(shift[c + 1]);
    const __m128i s2 = _mm_cvtsi32_si128(shift[c + 2]), s3 = _mm_cvtsi32_si128(shift[c + 3]);
    std::size_t t = 0;
    for (; t + 8 <= n; t += 8) {
      const auto load = [t](const std::int16_t *r, __m128i s) {
        return _mm256_sll_epi32(_mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(r + t))), s);
      };
      const __m256i a0 = load(r0, s0), a1 = load(r1, s1), a2 = load(r2, s2), a3 = load(r3, s3);
      const __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpackhi_epi32(a0, a1);
      const __m256i t2 = _mm256_unpacklo_epi32(a2, a3), t3 = _mm256_unpackhi_epi32(a2, a3);
      // u_k holds frame t+k in its low 128 bits and frame t+k+4 in its high 128 bits.
      const __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                            _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
      std::int32_t *d = frames + t * n_ch + c;
      for (int k = 0; k < 4; ++k) {
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + k * n_ch), _mm256_castsi256_si128(u[k]));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + (k + 4) * n_ch), _mm256_extracti128_si256(u[k], 1));
      }
    }
    for (; t < n; ++t)
      for (std::size_t l = 0; l < 4; ++l)
        frames[t * n_ch + c + l] = std::int32_t{in[(c + l) * in_stride + t]} * (std::int32_t{1} << shift[c + l]);
  }
  for (; c < n_ch; ++c)  // leads left over from the groups of 4
    for (std::size_t t = 0; t < n; ++t)
      frames[t * n_ch + c] = std::int32_t{in[c * in_stride + t]} * (std::int32_t{1} << shift[c]);
}

}  // namespace kernels_avx2
}  // namespace edgecardio
