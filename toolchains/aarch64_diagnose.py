#!/usr/bin/env python3
"""Diagnose PTB-XL records with the installed edgecardio, and compare two such runs (aarch64 vs x86_64).

    python toolchains/aarch64_diagnose.py run RECORDS_DIR OUT.json      # RECORDS_DIR from materialize.py
    python toolchains/aarch64_diagnose.py compare X86.json ARM.json [--atol 1e-3]

``run`` reads each record of ``RECORDS_DIR/ptbxl_database.csv`` from its WFDB files, with its age, sex,
height and weight, and writes, for every packaged precision and backend (the native C API runner and
the onnxruntime Python API), the five probabilities; and the SHA-256 and values of the native
preprocessing output, which is integer arithmetic and must be the same bits on every CPU.
``compare`` prints the largest probability differences and any label that flips, and exits 1 when a
probability differs by more than ``--atol`` or the preprocessing output differs at all.

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


def run(records_dir, out_path, limit=None):
    import edgecardio
    from edgecardio import wfdb_io
    from edgecardio.classifier import Classifier, PRECISIONS

    rows = list(csv.DictReader(open(os.path.join(records_dir, "ptbxl_database.csv"), newline="")))
    if limit:
        rows = rows[:limit]
    backends = ["native", "onnxruntime"] if edgecardio.HAS_NATIVE_ORT else ["onnxruntime"]
    clfs = {(p, b): Classifier(precision=p, backend=b) for p in PRECISIONS for b in backends}
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


def compare(a_path, b_path, atol):
    a, b = json.load(open(a_path)), json.load(open(b_path))
    classes = a["classes"]
    ids = sorted(set(a["records"]) & set(b["records"]), key=int)
    if not ids or set(a["records"]) != set(b["records"]):
        print(f"error: the runs cover different records ({len(a['records'])} vs {len(b['records'])})")
        return 1
    print(f"{len(ids)} records: {a['machine']} (engine {a['engine']}, ORT {a['ort_version']}) vs "
          f"{b['machine']} (engine {b['engine']}, ORT {b['ort_version']}, {b['cpu_features']})")
    bad = 0
    thr = a["thresholds"]
    for key in a["records"][ids[0]]["probabilities"]:
        if key not in b["records"][ids[0]]["probabilities"]:
            print(f"  {key}: only in {a_path}")
            bad += 1
            continue
        pa = np.array([a["records"][i]["probabilities"][key] for i in ids])
        pb = np.array([b["records"][i]["probabilities"][key] for i in ids])
        d = np.abs(pa - pb)
        flips = [(ids[r], classes[c], pa[r, c], pb[r, c]) for r, c in zip(*np.nonzero(
            (pa >= np.array([thr[c] for c in classes])) != (pb >= np.array([thr[c] for c in classes]))))]
        worst = np.unravel_index(np.argmax(d), d.shape)
        per_class = ", ".join(f"{c} {d[:, j].max():.2e}" for j, c in enumerate(classes))
        status = "ok" if d.max() <= atol else "FAIL"
        print(f"  {key:20s} max |dp| {d.max():.3e} (record {ids[worst[0]]} {classes[worst[1]]}), "
              f"exact {np.mean(d == 0):.0%}; per class: {per_class}; label flips: {len(flips)} [{status}]")
        for f in flips[:5]:
            print(f"      flip: record {f[0]} {f[1]} {f[2]:.6f} vs {f[3]:.6f} (threshold {thr[f[1]]:.4f})")
        bad += d.max() > atol
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
    a = ap.parse_args(argv)
    if a.cmd == "run":
        run(a.records_dir, a.out, a.limit)
        return 0
    return compare(a.reference, a.other, a.atol)


if __name__ == "__main__":
    sys.exit(main())
