// The session and its preallocated, ORT-wrapped buffers.
#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "status.h"

namespace edgecardio {
namespace ort {

namespace {

std::string shape_str(const std::vector<int64_t> &shape) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  s << "]";
  return s.str();
}

std::string type_str(int element_type) {
  switch (element_type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "int16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED: return "a non-tensor";
    default: return "ONNX element type " + std::to_string(element_type);
  }
}

TensorInfo describe(const OrtApi *api, OrtTypeInfo *type_info, std::string name) {
  TensorInfo info;
  info.name = std::move(name);
  const OrtTensorTypeAndShapeInfo *tensor = nullptr;
  OrtStatus *status = api->CastTypeInfoToTensorInfo(type_info, &tensor);
  if (status == nullptr && tensor != nullptr) {
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    size_t n = 0;
    status = api->GetTensorElementType(tensor, &type);
    if (status == nullptr) status = api->GetDimensionsCount(tensor, &n);
    if (status == nullptr) {
      info.shape.resize(n);
      status = api->GetDimensions(tensor, info.shape.data(), n);
    }
    info.element_type = static_cast<int>(type);
  }
  api->ReleaseTypeInfo(type_info);
  detail::check(api, status, "reading the model's input/output types");
  return info;
}

// One model tensor must be float32 of rank expected.size(), with the fixed dimensions equal to
// `expected` (batch is expected[0] == -1: anything, fixed or dynamic, is accepted there and checked
// by the caller's shapes at run time).
void require(const std::vector<TensorInfo> &infos, const std::string &name, const std::vector<int64_t> &expected,
             const char *kind) {
  auto it = std::find_if(infos.begin(), infos.end(), [&](const TensorInfo &t) { return t.name == name; });
  if (it == infos.end()) {
    std::ostringstream s;
    s << "the model has no " << kind << " named '" << name << "' (its " << kind << "s:";
    for (const auto &t : infos) s << " '" << t.name << "' " << shape_str(t.shape);
    s << ")";
    throw std::invalid_argument(s.str());
  }
  bool ok = it->element_type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && it->shape.size() == expected.size();
  for (size_t i = 1; ok && i < expected.size(); ++i) ok = it->shape[i] == expected[i];
  if (!ok) {
    std::ostringstream s;
    s << "the model's " << kind << " '" << name << "' is " << type_str(it->element_type) << " "
      << shape_str(it->shape) << "; expected float32 " << shape_str(expected);
    throw std::invalid_argument(s.str());
  }
}

}  // namespace

struct Runner::Slot {
  std::vector<float> ecg, demographics, lead_std, output;
  OrtValue *inputs[3] = {nullptr, nullptr, nullptr};
  OrtValue *out = nullptr;
  const OrtApi *api = nullptr;
  ~Slot() {
    for (OrtValue *v : inputs)
      if (v) api->ReleaseValue(v);
    if (out) api->ReleaseValue(out);
  }
};

Runner::Runner(const Runtime &runtime, const std::string &model_path, const Signature &signature,
               const RunnerOptions &options)
    : rt_(runtime), model_path_(model_path), signature_(signature), options_(options) {
  const OrtApi *api = rt_.api;
  if (options_.intra_op_threads < 1) throw std::invalid_argument("intra_op_threads must be >= 1");

  OrtSessionOptions *so = nullptr;
  EDGECARDIO_ORT_CHECK(api, CreateSessionOptions(&so));
  struct SoGuard {
    const OrtApi *api;
    OrtSessionOptions *so;
    ~SoGuard() { api->ReleaseSessionOptions(so); }
  } so_guard{api, so};
  EDGECARDIO_ORT_CHECK(api, SetIntraOpNumThreads(so, options_.intra_op_threads));
  EDGECARDIO_ORT_CHECK(api, SetInterOpNumThreads(so, 1));
  EDGECARDIO_ORT_CHECK(api, SetSessionExecutionMode(so, ORT_SEQUENTIAL));
  EDGECARDIO_ORT_CHECK(api, SetSessionGraphOptimizationLevel(so, static_cast<GraphOptimizationLevel>(options_.graph_optimization)));
  const char *spin = options_.allow_spinning ? "1" : "0";
  EDGECARDIO_ORT_CHECK(api, AddSessionConfigEntry(so, "session.intra_op.allow_spinning", spin));
  EDGECARDIO_ORT_CHECK(api, AddSessionConfigEntry(so, "session.inter_op.allow_spinning", spin));
  // x86-64 without VNNI: ONNX Runtime's fused u8s8 kernels otherwise sum pairs of products in
  // saturating int16 (vpmaddubsw), which moved INT8 probabilities by up to 0.17 on PTB-XL records.
  // With it, x86-64 computes the quantized model as written, as aarch64 does. Ignored elsewhere.
  EDGECARDIO_ORT_CHECK(api, AddSessionConfigEntry(so, "session.x64quantprecision", "1"));

  EDGECARDIO_ORT_CHECK(api, CreateSession(rt_.env, model_path_.c_str(), so, &session_));
  try {
    OrtAllocator *alloc = nullptr;
    EDGECARDIO_ORT_CHECK(api, GetAllocatorWithDefaultOptions(&alloc));
    auto name_of = [&](bool input, size_t i) {
      char *raw = nullptr;
      if (input)
        EDGECARDIO_ORT_CHECK(api, SessionGetInputName(session_, i, alloc, &raw));
      else
        EDGECARDIO_ORT_CHECK(api, SessionGetOutputName(session_, i, alloc, &raw));
      std::string name(raw);
      EDGECARDIO_ORT_CHECK(api, AllocatorFree(alloc, raw));
      return name;
    };
    size_t n_in = 0, n_out = 0;
    EDGECARDIO_ORT_CHECK(api, SessionGetInputCount(session_, &n_in));
    EDGECARDIO_ORT_CHECK(api, SessionGetOutputCount(session_, &n_out));
    for (size_t i = 0; i < n_in; ++i) {
      OrtTypeInfo *ti = nullptr;
      std::string name = name_of(true, i);
      EDGECARDIO_ORT_CHECK(api, SessionGetInputTypeInfo(session_, i, &ti));
      inputs_.push_back(describe(api, ti, std::move(name)));
    }
    for (size_t i = 0; i < n_out; ++i) {
      OrtTypeInfo *ti = nullptr;
      std::string name = name_of(false, i);
      EDGECARDIO_ORT_CHECK(api, SessionGetOutputTypeInfo(session_, i, &ti));
      outputs_.push_back(describe(api, ti, std::move(name)));
    }
    require(inputs_, signature_.ecg_name, {-1, signature_.ecg_leads, signature_.ecg_samples}, "input");
    require(inputs_, signature_.demographics_name, {-1, signature_.n_demographics}, "input");
    require(outputs_, signature_.output_name, {-1, signature_.n_outputs}, "output");
    const bool with_std = std::any_of(inputs_.begin(), inputs_.end(),
                                      [&](const TensorInfo &t) { return t.name == signature_.lead_std_name; });
    if (with_std) require(inputs_, signature_.lead_std_name, {-1, signature_.ecg_leads}, "input");
    n_inputs_ = with_std ? 3 : 2;
    if (inputs_.size() != n_inputs_) {
      throw std::invalid_argument("the model has " + std::to_string(inputs_.size()) + " inputs; expected '" +
                                  signature_.ecg_name + "' and '" + signature_.demographics_name + "', and optionally '" +
                                  signature_.lead_std_name + "'");
    }
    // The names Run() is given; they point into signature_, which lives as long as the runner.
    input_names_[0] = signature_.ecg_name.c_str();
    input_names_[1] = signature_.demographics_name.c_str();
    input_names_[2] = signature_.lead_std_name.c_str();
    output_names_[0] = signature_.output_name.c_str();
    EDGECARDIO_ORT_CHECK(api, CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &cpu_));
    // The first slot now, and one run on it: ORT's first Run allocates and prepacks, so doing it here
    // keeps the first diagnosis as fast as the rest, and a model that cannot run fails at load time.
    pool_.push_back(make_slot());
    slots_created_ = 1;
    run_values(pool_.back()->inputs, pool_.back()->out);
  } catch (...) {
    pool_.clear();
    if (cpu_) api->ReleaseMemoryInfo(cpu_);
    api->ReleaseSession(session_);
    throw;
  }
}

