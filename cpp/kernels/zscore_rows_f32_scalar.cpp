// zscore_rows_f32_scalar: interleaved int32 frames -> planar float32 rows, z-scored in double.
//
// Arithmetic contract (shared by every zscore_rows_f32_* variant)
//   input   int32 frames (|y| < 2^30, exact in double)
//   compute (double)y - mean, then * inv_std: two IEEE double operations, never fused (the DSP
//           sources build with -ffp-contract=off), then one round-to-nearest conversion to float
//   output  float32 rows; no saturation needed (|z| <= sqrt(n) for a z-score)
#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void zscore_rows_f32_scalar_lanes(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                                  const double *inv_std, float *out, std::size_t out_stride, std::size_t c_begin) {
  for (std::size_t c = c_begin; c < n_ch; ++c) {
    const double m = mean[c], k = inv_std[c];
    const std::int32_t *yc = frames + c;
    float *o = out + c * out_stride;
    for (std::size_t t = 0; t < n; ++t) o[t] = static_cast<float>((static_cast<double>(yc[t * n_ch]) - m) * k);
  }
}

void zscore_rows_f32_scalar(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                            const double *inv_std, float *out, std::size_t out_stride) {
  zscore_rows_f32_scalar_lanes(frames, n, n_ch, mean, inv_std, out, out_stride, 0);
}

}  // namespace kernels
}  // namespace edgecardio
