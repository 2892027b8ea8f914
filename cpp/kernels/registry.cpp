// The one list of engines. Dispatch, the native tests, the bindings and the benchmarks all read it.
#include <cstdlib>
#include <cstring>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace {

bool always() { return true; }

#if defined(EDGECARDIO_KERNELS_AVX2)
bool has_avx2() {
#if defined(__GNUC__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}
#endif

const Engine kScalar{"scalar", always, "fir_poly_q31_scalar", kernels_scalar::fir_poly_q31,
                     "fir_decimsym_q31_scalar", kernels_scalar::fir_decimsym_q31,
                     "interleave_shl_i16_scalar", kernels_scalar::interleave_shl_i16,
                     "zscore_rows_f32_scalar", kernels_scalar::zscore_rows_f32,
                     "biquad_df1_q31_scalar", kernels_scalar::biquad_df1_q31};
#if defined(EDGECARDIO_KERNELS_AVX2)
const Engine kAvx2{"avx2", has_avx2, "fir_poly_q31_avx2", kernels_avx2::fir_poly_q31,
                   "fir_decimsym_q31_avx2", kernels_avx2::fir_decimsym_q31,
                   "interleave_shl_i16_avx2", kernels_avx2::interleave_shl_i16,
                   "zscore_rows_f32_avx2", kernels_avx2::zscore_rows_f32,
                   "biquad_df1_q31_avx2", kernels_avx2::biquad_df1_q31};
#endif
#if defined(EDGECARDIO_KERNELS_AVX512)
bool has_avx512() {
#if defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}
// Its own biquad; the other kernels are the AVX2 variants (every AVX-512 CPU runs them, and a
// zmm FIR over 12-lane frames measured slower on this Xeon: 512-bit ops issue on fewer ports).
const Engine kAvx512{"avx512", has_avx512, "fir_poly_q31_avx2", kernels_avx2::fir_poly_q31,
                     "fir_decimsym_q31_avx2", kernels_avx2::fir_decimsym_q31,
                     "interleave_shl_i16_avx2", kernels_avx2::interleave_shl_i16,
                     "zscore_rows_f32_avx2", kernels_avx2::zscore_rows_f32,
                     "biquad_df1_q31_avx512", kernels_avx512::biquad_df1_q31};
#endif
#if defined(EDGECARDIO_KERNELS_NEON)
// Advanced SIMD is part of the AArch64 base architecture: every aarch64 CPU has it.
const Engine kNeon{"neon", always, "fir_poly_q31_neon", kernels_neon::fir_poly_q31,
                   "fir_decimsym_q31_neon", kernels_neon::fir_decimsym_q31,
                   "interleave_shl_i16_neon", kernels_neon::interleave_shl_i16,
                   "zscore_rows_f32_neon", kernels_neon::zscore_rows_f32,
                   "biquad_df1_q31_neon", kernels_neon::biquad_df1_q31};
#endif

const Engine *const kAll[] = {
    &kScalar,
#if defined(EDGECARDIO_KERNELS_AVX2)
    &kAvx2,
#endif
#if defined(EDGECARDIO_KERNELS_AVX512)
    &kAvx512,
#endif
#if defined(EDGECARDIO_KERNELS_NEON)
    &kNeon,
#endif
};

bool force_scalar() {
  const char *v = std::getenv("EDGECARDIO_FORCE_SCALAR");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

const std::vector<const Engine *> &engines() {
  static const std::vector<const Engine *> list = [] {
    std::vector<const Engine *> v;
    for (const Engine *e : kAll)
      if (e->supported()) v.push_back(e);
    return v;
  }();
  return list;
}

const Engine &default_engine() {
  static const Engine *const chosen = force_scalar() ? &kScalar : engines().back();
  return *chosen;
}

const Engine *find_engine(const std::string &name) {
  for (const Engine *e : engines())
    if (name == e->name) return e;
  return nullptr;
}

std::vector<KernelInfo> kernels() {
  std::vector<KernelInfo> v;
  for (const Engine *e : engines()) {
    v.push_back({e->fir_poly_q31_name, e->name});
    v.push_back({e->fir_decimsym_q31_name, e->name});
    v.push_back({e->interleave_shl_i16_name, e->name});
    v.push_back({e->zscore_rows_f32_name, e->name});
    v.push_back({e->biquad_df1_q31_name, e->name});
  }
  return v;
}

}  // namespace edgecardio
