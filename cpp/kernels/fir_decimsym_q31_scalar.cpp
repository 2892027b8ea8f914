// fir_decimsym_q31_scalar: integer-factor decimator with symmetric (linear-phase) taps, the
// reference variant. Mirror-image samples are added before the multiply, halving the products.
//
// Arithmetic contract (shared by every fir_decimsym_q31_* variant)
//   input   x     int32 per lane, |x| <= 2^24; the pair sum x[s+m] + x[s+K-1-m] is exact in int32 (2^25)
//   taps    Q31   int32, symmetric, only taps[0 .. K/2] are read
//   acc     int64, exact: the same integer as fir_poly_q31's (|acc| < 2^56), any summation order
//   output  int32, rshift_round_sat32(acc, 31): bit-identical to fir_poly_q31 with up == 1
#include "edgecardio/kernels.h"
#include "edgecardio/qmath.h"

namespace edgecardio {
namespace kernels {

void fir_decimsym_q31_scalar_lanes(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps,
                                   int down, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y,
                                   std::size_t c_begin) {
  const int half = n_taps / 2;
  for (std::size_t j = 0; j < n_out; ++j) {
    const std::int32_t *xs = x + ((j0 + j) * static_cast<std::size_t>(down) + offset) * n_ch;
    for (std::size_t c = c_begin; c < n_ch; ++c) {
      std::int64_t acc = q::mul(taps[half], xs[static_cast<std::size_t>(half) * n_ch + c]);
      for (int m = 0; m < half; ++m) {
        const std::int32_t pair = xs[static_cast<std::size_t>(m) * n_ch + c] +
                                  xs[static_cast<std::size_t>(n_taps - 1 - m) * n_ch + c];
        acc += q::mul(taps[m], pair);
      }
      y[j * n_ch + c] = q::rshift_round_sat32(acc, 31);
    }
  }
}

void fir_decimsym_q31_scalar(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                             std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y) {
  fir_decimsym_q31_scalar_lanes(x, n_ch, taps, n_taps, down, j0, offset, n_out, y, 0);
}

}  // namespace kernels
}  // namespace edgecardio
