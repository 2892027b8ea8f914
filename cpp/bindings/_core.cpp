// The only pybind11 file. It is thin on purpose: convert buffers, release the GIL around native work,
// and let C++ exceptions become Python ones. Shape, dtype and argument checks live in the Python facade
// (python/edgecardio/), where the error messages are written for people.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#ifdef EDGECARDIO_HAS_ORT
#include <chrono>
#include <cstring>

#include "edgecardio/ort_runner.h"
#include "edgecardio/preprocess.h"
#endif

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "edgecardio/coeffs_generated.h"
#include "edgecardio/dsp.h"
#include "edgecardio/kernels.h"
#include "edgecardio/preprocess.h"

namespace py = pybind11;

// ---------------------------------------------------------------- preprocessing (DSP core)
namespace dsp_binding {

const edgecardio::Engine &pick_engine(const py::object &name) {
  if (name.is_none()) return edgecardio::default_engine();
  const std::string s = py::cast<std::string>(name);
  const edgecardio::Engine *e = edgecardio::find_engine(s);
  if (e == nullptr) {
    std::string have;
    for (const auto *x : edgecardio::engines()) have += std::string(have.empty() ? "" : ", ") + x->name;
    throw py::value_error("engine '" + s + "' is not available here (available: " + have + ")");
  }
  return *e;
}

// (n_leads, n) with contiguous samples, native byte order; the facade guarantees it, this only
// refuses what would make the native code read the wrong memory.
template <typename T>
bool is_rows_of(const py::array &a) {
  return a.dtype().equal(py::dtype::of<T>());
}

py::tuple preprocess(const py::array &x, int fs_hz, double gain_per_mv, const py::object &engine_name) {
  if (x.ndim() != 2) throw py::value_error("signal must be 2-D (n_leads, n_samples)");
  const auto n_leads = static_cast<std::size_t>(x.shape(0)), n_in = static_cast<std::size_t>(x.shape(1));
  const auto itemsize = static_cast<py::ssize_t>(x.itemsize());
  if ((n_in > 1 && x.strides(1) != itemsize) || x.strides(0) < 0 || x.strides(0) % itemsize != 0)
    throw py::value_error("signal rows must be contiguous with non-negative strides (np.ascontiguousarray)");
  const std::size_t in_stride = n_leads > 1 ? static_cast<std::size_t>(x.strides(0) / itemsize) : n_in;
  const edgecardio::Engine &engine = pick_engine(engine_name);
  const std::size_t n_out = edgecardio::output_length(n_in, fs_hz);
  py::array_t<float> out({static_cast<py::ssize_t>(n_leads), static_cast<py::ssize_t>(n_out)});
  py::array_t<double> std_mv(static_cast<py::ssize_t>(n_leads));
  edgecardio::PreprocessOptions opt;
  opt.engine = &engine;
  opt.lead_std_mv = std_mv.mutable_data();
  float *o = out.mutable_data();
  edgecardio::PreprocessInfo info;
  if (is_rows_of<std::int16_t>(x)) {
    const auto *p = static_cast<const std::int16_t *>(x.data());
    py::gil_scoped_release nogil;
    info = edgecardio::preprocess_into(p, n_leads, n_in, in_stride, fs_hz, gain_per_mv, o, n_out, opt);
  } else if (is_rows_of<float>(x)) {
    const auto *p = static_cast<const float *>(x.data());
    py::gil_scoped_release nogil;
    info = edgecardio::preprocess_into(p, n_leads, n_in, in_stride, fs_hz, o, n_out, opt);
  } else if (is_rows_of<double>(x)) {
    const auto *p = static_cast<const double *>(x.data());
    py::gil_scoped_release nogil;
    info = edgecardio::preprocess_into(p, n_leads, n_in, in_stride, fs_hz, o, n_out, opt);
  } else {
    throw py::type_error("signal must be native-endian int16, float32 or float64");
  }
  py::list flat, saturated;
  for (std::size_t c = 0; c < n_leads; ++c) {
    if (info.flat_leads >> c & 1U) flat.append(c);
    if (info.saturated_leads >> c & 1U) saturated.append(c);
  }
  py::dict d;
  d["engine"] = info.engine;
  d["flat_leads"] = py::tuple(flat);
  d["saturated_leads"] = py::tuple(saturated);
  d["lead_std_mv"] = std_mv;
  return py::make_tuple(out, d);
}

using I32 = py::array_t<std::int32_t, py::array::c_style>;

I32 fir_decimsym_q31(const I32 &x, const I32 &taps, int down, std::size_t j0, std::size_t offset, std::size_t n_out,
                     const py::object &engine_name) {
  const py::ssize_t k = taps.size();
  if (x.ndim() != 2 || down < 1 || k < 1 || k % 2 != 1)
    throw py::value_error("fir_decimsym_q31: x must be (frames, n_ch), taps an odd number of values");
  for (py::ssize_t m = 0; m < k / 2; ++m)
    if (taps.data()[m] != taps.data()[k - 1 - m]) throw py::value_error("fir_decimsym_q31: taps are not symmetric");
  const auto frames = static_cast<std::size_t>(x.shape(0)), n_ch = static_cast<std::size_t>(x.shape(1));
  if (n_out > 0 && (j0 + n_out - 1) * static_cast<std::size_t>(down) + offset + static_cast<std::size_t>(k) > frames)
    throw py::value_error("fir_decimsym_q31: x is too short for these outputs");
  const edgecardio::Engine &e = pick_engine(engine_name);
  I32 y({static_cast<py::ssize_t>(n_out), static_cast<py::ssize_t>(n_ch)});
  const std::int32_t *xp = x.data(), *tp = taps.data();
  std::int32_t *yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    e.fir_decimsym_q31(xp, n_ch, tp, static_cast<int>(k), down, j0, offset, n_out, yp);
  }
  return y;
}

