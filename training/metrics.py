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


# ----------------------------------------------------------------------------------------------
# Calibration: how far the probabilities are from the observed frequencies (per class)

#: Reliability bins: equal-mass (each bin holds the same number of records) is the headline, because
#: most probabilities sit near 0 or 1 and equal-width bins leave the middle nearly empty and noisy.
CALIBRATION_BINS = 15
BIN_STRATEGIES = ("equal_mass", "equal_width")


def _check_binary(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, np.float64).ravel(), np.asarray(p, np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"labels and probabilities must be two non-empty vectors of one length, got {y.size} "
                         f"and {p.size}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    if not np.all((p >= 0) & (p <= 1)):
        raise ValueError("probabilities must lie in [0, 1] (pass sigmoid outputs, not logits)")
    return y, p


def reliability_bins(y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS,
                     strategy: str = "equal_mass") -> dict:
    """Per bin: the mean probability, the observed fraction of positives and the record count.

    ``equal_mass`` sorts the records by probability and cuts them into ``n_bins`` groups whose
    sizes differ by at most one (tied probabilities may straddle a cut); ``equal_width`` cuts
    [0, 1] into ``n_bins`` intervals, each closed on the left (the last also on the right); empty
    bins are dropped.
    """
    y, p = _check_binary(y, p)
    if strategy not in BIN_STRATEGIES:
        raise ValueError(f"strategy must be one of {BIN_STRATEGIES}, got {strategy!r}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if strategy == "equal_mass":
        groups = np.array_split(np.argsort(p, kind="stable"), min(n_bins, p.size))
    else:
        which = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
        groups = [np.flatnonzero(which == b) for b in range(n_bins)]
        groups = [g for g in groups if g.size]
    return {"mean_probability": np.array([p[g].mean() for g in groups]),
            "fraction_positive": np.array([y[g].mean() for g in groups]),
            "count": np.array([g.size for g in groups])}


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS,
                               strategy: str = "equal_mass") -> float:
    """ECE of one class: the record-weighted mean over bins of |observed fraction - mean probability|."""
    b = reliability_bins(y, p, n_bins, strategy)
    return float(np.sum(b["count"] * np.abs(b["fraction_positive"] - b["mean_probability"])) / b["count"].sum())


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    y, p = _check_binary(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-7) -> float:
    """Mean negative log-likelihood (nats); probabilities clipped to [eps, 1 - eps] so a float32 0 or 1
    costs a finite amount."""
    y, p = _check_binary(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def calibration_metrics(y: np.ndarray, p: np.ndarray, n_bins: int = CALIBRATION_BINS) -> dict:
    """Per class (model-card order) and macro: ECE with equal-mass bins (headline) and with equal-width
    bins, Brier score and log loss."""
    y, p = np.asarray(y), np.asarray(p)
    if y.ndim != 2 or y.shape != p.shape or y.shape[1] != len(CLASSES):
        raise ValueError(f"labels and probabilities must both be [n, {len(CLASSES)}], got {y.shape} and {p.shape}")
    per = {c: {"ece": expected_calibration_error(y[:, k], p[:, k], n_bins, "equal_mass"),
               "ece_equal_width": expected_calibration_error(y[:, k], p[:, k], n_bins, "equal_width"),
               "brier": brier_score(y[:, k], p[:, k]), "log_loss": log_loss(y[:, k], p[:, k])}
           for k, c in enumerate(CLASSES)}
    macro = {m: float(np.mean([per[c][m] for c in CLASSES])) for m in per[CLASSES[0]]}
    return {"per_class": per, "macro": macro, "n_records": int(len(y)), "n_bins": n_bins}
