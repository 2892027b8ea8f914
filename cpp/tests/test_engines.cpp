// Native parity test: every kernel variant in kernels.def that this CPU runs must give the scalar
// variant's bits, and every engine the scalar engine's for the whole pipeline. No Python: this is the
// program toolchains/test-aarch64.sh cross-compiles and runs under qemu (Cortex-A76 and -A72).
//
//   edgecardio_native_tests [--require ENGINE]...   exit 0: all equal; 1: a mismatch; 2: usage/missing
//
// Inputs: seeded random data, ECG-shaped synthetic records (beats, baseline wander, mains hum,
// noise), full-scale steps, square waves and impulses; lane counts around the vector widths (1, 3,
// 4, 5, 8, 12, 13, 16) and lengths around every loop boundary; random chunkings of streams.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "edgecardio/coeffs_generated.h"
#include "edgecardio/dsp.h"
#include "edgecardio/kernels.h"
#include "edgecardio/preprocess.h"

using namespace edgecardio;

namespace {

int g_checks = 0;
int g_failures = 0;

void check(bool ok, const std::string &what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    if (g_failures <= 20) std::printf("MISMATCH %s\n", what.c_str());
  }
}

template <typename T>
bool same(const std::vector<T> &a, const std::vector<T> &b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

std::mt19937_64 g_rng(20261125);

std::vector<std::int32_t> random_frames(std::size_t n, std::int64_t lim) {
  std::uniform_int_distribution<std::int64_t> d(-lim, lim);
  std::vector<std::int32_t> v(n);
  for (auto &x : v) x = static_cast<std::int32_t>(d(g_rng));
  return v;
}

const std::size_t kLanes[] = {1, 3, 4, 5, 8, 12, 13, 16};
const std::size_t kLengths[] = {0, 1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 31, 64, 101};

// ---------------------------------------------------------------- kernels
using FirPoly = Kernel<fir_poly_q31_fn>;
using FirDecimSym = Kernel<fir_decimsym_q31_fn>;
using Interleave = Kernel<interleave_shl_i16_fn>;
using Zscore = Kernel<zscore_rows_f32_fn>;
using Biquad = Kernel<biquad_df1_q31_fn>;

// The frames a FIR test case reads: random at the input bound, rail-to-rail steps, impulses.
std::vector<std::int32_t> fir_input(int kind, std::size_t frames, std::size_t n_ch) {
  std::vector<std::int32_t> x;
  if (kind == 0) {
    x = random_frames(frames * n_ch, std::int64_t{1} << coeffs::kInputBits);
  } else if (kind == 1) {  // rail-to-rail steps every 37 frames at the input bound
    x.resize(frames * n_ch);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = ((i / n_ch) / 37) % 2 ? (1 << 24) : -(1 << 24);
  } else {  // impulses
    x.assign(frames * n_ch, 0);
    for (std::size_t i = 0; i < x.size(); i += 53) x[i] = (i / 53) % 2 ? (1 << 24) : -(1 << 24);
  }
  return x;
}

// Calls f(resampler, n_ch, n_out, kind, j0, x) for every FIR test case (symmetric designs only when asked).
template <typename F>
void for_fir_cases(bool symmetric_only, F f) {
  for (const auto &d : coeffs::kResamplers) {
    if (d.n_taps == 0) continue;
    const dsp::Resampler &r = dsp::resampler_for(d.fs_hz);
    if (symmetric_only && !r.symmetric()) continue;
    const int k = r.taps_per_phase();
    for (std::size_t n_ch : kLanes)
      for (std::size_t n_out : kLengths)
        for (int kind = 0; kind < 3; ++kind) {
          const std::size_t j0 = kind;  // streaming offsets: output index j0 onwards
          const std::size_t frames =
              ((j0 + (n_out ? n_out : 1) - 1) * d.down + d.half_len) / d.up + static_cast<std::size_t>(k);
          const std::string tag = "fs=" + std::to_string(d.fs_hz) + " lanes=" + std::to_string(n_ch) +
                                  " n=" + std::to_string(n_out) + " kind=" + std::to_string(kind);
          f(r, d.half_len, n_ch, n_out, j0, fir_input(kind, frames, n_ch), tag);
        }
  }
}

void test_fir_poly_q31(const FirPoly &v, const FirPoly &scalar) {
  for_fir_cases(false, [&](const dsp::Resampler &r, int off, std::size_t n_ch, std::size_t n_out, std::size_t j0,
                           const std::vector<std::int32_t> &x, const std::string &tag) {
    const int k = r.taps_per_phase();
    std::vector<std::int32_t> ys(n_out * n_ch), yv(n_out * n_ch, 12345);
    scalar(x.data(), n_ch, r.phase_taps().data(), r.up(), r.down(), k, j0, off, n_out, ys.data());
    v(x.data(), n_ch, r.phase_taps().data(), r.up(), r.down(), k, j0, off, n_out, yv.data());
    check(same(ys, yv), std::string(v.name) + " " + tag);
  });
}

// Its oracle is the scalar fir_poly_q31: the same integer sum, folded.
void test_fir_decimsym_q31(const FirDecimSym &v, const FirDecimSym &) {
  const FirPoly &poly = kernel_table().fir_poly_q31.front();
  for_fir_cases(true, [&](const dsp::Resampler &r, int off, std::size_t n_ch, std::size_t n_out, std::size_t j0,
                          const std::vector<std::int32_t> &x, const std::string &tag) {
    const int k = r.taps_per_phase();
    std::vector<std::int32_t> ys(n_out * n_ch), yv(n_out * n_ch, 9);
    poly(x.data(), n_ch, r.phase_taps().data(), r.up(), r.down(), k, j0, off, n_out, ys.data());
    v(x.data(), n_ch, r.phase_taps().data(), k, r.down(), j0, off, n_out, yv.data());
    check(same(yv, ys), std::string(v.name) + " vs fir_poly " + tag);
  });
}

void test_interleave_shl_i16(const Interleave &e, const Interleave &s) {
  for (std::size_t n_ch : kLanes)
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{4}, std::size_t{5},
                          std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{15}, std::size_t{16},
                          std::size_t{17}, std::size_t{1003}}) {
      const std::size_t stride = n + 3;  // rows need not be packed
      std::vector<std::int16_t> x(n_ch * stride);
      std::uniform_int_distribution<int> d(-32768, 32767);
      for (auto &v : x) v = static_cast<std::int16_t>(d(g_rng));
      if (!x.empty()) x[0] = INT16_MIN;
      std::vector<int> sh(n_ch);
      for (std::size_t c = 0; c < n_ch; ++c) sh[c] = static_cast<int>((c * 7) % 24);
      std::vector<std::int32_t> fs(n * n_ch), fe(n * n_ch, -1);
      s(x.data(), n_ch, n, stride, sh.data(), fs.data());
      e(x.data(), n_ch, n, stride, sh.data(), fe.data());
      check(same(fs, fe), std::string(e.name) + " lanes=" + std::to_string(n_ch) + " n=" + std::to_string(n));
    }
}