// (n_ch, n) int16 rows -> (n, n_ch) int32 frames, lane c shifted left by shifts[c] (0..23).
I32 interleave_shl_i16(const py::array_t<std::int16_t, py::array::c_style> &x, const py::array_t<int, py::array::c_style> &shifts,
                       const py::object &engine_name) {
  if (x.ndim() != 2 || shifts.size() != x.shape(0))
    throw py::value_error("interleave_shl_i16: x (n_ch, n) int16, one shift per row");
  for (py::ssize_t c = 0; c < shifts.size(); ++c)
    if (shifts.data()[c] < 0 || shifts.data()[c] > 23) throw py::value_error("interleave_shl_i16: shifts in [0, 23]");
  const edgecardio::Engine &e = pick_engine(engine_name);
  const auto n_ch = static_cast<std::size_t>(x.shape(0)), n = static_cast<std::size_t>(x.shape(1));
  I32 y({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(n_ch)});
  const std::int16_t *xp = x.data();
  const int *sp = shifts.data();
  std::int32_t *yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    e.interleave_shl_i16(xp, n_ch, n, n, sp, yp);
  }
  return y;
}

I32 fir_poly_q31(const I32 &x, const I32 &taps, int up, int down, int n_taps, std::size_t j0, std::size_t offset,
                 std::size_t n_out, const py::object &engine_name) {
  if (x.ndim() != 2 || up < 1 || down < 1 || n_taps < 1 || taps.size() != static_cast<py::ssize_t>(up) * n_taps)
    throw py::value_error("fir_poly_q31: x must be (frames, n_ch), taps up * n_taps values");
  const auto frames = static_cast<std::size_t>(x.shape(0)), n_ch = static_cast<std::size_t>(x.shape(1));
  if (n_out > 0) {
    const std::size_t t_last = (j0 + n_out - 1) * static_cast<std::size_t>(down) + offset;
    if (t_last / static_cast<std::size_t>(up) + static_cast<std::size_t>(n_taps) > frames)
      throw py::value_error("fir_poly_q31: x is too short for these outputs");
  }
  const edgecardio::Engine &e = pick_engine(engine_name);
  I32 y({static_cast<py::ssize_t>(n_out), static_cast<py::ssize_t>(n_ch)});
  const std::int32_t *xp = x.data(), *tp = taps.data();
  std::int32_t *yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    e.fir_poly_q31(xp, n_ch, tp, up, down, n_taps, j0, offset, n_out, yp);
  }
  return y;
}

