// The _core module (kernels.cpp adds the single kernels for the tests and benchmarks), thin on
// purpose: typed arrays in and out, the GIL released around native work, C++ exceptions turned into
// Python ones. Shape, dtype and argument checks live in the Python facade (python/edgecardio/), where
// the error messages are written for people; the checks here only keep the native code from reading
// the wrong memory.
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "bindings.h"
#include "edgecardio/coeffs_generated.h"
#include "edgecardio/dsp.h"
#include "edgecardio/preprocess.h"
#ifdef EDGECARDIO_HAS_ORT
#include "edgecardio/classifier.h"
#endif

const ec::Engine &pick_engine(const py::object &name) {
  if (name.is_none()) return ec::default_engine();
  const std::string s = py::cast<std::string>(name);
  if (const ec::Engine *e = ec::find_engine(s)) return *e;
  std::string have;
  for (const auto *x : ec::engines()) have += std::string(have.empty() ? "" : ", ") + x->name;
  throw py::value_error("engine '" + s + "' is not available here (available: " + have + ")");
}

namespace {

// A (n_leads, n) record as the native code reads it. `keep` holds the array read: the argument, or
// an aligned copy of a misaligned one (e.g. np.frombuffer at an odd offset), which the native code
// must not read in place.
ec::SignalView signal_view(py::array a, int fs_hz, double gain_per_mv, py::array &keep) {
  ec::SignalView v;
  if (a.dtype().equal(py::dtype::of<std::int16_t>())) v.type = ec::SignalView::Type::kInt16;
  else if (a.dtype().equal(py::dtype::of<float>())) v.type = ec::SignalView::Type::kFloat32;
  else if (a.dtype().equal(py::dtype::of<double>())) v.type = ec::SignalView::Type::kFloat64;
  else throw py::type_error("signal must be native-endian int16, float32 or float64");
  if (a.ndim() != 2) throw py::value_error("signal must be 2-D (n_leads, n_samples)");
  a = aligned(a);
  const auto item = static_cast<py::ssize_t>(a.itemsize());
  if ((a.shape(1) > 1 && a.strides(1) != item) || a.strides(0) < 0 || a.strides(0) % item != 0)
    throw py::value_error("signal rows must be contiguous with non-negative strides (np.ascontiguousarray)");
  keep = a;
  v.data = a.data();
  v.n_leads = static_cast<std::size_t>(a.shape(0));
  v.n_samples = static_cast<std::size_t>(a.shape(1));
  v.lead_stride = v.n_leads > 1 ? static_cast<std::size_t>(a.strides(0) / item) : v.n_samples;
  v.fs_hz = fs_hz;
  v.gain_per_mv = gain_per_mv;
  return v;
}

py::tuple leads_of(std::uint64_t bits, std::size_t n) {
  py::list l;
  for (std::size_t c = 0; c < n; ++c) if (bits >> c & 1U) l.append(c);
  return py::tuple(l);
}

py::tuple preprocess(const py::array &x, int fs_hz, double gain_per_mv, const py::object &engine_name) {
  py::array keep;
  const ec::SignalView s = signal_view(x, fs_hz, gain_per_mv, keep);
  ec::PreprocessOptions opt;
  opt.engine = &pick_engine(engine_name);
  const std::size_t n_out = ec::output_length(s.n_samples, fs_hz);
  auto out = new_array<float>(s.n_leads, n_out);
  py::array_t<double> std_mv(static_cast<py::ssize_t>(s.n_leads));
  opt.lead_std_mv = std_mv.mutable_data();
  float *o = out.mutable_data();
  ec::PreprocessInfo info;
  { nogil g; info = ec::preprocess_into(s, o, n_out, opt); }
  return py::make_tuple(out, py::dict("engine"_a = info.engine, "flat_leads"_a = leads_of(info.flat_leads, s.n_leads),
                                      "saturated_leads"_a = leads_of(info.saturated_leads, s.n_leads),
                                      "lead_std_mv"_a = std_mv));
}

template <typename T>
py::array_t<std::int32_t> int32_array(const T *v, std::vector<py::ssize_t> shape) {
  py::array_t<std::int32_t> a(shape);
  std::copy(v, v + a.size(), a.mutable_data());
  return a;
}

py::dict resampler_design(int fs_hz) {
  const ec::dsp::Resampler &r = ec::dsp::resampler_for(fs_hz);
  py::dict d("up"_a = r.up(), "down"_a = r.down(), "taps_per_phase"_a = r.taps_per_phase(),
             "pad_left"_a = r.pad_left(), "symmetric"_a = r.symmetric());
  d["phase_taps_q31"] = int32_array(r.phase_taps().data(), {r.identity() ? 0 : r.up(), r.taps_per_phase()});
  for (const auto &des : ec::coeffs::kResamplers)
    if (des.fs_hz == fs_hz) {
      d["half_len"] = des.half_len;
      d["taps_q31"] = int32_array(des.taps_q31, {des.n_taps});
    }
  return d;
}

py::dict bandpass_design() {
  namespace c = ec::coeffs;
  return py::dict("sections_q30"_a = int32_array(&c::kBandpassQ30[0][0], {c::kBandpassSections, 5}),
                  "dc_gain_q30"_a = int32_array(c::kBandpassDcGainQ30, {c::kBandpassSections}),
                  "error_feedback"_a = int32_array(&c::kBandpassErrorFeedback[0][0], {c::kBandpassSections, 2}),
                  "padlen"_a = c::kBandpassPadlen, "input_bits"_a = c::kInputBits, "headroom_log2"_a = c::kHeadroomLog2);
}

}  // namespace

