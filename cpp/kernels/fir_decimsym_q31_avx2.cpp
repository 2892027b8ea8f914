// fir_decimsym_q31_avx2: symmetric decimator across leads, 4 leads per register, 12 at once.
//
// Arithmetic contract: identical to fir_decimsym_q31_scalar (see there): exact int32 pair sums
// (_mm_add_epi32, |sum| <= 2^25), exact int64 products and sums, avx2::rshift_round_sat32<31>.
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_avx2.h"

namespace edgecardio {
namespace kernels_avx2 {
namespace {

inline __m256i pair4(const std::int32_t *a, const std::int32_t *b) {
  const __m128i s = _mm_add_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a)),
                                  _mm_loadu_si128(reinterpret_cast<const __m128i *>(b)));
  return _mm256_cvtepi32_epi64(s);
}

}  // namespace

void fir_decimsym_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                      std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  const int half = n_taps / 2;
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::int32_t *xs = x + ((j0 + j) * static_cast<std::size_t>(down) + offset) * n_ch;
    std::int32_t *yj = y + j * n_ch;
    std::size_t c = 0;
    for (; c + 12 <= n_ch; c += 12) {
      const std::int32_t *mid = xs + static_cast<std::size_t>(half) * n_ch + c;
      const __m256i hm = _mm256_set1_epi32(taps[half]);
      __m256i a0 = _mm256_mul_epi32(avx2::load4(mid), hm);
      __m256i a1 = _mm256_mul_epi32(avx2::load4(mid + 4), hm);
      __m256i a2 = _mm256_mul_epi32(avx2::load4(mid + 8), hm);
      const std::int32_t *lo = xs + c, *hi = xs + static_cast<std::size_t>(n_taps - 1) * n_ch + c;
      for (int m = 0; m < half; ++m, lo += n_ch, hi -= n_ch) {
        const __m256i hv = _mm256_set1_epi32(taps[m]);
        a0 = _mm256_add_epi64(a0, _mm256_mul_epi32(pair4(lo, hi), hv));
        a1 = _mm256_add_epi64(a1, _mm256_mul_epi32(pair4(lo + 4, hi + 4), hv));
        a2 = _mm256_add_epi64(a2, _mm256_mul_epi32(pair4(lo + 8, hi + 8), hv));
      }
      avx2::store4(yj + c, avx2::rshift_round_sat32<31>(a0));
      avx2::store4(yj + c + 4, avx2::rshift_round_sat32<31>(a1));
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
    for (; c < n_ch; ++c) {  // lanes left over from the vector blocks: the scalar definition
      std::int64_t acc = q::mul(taps[half], xs[static_cast<std::size_t>(half) * n_ch + c]);
      for (int m = 0; m < half; ++m)
        acc += q::mul(taps[m], xs[static_cast<std::size_t>(m) * n_ch + c] +
                                   xs[static_cast<std::size_t>(n_taps - 1 - m) * n_ch + c]);
      yj[c] = q::rshift_round_sat32(acc, 31);
    }
  }
}

}  // namespace kernels_avx2
}  // namespace edgecardio
