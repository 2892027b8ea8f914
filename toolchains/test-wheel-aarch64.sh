#!/usr/bin/env bash
# Tests the cross-built aarch64 wheel as it will run on a Raspberry Pi 5 (Cortex-A76) and a Pi 4
# (Cortex-A72), on this x86_64 machine, under qemu-user in an aarch64 Debian 12 userland:
#
#   bash toolchains/test-wheel-aarch64.sh            # full: the test suite (not slow) on the A76, parity on the A72,
#                                                    #       100 PTB-XL records compared with x86_64 on both
#   bash toolchains/test-wheel-aarch64.sh --smoke    # CI: tests marked aarch64 (NEON parity) + a few records
#   bash toolchains/test-wheel-aarch64.sh --pi4      # Pi 4 only: the full suite and 100 records on the A72
#                                                    # (--pi5 likewise on the A76; both combine with --smoke)
#
# Options: --wheel PATH (test this wheel; default: build it with build-wheel-aarch64.sh, incrementally),
# --records N (PTB-XL records to diagnose), --cpus "cortex-a76 cortex-a72" (the first runs the full suite),
# --pytest-args "...". Gate of the PTB-XL comparison: see toolchains/aarch64_diagnose.py (fp32 |dp| <= 1e-3;
# int8 vs x86_64 with session.x64quantprecision=1, also 1e-3; preprocessing bit-identical).
# Needs root (apt-get, binfmt_misc, chroot, and a private mount namespace for an ARM /proc/cpuinfo:
# ONNX Runtime's cpuinfo crashes on the x86 one). Caches, reused between runs, outside the repository in
# $EDGECARDIO_AARCH64_CACHE (default ~/.cache/edgecardio): the debootstrapped rootfs (made once: ~6 min on 2 x86-64 cores),
# the aarch64 wheelhouse from PyPI, materialized PTB-XL records. The x86_64 reference is the same source
# tree built into build/aarch64-wheel/x86-venv, with the same numpy/onnxruntime versions as on aarch64.
# Exits non-zero if anything fails; timings under qemu say nothing about a real Pi.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mode=full wheel="" records="" cpus="cortex-a76 cortex-a72" pytest_extra=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --full) mode=full ;;
    --wheel) wheel=$(realpath "$2"); shift ;;
    --records) records=$2; shift ;;
    --cpus) cpus=$2; shift ;;
    --pi4) cpus=cortex-a72 ;;
    --pi5) cpus=cortex-a76 ;;
    --pytest-args) pytest_extra=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "test-wheel-aarch64: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$records" ] || records=$([ "$mode" = smoke ] && echo 8 || echo 100)
cache=${EDGECARDIO_AARCH64_CACHE:-$HOME/.cache/edgecardio}
root=$cache/aarch64-rootfs
work=${EDGECARDIO_AARCH64_BUILD:-$here/build/aarch64-wheel}
ptbxl=${EDGECARDIO_PTBXL:-$(cd "$here/.." && pwd)/shared/ptbxl}
PY=${PYTHON:-python3.11}
t0=$(date +%s)
failures=()
timings=()
log() { echo "test-wheel-aarch64 [$(( $(date +%s) - t0 ))s]: $*"; }
die() { echo "test-wheel-aarch64: error: $*" >&2; exit 1; }
fail() { echo "test-wheel-aarch64: FAIL: $*" >&2; failures+=("$*"); }
stage() { local s=$(date +%s); "$@"; local rc=$?; timings+=("$(( $(date +%s) - s ))s  $stage_name"); return $rc; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get, binfmt_misc, chroot, mount namespace)"
mkdir -p "$cache" "$work"
exec 9>"$cache/aarch64.lock"
flock -n 9 || { log "another run holds $cache/aarch64.lock; waiting"; flock 9; }

# ------------------------------------------------------------------ host tools and binfmt
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
"$PY" -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; } \
    || die "apt-get install ${need[*]} failed"
fi
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc \
  || die "cannot mount binfmt_misc"
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  log "registering qemu-aarch64-static with binfmt_misc (F: the interpreter is opened now, so it works in the chroot)"
  echo ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
    > /proc/sys/fs/binfmt_misc/register || die "binfmt_misc registration failed"
fi
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "binfmt entry qemu-aarch64 is disabled"
binfmt_interp=$(awk '/^interpreter/{print $2}' /proc/sys/fs/binfmt_misc/qemu-aarch64)
binfmt_fixed=$(awk '/^flags/{print ($2 ~ /F/)}' /proc/sys/fs/binfmt_misc/qemu-aarch64)

