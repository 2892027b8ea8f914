// fir_poly_q31_avx2: the polyphase resampler across leads, 4 leads per register, up to 12 at once.
//
// Arithmetic contract: identical to fir_poly_q31_scalar (see there): int32 x Q31 taps, exact int64
// accumulation (|acc| < 2^56, so the vector summation order cannot matter), rshift_round_sat32 by
// 31 once per output via avx2::rshift_round_sat32<31>, the twin of q::rshift_round_sat32.
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_avx2.h"

namespace edgecardio {
namespace kernels {

void fir_poly_q31_avx2(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                       int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::size_t t = (j0 + j) * static_cast<std::size_t>(down) + offset;
    const std::int32_t *h = taps + (t % static_cast<std::size_t>(up)) * static_cast<std::size_t>(n_taps);
    const std::int32_t *xs = x + (t / static_cast<std::size_t>(up)) * n_ch;
    std::int32_t *yj = y + j * n_ch;
    std::size_t c = 0;
    for (; c + 12 <= n_ch; c += 12) {
      __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0;
      const std::int32_t *xp = xs + c;
      for (int m = 0; m < n_taps; ++m, xp += n_ch) {
        const __m256i hv = _mm256_set1_epi32(h[m]);
        a0 = _mm256_add_epi64(a0, _mm256_mul_epi32(avx2::load4(xp), hv));
        a1 = _mm256_add_epi64(a1, _mm256_mul_epi32(avx2::load4(xp + 4), hv));
        a2 = _mm256_add_epi64(a2, _mm256_mul_epi32(avx2::load4(xp + 8), hv));
      }
      avx2::store4(yj + c, avx2::rshift_round_sat32<31>(a0));
      avx2::store4(yj + c + 4, avx2::rshift_round_sat32<31>(a1));
      avx2::store4(yj + c + 8, avx2::rshift_round_sat32<31>(a2));
    }
    for (; c + 4 <= n_ch; c += 4) {
      __m256i a0 = _mm256_setzero_si256();
      const std::int32_t *xp = xs + c;
      for (int m = 0; m < n_taps; ++m, xp += n_ch)
        a0 = _mm256_add_epi64(a0, _mm256_mul_epi32(avx2::load4(xp), _mm256_set1_epi32(h[m])));
      avx2::store4(yj + c, avx2::rshift_round_sat32<31>(a0));
    }
  }
  // Lanes left over from the register blocks: the scalar kernel itself.
  if (n_ch % 4 != 0) fir_poly_q31_scalar_lanes(x, n_ch, taps, up, down, n_taps, j0, offset, n_out, y, n_ch / 4 * 4);
}

}  // namespace kernels
}  // namespace edgecardio
