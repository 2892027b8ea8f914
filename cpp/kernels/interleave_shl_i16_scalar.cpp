// interleave_shl_i16_scalar: planar int16 rows -> interleaved int32 frames, per-lane left shift.
//
// Arithmetic contract (shared by every interleave_shl_i16_* variant)
//   input   int16 ADC counts; output int32 = input * 2^shift[c], shift in [0, 23]; the pipeline picks
//           shift so that |output| <= 2^24 (preprocess.h). Exact: no rounding, no overflow
//   layout  frames[t * n_ch + c] = in[c * in_stride + t]
#include <algorithm>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels_scalar {

void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames) {
  // Time blocks keep the strided writes of one block in L1.
  constexpr std::size_t kBlock = 256;
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const std::size_t len = std::min(kBlock, n - t0);
    for (std::size_t c = 0; c < n_ch; ++c) {
      const std::int16_t *s = in + c * in_stride + t0;
      std::int32_t *d = frames + t0 * n_ch + c;
      const std::int32_t m = std::int32_t{1} << shift[c];
      for (std::size_t t = 0; t < len; ++t) d[t * n_ch] = std::int32_t{s[t]} * m;
    }
  }
}

}  // namespace kernels_scalar
}  // namespace edgecardio
