// fir_decimsym_q31_neon: symmetric decimator across leads, 4 leads per int32x4, 12 at once.
//
// Arithmetic contract: identical to fir_decimsym_q31_scalar (see there): exact int32 pair sums
// (vaddq_s32, |sum| <= 2^25), exact int64 products and sums (vmlal), vqmovn(vrshr(acc, 31)).
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"
#include "qmath_neon.h"

namespace edgecardio {
namespace kernels {

void fir_decimsym_q31_neon(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                           std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  const int half = n_taps / 2;
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::int32_t *xs = x + ((j0 + j) * static_cast<std::size_t>(down) + offset) * n_ch;
    std::int32_t *yj = y + j * n_ch;
    std::size_t c = 0;
    for (; c + 12 <= n_ch; c += 12) {
      const std::int32_t *mid = xs + static_cast<std::size_t>(half) * n_ch + c;
      const std::int32_t th = taps[half];
      const int32x4_t m0 = vld1q_s32(mid), m1 = vld1q_s32(mid + 4), m2 = vld1q_s32(mid + 8);
      int64x2_t a0 = vmull_n_s32(vget_low_s32(m0), th), a1 = vmull_high_n_s32(m0, th);
      int64x2_t a2 = vmull_n_s32(vget_low_s32(m1), th), a3 = vmull_high_n_s32(m1, th);
      int64x2_t a4 = vmull_n_s32(vget_low_s32(m2), th), a5 = vmull_high_n_s32(m2, th);
      const std::int32_t *lo = xs + c, *hi = xs + static_cast<std::size_t>(n_taps - 1) * n_ch + c;
      for (int m = 0; m < half; ++m, lo += n_ch, hi -= n_ch) {
        const std::int32_t hm = taps[m];
        const int32x4_t v0 = vaddq_s32(vld1q_s32(lo), vld1q_s32(hi));
        const int32x4_t v1 = vaddq_s32(vld1q_s32(lo + 4), vld1q_s32(hi + 4));
        const int32x4_t v2 = vaddq_s32(vld1q_s32(lo + 8), vld1q_s32(hi + 8));
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
      const int32x4_t mv = vld1q_s32(xs + static_cast<std::size_t>(half) * n_ch + c);
      int64x2_t a0 = vmull_n_s32(vget_low_s32(mv), taps[half]), a1 = vmull_high_n_s32(mv, taps[half]);
      const std::int32_t *lo = xs + c, *hi = xs + static_cast<std::size_t>(n_taps - 1) * n_ch + c;
      for (int m = 0; m < half; ++m, lo += n_ch, hi -= n_ch) {
        const int32x4_t v0 = vaddq_s32(vld1q_s32(lo), vld1q_s32(hi));
        a0 = vmlal_n_s32(a0, vget_low_s32(v0), taps[m]);
        a1 = vmlal_high_n_s32(a1, v0, taps[m]);
      }
      vst1q_s32(yj + c, neon::rshift_round_sat32<31>(a0, a1));
    }
  }
  // Lanes left over from the register blocks: the scalar kernel itself.
  if (n_ch % 4 != 0) fir_decimsym_q31_scalar_lanes(x, n_ch, taps, n_taps, down, j0, offset, n_out, y, n_ch / 4 * 4);
}

}  // namespace kernels
}  // namespace edgecardio