# ------------------------------------------------------------------ the wheel and the x86_64 reference
if [ -z "$wheel" ]; then
  stage_name="wheel build (incremental)"
  stage bash toolchains/build-wheel-aarch64.sh || die "the wheel build failed"
  wheel=$(ls -t dist/edgecardio-*-cp311-cp311-*_aarch64.whl | head -1)
fi
[ -f "$wheel" ] || die "no wheel at $wheel"
log "wheel: $(basename "$wheel")"

# ------------------------------------------------------------------ aarch64 Debian 12 userland (cached)
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
make_rootfs() {
  rm -rf "$root.tmp"
  log "debootstrap --arch=arm64 bookworm into $root (first run only; log: $cache/debootstrap.log)"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv bookworm "$root.tmp" "$mirror" \
    > "$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log"; return 1; }
  touch "$root.tmp/.edgecardio-rootfs" && mv "$root.tmp" "$root"
}
if [ ! -f "$root/.edgecardio-rootfs" ]; then
  rm -rf "$root"
  stage_name="rootfs: debootstrap (uncached)"
  stage make_rootfs || die "debootstrap failed"
fi
if [ "$binfmt_fixed" != 1 ]; then  # without F the kernel looks the interpreter up inside the chroot
  mkdir -p "$root$(dirname "$binfmt_interp")" && cp -f "$(command -v qemu-aarch64-static)" "$root$binfmt_interp"
fi

# Runs a command in the rootfs as a given CPU. Private mount namespace: /proc, /sys, an ARM /proc/cpuinfo
# and the bind mounts below exist only for this command. QEMU_CPU reaches qemu-user through binfmt.
cpuinfo_of() {
  case "$1" in
    cortex-a76) printf 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' ;;
    cortex-a72) printf 'processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' ;;
    *) return 1 ;;
  esac
}
mnt=$work/mnt   # host side of the bind mounts
mkdir -p "$mnt/out" "$mnt/cpuinfo"
in_root() {  # CPU COMMAND...
  local cpu=$1; shift
  cpuinfo_of "$cpu" > "$mnt/cpuinfo/$cpu" || { echo "unknown CPU $cpu" >&2; return 2; }
  mkdir -p "$root/mnt/wheelhouse" "$root/mnt/dist" "$root/mnt/ptbxl" "$root/mnt/records" "$root/mnt/out"
  unshare -m -- /bin/sh -ec '
    r=$1 cpu=$2 m=$3 wh=$4 dist=$5 ptbxl=$6 recs=$7; shift 7
    mount --make-rprivate /
    mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"
    mount --bind "$m/cpuinfo/$cpu" "$r/proc/cpuinfo"
    mount --bind "$m/out" "$r/mnt/out"
    for pair in "$wh:wheelhouse" "$dist:dist" "$ptbxl:ptbxl" "$recs:records"; do
      src=${pair%:*}; [ -d "$src" ] && mount --bind -o ro "$src" "$r/mnt/${pair##*:}" || true
    done
    exec env -i PATH=/opt/v/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
      QEMU_CPU="$cpu" EDGECARDIO_PTBXL=/mnt/ptbxl EDGECARDIO_REQUIRE_NATIVE_ORT=1 PYTHONDONTWRITEBYTECODE=1 \
      chroot "$r" "$@"
  ' sh "$root" "$cpu" "$mnt" "$cache/wheelhouse-aarch64-cp311" "$(dirname "$wheel")" "$ptbxl" "$recdir" "$@"
}
recdir=$cache/ptbxl-fold9-$records

