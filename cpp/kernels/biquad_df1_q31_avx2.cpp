// biquad_df1_q31_avx2: one DF1 section, vectorized across leads only (4 per register, 3 registers
// in flight for 12 leads); each lead's recurrence runs in the scalar order.
//
// Arithmetic contract: identical to biquad_df1_q31_scalar (see there): Q30 coefficients, exact
// int64 sum of the seven products, avx2::rshift_round_sat32<30> (twin of q::rshift_round_sat32),
// avx2::round_residual<30> (twin of q::round_residual) fed back with k1, k2.
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_avx2.h"

namespace edgecardio {
namespace kernels {
namespace {

template <int NV>
void block(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y, std::size_t n,
           std::ptrdiff_t step) {
  const __m256i b0 = _mm256_set1_epi32(k.c[0]), b1 = _mm256_set1_epi32(k.c[1]), b2 = _mm256_set1_epi32(k.c[2]);
  const __m256i a1 = _mm256_set1_epi32(k.c[3]), a2 = _mm256_set1_epi32(k.c[4]);
  const __m256i k1 = _mm256_set1_epi32(k.ef[0]), k2 = _mm256_set1_epi32(k.ef[1]);
  __m256i x1[NV], x2[NV], y1[NV], y2[NV], e1[NV], e2[NV];
  for (int v = 0; v < NV; ++v) {
    x1[v] = avx2::load4(state.x1 + 4 * v);
    x2[v] = avx2::load4(state.x2 + 4 * v);
    y1[v] = avx2::load4(state.y1 + 4 * v);
    y2[v] = avx2::load4(state.y2 + 4 * v);
    e1[v] = avx2::load4(state.e1 + 4 * v);
    e2[v] = avx2::load4(state.e2 + 4 * v);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(i) * step;
    for (int v = 0; v < NV; ++v) {
      const __m256i x0 = avx2::load4(x + o + 4 * v);
      // Feed-forward terms first, the y[n-1] product last: it is the recurrence's critical path.
      __m256i acc = _mm256_add_epi64(_mm256_mul_epi32(b0, x0), _mm256_mul_epi32(b1, x1[v]));
      acc = _mm256_add_epi64(acc, _mm256_mul_epi32(b2, x2[v]));
      acc = _mm256_add_epi64(acc, _mm256_mul_epi32(k1, e1[v]));
      acc = _mm256_add_epi64(acc, _mm256_mul_epi32(k2, e2[v]));
      acc = _mm256_add_epi64(acc, _mm256_mul_epi32(a2, y2[v]));
      acc = _mm256_add_epi64(acc, _mm256_mul_epi32(a1, y1[v]));
      const __m256i y0 = avx2::rshift_round_sat32<30>(acc);
      avx2::store4(y + o + 4 * v, y0);
      e2[v] = e1[v];
      e1[v] = avx2::round_residual<30>(acc);
      x2[v] = x1[v];
      x1[v] = x0;
      y2[v] = y1[v];
      y1[v] = y0;
    }
  }
  for (int v = 0; v < NV; ++v) {
    avx2::store4(state.x1 + 4 * v, x1[v]);
    avx2::store4(state.x2 + 4 * v, x2[v]);
    avx2::store4(state.y1 + 4 * v, y1[v]);
    avx2::store4(state.y2 + 4 * v, y2[v]);
    avx2::store4(state.e1 + 4 * v, e1[v]);
    avx2::store4(state.e2 + 4 * v, e2[v]);
  }
}

}  // namespace

void biquad_df1_q31_avx2(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y,
                         std::size_t n, std::size_t n_ch, std::ptrdiff_t step) {
  std::size_t c = 0;
  for (; c + 12 <= n_ch; c += 12) block<3>(k, state.from_lane(c), x + c, y + c, n, step);
  for (; c + 4 <= n_ch; c += 4) block<1>(k, state.from_lane(c), x + c, y + c, n, step);
  if (c < n_ch) biquad_df1_q31_scalar(k, state.from_lane(c), x + c, y + c, n, n_ch - c, step);
}

}  // namespace kernels
}  // namespace edgecardio
