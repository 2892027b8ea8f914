// Per-lead z-score. The statistics are exact integers, so they do not depend on summation order
// or engine: sum in int64 (n * 2^30 fits), sum of squares in 128 bits (n * 2^60 fits), and the
// centred sum of squares n*S2 - S1^2 is exact before the single conversion to double. The rows
// are then written by the engine's zscore_rows_f32 kernel.
#include <algorithm>
#include <cmath>

#include "edgecardio/dsp.h"
#include "edgecardio/preprocess.h"

namespace edgecardio {
namespace dsp {
namespace {
// GCC and Clang on every 64-bit target we build for; __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef __int128 int128;
}  // namespace

std::uint64_t normalize(const Engine &engine, const std::int32_t *y, std::size_t n, std::size_t n_ch,
                        const double *scale_to_mv, float *out, std::size_t out_stride, double *lead_std_mv) {
  std::uint64_t flat = 0;
  double mean[kMaxLeads] = {}, inv[kMaxLeads] = {};
  const double dn = static_cast<double>(n);
  for (std::size_t c = 0; c < n_ch; ++c) {
    std::int64_t s1 = 0;
    int128 s2 = 0;
    const std::int32_t *yc = y + c;
    std::size_t t = 0;
    for (; t + 8 <= n; t += 8) {  // 8 squares < 2^60 each fit an int64: fewer 128-bit adds
      std::int64_t sq = 0;
      for (std::size_t k = 0; k < 8; ++k) {
        const std::int64_t v = yc[(t + k) * n_ch];
        s1 += v;
        sq += v * v;
      }
      s2 += sq;
    }
    for (; t < n; ++t) {
      const std::int64_t v = yc[t * n_ch];
      s1 += v;
      s2 += v * v;
    }
    const int128 centred = static_cast<int128>(n) * s2 - static_cast<int128>(s1) * s1;  // n^2 * var
    mean[c] = static_cast<double>(s1) / dn;
    const double std_q = std::sqrt(static_cast<double>(centred) / (dn * dn));
    const double std_mv = std_q * scale_to_mv[c];
    if (lead_std_mv != nullptr) lead_std_mv[c] = std_mv;
    inv[c] = 1.0 / std_q;
    if (!(std_mv >= kFlatStdMv) || std_q == 0.0) {
      flat |= std::uint64_t{1} << c;
      mean[c] = inv[c] = 0.0;  // finite placeholders; the row is overwritten with +0.0 below
    }
  }
  engine.zscore_rows_f32(y, n, n_ch, mean, inv, out, out_stride);
  for (std::size_t c = 0; c < n_ch; ++c)
    if (flat >> c & 1U) std::fill(out + c * out_stride, out + c * out_stride + n, 0.0f);
  return flat;
}

}  // namespace dsp
}  // namespace edgecardio
