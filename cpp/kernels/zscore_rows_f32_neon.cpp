// zscore_rows_f32_neon: 4 leads x 4 frames per step: int32 -> int64 -> double (exact), subtract,
// multiply, round to float, then a 4 x 4 transpose so each lead's samples are stored contiguously.
//
// Arithmetic contract: identical to zscore_rows_f32_scalar (see there): vsubq_f64, vmulq_f64 and
// vcvt_f32_f64 are the scalar IEEE operations lane by lane (separate instructions, never fused).
#include <arm_neon.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void zscore_rows_f32_neon(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                          const double *inv_std, float *out, std::size_t out_stride) {
  std::size_t c = 0;
  for (; c + 4 <= n_ch; c += 4) {
    const float64x2_t m0 = vld1q_f64(mean + c), m1 = vld1q_f64(mean + c + 2);
    const float64x2_t k0 = vld1q_f64(inv_std + c), k1 = vld1q_f64(inv_std + c + 2);
    float *o0 = out + c * out_stride, *o1 = o0 + out_stride, *o2 = o1 + out_stride, *o3 = o2 + out_stride;
    const auto z = [&](std::size_t t) {  // frame t, leads c..c+3, as 4 floats
      const int32x4_t v = vld1q_s32(frames + t * n_ch + c);
      const float64x2_t lo = vcvtq_f64_s64(vmovl_s32(vget_low_s32(v)));
      const float64x2_t hi = vcvtq_f64_s64(vmovl_high_s32(v));
      return vcombine_f32(vcvt_f32_f64(vmulq_f64(vsubq_f64(lo, m0), k0)),
                          vcvt_f32_f64(vmulq_f64(vsubq_f64(hi, m1), k1)));
    };
    std::size_t t = 0;
    for (; t + 4 <= n; t += 4) {
      const float32x4_t f0 = z(t), f1 = z(t + 1), f2 = z(t + 2), f3 = z(t + 3);
      const float32x4x2_t p01 = vtrnq_f32(f0, f1), p23 = vtrnq_f32(f2, f3);
      vst1q_f32(o0 + t, vcombine_f32(vget_low_f32(p01.val[0]), vget_low_f32(p23.val[0])));
      vst1q_f32(o1 + t, vcombine_f32(vget_low_f32(p01.val[1]), vget_low_f32(p23.val[1])));
      vst1q_f32(o2 + t, vcombine_f32(vget_high_f32(p01.val[0]), vget_high_f32(p23.val[0])));
      vst1q_f32(o3 + t, vcombine_f32(vget_high_f32(p01.val[1]), vget_high_f32(p23.val[1])));
    }
    for (; t < n; ++t) {
      float f[4];
      vst1q_f32(f, z(t));
      o0[t] = f[0];
      o1[t] = f[1];
      o2[t] = f[2];
      o3[t] = f[3];
    }
  }
  // Leads left over from the groups of 4: the scalar kernel itself.
  if (c < n_ch) zscore_rows_f32_scalar_lanes(frames, n, n_ch, mean, inv_std, out, out_stride, c);
}

}  // namespace kernels
}  // namespace edgecardio
