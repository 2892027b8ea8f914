"""Build the app's bundled examples: a few PTB-XL fold-9 records (100 Hz int16) with their metadata.

    .venv/bin/python tools/make_app_examples.py [--ptbxl ../shared/ptbxl]

Writes ``python/edgecardio/app/examples/ptbxl_fold9.npz``: ``signals`` int16 ``[k, 12, 1000]`` (ADC
counts, 1000 per mV, leads I, II, III, aVR, aVL, aVF, V1-V6) and ``meta`` (a JSON string: per record
the ECG id, demographics, the cardiologists' report and SCP statements, their superclasses).

Which records: for each superclass, the first fold-9 record in database order that a human validated,
that carries no technician's quality remark, whose diagnostic statements map to that superclass alone,
and that the packaged INT8 model labels exactly so; then the first such record with two superclasses.
They show what the app does; being chosen where the model agrees, they say nothing about accuracy.
PTB-XL (Wagner et al. 2020, PhysioNet) is CC BY 4.0: the app and the README attribute it.
"""
from __future__ import annotations

import argparse
import ast
import csv
import io
import json
import lzma
import math
from pathlib import Path

import numpy as np

import edgecardio

OUT = Path(__file__).resolve().parent.parent / "python" / "edgecardio" / "app" / "examples" / "ptbxl_fold9.npz"
QUALITY_COLUMNS = ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems", "extra_beats", "pacemaker")


def _number(text: str):
    try:
        v = float(text)
    except ValueError:
        return None
    return None if math.isnan(v) else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ptbxl", default="../shared/ptbxl")
    a = ap.parse_args()
    src = Path(a.ptbxl)
    with open(src / "scp_statements.csv", newline="") as f:
        statements = {r[""]: r for r in csv.DictReader(f)}
    with open(src / "ptbxl_database.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["strat_fold"] == "9"]
    with open(src / "signals_fold9.npy.xz", "rb") as f:
        delta = np.load(io.BytesIO(lzma.decompress(f.read())))
    signals = np.cumsum(delta, axis=2, dtype=np.int16)  # stored as first differences along time
    assert len(signals) == len(rows), (len(signals), len(rows))

    clf = edgecardio.Classifier()
    wanted = [(c,) for c in edgecardio.CLASSES] + [None]  # None: any two superclasses
    picked = {}
    for i, r in enumerate(rows):
        if len(picked) == len(wanted):
            break
        if r["validated_by_human"] != "True" or any(r[q].strip(" ,") for q in QUALITY_COLUMNS):
            continue
        codes = ast.literal_eval(r["scp_codes"])
        truth = tuple(c for c in edgecardio.CLASSES
                      if any(statements.get(k, {}).get("diagnostic_class") == c
                             and statements[k]["diagnostic"] == "1.0" for k in codes))
        slot = truth if truth in wanted else (None if len(truth) == 2 else "skip")
        if slot == "skip" or slot in picked:
            continue
        age, sex = _number(r["age"]), {"0": "male", "1": "female"}.get(r["sex"].split(".")[0])
        height, weight = _number(r["height"]), _number(r["weight"])
        p = clf.predict(signals[i], 100, age=min(age, 120) if age is not None else None, sex=sex,
                        height_cm=height, weight_kg=weight)
        if p.labels != truth:
            continue
        picked[slot] = (i, {
            "ecg_id": int(r["ecg_id"]),
            "file": r["filename_lr"],
            "age": age, "sex": sex, "height_cm": height, "weight_kg": weight,
            "report": r["report"],
            "statements": [{"code": k, "likelihood": v, "description": statements[k]["description"]
                            if k in statements else ""} for k, v in codes.items()],
            "superclasses": list(truth),
            "recording_date": r["recording_date"],
        })
    order = [picked[w] for w in wanted if w in picked]
    missing = [w for w in wanted if w not in picked]
    if missing:
        raise SystemExit(f"no record found for {missing}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {"source": "PTB-XL v1.0.3, stratified fold 9, records100 (100 Hz)",
            "license": "CC BY 4.0",
            "citation": "Wagner, P., Strodthoff, N., Bousseljot, R., Samek, W., Schaeffter, T. (2020). PTB-XL, a "
                        "large publicly available electrocardiography dataset (version 1.0.3). PhysioNet. "
                        "https://doi.org/10.13026/kfzx-aw45",
            "fs_hz": 100, "gain_per_mv": 1000.0, "records": [m for _, m in order]}
    np.savez_compressed(OUT, signals=signals[[i for i, _ in order]], meta=np.array(json.dumps(meta)))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB): " +
          ", ".join(f"{m['ecg_id']} {'+'.join(m['superclasses'])}" for _, m in order))


if __name__ == "__main__":
    main()
