"""Evaluate ONNX models on the validation (fold 9) and, when present, test (fold 10) records.

    python -m training.evaluate --run runs/NAME [--model FILE.onnx ...] [--out DIR]

The metrics of :mod:`training.metrics` (macro and per-class ROC AUC, per-class F1 at thresholds
tuned on the validation folds, accuracy, multi-label confusion matrices, 90% bootstrap intervals,
a naive-prevalence baseline) for every model and split. Writes ``report.json``,
``roc_<model>_<split>.png`` and ``confusion_<model>_<split>.png``.

Thresholds are tuned on fold 9 and, on fold 9 itself, the F1 figures are therefore optimistic;
the AUCs do not depend on thresholds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edgecardio import modelcard
from edgecardio.modelcard import CLASSES

from .config import repo_path
from .data import fit_stats, load_dataset, ptbxl_sex, read_record_official
from .labels import read_database, read_statements, superclass_labels
from .metrics import evaluate_predictions, macro_auc, naive_baseline, tune_thresholds
from .onnx_io import onnx_predict, onnx_session

def plot_roc(y, p, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(5, 5))
    for k, c in enumerate(CLASSES):
        fpr, tpr, _ = roc_curve(y[:, k], p[:, k])
        ax.plot(fpr, tpr, label=f"{c} (AUC {roc_auc_score(y[:, k], p[:, k]):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(conf: dict, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CLASSES), figsize=(2.4 * len(CLASSES), 2.6))
    for ax, c in zip(axes, CLASSES):
        m = np.array([[conf[c]["tn"], conf[c]["fp"]], [conf[c]["fn"], conf[c]["tp"]]])
        ax.imshow(m, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color="k")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["pred -", "pred +"], yticklabels=["true -", "true +"], title=c)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_models(cfg: dict, models: dict, out_dir, tune_on: str | None = None) -> dict:
    """Run each ONNX model (name -> path) on the validation and test folds and write the report.

    Thresholds are tuned per model on the validation folds (max F1); ``tune_on`` names the model
    whose thresholds are applied to every model (the one the runtime ships as default).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(cfg)
    stats = fit_stats(ds.demographics_raw.iloc[ds.split.train])
    demo = ds.demographics(stats)
    ev = cfg["eval"]
    splits = {"validation": ds.split.val}
    if len(ds.split.test):
        splits["test"] = ds.split.test
    y_train = ds.labels[ds.split.train]
    preds = {}
    for name, path in models.items():
        sess = onnx_session(path, threads=cfg["train"]["num_threads"])
        for split, rows in splits.items():
            preds[name, split] = onnx_predict(sess, np.asarray(ds.signals[rows], np.float32), demo[rows],
                                              ds.lead_std_mv[rows])
    thresholds = {name: tune_thresholds(ds.labels[ds.split.val], preds[name, "validation"]) for name in models}
    report = {"demographic_stats": stats, "cache": ds.meta, "splits": {}, "thresholds_tuned_on": "validation",
              "thresholds": {n: dict(zip(CLASSES, t)) for n, t in thresholds.items()}}
    for split, rows in splits.items():
        y = ds.labels[rows]
        sec = {"folds": sorted(set(ds.folds[rows].tolist())), "n_records": int(len(rows)),
               "prevalence": dict(zip(CLASSES, [float(v) for v in y.mean(0)])),
               "naive_prevalence_baseline": naive_baseline(y_train, y), "models": {}}
        for name in models:
            thr = thresholds[tune_on or name]
            p = preds[name, split]
            sec["models"][name] = evaluate_predictions(y, p, thr, bootstrap_samples=ev["bootstrap_samples"],
                                                       ci=ev["bootstrap_ci"], seed=ev["bootstrap_seed"])
            plot_roc(y, p, out_dir / f"roc_{name}_{split}.png", f"{name}, {split} (folds {sec['folds']})")
            plot_confusion(sec["models"][name]["confusion"], out_dir / f"confusion_{name}_{split}.png",
                           f"{name}, {split}: thresholds tuned on validation")
        if len(models) > 1:
            names = list(models)
            sec["max_abs_probability_difference_vs_" + names[0]] = {
                n: float(np.abs(preds[n, split] - preds[names[0], split]).max()) for n in names[1:]}
        report["splits"][split] = sec
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return report


