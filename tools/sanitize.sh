#!/usr/bin/env bash
# The native code under AddressSanitizer and UndefinedBehaviorSanitizer: one build with
# -fsanitize=address,undefined -fno-sanitize-recover=all, so the first report ends the run with a
# non-zero status (no "runtime error" line that scrolls past a green result). It runs
#   1. the native tests (ctest: engine parity, and the ORT runner against the onnxruntime wheel's library);
#   2. the pytest files that drive the extension (preprocess, kernels, runner, classifier, fuzz), with
#      the sanitized `_core` put ahead of the installed package on PYTHONPATH and libasan preloaded into
#      the (uninstrumented) interpreter.
#
#   bash tools/sanitize.sh [--build-dir DIR] [pytest args...]     # after tools/setup.sh
#
# The main .venv's package is not touched: the sanitized build lives in DIR (default build/sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/sanitize
if [ "${1:-}" = "--build-dir" ]; then build=$2; shift 2; fi
py=.venv/bin/python
[ -x "$py" ] || { echo "sanitize: no .venv: run bash tools/setup.sh first" >&2; exit 2; }
cmake_bin=$(command -v cmake || true)
[ -z "$cmake_bin" ] && [ -x .venv/bin/cmake ] && cmake_bin=.venv/bin/cmake
[ -n "$cmake_bin" ] || { echo "sanitize: cmake not found (pip install cmake)" >&2; exit 2; }
cxx=${CXX:-c++}
libasan=$("$cxx" -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "sanitize: $cxx has no libasan.so (Debian: apt-get install libasan8)" >&2; exit 2; }
# The interpreter is a C program: libstdc++ must be loaded with libasan, or ASan's __cxa_throw
# interceptor finds no real __cxa_throw and the first C++ exception aborts the process.
preload="$libasan $("$cxx" -print-file-name=libstdc++.so.6)"

# The canary below is built with the flags that CMakeLists.txt's EDGECARDIO_SANITIZE option sets.
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
ortlib=$("$py" -c "from edgecardio.classifier import ort_library_candidates as c; print(c()[0])")
# One tree builds the native tests and the Python module: CMakeLists.txt adds _core when scikit-build
# sets SKBUILD, so this sets what scikit-build would. -O1 -g: short runs, right line numbers.
"$cmake_bin" -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DEDGECARDIO_SANITIZE=ON -DEDGECARDIO_BUILD_TESTS=ON -DEDGECARDIO_REQUIRE_ORT=ON \
  -DEDGECARDIO_TEST_ORT_LIB="$ortlib" \
  -DSKBUILD=ON -DSKBUILD_PROJECT_VERSION="$("$py" -c 'import edgecardio; print(edgecardio.__version__)')" \
  -DPython_EXECUTABLE="$PWD/$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" >"$build.cmake.log" 2>&1 \
  || { tail -40 "$build.cmake.log" >&2; echo "sanitize: cmake configure failed" >&2; exit 1; }
"$cmake_bin" --build "$build" -j 2 >"$build.build.log" 2>&1 \
  || { tail -60 "$build.build.log" >&2; echo "sanitize: build failed" >&2; exit 1; }

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# A job that cannot fail proves nothing: a signed overflow built with the same flags must stop its
# process, and the module must carry the sanitizer runtimes.
printf 'int main(int argc, char **) { volatile int big = 2147483647; return big + argc < 0; }\n' >"$build/canary.cpp"
"$cxx" $san -o "$build/canary" "$build/canary.cpp"
if "$build/canary" 2>/dev/null; then
  echo "sanitize: a signed overflow did not stop the canary: UBSan is not active with these flags" >&2; exit 1
fi
# ldd's output is kept first: `ldd | grep -q` under pipefail fails when grep exits at its first match
# and ldd dies of SIGPIPE (a race that failed CI once).
deps=$(ldd "$build"/_core*.so)
for lib in libasan libubsan; do
  grep -q "$lib" <<<"$deps" || { echo "sanitize: _core is not linked with $lib" >&2; exit 1; }
done
# The native tests own every allocation: leaks count there. A failure here does not stop the Python
# part, so one run shows every report.
status=0
ASAN_OPTIONS=detect_leaks=1:strict_init_order=1 ctest --test-dir "$build" --output-on-failure || status=1

# The package as installed, except that its _core is the sanitized one.
site="$build/site"
rm -rf "$site"
mkdir -p "$site"
cp -r python/edgecardio "$site/"
cp "$build"/_core*.so "$site/edgecardio/"
export PYTHONPATH="$PWD/$site${PYTHONPATH:+:$PYTHONPATH}"
# CPython and numpy are not instrumented: their pools and caches look like leaks to LeakSanitizer.
# abort_on_error: a report ends in SIGABRT, so pytest's faulthandler prints which test was running.
# allocator_may_return_null: an impossible allocation is numpy's MemoryError, as without ASan (tests
# check how such errors reach the user), not an ASan abort.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=$UBSAN_OPTIONS:abort_on_error=1
core=$(LD_PRELOAD="$preload" "$py" -c "import edgecardio._core as c; print(c.__file__)")
case "$core" in
  "$PWD/$site"/*) echo "sanitize: pytest runs $core" ;;
  *) echo "sanitize: the sanitized _core is not the one imported ($core)" >&2; exit 1 ;;
esac
# The RSS-growth tests are left out: ASan's quarantine holds freed memory on purpose.
[ $# -gt 0 ] || set -- tests/test_preprocess.py tests/test_kernels.py tests/test_runner.py \
  tests/test_classifier.py tests/test_fuzz.py -k "not rss_growth"
# --capture=sys: the reports are written to file descriptor 2, which pytest's default capture would
# swallow when the process dies.
LD_PRELOAD="$preload" "$py" -m pytest -q -p no:cacheprovider --capture=sys "$@" || status=1
[ "$status" = 0 ] || echo "sanitize: FAILED (see the runtime error / AddressSanitizer reports above)" >&2
exit "$status"
