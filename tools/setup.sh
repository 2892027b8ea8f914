#!/usr/bin/env bash
# One-time set-up on a fresh machine: ONNX Runtime headers, a virtual environment in .venv with the
# package built and installed (plus its test, training, file-format, scoring and Ray extras, so the
# tests of every reader and engine run instead of skipping), and, with --dev, the aarch64 cross
# compiler and qemu used by toolchains/. Safe to run again: every step skips what is already there.
#   bash tools/setup.sh          # runtime + tests + training
#   bash tools/setup.sh --dev    # also g++-aarch64-linux-gnu and qemu-user-static (root, apt)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1

if [ "$dev" = 1 ]; then
  need=()
  command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v debootstrap >/dev/null || need+=(debootstrap)
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

bash tools/fetch-ort-headers.sh

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Build requirements installed once, then --no-build-isolation so rebuilds reuse build/ incrementally.
.venv/bin/python -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12"
.venv/bin/python -m pip install -q --no-build-isolation \
  -Ccmake.define.EDGECARDIO_REQUIRE_ORT=ON ".[test,train,formats,score,ray,app]" "selenium>=4.20"
# The app's browser test: Debian's chromium + chromedriver (Selenium drives them; no browser download),
# skipped without root or apt.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install chromium chromium-driver (the app's browser test)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "setup: no chromium/chromedriver and no root apt: the app's browser test will skip"
  fi
fi
.venv/bin/python -c "import edgecardio, sys; print('setup: edgecardio', edgecardio.__version__, 'native ORT runner:', edgecardio.HAS_NATIVE_ORT)"
