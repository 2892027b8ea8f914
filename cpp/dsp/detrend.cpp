// Least-squares line removal and block-floating-point conversion of one lead (contract in detrend.h).
#include "edgecardio/detrend.h"

#include <algorithm>
#include <cmath>

#include "edgecardio/coeffs_generated.h"

namespace edgecardio {
namespace dsp {
namespace {
// GCC and Clang on every 64-bit target we build for; __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef __int128 int128;

struct Line {
  double origin = 0.0;  // subtracted before prescaling (exactly representable)
  double level = 0.0;   // the line at t_c, after origin and prescale
  double slope = 0.0;   // per sample
  double tc = 0.0;      // (n - 1) / 2
};

// sum over t of (t - t_c)^2 = n (n^2 - 1) / 12: the slope's denominator.
double centred_square_sum(std::size_t n) {
  const double dn = static_cast<double>(n);
  return dn * (dn * dn - 1.0) / 12.0;
}

Line fit(const std::int16_t *x, std::size_t n) {
  // Per block, k * x < 2^16 * 2^15 and the block sums fit an int64; the totals are int128, so
  // the sums are exact at any length.
  constexpr std::size_t kBlock = std::size_t{1} << 16;
  int128 s0 = 0, s1 = 0;  // sum x, sum t * x
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const std::size_t len = std::min(kBlock, n - t0);
    const std::int16_t *xb = x + t0;
    std::int64_t b0 = 0, b1 = 0;
    for (std::size_t k = 0; k < len; ++k) {
      b0 += xb[k];
      b1 += static_cast<std::int64_t>(k) * xb[k];
    }
    s0 += b0;
    s1 += static_cast<int128>(t0) * b0 + b1;
  }
  const int128 nn = static_cast<int128>(n);
  int128 floor_mean = s0 / nn;  // truncates toward zero; make it the floor
  if (s0 % nn != 0 && s0 < 0) --floor_mean;
  Line line;
  line.tc = 0.5 * static_cast<double>(n - 1);
  line.origin = static_cast<double>(floor_mean);
  // Both are unchanged by a whole-count offset c: the remainder of the mean, and
  // 2 * sum (t - t_c) x = 2 s1 - (n - 1) s0, which moves by 2c n(n-1)/2 - (n-1) c n = 0.
  line.level = static_cast<double>(s0 - floor_mean * nn) / static_cast<double>(n);
  const int128 twice_cov = 2 * s1 - static_cast<int128>(n - 1) * s0;
  line.slope = n > 1 ? static_cast<double>(twice_cov) / (2.0 * centred_square_sum(n)) : 0.0;
  return line;
}

template <typename F>
Line fit(const F *x, std::size_t n, double prescale) {
  Line line;
  line.tc = 0.5 * static_cast<double>(n - 1);
  double s0 = 0.0, s1 = 0.0;  // sum v, sum (t - t_c) v, with v = x * prescale < 2^24: no overflow
  for (std::size_t t = 0; t < n; ++t) {
    const double v = static_cast<double>(x[t]) * prescale;
    s0 += v;
    s1 += (static_cast<double>(t) - line.tc) * v;
  }
  line.level = s0 / static_cast<double>(n);
  line.slope = n > 1 ? s1 / centred_square_sum(n) : 0.0;
  return line;
}

template <typename T>
inline double residual(const T *x, std::size_t t, const Line &line, double prescale) {
  return (static_cast<double>(x[t]) - line.origin) * prescale -
         (line.level + line.slope * (static_cast<double>(t) - line.tc));
}

// Round half to even without a libm call (x86-64's baseline has no rounding instruction): adding
// and removing 1.5 * 2^52 leaves the nearest integer, ties to even in the default rounding mode,
// for |v| < 2^51. Only -ffast-math could fold it away, and the build never uses it.
inline std::int32_t round_to_int32(double v) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  return static_cast<std::int32_t>((v + kMagic) - kMagic);
}

template <typename T>
double convert(const T *x, std::size_t n, const Line &line, double prescale, std::int32_t *dst, std::size_t n_ch) {
  double maxabs = 0.0;
  for (std::size_t t = 0; t < n; ++t) maxabs = std::max(maxabs, std::fabs(residual(x, t, line, prescale)));
  int e = 0;
  if (maxabs > 0.0) {
    int k = 0;
    (void)std::frexp(maxabs, &k);  // maxabs = m * 2^k, m in [0.5, 1): maxabs * 2^(24 - k) < 2^24
    e = std::min(coeffs::kInputBits - k, kMaxDetrendExponent);
  }
  const double mult = std::ldexp(1.0, e);  // exact scaling: the only rounding is round_to_int32
  for (std::size_t t = 0; t < n; ++t) dst[t * n_ch] = round_to_int32(residual(x, t, line, prescale) * mult);
  return std::ldexp(1.0, -e) / prescale;
}

}  // namespace

double detrend_interleave(const std::int16_t *x, std::size_t n, std::int32_t *dst, std::size_t n_ch) {
  return convert(x, n, fit(x, n), 1.0, dst, n_ch);
}

double detrend_interleave(const float *x, std::size_t n, double prescale, std::int32_t *dst, std::size_t n_ch) {
  return convert(x, n, fit(x, n, prescale), prescale, dst, n_ch);
}

double detrend_interleave(const double *x, std::size_t n, double prescale, std::int32_t *dst, std::size_t n_ch) {
  return convert(x, n, fit(x, n, prescale), prescale, dst, n_ch);
}

}  // namespace dsp
}  // namespace edgecardio
