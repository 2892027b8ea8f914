// Engines and variants, built from kernels.def. Dispatch, the native tests, the bindings and the
// benchmarks all read these tables.
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "edgecardio/kernels.h"

namespace edgecardio {
namespace {

// Whether this CPU has an instruction set; one per EDGECARDIO_ENGINE line.
bool cpu_has_scalar() { return true; }
#if defined(EDGECARDIO_KERNELS_AVX2)
bool cpu_has_avx2() {
#if defined(__GNUC__)
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}
#endif
#if defined(EDGECARDIO_KERNELS_AVX512)
bool cpu_has_avx512() {
#if defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}
#endif
#if defined(EDGECARDIO_KERNELS_NEON)
// Advanced SIMD is part of the AArch64 base architecture: every aarch64 CPU has it.
bool cpu_has_neon() { return true; }
#endif

struct EngineSpec {
  const char *isa;
  const char *fallback;
  bool (*supported)();
};
const EngineSpec kEngineSpecs[] = {
#define EDGECARDIO_ENGINE(isa, fallback) {#isa, #fallback, cpu_has_##isa},
#include "edgecardio/kernels.def"
};

const EngineSpec *spec_of(const char *isa) {
  for (const EngineSpec &s : kEngineSpecs)
    if (std::strcmp(s.isa, isa) == 0) return &s;
  return nullptr;
}

bool isa_supported(const char *isa) {
  const EngineSpec *s = spec_of(isa);
  return s != nullptr && s->supported();
}

// Every variant compiled in, supported by this CPU or not.
const KernelTable &compiled() {
  static const KernelTable table = [] {
    KernelTable t;
#define EDGECARDIO_KERNEL(op, isa, symbol) t.op.push_back({#symbol, #isa, &kernels::symbol});
#include "edgecardio/kernels.def"
    return t;
  }();
  return table;
}

// The engine's own variant of an op, else its fallback engine's, down to scalar.
template <typename Fn>
Kernel<Fn> resolve(const std::vector<Kernel<Fn>> &list, const char *isa) {
  for (const EngineSpec *s = spec_of(isa); s != nullptr;) {
    for (const Kernel<Fn> &k : list)
      if (std::strcmp(k.isa, s->isa) == 0) return k;
    if (std::strcmp(s->fallback, s->isa) == 0) break;
    s = spec_of(s->fallback);
  }
  throw std::logic_error(std::string("kernels.def: engine ") + isa + " has no variant of an op, nor its fallback");
}

const std::vector<Engine> &all_engines() {
  static const std::vector<Engine> list = [] {
    std::vector<Engine> v;
    for (const EngineSpec &s : kEngineSpecs) {
      Engine e{};
      e.name = s.isa;
#define EDGECARDIO_OP(op) e.op = resolve(compiled().op, s.isa);
#include "edgecardio/kernels.def"
      v.push_back(e);
    }
    return v;
  }();
  return list;
}

bool force_scalar() {
  const char *v = std::getenv("EDGECARDIO_FORCE_SCALAR");
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace

const std::vector<const Engine *> &engines() {
  static const std::vector<const Engine *> list = [] {
    std::vector<const Engine *> v;
    for (const Engine &e : all_engines())
      if (isa_supported(e.name)) v.push_back(&e);
    return v;
  }();
  return list;
}

const Engine &default_engine() {
  static const Engine *const chosen = force_scalar() ? engines().front() : engines().back();
  return *chosen;
}

const Engine *find_engine(const std::string &name) {
  for (const Engine *e : engines())
    if (name == e->name) return e;
  return nullptr;
}

const KernelTable &kernel_table() {
  static const KernelTable table = [] {
    KernelTable t;
#define EDGECARDIO_OP(op)                                    \
  for (const auto &k : compiled().op)                        \
    if (isa_supported(k.isa)) t.op.push_back(k);
#include "edgecardio/kernels.def"
    return t;
  }();
  return table;
}

std::vector<KernelInfo> kernel_list() {
  std::vector<KernelInfo> v;
#define EDGECARDIO_KERNEL(op, isa, symbol) \
  if (isa_supported(#isa)) v.push_back({#symbol, #op, #isa});
#include "edgecardio/kernels.def"
  return v;
}

}  // namespace edgecardio