void test_zscore_rows_f32(const Zscore &e, const Zscore &s) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (std::size_t n_ch : kLanes)
    for (std::size_t n : kLengths) {
      const auto y = random_frames(n * n_ch, std::int64_t{1} << 29);
      std::vector<double> mean(n_ch), inv(n_ch);
      for (std::size_t c = 0; c < n_ch; ++c) {
        mean[c] = u(g_rng) * 1e6;
        inv[c] = std::fabs(u(g_rng)) * 1e-6 + 1e-9;
      }
      const std::size_t stride = n + 5;
      std::vector<float> os(n_ch * stride, 1.0f), oe(n_ch * stride, 1.0f);
      s(y.data(), n, n_ch, mean.data(), inv.data(), os.data(), stride);
      e(y.data(), n, n_ch, mean.data(), inv.data(), oe.data(), stride);
      check(same(os, oe), std::string(e.name) + " lanes=" + std::to_string(n_ch) + " n=" + std::to_string(n));
    }
}

std::vector<BiquadQ30> bandpass_sections() {
  std::vector<BiquadQ30> v(coeffs::kBandpassSections);
  for (int i = 0; i < coeffs::kBandpassSections; ++i) {
    for (int k = 0; k < 5; ++k) v[i].c[k] = coeffs::kBandpassQ30[i][k];
    for (int k = 0; k < 2; ++k) v[i].ef[k] = coeffs::kBandpassErrorFeedback[i][k];
  }
  return v;
}

