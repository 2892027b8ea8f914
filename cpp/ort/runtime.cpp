// Loading ONNX Runtime at run time: dlopen a candidate, ask it for the C API of our headers' version,
// create the one OrtEnv of the process.
#include <dlfcn.h>

#include <mutex>
#include <sstream>

#include "status.h"

namespace edgecardio {
namespace ort {

namespace {

std::mutex g_load_mutex;
// Deliberately never freed: see Runtime in ort_runner.h.
Runtime *g_runtime = nullptr;

using GetApiBaseFn = const OrtApiBase *(ORT_API_CALL *)();

// Try one candidate; on success fill `rt` and return true, else describe the failure in `why`.
bool try_load(const std::string &path, Runtime &rt, std::string &why) {
  // RTLD_LOCAL: the onnxruntime Python module may carry its own copy of ORT in this process; our
  // symbols must not interpose on it, nor its on ours.
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char *err = dlerror();
    why = err ? err : "dlopen failed";
    return false;
  }
  auto get_api_base = reinterpret_cast<GetApiBaseFn>(dlsym(handle, "OrtGetApiBase"));
  if (get_api_base == nullptr) {
    why = "not an ONNX Runtime library (no OrtGetApiBase symbol)";
    dlclose(handle);
    return false;
  }
  const OrtApiBase *base = get_api_base();
  const char *version = base->GetVersionString();
  const OrtApi *api = base->GetApi(ORT_API_VERSION);
  if (api == nullptr) {
    std::ostringstream s;
    s << "ONNX Runtime " << (version ? version : "?") << " is older than this build needs (C API version "
      << ORT_API_VERSION << ", i.e. ONNX Runtime >= 1." << ORT_API_VERSION << "); upgrade onnxruntime";
    why = s.str();
    dlclose(handle);
    return false;
  }
  rt.path = path;
  rt.version = version ? version : "";
  rt.api_version = ORT_API_VERSION;
  rt.api = api;
  return true;  // the handle stays open for the life of the process
}

}  // namespace

uint32_t header_api_version() noexcept { return ORT_API_VERSION; }

const Runtime *loaded_runtime() noexcept {
  std::lock_guard<std::mutex> lock(g_load_mutex);
  return g_runtime;
}

const Runtime &load_runtime(const std::vector<std::string> &candidates) {
  std::lock_guard<std::mutex> lock(g_load_mutex);
  if (g_runtime != nullptr) return *g_runtime;

  std::ostringstream errors;
  errors << "could not load ONNX Runtime; tried:";
  if (candidates.empty()) errors << " (no candidates)";
  for (const auto &path : candidates) {
    Runtime rt;
    std::string why;
    if (!try_load(path, rt, why)) {
      errors << "\n  " << path << ": " << why;
      continue;
    }
    // WARNING level: ORT's INFO/VERBOSE chatter would go to stderr of every user program.
    detail::check(rt.api, rt.api->CreateEnv(ORT_LOGGING_LEVEL_WARNING, "edgecardio", &rt.env), "CreateEnv");
    g_runtime = new Runtime(rt);
    return *g_runtime;
  }
  errors << "\nSet EDGECARDIO_ORT_LIB to the path of libonnxruntime.so, or install the onnxruntime package.";
  throw LoadError(errors.str());
}

}  // namespace ort
}  // namespace edgecardio