Runner::~Runner() {
  pool_.clear();
  if (cpu_) rt_.api->ReleaseMemoryInfo(cpu_);
  if (session_) rt_.api->ReleaseSession(session_);
}

std::unique_ptr<Runner::Slot> Runner::make_slot() {
  const OrtApi *api = rt_.api;
  auto slot = std::make_unique<Slot>();
  slot->api = api;
  slot->ecg.assign(ecg_size(), 0.0f);
  slot->demographics.assign(static_cast<size_t>(signature_.n_demographics), 0.0f);
  slot->lead_std.assign(static_cast<size_t>(signature_.ecg_leads), 0.0f);
  slot->output.assign(static_cast<size_t>(signature_.n_outputs), 0.0f);
  const int64_t ecg_shape[3] = {1, signature_.ecg_leads, signature_.ecg_samples};
  const int64_t demo_shape[2] = {1, signature_.n_demographics};
  const int64_t std_shape[2] = {1, signature_.ecg_leads};
  const int64_t out_shape[2] = {1, signature_.n_outputs};
  auto wrap = [&](std::vector<float> &buf, const int64_t *shape, size_t rank, OrtValue **value) {
    EDGECARDIO_ORT_CHECK(api, CreateTensorWithDataAsOrtValue(cpu_, buf.data(), buf.size() * sizeof(float), shape, rank,
                                                             ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, value));
  };
  wrap(slot->ecg, ecg_shape, 3, &slot->inputs[0]);
  wrap(slot->demographics, demo_shape, 2, &slot->inputs[1]);
  if (reads_lead_std()) wrap(slot->lead_std, std_shape, 2, &slot->inputs[2]);
  wrap(slot->output, out_shape, 2, &slot->out);
  return slot;
}