// [BiquadState::kRows][n_ch]: rows x1, x2, y1, y2, e1, e2.
std::vector<std::int32_t> random_states(std::size_t n_ch, bool rails) {
  std::vector<std::int32_t> block(BiquadState::kRows * n_ch);
  const BiquadState st = BiquadState::rows(block.data(), n_ch);
  std::uniform_int_distribution<std::int32_t> d(-(1 << 26), 1 << 26), r(-(1 << 29), (1 << 29) - 1);
  for (std::size_t c = 0; c < n_ch; ++c) {
    st.x1[c] = d(g_rng);
    st.x2[c] = d(g_rng);
    st.y1[c] = d(g_rng);
    st.y2[c] = d(g_rng);
    st.e1[c] = r(g_rng);
    st.e2[c] = r(g_rng);
    if (rails) {  // outside the pipeline's contract: the outputs saturate
      st.y1[c] = c % 2 ? INT32_MIN : INT32_MAX;
      st.y2[c] = c % 2 ? INT32_MAX : INT32_MIN;
    }
  }
  return block;
}

void test_biquad_df1_q31(const Biquad &e, const Biquad &s) {
  for (const BiquadQ30 &sec : bandpass_sections())
    for (std::size_t n_ch : kLanes)
      for (std::size_t n : kLengths)
        for (int kind = 0; kind < 4; ++kind)
          for (int reverse = 0; reverse < 2; ++reverse) {
            std::vector<std::int32_t> x;
            if (kind == 0 || kind == 3) {
              x = random_frames(n * n_ch, kind == 3 ? (1 << 20) : (1 << 26));
            } else if (kind == 1) {
              x.resize(n * n_ch);
              for (std::size_t i = 0; i < x.size(); ++i) x[i] = ((i / n_ch) / 5) % 2 ? (1 << 27) : -(1 << 27);
            } else {
              x.assign(n * n_ch, 0);
              if (!x.empty()) x[x.size() / 2] = 1 << 27;
            }
            auto st_s = random_states(n_ch, kind == 3);
            auto st_e = st_s;
            std::vector<std::int32_t> ys(x.size()), ye(x.size(), 99);
            const auto step = static_cast<std::ptrdiff_t>(n_ch);
            const std::size_t last = n ? (n - 1) * n_ch : 0;
            if (reverse) {
              if (n) {
                s(sec, BiquadState::rows(st_s.data(), n_ch), x.data() + last, ys.data() + last, n, n_ch, -step);
                e(sec, BiquadState::rows(st_e.data(), n_ch), x.data() + last, ye.data() + last, n, n_ch, -step);
              }
            } else {
              s(sec, BiquadState::rows(st_s.data(), n_ch), x.data(), ys.data(), n, n_ch, step);
              e(sec, BiquadState::rows(st_e.data(), n_ch), x.data(), ye.data(), n, n_ch, step);
            }
            const std::string tag = std::string(e.name) + " lanes=" + std::to_string(n_ch) +
                                    " n=" + std::to_string(n) + " kind=" + std::to_string(kind) +
                                    (reverse ? " reverse" : "");
            check(same(ys, ye), tag);
            check(same(st_s, st_e), tag + " state");
          }
}

void test_chunking(const Engine &e) {
  // The causal cascade is a streaming object: random chunkings give the one-shot bits, in place too.
  const std::size_t n_ch = 12, n = 2003;
  const auto x = random_frames(n * n_ch, 1 << 24);
  dsp::BiquadCascade whole = dsp::BiquadCascade::bandpass(n_ch);
  std::vector<std::int32_t> want(x.size());
  whole.process(e, x.data(), want.data(), n, static_cast<std::ptrdiff_t>(n_ch));
  for (int trial = 0; trial < 20; ++trial) {
    dsp::BiquadCascade bq = dsp::BiquadCascade::bandpass(n_ch);
    std::vector<std::int32_t> y = x;
    std::size_t pos = 0;
    while (pos < n) {
      const std::size_t len = std::min<std::size_t>(n - pos, std::uniform_int_distribution<std::size_t>(0, 150)(g_rng));
      bq.process(e, y.data() + pos * n_ch, y.data() + pos * n_ch, len, static_cast<std::ptrdiff_t>(n_ch));
      pos += len;
    }
    check(same(y, want), std::string(e.biquad_df1_q31.name) + " chunking trial " + std::to_string(trial));
    check(same(bq.state(), whole.state()), std::string(e.biquad_df1_q31.name) + " chunked state");
  }
}

