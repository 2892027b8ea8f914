// biquad_df1_q31_avx512: one DF1 section across leads, 8 leads per zmm + 4 per ymm (12 at once);
// each lead's recurrence runs in the scalar order.
//
// Arithmetic contract: identical to biquad_df1_q31_scalar (see there): Q30 coefficients, exact
// int64 sum of the seven products (vpmuldq), avx512::rshift_round_sat32<30> (srai + rounding bit
// + min/max: the scalar formula) and avx512::round_residual<30> fed back with k1, k2.
#include "edgecardio/kernels.h"
#include "qmath_avx512.h"

namespace edgecardio {
namespace kernels {
namespace {

// Lane groups: Zmm8 = 8 leads in a __m512i, Ymm4 = 4 leads in a __m256i (tags, because vector types
// lose their attributes as template arguments).
struct Zmm8 {};
struct Ymm4 {};
template <typename Tag>
struct Ops;
template <>
struct Ops<Zmm8> {
  using V = __m512i;
  static constexpr int kLanes = 8;
  static __m512i set1(std::int32_t v) { return _mm512_set1_epi64(v); }
  static __m512i mul(__m512i a, __m512i b) { return _mm512_mul_epi32(a, b); }
  static __m512i add(__m512i a, __m512i b) { return _mm512_add_epi64(a, b); }
  static __m512i load(const std::int32_t *p) { return avx512::load8(p); }
  static void store(std::int32_t *p, __m512i v) { avx512::store8(p, v); }
  static __m512i round(__m512i a) { return avx512::rshift_round_sat32<30>(a); }
  static __m512i residual(__m512i a) { return avx512::round_residual<30>(a); }
};
template <>
struct Ops<Ymm4> {
  using V = __m256i;
  static constexpr int kLanes = 4;
  static __m256i set1(std::int32_t v) { return _mm256_set1_epi64x(v); }
  static __m256i mul(__m256i a, __m256i b) { return _mm256_mul_epi32(a, b); }
  static __m256i add(__m256i a, __m256i b) { return _mm256_add_epi64(a, b); }
  static __m256i load(const std::int32_t *p) { return avx512::load4(p); }
  static void store(std::int32_t *p, __m256i v) { avx512::store4(p, v); }
  static __m256i round(__m256i a) { return avx512::rshift_round_sat32<30>(a); }
  static __m256i residual(__m256i a) { return avx512::round_residual<30>(a); }
};

// Lane groups A (and optionally B) side by side in one time loop, so their independent
// recurrences overlap in the pipeline.
template <typename TA, typename TB, bool kHasB>
void run(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y, std::size_t n,
         std::ptrdiff_t step) {
  using OA = Ops<TA>;
  using OB = Ops<TB>;
  using A = typename OA::V;
  using B = typename OB::V;
  constexpr int la = OA::kLanes;
  A ax1 = OA::load(state.x1), ax2 = OA::load(state.x2), ay1 = OA::load(state.y1), ay2 = OA::load(state.y2);
  A ae1 = OA::load(state.e1), ae2 = OA::load(state.e2);
  B bx1{}, bx2{}, by1{}, by2{}, be1{}, be2{};
  if constexpr (kHasB) {
    bx1 = OB::load(state.x1 + la); bx2 = OB::load(state.x2 + la); by1 = OB::load(state.y1 + la);
    by2 = OB::load(state.y2 + la); be1 = OB::load(state.e1 + la); be2 = OB::load(state.e2 + la);
  }
  const A a_b0 = OA::set1(k.c[0]), a_b1 = OA::set1(k.c[1]), a_b2 = OA::set1(k.c[2]), a_a1 = OA::set1(k.c[3]),
          a_a2 = OA::set1(k.c[4]), a_k1 = OA::set1(k.ef[0]), a_k2 = OA::set1(k.ef[1]);
  const B b_b0 = OB::set1(k.c[0]), b_b1 = OB::set1(k.c[1]), b_b2 = OB::set1(k.c[2]), b_a1 = OB::set1(k.c[3]),
          b_a2 = OB::set1(k.c[4]), b_k1 = OB::set1(k.ef[0]), b_k2 = OB::set1(k.ef[1]);
  for (std::size_t i = 0; i < n; ++i) {
    const std::ptrdiff_t o = static_cast<std::ptrdiff_t>(i) * step;
    {
      const A x0 = OA::load(x + o);
      A acc = OA::add(OA::mul(a_b0, x0), OA::mul(a_b1, ax1));
      acc = OA::add(acc, OA::mul(a_b2, ax2));
      acc = OA::add(acc, OA::mul(a_k1, ae1));
      acc = OA::add(acc, OA::mul(a_k2, ae2));
      acc = OA::add(acc, OA::mul(a_a2, ay2));
      acc = OA::add(acc, OA::mul(a_a1, ay1));
      const A y0 = OA::round(acc);
      OA::store(y + o, y0);
      ae2 = ae1; ae1 = OA::residual(acc);
      ax2 = ax1; ax1 = x0; ay2 = ay1; ay1 = y0;
    }
    if constexpr (kHasB) {
      const B x0 = OB::load(x + o + la);
      B acc = OB::add(OB::mul(b_b0, x0), OB::mul(b_b1, bx1));
      acc = OB::add(acc, OB::mul(b_b2, bx2));
      acc = OB::add(acc, OB::mul(b_k1, be1));
      acc = OB::add(acc, OB::mul(b_k2, be2));
      acc = OB::add(acc, OB::mul(b_a2, by2));
      acc = OB::add(acc, OB::mul(b_a1, by1));
      const B y0 = OB::round(acc);
      OB::store(y + o + la, y0);
      be2 = be1; be1 = OB::residual(acc);
      bx2 = bx1; bx1 = x0; by2 = by1; by1 = y0;
    }
  }
  OA::store(state.x1, ax1); OA::store(state.x2, ax2); OA::store(state.y1, ay1);
  OA::store(state.y2, ay2); OA::store(state.e1, ae1); OA::store(state.e2, ae2);
  if constexpr (kHasB) {
    OB::store(state.x1 + la, bx1); OB::store(state.x2 + la, bx2); OB::store(state.y1 + la, by1);
    OB::store(state.y2 + la, by2); OB::store(state.e1 + la, be1); OB::store(state.e2 + la, be2);
  }
}

}  // namespace

void biquad_df1_q31_avx512(const BiquadQ30 &k, const BiquadState &state, const std::int32_t *x, std::int32_t *y,
                           std::size_t n, std::size_t n_ch, std::ptrdiff_t step) {
  std::size_t c = 0;
  for (; c + 12 <= n_ch; c += 12) run<Zmm8, Ymm4, true>(k, state.from_lane(c), x + c, y + c, n, step);
  for (; c + 8 <= n_ch; c += 8) run<Zmm8, Ymm4, false>(k, state.from_lane(c), x + c, y + c, n, step);
  for (; c + 4 <= n_ch; c += 4) run<Ymm4, Ymm4, false>(k, state.from_lane(c), x + c, y + c, n, step);
  if (c < n_ch) biquad_df1_q31_scalar(k, state.from_lane(c), x + c, y + c, n, n_ch - c, step);
}

}  // namespace kernels
}  // namespace edgecardio
