// Shared by the two binding files of the _core module: _core.cpp (preprocessing, registry, ONNX
// Runtime) and kernels.cpp (each kernel on its own, for the tests and benchmarks).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "edgecardio/kernels.h"

namespace py = pybind11;
namespace ec = edgecardio;
using namespace pybind11::literals;

using I32 = py::array_t<std::int32_t, py::array::c_style>;
using F32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
using nogil = py::gil_scoped_release;

// The engine named (None: the default one); ValueError naming the available ones otherwise.
const ec::Engine &pick_engine(const py::object &name);

template <typename T = std::int32_t>
py::array_t<T> new_array(std::size_t rows, std::size_t cols) {
  return py::array_t<T>({static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(cols)});
}

// `a`, or an aligned copy of it when its data sits at an address its element type may not be read
// from (np.frombuffer at an odd offset): the native code never reads misaligned samples.
inline py::array aligned(py::array a) {
  if (a.itemsize() > 1 && reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(a.itemsize()) != 0)
    a = a.attr("copy")();
  return a;
}

void bind_kernels(py::module_ &m);
void bind_monitor(py::module_ &m);  // monitor.cpp: the streaming window and signal quality
