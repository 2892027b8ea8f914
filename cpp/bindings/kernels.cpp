// Each kernel variant on its own, for the tests and the benchmarks: numpy frames in and out, the
// engine picked by name, the GIL released. Only reads and writes outside the arrays are refused; the
// rest of the contract is the caller's (tests/test_kernels.py).
#include <algorithm>
#include <iterator>

#include "bindings.h"

namespace {

void need(bool ok, const char *what) {
  if (!ok) throw py::value_error(what);
}

py::array_t<std::int32_t> fir_poly_q31(const I32 &x, const I32 &taps, int up, int down, int n_taps, std::size_t j0,
                                       std::size_t offset, std::size_t n_out, const py::object &engine) {
  need(x.ndim() == 2 && up >= 1 && down >= 1 && n_taps >= 1 && taps.size() == static_cast<py::ssize_t>(up) * n_taps &&
           (n_out == 0 || ((j0 + n_out - 1) * down + offset) / up + n_taps <= static_cast<std::size_t>(x.shape(0))),
       "fir_poly_q31: x (frames, n_ch) holding every frame read, taps up * n_taps values");
  const ec::Engine &e = pick_engine(engine);
  auto y = new_array(n_out, static_cast<std::size_t>(x.shape(1)));
  std::int32_t *yp = y.mutable_data();
  nogil g;
  e.fir_poly_q31(x.data(), static_cast<std::size_t>(x.shape(1)), taps.data(), up, down, n_taps, j0, offset, n_out, yp);
  return y;
}

py::array_t<std::int32_t> fir_decimsym_q31(const I32 &x, const I32 &taps, int down, std::size_t j0,
                                           std::size_t offset, std::size_t n_out, const py::object &engine) {
  const py::ssize_t k = taps.size();
  need(x.ndim() == 2 && down >= 1 && k % 2 == 1 &&
           std::equal(taps.data(), taps.data() + k / 2, std::reverse_iterator<const std::int32_t *>(taps.data() + k)) &&
           (n_out == 0 || (j0 + n_out - 1) * down + offset + k <= static_cast<std::size_t>(x.shape(0))),
       "fir_decimsym_q31: x (frames, n_ch) holding every frame read, an odd number of symmetric taps");
  const ec::Engine &e = pick_engine(engine);
  auto y = new_array(n_out, static_cast<std::size_t>(x.shape(1)));
  std::int32_t *yp = y.mutable_data();
  nogil g;
  e.fir_decimsym_q31(x.data(), static_cast<std::size_t>(x.shape(1)), taps.data(), static_cast<int>(k), down, j0, offset,
                     n_out, yp);
  return y;
}

// (n_ch, n) int16 rows -> (n, n_ch) int32 frames, lane c shifted left by shifts[c] (0..23).
py::array_t<std::int32_t> interleave_shl_i16(const py::array_t<std::int16_t, py::array::c_style> &x,
                                             const py::array_t<int, py::array::c_style> &shifts, const py::object &engine) {
  need(x.ndim() == 2 && shifts.size() == x.shape(0) &&
           std::all_of(shifts.data(), shifts.data() + shifts.size(), [](int s) { return s >= 0 && s <= 23; }),
       "interleave_shl_i16: x (n_ch, n) int16, one shift in [0, 23] per row");
  const ec::Engine &e = pick_engine(engine);
  const auto n_ch = static_cast<std::size_t>(x.shape(0)), n = static_cast<std::size_t>(x.shape(1));
  auto y = new_array(n, n_ch);
  std::int32_t *yp = y.mutable_data();
  nogil g;
  e.interleave_shl_i16(x.data(), n_ch, n, n, shifts.data(), yp);
  return y;
}

// (n, n_ch) int32 frames -> (n_ch, n) float32 rows, (frames - mean[c]) * inv_std[c].
py::array_t<float> zscore_rows_f32(const I32 &frames, const py::array_t<double, py::array::c_style> &mean,
                                   const py::array_t<double, py::array::c_style> &inv_std, const py::object &engine) {
  need(frames.ndim() == 2 && mean.size() == frames.shape(1) && inv_std.size() == frames.shape(1),
       "zscore_rows_f32: frames (n, n_ch), one mean and inv_std per lane");
  const ec::Engine &e = pick_engine(engine);
  const auto n = static_cast<std::size_t>(frames.shape(0)), n_ch = static_cast<std::size_t>(frames.shape(1));
  auto out = new_array<float>(n_ch, n);
  float *o = out.mutable_data();
  nogil g;
  e.zscore_rows_f32(frames.data(), n, n_ch, mean.data(), inv_std.data(), o, n);
  return out;
}

// One section over (n, n_ch) frames; coeffs b0, b1, b2, -a1, -a2 (Q30), k1, k2; state a (6, n_ch)
// array, rows x1, x2, y1, y2, e1, e2 (BiquadState), updated in place so Python can stream chunk by
// chunk. reverse runs from the last frame to the first.
py::array_t<std::int32_t> biquad_df1_q31(const I32 &coeffs, I32 state, const I32 &x, bool reverse,
                                         const py::object &engine) {
  need(coeffs.size() == 7 && x.ndim() == 2 && state.ndim() == 2 && state.shape(0) == ec::BiquadState::kRows &&
           state.shape(1) == x.shape(1) && state.writeable(),
       "biquad_df1_q31: coeffs (7,), x (n, n_ch), writable state (6, n_ch)");
  const ec::Engine &e = pick_engine(engine);
  const auto n = static_cast<std::size_t>(x.shape(0)), n_ch = static_cast<std::size_t>(x.shape(1));
  ec::BiquadQ30 k;
  std::copy(coeffs.data(), coeffs.data() + 5, k.c);
  std::copy(coeffs.data() + 5, coeffs.data() + 7, k.ef);
  const auto st = ec::BiquadState::rows(state.mutable_data(), n_ch);
  auto y = new_array(n, n_ch);
  std::int32_t *yp = y.mutable_data();
  const std::size_t first = reverse && n > 0 ? (n - 1) * n_ch : 0;
  const std::ptrdiff_t step = (reverse ? -1 : 1) * static_cast<std::ptrdiff_t>(n_ch);
  nogil g;
  if (n > 0) e.biquad_df1_q31(k, st, x.data() + first, yp + first, n, n_ch, step);
  return y;
}

}  // namespace

void bind_kernels(py::module_ &m) {
  const auto engine = "engine"_a = py::none();
  m.def("fir_poly_q31", &fir_poly_q31, "x"_a, "taps"_a, "up"_a, "down"_a, "n_taps"_a, "j0"_a, "offset"_a, "n_out"_a,
        engine);
  m.def("fir_decimsym_q31", &fir_decimsym_q31, "x"_a, "taps"_a, "down"_a, "j0"_a, "offset"_a, "n_out"_a, engine);
  m.def("interleave_shl_i16", &interleave_shl_i16, "x"_a, "shifts"_a, engine);
  m.def("zscore_rows_f32", &zscore_rows_f32, "frames"_a, "mean"_a, "inv_std"_a, engine);
  m.def("biquad_df1_q31", &biquad_df1_q31, "coeffs"_a, "state"_a, "x"_a, "reverse"_a = false, engine);
}
