// NEON twins of the scalar primitives in edgecardio/qmath.h: vmull/vmlal give the exact int64
// products (2 leads per int64x2), vrshrq_n_s64 rounds half up without overflow like
// q::rshift_round, vqmovn_s64 saturates like q::sat32.
#pragma once
#include <arm_neon.h>

#include <cstdint>

namespace edgecardio {
namespace neon {

// q::rshift_round_sat32 for four lanes held as two int64x2 halves.
template <int N>
inline int32x4_t rshift_round_sat32(int64x2_t lo, int64x2_t hi) {
  return vcombine_s32(vqmovn_s64(vrshrq_n_s64(lo, N)), vqmovn_s64(vrshrq_n_s64(hi, N)));
}

}  // namespace neon
}  // namespace edgecardio
