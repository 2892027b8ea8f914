// interleave_shl_i16_neon: planar int16 rows -> interleaved int32 frames, 4 leads x 4 samples per
// step: widen (vmovl), shift (vshlq by a per-lead vector), a 4x4 transpose (vtrn/vcombine), so
// every store is a contiguous 4-lead slice of a frame.
//
// Arithmetic contract: identical to interleave_shl_i16_scalar (see there); shifts are exact.
#include <arm_neon.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels_neon {

void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames) {
  std::size_t c = 0;
  for (; c + 4 <= n_ch; c += 4) {
    const std::int16_t *r0 = in + c * in_stride, *r1 = r0 + in_stride, *r2 = r1 + in_stride, *r3 = r2 + in_stride;
    const int32x4_t s0 = vdupq_n_s32(shift[c]), s1 = vdupq_n_s32(shift[c + 1]);
    const int32x4_t s2 = vdupq_n_s32(shift[c + 2]), s3 = vdupq_n_s32(shift[c + 3]);
    std::size_t t = 0;
    for (; t + 4 <= n; t += 4) {
      const int32x4_t a0 = vshlq_s32(vmovl_s16(vld1_s16(r0 + t)), s0);
      const int32x4_t a1 = vshlq_s32(vmovl_s16(vld1_s16(r1 + t)), s1);
      const int32x4_t a2 = vshlq_s32(vmovl_s16(vld1_s16(r2 + t)), s2);
      const int32x4_t a3 = vshlq_s32(vmovl_s16(vld1_s16(r3 + t)), s3);
      const int32x4x2_t p01 = vtrnq_s32(a0, a1), p23 = vtrnq_s32(a2, a3);
      std::int32_t *d = frames + t * n_ch + c;
      vst1q_s32(d, vcombine_s32(vget_low_s32(p01.val[0]), vget_low_s32(p23.val[0])));
      vst1q_s32(d + n_ch, vcombine_s32(vget_low_s32(p01.val[1]), vget_low_s32(p23.val[1])));
      vst1q_s32(d + 2 * n_ch, vcombine_s32(vget_high_s32(p01.val[0]), vget_high_s32(p23.val[0])));
      vst1q_s32(d + 3 * n_ch, vcombine_s32(vget_high_s32(p01.val[1]), vget_high_s32(p23.val[1])));
    }
    for (; t < n; ++t)
      for (std::size_t l = 0; l < 4; ++l)
        frames[t * n_ch + c + l] = std::int32_t{in[(c + l) * in_stride + t]} * (std::int32_t{1} << shift[c + l]);
  }
  for (; c < n_ch; ++c)  // leads left over from the groups of 4
    for (std::size_t t = 0; t < n; ++t)
      frames[t * n_ch + c] = std::int32_t{in[c * in_stride + t]} * (std::int32_t{1} << shift[c]);
}

}  // namespace kernels_neon
}  // namespace edgecardio
