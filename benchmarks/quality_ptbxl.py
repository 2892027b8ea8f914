"""How well each native quality index separates the PTB-XL records its technicians annotated from
the clean ones (folds 1-9, 100 Hz int16 records as shipped), written to JSON.

    .venv/bin/python benchmarks/quality_ptbxl.py [--ptbxl ../shared/ptbxl] [--out benchmarks/results_quality_ptbxl.json]

For each annotation column (``baseline_drift``, ``static_noise``, ``burst_noise``,
``electrodes_problems``: free text naming leads, empty when clean):
  * record level: positives are the records with that annotation, negatives the records with none of
    the four; a record's score is its worst lead's index (lowest kSQI / pSQI / basSQI, highest hf /
    flat run), and ROC AUC is computed from the scores (Mann-Whitney, ties counted half);
  * lead level: positives are the leads the annotation names (``I-AVF`` is a range in the standard
    order, ``alles`` and unparsed words mean all twelve), negatives every lead of the clean records.
The flags at the default thresholds are reported as the fraction of positives / negatives flagged.
"""
from __future__ import annotations

import argparse
import io
import json
import lzma
import platform
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

import edgecardio
from edgecardio import quality as eq

COLUMNS = ("baseline_drift", "static_noise", "burst_noise", "electrodes_problems")
LEADS = [n.upper() for n in eq.LEAD_NAMES]
# index -> sign that makes "higher = worse"
SCORES = {"ksqi": -1.0, "psqi": -1.0, "bassqi": -1.0, "hf": 1.0, "flat_run": 1.0}


def parse_leads(text) -> np.ndarray:
    """12 booleans: the leads a technician's note names."""
    out = np.zeros(12, bool)
    if not isinstance(text, str):
        return out
    named = False
    for tok in re.split(r"[,;\s]+", text.upper().replace("?", "")):
        tok = tok.strip()
        if not tok:
            continue
        if "-" in tok:
            a, _, b = tok.partition("-")
            if a in LEADS and b in LEADS and LEADS.index(a) <= LEADS.index(b):
                out[LEADS.index(a): LEADS.index(b) + 1] = True
                named = True
        elif tok in LEADS:
            out[LEADS.index(tok)] = True
            named = True
    if not named:  # "alles", "mittel", "Kontaktprobleme ...": no lead named, take all
        out[:] = True
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC = P(score of a positive > score of a negative), ties counted half."""
    from scipy.stats import rankdata

    r = rankdata(np.concatenate([pos, neg]))
    n1, n0 = len(pos), len(neg)
    return float((r[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def fold_counts(ptbxl: Path, fold: int) -> np.ndarray:
    with open(ptbxl / f"signals_fold{fold}.npy.xz", "rb") as f:
        d = np.load(io.BytesIO(lzma.decompress(f.read())))
    return np.cumsum(d, axis=2, dtype=np.int16)  # stored as first differences


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptbxl", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "ptbxl"))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results_quality_ptbxl.json"))
    ap.add_argument("--folds", default="1-9")
    a = ap.parse_args(argv)
    ptbxl = Path(a.ptbxl)
    lo, _, hi = a.folds.partition("-")
    folds = list(range(int(lo), int(hi or lo) + 1))
    db = pd.read_csv(ptbxl / "ptbxl_database.csv")
    idx_all, flags_all, rows = [], [], []
    t0 = time.perf_counter()
    for fold in folds:
        x = fold_counts(ptbxl, fold)
        sub = db[db.strat_fold == fold]
        assert len(sub) == len(x)
        for rec in x:
            q = eq.window_quality(rec, 100)
            idx_all.append(q.indices)
            flags_all.append(q.flags)
        rows.append(sub)
        print(f"fold {fold}: {len(x)} records, {time.perf_counter() - t0:.1f} s", flush=True)
    seconds = time.perf_counter() - t0
    table = pd.concat(rows, ignore_index=True)
    idx = np.stack(idx_all)        # (records, 12, 7)
    flags = np.stack(flags_all)    # (records, 12)
    clean = table[list(COLUMNS)].isna().all(axis=1).to_numpy()
    named = {c: np.stack([parse_leads(v) for v in table[c]]) for c in COLUMNS}
    res = {"records": int(len(table)), "clean_records": int(clean.sum()), "folds": folds,
           "seconds": round(seconds, 1), "thresholds": eq.DEFAULT_THRESHOLDS,
           "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
           "edgecardio": edgecardio.__version__, "auc_record": {}, "auc_lead": {}, "flag_rates": {}}
    for col in COLUMNS:
        pos = table[col].notna().to_numpy()
        res["auc_record"][col] = {"n_positive": int(pos.sum())}
        res["auc_lead"][col] = {"n_positive": int(named[col][pos].sum())}
        for name, sign in SCORES.items():
            s = sign * idx[:, :, eq.INDEX_NAMES.index(name)]
            worst = s.max(axis=1)
            res["auc_record"][col][name] = round(auc(worst[pos], worst[clean]), 4)
            lead_pos = s[pos][named[col][pos]]
            res["auc_lead"][col][name] = round(auc(lead_pos, s[clean].ravel()), 4)
        rates = {}
        for fname, bit in eq.FLAGS.items():
            f = (flags & bit) != 0
            rates[fname] = {"positive_leads": round(float(f[pos][named[col][pos]].mean()), 4),
                            "clean_leads": round(float(f[clean].mean()), 4)}
        res["flag_rates"][col] = rates
    unusable = (flags & sum(eq.FLAGS[f] for f in eq.UNUSABLE_FLAGS)) != 0
    untrusted = unusable.sum(axis=1) > eq.DEFAULT_MAX_BAD_LEADS
    res["untrusted_records"] = {"clean": round(float(untrusted[clean].mean()), 4),
                                **{c: round(float(untrusted[table[c].notna().to_numpy()].mean()), 4) for c in COLUMNS}}
    Path(a.out).write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: res[k] for k in ("auc_record", "auc_lead", "untrusted_records")}, indent=1))
    print(f"-> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