// One section over (n, n_ch) frames; coeffs are b0, b1, b2, -a1, -a2 (Q30), k1, k2; state is an
// (n_ch, 6) int32 array [x1, x2, y1, y2, e1, e2] updated in place, so Python can stream chunk by
// chunk. reverse runs from the last frame to the first.
I32 biquad_df1_q31(const I32 &coeffs, py::array_t<std::int32_t, py::array::c_style> state, const I32 &x,
                   bool reverse, const py::object &engine_name) {
  if (coeffs.size() != 7 || x.ndim() != 2 || state.ndim() != 2 || state.shape(1) != 6 ||
      state.shape(0) != x.shape(1) || !state.writeable())
    throw py::value_error("biquad_df1_q31: coeffs (7,), x (n, n_ch), writable state (n_ch, 6)");
  const edgecardio::Engine &e = pick_engine(engine_name);
  const auto n = static_cast<std::size_t>(x.shape(0)), n_ch = static_cast<std::size_t>(x.shape(1));
  edgecardio::BiquadQ30 k;
  for (int i = 0; i < 5; ++i) k.c[i] = coeffs.data()[i];
  for (int i = 0; i < 2; ++i) k.ef[i] = coeffs.data()[5 + i];
  std::vector<edgecardio::BiquadState> st(n_ch);
  std::int32_t *sp = state.mutable_data();
  for (std::size_t c = 0; c < n_ch; ++c) {
    const std::int32_t *r = sp + 6 * c;
    st[c] = {r[0], r[1], r[2], r[3], r[4], r[5]};
  }
  I32 y({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(n_ch)});
  const std::int32_t *xp = x.data();
  std::int32_t *yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    const auto step = static_cast<std::ptrdiff_t>(n_ch);
    if (n > 0) {
      if (reverse)
        e.biquad_df1_q31(k, st.data(), xp + (n - 1) * n_ch, yp + (n - 1) * n_ch, n, n_ch, -step);
      else
        e.biquad_df1_q31(k, st.data(), xp, yp, n, n_ch, step);
    }
  }
  for (std::size_t c = 0; c < n_ch; ++c) {
    std::int32_t *r = sp + 6 * c;
    r[0] = st[c].x1;
    r[1] = st[c].x2;
    r[2] = st[c].y1;
    r[3] = st[c].y2;
    r[4] = st[c].e1;
    r[5] = st[c].e2;
  }
  return y;
}

py::dict resampler_design(int fs_hz) {
  const edgecardio::dsp::Resampler &r = edgecardio::dsp::resampler_for(fs_hz);
  py::dict d;
  d["up"] = r.up();
  d["down"] = r.down();
  d["taps_per_phase"] = r.taps_per_phase();
  d["pad_left"] = r.pad_left();
  d["symmetric"] = r.symmetric();
  const auto &t = r.phase_taps();
  I32 taps({static_cast<py::ssize_t>(r.identity() ? 0 : r.up()), static_cast<py::ssize_t>(r.taps_per_phase())});
  std::copy(t.begin(), t.end(), taps.mutable_data());
  d["phase_taps_q31"] = taps;
  for (const auto &des : edgecardio::coeffs::kResamplers)
    if (des.fs_hz == fs_hz) {
      d["half_len"] = des.half_len;
      I32 h(des.n_taps);
      std::copy(des.taps_q31, des.taps_q31 + des.n_taps, h.mutable_data());
      d["taps_q31"] = h;
    }
  return d;
}

