// Per-lead signal quality (definitions in quality.h). Plain double arithmetic; the only transform is
// a radix-2 real FFT written here (a complex FFT of half the length on the even/odd samples, then the
// split), with its tables made once in the constructor, run on all leads at once as lanes.
#include "edgecardio/quality.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace edgecardio {
namespace quality {

const char *const kIndexNames[kNumIndices] = {"ksqi", "psqi", "bassqi", "hf", "nan_samples", "rail_run", "flat_run"};

namespace {
constexpr double kPi = 3.14159265358979323846;

std::size_t next_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

bool at_rail(float v, const WindowView &w) { return v <= w.rail_lo || v >= w.rail_hi; }
bool at_rail(double v, const WindowView &w) { return v <= w.rail_lo || v >= w.rail_hi; }

double ratio(double num, double den, double if_zero) { return den > 0 ? num / den : if_zero; }
}  // namespace

Analyzer::Analyzer(int fs_hz, std::size_t n_window, std::size_t max_leads, const Thresholds &thresholds)
    : fs_hz_(fs_hz), n_window_(n_window), max_leads_(max_leads), th_(thresholds) {
  if (fs_hz < 50 || fs_hz > 20000) throw std::invalid_argument("quality: fs_hz must be in [50, 20000]");
  nperseg_ = 2 * static_cast<std::size_t>(fs_hz);
  step_ = static_cast<std::size_t>(fs_hz);
  if (n_window < nperseg_) throw std::invalid_argument("quality: a window needs at least 2 s of samples");
  if (max_leads == 0 || max_leads > 64) throw std::invalid_argument("quality: 1 to 64 leads");
  nfft_ = next_pow2(nperseg_);
  n_seg_ = (n_window - nperseg_) / step_ + 1;
  const std::size_t m = nfft_ / 2;  // complex FFT length
  hann_.resize(nperseg_);
  for (std::size_t i = 0; i < nperseg_; ++i)  // periodic Hann (scipy get_window("hann", L))
    hann_[i] = 0.5 - 0.5 * std::cos(2.0 * kPi * static_cast<double>(i) / static_cast<double>(nperseg_));
  // cos_/sin_[k] = cos/sin(2 pi k / nfft), k <= m: the split's twiddles; every second one is the
  // complex FFT's (2 pi k / m).
  cos_.resize(m + 1);
  sin_.resize(m + 1);
  for (std::size_t k = 0; k <= m; ++k) {
    cos_[k] = std::cos(2.0 * kPi * static_cast<double>(k) / static_cast<double>(nfft_));
    sin_[k] = std::sin(2.0 * kPi * static_cast<double>(k) / static_cast<double>(nfft_));
  }
  bitrev_.resize(m);
  int bits = 0;
  while ((std::size_t{1} << bits) < m) ++bits;
  for (std::size_t i = 0; i < m; ++i) {
    std::uint32_t r = 0;
    for (int b = 0; b < bits; ++b) r |= static_cast<std::uint32_t>((i >> b) & 1U) << (bits - 1 - b);
    bitrev_[i] = r;
  }
  seg_.assign(nfft_ * max_leads, 0.0);
  re_.resize(m * max_leads);
  im_.resize(m * max_leads);
  power_.resize((m + 1) * max_leads);
  // Bins of each band: lo <= k fs / nfft <= hi, in integers.
  const std::size_t fs = static_cast<std::size_t>(fs_hz);
  auto lo_bin = [&](std::size_t lo_hz) { return (lo_hz * nfft_ + fs - 1) / fs; };
  auto hi_bin = [&](std::size_t hi_hz) { return std::min(m, hi_hz * nfft_ / fs); };
  const std::size_t lo[kNumBands] = {0, 0, 5, 5, 40, 1};
  const std::size_t hi[kNumBands] = {1, 40, 15, 40, 0, 0};
  for (int b = 0; b < kNumBands; ++b) {
    band_lo_[b] = lo_bin(lo[b]);
    band_hi_[b] = hi[b] ? hi_bin(hi[b]) : m;  // 0: up to fs / 2
  }
  scratch_bands_.resize(max_leads * kNumBands);
  win_bands_.resize(n_seg_ * max_leads * kNumBands);
  cache_.resize(2 * n_seg_ + 2);
  for (auto &e : cache_) e.bands.resize(max_leads * kNumBands);
}

void Analyzer::clear_cache() {
  for (auto &e : cache_) e.valid = false;
  cache_next_ = 0;
}

namespace {
// Four partial sums in a fixed order: independent dependency chains (the loop is latency-bound
// otherwise), and the same bits on every run and engine.
template <typename T>
double sum4(const T *x, std::size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += static_cast<double>(x[i]);
    s1 += static_cast<double>(x[i + 1]);
    s2 += static_cast<double>(x[i + 2]);
    s3 += static_cast<double>(x[i + 3]);
  }
  for (; i < n; ++i) s0 += static_cast<double>(x[i]);
  return (s0 + s1) + (s2 + s3);
}
}  // namespace

