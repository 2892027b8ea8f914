#!/usr/bin/env python3
"""Diagnose PTB-XL records with the installed edgecardio, and compare two such runs (aarch64 vs x86_64).

    python toolchains/aarch64_diagnose.py run RECORDS_DIR OUT.json      # RECORDS_DIR from materialize.py
    python toolchains/aarch64_diagnose.py compare X86.json ARM.json [--atol 1e-3]

``run`` reads each record of ``RECORDS_DIR/ptbxl_database.csv`` from its WFDB files, with its age, sex,
height and weight, and writes, for every packaged precision and backend (the native C API runner and
the onnxruntime Python API; int8 also with session.x64quantprecision=1, see INT8_REFERENCE), the five
probabilities; and the SHA-256 and values of the native
preprocessing output, which is integer arithmetic and must be the same bits on every CPU.
``compare`` prints the largest probability differences and any label that flips, and exits 1 when a
probability differs by more than ``--atol`` (int8: from the reference's INT8_REFERENCE run, by more than
``--int8-atol``, see INT8_ATOL) or the preprocessing output differs at all.

Standard library + numpy + edgecardio only: it runs inside the emulated aarch64 userland.
"""
from __future__ import annotations

import argparse
import csv
import ctypes
import hashlib
import json
import math
import os
import platform
import sys
import time

import numpy as np

#: AT_HWCAP bits (arch/arm64/include/uapi/asm/hwcap.h) that tell a Pi 5 from a Pi 4.
_HWCAP_BITS = {"fp": 0, "asimd": 1, "fphp": 9, "asimdhp": 10, "asimddp": 20}


def cpu_features():
    """The AT_HWCAP features the kernel (or qemu-user) reports, aarch64 only."""
    if platform.machine() != "aarch64":
        return None
    libc = ctypes.CDLL(None)
    libc.getauxval.restype = ctypes.c_ulong
    hw = libc.getauxval(16)
    return sorted(name for name, bit in _HWCAP_BITS.items() if hw >> bit & 1)


