#include "edgecardio/classifier.h"

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace edgecardio {
namespace ort {
namespace {

double ms_between(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

}  // namespace

Classifier::Classifier(const Runtime &runtime, const std::string &model_path, const Signature &signature,
                       const RunnerOptions &options)
    : runner_(runtime, model_path, signature, options) {}

PredictResult Classifier::run_one(Runner::Lease &lease, const SignalView &signal, const float *demographics) {
  const Signature &sig = runner_.signature();
  if (static_cast<std::int64_t>(signal.n_leads) != sig.ecg_leads ||
      static_cast<std::int64_t>(output_length(signal.n_samples, signal.fs_hz)) != sig.ecg_samples)
    throw std::invalid_argument("signal does not preprocess to the model's [" + std::to_string(sig.ecg_leads) + ", " +
                                std::to_string(sig.ecg_samples) + "] input");
  PredictResult r;
  const auto t0 = std::chrono::steady_clock::now();
  // Straight into the ORT input tensor: no copy of the preprocessed record.
  double lead_std[kMaxLeads];
  PreprocessOptions options;
  options.lead_std_mv = lead_std;
  const PreprocessInfo info =
      preprocess_into(signal, lease.ecg(), static_cast<std::size_t>(sig.ecg_samples), options);
  std::memcpy(lease.demographics(), demographics, static_cast<std::size_t>(sig.n_demographics) * sizeof(float));
  float *lead_std_in = lease.lead_std();
  for (std::size_t c = 0; c < signal.n_leads; ++c) lead_std_in[c] = static_cast<float>(lead_std[c]);
  const auto t1 = std::chrono::steady_clock::now();
  lease.run();
  const auto t2 = std::chrono::steady_clock::now();
  r.probabilities.assign(lease.output(), lease.output() + sig.n_outputs);
  r.lead_std_mv.assign(lead_std, lead_std + signal.n_leads);
  r.flat_leads = info.flat_leads;
  r.saturated_leads = info.saturated_leads;
  r.engine = info.engine;
  r.preprocess_ms = ms_between(t0, t1);
  r.inference_ms = ms_between(t1, t2);
  return r;
}

void Classifier::run(const float *ecg, const float *demographics, const float *lead_std, float *probabilities) {
  const Signature &sig = runner_.signature();
  if (runner_.reads_lead_std() && lead_std == nullptr)
    throw std::invalid_argument("the model reads '" + sig.lead_std_name + "' [" + std::to_string(sig.ecg_leads) +
                                "]: pass it");
  Runner::Lease lease = runner_.acquire();
  std::memcpy(lease.ecg(), ecg, runner_.ecg_size() * sizeof(float));
  std::memcpy(lease.demographics(), demographics, static_cast<std::size_t>(sig.n_demographics) * sizeof(float));
  if (lead_std != nullptr) std::memcpy(lease.lead_std(), lead_std, static_cast<std::size_t>(sig.ecg_leads) * sizeof(float));
  lease.run();
  std::memcpy(probabilities, lease.output(), static_cast<std::size_t>(sig.n_outputs) * sizeof(float));
}

PredictResult Classifier::predict(const SignalView &signal, const float *demographics) {
  Runner::Lease lease = runner_.acquire();
  return run_one(lease, signal, demographics);
}

std::vector<PredictResult> Classifier::predict_many(const SignalView *signals, std::size_t n,
                                                    const float *demographics) {
  std::vector<PredictResult> out;
  out.reserve(n);
  Runner::Lease lease = runner_.acquire();
  const auto stride = static_cast<std::size_t>(runner_.signature().n_demographics);
  for (std::size_t i = 0; i < n; ++i) out.push_back(run_one(lease, signals[i], demographics + i * stride));
  return out;
}

}  // namespace ort
}  // namespace edgecardio
