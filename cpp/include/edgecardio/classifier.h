// The native predict pipeline, no Python: a raw record is preprocessed straight into a leased slot's
// ONNX Runtime input tensor and run there (see ort_runner.h), one record at a time.
//
// Every record goes through the model at batch size 1, also in predict_many: ONNX Runtime picks
// different kernels for batch 1 and larger batches, so a record's probabilities would otherwise
// depend on how many records travel with it. Here they are the same bits in predict, predict_many
// and whatever calls them (archive scoring, streaming).
//
// Thread safety: as Runner; concurrent callers each lease their own slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "edgecardio/ort_runner.h"
#include "edgecardio/preprocess.h"

namespace edgecardio {
namespace ort {

struct PredictResult {
  std::vector<float> probabilities;   // [n_outputs]
  std::uint64_t flat_leads = 0;       // bit c: lead c is flat (PreprocessInfo)
  std::uint64_t saturated_leads = 0;  // bit c: int16 lead c clipped
  std::vector<double> lead_std_mv;    // [n_leads]: standard deviation after the band-pass (mV)
  double preprocess_ms = 0.0;
  double inference_ms = 0.0;
  const char *engine = nullptr;  // the kernel engine that preprocessed
};

class Classifier {
 public:
  // Loads the model (see Runner); `signature` is the model card's contract.
  Classifier(const Runtime &runtime, const std::string &model_path, const Signature &signature,
             const RunnerOptions &options);

  Runner &runner() noexcept { return runner_; }
  const Runner &runner() const noexcept { return runner_; }

  // The model alone on one preprocessed record (ecg [ecg_leads * ecg_samples]) at batch size 1;
  // lead_std [ecg_leads] is required when runner().reads_lead_std(), else ignored (may be null).
  void run(const float *ecg, const float *demographics, const float *lead_std, float *probabilities);
  // One record; demographics holds signature().n_demographics values. Throws std::invalid_argument
  // when the record does not preprocess to the model's [ecg_leads, ecg_samples] input.
  PredictResult predict(const SignalView &signal, const float *demographics);
  // n records, demographics [n][n_demographics]; result i equals
  // predict(signals[i], demographics + i * n_demographics), bit for bit.
  std::vector<PredictResult> predict_many(const SignalView *signals, std::size_t n, const float *demographics);

 private:
  PredictResult run_one(Runner::Lease &lease, const SignalView &signal, const float *demographics);

  Runner runner_;
};

}  // namespace ort
}  // namespace edgecardio
