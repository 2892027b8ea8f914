// Conversion of a lead into block-floating-point int32 frames with its least-squares line removed,
// for every rate that is resampled (edgecardio.reference removes the line before resample_poly).
// The resampler pads with zeros; a lead that still carried its electrode offset or drift would meet
// that padding as a step at each edge, and the band-pass would turn the step into a transient.
#pragma once
#include <cstddef>
#include <cstdint>

namespace edgecardio {
namespace dsp {

// Arithmetic contract of detrend_interleave:
//  * Input: int16 counts, or float/double values multiplied first by `prescale` (a power of two
//    chosen by the caller so that |x * prescale| < 2^24: exact, and every sum below stays finite).
//  * The line: least squares over t = 0 .. n-1, centred at t_c = (n - 1) / 2. For int16 the sums
//    are exact integers (int64 per block, int128 overall) and the floor of the mean is subtracted
//    as an integer before anything is rounded, so adding a whole number of counts to a lead leaves
//    every later value, and the output, bit for bit unchanged. Float sums are plain double sums.
//  * r[t] = (x[t] - origin) * prescale - (level + slope * (t - t_c)) in double, unfused (the DSP
//    files are built with -ffp-contract=off), so every ISA gets the same bits.
//  * Exponent: e is the largest power of two with max|r| * 2^e < 2^24 (at most kMaxExponent: a
//    residual that small is flat whatever its scale); out = round-half-even(r * 2^e), so |out| <= 2^24,
//    the same input headroom as the undetrended path (see preprocess.h).
// Writes dst[t * n_ch] for t < n and returns 2^-e / prescale: the input units of one output LSB.
constexpr int kMaxDetrendExponent = 64;

double detrend_interleave(const std::int16_t *x, std::size_t n, std::int32_t *dst, std::size_t n_ch);
double detrend_interleave(const float *x, std::size_t n, double prescale, std::int32_t *dst, std::size_t n_ch);
double detrend_interleave(const double *x, std::size_t n, double prescale, std::int32_t *dst, std::size_t n_ch);

}  // namespace dsp
}  // namespace edgecardio
