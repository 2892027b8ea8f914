// Polyphase view of scipy.signal.resample_poly. Output j of resample_poly(x, up, down) is
//   y[j] = sum_i h[i] * xu[j*down + half_len - i],  xu[u] = x[u/up] when up | u, else 0,
// (scipy pads h so that output 0 sits on the filter's centre, which is what n_pre_remove does), so
// only taps i = phase + up*k with phase = (j*down + half_len) % up meet a non-zero sample. Each
// phase's taps are stored reversed and zero-filled to one length, which turns the sum into a
// contiguous dot product over x[s .. s + K - 1] (s = (j*down + half_len) / up, in a buffer with
// K - 1 leading zero frames standing for scipy's zero padding).
#include <algorithm>
#include <array>
#include <memory>
#include <stdexcept>
#include <string>

#include "edgecardio/coeffs_generated.h"
#include "edgecardio/dsp.h"

namespace edgecardio {
namespace dsp {
namespace {

const coeffs::ResamplerDesign *design_for(int fs_hz) {
  for (const auto &d : coeffs::kResamplers)
    if (d.fs_hz == fs_hz) return &d;
  return nullptr;
}

}  // namespace

Resampler::Resampler(int fs_hz) : fs_hz_(fs_hz) {
  const coeffs::ResamplerDesign *d = design_for(fs_hz);
  if (d == nullptr) throw std::invalid_argument("unsupported sampling rate " + std::to_string(fs_hz) + " Hz");
  up_ = d->up;
  down_ = d->down;
  half_len_ = d->half_len;
  if (d->n_taps == 0) {
    taps_per_phase_ = 1;
    return;
  }
  taps_per_phase_ = (d->n_taps + up_ - 1) / up_;
  taps_.assign(static_cast<std::size_t>(up_) * static_cast<std::size_t>(taps_per_phase_), 0);
  for (int p = 0; p < up_; ++p)
    for (int k = 0; k < taps_per_phase_; ++k) {
      const int i = p + up_ * k;
      if (i < d->n_taps) taps_[static_cast<std::size_t>(p * taps_per_phase_ + taps_per_phase_ - 1 - k)] = d->taps_q31[i];
    }
  // Pure decimators have one phase holding all of a linear-phase design: fold mirror taps.
  symmetric_ = up_ == 1 && taps_per_phase_ % 2 == 1 && std::equal(taps_.begin(), taps_.end(), taps_.rbegin());
}

std::size_t Resampler::output_length(std::size_t n_in) const {
  const std::size_t u = static_cast<std::size_t>(up_), dn = static_cast<std::size_t>(down_);
  return (n_in * u + dn - 1) / dn;
}

std::size_t Resampler::pad_right(std::size_t n_in) const {
  const std::size_t n_out = output_length(n_in);
  if (n_out == 0 || identity()) return 0;
  const std::size_t s_max = ((n_out - 1) * static_cast<std::size_t>(down_) + static_cast<std::size_t>(half_len_)) /
                            static_cast<std::size_t>(up_);
  // The last frame touched is s_max + K - 1 in padded coordinates; real data ends at pad_left + n_in - 1.
  const std::size_t last = s_max + static_cast<std::size_t>(taps_per_phase_) - 1;
  const std::size_t have = pad_left() + n_in - 1;
  return last > have ? last - have : 0;
}

void Resampler::run(const Engine &engine, const std::int32_t *x_padded, std::size_t n_ch, std::size_t n_in,
                    std::int32_t *y) const {
  if (symmetric_)
    engine.fir_decimsym_q31(x_padded, n_ch, taps_.data(), taps_per_phase_, down_, 0,
                            static_cast<std::size_t>(half_len_), output_length(n_in), y);
  else
    engine.fir_poly_q31(x_padded, n_ch, taps_.data(), up_, down_, taps_per_phase_, 0,
                        static_cast<std::size_t>(half_len_), output_length(n_in), y);
}

const Resampler &resampler_for(int fs_hz) {
  // Built once, on first use, thread-safely (function-local static); read-only afterwards.
  static const std::array<std::unique_ptr<Resampler>, coeffs::kNumRates> all = [] {
    std::array<std::unique_ptr<Resampler>, coeffs::kNumRates> a;
    for (int i = 0; i < coeffs::kNumRates; ++i) a[static_cast<std::size_t>(i)] = std::make_unique<Resampler>(coeffs::kResamplers[i].fs_hz);
    return a;
  }();
  for (const auto &r : all)
    if (r->fs_hz() == fs_hz) return *r;
  throw std::invalid_argument("unsupported sampling rate " + std::to_string(fs_hz) + " Hz");
}

}  // namespace dsp
}  // namespace edgecardio
