// Native test of the monitor's core without Python: the FFT band powers against a direct DFT, the
// segment cache against recomputation (same bits), the stream window against random chunkings
// (same windows and quality bits), the fault flags on synthetic leads, and no allocation by a
// running stream's pushes (int16 and float with NaN, windows completing, flush).
//
//   edgecardio_quality_tests        exit 0: all good; 1: a failure
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "edgecardio/quality.h"
#include "edgecardio/ring.h"

using namespace edgecardio;

// Every allocation of this program is counted, so a test can show that a running stream allocates
// nothing per push.
static std::size_t g_allocations = 0;
void *operator new(std::size_t n) {
  ++g_allocations;
  if (void *p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, std::size_t) noexcept { std::free(p); }

namespace {

int g_checks = 0, g_failures = 0;

void check(bool ok, const std::string &what) {
  ++g_checks;
  if (!ok && ++g_failures <= 20) std::printf("FAIL %s\n", what.c_str());
}

std::mt19937_64 g_rng(20261125);

// (12, n) int16 counts: narrow beats, a slow baseline and a little noise.
std::vector<std::int16_t> ecg(int fs, std::size_t n) {
  std::normal_distribution<double> noise(0.0, 8.0);
  std::uniform_real_distribution<double> amp(400.0, 1500.0);
  std::vector<std::int16_t> x(12 * n);
  for (int c = 0; c < 12; ++c) {
    const double a = amp(g_rng);
    for (std::size_t i = 0; i < n; ++i) {
      const double t = static_cast<double>(i) / fs;
      const double v = a * std::pow(std::sin(3.14159265358979 * 1.2 * t), 64) + 100 * std::sin(0.9 * t + c) + noise(g_rng);
      x[c * n + i] = static_cast<std::int16_t>(std::lround(v));
    }
  }
  return x;
}

bool same(const quality::LeadQuality *a, const quality::LeadQuality *b, std::size_t n) {
  for (std::size_t c = 0; c < n; ++c) {
    const double va[] = {a[c].ksqi, a[c].psqi, a[c].bassqi, a[c].hf, a[c].nan_samples, a[c].rail_run, a[c].flat_run};
    const double vb[] = {b[c].ksqi, b[c].psqi, b[c].bassqi, b[c].hf, b[c].nan_samples, b[c].rail_run, b[c].flat_run};
    if (std::memcmp(va, vb, sizeof va) != 0 || a[c].flags != b[c].flags) return false;
  }
  return true;
}

quality::WindowView view_i16(const std::int16_t *x, std::size_t n, std::size_t stride) {
  quality::WindowView w;
  w.kind = quality::WindowView::kInt16;
  w.data = x;
  w.n_leads = 12;
  w.n = n;
  w.lead_stride = stride;
  return w;
}

// pSQI of one lead from a direct DFT of each segment (the definition in quality.h, O(n^2)).
double psqi_direct(const std::int16_t *x, int fs) {
  const std::size_t L = 2 * static_cast<std::size_t>(fs), step = static_cast<std::size_t>(fs);
  std::size_t nfft = 1;
  while (nfft < L) nfft <<= 1;
  double num = 0, den = 0;
  for (std::size_t s = 0; s + L <= 10 * step; s += step) {
    double mean = 0;
    for (std::size_t i = 0; i < L; ++i) mean += x[s + i] / 1000.0;
    mean /= static_cast<double>(L);
    for (std::size_t k = 0; k <= nfft / 2; ++k) {
      const double f = static_cast<double>(k) * fs / static_cast<double>(nfft);
      if (f < 5 || f > 40) continue;
      double re = 0, im = 0;
      for (std::size_t i = 0; i < L; ++i) {
        const double w = 0.5 - 0.5 * std::cos(2 * 3.14159265358979323846 * static_cast<double>(i) / static_cast<double>(L));
        const double v = (x[s + i] / 1000.0 - mean) * w, ang = -2 * 3.14159265358979323846 * static_cast<double>(k * i) / static_cast<double>(nfft);
        re += v * std::cos(ang);
        im += v * std::sin(ang);
      }
      const double p = 2 * (re * re + im * im);
      den += p;
      if (f <= 15) num += p;
    }
  }
  return num / den;
}

void test_fft_against_dft() {
  for (int fs : {100, 250}) {
    const std::size_t n = 10 * static_cast<std::size_t>(fs);
    auto x = ecg(fs, n);
    quality::Analyzer a(fs, n, 12);
    std::vector<quality::LeadQuality> q(12);
    a.analyze(view_i16(x.data(), n, n), q.data());
    for (int c = 0; c < 12; c += 5) {
      const double d = psqi_direct(x.data() + c * n, fs);
      check(std::fabs(q[c].psqi - d) <= 1e-9 * std::fabs(d), "psqi vs direct DFT, fs " + std::to_string(fs));
    }
  }
}

void test_stream_chunkings() {
  for (int fs : {100, 500}) {
    const std::size_t n_window = 10 * static_cast<std::size_t>(fs), total = 17 * static_cast<std::size_t>(fs);
    auto x = ecg(fs, total);
    x[3 * total + 11 * fs] = 32767;  // a 2-sample clip at 11 s: in the windows ending at 12 s and later
    x[3 * total + 11 * fs + 1] = 32767;
    // One-shot reference: each window analyzed alone, without the cache.
    std::vector<std::vector<quality::LeadQuality>> want;
    quality::Analyzer a(fs, n_window, 12);
    for (std::size_t end = n_window; end <= total; end += static_cast<std::size_t>(fs)) {
      std::vector<quality::LeadQuality> q(12);
      a.analyze(view_i16(x.data() + end - n_window, n_window, total), q.data());
      want.push_back(q);
    }
    check((want[2][3].flags & quality::kSaturated) && !(want[1][3].flags & quality::kSaturated), "clip flagged");
    for (int trial = 0; trial < 6; ++trial) {
      monitor::StreamWindow sw(fs, 12, n_window, static_cast<std::size_t>(fs), monitor::StreamWindow::kInt16, 1000.0);
      std::uniform_int_distribution<std::size_t> chunk(1, trial < 2 ? 3 : 2 * static_cast<std::size_t>(fs) + 7);
      std::size_t pos = 0, got = 0;
      while (pos < total) {
        const std::size_t k = std::min(total - pos, chunk(g_rng));
        std::size_t done = 0;
        while (done < k) {
          done += sw.push(x.data() + pos + done, total, k - done);
          if (sw.window_ready()) {
            const bool ok = got < want.size() && same(sw.quality(), want[got].data(), 12);
            check(ok, "stream window " + std::to_string(got) + " fs " + std::to_string(fs));
            const std::int16_t *v = sw.data_i16() + sw.offset();
            bool same_samples = true;
            for (int c = 0; c < 12; ++c)
              same_samples &= std::memcmp(v + c * sw.lead_stride(), x.data() + c * total + sw.window_end() - n_window,
                                          n_window * sizeof(std::int16_t)) == 0;
            check(same_samples, "window samples");
            ++got;
          }
        }
        pos += k;
      }
      check(got == want.size(), "window count");
      check(!sw.flush(), "nothing to flush on the hop grid");
    }
  }
}

void test_flags() {
  const int fs = 250;
  const std::size_t n = 2500;
  auto x = ecg(fs, n);
  for (std::size_t i = 500; i < 600; ++i) x[1 * n + i] = -32768;  // 0.4 s on the rail: lead off
  for (std::size_t i = 900; i < 1200; ++i) x[2 * n + i] = 77;     // 1.2 s constant: flat
  quality::Analyzer a(fs, n, 12);
  std::vector<quality::LeadQuality> q(12);
  a.analyze(view_i16(x.data(), n, n), q.data());
  check((q[1].flags & quality::kLeadOff) && (q[1].flags & quality::kSaturated), "rail run -> lead off");
  check(q[1].rail_run == 100, "rail run length");
  check((q[2].flags & quality::kFlat) && q[2].flat_run >= 300, "flat run");
  check(!(q[0].flags & (quality::kLeadOff | quality::kFlat | quality::kSaturated | quality::kNoisy)), "clean lead");
  // NaN in a float stream: held, counted, lead off.
  std::vector<double> f(12 * n);
  for (std::size_t i = 0; i < f.size(); ++i) f[i] = x[i] / 1000.0;
  f[5 * n + 10] = std::nan("");
  monitor::StreamWindow sw(fs, 12, n, n, monitor::StreamWindow::kFloat64, 1000.0);
  sw.push(f.data(), n, n);
  check(sw.window_ready() && sw.quality()[5].nan_samples == 1 && (sw.quality()[5].flags & quality::kLeadOff),
        "NaN -> lead off");
  check(sw.data_f64()[5 * sw.lead_stride() + 10] == f[5 * n + 9], "NaN held at the last finite value");
}

void test_no_allocation_per_push() {
  const int fs = 500;
  const std::size_t n_window = 5000, total = 30 * 500;
  auto x = ecg(fs, total);
  std::vector<double> f(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) f[i] = i % 997 == 0 ? std::nan("") : x[i] / 1000.0;
  for (auto kind : {monitor::StreamWindow::kInt16, monitor::StreamWindow::kFloat64}) {
    monitor::StreamWindow sw(fs, 12, n_window, 250, kind, 1000.0);
    const std::size_t before = g_allocations;
    std::size_t pos = 0, windows = 0;
    while (pos < total) {
      const std::size_t k = std::min<std::size_t>(137, total - pos);
      std::size_t done = 0;
      while (done < k) {
        done += kind == monitor::StreamWindow::kInt16 ? sw.push(x.data() + pos + done, total, k - done)
                                                      : sw.push(f.data() + pos + done, total, k - done);
        windows += sw.window_ready() ? 1 : 0;
      }
      pos += k;
    }
    windows += sw.flush() ? 1 : 0;
    const std::size_t allocated = g_allocations - before;  // before building the message, which allocates
    check(windows == 41 && allocated == 0, "pushes and windows allocate nothing (" + std::to_string(windows) +
                                               " windows, " + std::to_string(allocated) + " allocations)");
  }
}

}  // namespace

int main() {
  test_no_allocation_per_push();
  test_fft_against_dft();
  test_stream_chunkings();
  test_flags();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
