// The band-pass: a DF1 biquad cascade (causal, streaming) and scipy's sosfiltfilt built from it.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "edgecardio/coeffs_generated.h"
#include "edgecardio/dsp.h"
#include "edgecardio/qmath.h"

namespace edgecardio {
namespace dsp {

BiquadCascade::BiquadCascade(const BiquadQ30 *sections, const std::int32_t *dc_gain_q30, int n_sections,
                             std::size_t n_ch)
    : sections_(sections, sections + n_sections),
      dc_gain_q30_(dc_gain_q30, dc_gain_q30 + n_sections),
      n_ch_(n_ch),
      state_(static_cast<std::size_t>(n_sections) * BiquadState::kRows * n_ch, 0) {
  if (n_sections < 1) throw std::invalid_argument("a biquad cascade needs at least one section");
}

BiquadCascade BiquadCascade::bandpass(std::size_t n_ch) {
  BiquadQ30 s[coeffs::kBandpassSections];
  for (int i = 0; i < coeffs::kBandpassSections; ++i) {
    for (int k = 0; k < 5; ++k) s[i].c[k] = coeffs::kBandpassQ30[i][k];
    for (int k = 0; k < 2; ++k) s[i].ef[k] = coeffs::kBandpassErrorFeedback[i][k];
  }
  return BiquadCascade(s, coeffs::kBandpassDcGainQ30, coeffs::kBandpassSections, n_ch);
}

void BiquadCascade::reset() {
  std::fill(state_.begin(), state_.end(), 0);
}

void BiquadCascade::reset_steady(const std::int32_t *level) {
  // A constant input c has been flowing forever: each section saw c and put out round(G * c).
  // DF1 and scipy's DF2T zi describe the same infinite past, so they continue identically
  // (up to this one rounding of the steady level).
  for (std::size_t c = 0; c < n_ch_; ++c) {
    std::int32_t in = level[c];
    for (std::size_t s = 0; s < sections_.size(); ++s) {
      const std::int32_t out = q::rshift_round_sat32(q::mul(dc_gain_q30_[s], in), 30);
      const BiquadState st = section_state(s);
      st.x1[c] = st.x2[c] = in;
      st.y1[c] = st.y2[c] = out;
      st.e1[c] = st.e2[c] = 0;
      in = out;
    }
  }
}

void BiquadCascade::process(const Engine &engine, const std::int32_t *x, std::int32_t *y, std::size_t n,
                            std::ptrdiff_t step) {
  // Section by section over the whole chunk: each pass is one tight recurrence per lane, and the
  // chunk (a few thousand frames) stays in cache between sections.
  for (std::size_t s = 0; s < sections_.size(); ++s) {
    engine.biquad_df1_q31(sections_[s], section_state(s), s == 0 ? x : y, y, n, n_ch_, step);
  }
}

std::size_t bandpass_padlen() { return static_cast<std::size_t>(coeffs::kBandpassPadlen); }

void bandpass_filtfilt(const Engine &engine, std::int32_t *w, std::size_t n, std::size_t n_ch) {
  const std::size_t pad = bandpass_padlen();
  if (n <= pad) throw std::invalid_argument("the band-pass needs more than " + std::to_string(pad) + " samples");
  std::int32_t *x = w + pad * n_ch;  // first real frame
  // Odd extension (scipy's odd_ext): 2*x[0] - x[k] before, 2*x[n-1] - x[n-1-k] after. Exact in
  // int32: the resampler output is below 2^25 (headroom analysis), so this stays below 2^26.6.
  for (std::size_t k = 1; k <= pad; ++k)
    for (std::size_t c = 0; c < n_ch; ++c) {
      x[-static_cast<std::ptrdiff_t>(k * n_ch) + static_cast<std::ptrdiff_t>(c)] =
          static_cast<std::int32_t>(2 * std::int64_t{x[c]} - x[k * n_ch + c]);
      x[(n - 1 + k) * n_ch + c] =
          static_cast<std::int32_t>(2 * std::int64_t{x[(n - 1) * n_ch + c]} - x[(n - 1 - k) * n_ch + c]);
    }
  const std::size_t total = n + 2 * pad;
  BiquadCascade bp = BiquadCascade::bandpass(n_ch);
  bp.reset_steady(w);  // zi * x_ext[0]
  bp.process(engine, w, w, total, static_cast<std::ptrdiff_t>(n_ch));
  std::int32_t *last = w + (total - 1) * n_ch;
  bp.reset_steady(last);  // zi * y_forward[-1]
  bp.process(engine, last, last, total, -static_cast<std::ptrdiff_t>(n_ch));
}

}  // namespace dsp
}  // namespace edgecardio
