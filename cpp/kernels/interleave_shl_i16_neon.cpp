// interleave_shl_i16_neon: planar int16 rows -> interleaved int32 frames, 4 leads x 4 samples per
// step: widen (vmovl), shift (vshlq by a per-lead vector), a 4x4 transpose (vtrn/vcombine), so
// every store is a contiguous 4-lead slice of a frame.
//
// Arithmetic contract: identical to interleave_shl_i16_scalar (see there); shifts are exact.
#include <arm_neon.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void interleave_shl_i16_neon(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                             const int *shift, std::int32_t *frames) {
  const std::size_t groups = n_ch / 4;
  const std::size_t n4 = n / 4 * 4;
  // Time outside, lead groups inside: each block of 4 frames is written completely, in one go.
  for (std::size_t t = 0; t < n4; t += 4) {
    std::int32_t *d = frames + t * n_ch;
    for (std::size_t g = 0; g < groups; ++g) {
      const std::size_t c = 4 * g;
      const auto load = [&](std::size_t l) {
        return vshlq_s32(vmovl_s16(vld1_s16(in + (c + l) * in_stride + t)), vdupq_n_s32(shift[c + l]));
      };
      const int32x4_t a0 = load(0), a1 = load(1), a2 = load(2), a3 = load(3);
      const int32x4x2_t p01 = vtrnq_s32(a0, a1), p23 = vtrnq_s32(a2, a3);
      vst1q_s32(d + c, vcombine_s32(vget_low_s32(p01.val[0]), vget_low_s32(p23.val[0])));
      vst1q_s32(d + n_ch + c, vcombine_s32(vget_low_s32(p01.val[1]), vget_low_s32(p23.val[1])));
      vst1q_s32(d + 2 * n_ch + c, vcombine_s32(vget_high_s32(p01.val[0]), vget_high_s32(p23.val[0])));
      vst1q_s32(d + 3 * n_ch + c, vcombine_s32(vget_high_s32(p01.val[1]), vget_high_s32(p23.val[1])));
    }
  }
  // The scalar kernel itself for the leads left over from the groups of 4 and the frames left over
  // from the blocks.
  if (4 * groups < n_ch) interleave_shl_i16_scalar_lanes(in, n_ch, n4, in_stride, shift, frames, 4 * groups);
  if (n4 < n) interleave_shl_i16_scalar(in + n4, n_ch, n - n4, in_stride, shift, frames + n4 * n_ch);
}

}  // namespace kernels
}  // namespace edgecardio
