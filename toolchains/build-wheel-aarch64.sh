#!/usr/bin/env bash
# Cross-compiles the Raspberry Pi (aarch64) wheel on an x86_64 Debian machine:
#
#   bash toolchains/build-wheel-aarch64.sh      # -> dist/edgecardio-<version>-cp311-cp311-<tag>_aarch64.whl
#
# scikit-build-core drives CMake with toolchains/aarch64-linux-gnu.cmake (Debian's g++-aarch64-linux-gnu)
# against the aarch64 CPython 3.11 headers of Debian 12 (libpython3.11-dev:arm64, fetched as a .deb and
# unpacked: the system's apt state is not touched). The platform tag is read off the finished binaries'
# GLIBC_ symbol versions by toolchains/wheel_glibc_tag.py, never assumed. libstdc++ and libgcc are linked
# statically so that glibc is all the wheel needs from the system (GCC 12's libstdc++ would otherwise tie
# it to GLIBCXX_3.4.30, a requirement a manylinux tag cannot express).
#
# Root is needed only the first time, to apt-get install the cross compiler. Everything else stays in
# build/aarch64-wheel/ (a build venv, the aarch64 headers, CMake's build tree: rebuilds are incremental).
# Environment: PYTHON (a CPython 3.11 for the build venv, default python3.11), EDGECARDIO_AARCH64_BUILD
# (work folder). --skip-content-check: do not fail when the models or NEON kernels are not in the wheel yet.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
content_check=1
for arg in "$@"; do
  case "$arg" in
    --skip-content-check) content_check=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-wheel-aarch64: unknown argument $arg" >&2; exit 2 ;;
  esac
