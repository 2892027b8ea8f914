// Native test of the ONNX Runtime runner and the predict pipeline, without Python: also
// cross-compiled and run under qemu against the aarch64 onnxruntime wheel's library.
//
//   test_ort_runner LIBONNXRUNTIME MODEL.onnx
//
// Checks: the load error names what was tried; the model's signature is read; a leased slot and a
// batch run over caller buffers give the same probabilities; 4 threads x 50 leased runs equal the
// sequential results; a missing model and a signature mismatch throw the documented exceptions; the
// Classifier predicts raw int16/float/double records, and predict_many gives predict's bits.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "edgecardio/classifier.h"
#include "edgecardio/ort_runner.h"

namespace eo = edgecardio::ort;

static int g_failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                   \
    }                                                                 \
  } while (0)

// Deterministic input: a few sinusoids per lead (already "preprocessed" scale), demographics and, when
// given, lead standard deviations (0.1-0.5 mV).
static void fill(float *ecg, float *demo, int seed, const eo::Signature &sig, float *lead_std = nullptr) {
  if (lead_std != nullptr)
    for (int64_t c = 0; c < sig.ecg_leads; ++c) lead_std[c] = 0.1f + 0.04f * static_cast<float>((c + seed) % 11);
  for (int64_t c = 0; c < sig.ecg_leads; ++c)
    for (int64_t t = 0; t < sig.ecg_samples; ++t)
      ecg[c * sig.ecg_samples + t] =
          static_cast<float>(std::sin(0.05 * (t + 17 * c + seed)) + 0.3 * std::sin(0.31 * t * (seed + 1)));
  for (int64_t i = 0; i < sig.n_demographics; ++i) demo[i] = static_cast<float>((i + seed) % 3) - 1.0f;
}