def _maybe(value, lo, hi):
    """A PTB-XL csv cell as a number, or None when empty/NaN or outside what the runtime accepts."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and lo <= v <= hi else None


def demographics_of(row):
    age = _maybe(row.get("age"), 0, 400)
    if age is not None and age > 89:  # PTB-XL stores ages over 89 as 300
        age = 90.0
    sex = {"0": "male", "1": "female"}.get(str(row.get("sex", "")).split(".")[0])
    return {"age": age, "sex": sex, "height_cm": _maybe(row.get("height"), 30, 250),
            "weight_kg": _maybe(row.get("weight"), 1, 350)}


#: Backend name of the int8 model run by the onnxruntime Python API with the session option
#: session.x64quantprecision=1: the reference that aarch64's int8 is gated against. ONNX Runtime fuses the QDQ
#: graph into int8 kernels (QLinearConv, QGemm). On aarch64 they are exact integer arithmetic; on x86_64 CPUs
#: without VNNI, MLAS multiplies u8 x s8 with VPMADDUBSW, which adds pairs of products into saturating int16
#: lanes, so channels with large weights come out wrong (ONNX Runtime's reason for reduce_range on non-VNNI
#: x86). session.x64quantprecision=1 makes x86_64 use u8 x u8 kernels where weights leave [-64, 63] (on
#: aarch64 it changes nothing). Seen on a 2-core AVX2 x86_64 without VNNI, ORT 1.32, 8 and 100 PTB-XL
#: records: x86_64 with the option gives aarch64's int8 probabilities (all bits equal, or one of 500 off
#: by 2 output quanta); x86_64's default int8 path differs by up to 6-19 quanta (2.4e-2 to 7.5e-2),
#: depending on the model. Running the QDQ graph unfused (ORT_ENABLE_BASIC) is no reference: its float
#: Conv between quantizations sums in a different order on AVX2 and NEON, and the int8 rounding that
#: follows turns that into whole quanta (up to 5 on a U8S8 model). x86_64's default path is reported,
#: not gated.
INT8_REFERENCE = "onnxruntime-x64quantprecision"


class _ort_session_config:
    """Within the block, onnxruntime sessions are created with these session config entries."""

    def __init__(self, **entries):
        self.entries = entries

    def __enter__(self):
        import onnxruntime as ort
        self.ort, self.orig = ort, ort.InferenceSession

        def session(path, sess_options=None, *args, **kwargs):
            so = sess_options if sess_options is not None else ort.SessionOptions()
            for k, v in self.entries.items():
                try:  # the package may set it already (ORT warns when an entry is overwritten)
                    if so.get_session_config_entry(k) == v:
                        continue
                except RuntimeError:  # not set
                    pass
                so.add_session_config_entry(k, v)
            return self.orig(path, so, *args, **kwargs)
        ort.InferenceSession = session

    def __exit__(self, *exc):
        self.ort.InferenceSession = self.orig


def run(records_dir, out_path, limit=None):
    import edgecardio
    from edgecardio import wfdb_io
    from edgecardio.classifier import Classifier, PRECISIONS

    with open(os.path.join(records_dir, "ptbxl_database.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if limit:
        rows = rows[:limit]
    backends = ["native", "onnxruntime"] if edgecardio.HAS_NATIVE_ORT else ["onnxruntime"]
    clfs = {(p, b): Classifier(precision=p, backend=b) for p in PRECISIONS for b in backends}
    # The int8 model once more without x86_64's saturating u8 x s8 kernels (see INT8_REFERENCE).
    with _ort_session_config(**{"session.x64quantprecision": "1"}):
        clfs[("int8", INT8_REFERENCE)] = Classifier(precision="int8", backend="onnxruntime")
    any_clf = next(iter(clfs.values()))
    out = {"machine": platform.machine(), "cpu_features": cpu_features(),
           "engine": edgecardio.engine() if hasattr(edgecardio, "engine") else None,
           "engines": list(edgecardio.engines()) if hasattr(edgecardio, "engines") else None,
           "has_native_ort": bool(edgecardio.HAS_NATIVE_ORT), "ort_version": any_clf.ort_version,
           "numpy": np.__version__, "classes": list(any_clf.classes), "thresholds": any_clf.thresholds,
           "records": {}}
    t0 = time.perf_counter()
    for row in rows:
        path = os.path.join(records_dir, row["filename_lr"])
        rec = wfdb_io.read_record(path)
        gains = np.unique(rec.gain_per_mv)
        # One gain for all leads (PTB-XL: 1000/mV) keeps the int16 path; otherwise millivolts.
        sig, gain = (rec.digital, float(gains[0])) if gains.size == 1 else (rec.physical_mv(), 1.0)
        demo = demographics_of(row)
        entry = {"demographics": demo, "probabilities": {}}
        for (p, b), clf in clfs.items():
            pred = clf.predict(sig, rec.fs_hz, gain_per_mv=gain, **demo)
            entry["probabilities"][f"{p}/{b}"] = [pred.probabilities[c] for c in any_clf.classes]
        if hasattr(edgecardio, "preprocess"):
            # Every engine this CPU has (scalar, neon / avx2) must give the same bits, here and on x86_64.
            outs = {e: np.ascontiguousarray(edgecardio.preprocess(sig, rec.fs_hz, gain_per_mv=gain, engine=e),
                                            dtype=np.float32) for e in edgecardio.engines()}
            digests = {e: hashlib.sha256(x.tobytes()).hexdigest() for e, x in outs.items()}
            x = outs[edgecardio.engine()]
            entry["preprocess_sha256"] = digests[edgecardio.engine()]
            entry["preprocess_engines_agree"] = len(set(digests.values())) == 1
            entry["preprocess_f32_hex"] = x.tobytes().hex() if len(rows) <= 20 else None
        out["records"][row["ecg_id"]] = entry
    out["seconds"] = round(time.perf_counter() - t0, 2)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(rows)} records, {len(clfs)} classifier(s), engine {out['engine']}, "
          f"{platform.machine()} {out['cpu_features'] or ''}, {out['seconds']} s -> {out_path}")


def _load(path):
    with open(path) as f:
        return json.load(f)


def _diff(a, b, ids, classes, key_a, key_b):
    pa = np.array([a["records"][i]["probabilities"][key_a] for i in ids])
    pb = np.array([b["records"][i]["probabilities"][key_b] for i in ids])
    thr = np.array([a["thresholds"][c] for c in classes])
    d = np.abs(pa - pb)
    flips = [(ids[r], classes[c], pa[r, c], pb[r, c]) for r, c in zip(*np.nonzero((pa >= thr) != (pb >= thr)))]
    worst = np.unravel_index(np.argmax(d), d.shape)
    per_class = ", ".join(f"{c} {d[:, j].max():.2e}" for j, c in enumerate(classes))
    text = (f"max |dp| {d.max():.3e} (record {ids[worst[0]]} {classes[worst[1]]}), exact {np.mean(d == 0):.1%}; "
            f"per class: {per_class}; label flips: {len(flips)}")
    return d.max(), flips, text, float(np.mean(d > 0))


#: int8 gate. The shipped int8 model keeps a float head (its card: float_head), so its probabilities are
#: not rounded, and with session.x64quantprecision=1 (set by the package since f21205d) x86_64 and aarch64
#: give the same bits: the gate is the fp32 one, 1e-3. A model whose probabilities leave through
#: QuantizeLinear gives multiples of 1/255, where two correct int8 runs differ by whole quanta when one
#: requantization rounds the other way (seen: 1 of 500 probabilities, 2 quanta, on 100 records); compare
#: such runs with --int8-atol 0.00785 --int8-max-differing 0.01 (2 quanta on at most 1%).
INT8_ATOL = 1e-3
INT8_MAX_DIFFERING = 1.0


def compare(a_path, b_path, atol, int8_atol=INT8_ATOL, int8_max_differing=INT8_MAX_DIFFERING):
    a, b = _load(a_path), _load(b_path)
    classes = a["classes"]
    ids = sorted(set(a["records"]) & set(b["records"]), key=int)
    if not ids or set(a["records"]) != set(b["records"]):
        print(f"error: the runs cover different records ({len(a['records'])} vs {len(b['records'])})")
        return 1
    print(f"{len(ids)} records: {a['machine']} (engine {a['engine']}, ORT {a['ort_version']}) vs "
          f"{b['machine']} (engine {b['engine']}, ORT {b['ort_version']}, {b['cpu_features']}); gate |dp| <= {atol:g}, "
          f"int8: |dp| <= {int8_atol:.4g} ({int8_atol * 255:.2g} quanta of 1/255) on <= {int8_max_differing:.0%}")
    bad = 0
    thr = a["thresholds"]
    keys_a, keys_b = a["records"][ids[0]]["probabilities"], b["records"][ids[0]]["probabilities"]
    ref_int8 = f"int8/{INT8_REFERENCE}" if f"int8/{INT8_REFERENCE}" in keys_a else None
    for key in keys_b:
        if key not in keys_a:
            print(f"  {key}: only in {b_path}")
            bad += 1
    for key in keys_a:
        if key not in keys_b:
            print(f"  {key}: only in {a_path}")
            bad += 1
            continue
        # int8 on aarch64 is gated against x86_64's int8 without saturating kernels (see INT8_REFERENCE).
        gate_key = ref_int8 if key.startswith("int8/") and ref_int8 else key
        dmax, flips, text, frac = _diff(a, b, ids, classes, gate_key, key)
        if key.startswith("int8/"):
            ok = dmax <= int8_atol and frac <= int8_max_differing
            text += f"; {frac:.2%} differ"
        else:
            ok = dmax <= atol
        status = "ok" if ok else "FAIL"
        label = key if gate_key == key else f"{key} vs x86_64 {gate_key}"
        print(f"  {label:42s} {text} [{status}]")
        for f in flips[:5]:
            print(f"      flip: record {f[0]} {f[1]} {f[2]:.6f} vs {f[3]:.6f} (threshold {thr[f[1]]:.4f})")
        bad += not ok
        if gate_key != key:
            dmax2, flips2, text2, frac2 = _diff(a, b, ids, classes, key, key)
            note = "" if dmax2 <= int8_atol else " [not gated: x86_64's saturating int8 kernels, see below]"
            text2 += f"; {frac2:.2%} differ"
            print(f"  {key + ' vs x86_64 ' + key:42s} {text2}{note}")
            for f in flips2[:5]:
                print(f"      flip: record {f[0]} {f[1]} {f[2]:.6f} (x86_64) vs {f[3]:.6f} (threshold {thr[f[1]]:.4f})")
    if ref_int8 and "int8/onnxruntime" in keys_a:
        dmax, flips, text, frac = _diff(a, a, ids, classes, ref_int8, "int8/onnxruntime")
        print(f"  {a['machine']} alone: int8 default vs session.x64quantprecision=1: {text}; {frac:.2%} differ")
        if dmax > int8_atol:
            print("      x86_64's default int8 kernels (QLinearConv/QGemm: u8 x s8 pairs summed in saturating int16 "
                  "lanes on CPUs without VNNI) differ from exact int8 arithmetic, which aarch64 and x86_64 with "
                  "session.x64quantprecision=1 agree on")
    for name, run in ((a_path, a), (b_path, b)):
        split = [i for i in ids if run["records"][i].get("preprocess_engines_agree") is False]
        if split:
            print(f"  FAIL: in {name}, the engines ({run.get('engines')}) disagree on records {split[:10]}")
            bad += 1
    if "preprocess_sha256" in a["records"][ids[0]]:
        differ = [i for i in ids if a["records"][i].get("preprocess_sha256") != b["records"][i].get("preprocess_sha256")]
        print(f"  preprocess output: {len(ids) - len(differ)}/{len(ids)} records bit-identical"
              + ("" if not differ else f" [FAIL: {differ[:10]}]"))
        for i in differ[:3]:
            ha, hb = a["records"][i].get("preprocess_f32_hex"), b["records"][i].get("preprocess_f32_hex")
            if ha and hb:
                xa = np.frombuffer(bytes.fromhex(ha), np.float32)
                xb = np.frombuffer(bytes.fromhex(hb), np.float32)
                print(f"      record {i}: {np.count_nonzero(xa != xb)} samples differ, max |dx| {np.abs(xa - xb).max():.3e}")
        bad += bool(differ)
    return 1 if bad else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("records_dir")
    r.add_argument("out")
    r.add_argument("--limit", type=int)
    c = sub.add_parser("compare")
    c.add_argument("reference")
    c.add_argument("other")
    c.add_argument("--atol", type=float, default=1e-3)
    c.add_argument("--int8-atol", type=float, default=INT8_ATOL)
    c.add_argument("--int8-max-differing", type=float, default=INT8_MAX_DIFFERING)
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a.records_dir, a.out, a.limit)
        return 0
    return compare(a.reference, a.other, a.atol, a.int8_atol, a.int8_max_differing)


if __name__ == "__main__":
    sys.exit(main())
