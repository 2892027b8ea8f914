// Stateful DSP objects built from the kernels: the polyphase resampler, the biquad cascade (causal,
// streaming) and the zero-phase band-pass, plus the normalizer. All buffers are frames of n_ch
// interleaved int32 lanes (see kernels.h).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace dsp {

// resample_poly(x, up, down) with scipy's Kaiser(5) design, as generated in coeffs_generated.h.
// Immutable after construction; resampler_for() hands out shared, read-only instances.
class Resampler {
 public:
  explicit Resampler(int fs_hz);  // throws std::invalid_argument for an unsupported rate

  int fs_hz() const { return fs_hz_; }
  int up() const { return up_; }
  int down() const { return down_; }
  bool identity() const { return up_ == 1 && down_ == 1; }
  int taps_per_phase() const { return taps_per_phase_; }
  // Decimation by an integer with symmetric taps: run() uses the fir_decimsym_q31 kernel.
  bool symmetric() const { return symmetric_; }
  const std::vector<std::int32_t> &phase_taps() const { return taps_; }  // [up][taps_per_phase], reversed
  std::size_t output_length(std::size_t n_in) const;
  // Zero frames the caller puts before and after the n_in input frames.
  std::size_t pad_left() const { return static_cast<std::size_t>(taps_per_phase_ - 1); }
  std::size_t pad_right(std::size_t n_in) const;
  // x: pad_left() + n_in + pad_right(n_in) frames; writes output_length(n_in) frames to y.
  void run(const Engine &engine, const std::int32_t *x_padded, std::size_t n_ch, std::size_t n_in,
           std::int32_t *y) const;

 private:
  int fs_hz_, up_, down_, half_len_, taps_per_phase_;
  bool symmetric_ = false;
  std::vector<std::int32_t> taps_;
};

const Resampler &resampler_for(int fs_hz);

// A cascade of DF1 sections over n_ch lanes with its state: a causal streaming filter.
// process() on consecutive chunks gives the same bits as one call on their concatenation.
class BiquadCascade {
 public:
  BiquadCascade(const BiquadQ30 *sections, const std::int32_t *dc_gain_q30, int n_sections, std::size_t n_ch);
  // The band-pass of the specification (coeffs::kBandpassQ30).
  static BiquadCascade bandpass(std::size_t n_ch);

  void reset();  // zero state
  // Steady state for a constant input level[c] on every lane (scipy's sosfilt_zi * level).
  void reset_steady(const std::int32_t *level);
  // n frames x[k * step] -> y[k * step] (step in elements, may be negative; y may equal x).
  void process(const Engine &engine, const std::int32_t *x, std::int32_t *y, std::size_t n, std::ptrdiff_t step);

  std::size_t n_ch() const { return n_ch_; }
  // [section][BiquadState::kRows][lane]: per section the rows x1, x2, y1, y2, e1, e2.
  const std::vector<std::int32_t> &state() const { return state_; }
  BiquadState section_state(std::size_t s) { return BiquadState::rows(&state_[s * BiquadState::kRows * n_ch_], n_ch_); }

 private:
  std::vector<BiquadQ30> sections_;
  std::vector<std::int32_t> dc_gain_q30_;
  std::size_t n_ch_;
  std::vector<std::int32_t> state_;
};

// scipy.signal.sosfiltfilt with its default odd extension, in place: w holds pad + n + pad frames,
// the caller filled the middle n; on return they hold the zero-phase output (the pads are scratch).
// pad is bandpass_padlen(); needs n > pad.
std::size_t bandpass_padlen();
void bandpass_filtfilt(const Engine &engine, std::int32_t *w, std::size_t n, std::size_t n_ch);

// Per-lane exact statistics of n frames and the z-scored float32 rows out + c * out_stride.
// scale_to_mv[c] converts lane c's integer units to mV (for the flat test). Returns the flat mask.
std::uint64_t normalize(const Engine &engine, const std::int32_t *y, std::size_t n, std::size_t n_ch,
                        const double *scale_to_mv, float *out, std::size_t out_stride, double *lead_std_mv);

}  // namespace dsp
}  // namespace edgecardio
