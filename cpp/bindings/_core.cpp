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
#endif

namespace py = pybind11;

// ---------------------------------------------------------------- preprocessing (DSP core)
static void bind_dsp(py::module_ &m) {
  (void)m;
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
          "the path without native preprocessing).");
#else
  m.attr("HAS_NATIVE_ORT") = false;
#endif
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "EdgeCardio native core: fixed-point ECG conditioning and the ONNX Runtime C API runner";
#ifdef EDGECARDIO_VERSION
  m.attr("__version__") = EDGECARDIO_VERSION;
#endif
  bind_dsp(m);
  bind_ort(m);
}
