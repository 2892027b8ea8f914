// interleave_shl_i16_avx2: planar int16 rows -> interleaved int32 frames, 4 leads x 8 samples per
// step: widen (vpmovsxwd), shift, and a 4x8 transpose in registers (unpack 32/64), so every store
// is a contiguous 4-lead slice of a frame instead of a strided scalar store.
//
// Arithmetic contract: identical to interleave_shl_i16_scalar (see there); shifts are exact.
#include <immintrin.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void interleave_shl_i16_avx2(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                             const int *shift, std::int32_t *frames) {
  const std::size_t groups = n_ch / 4;
  const std::size_t n8 = n / 8 * 8;
  // Time outside, lead groups inside: each block of 8 frames is written completely, in one go.
  for (std::size_t t = 0; t < n8; t += 8) {
    std::int32_t *d = frames + t * n_ch;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t c = 4 * g;
      const auto load = [&](std::size_t l) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(in + (c + l) * in_stride + t));
        return _mm256_sll_epi32(_mm256_cvtepi16_epi32(v), _mm_cvtsi32_si128(shift[c + l]));
      };
      const __m256i a0 = load(0), a1 = load(1), a2 = load(2), a3 = load(3);
      const __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpackhi_epi32(a0, a1);
      const __m256i t2 = _mm256_unpacklo_epi32(a2, a3), t3 = _mm256_unpackhi_epi32(a2, a3);
      // u_k holds frame t+k in its low 128 bits and frame t+k+4 in its high 128 bits.
      const __m256i u[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                            _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
      for (int k = 0; k < 4; ++k) {
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + k * n_ch + c), _mm256_castsi256_si128(u[k]));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(d + (k + 4) * n_ch + c), _mm256_extracti128_si256(u[k], 1));
      }
    }
  }
  // The scalar kernel itself for the leads left over from the groups of 4 and the frames left over
  // from the blocks.
  if (4 * groups < n_ch) interleave_shl_i16_scalar_lanes(in, n_ch, n8, in_stride, shift, frames, 4 * groups);
  if (n8 < n) interleave_shl_i16_scalar(in + n8, n_ch, n - n8, in_stride, shift, frames + n8 * n_ch);
}

}  // namespace kernels
}  // namespace edgecardio
