// interleave_shl_i16_scalar: planar int16 rows -> interleaved int32 frames, per-lane left shift.
//
// Arithmetic contract (shared by every interleave_shl_i16_* variant)
//   input   int16 ADC counts; output int32 = input * 2^shift[c] modulo 2^32, shift in [0, 23]; the
//           pipeline picks shift so that |output| <= 2^24 (preprocess.h): exact, no rounding, no
//           overflow. Larger shifts wrap (defined behaviour, the same bits as the vector shifts)
//   layout  frames[t * n_ch + c] = in[c * in_stride + t]
#include <algorithm>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace kernels {

void interleave_shl_i16_scalar_lanes(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                                     const int *shift, std::int32_t *frames, std::size_t c_begin) {
  // Time blocks keep the strided writes of one block in L1.
  constexpr std::size_t kBlock = 256;
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const std::size_t len = std::min(kBlock, n - t0);
    for (std::size_t c = c_begin; c < n_ch; ++c) {
      const std::int16_t *s = in + c * in_stride + t0;
      std::int32_t *d = frames + t0 * n_ch + c;
      const int k = shift[c];
      // In unsigned arithmetic the shift is defined for every input; it wraps like vpslld / vshlq.
      for (std::size_t t = 0; t < len; ++t)
        d[t * n_ch] = static_cast<std::int32_t>(static_cast<std::uint32_t>(s[t]) << k);
    }
  }
}

void interleave_shl_i16_scalar(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                               const int *shift, std::int32_t *frames) {
  interleave_shl_i16_scalar_lanes(in, n_ch, n, in_stride, shift, frames, 0);
}

}  // namespace kernels
}  // namespace edgecardio
