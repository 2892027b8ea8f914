// The kernel registry: every fixed-point kernel variant by name, grouped into engines. The list is
// kernels.def; run-time dispatch, the native tests, the bindings, the Python tests and the
// benchmarks all read it, so every variant compiled into a build can be compared with the scalar
// one in a single process.
//
// Data layout shared by all kernels: "frames" of n_ch interleaved int32 lanes (one lane per lead),
// frame t at x[t * n_ch]. Vector kernels work across lanes only, so each lane's arithmetic is the
// scalar one; that is what makes them bit-identical to scalar for any lane count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace edgecardio {

// The function type of each op (op##_fn, as kernels.def names them) and its arithmetic; the
// contract blocks are in cpp/kernels/<op>_scalar.cpp.

// Polyphase FIR decimator/interpolator, only the kept outputs are computed.
// For output j (0 <= j < n_out): t = (j0 + j) * down + offset, phase = t % up, s = t / up,
//   y[j][c] = rshift_round_sat32(sum_{m < n_taps} taps[phase * n_taps + m] * x[s + m][c], 31)
// taps are Q31, stored per phase in reversed order (the dsp::Resampler builds them); x must hold
// every frame the formula touches (the caller zero-pads).
using fir_poly_q31_fn = void(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                             int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);

// The same sum for up == 1 and exactly symmetric taps (taps[m] == taps[n_taps - 1 - m], n_taps odd),
// which every linear-phase decimator of resample_poly has: for output j, s = (j0 + j) * down + offset,
//   y[j][c] = rshift_round_sat32(sum_{m < n_taps/2} taps[m] * (x[s+m][c] + x[s+n_taps-1-m][c])
//                                + taps[n_taps/2] * x[s+n_taps/2][c], 31)
// Integer sums are associative, so this equals fir_poly_q31 bit for bit with half the multiplies.
using fir_decimsym_q31_fn = void(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps,
                                 int down, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y);

// Planar int16 rows to interleaved int32 frames with a per-lane left shift (block floating point):
//   frames[t * n_ch + c] = in[c * in_stride + t] * 2^shift[c]  (modulo 2^32),  0 <= shift[c] <= 23
// Exact whenever |in| * 2^shift < 2^31, as the pipeline guarantees; outside that it wraps, as the
// vector shifts do. A transpose: the vector variants shuffle 4 leads x 8 samples at a time.
using interleave_shl_i16_fn = void(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                                   const int *shift, std::int32_t *frames);

// Interleaved int32 frames back to planar float32 rows, z-scored in double:
//   out[c * out_stride + t] = (float)(((double)frames[t * n_ch + c] - mean[c]) * inv_std[c])
// Every operation is one IEEE double op (no contraction) and one round-to-nearest to float, so
// vector variants (across 4 leads, then a 4 x 4 transpose) give the scalar bits.
using zscore_rows_f32_fn = void(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                                const double *inv_std, float *out, std::size_t out_stride);

// One direct-form-I biquad section: coefficients b0, b1, b2, -a1, -a2 in Q30, and the two integer
// error-feedback coefficients k1, k2 applied to the previous rounding residuals (0, 0: plain DF1).
struct BiquadQ30 {
  std::int32_t c[5];
  std::int32_t ef[2];
};
// Per-lane DF1 history (the CMSIS "instance" state) as a struct of arrays, lane c at index c of
// each: the two previous inputs and outputs and the two previous rounding residuals (each in
// [-2^29, 2^29)). Vector kernels load and store 4 or 8 lanes of a row directly.
struct BiquadState {
  static constexpr int kRows = 6;
  std::int32_t *x1, *x2, *y1, *y2, *e1, *e2;
  // Rows x1, x2, y1, y2, e1, e2 of a [kRows][n_ch] block.
  static BiquadState rows(std::int32_t *block, std::size_t n_ch) {
    return {block, block + n_ch, block + 2 * n_ch, block + 3 * n_ch, block + 4 * n_ch, block + 5 * n_ch};
  }
  // The same state from lane c on.
  BiquadState from_lane(std::size_t c) const { return {x1 + c, x2 + c, y1 + c, y2 + c, e1 + c, e2 + c}; }
};
// Filters n frames of n_ch lanes: frame k is x[k * step], written to y[k * step] (step may be
// negative to run backwards; y may equal x). state carries each lane across calls, so any chunking
// of a stream gives the same bits as one call.
using biquad_df1_q31_fn = void(const BiquadQ30 &coeffs, const BiquadState &state, const std::int32_t *x,
                               std::int32_t *y, std::size_t n, std::size_t n_ch, std::ptrdiff_t step);

// One variant of one op: its registry name and instruction set, callable like the function.
template <typename Fn>
struct Kernel {
  const char *name = nullptr;  // <op>_<form>_<format>_<isa>, e.g. "fir_poly_q31_avx2"
  const char *isa = nullptr;
  Fn *fn = nullptr;
  template <typename... Args>
  void operator()(Args &&...args) const {
    fn(std::forward<Args>(args)...);
  }
};

// An engine: one variant of each op (its own, or its fallback engine's), for one instruction set.
struct Engine {
  const char *name;  // "scalar", "avx2", "avx512", "neon"
#define EDGECARDIO_OP(op) Kernel<op##_fn> op;
#include "edgecardio/kernels.def"
};

// Every variant compiled in whose instruction set this CPU has, per op, in list order (scalar first).
struct KernelTable {
#define EDGECARDIO_OP(op) std::vector<Kernel<op##_fn>> op;
#include "edgecardio/kernels.def"
};

struct KernelInfo {
  const char *name;
  const char *op;
  const char *isa;
};

// Engines compiled into this build whose instruction set this CPU has; scalar first, best last.
const std::vector<const Engine *> &engines();
// The engine preprocess uses by default: the best supported one, or scalar when the environment
// variable EDGECARDIO_FORCE_SCALAR is set to a non-empty value other than "0". Chosen once.
const Engine &default_engine();
// nullptr when no engine of that name is compiled in and supported.
const Engine *find_engine(const std::string &name);
// The variants this CPU can run, per op and as one flat list.
const KernelTable &kernel_table();
std::vector<KernelInfo> kernel_list();

// ---------------------------------------------------------------- the variants
namespace kernels {
#define EDGECARDIO_KERNEL(op, isa, symbol) op##_fn symbol;
#include "edgecardio/kernels.def"

// Lanes [c_begin, n_ch) of the scalar variants: the vector variants hand the lanes left over from
// their register blocks to these, so every lane's arithmetic is the scalar code itself.
void fir_poly_q31_scalar_lanes(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int up, int down,
                               int n_taps, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y,
                               std::size_t c_begin);
void fir_decimsym_q31_scalar_lanes(const std::int32_t *x, std::size_t n_ch, const std::int32_t *taps, int n_taps,
                                   int down, std::size_t j0, std::size_t offset, std::size_t n_out, std::int32_t *y,
                                   std::size_t c_begin);
void interleave_shl_i16_scalar_lanes(const std::int16_t *in, std::size_t n_ch, std::size_t n, std::size_t in_stride,
                                     const int *shift, std::int32_t *frames, std::size_t c_begin);
void zscore_rows_f32_scalar_lanes(const std::int32_t *frames, std::size_t n, std::size_t n_ch, const double *mean,
                                  const double *inv_std, float *out, std::size_t out_stride, std::size_t c_begin);
}  // namespace kernels

}  // namespace edgecardio
