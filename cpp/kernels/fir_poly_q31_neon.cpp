// fir_poly_q31_neon: the polyphase resampler across leads, 4 leads per int32x4, up to 12 at once.
//
// Arithmetic contract: identical to fir_poly_q31_scalar (see there): int32 x Q31 taps summed
// exactly in int64 by vmlal_n_s32 / vmlal_high_n_s32 (|acc| < 2^56), then
// vqmovn(vrshr(acc, 31)), the twin of q::rshift_round_sat32(acc, 31).
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_neon.h"

namespace edgecardio {
namespace kernels {

void fir_poly_q31_neon(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                       int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::size_t t = (j0 + j) * static_cast<std::size_t>(down) + offset;
    const std::int32_t *h = taps + (t % static_cast<std::size_t>(up)) * static_cast<std::size_t>(n_taps);
    const std::int32_t *xs = x + (t / static_cast<std::size_t>(up)) * n_ch;
    std::int32_t *yj = y + j * n_ch;
    std::size_t c = 0;
    for (; c + 12 <= n_ch; c += 12) {
      int64x2_t a0 = vdupq_n_s64(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
      const std::int32_t *xp = xs + c;
      for (int m = 0; m < n_taps; ++m, xp += n_ch) {
        const std::int32_t hm = h[m];
        const int32x4_t v0 = vld1q_s32(xp), v1 = vld1q_s32(xp + 4), v2 = vld1q_s32(xp + 8);
        a0 = vmlal_n_s32(a0, vget_low_s32(v0), hm);
        a1 = vmlal_high_n_s32(a1, v0, hm);
        a2 = vmlal_n_s32(a2, vget_low_s32(v1), hm);
        a3 = vmlal_high_n_s32(a3, v1, hm);
        a4 = vmlal_n_s32(a4, vget_low_s32(v2), hm);
        a5 = vmlal_high_n_s32(a5, v2, hm);
      }
      vst1q_s32(yj + c, neon::rshift_round_sat32<31>(a0, a1));
      vst1q_s32(yj + c + 4, neon::rshift_round_sat32<31>(a2, a3));
      vst1q_s32(yj + c + 8, neon::rshift_round_sat32<31>(a4, a5));
    }
    for (; c + 4 <= n_ch; c += 4) {
      int64x2_t a0 = vdupq_n_s64(0), a1 = a0;
      const std::int32_t *xp = xs + c;
      for (int m = 0; m < n_taps; ++m, xp += n_ch) {
        const int32x4_t v0 = vld1q_s32(xp);
        a0 = vmlal_n_s32(a0, vget_low_s32(v0), h[m]);
        a1 = vmlal_high_n_s32(a1, v0, h[m]);
      }
      vst1q_s32(yj + c, neon::rshift_round_sat32<31>(a0, a1));
    }
  }
  // Lanes left over from the register blocks: the scalar kernel itself.
  if (n_ch % 4 != 0) fir_poly_q31_scalar_lanes(x, n_ch, taps, up, down, n_taps, j0, offset, n_out, y, n_ch / 4 * 4);
}

}  // namespace kernels
}  // namespace edgecardio
