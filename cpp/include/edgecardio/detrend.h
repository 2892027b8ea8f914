// Conversion of leads into block-floating-point int32 frames with each lead's least-squares line
// removed, for every rate that is resampled (edgecardio.reference removes the line before
// resample_poly). The resampler pads with zeros; a lead that still carried its electrode offset or
// drift would meet that padding as a step at each edge, and the band-pass would turn the step into
// a transient.
#pragma once
#include <cstddef>
#include <cstdint>

namespace edgecardio {
namespace dsp {

// Arithmetic contract:
//  * Input: int16 counts, or float/double values multiplied first by `prescale` (a power of two
//    chosen by the caller so that |x * prescale| < 2^24: exact, and every sum below stays finite).
//  * The line: least squares over t = 0 .. n-1, centred at t_c = (n - 1) / 2. For int16 the sums
//    are exact integers (int64 per block, int128 overall) and the floor of the mean is subtracted
//    as an integer before anything is rounded, so adding a whole number of counts to a lead leaves
//    every later value, and the output, bit for bit unchanged. Float sums are plain double sums.
//  * r[t] = (x[t] - origin) * prescale - (level + slope * (t - t_c)) in double, unfused (the DSP
//    files are built with -ffp-contract=off), so every ISA gets the same bits.
//  * Exponent: e is the largest with max|r| * 2^e < 2^24, at most kMaxLineExponent (a residual
//    that small is flat at any gain); out = round-half-even(r * 2^e), so |out| <= 2^24: the same
//    input headroom as the path without line removal (see preprocess.h).
constexpr int kMaxLineExponent = 64;

// One lead's line and exponent, from two passes over its samples.
struct LineRemoval {
  double origin = 0.0;    // subtracted before prescaling (an integer for int16 input)
  double prescale = 1.0;  // power of two
  double level = 0.0;     // the line at t_c, in prescaled units
  double slope = 0.0;     // per sample, in prescaled units
  double tc = 0.0;        // (n - 1) / 2
  int exponent = 0;       // e
  // Input units of one output LSB: 2^-e / prescale, exact.
  double unit() const;
};

LineRemoval plan_line_removal(const std::int16_t *x, std::size_t n);
LineRemoval plan_line_removal(const float *x, std::size_t n, double prescale);
LineRemoval plan_line_removal(const double *x, std::size_t n, double prescale);

// dst[t * n_ch + c] = round-half-even(r_c[t] * 2^e_c) for lead c at in + c * in_lead_stride,
// written in time blocks across leads so the interleaved stores stay in L1.
void interleave_without_line(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst);
void interleave_without_line(const float *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst);
void interleave_without_line(const double *in, std::size_t n_ch, std::size_t n, std::size_t in_lead_stride,
                             const LineRemoval *plans, std::int32_t *dst);

}  // namespace dsp
}  // namespace edgecardio
