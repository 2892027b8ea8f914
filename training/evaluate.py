"""Evaluate ONNX models on the validation (fold 9) and, when present, test (fold 10) records.

    python -m training.evaluate --run runs/NAME [--model FILE.onnx ...] [--out DIR]

Macro and per-class ROC AUC (sklearn), per-class F1 at thresholds tuned on the validation folds
(maximum F1), accuracy (exact multi-label match and per class), multi-label confusion matrices,
90% bootstrap intervals over records (>= 100 resamples), and a naive-prevalence baseline. Writes
``report.json``, ``roc_<model>.png`` and ``confusion_<model>.png``.

Thresholds are tuned on fold 9 and, on fold 9 itself, the F1 figures are therefore optimistic;
the AUCs do not depend on thresholds.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")


def macro_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, list[float]]:
    """Macro ROC AUC (unweighted mean over classes) and the per-class values."""
    from sklearn.metrics import roc_auc_score

    per = [float(roc_auc_score(y[:, k], p[:, k])) for k in range(y.shape[1])]
    return float(np.mean(per)), per


def tune_thresholds(y: np.ndarray, p: np.ndarray) -> list[float]:
    """Per class, the probability threshold that maximizes F1 on (y, p)."""
    from sklearn.metrics import precision_recall_curve

    out = []
    for k in range(y.shape[1]):
        prec, rec, thr = precision_recall_curve(y[:, k], p[:, k])
        f1 = 2 * prec[:-1] * rec[:-1] / np.maximum(prec[:-1] + rec[:-1], 1e-12)
        out.append(float(thr[int(np.argmax(f1))]))
    return out


def f1_scores(y: np.ndarray, pred: np.ndarray) -> list[float]:
    tp = (pred & (y == 1)).sum(0)
    fp = (pred & (y == 0)).sum(0)
    fn = (~pred & (y == 1)).sum(0)
    return [float(v) for v in 2 * tp / np.maximum(2 * tp + fp + fn, 1)]


def point_metrics(y: np.ndarray, p: np.ndarray, thresholds) -> dict:
    y = y.astype(np.uint8)
    pred = p >= np.asarray(thresholds)[None, :]
    auc, per = macro_auc(y, p)
    f1 = f1_scores(y, pred)
    return {"macro_auc": auc, "per_class_auc": dict(zip(CLASSES, per)),
            "macro_f1": float(np.mean(f1)), "per_class_f1": dict(zip(CLASSES, f1)),
            "exact_match_accuracy": float((pred == (y == 1)).all(1).mean()),
            "per_class_accuracy": dict(zip(CLASSES, [float(v) for v in (pred == (y == 1)).mean(0)]))}


def confusion(y: np.ndarray, p: np.ndarray, thresholds) -> dict:
    from sklearn.metrics import multilabel_confusion_matrix

    m = multilabel_confusion_matrix(y, (p >= np.asarray(thresholds)[None, :]).astype(int))
    return {c: {"tn": int(a[0, 0]), "fp": int(a[0, 1]), "fn": int(a[1, 0]), "tp": int(a[1, 1])}
            for c, a in zip(CLASSES, m)}


def bootstrap(y: np.ndarray, p: np.ndarray, thresholds, n: int, ci: float, seed: int) -> dict:
    """Percentile intervals of the point metrics over ``n`` record resamples."""
    if n < 100:
        raise ValueError(f"bootstrap needs >= 100 resamples, got {n}")
    rng = np.random.default_rng(seed)
    rows = {"macro_auc": [], "macro_f1": [], "exact_match_accuracy": []}
    rows.update({f"auc_{c}": [] for c in CLASSES})
    rows.update({f"f1_{c}": [] for c in CLASSES})
    done = 0
    while done < n:
        idx = rng.integers(0, len(y), len(y))
        yb = y[idx]
        if (yb.sum(0) == 0).any() or (yb.sum(0) == len(yb)).any():
            continue  # a class without both outcomes has no AUC; draw again
        m = point_metrics(yb, p[idx], thresholds)
        rows["macro_auc"].append(m["macro_auc"])
        rows["macro_f1"].append(m["macro_f1"])
        rows["exact_match_accuracy"].append(m["exact_match_accuracy"])
        for c in CLASSES:
            rows[f"auc_{c}"].append(m["per_class_auc"][c])
            rows[f"f1_{c}"].append(m["per_class_f1"][c])
        done += 1
    lo, hi = 100 * (1 - ci) / 2, 100 * (1 + ci) / 2
    return {k: [float(np.percentile(v, lo)), float(np.percentile(v, hi))] for k, v in rows.items()} | {
        "resamples": n, "ci": ci, "seed": seed}


def naive_baseline(y_train: np.ndarray, y: np.ndarray) -> dict:
    """Predict the training prevalence for every record: AUC 0.5; F1 of always-positive; accuracy of
    the per-class majority decision."""
    prev = y_train.mean(0)
    always = np.ones_like(y, dtype=bool)
    majority = np.broadcast_to(prev >= 0.5, y.shape)
    return {"training_prevalence": dict(zip(CLASSES, [float(v) for v in prev])), "macro_auc": 0.5,
            "per_class_f1_always_positive": dict(zip(CLASSES, f1_scores(y.astype(np.uint8), always))),
            "per_class_accuracy_majority": dict(zip(CLASSES, [float(v) for v in (majority == (y == 1)).mean(0)])),
            "exact_match_accuracy_majority": float((majority == (y == 1)).all(1).mean())}


def evaluate_predictions(y: np.ndarray, p: np.ndarray, thresholds, *, bootstrap_samples=200, ci=0.90,
                         seed=7) -> dict:
    out = point_metrics(y, p, thresholds)
    out["n_records"] = int(len(y))
    out["thresholds"] = dict(zip(CLASSES, [float(t) for t in thresholds]))
    out["confusion"] = confusion(y, p, thresholds)
    out["bootstrap"] = bootstrap(y, p, thresholds, bootstrap_samples, ci, seed)
    return out


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
    from .data import fit_stats, load_dataset
    from .export import onnx_predict, onnx_session

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
            preds[name, split] = onnx_predict(sess, np.asarray(ds.signals[rows], np.float32), demo[rows])
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
    from edgecardio import Classifier
    from scipy.signal import resample_poly

    from . import modelcard as mc
    from .config import repo_path
    from .data import read_database, read_record_official, read_statements, superclass_labels

    root = repo_path(cfg["data"]["root"])
    db = read_database(root)
    db = db[db.strat_fold.isin(folds or cfg["data"]["val_folds"])]
    y = superclass_labels(db.scp_codes, read_statements(root))
    keep = y.any(1)
    db, y = db[keep], y[keep]
    if limit:
        db, y = db.iloc[:limit], y[:limit]
    clf = Classifier(model_dir, precision=precision, backend=backend)
    lo_h, hi_h = mc.VALID_RANGES["height_cm"]
    lo_w, hi_w = mc.VALID_RANGES["weight_kg"]
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
            kw["sex"].append(None if np.isnan(r.sex) else ("male", "female")[int(r.sex)])
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
