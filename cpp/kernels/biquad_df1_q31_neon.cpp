// biquad_df1_q31_neon: one DF1 section, vectorized across leads only (4 per int32x4, 3 in flight
// for 12 leads); each lead's recurrence runs in the scalar order.
//
// Arithmetic contract: identical to biquad_df1_q31_scalar (see there): Q30 coefficients, exact
// int64 sum of the seven products (vmull/vmlal), vqmovn(vrshr(acc, 30)), the twin of
// q::rshift_round_sat32(acc, 30), and neon::round_residual<30> (twin of q::round_residual) fed
// back with k1, k2.
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_neon.h"

namespace edgecardio {
namespace kernels {
namespace {

template <int NV>
void block(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y, std::size_t n,
           std::ptrdiff_t step) {
  const std::int32_t b0 = k.c[0], b1 = k.c[1], b2 = k.c[2], a1 = k.c[3], a2 = k.c[4];
  const std::int32_t k1 = k.ef[0], k2 = k.ef[1];
  int32x4_t x1[NV], x2[NV], y1[NV], y2[NV], e1[NV], e2[NV];
  for (int v = 0; v < NV; ++v) {
    x1[v] = vld1q_s32(state.x1 + 4 * v);
    x2[v] = vld1q_s32(state.x2 + 4 * v);
    y1[v] = vld1q_s32(state.y1 + 4 * v);
    y2[v] = vld1q_s32(state.y2 + 4 * v);
    e1[v] = vld1q_s32(state.e1 + 4 * v);
    e2[v] = vld1q_s32(state.e2 + 4 * v);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(i) * step;
    for (int v = 0; v < NV; ++v) {
      const int32x4_t x0 = vld1q_s32(x + o + 4 * v);
      int64x2_t lo = vmull_n_s32(vget_low_s32(x0), b0);
      int64x2_t hi = vmull_high_n_s32(x0, b0);
      lo = vmlal_n_s32(lo, vget_low_s32(x1[v]), b1);
      hi = vmlal_high_n_s32(hi, x1[v], b1);
      lo = vmlal_n_s32(lo, vget_low_s32(x2[v]), b2);
      hi = vmlal_high_n_s32(hi, x2[v], b2);
      lo = vmlal_n_s32(lo, vget_low_s32(e1[v]), k1);
      hi = vmlal_high_n_s32(hi, e1[v], k1);
      lo = vmlal_n_s32(lo, vget_low_s32(e2[v]), k2);
      hi = vmlal_high_n_s32(hi, e2[v], k2);
      lo = vmlal_n_s32(lo, vget_low_s32(y2[v]), a2);
      hi = vmlal_high_n_s32(hi, y2[v], a2);
      lo = vmlal_n_s32(lo, vget_low_s32(y1[v]), a1);
      hi = vmlal_high_n_s32(hi, y1[v], a1);
      const int32x4_t y0 = neon::rshift_round_sat32<30>(lo, hi);
      vst1q_s32(y + o + 4 * v, y0);
      e2[v] = e1[v];
      e1[v] = neon::round_residual<30>(lo, hi);
      x2[v] = x1[v];
      x1[v] = x0;
      y2[v] = y1[v];
      y1[v] = y0;
    }
  }
  for (int v = 0; v < NV; ++v) {
    vst1q_s32(state.x1 + 4 * v, x1[v]);
    vst1q_s32(state.x2 + 4 * v, x2[v]);
    vst1q_s32(state.y1 + 4 * v, y1[v]);
    vst1q_s32(state.y2 + 4 * v, y2[v]);
    vst1q_s32(state.e1 + 4 * v, e1[v]);
    vst1q_s32(state.e2 + 4 * v, e2[v]);
  }
}

}  // namespace

void biquad_df1_q31_neon(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y,
                         std::size_t n, std::size_t n_ch, std::ptrdiff_t step) {
  std::size_t c = 0;
  for (; c + 12 <= n_ch; c += 12) block<3>(k, state.from_lane(c), x + c, y + c, n, step);
  for (; c + 4 <= n_ch; c += 4) block<1>(k, state.from_lane(c), x + c, y + c, n, step);
  if (c < n_ch) biquad_df1_q31_scalar(k, state.from_lane(c), x + c, y + c, n, n_ch - c, step);
}

}  // namespace kernels
}  // namespace edgecardio