py::dict bandpass_design() {
  namespace c = edgecardio::coeffs;
  I32 q({c::kBandpassSections, 5});
  I32 g(c::kBandpassSections);
  I32 ef({c::kBandpassSections, 2});
  for (int s = 0; s < c::kBandpassSections; ++s) {
    for (int k = 0; k < 5; ++k) q.mutable_data()[s * 5 + k] = c::kBandpassQ30[s][k];
    for (int k = 0; k < 2; ++k) ef.mutable_data()[s * 2 + k] = c::kBandpassErrorFeedback[s][k];
    g.mutable_data()[s] = c::kBandpassDcGainQ30[s];
  }
  py::dict d;
  d["sections_q30"] = q;
  d["dc_gain_q30"] = g;
  d["error_feedback"] = ef;
  d["padlen"] = c::kBandpassPadlen;
  d["input_bits"] = c::kInputBits;
  d["headroom_log2"] = c::kHeadroomLog2;
  return d;
}

}  // namespace dsp_binding

static void bind_dsp(py::module_ &m) {
  namespace b = dsp_binding;
  m.def("preprocess", &b::preprocess, py::arg("signal"), py::arg("fs_hz"), py::arg("gain_per_mv") = 1000.0,
        py::arg("engine") = py::none(),
        "Native pipeline on a validated (n_leads, n) int16/float32/float64 array -> (float32 array, info dict). "
        "Use edgecardio.preprocess, which validates its input.");
  m.def("engine", [] { return std::string(edgecardio::default_engine().name); }, "Engine preprocess uses by default.");
  m.def("engines", [] {
    std::vector<std::string> v;
    for (const auto *e : edgecardio::engines()) v.emplace_back(e->name);
    return v;
  }, "Engines compiled in and supported by this CPU, scalar first.");
  m.def("kernels", [] {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto &k : edgecardio::kernels()) v.emplace_back(k.name, k.isa);
    return v;
  }, "(kernel variant, engine) for every available variant.");
  m.def("supported_rates_hz", &edgecardio::supported_rates_hz);
  m.def("output_length", &edgecardio::output_length, py::arg("n_in"), py::arg("fs_hz"));
  m.def("min_input_length", &edgecardio::min_input_length, py::arg("fs_hz"));
  m.def("fir_poly_q31", &b::fir_poly_q31, py::arg("x"), py::arg("taps"), py::arg("up"), py::arg("down"),
        py::arg("n_taps"), py::arg("j0"), py::arg("offset"), py::arg("n_out"), py::arg("engine") = py::none());
  m.def("interleave_shl_i16", &b::interleave_shl_i16, py::arg("x"), py::arg("shifts"), py::arg("engine") = py::none());
  m.def("fir_decimsym_q31", &b::fir_decimsym_q31, py::arg("x"), py::arg("taps"), py::arg("down"), py::arg("j0"),
        py::arg("offset"), py::arg("n_out"), py::arg("engine") = py::none());
  m.def("biquad_df1_q31", &b::biquad_df1_q31, py::arg("coeffs"), py::arg("state"), py::arg("x"),
        py::arg("reverse") = false, py::arg("engine") = py::none());
  m.def("resampler_design", &b::resampler_design, py::arg("fs_hz"));
  m.def("bandpass_design", &b::bandpass_design);
  m.attr("FLAT_STD_MV") = edgecardio::kFlatStdMv;
  m.attr("SATURATION_RUN") = edgecardio::kSaturationRun;
  m.attr("MAX_LEADS") = edgecardio::kMaxLeads;
}

// ---------------------------------------------------------------- ONNX Runtime runner
#ifdef EDGECARDIO_HAS_ORT
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

static py::dict ort_runtime_dict(const edgecardio::ort::Runtime &rt) {
  py::dict d;
  d["path"] = rt.path;
  d["version"] = rt.version;
  d["api_version"] = rt.api_version;
  return d;
}

static py::list ort_tensor_infos(const std::vector<edgecardio::ort::TensorInfo> &infos) {
  py::list out;
  for (const auto &t : infos) out.append(py::make_tuple(t.name, t.element_type, py::tuple(py::cast(t.shape))));
  return out;
}

// Memory safety only: the facade (classifier.py) has already checked shapes with messages for people.
static void require_size(const py::array &a, size_t n, const char *what) {
  if (static_cast<size_t>(a.size()) != n)
    throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(n) + " float32 values, got " +
                                std::to_string(a.size()));
}

