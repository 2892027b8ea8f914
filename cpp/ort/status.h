// Private to cpp/ort: OrtStatus -> OrtError, and RAII for the few ORT objects the runner owns.
#pragma once

#include <onnxruntime_c_api.h>

#include <string>

#include "edgecardio/ort_runner.h"

namespace edgecardio {
namespace ort {
namespace detail {

// Every ORT call goes through this: a non-null status is released and becomes an exception whose
// message says which call failed.
inline void check(const OrtApi *api, OrtStatus *status, const char *what) {
  if (status == nullptr) return;
  const int code = static_cast<int>(api->GetErrorCode(status));
  std::string call(what);
  call = call.substr(0, call.find('('));  // "CreateSession(env, ...)" -> "CreateSession"
  std::string msg = call + ": " + api->GetErrorMessage(status);
  api->ReleaseStatus(status);
  throw OrtError(code, msg);
}

}  // namespace detail
}  // namespace ort
}  // namespace edgecardio

#define EDGECARDIO_ORT_CHECK(api, call) ::edgecardio::ort::detail::check((api), (api)->call, #call)
