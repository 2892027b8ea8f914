// Per-lead z-score. The statistics are exact integers, so they do not depend on summation order
// or engine: sum in int64 (n * 2^30 fits), sum of squares in 128 bits (n * 2^60 fits), and the
// centred sum of squares n*S2 - S1^2 is exact before the single conversion to double.
#include <cmath>

#include "edgecardio/dsp.h"
#include "edgecardio/preprocess.h"

namespace edgecardio {
namespace dsp {
namespace {
// GCC and Clang on every 64-bit target we build for; __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef __int128 int128;
}  // namespace

std::uint64_t normalize(const std::int32_t *y, std::size_t n, std::size_t n_ch, const double *scale_to_mv,
                        float *out, std::size_t out_stride, double *lead_std_mv) {
  std::uint64_t flat = 0;
  const double dn = static_cast<double>(n);
  for (std::size_t c = 0; c < n_ch; ++c) {
    std::int64_t s1 = 0;
    int128 s2 = 0;
    for (std::size_t t = 0; t < n; ++t) {
      const std::int64_t v = y[t * n_ch + c];
      s1 += v;
      s2 += static_cast<int128>(v * v);
    }
    const int128 centred = static_cast<int128>(n) * s2 - static_cast<int128>(s1) * s1;  // n^2 * var
    const double mean = static_cast<double>(s1) / dn;
    const double std_q = std::sqrt(static_cast<double>(centred) / (dn * dn));
    const double std_mv = std_q * scale_to_mv[c];
    if (lead_std_mv != nullptr) lead_std_mv[c] = std_mv;
    float *o = out + c * out_stride;
    if (!(std_mv >= kFlatStdMv) || std_q == 0.0) {
      flat |= std::uint64_t{1} << c;
      for (std::size_t t = 0; t < n; ++t) o[t] = 0.0f;
      continue;
    }
    const double inv = 1.0 / std_q;
    for (std::size_t t = 0; t < n; ++t) o[t] = static_cast<float>((static_cast<double>(y[t * n_ch + c]) - mean) * inv);
  }
  return flat;
}

}  // namespace dsp
}  // namespace edgecardio