template <class E, class F>
static bool throws(F f, std::string *what = nullptr) {
  try {
    f();
  } catch (const E &e) {
    if (what) *what = e.what();
    return true;
  } catch (...) {
  }
  return false;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s LIBONNXRUNTIME MODEL.onnx\n", argv[0]);
    return 2;
  }
  const std::string lib = argv[1], model = argv[2];

  std::string what;
  CHECK(throws<eo::LoadError>([] { eo::load_runtime({"/nonexistent/libonnxruntime.so.1"}); }, &what));
  CHECK(what.find("/nonexistent/libonnxruntime.so.1") != std::string::npos);
  CHECK(eo::loaded_runtime() == nullptr);

  const eo::Runtime &rt = eo::load_runtime({"/nonexistent/libonnxruntime.so.1", lib});
  CHECK(rt.path == lib);
  CHECK(rt.api_version == eo::header_api_version());
  CHECK(&eo::load_runtime({}) == &rt);  // loaded once per process
  std::printf("ONNX Runtime %s from %s (C API %u)\n", rt.version.c_str(), rt.path.c_str(), rt.api_version);

  const eo::Signature sig;
  eo::Runner runner(rt, model, sig, eo::RunnerOptions{});
  // The packaged default model may or may not read the optional lead_std input; both are exercised.
  const bool with_std = runner.reads_lead_std();
  std::printf("model %s: %zu inputs, lead_std %s\n", model.c_str(), runner.inputs().size(), with_std ? "read" : "not read");
  CHECK(runner.inputs().size() == (with_std ? 3u : 2u) && runner.outputs().size() == 1);

  // Leased slot vs a batch over caller buffers.
  const int n = 3;
  std::vector<float> ecg(n * runner.ecg_size()), demo(n * sig.n_demographics), out(n * sig.n_outputs);
  std::vector<float> stds(n * sig.ecg_leads);
  for (int i = 0; i < n; ++i)
    fill(&ecg[i * runner.ecg_size()], &demo[i * sig.n_demographics], i, sig, &stds[i * sig.ecg_leads]);
  runner.run(ecg.data(), demo.data(), stds.data(), out.data(), n);
  if (with_std) {
    CHECK(throws<std::invalid_argument>([&] { runner.run(ecg.data(), demo.data(), nullptr, out.data(), n); }, &what));
    CHECK(what.find("lead_std_mv") != std::string::npos);
  }
  std::vector<std::vector<float>> single(n);
  for (int i = 0; i < n; ++i) {
    auto lease = runner.acquire();
    fill(lease.ecg(), lease.demographics(), i, sig, lease.lead_std());
    lease.run();
    single[i].assign(lease.output(), lease.output() + sig.n_outputs);
    for (int64_t k = 0; k < sig.n_outputs; ++k) {
      CHECK(single[i][k] >= 0.0f && single[i][k] <= 1.0f);
      CHECK(std::fabs(single[i][k] - out[i * sig.n_outputs + k]) <= 1e-5f);
    }
  }
  CHECK(runner.slots_created() == 1);  // sequential leases reuse one slot

  // Concurrent leases: every thread's results equal the sequential ones.
  std::vector<int> bad(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const int i = t % n;
      for (int r = 0; r < 50; ++r) {
        auto lease = runner.acquire();
        fill(lease.ecg(), lease.demographics(), i, sig, lease.lead_std());
        lease.run();
        for (int64_t k = 0; k < sig.n_outputs; ++k) bad[t] += lease.output()[k] != single[i][k];
      }
    });
  }
  for (auto &th : threads) th.join();
  for (int t = 0; t < 4; ++t) CHECK(bad[t] == 0);
  CHECK(runner.slots_created() >= 1 && runner.slots_created() <= 4);

  // Errors.
  CHECK(throws<eo::OrtError>([&] { eo::Runner(rt, "/nonexistent/model.onnx", sig, eo::RunnerOptions{}); }));
  eo::Signature wrong = sig;
  wrong.ecg_samples = 999;
  CHECK(throws<std::invalid_argument>([&] { eo::Runner(rt, model, wrong, eo::RunnerOptions{}); }, &what));
  CHECK(what.find("'ecg'") != std::string::npos);
  eo::RunnerOptions zero;
  zero.intra_op_threads = 0;
  CHECK(throws<std::invalid_argument>([&] { eo::Runner(rt, model, sig, zero); }));
  CHECK(throws<std::invalid_argument>([&] { runner.run(ecg.data(), demo.data(), stds.data(), out.data(), 0); }));

  // The predict pipeline: raw records at 500 Hz, each of the three sample types.
  eo::Classifier clf(rt, model, sig, eo::RunnerOptions{});
  const std::size_t n_rec = 5, n_in = 5000;
  std::vector<std::vector<std::int16_t>> counts(n_rec, std::vector<std::int16_t>(12 * n_in));
  std::vector<float> demos(n_rec * sig.n_demographics);
  std::vector<edgecardio::SignalView> views;
  for (std::size_t i = 0; i < n_rec; ++i) {
    for (std::size_t k = 0; k < counts[i].size(); ++k)
      counts[i][k] = static_cast<std::int16_t>(800 * std::sin(0.013 * k * (i + 1)) + 300 * std::sin(0.0021 * k + i));
    for (int64_t k = 0; k < sig.n_demographics; ++k) demos[i * sig.n_demographics + k] = 0.25f * ((k + i) % 4) - 0.5f;
    edgecardio::SignalView v;
    v.data = counts[i].data();
    v.n_leads = 12;
    v.n_samples = v.lead_stride = n_in;
    v.fs_hz = 500;
    views.push_back(v);
  }
  const auto many = clf.predict_many(views.data(), n_rec, demos.data());
  CHECK(many.size() == n_rec);
  for (std::size_t i = 0; i < n_rec; ++i) {
    const eo::PredictResult one = clf.predict(views[i], &demos[i * sig.n_demographics]);
    CHECK(one.probabilities.size() == static_cast<std::size_t>(sig.n_outputs));
    CHECK(one.probabilities == many[i].probabilities);  // bit for bit: both run at batch size 1
    CHECK(one.flat_leads == 0 && one.saturated_leads == 0 && one.engine != nullptr);
    CHECK(one.lead_std_mv.size() == 12 && one.lead_std_mv == many[i].lead_std_mv);
    for (double sd : one.lead_std_mv) CHECK(sd > 0.01 && sd < 2.0);  // mV of the band-passed test record
    for (float p : one.probabilities) CHECK(p >= 0.0f && p <= 1.0f);
  }
  // The same record in mV as float and double: the z-score removes scale, so the output stays close.
  std::vector<double> mv(counts[0].begin(), counts[0].end());
  for (double &x : mv) x /= 1000.0;
  std::vector<float> mvf(mv.begin(), mv.end());
  edgecardio::SignalView vd = views[0], vf = views[0];
  vd.type = edgecardio::SignalView::Type::kFloat64;
  vd.data = mv.data();
  vf.type = edgecardio::SignalView::Type::kFloat32;
  vf.data = mvf.data();
  const auto ref = clf.predict(views[0], demos.data());
  for (const auto &v : {vd, vf}) {
    const auto r = clf.predict(v, demos.data());
    for (int64_t k = 0; k < sig.n_outputs; ++k) CHECK(std::fabs(r.probabilities[k] - ref.probabilities[k]) < 1e-3f);
  }
  edgecardio::SignalView short_view = views[0];
  short_view.n_samples = 4000;  // 8 s: not the model's 1000 samples
  CHECK(throws<std::invalid_argument>([&] { clf.predict(short_view, demos.data()); }, &what));
  CHECK(what.find("[12, 1000]") != std::string::npos);

  std::printf("%s: %d failure(s)\n", argv[0], g_failures);
  return g_failures == 0 ? 0 : 1;
}
