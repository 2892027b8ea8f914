"""How much diagnostic information the per-lead normalization removes: the packaged model's fold-9
logits, alone and stacked with each lead's raw amplitude, scored by 5-fold cross-validation inside
fold 9 (so nothing is scored on the records it was fitted on).

    .venv/bin/python benchmarks/amplitude_probe.py [--model resnet_s] [--out benchmarks/results_amplitude_probe.json]

The runtime z-scores every lead (its contract: ``ecg`` [batch, 12, 1000] in per-lead standard
units), so the network never sees a voltage. Voltage criteria are how hypertrophy is read from an
ECG (Sokolow-Lyon: S in V1 + R in V5 or V6 > 3.5 mV), and HYP is the class the model does worst on.
The probe measures each lead's amplitude (0.5-99.5 percentile range of the raw record in mV, after
removing its median, logged) and fits, per class, a logistic regression on [model logit, 12 log
amplitudes] and on the 12 log amplitudes alone. If the stacked AUC is well above the model's, the
information is in the raw signal and the normalization throws it away.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import load_config, repo_path  # noqa: E402
from training.data import iter_official, load_dataset  # noqa: E402
from training.labels import read_database  # noqa: E402
from training.onnx_io import onnx_predict  # noqa: E402


def log_amplitudes(root: Path, ecg_ids: np.ndarray) -> np.ndarray:
    db = read_database(root).loc[ecg_ids]
    amp = {}
    for e, sig, gain in iter_official(root, db):
        x = sig.astype(np.float64) / gain
        x -= np.median(x, axis=1, keepdims=True)
        amp[e] = np.log(np.percentile(x, 99.5, axis=1) - np.percentile(x, 0.5, axis=1) + 1e-3)
    return np.stack([amp[int(e)] for e in ecg_ids])


def logits(model_dir: Path, x: np.ndarray, demo: np.ndarray) -> np.ndarray:
    """The graph's output as logits (the sigmoid undone; float64 keeps the ranks)."""
    card = json.loads((model_dir / "model_card.json").read_text())
    p = onnx_predict(model_dir / card["files"]["fp32"], x, demo).astype(np.float64).clip(1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def main(argv=None):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from edgecardio.packaged import DEFAULT_MODEL, model_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--config", default="training/configs/resnet_s.json")
    ap.add_argument("--out", default="benchmarks/results_amplitude_probe.json")
    a = ap.parse_args(argv)
    t0 = time.time()
    cfg = load_config(REPO / a.config)
    ds = load_dataset(cfg, require_native=True)
    v = ds.split.val
    mdir = model_dir(a.model)
    card = json.loads((mdir / "model_card.json").read_text())
    z = logits(mdir, np.asarray(ds.signals[v], np.float32), ds.demographics(card["demographics"]["stats"])[v])
    amp = log_amplitudes(repo_path(cfg["data"]["root"]), ds.ecg_ids[v])
    y = ds.labels[v]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    rows = {}
    for k, c in enumerate(card["classes"]):
        def cv_auc(features):
            p = cross_val_predict(LogisticRegression(max_iter=5000), features, y[:, k], cv=cv, method="predict_proba")
            return float(roc_auc_score(y[:, k], p[:, 1]))
        rows[c] = {"model": round(float(roc_auc_score(y[:, k], z[:, k])), 4),
                   "model_plus_amplitude_cv": round(cv_auc(np.column_stack([z[:, k], amp])), 4),
                   "amplitude_alone_cv": round(cv_auc(amp), 4)}
        print(c, rows[c], flush=True)
    macro = {key: round(float(np.mean([r[key] for r in rows.values()])), 4) for key in next(iter(rows.values()))}
    macro["model_plus_amplitude_on_hyp_only"] = round(float(np.mean(
        [r["model_plus_amplitude_cv"] if c == "HYP" else r["model"] for c, r in rows.items()])), 4)
    print("macro", macro)
    out = {"what": __doc__.split("\n\n")[0].strip(), "model": a.model, "folds": cfg["data"]["val_folds"],
           "n_records": int(len(y)), "per_class_auc": rows, "macro_auc": macro,
           "seconds": round(time.time() - t0, 1)}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