# ------------------------------------------------------------------ Python environments
# aarch64 wheels of numpy/onnxruntime come from PyPI, downloaded here (native pip is fast; pip under qemu
# is not) and installed offline in the rootfs. The x86_64 reference gets the same versions.
x86=$work/x86-venv
setup_envs() {
  [ -x "$x86/bin/python" ] || "$PY" -m venv "$x86" || return 1
  "$x86/bin/python" -m pip install -q --disable-pip-version-check "scikit-build-core>=0.10" "pybind11>=2.12" numpy onnxruntime \
    || return 1
  local pins
  pins=$("$x86/bin/python" -c 'from importlib.metadata import version as v; print(" ".join(p + "==" + v(p) for p in ("numpy", "onnxruntime")))') \
    && [ -n "$pins" ] || return 1
  local plats=() p
  for p in 2_36 2_35 2_34 2_31 2_28 2_27 2_26 2_24 2_17; do plats+=(--platform "manylinux_${p}_aarch64"); done
  plats+=(--platform manylinux2014_aarch64)
  # The smoke set needs the runtime, pytest and scipy (parity tests against the float64 specification);
  # the full suite also wfdb (reader cross-checks) and onnx (the runner tests build small models with it).
  # pip under qemu is slow: ~1 min for the first set, ~3 min with wfdb's dependencies.
  local reqs="$pins pytest scipy" have
  [ "$mode" = smoke ] || reqs="$reqs wfdb onnx"
  mkdir -p "$cache/wheelhouse-aarch64-cp311"
  "$x86/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: "${plats[@]}" \
    --python-version 3.11 --implementation cp --abi cp311 -d "$cache/wheelhouse-aarch64-cp311" $reqs || return 1
  have=$(cat "$root/opt/v/.edgecardio-reqs" 2>/dev/null || true)
  case " $have " in *" $pins "*) ;; *) have=""; rm -rf "$root/opt/v" ;; esac  # other numpy/onnxruntime: start over
  local missing="" r
  for r in $reqs; do case " $have " in *" $r "*) ;; *) missing="$missing $r" ;; esac; done
  if [ -n "$missing" ]; then
    log "aarch64 venv /opt/v in the rootfs:$missing (offline, from the wheelhouse)"
    in_root cortex-a76 /bin/sh -ec "[ -x /opt/v/bin/python ] || python3 -m venv /opt/v
      /opt/v/bin/pip install -q --disable-pip-version-check --no-index --find-links /mnt/wheelhouse $reqs" || return 1
    echo "$(echo $have $missing)" > "$root/opt/v/.edgecardio-reqs"
  fi
  log "x86_64 reference: this source tree into $x86 ($pins)"
  "$x86/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall \
    -Cbuild-dir="$work/x86-cmake" -Ccmake.define.EDGECARDIO_REQUIRE_ORT=ON . || return 1
}
stage_name="environments (wheelhouse, aarch64 venv, x86_64 reference build)"
stage setup_envs || die "setting up the Python environments failed"
log "installing $(basename "$wheel") in the rootfs"
# pip check: the wheel's own requirements (numpy, onnxruntime) are met by PyPI's aarch64 wheels, as on a Pi.
in_root cortex-a76 /bin/sh -c "/opt/v/bin/pip install -q --disable-pip-version-check --no-index --no-deps --force-reinstall \
  '/mnt/dist/$(basename "$wheel")' && /opt/v/bin/pip check --disable-pip-version-check" \
  || die "pip install of the wheel (or pip check) failed in the rootfs"

# The source tree's tests (and what they read) go in fresh each run; the package comes from the wheel.
rm -rf "$root/opt/edgecardio-src" && mkdir -p "$root/opt/edgecardio-src"
git ls-files -co --exclude-standard -z | grep -zv '^python/edgecardio/' | tar -c --null -T - -f - | tar -x -C "$root/opt/edgecardio-src"

