// Scalar fixed-point primitives: the reference semantics of every vector operation the SIMD kernels
// use. Each function names the intrinsic sequence it twins; the kernels are bit-identical to the
// scalar ones because both are built from these definitions (and tests/ check it).
//
// Conventions: a "Qn" int32 holds value * 2^n; products of two int32 are exact in int64; rounding is
// half up (toward +inf on ties), applied once per output; narrowing to int32 saturates, never wraps.
#pragma once
#include <cstdint>
#include <limits>

namespace edgecardio {
namespace q {

// int32 x int32 -> int64, exact. Twins: _mm256_mul_epi32 (low halves of 64-bit lanes), vmull_s32 / vmlal_s32.
constexpr std::int64_t mul(std::int32_t a, std::int32_t b) { return std::int64_t{a} * std::int64_t{b}; }

// Saturate an int64 to int32. Twins: vqmovn_s64; AVX-512 min/max_epi64; AVX2 cmpgt_epi64 + blendv.
constexpr std::int32_t sat32(std::int64_t v) {
  return v > std::numeric_limits<std::int32_t>::max()   ? std::numeric_limits<std::int32_t>::max()
         : v < std::numeric_limits<std::int32_t>::min() ? std::numeric_limits<std::int32_t>::min()
                                                        : static_cast<std::int32_t>(v);
}

// floor(acc / 2^n + 1/2) for 1 <= n <= 62, computed without the intermediate acc + 2^(n-1) so it
// cannot overflow for any int64. Twins: vrshrq_n_s64 (which rounds the same way with internal
// precision); AVX-512 srai + bit n-1 (qmath_avx512.h); AVX2 shifts acc + 2^(n-1) logically and
// decides saturation on acc (qmath_avx2.h).
constexpr std::int64_t rshift_round(std::int64_t acc, int n) {
  return (acc >> n) + ((acc >> (n - 1)) & 1);
}

// The error the rounding at bit n leaves, ((acc + 2^(n-1)) mod 2^n) - 2^(n-1), in [-2^(n-1), 2^(n-1)):
// acc - (rshift_round(acc, n) << n), defined even where the narrowing saturates. Fed back by the
// biquads (error feedback). Twins: AVX2/AVX-512 add/and/sub on 64-bit lanes; NEON vaddq/vandq/vsubq_s64.
constexpr std::int64_t round_residual(std::int64_t acc, int n) {
  // Unsigned arithmetic: the add wraps modulo 2^64 without undefined behaviour, the low n bits are exact.
  const std::uint64_t half = std::uint64_t{1} << (n - 1);
  const std::uint64_t low = (static_cast<std::uint64_t>(acc) + half) & ((std::uint64_t{1} << n) - 1);
  return static_cast<std::int64_t>(low) - static_cast<std::int64_t>(half);
}

// The narrowing every kernel ends with: round half up at bit n, then saturate to int32.
// Twins: vqmovn_s64(vrshrq_n_s64(acc, n)); avx2::rshift_round_sat32; avx512::rshift_round_sat32.
constexpr std::int32_t rshift_round_sat32(std::int64_t acc, int n) { return sat32(rshift_round(acc, n)); }

}  // namespace q
}  // namespace edgecardio
