// Least-squares line removal and block-floating-point conversion of leads (contract in detrend.h).
#include "edgecardio/detrend.h"

#include <algorithm>
#include <cmath>

#include "edgecardio/coeffs_generated.h"

namespace edgecardio {
namespace dsp {
namespace {
// GCC and Clang on every 64-bit target we build for; __extension__ keeps -Wpedantic quiet about it.
__extension__ typedef __int128 int128;

constexpr int kBlock = 256;

// sum over t of (t - t_c)^2 = n (n^2 - 1) / 12: the slope's denominator.
double centred_square_sum(std::size_t n) {
  const double dn = static_cast<double>(n);
  return dn * (dn * dn - 1.0) / 12.0;
}

LineRemoval fit(const std::int16_t *x, std::size_t n) {
  // Blocks of 64: k * x < 2^6 * 2^15, so a block's sums fit int32 (int16 products that SSE2 and
  // NEON multiply-accumulate in vectors); the totals are int128, exact at any length.
  constexpr std::size_t kSumBlock = 64;
  int128 s0 = 0, s1 = 0;  // sum x, sum t * x
  for (std::size_t t0 = 0; t0 < n; t0 += kSumBlock) {
    const int len = static_cast<int>(std::min(kSumBlock, n - t0));
    const std::int16_t *xb = x + t0;
    std::int32_t b0 = 0, b1 = 0;
    for (int k = 0; k < len; ++k) {
      b0 += xb[k];
      b1 += static_cast<std::int16_t>(k) * xb[k];
    }
    s0 += b0;
    s1 += static_cast<int128>(t0) * b0 + b1;
  }
  const int128 nn = static_cast<int128>(n);
  int128 floor_mean = s0 / nn;  // truncates toward zero; make it the floor
  if (s0 % nn != 0 && s0 < 0) --floor_mean;
  LineRemoval p;
  p.tc = 0.5 * static_cast<double>(n - 1);
  p.origin = static_cast<double>(floor_mean);
  // Both are unchanged by a whole-count offset c: the remainder of the mean, and
  // 2 * sum (t - t_c) x = 2 s1 - (n - 1) s0, which moves by 2c n(n-1)/2 - (n-1) c n = 0.
  p.level = static_cast<double>(s0 - floor_mean * nn) / static_cast<double>(n);
  const int128 twice_cov = 2 * s1 - static_cast<int128>(n - 1) * s0;
  p.slope = n > 1 ? static_cast<double>(twice_cov) / (2.0 * centred_square_sum(n)) : 0.0;
  return p;
}

template <typename F>
LineRemoval fit(const F *x, std::size_t n, double prescale) {
  LineRemoval p;
  p.prescale = prescale;
  p.tc = 0.5 * static_cast<double>(n - 1);
  double s0 = 0.0, s1 = 0.0;  // sum v, sum (t - t_c) v, with v = x * prescale < 2^24: no overflow
  for (std::size_t t = 0; t < n; ++t) {
    const double v = static_cast<double>(x[t]) * prescale;
    s0 += v;
    s1 += (static_cast<double>(t) - p.tc) * v;
  }
  p.level = s0 / static_cast<double>(n);
  p.slope = n > 1 ? s1 / centred_square_sum(n) : 0.0;
  return p;
}

// Residuals of len samples starting at sample t0. One function serves both the exponent and the
// conversion, so the exponent is chosen from exactly the values that are then rounded. Block-local
// int indices and a double time origin keep the loop free of 64-bit integer conversions: it
// vectorizes.
template <typename T>
void residuals(const T *x, std::size_t t0, int len, const LineRemoval &p, double *r) {
  const double u0 = static_cast<double>(t0) - p.tc;  // exact: integers and halves below 2^53
  for (int k = 0; k < len; ++k)
    r[k] = (static_cast<double>(x[t0 + static_cast<std::size_t>(k)]) - p.origin) * p.prescale -
           (p.level + p.slope * (u0 + static_cast<double>(k)));
}

template <typename T>
LineRemoval plan(const T *x, std::size_t n, LineRemoval p) {
  double r[kBlock];
  // Four running maxima: one would be a chain of dependent max operations (compilers do not
  // vectorize a floating-point max reduction without -ffast-math).
  double m[4] = {0.0, 0.0, 0.0, 0.0};
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const int len = static_cast<int>(std::min<std::size_t>(kBlock, n - t0));
    residuals(x, t0, len, p, r);
    int k = 0;
    for (; k + 4 <= len; k += 4)
      for (int j = 0; j < 4; ++j) m[j] = std::max(m[j], std::fabs(r[k + j]));
    for (; k < len; ++k) m[0] = std::max(m[0], std::fabs(r[k]));
  }
  const double maxabs = std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
  p.exponent = 0;
  if (maxabs > 0.0) {
    int k = 0;
    (void)std::frexp(maxabs, &k);  // maxabs = m * 2^k, m in [0.5, 1): maxabs * 2^(24 - k) < 2^24
    p.exponent = std::min(coeffs::kInputBits - k, kMaxLineExponent);
  }
  return p;
}

// Round half to even without a libm call (x86-64's baseline has no rounding instruction): adding
// and removing 1.5 * 2^52 leaves the nearest integer, ties to even in the default rounding mode,
// for |v| < 2^51. Only -ffast-math could fold it away, and the build never uses it.
inline std::int32_t round_to_int32(double v) {
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  return static_cast<std::int32_t>((v + kMagic) - kMagic);
}

template <typename T>
void interleave(const T *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride, const LineRemoval *plans,
                std::int32_t *dst) {
  double r[kBlock];
  std::int32_t q[kBlock];
  for (std::size_t t0 = 0; t0 < n; t0 += kBlock) {
    const int len = static_cast<int>(std::min<std::size_t>(kBlock, n - t0));
    for (std::size_t c = 0; c < n_ch; ++c) {
      const LineRemoval &p = plans[c];
      residuals(in + c * in_lead_stride, t0, len, p, r);
      const double mult = std::ldexp(1.0, p.exponent);  // exact: the only rounding is round_to_int32
      for (int k = 0; k < len; ++k) q[k] = round_to_int32(r[k] * mult);
      std::int32_t *d = dst + t0 * n_ch + c;
      for (int k = 0; k < len; ++k) d[static_cast<std::size_t>(k) * n_ch] = q[k];
    }
  }
}

}  // namespace

double LineRemoval::unit() const { return std::ldexp(1.0, -exponent) / prescale; }

LineRemoval plan_line_removal(const std::int16_t *x, std::size_t n) { return plan(x, n, fit(x, n)); }
LineRemoval plan_line_removal(const float *x, std::size_t n, double prescale) {
  return plan(x, n, fit(x, n, prescale));
}
LineRemoval plan_line_removal(const double *x, std::size_t n, double prescale) {
  return plan(x, n, fit(x, n, prescale));
}

void interleave_without_line(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst) {
  interleave(in, n_ch, n, in_lead_stride, plans, dst);
}
void interleave_without_line(const float *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst) {
  interleave(in, n_ch, n, in_lead_stride, plans, dst);
}
void interleave_without_line(const double *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst) {
  interleave(in, n_ch, n, in_lead_stride, plans, dst);
}

}  // namespace dsp
}  // namespace edgecardio