done
work=${EDGECARDIO_AARCH64_BUILD:-$here/build/aarch64-wheel}
toolchain=${EDGECARDIO_AARCH64_TOOLCHAIN:-$here/toolchains/aarch64-linux-gnu.cmake}
PY=${PYTHON:-python3.11}
t0=$(date +%s)
log() { echo "build-wheel-aarch64 [$(( $(date +%s) - t0 ))s]: $*"; }
die() { echo "build-wheel-aarch64: error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ host tools
if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
  [ "$(id -u)" = 0 ] || die "aarch64-linux-gnu-g++ missing: run as root once, or apt-get install g++-aarch64-linux-gnu"
  log "apt-get install g++-aarch64-linux-gnu"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++-aarch64-linux-gnu >/dev/null
fi
[ -f "$toolchain" ] || die "toolchain file $toolchain not found"
command -v "$PY" >/dev/null || die "$PY not found: set PYTHON to a CPython 3.11 (the wheel's cp311 tag comes from it)"
"$PY" -c 'import sys; sys.exit(sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11))' \
  || die "$PY is not CPython 3.11: the aarch64 headers are 3.11's and the wheel is tagged from this interpreter"

venv=$work/venv
if [ ! -x "$venv/bin/python" ]; then
  log "build venv $venv"
  "$PY" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "scikit-build-core>=0.10" "pybind11>=2.12"
# CMake >= 3.18 and Ninja from PyPI only when the host lacks them.
if ! cmake --version 2>/dev/null | awk 'NR==1{split($3,v,"."); exit !(v[1]>3 || (v[1]==3 && v[2]>=18))}'; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check cmake
fi
command -v ninja >/dev/null || "$venv/bin/python" -m pip install -q --disable-pip-version-check ninja

# ------------------------------------------------------------------ aarch64 CPython 3.11 headers
pyinc=$work/python3.11-aarch64/include/python3.11
if [ ! -f "$pyinc/Python.h" ]; then
  log "fetching libpython3.11-dev:arm64 (Debian 12) for the aarch64 Python headers"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$mirror" ] || die "no Debian mirror configured in /etc/apt"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial"
  echo "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" > "$tmp/sources.list"
  o=(-oDir::Etc::SourceList="$tmp/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$tmp/lists"
     -oDir::State::Status=/dev/null -oDebug::NoLocking=1 -oAPT::Architecture=arm64 -oAPT::Architectures::=arm64)
  apt-get "${o[@]}" -qq update
  (cd "$tmp" && apt-get "${o[@]}" -qq download libpython3.11-dev:arm64 2>/dev/null)
  dpkg -x "$tmp"/libpython3.11-dev_*_arm64.deb "$tmp/root"
  rm -rf "$work/python3.11-aarch64" && mkdir -p "$pyinc"
  cp -r "$tmp/root/usr/include/python3.11/." "$pyinc/"
  # Debian's pyconfig.h dispatches on the target's multiarch triplet; flatten it to aarch64's own.
  cp "$tmp/root/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" "$pyinc/pyconfig.h"
fi
grep -q '#define SIZEOF_VOID_P 8' "$pyinc/pyconfig.h" || die "$pyinc/pyconfig.h is not a 64-bit pyconfig"

# ------------------------------------------------------------------ ONNX Runtime C API headers
# The C API headers are the same for every architecture: the host's are fetched (asking for :arm64 would
# need arm64 in the host's apt architectures).
bash tools/fetch-ort-headers.sh >/dev/null || die "tools/fetch-ort-headers.sh failed"
ort_inc=${EDGECARDIO_ORT_HEADERS:-$here/build/ort-headers}/include
[ -f "$ort_inc/onnxruntime_c_api.h" ] || ort_inc=/usr/include/onnxruntime

# ------------------------------------------------------------------ build
# CMake reads the toolchain file only when it first configures a build tree: start a fresh tree when the
# file (its path or contents) changed since.
stamp="$toolchain $(sha256sum < "$toolchain" | cut -c1-16)"
if [ -d "$work/cmake" ] && [ "$(cat "$work/cmake/.edgecardio-toolchain" 2>/dev/null)" != "$stamp" ]; then
  log "toolchain changed: fresh CMake build tree"
  rm -rf "$work/cmake"
fi
mkdir -p "$work/cmake" && echo "$stamp" > "$work/cmake/.edgecardio-toolchain"

suffix=.cpython-311-aarch64-linux-gnu.so
raw=$work/raw-wheel
rm -rf "$raw"
log "pip wheel (scikit-build-core, $(basename "$toolchain"))"
# _PYTHON_HOST_PLATFORM sets the wheel's platform (scikit-build-core honours it) and SETUPTOOLS_EXT_SUFFIX
# the extension's name (pybind11 checks its own against it); PYTHON_MODULE_EXTENSION is what pybind11
# names the module with, since it would otherwise ask the x86_64 build interpreter.
_PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX=$suffix PATH="$venv/bin:$PATH" \
"$venv/bin/python" -m pip wheel . --no-deps --no-build-isolation --disable-pip-version-check -q -w "$raw" \
  -Cbuild-dir="$work/cmake" \
  -Ccmake.toolchain-file="$toolchain" \
  -Ccmake.define.EDGECARDIO_REQUIRE_ORT=ON \
  -Ccmake.define.EDGECARDIO_ORT_INCLUDE_DIR="$ort_inc" \
  -Ccmake.define.Python_INCLUDE_DIR="$pyinc" \
  -Ccmake.define.Python3_INCLUDE_DIR="$pyinc" \
  -Ccmake.define.PYTHON_MODULE_EXTENSION="$suffix" \
  -Ccmake.define.pybind11_DIR="$("$venv/bin/python" -m pybind11 --cmakedir)" \
  -Ccmake.define.CMAKE_MODULE_LINKER_FLAGS="-static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL" \
  || die "the cross build failed (log above)"
whl=$(ls "$raw"/edgecardio-*-cp311-cp311-linux_aarch64.whl 2>/dev/null | head -1)
[ -n "$whl" ] || die "no linux_aarch64 wheel in $raw: $(ls "$raw")"

# ------------------------------------------------------------------ honest tag
mkdir -p dist
log "platform tag from the binaries' symbol versions"
rm -f dist/edgecardio-*-cp311-cp311-*aarch64.whl
out=$("$venv/bin/python" toolchains/wheel_glibc_tag.py retag "$whl" -o dist --require-manylinux) \
  || { echo "$out"; die "tagging failed"; }
echo "$out" | sed 's/^/    /'
final=$(echo "$out" | tail -1)

# ------------------------------------------------------------------ contents
"$venv/bin/python" - "$final" "$content_check" <<'EOF' || die "wheel content check failed"
import re, sys, zipfile
whl, strict = sys.argv[1], sys.argv[2] == "1"
names = zipfile.ZipFile(whl).namelist()
problems = []
ext = [n for n in names if re.fullmatch(r"edgecardio/_core\.cpython-311-aarch64-linux-gnu\.so", n)]
if not ext:
    sys.exit(f"no edgecardio/_core.cpython-311-aarch64-linux-gnu.so in {whl}: {names}")
blob = zipfile.ZipFile(whl).read(ext[0])
if blob[18:20] != b"\xb7\x00":
    sys.exit(f"{ext[0]} is not an aarch64 ELF object")
strings = set(re.findall(rb"[A-Za-z0-9_]{4,}", blob))
neon = sorted(s.decode() for s in strings if s.endswith(b"_neon"))
print(f"    extension: {ext[0]} ({len(blob) // 1024} KiB)")
print(f"    NEON kernels named in it: {', '.join(neon) or 'none'}")
if not neon:
    problems.append("no *_neon kernel in the extension (is the NEON build in CMakeLists.txt?)")
if b"OrtGetApiBase" not in strings:
    problems.append("the ONNX Runtime runner is not in the extension (no OrtGetApiBase lookup)")
else:
    print("    ONNX Runtime runner: present (OrtGetApiBase)")
# Every packaged model of the source tree (python/edgecardio/models/<name>/), each file as its card describes it.
sys.path.insert(0, "toolchains")
import wheel_models
lines, model_problems = wheel_models.check(whl, "python/edgecardio/models")
for line in lines:
    print(f"    packaged model {line}")
problems += model_problems
for p in problems:
    print(("error: " if strict else "warning: ") + p, file=sys.stderr)
sys.exit(1 if problems and strict else 0)
EOF
log "done: $final"
