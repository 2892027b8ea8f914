#!/usr/bin/env bash
# Puts the ONNX Runtime C API headers where CMake looks for them (build/ort-headers/include), without
# touching the system's apt state. Debian 13 (trixie) packages them as libonnxruntime-dev; on Debian 12
# only the .deb is fetched from trixie through the machine's own mirror and unpacked.
# The headers are only needed at build time: at run time the runner dlopen()s the onnxruntime wheel's
# library, whose C API is backwards compatible with these headers' version.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest=${EDGECARDIO_ORT_HEADERS:-$here/build/ort-headers}
if [ -f "$dest/include/onnxruntime_c_api.h" ]; then echo "ORT headers: $dest/include"; exit 0; fi
if [ -f /usr/include/onnxruntime/onnxruntime_c_api.h ]; then echo "ORT headers: /usr/include/onnxruntime (system)"; exit 0; fi
arch=${1:-}     # optional: amd64 / arm64; the headers are the same
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "fetch-ort-headers: no Debian mirror configured in /etc/apt" >&2; exit 1; }
mkdir -p "$work/lists/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$work/sources.list"
o=(-oDir::Etc::SourceList="$work/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$work/lists" -oDebug::NoLocking=1)
apt-get "${o[@]}" -qq update
(cd "$work" && apt-get "${o[@]}" -qq download "libonnxruntime-dev${arch:+:$arch}")
dpkg -x "$work"/libonnxruntime-dev_*.deb "$work/root"
mkdir -p "$dest"
rm -rf "$dest/include" && cp -r "$work/root/usr/include/onnxruntime" "$dest/include"
echo "ORT headers: $dest/include"