// A raw record as preprocess_into wants it: int16 counts (with gain) or float32/float64 mV, leads
// on axis 0, samples contiguous. Only the first n_in samples of each lead are read (the facade crops
// a longer record to its first 10 s by passing a view).
struct RawSignal {
  enum Kind { kInt16, kFloat32, kFloat64 } kind;
  const void *data;
  size_t n_leads, n_in, lead_stride;  // stride in elements
  int fs_hz;
  double gain_per_mv;
};

static RawSignal raw_signal(const py::array &a, int fs_hz, double gain_per_mv) {
  RawSignal r{};
  if (py::isinstance<py::array_t<int16_t>>(a)) {
    r.kind = RawSignal::kInt16;
  } else if (py::isinstance<py::array_t<float>>(a)) {
    r.kind = RawSignal::kFloat32;
  } else if (py::isinstance<py::array_t<double>>(a)) {
    r.kind = RawSignal::kFloat64;
  } else {
    throw py::type_error("signal must be int16 counts or float32/float64 millivolts");
  }
  const auto item = static_cast<py::ssize_t>(a.itemsize());
  if (a.ndim() != 2 || a.strides(1) != item || a.strides(0) % item != 0 || a.strides(0) < a.shape(1) * item)
    throw std::invalid_argument("signal must be 2-D (leads, samples) with contiguous samples");
  r.data = a.data();
  r.n_leads = static_cast<size_t>(a.shape(0));
  r.n_in = static_cast<size_t>(a.shape(1));
  r.lead_stride = static_cast<size_t>(a.strides(0) / item);
  r.fs_hz = fs_hz;
  r.gain_per_mv = gain_per_mv;
  return r;
}

// Preprocess straight into a model input buffer [n_leads, ecg_samples]. GIL not needed.
static edgecardio::PreprocessInfo preprocess_to(const RawSignal &s, float *out, const edgecardio::ort::Signature &sig) {
  if (static_cast<int64_t>(s.n_leads) != sig.ecg_leads ||
      static_cast<int64_t>(edgecardio::output_length(s.n_in, s.fs_hz)) != sig.ecg_samples)
    throw std::invalid_argument("signal does not preprocess to the model's [" + std::to_string(sig.ecg_leads) + ", " +
                                std::to_string(sig.ecg_samples) + "] input");
  const size_t stride = static_cast<size_t>(sig.ecg_samples);
  switch (s.kind) {
    case RawSignal::kInt16:
      return edgecardio::preprocess_into(static_cast<const int16_t *>(s.data), s.n_leads, s.n_in, s.lead_stride,
                                         s.fs_hz, s.gain_per_mv, out, stride);
    case RawSignal::kFloat32:
      return edgecardio::preprocess_into(static_cast<const float *>(s.data), s.n_leads, s.n_in, s.lead_stride,
                                         s.fs_hz, out, stride);
    default:
      return edgecardio::preprocess_into(static_cast<const double *>(s.data), s.n_leads, s.n_in, s.lead_stride,
                                         s.fs_hz, out, stride);
  }
}

static double ms_since(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}
#endif