Runner::Lease Runner::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      std::unique_ptr<Slot> slot = std::move(pool_.back());
      pool_.pop_back();
      return Lease(this, std::move(slot));
    }
    ++slots_created_;
  }
  return Lease(this, make_slot());
}

void Runner::release(std::unique_ptr<Slot> slot) noexcept {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  try {
    pool_.push_back(std::move(slot));
  } catch (...) {
    // Out of memory growing the pool: the slot is simply freed.
  }
}

size_t Runner::slots_created() const {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  return slots_created_;
}

void Runner::run_values(OrtValue *const *inputs, OrtValue *output) {
  EDGECARDIO_ORT_CHECK(rt_.api, Run(session_, nullptr, input_names_, inputs, n_inputs_, output_names_, 1, &output));
}

void Runner::run(const float *ecg, const float *demographics, const float *lead_std, float *output, int64_t n) {
  if (n < 1) throw std::invalid_argument("batch size must be >= 1");
  if (reads_lead_std() && lead_std == nullptr)
    throw std::invalid_argument("the model reads '" + signature_.lead_std_name + "' [n, " +
                                std::to_string(signature_.ecg_leads) + "]: pass it");
  const OrtApi *api = rt_.api;
  const int64_t ecg_shape[3] = {n, signature_.ecg_leads, signature_.ecg_samples};
  const int64_t demo_shape[2] = {n, signature_.n_demographics};
  const int64_t std_shape[2] = {n, signature_.ecg_leads};
  const int64_t out_shape[2] = {n, signature_.n_outputs};
  struct Values {
    const OrtApi *api;
    OrtValue *v[4] = {nullptr, nullptr, nullptr, nullptr};
    ~Values() {
      for (OrtValue *x : v)
        if (x) api->ReleaseValue(x);
    }
  } values{api};
  // ORT never writes to inputs; the const_cast only satisfies the C signature.
  EDGECARDIO_ORT_CHECK(api, CreateTensorWithDataAsOrtValue(cpu_, const_cast<float *>(ecg), n * ecg_size() * sizeof(float),
                                                           ecg_shape, 3, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &values.v[0]));
  EDGECARDIO_ORT_CHECK(api, CreateTensorWithDataAsOrtValue(cpu_, const_cast<float *>(demographics),
                                                           n * signature_.n_demographics * sizeof(float), demo_shape, 2,
                                                           ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &values.v[1]));
  if (reads_lead_std())
    EDGECARDIO_ORT_CHECK(api, CreateTensorWithDataAsOrtValue(cpu_, const_cast<float *>(lead_std),
                                                             n * signature_.ecg_leads * sizeof(float), std_shape, 2,
                                                             ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &values.v[2]));
  EDGECARDIO_ORT_CHECK(api, CreateTensorWithDataAsOrtValue(cpu_, output, n * signature_.n_outputs * sizeof(float),
                                                           out_shape, 2, ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &values.v[3]));
  run_values(values.v, values.v[3]);
}

// ---------------------------------------------------------------- Lease
Runner::Lease::Lease(Runner *runner, std::unique_ptr<Slot> slot) noexcept : runner_(runner), slot_(std::move(slot)) {}
Runner::Lease::Lease(Lease &&other) noexcept : runner_(other.runner_), slot_(std::move(other.slot_)) {}
Runner::Lease::~Lease() {
  if (slot_) runner_->release(std::move(slot_));
}
float *Runner::Lease::ecg() noexcept { return slot_->ecg.data(); }
float *Runner::Lease::demographics() noexcept { return slot_->demographics.data(); }
float *Runner::Lease::lead_std() noexcept { return slot_->lead_std.data(); }
const float *Runner::Lease::output() const noexcept { return slot_->output.data(); }
void Runner::Lease::run() { runner_->run_values(slot_->inputs, slot_->out); }

}  // namespace ort
}  // namespace edgecardio
