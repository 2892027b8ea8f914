#!/usr/bin/env bash
# NEON parity on aarch64, without a Pi: cross-compile the native test program (cpp/tests, no
# Python) with toolchains/aarch64-linux-gnu.cmake and run it under qemu-user as a Raspberry Pi 5
# (Cortex-A76) and a Pi 4 (Cortex-A72). The program checks that every NEON kernel and the whole
# pipeline give the scalar engine's bits (random and ECG-shaped records, full-scale steps, square
# waves and impulses, every unroll/tail length, random chunkings) and exits non-zero on any mismatch.
#
#   bash toolchains/test-aarch64.sh [--cpus "cortex-a76 cortex-a72"] [--build-dir DIR] [--no-host]
#
# First the same program is built and run natively (x86-64: AVX2 == scalar), unless --no-host.
#
# Installs nothing: `bash tools/setup.sh --dev` (root) installs g++-aarch64-linux-gnu and
# qemu-user-static. Timings under qemu say nothing about a real Pi: this is for correctness only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cpus="cortex-a76 cortex-a72"
build="build/aarch64-native-tests"
host=1
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) cpus=$2; shift ;;
    --build-dir) build=$2; shift ;;
    --no-host) host=0 ;;
    -h|--help) sed -n "2,13p" "$0"; exit 0 ;;
    *) echo "test-aarch64: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

missing=()
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=("aarch64-linux-gnu-g++ (apt package g++-aarch64-linux-gnu)")
command -v qemu-aarch64-static >/dev/null || missing+=("qemu-aarch64-static (apt package qemu-user-static)")
cmake_bin=$(command -v cmake || true)
[ -z "$cmake_bin" ] && [ -x .venv/bin/cmake ] && cmake_bin=.venv/bin/cmake
[ -z "$cmake_bin" ] && missing+=("cmake >= 3.18 (pip install cmake)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-aarch64: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "install them with: bash tools/setup.sh --dev   (as root)" >&2
  exit 2
fi

status=0
if [ "$host" = 1 ]; then
  hb="build/host-native-tests"
  echo "test-aarch64: building the same tests for this machine into $hb"
  if "$cmake_bin" -S . -B "$hb" -DCMAKE_BUILD_TYPE=Release -DEDGECARDIO_BUILD_TESTS=ON -DEDGECARDIO_WITH_ORT=OFF \
       >"$hb.cmake.log" 2>&1 && "$cmake_bin" --build "$hb" --target edgecardio_native_tests -j 2 >"$hb.build.log" 2>&1; then
    "$hb/edgecardio_native_tests" || { echo "test-aarch64: host engines differ from scalar" >&2; status=1; }
  else
    tail -40 "$hb.build.log" "$hb.cmake.log" >&2 2>/dev/null
    echo "test-aarch64: host build failed" >&2
    status=1
  fi
fi

echo "test-aarch64: cross-compiling cpp/tests into $build"
"$cmake_bin" -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$here/toolchains/aarch64-linux-gnu.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DEDGECARDIO_BUILD_TESTS=ON -DEDGECARDIO_WITH_ORT=OFF >"$build.cmake.log" 2>&1 \
  || { cat "$build.cmake.log" >&2; echo "test-aarch64: cmake configure failed" >&2; exit 1; }
"$cmake_bin" --build "$build" --target edgecardio_native_tests -j 2 >"$build.build.log" 2>&1 \
  || { tail -40 "$build.build.log" >&2; echo "test-aarch64: build failed" >&2; exit 1; }
prog="$build/edgecardio_native_tests"
if command -v file >/dev/null && [[ $(file "$prog") != *aarch64* ]]; then
  echo "test-aarch64: $prog is not an aarch64 binary: $(file "$prog")" >&2
  exit 1
fi

for cpu in $cpus; do
  echo "test-aarch64: qemu-aarch64-static -cpu $cpu"
  if qemu-aarch64-static -cpu "$cpu" -L /usr/aarch64-linux-gnu "$prog" --require neon; then
    echo "test-aarch64: $cpu OK"
  else
    echo "test-aarch64: $cpu FAILED" >&2
    status=1
  fi
done
exit $status