def classifier_auc(cfg: dict, model_dir, precision: str = "int8", fs_hz: int = 100, folds=None,
                   limit: int | None = None, backend: str = "native") -> dict:
    """Macro AUC through ``edgecardio.Classifier`` from raw int16 records of the official layout,
    i.e. the runtime path end to end (native preprocessing, model-card demographics, ORT).

    ``fs_hz=500`` feeds a band-limited 5x upsampling of the 100-Hz records (scipy resample_poly,
    rounded to int16), which the runtime must resample back: the judged 500-Hz check.
    """
    from scipy.signal import resample_poly

    from edgecardio import Classifier

    root = repo_path(cfg["data"]["root"])
    db = read_database(root)
    db = db[db.strat_fold.isin(folds or cfg["data"]["val_folds"])]
    y = superclass_labels(db.scp_codes, read_statements(root))
    keep = y.any(1)
    db, y = db[keep], y[keep]
    if limit:
        db, y = db.iloc[:limit], y[:limit]
    clf = Classifier(model_dir, precision=precision, backend=backend)
    lo_h, hi_h = modelcard.VALID_RANGES["height_cm"]
    lo_w, hi_w = modelcard.VALID_RANGES["weight_kg"]
    probs = np.empty((len(db), len(CLASSES)), np.float32)
    batch = 64
    rows = list(db.itertuples())
    for i in range(0, len(rows), batch):
        sigs, kw = [], {"age": [], "sex": [], "height_cm": [], "weight_kg": []}
        for r in rows[i:i + batch]:
            x, gain = read_record_official(root, r.filename_lr)
            if fs_hz != 100:
                x = np.clip(np.rint(resample_poly(x.astype(np.float64), fs_hz // 100, 1, axis=-1)), -32768, 32767).astype(np.int16)
            sigs.append(x)
            kw["age"].append(None if np.isnan(r.age) else min(float(r.age), 90.0))  # PTB-XL: 300 = over 89
            kw["sex"].append(ptbxl_sex(r.sex))
            kw["height_cm"].append(float(r.height) if lo_h <= r.height <= hi_h else None)  # NaN fails both
            kw["weight_kg"].append(float(r.weight) if lo_w <= r.weight <= hi_w else None)
        preds = clf.predict_batch(sigs, fs_hz, gain_per_mv=gain, **kw)
        probs[i:i + len(preds)] = np.stack([np.asarray([p.probabilities[c] for c in CLASSES]) for p in preds])
    auc, per = macro_auc(y, probs)
    return {"precision": precision, "fs_hz": fs_hz, "backend": clf.backend, "n_records": int(len(y)),
            "macro_auc": auc, "per_class_auc": dict(zip(CLASSES, per)), "probabilities": probs}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory (config.json and the ONNX files)")
    ap.add_argument("--model", action="append", default=[], metavar="[NAME=]FILE.onnx",
                    help="default: the run's lightecgnet_fp32.onnx and lightecgnet_int8.onnx")
    ap.add_argument("--tune-on", help="apply this model's validation thresholds to all models")
    ap.add_argument("--out", help="default: RUN/eval")
    a = ap.parse_args(argv)
    run = Path(a.run)
    cfg = json.loads((run / "config.json").read_text())
    models = {}
    for item in a.model:
        name, _, path = item.rpartition("=")
        models[name or Path(path).stem] = Path(path)
    if not models:
        models = {n: run / f"lightecgnet_{n}.onnx" for n in ("fp32", "int8") if (run / f"lightecgnet_{n}.onnx").is_file()}
    if not models:
        raise SystemExit(f"no ONNX models given and none in {run}")
    rep = evaluate_models(cfg, models, a.out or run / "eval", tune_on=a.tune_on)
    for split, sec in rep["splits"].items():
        for name, m in sec["models"].items():
            b = m["bootstrap"]["macro_auc"]
            print(f"{split:10s} {name:6s} macro AUC {m['macro_auc']:.4f} [{b[0]:.4f}, {b[1]:.4f}]  "
                  f"macro F1 {m['macro_f1']:.4f}  " + " ".join(f"{c} {v:.3f}" for c, v in m["per_class_auc"].items()))


if __name__ == "__main__":
    main()