// ---------------------------------------------------------------- the pipeline
std::vector<double> ecg_shaped(std::size_t n_leads, std::size_t n, int fs_hz, double amp_mv) {
  std::vector<double> v(n_leads * n);
  std::normal_distribution<double> noise(0.0, 0.015);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  const double pi = 3.14159265358979323846;
  for (std::size_t c = 0; c < n_leads; ++c) {
    const double hr = 1.2 + 0.4 * u(g_rng), qrs = u(g_rng) * amp_mv, wander = 0.4 * u(g_rng), offset = 2 * u(g_rng);
    for (std::size_t t = 0; t < n; ++t) {
      const double ts = static_cast<double>(t) / fs_hz;
      const double phase = std::fmod(ts * hr, 1.0);
      v[c * n + t] = qrs * std::exp(-std::pow((phase - 0.3) / 0.012, 2)) +
                     0.2 * qrs * std::exp(-std::pow((phase - 0.6) / 0.05, 2)) +
                     wander * std::sin(2 * pi * 0.25 * ts) + 0.02 * std::sin(2 * pi * 50 * ts) + offset + noise(g_rng);
    }
  }
  return v;
}

template <typename T, typename Run>
void compare_pipeline(const Engine &e, const Engine &s, const std::vector<T> &in, std::size_t n_leads, std::size_t n_in,
                      int fs_hz, const std::string &what, Run run) {
  const std::size_t n_out = output_length(n_in, fs_hz);
  std::vector<float> os(n_leads * n_out), oe(n_leads * n_out, -7.0f);
  std::vector<double> sds(n_leads), sde(n_leads);
  PreprocessOptions po;
  po.engine = &s;
  po.lead_std_mv = sds.data();
  const PreprocessInfo is = run(in.data(), os.data(), po);
  po.engine = &e;
  po.lead_std_mv = sde.data();
  const PreprocessInfo ie = run(in.data(), oe.data(), po);
  const std::string tag = std::string(e.name) + " pipeline " + what + " fs=" + std::to_string(fs_hz) +
                          " n_in=" + std::to_string(n_in) + " leads=" + std::to_string(n_leads);
  check(same(os, oe), tag);
  check(same(sds, sde), tag + " std");
  check(is.flat_leads == ie.flat_leads && is.saturated_leads == ie.saturated_leads && is.n_out == n_out, tag + " info");
  bool finite = true;
  for (float v : os) finite = finite && std::isfinite(v);
  check(finite, tag + " finite");
}

