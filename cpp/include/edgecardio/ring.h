// The streaming window of the monitor (no Python, no ONNX Runtime): a mirrored ring buffer per lead
// that turns chunks of any size into 10-s windows every hop, plus the per-lead quality of each
// window (quality.h), in the same pass.
//
// Storage: lead c owns 2 * n_window slots; sample t is written at t mod n_window and again
// n_window slots later, so the last n_window samples are always contiguous (the window is a view,
// never a copy) at data + c * lead_stride() + (t_end mod n_window). Everything is allocated in the
// constructor; push() and flush() allocate nothing.
//
// Windows: the first ends when n_window samples have arrived, then one every hop samples. push()
// consumes a chunk only up to the next window end, so a caller loops: push, and if window_ready(),
// use the window before pushing the rest. The windows, and so everything computed from them,
// depend only on the samples, never on how the stream was cut into chunks.
//
// Float input: NaN samples (a lead-off, a dropped packet) are replaced by the lead's last finite
// value (0 before any) and marked in a mask with the same layout, which the quality pass counts.
// Infinity is treated like NaN.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgecardio/quality.h"

namespace edgecardio {
namespace monitor {

class StreamWindow {
 public:
  enum Kind { kInt16, kFloat64 };  // float32 input is stored as float64 (exactly)

  StreamWindow(int fs_hz, std::size_t n_leads, std::size_t n_window, std::size_t hop, Kind kind,
               double gain_per_mv, const quality::Thresholds &thresholds = {});

  // Takes samples from a (n_leads, n) chunk (lead c at in + c * lead_stride) up to the next window
  // end; returns how many. If a window completed, window_ready() is true and its quality is done.
  std::size_t push(const std::int16_t *in, std::size_t lead_stride, std::size_t n);
  std::size_t push(const float *in, std::size_t lead_stride, std::size_t n);
  std::size_t push(const double *in, std::size_t lead_stride, std::size_t n);

  // A last window ending at the newest sample, when samples arrived since the last window and at
  // least n_window in all; returns whether there is one (then window_ready()).
  bool flush();
  void reset();  // empty, as constructed

  bool window_ready() const { return ready_; }
  std::uint64_t samples_seen() const { return seen_; }
  std::uint64_t window_end() const { return last_end_; }  // absolute index after the window's last sample
  std::uint64_t windows() const { return n_windows_; }
  std::size_t offset() const { return static_cast<std::size_t>(last_end_ % n_window_); }  // window start slot
  std::size_t lead_stride() const { return 2 * n_window_; }
  const std::int16_t *data_i16() const { return i16_.data(); }
  const double *data_f64() const { return f64_.data(); }
  const std::uint8_t *nan_mask() const { return mask_.data(); }
  const quality::LeadQuality *quality() const { return q_.data(); }
  const quality::Analyzer &analyzer() const { return analyzer_; }

  Kind kind() const { return kind_; }
  int fs_hz() const { return fs_hz_; }
  std::size_t n_leads() const { return n_leads_; }
  std::size_t n_window() const { return n_window_; }
  std::size_t hop() const { return hop_; }

 private:
  template <typename T>
  std::size_t push_impl(const T *in, std::size_t lead_stride, std::size_t n);
  void complete(std::uint64_t end);

  int fs_hz_;
  std::size_t n_leads_, n_window_, hop_;
  Kind kind_;
  double gain_per_mv_;
  std::vector<std::int16_t> i16_;
  std::vector<double> f64_;
  std::vector<std::uint8_t> mask_;
  std::vector<double> held_;  // last finite value per lead (float input)
  std::uint64_t seen_ = 0, next_end_ = 0, last_end_ = 0, n_windows_ = 0;
  bool ready_ = false;
  quality::Analyzer analyzer_;
  std::vector<quality::LeadQuality> q_;
};

}  // namespace monitor
}  // namespace edgecardio
