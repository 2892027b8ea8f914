// Bindings of the streaming window and the signal quality (cpp/include/edgecardio/ring.h,
// quality.h), registered into _core by bind_monitor(). Thin like _core.cpp: buffers in, GIL released
// around the work, C++ errors become Python ones; the checks written for people live in
// python/edgecardio/monitor.py and quality.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "edgecardio/quality.h"
#include "edgecardio/ring.h"

namespace py = pybind11;
namespace eq = edgecardio::quality;
namespace em = edgecardio::monitor;

namespace {

eq::Thresholds thresholds_from(const py::dict &d) {
  eq::Thresholds t;
  for (auto item : d) {
    const std::string k = py::cast<std::string>(item.first);
    const py::handle v = item.second;
    if (k == "lead_off_rail_s") t.lead_off_rail_s = py::cast<double>(v);
    else if (k == "saturation_run") t.saturation_run = py::cast<std::size_t>(v);
    else if (k == "flat_run_s") t.flat_run_s = py::cast<double>(v);
    else if (k == "flat_tolerance_mv") t.flat_tolerance_mv = py::cast<double>(v);
    else if (k == "wander_bassqi") t.wander_bassqi = py::cast<double>(v);
    else if (k == "noisy_hf") t.noisy_hf = py::cast<double>(v);
    else throw py::value_error("unknown quality threshold '" + k + "'");
  }
  return t;
}

py::dict thresholds_dict(const eq::Thresholds &t) {
  py::dict d;
  d["lead_off_rail_s"] = t.lead_off_rail_s;
  d["saturation_run"] = t.saturation_run;
  d["flat_run_s"] = t.flat_run_s;
  d["flat_tolerance_mv"] = t.flat_tolerance_mv;
  d["wander_bassqi"] = t.wander_bassqi;
  d["noisy_hf"] = t.noisy_hf;
  return d;
}

// (indices float64 [n_leads, kNumIndices], flags uint32 [n_leads]), fresh arrays the caller keeps.
py::tuple quality_arrays(const eq::LeadQuality *q, std::size_t n_leads) {
  py::array_t<double> idx({static_cast<py::ssize_t>(n_leads), static_cast<py::ssize_t>(eq::kNumIndices)});
  py::array_t<std::uint32_t> flags(static_cast<py::ssize_t>(n_leads));
  double *p = idx.mutable_data();
  std::uint32_t *f = flags.mutable_data();
  for (std::size_t c = 0; c < n_leads; ++c) {
    const eq::LeadQuality &l = q[c];
    const double v[eq::kNumIndices] = {l.ksqi, l.psqi, l.bassqi, l.hf, l.nan_samples, l.rail_run, l.flat_run};
    std::copy(v, v + eq::kNumIndices, p + c * eq::kNumIndices);
    f[c] = l.flags;
  }
  return py::make_tuple(idx, flags);
}

template <typename T>
bool rows_of(const py::array &a) {
  return a.dtype().equal(py::dtype::of<T>());
}

void check_rows(const py::array &a, std::size_t n_leads, const char *what) {
  const auto item = static_cast<py::ssize_t>(a.itemsize());
  if (a.ndim() != 2 || static_cast<std::size_t>(a.shape(0)) != n_leads || (a.shape(1) > 1 && a.strides(1) != item) ||
      a.strides(0) < 0 || a.strides(0) % item != 0)
    throw py::value_error(std::string(what) + ": expected (" + std::to_string(n_leads) +
                          ", n) with contiguous rows (the facade makes them so)");
}

}  // namespace