void test_pipeline(const Engine &e, const Engine &s) {
  for (const auto &d : coeffs::kResamplers) {
    const int fs = d.fs_hz;
    const std::size_t base = static_cast<std::size_t>(10 * fs);
    const std::size_t extras[] = {0, 1, static_cast<std::size_t>(d.down) - 1, static_cast<std::size_t>(d.down) + 1, 997};
    for (std::size_t extra : extras)
      for (std::size_t n_leads : {std::size_t{12}, std::size_t{1}, std::size_t{5}, std::size_t{13}}) {
        if (n_leads != 12 && extra != 1) continue;
        const std::size_t n = base + extra;
        // int16: ECG-shaped at 1000 counts/mV, random full range, square waves, impulses.
        const auto mv = ecg_shaped(n_leads, n, fs, 1.5);
        std::vector<std::int16_t> ecg(mv.size()), rnd(mv.size()), sq(mv.size()), imp(mv.size(), 0);
        std::uniform_int_distribution<int> full(-32768, 32767);
        for (std::size_t i = 0; i < mv.size(); ++i) {
          ecg[i] = static_cast<std::int16_t>(std::lround(std::fmax(-32768.0, std::fmin(32767.0, mv[i] * 1000))));
          rnd[i] = static_cast<std::int16_t>(full(g_rng));
          sq[i] = ((i % n) / static_cast<std::size_t>(fs / 4 + 1)) % 2 ? 32767 : -32768;
        }
        for (std::size_t c = 0; c < n_leads; ++c) imp[c * n + (c * 997) % n] = c % 2 ? 32767 : -32768;
        const std::pair<const char *, const std::vector<std::int16_t> *> cases[] = {
            {"ecg int16", &ecg}, {"random int16", &rnd}, {"square int16", &sq}, {"impulse int16", &imp}};
        for (const auto &cs : cases)
          compare_pipeline(e, s, *cs.second, n_leads, n, fs, cs.first,
                           [&](const std::int16_t *in, float *out, const PreprocessOptions &o) {
                             return preprocess_into(in, n_leads, n, n, fs, 1000.0, out, output_length(n, fs), o);
                           });
        compare_pipeline(e, s, mv, n_leads, n, fs, "ecg double",
                         [&](const double *in, float *out, const PreprocessOptions &o) {
                           return preprocess_into(in, n_leads, n, n, fs, out, output_length(n, fs), o);
                         });
        std::vector<float> mvf(mv.begin(), mv.end());
        compare_pipeline(e, s, mvf, n_leads, n, fs, "ecg float",
                         [&](const float *in, float *out, const PreprocessOptions &o) {
                           return preprocess_into(in, n_leads, n, n, fs, out, output_length(n, fs), o);
                         });
      }
  }
}

void test_errors() {
  // Bad arguments throw std::invalid_argument; nothing aborts.
  std::vector<std::int16_t> x(12 * 1000, 0);
  std::vector<float> out(12 * 1000);
  int thrown = 0;
  auto expect_throw = [&](auto f) {
    try {
      f();
    } catch (const std::invalid_argument &) {
      ++thrown;
    }
  };
  expect_throw([&] { preprocess_into(x.data(), 12, 1000, 1000, 300, 1000.0, out.data(), 1000); });
  expect_throw([&] { preprocess_into(x.data(), 0, 1000, 1000, 100, 1000.0, out.data(), 1000); });
  expect_throw([&] { preprocess_into(x.data(), 12, 10, 1000, 100, 1000.0, out.data(), 1000); });
  expect_throw([&] { preprocess_into(x.data(), 12, 1000, 1000, 100, -1.0, out.data(), 1000); });
  std::vector<float> bad(12 * 1000, 0.0f);
  bad[4321] = NAN;
  expect_throw([&] { preprocess_into(bad.data(), 12, 1000, 1000, 100, out.data(), 1000); });
  check(thrown == 5, "invalid arguments throw std::invalid_argument");
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> required;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--require") == 0 && i + 1 < argc) {
      required.emplace_back(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: %s [--require ENGINE]...\n", argv[0]);
      return 2;
    }
  }
  std::printf("engines:");
  for (const Engine *e : engines()) std::printf(" %s", e->name);
  std::printf(" (default %s)\n", default_engine().name);
  for (const std::string &r : required)
    if (find_engine(r) == nullptr) {
      std::printf("FAIL: engine %s is not available in this build/CPU\n", r.c_str());
      return 2;
    }
  const Engine &scalar = *find_engine("scalar");
  test_errors();
  // Every variant against the first (scalar) variant of its op: the loop is generated from the list.
  const KernelTable &table = kernel_table();
#define EDGECARDIO_OP(op)                                                               \
  for (const auto &v : table.op) {                                                      \
    const int before = g_failures;                                                      \
    test_##op(v, table.op.front());                                                     \
    std::printf("%-26s %s\n", v.name, g_failures == before ? "bit-identical to scalar" : "MISMATCHES"); \
  }
#include "edgecardio/kernels.def"
  for (const Engine *e : engines()) {
    const int before = g_failures;
    test_chunking(*e);
    if (e != &scalar) test_pipeline(*e, scalar);
    std::printf("engine %-7s %s\n", e->name, g_failures == before ? "bit-identical to scalar" : "MISMATCHES");
  }
  std::printf("%d checks, %d mismatches\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