// power_[k * L + c] = one-sided |X[k]|^2 of lane c of seg_ (nfft frames of L lanes). The leads are
// the lanes: every loop body below is the same scalar arithmetic per lane, innermost, so the
// compiler vectorizes across leads (never across one lead's butterflies) and each lead's result is
// what a one-lead FFT would give.
void Analyzer::fft_power(std::size_t L) {
  const std::size_t m = nfft_ / 2;
  double *__restrict re = re_.data();
  double *__restrict im = im_.data();
  const double *__restrict seg = seg_.data();
  for (std::size_t i = 0; i < m; ++i) {
    const std::size_t r = bitrev_[i];
    for (std::size_t c = 0; c < L; ++c) {
      re[i * L + c] = seg[(2 * r) * L + c];
      im[i * L + c] = seg[(2 * r + 1) * L + c];
    }
  }
  for (std::size_t len = 2; len <= m; len <<= 1) {
    const std::size_t half = len / 2, tstep = 2 * (m / len);  // twiddle index in cos_ (nfft units)
    for (std::size_t i = 0; i < m; i += len) {
      for (std::size_t j = 0; j < half; ++j) {
        const double wr = cos_[j * tstep], wi = -sin_[j * tstep];
        double *__restrict ar = re + (i + j) * L;
        double *__restrict ai = im + (i + j) * L;
        double *__restrict br = re + (i + j + half) * L;
        double *__restrict bi = im + (i + j + half) * L;
        for (std::size_t c = 0; c < L; ++c) {
          const double vr = br[c] * wr - bi[c] * wi, vi = br[c] * wi + bi[c] * wr;
          br[c] = ar[c] - vr;
          bi[c] = ai[c] - vi;
          ar[c] += vr;
          ai[c] += vi;
        }
      }
    }
  }
  // Split: X[k] = E[k] + e^{-2 pi i k / nfft} O[k], E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i.
  double *__restrict pw = power_.data();
  for (std::size_t k = 0; k <= m; ++k) {
    const std::size_t p = (k % m) * L, q = ((m - k) % m) * L;
    const double wr = cos_[k], wi = -sin_[k], twice = (k == 0 || k == m) ? 1.0 : 2.0;
    for (std::size_t c = 0; c < L; ++c) {
      const double zr = re[p + c], zi = im[p + c], cr = re[q + c], ci = -im[q + c];
      const double er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      const double orr = 0.5 * (zi - ci), oi = -0.5 * (zr - cr);
      const double xr = er + (orr * wr - oi * wi), xi = ei + (orr * wi + oi * wr);
      pw[k * L + c] = twice * (xr * xr + xi * xi);
    }
  }
}

// Lead c's segment at x + c * stride into lane c of seg_ (minus its mean, Hann-weighted).
template <typename T>
void Analyzer::load_segment(const T *x, std::size_t stride, std::size_t L, double scale) {
  const double inv = 1.0 / static_cast<double>(nperseg_);
  for (std::size_t c = 0; c < L; ++c) {
    const T *xc = x + c * stride;
    const double mean = sum4(xc, nperseg_) * scale * inv;
    double *__restrict d = seg_.data() + c;
    for (std::size_t i = 0; i < nperseg_; ++i) d[i * L] = (static_cast<double>(xc[i]) * scale - mean) * hann_[i];
  }
  // Frames nperseg_..nfft_ of seg_ stay zero (the padding): only load_segment writes seg_.
}