// ---------------------------------------------------------------- ONNX Runtime (cpp/ort)
#ifdef EDGECARDIO_HAS_ORT
namespace {
namespace eo = ec::ort;

py::dict runtime_dict(const eo::Runtime &rt) {
  return py::dict("path"_a = rt.path, "version"_a = rt.version, "api_version"_a = rt.api_version);
}

py::list tensor_infos(const std::vector<eo::TensorInfo> &infos) {
  py::list out;
  for (const auto &t : infos) out.append(py::make_tuple(t.name, t.element_type, py::tuple(py::cast(t.shape))));
  return out;
}

const float *floats(const F32 &a, std::size_t n, const char *what) {
  if (static_cast<std::size_t>(a.size()) != n)
    throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(n) + " float32 values, got " +
                                std::to_string(a.size()));
  return a.data();
}

std::unique_ptr<eo::Classifier> open_model(const std::string &path, int threads, bool spinning, int graph_opt) {
  const eo::Runtime *rt = eo::loaded_runtime();
  if (rt == nullptr) throw std::runtime_error("ONNX Runtime is not loaded: call ort_load() first");
  nogil g;
  return std::make_unique<eo::Classifier>(*rt, path, eo::Signature{}, eo::RunnerOptions{threads, spinning, graph_opt});
}

// lead_std [n * leads] when the model reads it (None is then an error), else it must be None.
const float *lead_stds(const eo::Runner &r, const std::optional<F32> &lead_std, std::size_t n) {
  if (!r.reads_lead_std()) {
    if (lead_std) throw std::invalid_argument("lead_std_mv: this model has no such input; pass None");
    return nullptr;
  }
  if (!lead_std)
    throw std::invalid_argument("lead_std_mv: this model reads each lead's standard deviation after the band-pass "
                                "(mV, preprocess(..., return_info=True)); pass it");
  return floats(*lead_std, n * static_cast<std::size_t>(r.signature().ecg_leads), "lead_std_mv");
}

py::array_t<float> run_batch(eo::Classifier &c, const F32 &ecg, const F32 &demographics,
                             const std::optional<F32> &lead_std) {
  eo::Runner &r = c.runner();
  const auto n = static_cast<std::size_t>(ecg.ndim() > 0 ? ecg.shape(0) : 0);
  const float *e = floats(ecg, n * r.ecg_size(), "ecg");
  const float *d = floats(demographics, n * r.signature().n_demographics, "demographics");
  const float *s = lead_stds(r, lead_std, n);
  auto out = new_array<float>(n, r.signature().n_outputs);
  float *o = out.mutable_data();
  nogil g;
  r.run(e, d, s, o, static_cast<std::int64_t>(n));
  return out;
}