void bind_monitor(py::module_ &m) {
  py::list names;
  for (const char *n : eq::kIndexNames) names.append(n);
  m.attr("QUALITY_INDEX_NAMES") = py::tuple(names);
  py::dict flags;
  flags["lead_off"] = static_cast<int>(eq::kLeadOff);
  flags["flat"] = static_cast<int>(eq::kFlat);
  flags["saturated"] = static_cast<int>(eq::kSaturated);
  flags["wander"] = static_cast<int>(eq::kWander);
  flags["noisy"] = static_cast<int>(eq::kNoisy);
  m.attr("QUALITY_FLAGS") = flags;
  m.attr("QUALITY_THRESHOLDS") = thresholds_dict(eq::Thresholds{});

  m.def(
      "window_quality",
      [](const py::array &signal, int fs_hz, double gain_per_mv, double rail_lo, double rail_hi, const py::dict &thr) {
        const py::array x = aligned(signal);
        if (x.ndim() != 2) throw py::value_error("window_quality: signal must be 2-D (n_leads, n)");
        const auto n_leads = static_cast<std::size_t>(x.shape(0)), n = static_cast<std::size_t>(x.shape(1));
        check_rows(x, n_leads, "window_quality");
        if (n_leads == 0 || n_leads > 64) throw py::value_error("window_quality: 1 to 64 leads");
        eq::WindowView w;
        w.n_leads = n_leads;
        w.n = n;
        w.lead_stride = n_leads > 1 ? static_cast<std::size_t>(x.strides(0) / x.itemsize()) : n;
        w.gain_per_mv = gain_per_mv;
        w.rail_lo = rail_lo;
        w.rail_hi = rail_hi;
        w.data = x.data();
        if (rows_of<std::int16_t>(x)) w.kind = eq::WindowView::kInt16;
        else if (rows_of<float>(x)) w.kind = eq::WindowView::kFloat32;
        else if (rows_of<double>(x)) w.kind = eq::WindowView::kFloat64;
        else throw py::type_error("window_quality: signal must be native int16, float32 or float64");
        const eq::Thresholds t = thresholds_from(thr);
        eq::LeadQuality q[64];
        {
          py::gil_scoped_release nogil;
          thread_local std::unique_ptr<eq::Analyzer> a;
          thread_local eq::Thresholds at;
          if (!a || a->fs_hz() != fs_hz || a->n_window() != n || std::memcmp(&at, &t, sizeof t) != 0) {
            a.reset(new eq::Analyzer(fs_hz, n, 64, t));
            at = t;
          }
          a->analyze(w, q);
        }
        return quality_arrays(q, n_leads);
      },
      py::arg("signal"), py::arg("fs_hz"), py::arg("gain_per_mv") = 1000.0,
      py::arg("rail_lo") = -std::numeric_limits<double>::infinity(),
      py::arg("rail_hi") = std::numeric_limits<double>::infinity(), py::arg("thresholds") = py::dict(),
      "Per-lead quality of one window (n_leads, n >= 2 s): (indices [n_leads, 7], flags [n_leads]). "
      "Use edgecardio.quality.window_quality, which validates its input.");

  py::class_<em::StreamWindow>(m, "StreamWindow",
                               "Mirrored ring buffer + windowing + per-window quality of one stream.")
      .def(py::init([](int fs_hz, std::size_t n_leads, std::size_t n_window, std::size_t hop, const std::string &kind,
                       double gain_per_mv, const py::dict &thr) {
             em::StreamWindow::Kind k;
             if (kind == "int16") k = em::StreamWindow::kInt16;
             else if (kind == "float64") k = em::StreamWindow::kFloat64;
             else throw py::value_error("StreamWindow kind must be 'int16' or 'float64'");
             return std::make_unique<em::StreamWindow>(fs_hz, n_leads, n_window, hop, k, gain_per_mv, thresholds_from(thr));
           }),
           py::arg("fs_hz"), py::arg("n_leads"), py::arg("n_window"), py::arg("hop"), py::arg("kind"),
           py::arg("gain_per_mv") = 1000.0, py::arg("thresholds") = py::dict())
      .def(
          "push",
          [](em::StreamWindow &s, const py::array &raw_chunk, std::size_t start) {
            const py::array chunk = aligned(raw_chunk);
            check_rows(chunk, s.n_leads(), "StreamWindow.push");
            const auto n = static_cast<std::size_t>(chunk.shape(1));
            if (start > n) throw py::value_error("StreamWindow.push: start past the chunk's end");
            const std::size_t stride = s.n_leads() > 1 ? static_cast<std::size_t>(chunk.strides(0) / chunk.itemsize()) : n;
            if (rows_of<std::int16_t>(chunk)) {
              const auto *p = static_cast<const std::int16_t *>(chunk.data()) + start;
              py::gil_scoped_release nogil;
              return s.push(p, stride, n - start);
            }
            if (rows_of<float>(chunk)) {
              const auto *p = static_cast<const float *>(chunk.data()) + start;
              py::gil_scoped_release nogil;
              return s.push(p, stride, n - start);
            }
            if (rows_of<double>(chunk)) {
              const auto *p = static_cast<const double *>(chunk.data()) + start;
              py::gil_scoped_release nogil;
              return s.push(p, stride, n - start);
            }
            throw py::type_error("StreamWindow.push: chunk must be native int16, float32 or float64");
          },
          py::arg("chunk"), py::arg("start") = 0,
          "Take samples chunk[:, start:] up to the next window end; return how many were taken.")
      .def(
          "flush",
          [](em::StreamWindow &s) {
            py::gil_scoped_release nogil;
            return s.flush();
          },
          "A last window ending at the newest sample, if samples arrived since the last one.")
      .def("reset", &em::StreamWindow::reset)
      .def_property_readonly("window_ready", &em::StreamWindow::window_ready)
      .def_property_readonly("samples_seen", &em::StreamWindow::samples_seen)
      .def_property_readonly("window_end", &em::StreamWindow::window_end)
      .def_property_readonly("windows", &em::StreamWindow::windows)
      .def_property_readonly("segments_computed", [](const em::StreamWindow &s) { return s.analyzer().segments_computed(); })
      .def_property_readonly("kind", [](const em::StreamWindow &s) {
        return std::string(s.kind() == em::StreamWindow::kInt16 ? "int16" : "float64");
      })
      .def(
          "window",
          [](py::object self) {
            const auto &s = self.cast<const em::StreamWindow &>();
            const auto shape = std::vector<py::ssize_t>{static_cast<py::ssize_t>(s.n_leads()),
                                                        static_cast<py::ssize_t>(s.n_window())};
            py::array out;
            if (s.kind() == em::StreamWindow::kInt16) {
              const auto item = static_cast<py::ssize_t>(sizeof(std::int16_t));
              out = py::array_t<std::int16_t>(shape, {static_cast<py::ssize_t>(s.lead_stride()) * item, item},
                                              s.data_i16() + s.offset(), self);
            } else {
              const auto item = static_cast<py::ssize_t>(sizeof(double));
              out = py::array_t<double>(shape, {static_cast<py::ssize_t>(s.lead_stride()) * item, item},
                                        s.data_f64() + s.offset(), self);
            }
            py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
            return out;
          },
          "The last window as a read-only (n_leads, n_window) view into the ring (valid until the next push).")
      .def(
          "nan_mask",
          [](py::object self) -> py::object {
            const auto &s = self.cast<const em::StreamWindow &>();
            if (s.kind() == em::StreamWindow::kInt16) return py::none();
            const auto shape = std::vector<py::ssize_t>{static_cast<py::ssize_t>(s.n_leads()),
                                                        static_cast<py::ssize_t>(s.n_window())};
            py::array out = py::array_t<std::uint8_t>(shape, {static_cast<py::ssize_t>(s.lead_stride()), py::ssize_t{1}},
                                                      s.nan_mask() + s.offset(), self);
            py::detail::array_proxy(out.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
            return out;
          },
          "Which samples of the last window were NaN (float streams; None for int16).")
      .def("quality", [](const em::StreamWindow &s) { return quality_arrays(s.quality(), s.n_leads()); },
           "(indices [n_leads, 7], flags [n_leads]) of the last window.");
}