void Analyzer::segment_bands(std::size_t L, double *bands) {
  fft_power(L);
  computed_ += L;
  for (int b = 0; b < kNumBands; ++b) {
    for (std::size_t c = 0; c < L; ++c) bands[c * kNumBands + b] = 0.0;
    for (std::size_t k = band_lo_[b]; k <= band_hi_[b]; ++k)
      for (std::size_t c = 0; c < L; ++c) bands[c * kNumBands + b] += power_[k * L + c];
  }
}

const double *Analyzer::bands_for(const WindowView &w, std::size_t seg, std::uint64_t start, bool use_cache) {
  const std::uint64_t abs_start = start + seg * step_;
  if (use_cache)
    for (const auto &e : cache_)
      if (e.valid && e.start == abs_start) return e.bands.data();
  double *out = scratch_bands_.data();
  const std::size_t off = seg * step_, L = w.n_leads;
  switch (w.kind) {
    case WindowView::kInt16:
      load_segment(static_cast<const std::int16_t *>(w.data) + off, w.lead_stride, L, 1.0 / w.gain_per_mv);
      break;
    case WindowView::kFloat32:
      load_segment(static_cast<const float *>(w.data) + off, w.lead_stride, L, 1.0);
      break;
    default:
      load_segment(static_cast<const double *>(w.data) + off, w.lead_stride, L, 1.0);
  }
  segment_bands(L, out);
  if (use_cache) {
    CacheEntry &e = cache_[cache_next_];
    cache_next_ = (cache_next_ + 1) % cache_.size();
    std::copy(out, out + w.n_leads * kNumBands, e.bands.begin());
    e.start = abs_start;
    e.valid = true;
  }
  return out;
}

template <typename T>
void Analyzer::time_domain(const T *x, double scale, const std::uint8_t *mask, const WindowView &w,
                           LeadQuality &q) const {
  const std::size_t n = w.n;
  const double mean = sum4(x, n) * scale / static_cast<double>(n);
  double a2[4] = {0, 0, 0, 0}, a4[4] = {0, 0, 0, 0};
  std::size_t i4 = 0;
  for (; i4 + 4 <= n; i4 += 4) {
    for (std::size_t j = 0; j < 4; ++j) {
      const double d = static_cast<double>(x[i4 + j]) * scale - mean, d2 = d * d;
      a2[j] += d2;
      a4[j] += d2 * d2;
    }
  }
  for (; i4 < n; ++i4) {
    const double d = static_cast<double>(x[i4]) * scale - mean, d2 = d * d;
    a2[0] += d2;
    a4[0] += d2 * d2;
  }
  const double m2 = ((a2[0] + a2[1]) + (a2[2] + a2[3])) / static_cast<double>(n);
  const double m4 = ((a4[0] + a4[1]) + (a4[2] + a4[3])) / static_cast<double>(n);
  q.ksqi = m2 > 0 ? m4 / (m2 * m2) : 0.0;

  // The flat test compares in the input's own units (counts within tolerance * gain), so integer
  // input has no rounding at the boundary.
  const double tol = th_.flat_tolerance_mv / scale;
  std::size_t nan = 0, rail_max = 0, flat_max = 1;
  if (mask != nullptr)
    for (std::size_t i = 0; i < n; ++i) nan += mask[i] ? 1 : 0;
  if constexpr (std::is_same<T, std::int16_t>::value) {
    // Integer runs without branches: |d| <= tol is |d| <= floor(tol) for an integer d, tested as one
    // unsigned compare; the loop's only chain is the anchor.
    const std::int64_t tol_c = tol >= 65536.0 ? 65536 : static_cast<std::int64_t>(std::floor(tol));
    std::uint32_t rail = 0, rmax = 0, flat = 1, fmax = 1;
    std::int64_t anchor = x[0];
    rail = (x[0] == -32768 || x[0] == 32767) ? 1U : 0U;
    rmax = rail;
    for (std::size_t i = 1; i < n; ++i) {
      const std::int64_t v = x[i];
      const std::uint32_t at = (v == -32768) | (v == 32767);
      rail = (rail + 1) * at;
      rmax = rail > rmax ? rail : rmax;
      const bool in = static_cast<std::uint64_t>(v - anchor + tol_c) <= static_cast<std::uint64_t>(2 * tol_c);
      anchor = in ? anchor : v;
      flat = in ? flat + 1 : 1;
      fmax = flat > fmax ? flat : fmax;
    }
    rail_max = rmax;
    flat_max = fmax;
  } else {
    std::size_t rail = 0, flat = 1;
    double anchor = static_cast<double>(x[0]);
    for (std::size_t i = 0; i < n; ++i) {
      rail = at_rail(x[i], w) ? rail + 1 : 0;
      rail_max = std::max(rail_max, rail);
      if (i > 0) {
        const double v = static_cast<double>(x[i]);
        const bool in = std::fabs(v - anchor) <= tol;
        anchor = in ? anchor : v;
        flat = in ? flat + 1 : 1;
        flat_max = std::max(flat_max, flat);
      }
    }
  }
  q.nan_samples = static_cast<double>(nan);
  q.rail_run = static_cast<double>(rail_max);
  q.flat_run = static_cast<double>(flat_max);
}

