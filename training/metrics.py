"""Metrics of multi-label probabilities against labels (numpy and scikit-learn; no torch, no ONNX).

Macro and per-class ROC AUC, per-class F1 at thresholds tuned for maximum F1, exact-match and
per-class accuracy, multi-label confusion counts, percentile bootstrap intervals over records and a
naive-prevalence baseline, all in the model-card class order.
"""
from __future__ import annotations

import numpy as np

from edgecardio.modelcard import CLASSES


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
