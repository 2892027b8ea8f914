// zscore_rows_f32_avx2: 4 leads x 4 frames per step: int32 -> double (exact), subtract, multiply,
// round to float, then a 4 x 4 transpose so each lead's 4 samples are stored contiguously.
//
// Arithmetic contract: identical to zscore_rows_f32_scalar (see there): vsubpd, vmulpd and
// vcvtpd2ps are the scalar IEEE operations lane by lane (no FMA: -mavx2 alone does not enable it).
#include <immintrin.h>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void zscore_rows_f32_avx2(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                          const double *inv_std, float *out, std::size_t out_stride) {
  std::size_t c = 0;
  for (; c + 4 <= n_ch; c += 4) {
    const __m256d m = _mm256_loadu_pd(mean + c), k = _mm256_loadu_pd(inv_std + c);
    float *o0 = out + c * out_stride, *o1 = o0 + out_stride, *o2 = o1 + out_stride, *o3 = o2 + out_stride;
    const auto z = [&](std::size_t t) {  // frame t, leads c..c+3, as 4 floats
      const __m256d v = _mm256_cvtepi32_pd(_mm_loadu_si128(reinterpret_cast<const __m128i *>(frames + t * n_ch + c)));
      return _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(v, m), k));
    };
    std::size_t t = 0;
    for (; t + 4 <= n; t += 4) {
      __m128 f0 = z(t), f1 = z(t + 1), f2 = z(t + 2), f3 = z(t + 3);
      _MM_TRANSPOSE4_PS(f0, f1, f2, f3);  // now f_l = lead c+l at frames t..t+3
      _mm_storeu_ps(o0 + t, f0);
      _mm_storeu_ps(o1 + t, f1);
      _mm_storeu_ps(o2 + t, f2);
      _mm_storeu_ps(o3 + t, f3);
    }
    for (; t < n; ++t) {
      alignas(16) float f[4];
      _mm_store_ps(f, z(t));
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