void Analyzer::analyze(const WindowView &w, LeadQuality *out, std::uint64_t start, bool use_cache) {
  if (w.n != n_window_ || w.n_leads == 0 || w.n_leads > max_leads_ || w.data == nullptr ||
      (w.n_leads > 1 && w.lead_stride < w.n) || (w.kind == WindowView::kInt16 && !(w.gain_per_mv > 0)))
    throw std::invalid_argument("quality: window of " + std::to_string(w.n_leads) + " x " + std::to_string(w.n) +
                                " does not match the analyzer (" + std::to_string(max_leads_) + " x " +
                                std::to_string(n_window_) + ") or has a bad stride or gain");
  for (std::size_t s = 0; s < n_seg_; ++s) {
    const double *b = bands_for(w, s, start, use_cache);
    std::copy(b, b + w.n_leads * kNumBands, win_bands_.begin() + static_cast<std::ptrdiff_t>(s * max_leads_ * kNumBands));
  }
  const double fs = static_cast<double>(fs_hz_);
  const double lead_off_run = std::ceil(th_.lead_off_rail_s * fs), flat_run = std::ceil(th_.flat_run_s * fs);
  for (std::size_t c = 0; c < w.n_leads; ++c) {
    LeadQuality &q = out[c];
    q = LeadQuality{};
    double sum[kNumBands] = {};
    double hf = 0;
    for (std::size_t s = 0; s < n_seg_; ++s) {
      const double *b = win_bands_.data() + (s * max_leads_ + c) * kNumBands;
      for (int k = 0; k < kNumBands; ++k) sum[k] += b[k];
      hf = std::max(hf, ratio(b[kHf], b[kAll1], 0.0));
    }
    q.psqi = ratio(sum[kQrs], sum[kEcg5], 0.0);
    q.bassqi = 1.0 - ratio(sum[kBas], sum[kEcg0], 0.0);
    q.hf = hf;
    const std::uint8_t *mask = w.nan_mask ? w.nan_mask + c * w.mask_stride : nullptr;
    switch (w.kind) {
      case WindowView::kInt16:
        time_domain(static_cast<const std::int16_t *>(w.data) + c * w.lead_stride, 1.0 / w.gain_per_mv, mask, w, q);
        break;
      case WindowView::kFloat32:
        time_domain(static_cast<const float *>(w.data) + c * w.lead_stride, 1.0, mask, w, q);
        break;
      default:
        time_domain(static_cast<const double *>(w.data) + c * w.lead_stride, 1.0, mask, w, q);
    }
    std::uint32_t f = 0;
    if (q.nan_samples > 0 || q.rail_run >= lead_off_run) f |= kLeadOff;
    if (q.flat_run >= flat_run) f |= kFlat;
    if (q.rail_run >= static_cast<double>(th_.saturation_run)) f |= kSaturated;
    if (q.bassqi < th_.wander_bassqi) f |= kWander;
    if (q.hf > th_.noisy_hf) f |= kNoisy;
    q.flags = f;
  }
}

}  // namespace quality
}  // namespace edgecardio
