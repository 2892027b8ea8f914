// The ONNX Runtime C API runner: plain C++, no Python.
//
// ONNX Runtime is loaded at run time (dlopen) from a list of candidate paths, so one build works with
// the onnxruntime wheel's library, a system libonnxruntime.so.1 or a path the user names, and the
// wheel stays small. The header's C API version is requested; an older runtime is a clear error.
//
// A Runner owns one session and a pool of "slots": preallocated input and output buffers, each wrapped
// once in an OrtValue (CreateTensorWithDataAsOrtValue). A caller leases a slot, writes the model
// inputs straight into the slot's buffers (preprocessing writes its float32 output there), runs, and
// reads the probabilities ORT wrote straight into the slot's output buffer. No allocation and no copy
// on the hot path once a slot exists.
//
// Thread safety: OrtSession::Run is thread-safe, so the Runner is too. Each concurrent caller gets its
// own slot (a new one is made when all are leased; slots are reused afterwards), so callers never share
// a buffer and never wait for each other's inference; the pool lock is held only to pop/push a slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

struct OrtApi;
struct OrtEnv;
struct OrtSession;
struct OrtMemoryInfo;
struct OrtValue;

namespace edgecardio {
namespace ort {

// An OrtStatus turned into an exception: the ORT error code (OrtErrorCode) and its message.
class OrtError : public std::runtime_error {
 public:
  OrtError(int code, const std::string &what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// No candidate library could be loaded (or the runtime is older than the headers): names every path
// tried and why it failed.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The loaded ONNX Runtime: process-wide, loaded once, never unloaded (ORT's own thread pools and
// static state do not survive dlclose, and the process-wide OrtEnv must outlive every session).
struct Runtime {
  std::string path;     // the candidate that loaded
  std::string version;  // GetVersionString(), e.g. "1.32.0"
  uint32_t api_version = 0;  // the C API version requested (ORT_API_VERSION of the headers)
  const OrtApi *api = nullptr;
  OrtEnv *env = nullptr;
};

// Load ONNX Runtime from the first candidate that works (dlopen + OrtGetApiBase + GetApi(header
// version)) and create the process-wide OrtEnv. Later calls return the runtime already loaded,
// whatever their candidates. Throws LoadError naming every candidate and its error.
const Runtime &load_runtime(const std::vector<std::string> &candidates);
// The runtime if already loaded, else nullptr.
const Runtime *loaded_runtime() noexcept;
// The C API version this build was compiled against.
uint32_t header_api_version() noexcept;

struct TensorInfo {
  std::string name;
  int element_type = 0;        // ONNXTensorElementDataType (1 = float32); 0 for non-tensors
  std::vector<int64_t> shape;  // -1 for dynamic dimensions
};

struct RunnerOptions {
  int intra_op_threads = 1;     // 1: no intra-op thread pool at all
  bool allow_spinning = false;  // spinning threads take cores a small board needs for other work
  int graph_optimization = 99;  // GraphOptimizationLevel: 0 off, 1 basic, 2 extended, 99 all
};

// The model signature the runner binds: one float32 input [batch, ecg_leads, ecg_samples], one float32
// input [batch, n_demographics], one float32 output [batch, n_outputs]; and, when the model declares
// it, a third float32 input [batch, ecg_leads] named lead_std_name: each lead's standard deviation after
// the band-pass in mV (PreprocessOptions::lead_std_mv), the voltage the z-score takes out of ecg.
struct Signature {
  std::string ecg_name = "ecg";
  std::string demographics_name = "demographics";
  std::string lead_std_name = "lead_std_mv";
  std::string output_name = "probabilities";
  int64_t ecg_leads = 12;
  int64_t ecg_samples = 1000;
  int64_t n_demographics = 8;
  int64_t n_outputs = 5;
};

class Runner {
 public:
  // Creates the session (the model file is read and optimized here; errors surface now, not on the
  // first diagnosis), preallocates the first slot and runs it once on zeros (ORT's first Run
  // allocates and prepacks). Throws OrtError for ORT failures, std::invalid_argument when the
  // model's inputs or output do not match `signature`.
  Runner(const Runtime &runtime, const std::string &model_path, const Signature &signature,
         const RunnerOptions &options);
  ~Runner();
  Runner(const Runner &) = delete;
  Runner &operator=(const Runner &) = delete;

  const std::vector<TensorInfo> &inputs() const noexcept { return inputs_; }
  const std::vector<TensorInfo> &outputs() const noexcept { return outputs_; }
  const Signature &signature() const noexcept { return signature_; }
  const RunnerOptions &options() const noexcept { return options_; }
  const std::string &model_path() const noexcept { return model_path_; }
  size_t ecg_size() const noexcept { return static_cast<size_t>(signature_.ecg_leads * signature_.ecg_samples); }
  // Whether the model takes the optional lead_std input ([batch, ecg_leads]).
  bool reads_lead_std() const noexcept { return n_inputs_ == 3; }

  // One batch-1 set of buffers with their OrtValues. Opaque; use Lease.
  struct Slot;

  // A leased slot: write ecg(), demographics() (and lead_std() when reads_lead_std()), call run(), read
  // output(). Returned to the pool on destruction.
  class Lease {
   public:
    Lease(Lease &&other) noexcept;
    Lease &operator=(Lease &&) = delete;
    ~Lease();
    float *ecg() noexcept;           // [ecg_leads * ecg_samples], row-major (lead, sample)
    float *demographics() noexcept;  // [n_demographics]
    float *lead_std() noexcept;      // [ecg_leads]; read by run() only when the model reads_lead_std()
    const float *output() const noexcept;  // [n_outputs]
    void run();                      // ORT writes into output()

   private:
    friend class Runner;
    Lease(Runner *runner, std::unique_ptr<Slot> slot) noexcept;
    Runner *runner_;
    std::unique_ptr<Slot> slot_;
  };

  Lease acquire();

  // Batch inference over caller-owned buffers, wrapped for this call only (still no copy):
  // ecg [n, leads, samples], demographics [n, n_demographics], lead_std [n, leads] (required when the
  // model reads_lead_std(), else ignored and may be null), output [n, n_outputs], all float32.
  void run(const float *ecg, const float *demographics, const float *lead_std, float *output, int64_t n);

  // Number of slots made so far (the peak number of concurrent callers).
  size_t slots_created() const;

 private:
  void run_values(OrtValue *const *inputs, OrtValue *output);
  std::unique_ptr<Slot> make_slot();
  void release(std::unique_ptr<Slot> slot) noexcept;

  const Runtime &rt_;
  std::string model_path_;
  Signature signature_;
  RunnerOptions options_;
  OrtSession *session_ = nullptr;
  OrtMemoryInfo *cpu_ = nullptr;
  std::vector<TensorInfo> inputs_, outputs_;
  const char *input_names_[3];
  size_t n_inputs_ = 2;
  const char *output_names_[1];

  mutable std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Slot>> pool_;
  size_t slots_created_ = 0;
};

}  // namespace ort
}  // namespace edgecardio
