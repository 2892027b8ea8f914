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

// q::round_residual(acc, N) for four lanes, narrowed to int32 (exact: |residual| <= 2^(N-1)).
template <int N>
inline int32x4_t round_residual(int64x2_t lo, int64x2_t hi) {
  const int64x2_t half = vdupq_n_s64(std::int64_t{1} << (N - 1));
  const int64x2_t mask = vdupq_n_s64((std::int64_t{1} << N) - 1);
  const int64x2_t rl = vsubq_s64(vandq_s64(vaddq_s64(lo, half), mask), half);
  const int64x2_t rh = vsubq_s64(vandq_s64(vaddq_s64(hi, half), mask), half);
  return vcombine_s32(vmovn_s64(rl), vmovn_s64(rh));
}

}  // namespace neon
}  // namespace edgecardio
