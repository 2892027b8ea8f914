// Public C++ API of the fixed-point signal conditioning (no Python): resample to 100 Hz, zero-phase
// band-pass 0.5-40 Hz, per-lead z-score, float32 out. It reproduces edgecardio.reference (the
// float64 scipy specification) within the tolerances of tests/test_preprocess.py.
//
// Thread safety: every call works on its own scratch memory; the only shared state is the read-only
// coefficient tables and the engine chosen once at first use. Errors are reported by throwing
// std::invalid_argument (bad sizes, unsupported rate, non-finite float input); nothing aborts.
//
// Arithmetic contract of the pipeline (the kernels' own contracts are in cpp/kernels/):
//  * Block floating point per lead: lead c is scaled by 2^e_c, the largest power of two keeping
//    |x * 2^e_c| <= 2^24 (coeffs::kInputBits). int16 counts are shifted left by e_c (exact); float
//    or double mV are rounded to the nearest integer (ties to even, std::nearbyint) of
//    x_mv * 2^e_c. The stages are linear and the z-score removes scale, so the exponent costs no
//    accuracy; only the flat test (std in mV) undoes it, exactly, with ldexp and the gain.
//  * At every rate but 100 Hz each lead's least-squares line comes off first, as the specification
//    says (detrend.h), and the exponent is chosen for the residual: an offset of any size costs
//    no headroom, and a whole-count int16 offset changes no output bit.
//  * Headroom: the resampler, the odd extension and both filter passes grow a signal by at most
//    2^5.42 (tools/gen_coeffs.py computes it from the l1 norms), so all int32 signals stay below
//    2^29.5 and every 64-bit accumulator below 2^62.3: full-scale int16 input (steps, impulses,
//    square waves between -32768 and 32767) cannot overflow. Narrowing still saturates.
//  * Statistics are exact integers (sum in int64, sum of squares in 128 bits); mean and standard
//    deviation are then formed in double, and each output is (float)((y - mean) * (1 / std)).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgecardio/kernels.h"

namespace edgecardio {

constexpr int kTargetFsHz = 100;
// A lead whose population standard deviation after the band-pass is below this (mV) is flat.
constexpr double kFlatStdMv = 1e-3;
// An int16 lead with at least this many consecutive samples on a rail (-32768 or 32767, either)
// is reported as saturated (ADC clipping); it is still processed.
constexpr std::size_t kSaturationRun = 2;
constexpr std::size_t kMaxLeads = 64;

struct PreprocessOptions {
  const Engine *engine = nullptr;  // nullptr: default_engine()
  double *lead_std_mv = nullptr;   // optional out: n_leads standard deviations after band-pass, mV
};

struct PreprocessInfo {
  std::size_t n_out = 0;
  std::uint64_t flat_leads = 0;       // bit c: lead c is flat, its output row is zeros
  std::uint64_t saturated_leads = 0;  // bit c: int16 lead c clipped (always 0 for float input)
  const char *engine = nullptr;       // name of the engine that ran
};

// A raw record as the native code reads it: int16 ADC counts (with their gain) or float32/float64
// millivolts; lead c starts at data + c * lead_stride (elements), its samples contiguous. data must
// be aligned to its element type (the bindings copy a misaligned numpy array first).
struct SignalView {
  enum class Type { kInt16, kFloat32, kFloat64 };
  Type type = Type::kInt16;
  const void *data = nullptr;
  std::size_t n_leads = 0;
  std::size_t n_samples = 0;
  std::size_t lead_stride = 0;
  int fs_hz = 0;
  double gain_per_mv = 1000.0;  // counts per mV, int16 only
};

bool is_supported_rate(int fs_hz);
std::vector<int> supported_rates_hz();
// Samples out for n_in samples at fs_hz: ceil(n_in * up / down). Throws for an unsupported rate.
std::size_t output_length(std::size_t n_in, int fs_hz);
// The fewest input samples the zero-phase filter accepts (its odd extension needs n_out > 15).
std::size_t min_input_length(int fs_hz);

// Writes output_length(n_in, fs_hz) float32 samples per lead to out + c * out_lead_stride.
// Input lead c starts at in + c * in_lead_stride; samples within a lead are contiguous.
// 1 <= n_leads <= kMaxLeads; strides are in elements.
PreprocessInfo preprocess_into(const std::int16_t *in, std::size_t n_leads, std::size_t n_in,
                               std::size_t in_lead_stride, int fs_hz, double gain_per_mv, float *out,
                               std::size_t out_lead_stride, const PreprocessOptions &options = {});
// Float input in mV (no gain). Throws std::invalid_argument on NaN or infinity.
PreprocessInfo preprocess_into(const float *in_mv, std::size_t n_leads, std::size_t n_in,
                               std::size_t in_lead_stride, int fs_hz, float *out,
                               std::size_t out_lead_stride, const PreprocessOptions &options = {});
PreprocessInfo preprocess_into(const double *in_mv, std::size_t n_leads, std::size_t n_in,
                               std::size_t in_lead_stride, int fs_hz, float *out,
                               std::size_t out_lead_stride, const PreprocessOptions &options = {});
// Any of the three, by the view's type.
PreprocessInfo preprocess_into(const SignalView &signal, float *out, std::size_t out_lead_stride,
                               const PreprocessOptions &options = {});

}  // namespace edgecardio
