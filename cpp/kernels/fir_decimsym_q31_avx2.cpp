// fir_decimsym_q31_avx2: symmetric decimator across leads, 12 at once (8 in a 32-bit register
// split into even/odd products, 4 widened).
//
// Arithmetic contract: identical to fir_decimsym_q31_scalar (see there): exact int32 pair sums
// (_mm(256)_add_epi32, |sum| <= 2^25), exact int64 products (vpmuldq) and sums,
// avx2::rshift_round_sat32<31>.
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_avx2.h"

namespace edgecardio {
namespace kernels {
namespace {

inline __m256i pair4(const std::int32_t *a, const std::int32_t *b) {
  const __m128i s = _mm_add_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i *>(b)));
  return _mm256_cvtepi32_epi64(s);
}

}  // namespace

void fir_decimsym_q31_avx2(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                           std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  const int half = n_taps / 2;
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::int32_t *xs = x + ((j0 + j) * static_cast<std::size_t>(down) + offset) * n_ch;
    std::int32_t *yj = y + j * n_ch;
    std::size_t c = 0;
    for (; c + 12 <= n_ch; c += 12) {
      // Lanes 0-7 as one 8 x int32 pair sum: vpmuldq multiplies the even lanes in place and the odd
      // lanes after a 32-bit shift, so no widening shuffle is needed; lanes 8-11 are widened.
      const std::int32_t *mid = xs + static_cast<std::size_t>(half) * n_ch + c;
      const __m256i hm = _mm256_set1_epi32(taps[half]);
      const __m256i m8 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(mid));
      __m256i ev = _mm256_mul_epi32(m8, hm);
      __m256i od = _mm256_mul_epi32(_mm256_srli_epi64(m8, 32), hm);
      __m256i a2 = _mm256_mul_epi32(avx2::load4(mid + 8), hm);
      const std::int32_t *lo = xs + c, *hi = xs + static_cast<std::size_t>(n_taps - 1) * n_ch + c;
      for (int m = 0; m < half; ++m, lo += n_ch, hi -= n_ch) {
        const __m256i hv = _mm256_set1_epi32(taps[m]);
        const __m256i s8 = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(lo)),
                                            _mm256_loadu_si256(reinterpret_cast<const __m256i *>(hi)));
        ev = _mm256_add_epi64(ev, _mm256_mul_epi32(s8, hv));
        od = _mm256_add_epi64(od, _mm256_mul_epi32(_mm256_srli_epi64(s8, 32), hv));
        a2 = _mm256_add_epi64(a2, _mm256_mul_epi32(pair4(lo + 8, hi + 8), hv));
      }
      // Even lanes' results sit in the low halves, odd lanes' move up to the high halves.
      const __m256i r8 = _mm256_blend_epi32(avx2::rshift_round_sat32<31>(ev),
                                            _mm256_slli_epi64(avx2::rshift_round_sat32<31>(od), 32), 0xAA);
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(yj + c), r8);
      avx2::store4(yj + c + 8, avx2::rshift_round_sat32<31>(a2));
    }
    for (; c + 4 <= n_ch; c += 4) {
      __m256i a0 = _mm256_mul_epi32(avx2::load4(xs + static_cast<std::size_t>(half) * n_ch + c),
                                    _mm256_set1_epi32(taps[half]));
      const std::int32_t *lo = xs + c, *hi = xs + static_cast<std::size_t>(n_taps - 1) * n_ch + c;
      for (int m = 0; m < half; ++m, lo += n_ch, hi -= n_ch)
        a0 = _mm256_add_epi64(a0, _mm256_mul_epi32(pair4(lo, hi), _mm256_set1_epi32(taps[m])));
      avx2::store4(yj + c, avx2::rshift_round_sat32<31>(a0));
    }
  }
  // Lanes left over from the register blocks: the scalar kernel itself.
  if (n_ch % 4 != 0) fir_decimsym_q31_scalar_lanes(x, n_ch, taps, n_taps, down, j0, offset, n_out, y, n_ch / 4 * 4);
}

}  // namespace kernels
}  // namespace edgecardio
