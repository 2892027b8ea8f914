// biquad_df1_q31_scalar: one direct-form-I biquad section per lane, with error feedback; the
// reference variant.
//
// Arithmetic contract (shared by every biquad_df1_q31_* variant)
//   input/output  int32 per lane, |x|, |y| < 2^29.5 within the pipeline (coeffs::kHeadroomLog2)
//   coeffs        Q30 int32: b0, b1, b2, -a1, -a2 (|a1| < 2 needs the one bit of integer part;
//                 b1 = -2 of the high-pass section is exactly INT32_MIN); k1, k2 small integers
//   acc           int64: b0*x[n] + b1*x[n-1] + b2*x[n-2] + (-a1)*y[n-1] + (-a2)*y[n-2]
//                        + k1*e[n-1] + k2*e[n-2], exact; |acc| < 2^62.3 within the pipeline
//   output        y[n] = rshift_round_sat32(acc, 30): one round-half-up per output, saturating
//   residual      e[n] = round_residual(acc, 30) in [-2^29, 2^29): what the rounding dropped. With
//                 (k1, k2) = (2, -1) the output noise is shaped by (1 - z^-1)^2, cancelling the
//                 ~60 dB low-frequency noise gain of the 0.5 Hz high-pass poles (fraction saving)
//   state         x1, x2, y1, y2, e1, e2 per lane; chunked == one-shot, bit for bit
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"

namespace edgecardio {
namespace kernels {

void biquad_df1_q31_scalar(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y,
                           std::size_t n, std::size_t n_ch, std::ptrdiff_t step) {
  for (std::size_t c = 0; c < n_ch; ++c) {
    std::int32_t x1 = state.x1[c], x2 = state.x2[c], y1 = state.y1[c], y2 = state.y2[c];
    std::int32_t e1 = state.e1[c], e2 = state.e2[c];
    const std::int32_t *xc = x + c;
    std::int32_t *yc = y + c;
    for (std::size_t i = 0; i < n; ++i) {
      const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(i) * step;
      const std::int32_t x0 = xc[o];
      const std::int64_t acc = q::mul(k.c[0], x0) + q::mul(k.c[1], x1) + q::mul(k.c[2], x2) +
                               q::mul(k.ef[0], e1) + q::mul(k.ef[1], e2) + q::mul(k.c[4], y2) +
                               q::mul(k.c[3], y1);
      const std::int32_t y0 = q::rshift_round_sat32(acc, 30);
      e2 = e1;
      e1 = static_cast<std::int32_t>(q::round_residual(acc, 30));
      x2 = x1;
      x1 = x0;
      y2 = y1;
      y1 = y0;
      yc[o] = y0;
    }
    state.x1[c] = x1;
    state.x2[c] = x2;
    state.y1[c] = y1;
    state.y2[c] = y2;
    state.e1[c] = e1;
    state.e2[c] = e2;
  }
}

}  // namespace kernels
}  // namespace edgecardio
