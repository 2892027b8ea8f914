// Per-lead signal quality of one ECG window (no Python, no ONNX Runtime): the checks a bedside
// monitor makes before it trusts a diagnosis, computed on the raw window in millivolts at its own
// sampling rate (the model's 0.5-40 Hz band-pass would remove the baseline wander and the
// high-frequency noise these indices look for).
//
// Definitions, for lead c of a window of n samples x[0..n) in mV at fs_hz:
//  * Welch spectrum: segments of L = 2 * fs_hz samples (2 s), step fs_hz (1 s), starting at x[0]
//    (the trailing partial segment is dropped, as scipy.signal.welch does); each segment minus its
//    own mean (detrend "constant"), times a periodic Hann window, zero-padded to nfft = the power of
//    two >= L; P[k] = |FFT|^2, doubled for 0 < k < nfft/2 (one-sided). A band [lo, hi] Hz is the sum
//    of P over the bins k with lo <= k * fs_hz / nfft <= hi (both ends included). The density
//    scale 1 / (fs * sum(w^2)) is left out: only ratios of band powers are reported.
//  * kSQI   = m4 / m2^2, Pearson kurtosis of the whole window about its mean (clean ECG > 5;
//             Li, Mark & Clifford 2008). 0 when m2 is 0.
//  * pSQI   = P[5, 15] / P[5, 40] summed over segments (QRS energy over the ECG band; Li 2008,
//             Zhao & Zhang 2018 find 0.5-0.8 for clean ECG). 0 when the denominator is 0.
//  * basSQI = 1 - P[0, 1] / P[0, 40] summed over segments (baseline; Zhao & Zhang 2018: >= 0.95
//             optimal, < 0.9 unqualified). 1 when the denominator is 0.
//  * hf     = max over segments of P[40, fs/2] / P[1, fs/2] of that segment (muscle / high-
//             frequency noise, localized: a 1-s burst dominates its own segments). 0 when the
//             denominator is 0.
//  * nan    = samples that were NaN (the caller passes a mask; they were replaced before this).
//  * rail   = longest run of samples on an ADC rail: int16 -32768 or 32767, float input <= rail_lo
//             or >= rail_hi mV (disabled by default for float input: its rails are not known).
//  * flat   = longest run of samples within +-flat_tolerance_mv of the run's first sample (int16
//             input: compared in counts, tolerance * gain_per_mv, so no rounding at the boundary).
// Flags (Flag bits) follow from Thresholds; see there. Runs are reported in samples.
//
// Thread safety: an Analyzer owns its scratch memory and cache; use one per thread or stream.
// Everything is allocated in the constructor: analyze() allocates nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace edgecardio {
namespace quality {

enum Flag : std::uint32_t {
  kLeadOff = 1U << 0,    // NaN samples, or a rail run of at least lead_off_rail_s: electrode off
  kFlat = 1U << 1,       // a flat run of at least flat_run_s
  kSaturated = 1U << 2,  // a rail run of at least saturation_run samples (clipping)
  kWander = 1U << 3,     // basSQI below wander_bassqi
  kNoisy = 1U << 4,      // hf above noisy_hf
};

struct Thresholds {
  double lead_off_rail_s = 0.2;     // a rail held this long is a lead-off, not a clipped peak
  std::size_t saturation_run = 2;   // as preprocess's kSaturationRun
  double flat_run_s = 1.0;          // no live ECG lead stays within +-tolerance for 1 s
  double flat_tolerance_mv = 0.005;
  double wander_bassqi = 0.8;       // flags ~5 % of the leads of clean PTB-XL records (raw, not high-passed)
  double noisy_hf = 0.1;
};

// One lead's result. Order of the values in indices(): kIndexNames.
struct LeadQuality {
  double ksqi = 0, psqi = 0, bassqi = 1, hf = 0;
  double nan_samples = 0, rail_run = 0, flat_run = 0;
  std::uint32_t flags = 0;
};
constexpr int kNumIndices = 7;
// Names of the LeadQuality values in order (for the bindings and docs).
extern const char *const kIndexNames[kNumIndices];

// One window's input: lead c starts at data + c * lead_stride, samples contiguous.
struct WindowView {
  enum Kind { kInt16, kFloat32, kFloat64 } kind = kFloat64;
  const void *data = nullptr;
  std::size_t n_leads = 0, n = 0, lead_stride = 0;
  double gain_per_mv = 1000.0;                       // int16 only: counts per mV
  const std::uint8_t *nan_mask = nullptr;            // optional, same layout (mask_stride): 1 = was NaN
  std::size_t mask_stride = 0;
  double rail_lo = -std::numeric_limits<double>::infinity();  // float input only, mV
  double rail_hi = std::numeric_limits<double>::infinity();
};

class Analyzer {
 public:
  // Windows of n_window samples (at least 2 s) at fs_hz, at most max_leads leads.
  Analyzer(int fs_hz, std::size_t n_window, std::size_t max_leads, const Thresholds &thresholds = {});

  // Writes w.n_leads results. start: the absolute stream index of the window's first sample; with
  // use_cache, a segment whose start was seen before (same stream, samples unchanged) reuses its
  // band powers instead of recomputing them: the same bits, fewer FFTs per hop.
  void analyze(const WindowView &w, LeadQuality *out, std::uint64_t start = 0, bool use_cache = false);
  void clear_cache();

  int fs_hz() const { return fs_hz_; }
  std::size_t n_window() const { return n_window_; }
  std::size_t nperseg() const { return nperseg_; }
  std::size_t nfft() const { return nfft_; }
  std::size_t n_segments() const { return n_seg_; }
  const Thresholds &thresholds() const { return th_; }
  std::uint64_t segments_computed() const { return computed_; }  // FFTs done (cache misses), for tests

 private:
  enum Band { kBas, kEcg0, kQrs, kEcg5, kHf, kAll1, kNumBands };
  struct CacheEntry {
    std::uint64_t start = 0;
    bool valid = false;
    std::vector<double> bands;  // [lead][kNumBands]
  };
  template <typename T>
  void time_domain(const T *x, double scale, const std::uint8_t *mask, const WindowView &w, LeadQuality &q) const;
  template <typename T>
  void load_segment(const T *x, std::size_t stride, std::size_t n_lanes, double scale);
  void segment_bands(std::size_t n_lanes, double *bands);  // bands[lane][kNumBands]
  const double *bands_for(const WindowView &w, std::size_t seg, std::uint64_t start, bool use_cache);
  void fft_power(std::size_t n_lanes);

  int fs_hz_;
  std::size_t n_window_, max_leads_, nperseg_, step_, nfft_, n_seg_;
  Thresholds th_;
  std::size_t band_lo_[kNumBands], band_hi_[kNumBands];
  std::vector<double> hann_, cos_, sin_, scratch_bands_;
  std::vector<double> seg_, re_, im_, power_;  // [frame][lane]: the leads are the FFT's lanes
  std::vector<std::uint32_t> bitrev_;
  std::vector<double> win_bands_;  // [seg][lead][kNumBands] of the window being analyzed
  std::vector<CacheEntry> cache_;
  std::size_t cache_next_ = 0;
  std::uint64_t computed_ = 0;
};

}  // namespace quality
}  // namespace edgecardio
