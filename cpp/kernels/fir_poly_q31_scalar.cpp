// fir_poly_q31_scalar: polyphase FIR resampler, the reference variant.
//
// Arithmetic contract (shared by every fir_poly_q31_* variant)
//   input   x     int32 per lane, |x| <= 2^24 (the pipeline's block-floating-point scaling)
//   taps    Q31   int32, |h| < 1; per phase sum|h| <= 1.83 (tools/gen_coeffs.py)
//   acc     int64, exact sum of int32 x Q31 products: |acc| <= 2^24 * 1.83 * 2^31 < 2^56, no overflow
//           for any order of summation, which is why vector variants may sum in any order
//   output  int32, rshift_round_sat32(acc, 31): one round-half-up per output, saturating
//           (it cannot saturate within the contract; the output carries the input's scale)
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"

namespace edgecardio {
namespace kernels {

void fir_poly_q31_scalar_lanes(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                               int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y,
                               std::size_t c_begin) {
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::size_t t = (j0 + j) * static_cast<std::size_t>(down) + offset;
    const std::int32_t *h = taps + (t % static_cast<std::size_t>(up)) * static_cast<std::size_t>(n_taps);
    const std::int32_t *xs = x + (t / static_cast<std::size_t>(up)) * n_ch;
    for (std::size_t c = c_begin; c < n_ch; ++c) {
      std::int64_t acc = 0;
      for (int m = 0; m < n_taps; ++m) acc += q::mul(h[m], xs[static_cast<std::size_t>(m) * n_ch + c]);
      y[j * n_ch + c] = q::rshift_round_sat32(acc, 31);
    }
  }
}

void fir_poly_q31_scalar(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                         int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  fir_poly_q31_scalar_lanes(x, n_ch, taps, up, down, n_taps, j0, offset, n_out, y, 0);
}

}  // namespace kernels
}  // namespace edgecardio