# The Pi userland has no PyTorch (a Pi runs the model, it does not train it): test modules that import
# the training code are left out here by name, rather than failing to collect.
ignore=()
for f in $(grep -l -E '^[[:space:]]*(from|import)[[:space:]]+training([. ]|$)' tests/*.py 2>/dev/null); do ignore+=("--ignore=$f"); done
[ ${#ignore[@]} -eq 0 ] || log "not run on aarch64 (they import training/, which needs torch): ${ignore[*]#--ignore=}"
# Memory-growth tests read /proc/self/statm, which under qemu-user is the emulator's own RSS: it grows in
# steps in malloc arenas as qemu translates code (flat on x86_64 over 26,000 predictions). Run them on a Pi.
rss_tests=$(grep -o -E '^def test_rss[A-Za-z0-9_]*' tests/test_*.py 2>/dev/null | sed 's/:def /::/')
for t in $rss_tests; do ignore+=("--deselect=$t"); done
[ -z "$rss_tests" ] || log "under qemu, not run (emulator RSS): $(echo $rss_tests)"

# ------------------------------------------------------------------ PTB-XL records and the x86_64 reference
have_ptbxl=0
if [ -f "$ptbxl/ptbxl_database.csv" ]; then
  if [ ! -f "$recdir/.complete" ]; then
    rm -rf "$recdir"
    "$x86/bin/python" "$ptbxl/materialize.py" "$recdir" --folds 9 --limit "$records" --source "$ptbxl" >/dev/null \
      && touch "$recdir/.complete" || fail "materializing $records PTB-XL records"
  fi
  [ -f "$recdir/.complete" ] && have_ptbxl=1
  stage_name="x86_64 reference diagnosis ($records records)"
  [ $have_ptbxl = 1 ] && { stage "$x86/bin/python" toolchains/aarch64_diagnose.py run "$recdir" "$mnt/out/x86_64.json" \
    || fail "x86_64 reference diagnosis"; }
else
  log "SKIPPED the PTB-XL comparison: no PTB-XL in $ptbxl (set EDGECARDIO_PTBXL)"
fi
cp toolchains/aarch64_diagnose.py "$root/opt/aarch64_diagnose.py"

# ------------------------------------------------------------------ per CPU
for cpu in $cpus; do
  log "=== $cpu ==="
  # The CPU really is the one asked for: A76 reports dotprod and fp16 arithmetic, A72 neither.
  feats=$(in_root "$cpu" /opt/v/bin/python -c 'import sys; sys.path.insert(0, "/opt"); import aarch64_diagnose as d; print(" ".join(d.cpu_features()))')
  log "$cpu: HWCAP features: $feats"
  case "$cpu:$feats" in
    cortex-a76:*asimddp*) ;;
    cortex-a72:*asimddp*|cortex-a72:*fphp*) fail "$cpu: qemu reports features a Cortex-A72 lacks ($feats): QEMU_CPU not honoured?" ;;
    cortex-a76:*) fail "$cpu: no dotprod reported ($feats): QEMU_CPU not honoured?" ;;
  esac
  in_root "$cpu" /bin/sh -c 'cd /tmp && /opt/v/bin/python - ' <<'EOF' || fail "$cpu: engine/runner check"
import edgecardio, platform
from edgecardio.classifier import Classifier, ort_runtime
engine = edgecardio.engine() if hasattr(edgecardio, "engine") else None
print(f"  {platform.machine()}: edgecardio {edgecardio.__version__}, engine {engine!r}, HAS_NATIVE_ORT {edgecardio.HAS_NATIVE_ORT}")
assert platform.machine() == "aarch64"
assert engine is not None and "neon" in str(engine).lower(), f"engine() does not report NEON: {engine!r}"
assert edgecardio.HAS_NATIVE_ORT, "the wheel has no native ONNX Runtime runner"
rt = ort_runtime()
print(f"  native runner: {rt}")
assert "/site-packages/onnxruntime/capi/libonnxruntime.so.1" in rt["path"], rt
clf = Classifier()
print(f"  {clf!r}, ONNX Runtime {clf.ort_version}")
# Every packaged model, every precision it ships, loads and diagnoses under this CPU.
from edgecardio._synthetic import synthetic_record
x = synthetic_record(500, 10, seed=0)
infos = edgecardio.models()
assert infos and sum(m.default for m in infos) == 1, infos
for m in infos:
    for precision in m.precisions:
        r = Classifier(m.name, precision=precision).predict(x, 500)
        print(f"  model {m.name} ({precision}): labels {r.labels}, {r.latency_ms['total']:.1f} ms")
EOF
  if [ "$mode" = full ] && [ "$cpu" = "$(set -- $cpus; echo "$1")" ]; then
    sel=(-m "'not slow'"); stage_name="$cpu: full test suite (not slow)"
  else
    sel=(-m aarch64); stage_name="$cpu: pytest -m aarch64"
  fi
  log "$cpu: pytest ${sel[*]} $pytest_extra"
  stage in_root "$cpu" /bin/sh -c "cd /opt/edgecardio-src && /opt/v/bin/python -m pytest -p no:cacheprovider -q --durations=10 ${sel[*]} ${ignore[*]} $pytest_extra" \
    || fail "$cpu: pytest ${sel[*]}"
  if [ $have_ptbxl = 1 ]; then
    recs=$(/usr/bin/python3 -c "import csv,sys; r=list(csv.DictReader(open('$recdir/ptbxl_database.csv')))[:2]; print(' '.join('/mnt/records/'+x['filename_lr'] for x in r))")
    # edgecardio info prints the whole model card (training history included): long lines are cut here.
    in_root "$cpu" /bin/sh -c "cd /tmp && edgecardio info > /tmp/info.txt; rc=\$?; cut -c1-150 /tmp/info.txt; [ \$rc = 0 ] \
      && edgecardio models && edgecardio predict $recs" || fail "$cpu: the edgecardio CLI"
    stage_name="$cpu: diagnosis of $records records"
    stage in_root "$cpu" /opt/v/bin/python /opt/aarch64_diagnose.py run /mnt/records "/mnt/out/$cpu.json" \
      || fail "$cpu: diagnosis of PTB-XL records"
    [ -f "$mnt/out/$cpu.json" ] && { "$x86/bin/python" toolchains/aarch64_diagnose.py compare "$mnt/out/x86_64.json" "$mnt/out/$cpu.json" \
      || fail "$cpu: probabilities differ from x86_64 beyond the gate, or preprocessing is not bit-identical (above)"; }
  fi
done

log "timings:"; printf '    %s\n' "${timings[@]}"
log "results (JSON): $mnt/out"
if [ ${#failures[@]} -gt 0 ]; then
  printf 'test-wheel-aarch64: FAILED: %s\n' "${failures[@]}" >&2
  exit 1
fi
log "all passed ($mode, $(basename "$wheel"), CPUs: $cpus)"