static void bind_ort(py::module_ &m) {
#ifdef EDGECARDIO_HAS_ORT
  namespace eo = edgecardio::ort;
  m.attr("HAS_NATIVE_ORT") = true;
  m.attr("ORT_API_VERSION") = eo::header_api_version();
  py::register_exception<eo::OrtError>(m, "OrtError", PyExc_RuntimeError);
  py::register_exception<eo::LoadError>(m, "OrtLoadError", PyExc_OSError);

  m.def(
      "ort_load",
      [](const std::vector<std::string> &candidates) {
        const eo::Runtime *rt;
        {
          py::gil_scoped_release nogil;
          rt = &eo::load_runtime(candidates);
        }
        return ort_runtime_dict(*rt);
      },
      py::arg("candidates"),
      "Load ONNX Runtime from the first candidate path that works (once per process); return "
      "{path, version, api_version}. Raises OrtLoadError naming every candidate tried.");
  m.def(
      "ort_runtime",
      []() -> py::object {
        const eo::Runtime *rt = eo::loaded_runtime();
        return rt ? py::object(ort_runtime_dict(*rt)) : py::object(py::none());
      },
      "The loaded ONNX Runtime as {path, version, api_version}, or None before ort_load().");

  py::class_<eo::Runner>(m, "OrtRunner",
                         "One ONNX Runtime session with preallocated, ORT-wrapped input/output buffers.")
      .def(py::init([](const std::string &model_path, int threads, bool allow_spinning, int graph_optimization) {
             const eo::Runtime *rt = eo::loaded_runtime();
             if (rt == nullptr) throw std::runtime_error("ONNX Runtime is not loaded: call ort_load() first");
             eo::RunnerOptions opts;
             opts.intra_op_threads = threads;
             opts.allow_spinning = allow_spinning;
             opts.graph_optimization = graph_optimization;
             py::gil_scoped_release nogil;
             return std::make_unique<eo::Runner>(*rt, model_path, eo::Signature{}, opts);
           }),
           py::arg("model_path"), py::arg("threads") = 1, py::arg("allow_spinning") = false,
           py::arg("graph_optimization") = 99)
      .def_property_readonly("inputs", [](const eo::Runner &r) { return ort_tensor_infos(r.inputs()); },
                             "[(name, onnx_element_type, shape)], -1 for dynamic dimensions")
      .def_property_readonly("outputs", [](const eo::Runner &r) { return ort_tensor_infos(r.outputs()); })
      .def_property_readonly("threads", [](const eo::Runner &r) { return r.options().intra_op_threads; })
      .def_property_readonly("model_path", [](const eo::Runner &r) { return r.model_path(); })
      .def_property_readonly("slots_created", &eo::Runner::slots_created,
                             "buffer sets made so far: the peak number of concurrent callers")
      .def(
          "run",
          [](eo::Runner &r, FloatArray ecg, FloatArray demographics) {
            const auto &sig = r.signature();
            const int64_t n = ecg.ndim() > 0 ? static_cast<int64_t>(ecg.shape(0)) : 0;
            require_size(ecg, static_cast<size_t>(n) * r.ecg_size(), "ecg");
            require_size(demographics, static_cast<size_t>(n * sig.n_demographics), "demographics");
            py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(sig.n_outputs)});
            const float *e = ecg.data();
            const float *d = demographics.data();
            float *o = out.mutable_data();
            {
              py::gil_scoped_release nogil;
              r.run(e, d, o, n);
            }
            return out;
          },
          py::arg("ecg"), py::arg("demographics"),
          "Batch inference on preprocessed float32 input: ecg [n, 12, 1000], demographics [n, 8] -> [n, 5]. "
          "The arrays are wrapped, not copied.")
      .def(
          "run_leased",
          [](eo::Runner &r, FloatArray ecg, FloatArray demographics) {
            const auto &sig = r.signature();
            require_size(ecg, r.ecg_size(), "ecg");
            require_size(demographics, static_cast<size_t>(sig.n_demographics), "demographics");
            py::array_t<float> out(static_cast<py::ssize_t>(sig.n_outputs));
            const float *e = ecg.data();
            const float *d = demographics.data();
            float *o = out.mutable_data();
            {
              py::gil_scoped_release nogil;
              auto lease = r.acquire();
              std::memcpy(lease.ecg(), e, r.ecg_size() * sizeof(float));
              std::memcpy(lease.demographics(), d, sig.n_demographics * sizeof(float));
              lease.run();
              std::memcpy(o, lease.output(), sig.n_outputs * sizeof(float));
            }
            return out;
          },
          py::arg("ecg"), py::arg("demographics"),
          "One record through a preallocated slot (copies the preprocessed input in; for tests and "
          "the path without native preprocessing).")
      .def(
          "predict",
          [](eo::Runner &r, const py::array &signal, int fs_hz, double gain_per_mv, FloatArray demographics) {
            const auto &sig = r.signature();
            require_size(demographics, static_cast<size_t>(sig.n_demographics), "demographics");
            const RawSignal s = raw_signal(signal, fs_hz, gain_per_mv);
            py::array_t<float> out(static_cast<py::ssize_t>(sig.n_outputs));
            const float *d = demographics.data();
            float *o = out.mutable_data();
            edgecardio::PreprocessInfo info;
            double pre_ms, inf_ms;
            {
              py::gil_scoped_release nogil;
              auto lease = r.acquire();
              const auto t0 = std::chrono::steady_clock::now();
              info = preprocess_to(s, lease.ecg(), sig);  // straight into the ORT input tensor
              std::memcpy(lease.demographics(), d, sig.n_demographics * sizeof(float));
              const auto t1 = std::chrono::steady_clock::now();
              lease.run();  // ORT writes into lease.output()
              const auto t2 = std::chrono::steady_clock::now();
              std::memcpy(o, lease.output(), sig.n_outputs * sizeof(float));
              pre_ms = ms_since(t0, t1);
              inf_ms = ms_since(t1, t2);
            }
            return py::make_tuple(out, info.flat_leads, info.saturated_leads, pre_ms, inf_ms,
                                  info.engine ? info.engine : "");
          },
          py::arg("signal"), py::arg("fs_hz"), py::arg("gain_per_mv"), py::arg("demographics"),
          "Raw record -> (probabilities[5], flat_leads bits, saturated_leads bits, preprocess_ms, "
          "inference_ms, engine): preprocessing writes into the preallocated ORT input, one GIL-free call.")
      .def(
          "predict_many",
          [](eo::Runner &r, const std::vector<py::array> &signals, const std::vector<int> &fs_hz,
             const std::vector<double> &gain_per_mv, FloatArray demographics) {
            const auto &sig = r.signature();
            const size_t n = signals.size();
            if (n == 0 || fs_hz.size() != n || gain_per_mv.size() != n)
              throw std::invalid_argument("signals, fs_hz and gain_per_mv must have the same, non-zero length");
            require_size(demographics, n * static_cast<size_t>(sig.n_demographics), "demographics");
            std::vector<RawSignal> raw;
            raw.reserve(n);
            for (size_t i = 0; i < n; ++i) raw.push_back(raw_signal(signals[i], fs_hz[i], gain_per_mv[i]));
            py::array_t<float> ecg({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(sig.ecg_leads),
                                    static_cast<py::ssize_t>(sig.ecg_samples)});
            py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(sig.n_outputs)});
            std::vector<uint64_t> flat(n), saturated(n);
            std::vector<double> pre_ms(n);
            double inf_ms;
            float *e = ecg.mutable_data();
            const float *d = demographics.data();
            float *o = out.mutable_data();
            {
              py::gil_scoped_release nogil;
              for (size_t i = 0; i < n; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                const auto info = preprocess_to(raw[i], e + i * r.ecg_size(), sig);
                pre_ms[i] = ms_since(t0, std::chrono::steady_clock::now());
                flat[i] = info.flat_leads;
                saturated[i] = info.saturated_leads;
              }
              const auto t1 = std::chrono::steady_clock::now();
              r.run(e, d, o, static_cast<int64_t>(n));
              inf_ms = ms_since(t1, std::chrono::steady_clock::now());
            }
            return py::make_tuple(out, flat, saturated, pre_ms, inf_ms);
          },
          py::arg("signals"), py::arg("fs_hz"), py::arg("gain_per_mv"), py::arg("demographics"),
          "Many raw records -> (probabilities[n, 5], flat bits[n], saturated bits[n], preprocess_ms[n], "
          "inference_ms): each record is preprocessed into one batch tensor that ORT runs once.");
#else
  m.attr("HAS_NATIVE_ORT") = false;
#endif
}

void bind_monitor(py::module_ &m);  // cpp/bindings/monitor.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "EdgeCardio native core: fixed-point ECG conditioning and the ONNX Runtime C API runner";
#ifdef EDGECARDIO_VERSION
  m.attr("__version__") = EDGECARDIO_VERSION;
#endif
  bind_dsp(m);
  bind_ort(m);
  bind_monitor(m);
}
