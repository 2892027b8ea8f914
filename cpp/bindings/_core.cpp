// The only pybind11 file. It is thin on purpose: convert buffers, release the GIL around native work,
// and let C++ exceptions become Python ones. Shape, dtype and argument checks live in the Python facade
// (python/edgecardio/), where the error messages are written for people.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

// ---------------------------------------------------------------- preprocessing (DSP core)
static void bind_dsp(py::module_ &m) {
  (void)m;
}

// ---------------------------------------------------------------- ONNX Runtime runner
static void bind_ort(py::module_ &m) {
#ifdef EDGECARDIO_HAS_ORT
  m.attr("HAS_NATIVE_ORT") = true;
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
