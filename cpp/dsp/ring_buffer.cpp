// The monitor's mirrored ring buffer and windowing (see ring.h).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include "edgecardio/ring.h"

namespace edgecardio {
namespace monitor {

StreamWindow::StreamWindow(int fs_hz, std::size_t n_leads, std::size_t n_window, std::size_t hop, Kind kind,
                           double gain_per_mv, const quality::Thresholds &thresholds)
    : fs_hz_(fs_hz),
      n_leads_(n_leads),
      n_window_(n_window),
      hop_(hop),
      kind_(kind),
      gain_per_mv_(gain_per_mv),
      analyzer_(fs_hz, n_window, n_leads == 0 ? 1 : n_leads, thresholds) {
  if (n_leads == 0 || n_leads > 64) throw std::invalid_argument("stream window: 1 to 64 leads");
  if (hop == 0) throw std::invalid_argument("stream window: hop must be at least one sample");
  if (!(gain_per_mv > 0) || !std::isfinite(gain_per_mv)) throw std::invalid_argument("stream window: gain_per_mv > 0");
  if (kind == kInt16) {
    i16_.assign(n_leads * 2 * n_window, 0);
  } else {
    f64_.assign(n_leads * 2 * n_window, 0.0);
    mask_.assign(n_leads * 2 * n_window, 0);
    held_.assign(n_leads, 0.0);
  }
  q_.resize(n_leads);
  reset();
}

void StreamWindow::reset() {
  seen_ = 0;
  next_end_ = n_window_;
  last_end_ = 0;
  n_windows_ = 0;
  ready_ = false;
  std::fill(held_.begin(), held_.end(), 0.0);
  analyzer_.clear_cache();
}

void StreamWindow::complete(std::uint64_t end) {
  last_end_ = end;
  ++n_windows_;
  ready_ = true;
  quality::WindowView w;
  const std::size_t off = offset();
  w.n_leads = n_leads_;
  w.n = n_window_;
  w.lead_stride = lead_stride();
  w.gain_per_mv = gain_per_mv_;
  if (kind_ == kInt16) {
    w.kind = quality::WindowView::kInt16;
    w.data = i16_.data() + off;
  } else {
    w.kind = quality::WindowView::kFloat64;
    w.data = f64_.data() + off;
    w.nan_mask = mask_.data() + off;
    w.mask_stride = lead_stride();
  }
  analyzer_.analyze(w, q_.data(), end - n_window_, /*use_cache=*/true);
}

template <typename T>
std::size_t StreamWindow::push_impl(const T *in, std::size_t lead_stride, std::size_t n) {
  ready_ = false;
  const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, next_end_ - seen_));
  const std::size_t stride = this->lead_stride();
  for (std::size_t c = 0; c < n_leads_; ++c) {
    const T *x = in + c * lead_stride;
    std::size_t slot = static_cast<std::size_t>(seen_ % n_window_);
    if constexpr (std::is_same<T, std::int16_t>::value) {
      std::int16_t *d = i16_.data() + c * stride;
      for (std::size_t i = 0; i < take; ++i) {
        d[slot] = d[slot + n_window_] = x[i];
        if (++slot == n_window_) slot = 0;
      }
    } else {
      double *d = f64_.data() + c * stride;
      std::uint8_t *m = mask_.data() + c * stride;
      double held = held_[c];
      for (std::size_t i = 0; i < take; ++i) {
        const double v = static_cast<double>(x[i]);
        const bool bad = !std::isfinite(v);
        if (!bad) held = v;
        d[slot] = d[slot + n_window_] = held;
        m[slot] = m[slot + n_window_] = bad ? 1 : 0;
        if (++slot == n_window_) slot = 0;
      }
      held_[c] = held;
    }
  }
  seen_ += take;
  if (seen_ == next_end_) {
    next_end_ += hop_;
    complete(seen_);
  }
  return take;
}

std::size_t StreamWindow::push(const std::int16_t *in, std::size_t lead_stride, std::size_t n) {
  if (kind_ != kInt16) throw std::invalid_argument("stream window: this stream holds float samples, not int16");
  return push_impl(in, lead_stride, n);
}
std::size_t StreamWindow::push(const float *in, std::size_t lead_stride, std::size_t n) {
  if (kind_ != kFloat64) throw std::invalid_argument("stream window: this stream holds int16 samples, not float");
  return push_impl(in, lead_stride, n);
}
std::size_t StreamWindow::push(const double *in, std::size_t lead_stride, std::size_t n) {
  if (kind_ != kFloat64) throw std::invalid_argument("stream window: this stream holds int16 samples, not float");
  return push_impl(in, lead_stride, n);
}

bool StreamWindow::flush() {
  ready_ = false;
  if (seen_ < n_window_ || seen_ == last_end_) return false;
  complete(seen_);
  return true;
}

}  // namespace monitor
}  // namespace edgecardio