py::array_t<float> run_leased(eo::Classifier &c, const F32 &ecg, const F32 &demographics,
                              const std::optional<F32> &lead_std) {
  const float *e = floats(ecg, c.runner().ecg_size(), "ecg");
  const float *d = floats(demographics, c.runner().signature().n_demographics, "demographics");
  const float *s = lead_stds(c.runner(), lead_std, 1);
  py::array_t<float> out(static_cast<py::ssize_t>(c.runner().signature().n_outputs));
  float *o = out.mutable_data();
  nogil g;
  c.run(e, d, s, o);
  return out;
}

py::tuple predict(eo::Classifier &c, const py::array &signal, int fs_hz, double gain_per_mv, const F32 &demographics) {
  const float *d = floats(demographics, c.runner().signature().n_demographics, "demographics");
  py::array keep;
  const ec::SignalView s = signal_view(signal, fs_hz, gain_per_mv, keep);
  eo::PredictResult r;
  { nogil g; r = c.predict(s, d); }
  return py::make_tuple(py::array_t<float>(r.probabilities.size(), r.probabilities.data()), r.flat_leads,
                        r.saturated_leads, r.preprocess_ms, r.inference_ms, r.engine ? r.engine : "",
                        py::array_t<double>(r.lead_std_mv.size(), r.lead_std_mv.data()));
}

py::tuple predict_many(eo::Classifier &c, const std::vector<py::array> &signals, const std::vector<int> &fs_hz,
                       const std::vector<double> &gain_per_mv, const F32 &demographics) {
  const std::size_t n = signals.size();
  if (n == 0 || fs_hz.size() != n || gain_per_mv.size() != n)
    throw std::invalid_argument("signals, fs_hz and gain_per_mv must have the same, non-zero length");
  const auto n_out = static_cast<std::size_t>(c.runner().signature().n_outputs);
  const float *d = floats(demographics, n * c.runner().signature().n_demographics, "demographics");
  std::vector<py::array> keep(n);
  std::vector<ec::SignalView> views;
  for (std::size_t i = 0; i < n; ++i) views.push_back(signal_view(signals[i], fs_hz[i], gain_per_mv[i], keep[i]));
  std::vector<eo::PredictResult> rs;
  { nogil g; rs = c.predict_many(views.data(), n, d); }
  auto probs = new_array<float>(n, n_out);
  const auto n_leads = static_cast<std::size_t>(c.runner().signature().ecg_leads);
  auto stds = new_array<double>(n, n_leads);
  py::list flat, saturated, pre_ms;
  double inf_ms = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    std::copy(rs[i].probabilities.begin(), rs[i].probabilities.end(), probs.mutable_data() + i * n_out);
    std::copy(rs[i].lead_std_mv.begin(), rs[i].lead_std_mv.end(), stds.mutable_data() + i * n_leads);
    flat.append(rs[i].flat_leads), saturated.append(rs[i].saturated_leads), pre_ms.append(rs[i].preprocess_ms);
    inf_ms += rs[i].inference_ms;
  }
  return py::make_tuple(probs, flat, saturated, pre_ms, inf_ms, stds);
}

