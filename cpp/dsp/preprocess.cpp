// The pipeline: block-floating-point conversion -> polyphase resampler -> zero-phase band-pass ->
// z-score, on frames of interleaved int32 lanes (one per lead) so every kernel vectorizes across
// leads. The arithmetic contract is in preprocess.h.
#include "edgecardio/preprocess.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>

#include "edgecardio/coeffs_generated.h"
#include "edgecardio/detrend.h"
#include "edgecardio/dsp.h"

namespace edgecardio {
namespace {

// The exponent that puts a lead whose largest magnitude is maxabs just inside 2^kInputBits:
// maxabs = m * 2^k with m in [0.5, 1) (frexp), so maxabs * 2^(kInputBits - k) < 2^kInputBits.
int block_exponent(double maxabs) {
  if (maxabs == 0.0) return 0;
  int k = 0;
  (void)std::frexp(maxabs, &k);
  return coeffs::kInputBits - k;
}

void check_common(std::size_t n_leads, std::size_t n_in, std::size_t in_lead_stride, int fs_hz, const void *in,
                  const float *out, std::size_t out_lead_stride) {
  if (n_leads < 1 || n_leads > kMaxLeads)
    throw std::invalid_argument("n_leads must be in [1, " + std::to_string(kMaxLeads) + "], got " +
                                std::to_string(n_leads));
  if (!is_supported_rate(fs_hz)) throw std::invalid_argument("unsupported sampling rate " + std::to_string(fs_hz) + " Hz");
  if (n_in < min_input_length(fs_hz))
    throw std::invalid_argument("need at least " + std::to_string(min_input_length(fs_hz)) + " samples at " +
                                std::to_string(fs_hz) + " Hz, got " + std::to_string(n_in));
  if (in == nullptr || out == nullptr) throw std::invalid_argument("null buffer");
  // Input rows may overlap or repeat (a broadcast lead is only read); output rows must not.
  (void)in_lead_stride;
  if (n_leads > 1 && out_lead_stride < output_length(n_in, fs_hz))
    throw std::invalid_argument("out_lead_stride is shorter than an output row: rows would overlap");
}

// Everything after the conversion: x holds the converted input, already placed where the
// resampler (or, at 100 Hz, the band-pass) wants it inside `work`.
// Scratch without value-initialization: every frame is written before it is read, except the
// resampler's pads, which are zeroed explicitly (zero-filling the whole buffer would touch every
// byte twice).
struct Buffers {
  std::unique_ptr<std::int32_t[]> x;  // resampler input with its zero pads (unused at 100 Hz)
  std::unique_ptr<std::int32_t[]> w;  // band-pass frames: pad + n_out + pad
  std::int32_t *dst = nullptr;        // where converted frame 0 goes
};

Buffers make_buffers(const dsp::Resampler &r, std::size_t n_ch, std::size_t n_in) {
  Buffers b;
  const std::size_t pad = dsp::bandpass_padlen();
  const std::size_t n_out = r.output_length(n_in);
  b.w.reset(new std::int32_t[(n_out + 2 * pad) * n_ch]);
  if (r.identity()) {
    b.dst = b.w.get() + pad * n_ch;
  } else {
    const std::size_t left = r.pad_left() * n_ch, right = r.pad_right(n_in) * n_ch, mid = n_in * n_ch;
    b.x.reset(new std::int32_t[left + mid + right]);
    std::fill(b.x.get(), b.x.get() + left, 0);
    std::fill(b.x.get() + left + mid, b.x.get() + left + mid + right, 0);
    b.dst = b.x.get() + left;
  }
  return b;
}

// Planar rows -> interleaved frames, dst[t * n_ch + c] = convert(c, row_c[t]), in time blocks so
// the strided writes stay in L1.
template <typename T, typename Convert>
void interleave(const T *in, std::size_t n_ch, std::size_t n_in, std::size_t in_lead_stride, std::int32_t *dst,
                Convert convert) {
  constexpr std::size_t kBlock = 256;
  for (std::size_t t0 = 0; t0 < n_in; t0 += kBlock) {
    const std::size_t len = std::min(kBlock, n_in - t0);
    for (std::size_t c = 0; c < n_ch; ++c) {
      const T *s = in + c * in_lead_stride + t0;
      std::int32_t *d = dst + t0 * n_ch + c;
      for (std::size_t t = 0; t < len; ++t) d[t * n_ch] = convert(c, s[t]);
    }
  }
}

PreprocessInfo finish(const Engine &engine, const dsp::Resampler &r, Buffers &b, std::size_t n_ch, std::size_t n_in,
                      const double *scale_to_mv, float *out, std::size_t out_lead_stride,
                      const PreprocessOptions &options) {
  const std::size_t pad = dsp::bandpass_padlen();
  const std::size_t n_out = r.output_length(n_in);
  std::int32_t *mid = b.w.get() + pad * n_ch;
  if (!r.identity()) r.run(engine, b.x.get(), n_ch, n_in, mid);
  dsp::bandpass_filtfilt(engine, b.w.get(), n_out, n_ch);
  PreprocessInfo info;
  info.n_out = n_out;
  info.engine = engine.name;
  info.flat_leads = dsp::normalize(engine, mid, n_out, n_ch, scale_to_mv, out, out_lead_stride, options.lead_std_mv);
  return info;
}

template <typename F>
PreprocessInfo run_float(const F *in, std::size_t n_leads, std::size_t n_in, std::size_t in_lead_stride, int fs_hz,
                         float *out, std::size_t out_lead_stride, const PreprocessOptions &options) {
  check_common(n_leads, n_in, in_lead_stride, fs_hz, in, out, out_lead_stride);
  const Engine &engine = options.engine ? *options.engine : default_engine();
  const dsp::Resampler &r = dsp::resampler_for(fs_hz);
  double scale[kMaxLeads];
  double mult[kMaxLeads];
  for (std::size_t c = 0; c < n_leads; ++c) {
    const F *x = in + c * in_lead_stride;
    double maxabs = 0.0;
    for (std::size_t t = 0; t < n_in; ++t) {
      const double v = static_cast<double>(x[t]);
      if (!std::isfinite(v))
        throw std::invalid_argument("lead " + std::to_string(c) + " has a NaN or infinite sample at index " +
                                    std::to_string(t));
      maxabs = std::fmax(maxabs, std::fabs(v));
    }
    int e = block_exponent(maxabs);
    // Below 2^-488 mV a lead is flat whatever its shape; keeping e small keeps 2^e finite.
    if (e > 512) e = 0;
    mult[c] = std::ldexp(1.0, e);
    scale[c] = std::ldexp(1.0, -e);
  }
  Buffers b = make_buffers(r, n_leads, n_in);
  if (!r.identity()) {  // the specification removes each lead's line before resampling
    dsp::LineRemoval plans[kMaxLeads];
    for (std::size_t c = 0; c < n_leads; ++c) {
      plans[c] = dsp::plan_line_removal(in + c * in_lead_stride, n_in, mult[c]);
      scale[c] = plans[c].unit();
    }
    dsp::interleave_without_line(in, n_leads, n_in, in_lead_stride, plans, b.dst);
    return finish(engine, r, b, n_leads, n_in, scale, out, out_lead_stride, options);
  }
  // Scaling by a power of two is exact; nearbyint rounds ties to even (default rounding mode).
  interleave(in, n_leads, n_in, in_lead_stride, b.dst, [&mult](std::size_t c, F v) {
    return static_cast<std::int32_t>(std::nearbyint(static_cast<double>(v) * mult[c]));
  });
  return finish(engine, r, b, n_leads, n_in, scale, out, out_lead_stride, options);
}

}  // namespace

bool is_supported_rate(int fs_hz) {
  for (const auto &d : coeffs::kResamplers)
    if (d.fs_hz == fs_hz) return true;
  return false;
}

std::vector<int> supported_rates_hz() {
  std::vector<int> v;
  for (const auto &d : coeffs::kResamplers) v.push_back(d.fs_hz);
  return v;
}

std::size_t output_length(std::size_t n_in, int fs_hz) { return dsp::resampler_for(fs_hz).output_length(n_in); }

std::size_t min_input_length(int fs_hz) {
  // Smallest n_in with ceil(n_in * up / down) > padlen.
  const dsp::Resampler &r = dsp::resampler_for(fs_hz);
  const std::size_t need = dsp::bandpass_padlen() + 1;
  const std::size_t up = static_cast<std::size_t>(r.up()), down = static_cast<std::size_t>(r.down());
  return ((need - 1) * down) / up + 1;
}

PreprocessInfo preprocess_into(const std::int16_t *in, std::size_t n_leads, std::size_t n_in, std::size_t in_lead_stride,
                               int fs_hz, double gain_per_mv, float *out, std::size_t out_lead_stride,
                               const PreprocessOptions &options) {
  check_common(n_leads, n_in, in_lead_stride, fs_hz, in, out, out_lead_stride);
  if (!(gain_per_mv > 0.0) || !std::isfinite(gain_per_mv))
    throw std::invalid_argument("gain_per_mv must be a positive finite number");
  const Engine &engine = options.engine ? *options.engine : default_engine();
  const dsp::Resampler &r = dsp::resampler_for(fs_hz);
  double scale[kMaxLeads];
  int shift[kMaxLeads];
  std::uint64_t saturated = 0;
  for (std::size_t c = 0; c < n_leads; ++c) {
    const std::int16_t *x = in + c * in_lead_stride;
    std::int16_t lo = 0, hi = 0;
    for (std::size_t t = 0; t < n_in; ++t) {  // vectorizes; the run scan below only on a rail
      lo = std::min(lo, x[t]);
      hi = std::max(hi, x[t]);
    }
    if (lo == INT16_MIN || hi == INT16_MAX) {
      std::size_t run = 0;
      for (std::size_t t = 0; t < n_in && run < kSaturationRun; ++t) {
        const bool rail = x[t] == INT16_MIN || x[t] == INT16_MAX;
        run = rail ? run + 1 : 0;
      }
      if (run >= kSaturationRun) saturated |= std::uint64_t{1} << c;
    }
    const int maxabs = std::max(-int{lo}, int{hi});
    const int e = block_exponent(static_cast<double>(maxabs));
    shift[c] = e;  // 8 <= e <= 23 for int16 (e = 0 for an all-zero lead)
    scale[c] = std::ldexp(1.0, -e) / gain_per_mv;
  }
  Buffers b = make_buffers(r, n_leads, n_in);
  if (r.identity()) {
    engine.interleave_shl_i16(in, n_leads, n_in, in_lead_stride, shift, b.dst);
  } else {  // the specification removes each lead's line before resampling
    dsp::LineRemoval plans[kMaxLeads];
    for (std::size_t c = 0; c < n_leads; ++c) {
      plans[c] = dsp::plan_line_removal(in + c * in_lead_stride, n_in);
      scale[c] = plans[c].unit() / gain_per_mv;
    }
    dsp::interleave_without_line(in, n_leads, n_in, in_lead_stride, plans, b.dst);
  }
  PreprocessInfo info = finish(engine, r, b, n_leads, n_in, scale, out, out_lead_stride, options);
  info.saturated_leads = saturated;
  return info;
}

PreprocessInfo preprocess_into(const float *in_mv, std::size_t n_leads, std::size_t n_in, std::size_t in_lead_stride,
                               int fs_hz, float *out, std::size_t out_lead_stride, const PreprocessOptions &options) {
  return run_float(in_mv, n_leads, n_in, in_lead_stride, fs_hz, out, out_lead_stride, options);
}

PreprocessInfo preprocess_into(const double *in_mv, std::size_t n_leads, std::size_t n_in, std::size_t in_lead_stride,
                               int fs_hz, float *out, std::size_t out_lead_stride, const PreprocessOptions &options) {
  return run_float(in_mv, n_leads, n_in, in_lead_stride, fs_hz, out, out_lead_stride, options);
}

PreprocessInfo preprocess_into(const SignalView &s, float *out, std::size_t out_lead_stride,
                               const PreprocessOptions &options) {
  switch (s.type) {
    case SignalView::Type::kInt16:
      return preprocess_into(static_cast<const std::int16_t *>(s.data), s.n_leads, s.n_samples, s.lead_stride, s.fs_hz,
                             s.gain_per_mv, out, out_lead_stride, options);
    case SignalView::Type::kFloat32:
      return preprocess_into(static_cast<const float *>(s.data), s.n_leads, s.n_samples, s.lead_stride, s.fs_hz, out,
                             out_lead_stride, options);
    case SignalView::Type::kFloat64:
      return preprocess_into(static_cast<const double *>(s.data), s.n_leads, s.n_samples, s.lead_stride, s.fs_hz, out,
                             out_lead_stride, options);
  }
  throw std::invalid_argument("unknown signal type");
}

}  // namespace edgecardio
