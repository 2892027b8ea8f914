// The kernel registry: every fixed-point kernel variant by name, grouped into engines. One list
// (engines()) drives run-time dispatch, the native tests, the Python tests and the benchmarks, so
// every variant compiled into a build can be compared with the scalar one in a single process.
//
// Data layout shared by all kernels: "frames" of n_ch interleaved int32 lanes (one lane per lead),
// frame t at x[t * n_ch]. Vector kernels work across lanes only, so each lane's arithmetic is the
// scalar one; that is what makes them bit-identical to scalar for any lane count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edgecardio {

// Polyphase FIR decimator/interpolator, only the kept outputs are computed.
// For output j (0 <= j < n_out): t = (j0 + j) * down + offset, phase = t % up, s = t / up,
//   y[j][c] = rshift_round_sat32(sum_{m < n_taps} taps[phase * n_taps + m] * x[s + m][c], 31)
// taps are Q31, stored per phase in reversed order (the dsp::Resampler builds them); x must hold
// every frame the formula touches (the caller zero-pads).
using FirPolyQ31Fn = void (*)(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up,
                              int down, int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out,
                              std::int32_t *y);

// The same sum for up == 1 and exactly symmetric taps (taps[m] == taps[n_taps - 1 - m], n_taps odd),
// which every linear-phase decimator of resample_poly has: for output j, s = (j0 + j) * down + offset,
//   y[j][c] = rshift_round_sat32(sum_{m < n_taps/2} taps[m] * (x[s+m][c] + x[s+n_taps-1-m][c])
//                                + taps[n_taps/2] * x[s+n_taps/2][c], 31)
// Integer sums are associative, so this equals fir_poly_q31 bit for bit with half the multiplies.
using FirDecimSymQ31Fn = void (*)(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps,
                                  int down, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);

// Planar int16 rows to interleaved int32 frames with a per-lane left shift (block floating point):
//   frames[t * n_ch + c] = in[c * in_stride + t] * 2^shift[c],  0 <= shift[c] <= 23 (exact, no overflow)
// A transpose: the vector variants shuffle 4 leads x 8 samples at a time instead of storing with stride.
using InterleaveShlI16Fn = void (*)(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                                    const int *shift, std::int32_t *frames);

// Interleaved int32 frames back to planar float32 rows, z-scored in double:
//   out[c * out_stride + t] = (float)(((double)frames[t * n_ch + c] - mean[c]) * inv_std[c])
// Every operation is one IEEE double op (no contraction) and one round-to-nearest to float, so
// vector variants (across 4 leads, then a 4 x 4 transpose) give the scalar bits.
using ZscoreRowsF32Fn = void (*)(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                                 const double *inv_std, float *out, std::size_t out_stride);

// One direct-form-I biquad section: coefficients b0, b1, b2, -a1, -a2 in Q30, and the two integer
// error-feedback coefficients k1, k2 applied to the previous rounding residuals (0, 0: plain DF1).
struct BiquadQ30 {
  std::int32_t c[5];
  std::int32_t ef[2];
};
// Per-lane DF1 history: the two previous inputs and outputs (the CMSIS "instance" state) and the
// two previous rounding residuals (each in [-2^29, 2^29)).
struct BiquadState {
  std::int32_t x1, x2, y1, y2, e1, e2;
};
// Filters n frames of n_ch lanes: frame k is x[k * step], written to y[k * step] (step may be
// negative to run backwards; y may equal x). state[c] carries lane c across calls, so any chunking
// of a stream gives the same bits as one call.
using BiquadDf1Q31Fn = void (*)(const BiquadQ30 &coeffs, BiquadState *state, const std::int32_t *x,
                                std::int32_t *y, std::size_t n, std::size_t n_ch, std::ptrdiff_t step);

struct KernelInfo {
  const char *name;  // <op>_<form>_<format>_<isa>, e.g. "fir_poly_q31_avx2"
  const char *isa;
};

// An engine: one variant of each kernel, compiled for one instruction set.
struct Engine {
  const char *name;  // "scalar", "avx2", "avx512", "neon"
  bool (*supported)();
  const char *fir_poly_q31_name;
  FirPolyQ31Fn fir_poly_q31;
  const char *fir_decimsym_q31_name;
  FirDecimSymQ31Fn fir_decimsym_q31;
  const char *interleave_shl_i16_name;
  InterleaveShlI16Fn interleave_shl_i16;
  const char *zscore_rows_f32_name;
  ZscoreRowsF32Fn zscore_rows_f32;
  const char *biquad_df1_q31_name;
  BiquadDf1Q31Fn biquad_df1_q31;
};

// Engines compiled into this build whose instruction set this CPU has; scalar first, best last.
const std::vector<const Engine *> &engines();
// The engine preprocess uses by default: the best supported one, or scalar when the environment
// variable EDGECARDIO_FORCE_SCALAR is set to a non-empty value other than "0". Chosen once.
const Engine &default_engine();
// nullptr when no engine of that name is compiled in and supported.
const Engine *find_engine(const std::string &name);
// Every kernel variant of the available engines.
std::vector<KernelInfo> kernels();

// ---------------------------------------------------------------- the variants
namespace kernels_scalar {
void fir_poly_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                  int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void fir_decimsym_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                      std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void biquad_df1_q31(const BiquadQ30 &coeffs, BiquadState *state, const std::int32_t *x, std::int32_t *y,
                    std::size_t n, std::size_t n_ch, std::ptrdiff_t step);
void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames);
void zscore_rows_f32(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                     const double *inv_std, float *out, std::size_t out_stride);
}  // namespace kernels_scalar

#if defined(EDGECARDIO_KERNELS_AVX2)
namespace kernels_avx2 {
void fir_poly_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                  int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void fir_decimsym_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                      std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void biquad_df1_q31(const BiquadQ30 &coeffs, BiquadState *state, const std::int32_t *x, std::int32_t *y,
                    std::size_t n, std::size_t n_ch, std::ptrdiff_t step);
void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames);
void zscore_rows_f32(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                     const double *inv_std, float *out, std::size_t out_stride);
}  // namespace kernels_avx2
#endif

#if defined(EDGECARDIO_KERNELS_AVX512)
// AVX-512 F+VL biquad (64-bit shifts, min and max shorten the recurrence); the avx512 engine reuses
// the AVX2 kernels for the rest: an AVX-512 FIR (8 + 4 lanes per frame) measured slower than AVX2's.
namespace kernels_avx512 {
void biquad_df1_q31(const BiquadQ30 &coeffs, BiquadState *state, const std::int32_t *x, std::int32_t *y,
                    std::size_t n, std::size_t n_ch, std::ptrdiff_t step);
}  // namespace kernels_avx512
#endif

#if defined(EDGECARDIO_KERNELS_NEON)
namespace kernels_neon {
void fir_poly_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                  int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void fir_decimsym_q31(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps, int down,
                      std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);
void biquad_df1_q31(const BiquadQ30 &coeffs, BiquadState *state, const std::int32_t *x, std::int32_t *y,
                    std::size_t n, std::size_t n_ch, std::ptrdiff_t step);
void interleave_shl_i16(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                        const int *shift, std::int32_t *frames);
void zscore_rows_f32(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                     const double *inv_std, float *out, std::size_t out_stride);
}  // namespace kernels_neon
#endif

}  // namespace edgecardio