void bind_ort(py::module_ &m) {
  m.attr("HAS_NATIVE_ORT") = true;
  m.attr("ORT_API_VERSION") = eo::header_api_version();
  py::register_exception<eo::OrtError>(m, "OrtError", PyExc_RuntimeError);
  py::register_exception<eo::LoadError>(m, "OrtLoadError", PyExc_OSError);
  m.def("ort_load", [](const std::vector<std::string> &candidates) {
    const eo::Runtime *rt;
    { nogil g; rt = &eo::load_runtime(candidates); }
    return runtime_dict(*rt);
  }, "candidates"_a, "Load ONNX Runtime from the first candidate that works, once per process -> {path, version, "
     "api_version}; OrtLoadError names every candidate tried.");
  m.def("ort_runtime", []() -> py::object {
    const eo::Runtime *rt = eo::loaded_runtime();
    return rt ? py::object(runtime_dict(*rt)) : py::object(py::none());
  }, "The loaded ONNX Runtime as {path, version, api_version}, or None before ort_load().");
  py::class_<eo::Classifier>(m, "OrtRunner", "edgecardio::ort::Classifier: one model, its session and buffers.")
      .def(py::init(&open_model), "model_path"_a, "threads"_a = 1, "allow_spinning"_a = false, "graph_optimization"_a = 99)
      .def_property_readonly("inputs", [](const eo::Classifier &c) { return tensor_infos(c.runner().inputs()); },
                             "[(name, onnx_element_type, shape)], -1 for dynamic dimensions")
      .def_property_readonly("outputs", [](const eo::Classifier &c) { return tensor_infos(c.runner().outputs()); })
      .def_property_readonly("threads", [](const eo::Classifier &c) { return c.runner().options().intra_op_threads; })
      .def_property_readonly("model_path", [](const eo::Classifier &c) { return c.runner().model_path(); })
      .def_property_readonly("slots_created", [](const eo::Classifier &c) { return c.runner().slots_created(); },
                             "buffer sets made so far: the peak number of concurrent callers")
      .def_property_readonly("reads_lead_std", [](const eo::Classifier &c) { return c.runner().reads_lead_std(); },
                             "whether the model takes the lead_std_mv input [batch, 12]")
      .def("run", &run_batch, "ecg"_a, "demographics"_a, "lead_std_mv"_a = py::none(),
           "Preprocessed ecg [n, 12, 1000], demographics [n, 8] (and lead_std_mv [n, 12] for a model that reads it) "
           "-> [n, 5] in one batch (wrapped, not copied).")
      .def("run_leased", &run_leased, "ecg"_a, "demographics"_a, "lead_std_mv"_a = py::none(),
           "One preprocessed record at batch size 1, as predict.")
      .def("predict", &predict, "signal"_a, "fs_hz"_a, "gain_per_mv"_a, "demographics"_a,
           "Raw record -> (probabilities[5], flat bits, saturated bits, preprocess_ms, inference_ms, engine, "
           "lead_std_mv[12]).")
      .def("predict_many", &predict_many, "signals"_a, "fs_hz"_a, "gain_per_mv"_a, "demographics"_a,
           "Raw records -> (probabilities[n, 5], flat bits[n], saturated bits[n], preprocess_ms[n], inference_ms, "
           "lead_std_mv[n, 12]); "
           "record i gets predict()'s bits.");
}
}  // namespace
#endif

PYBIND11_MODULE(_core, m) {
  m.doc() = "EdgeCardio native core: fixed-point ECG conditioning and the ONNX Runtime C API runner";
#ifdef EDGECARDIO_VERSION
  m.attr("__version__") = EDGECARDIO_VERSION;
#endif
  const auto engine = "engine"_a = py::none();
  m.def("preprocess", &preprocess, "signal"_a, "fs_hz"_a, "gain_per_mv"_a = 1000.0, engine,
        "(n_leads, n) int16/float32/float64 -> (float32 array, info dict); use edgecardio.preprocess.");
  m.def("engine", [] { return std::string(ec::default_engine().name); }, "Engine preprocess uses by default.");
  m.def("engines", [] {
    py::list v;
    for (const auto *e : ec::engines()) v.append(e->name);
    return v;
  }, "Engines compiled in and supported by this CPU, scalar first.");
  m.def("kernels", [] {
    py::list v;
    for (const auto &k : ec::kernel_list()) v.append(py::make_tuple(k.name, k.isa));
    return v;
  }, "(variant, instruction set) for every variant of kernels.def this CPU runs; engine=<isa> runs it.");
  m.def("engine_kernels", [](const py::object &name) {
    const ec::Engine &e = pick_engine(name);
    py::dict d;
#define EDGECARDIO_OP(op) d[#op] = e.op.name;
#include "edgecardio/kernels.def"
    return d;
  }, "engine"_a, "{op: variant} the engine runs.");
  m.def("supported_rates_hz", &ec::supported_rates_hz);
  m.def("output_length", &ec::output_length, "n_in"_a, "fs_hz"_a);
  m.def("min_input_length", &ec::min_input_length, "fs_hz"_a);
  bind_kernels(m);
  m.def("resampler_design", &resampler_design, "fs_hz"_a);
  m.def("bandpass_design", &bandpass_design);
  m.attr("FLAT_STD_MV") = ec::kFlatStdMv;
  m.attr("SATURATION_RUN") = ec::kSaturationRun;
  m.attr("MAX_LEADS") = ec::kMaxLeads;
#ifdef EDGECARDIO_HAS_ORT
  bind_ort(m);
#else
  m.attr("HAS_NATIVE_ORT") = false;
#endif
  bind_monitor(m);
}
