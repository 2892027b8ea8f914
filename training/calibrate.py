"""Calibrate the shipped probabilities on the validation fold, inside the ONNX graphs.

    python -m training.calibrate --model-dir python/edgecardio/models/resnet_s_v [--write] [--out DIR]

The model is trained with a positive-class weight, which pushes the probabilities of the rare
classes up. This command measures how far each class's probabilities are from the observed
frequencies on fold 9 (ECE with 15 equal-mass bins as the headline, equal-width bins beside it,
Brier score, log loss), fits two per-class maps of the logit ``z`` (the Sigmoid's input):

* ``temperature``: ``sigmoid(z / T[k])``,
* ``platt``: ``sigmoid(a[k] * z + b[k])``,

both by maximum likelihood, and estimates each one's out-of-sample effect by k-fold cross-validation
within fold 9 (scoring on the records a map was fitted on is optimistic; both figures are
reported). ``auto`` takes the map with the lower cross-validated log loss and ships it only when it
also lowers the cross-validated ECE; otherwise the card records ``none`` with the numbers.

The logits come from the shipped graphs run by ``edgecardio.Classifier`` on the raw fold-9 records
(the runtime path: native preprocessing, card demographics), with the graph's Sigmoid made an
Identity, so what is calibrated is what users run. ``--write`` inserts ``Mul`` (and for Platt
``Add``) nodes with per-class constants before the Sigmoid of every shipped graph, so every runtime
gets calibrated probabilities without a code change, maps the card's thresholds through the same
increasing function (the predicted labels do not change; checked on the fold-9 records through the
rewritten graphs), and writes the card's ``calibration`` section and the new SHA-256 digests.
Running it again refits from the uncalibrated graph (the inserted nodes are recognized and removed
first), so it never compounds.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecardio import modelcard
from edgecardio.modelcard import CLASSES

from .config import CHOICES, REPO, repo_path
from .evaluate import classifier_auc
from .labels import read_database, read_statements, superclass_labels
from .metrics import CALIBRATION_BINS, calibration_metrics, macro_auc, reliability_bins

METHODS = ("temperature", "platt")
#: Names of what the rewrite inserts: recognized (and removed) when a calibrated graph is calibrated again.
SCALE_NODE, SHIFT_NODE = "calibration_scale", "calibration_shift"
CARD = "model_card.json"
MAPPED_RULE = "; then mapped through the calibration (the same labels on those records)"


# ----------------------------------------------------------------------------------------------
# The maps and their fit


def sigmoid(z) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, np.float64)))  # no overflow for large |z|


def logit(p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _nll(u: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.logaddexp(0.0, u) - y * u))


def fit_logistic(z: np.ndarray, y: np.ndarray, shift: bool, max_iter: int = 100) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``P(y=1) = sigmoid(a*z + b)`` (``b`` fixed at 0 unless
    ``shift``), by Newton's method with step halving (the likelihood is concave in (a, b))."""
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    if y.min() == y.max():
        raise ValueError("calibration needs both positive and negative records of every class")
    x = np.stack([z, np.ones_like(z)], 1) if shift else z[:, None]
    w = np.zeros(x.shape[1])
    w[0] = 1.0
    loss = _nll(x @ w, y)
    for _ in range(max_iter):
        s = sigmoid(x @ w)
        grad = x.T @ (s - y) / len(y)
        hess = (x * (s * (1 - s))[:, None]).T @ x / len(y) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-6 and _nll(x @ (w - t * step), y) > loss:
            t *= 0.5
        w -= t * step
        new = _nll(x @ w, y)
        done = loss - new < 1e-13
        loss = new
        if done:
            break
    a, b = float(w[0]), float(w[1]) if shift else 0.0
    if not a > 0:
        raise ValueError(f"the fitted scale {a:.4g} is not positive: these logits do not rank the class upwards")
    return a, b


@dataclass(frozen=True)
class Calibration:
    """Per-class ``sigmoid(scale[k] * z + shift[k])`` of the logit ``z``; temperature = 1 / scale."""

    method: str  # "none", "temperature" or "platt"
    scale: tuple
    shift: tuple

    @classmethod
    def identity(cls) -> "Calibration":
        return cls("none", (1.0,) * len(CLASSES), (0.0,) * len(CLASSES))

    @classmethod
    def fit(cls, method: str, z: np.ndarray, y: np.ndarray) -> "Calibration":
        if method == "none":
            return cls.identity()
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {('none',) + METHODS}, got {method!r}")
        ab = [fit_logistic(z[:, k], y[:, k], shift=method == "platt") for k in range(len(CLASSES))]
        return cls(method, tuple(a for a, _ in ab), tuple(b for _, b in ab))

    def logits(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, np.float64) * np.asarray(self.scale) + np.asarray(self.shift)

    def probabilities(self, z: np.ndarray) -> np.ndarray:
        return sigmoid(self.logits(z))

    def map_threshold(self, k: int, t: float) -> float:
        """The probability threshold of class ``k`` after calibration that ``t`` was before (the map is
        increasing, so ``p >= t`` exactly when ``calibrated(p) >= map_threshold(t)``)."""
        if t <= 0.0 or t >= 1.0:
            return float(t)
        return float(sigmoid(self.scale[k] * logit(t) + self.shift[k]))

    def to_card(self) -> dict:
        d = {"scale": dict(zip(CLASSES, self.scale)), "shift": dict(zip(CLASSES, self.shift))}
        if self.method == "temperature":
            d["temperature"] = {c: 1.0 / a for c, a in zip(CLASSES, self.scale)}
        return d


def cross_validated_probabilities(method: str, z: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each record scored by the map fitted on the other k-1
    parts (records shuffled with ``seed``)."""
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 parts, got {k}")
    out = np.empty(z.shape)
    for part in np.array_split(np.random.default_rng(seed).permutation(len(z)), k):
        rest = np.setdiff1d(np.arange(len(z)), part)
        out[part] = Calibration.fit(method, z[rest], y[rest]).probabilities(z[part])
    return out


def compare(z: np.ndarray, y: np.ndarray, *, cv_folds: int = 5, seed: int = 0,
            n_bins: int = CALIBRATION_BINS) -> dict:
    """Every method fitted on all records (in-sample metrics) and cross-validated (out-of-fold
    metrics), with its parameters; ``none`` is the uncalibrated model (no fit: both figures agree)."""
    out = {}
    for method in ("none",) + METHODS:
        cal = Calibration.fit(method, z, y)
        oof = cal.probabilities(z) if method == "none" else cross_validated_probabilities(method, z, y, cv_folds, seed)
        out[method] = {"parameters": cal.to_card(), "in_sample": calibration_metrics(y, cal.probabilities(z), n_bins),
                       "cross_validated": calibration_metrics(y, oof, n_bins), "calibration": cal}
    return out


def choose(comparison: dict, method: str = "auto") -> tuple[str, str]:
    """The method to ship and why. ``auto``: the lower cross-validated macro log loss of the two
    maps, kept only if its cross-validated macro ECE is also below the uncalibrated model's."""
    none = comparison["none"]["cross_validated"]["macro"]
    if method != "auto":
        return method, "forced by the configuration"
    best = min(METHODS, key=lambda m: comparison[m]["cross_validated"]["macro"]["log_loss"])
    cv = comparison[best]["cross_validated"]["macro"]
    if cv["log_loss"] < none["log_loss"] and cv["ece"] < none["ece"]:
        return best, (f"{best}: lowest cross-validated macro log loss ({cv['log_loss']:.4f} vs {none['log_loss']:.4f} "
                      f"uncalibrated) and lower cross-validated macro ECE ({cv['ece']:.4f} vs {none['ece']:.4f})")
    return "none", (f"{best} (the lower cross-validated log loss) does not improve both cross-validated log loss "
                    f"({cv['log_loss']:.4f} vs {none['log_loss']:.4f}) and ECE ({cv['ece']:.4f} vs {none['ece']:.4f})")


# ----------------------------------------------------------------------------------------------
# The ONNX graphs


def _head(graph):
    """The Sigmoid node that produces the graph's probabilities output."""
    nodes = [n for n in graph.node if modelcard.OUTPUT_PROBABILITIES in n.output]
    if len(nodes) != 1 or nodes[0].op_type != "Sigmoid":
        raise ValueError(f"expected the '{modelcard.OUTPUT_PROBABILITIES}' output to come from one Sigmoid node, "
                         f"found {[n.op_type for n in nodes]}: not a LightECGNet export")
    return nodes[0]


def strip_calibration(model):
    """A copy of ``model`` without the nodes :func:`insert_calibration` adds (and whether it had any)."""
    model = copy.deepcopy(model)
    g = model.graph
    head = _head(g)
    by_output = {o: n for n in g.node for o in n.output}
    removed = []
    while head.input[0] in by_output and by_output[head.input[0]].name in (SCALE_NODE, SHIFT_NODE):
        node = by_output[head.input[0]]
        head.input[0] = node.input[0]
        removed.append(node)
    for node in removed:
        g.node.remove(node)
    consts = {i for n in removed for i in n.input[1:]}
    for init in [i for i in g.initializer if i.name in consts]:
        g.initializer.remove(init)
    return model, bool(removed)


def _float_type(model, name: str) -> int:
    from onnx import TensorProto, shape_inference

    inferred = shape_inference.infer_shapes(model)
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.name == name:
            return vi.type.tensor_type.elem_type
    return TensorProto.FLOAT


def insert_calibration(model, cal: Calibration):
    """A copy of the (uncalibrated) ``model`` with ``Mul`` by ``scale`` (and, for Platt, ``Add`` of
    ``shift``) between the logits and the Sigmoid; ``none`` returns it unchanged."""
    from onnx import helper, numpy_helper

    model, had = strip_calibration(model)
    if had:
        raise ValueError("insert_calibration expects an uncalibrated graph")
    if cal.method == "none":
        return model
    g = model.graph
    head = _head(g)
    dtype = helper.tensor_dtype_to_np_dtype(_float_type(model, head.input[0]))
    steps = [(SCALE_NODE, "Mul", cal.scale)] + ([(SHIFT_NODE, "Add", cal.shift)] if cal.method == "platt" else [])
    src = head.input[0]
    at = list(g.node).index(head)
    for name, op, values in steps:
        g.initializer.append(numpy_helper.from_array(np.asarray(values, dtype).reshape(1, -1), f"{name}_value"))
        g.node.insert(at, helper.make_node(op, [src, f"{name}_value"], [f"{name}_out"], name=name))
        src, at = f"{name}_out", at + 1
    head.input[0] = src
    return model


def logit_graph(model):
    """The uncalibrated graph with its Sigmoid made an Identity: the 'probabilities' output carries
    the logits, so the runtime returns them."""
    model, _ = strip_calibration(model)
    _head(model.graph).op_type = "Identity"
    return model


def _save(model, path: Path) -> str:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------------------------
# The runtime path on the validation records


def fold_labels(data_root, folds) -> np.ndarray:
    """Labels of the labeled records of ``folds`` in the order :func:`training.evaluate.classifier_auc`
    scores them."""
    db = read_database(data_root)
    db = db[db.strat_fold.isin(folds)]
    y = superclass_labels(db.scp_codes, read_statements(data_root))
    return y[y.any(1)]


def _runtime_outputs(model_dir: Path, card: dict, graphs: dict, data_root: Path, folds) -> dict:
    """precision -> what ``edgecardio.Classifier`` returns on the raw records through each graph
    (an ONNX ModelProto) put beside a copy of the card with that graph's digest."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="calibrate_") as tmp:
        tmp = Path(tmp)
        card = copy.deepcopy(card)
        for precision, model in graphs.items():
            name = card["files"][precision]
            digest = _save(model, tmp / name)
            for info in card["file_info"].values():
                if info["file"] == name:
                    info["sha256"], info["bytes"] = digest, (tmp / name).stat().st_size
        (tmp / CARD).write_text(json.dumps(card))
        cfg = {"data": {"root": str(data_root), "val_folds": list(folds)}}
        for precision in graphs:
            out[precision] = classifier_auc(cfg, tmp, precision, fs_hz=modelcard.MODEL_FS_HZ)["probabilities"]
    return {k: np.asarray(v, np.float64) for k, v in out.items()}


def _snap(t: float, pairs) -> tuple[float, bool]:
    """``t`` (a float32 value) moved, if it must, to where ``p_new >= t`` selects the records that
    ``p_old >= t_old`` did, for every ``(p_old, t_old, p_new)`` in ``pairs`` (one per graph the
    threshold applies to): an ulp of rounding in the runtime's Sigmoid can cross the analytic value."""
    lo, hi = -np.inf, np.inf
    for p_old, t_old, p_new in pairs:
        pos = p_old >= t_old
        lo = max(lo, p_new[~pos].max()) if (~pos).any() else lo
        hi = min(hi, p_new[pos].min()) if pos.any() else hi
    if lo < t <= hi:
        return t, False
    if not lo < hi:
        raise RuntimeError("the calibrated probabilities do not keep the order of the uncalibrated ones: "
                           "no threshold reproduces the labels")
    return (float(hi) if np.isfinite(hi) else float(np.nextafter(np.float32(lo), np.float32(2)))), True


# ----------------------------------------------------------------------------------------------
# Reliability diagram


def plot_reliability(y: np.ndarray, curves: dict, path, title: str, n_bins: int = CALIBRATION_BINS):
    """One panel per class: observed fraction against mean probability in equal-mass bins for each
    named probability matrix in ``curves`` (e.g. before / after), and their ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .metrics import expected_calibration_error

    fig, axes = plt.subplots(1, len(CLASSES), figsize=(3.0 * len(CLASSES), 3.7), sharey=True)
    for k, (ax, c) in enumerate(zip(axes, CLASSES)):
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        text = []
        for (label, p), style in zip(curves.items(), ("o-", "s-", "^-")):
            b = reliability_bins(y[:, k], p[:, k], n_bins)
            ax.plot(b["mean_probability"], b["fraction_positive"], style, ms=3, lw=1, label=label)
            text.append(f"ECE {expected_calibration_error(y[:, k], p[:, k], n_bins):.3f} {label}")
        # the upper left stays empty: the curves run near the diagonal or below it
        ax.text(0.03, 0.97, "\n".join(text), va="top", fontsize=7, transform=ax.transAxes)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability", title=f"{c} (prevalence {y[:, k].mean():.2f})")
    axes[0].set_ylabel("observed fraction positive")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# The whole step


def _strip_section(comparison: dict) -> dict:
    return {m: {k: v for k, v in d.items() if k != "calibration"} for m, d in comparison.items()}


def calibrate_model_dir(model_dir, *, method: str = "auto", data_root=None, folds=None, cv_folds: int = 5,
                        n_bins: int = CALIBRATION_BINS, seed: int | None = None, write: bool = False,
                        out_dir=None, name: str | None = None) -> dict:
    """Measure, fit and choose the calibration of the model in ``model_dir`` (the package's models
    folder or a run directory: ONNX files and ``model_card.json``) on the validation folds; with
    ``write``, rewrite its graphs and card in place. Returns the report (also written as JSON, with
    the reliability PNG, into ``out_dir`` when given)."""
    import onnx

    model_dir = Path(model_dir)
    allowed = CHOICES[("calibrate", "method")]
    if method not in allowed:
        raise ValueError(f"calibration method must be one of {sorted(allowed)}, got {method!r}")
    card = modelcard.load_card(model_dir / CARD)
    cfg = card.get("training", {}).get("config", {})
    folds = list(folds or cfg.get("data", {}).get("val_folds", [9]))
    data_root = Path(data_root) if data_root else repo_path(cfg.get("data", {}).get("root", "data/ptbxl"))
    if not (data_root / "ptbxl_database.csv").is_file():
        raise FileNotFoundError(f"no PTB-XL official layout at {data_root}: run "
                                f"`python ../shared/ptbxl/materialize.py {data_root} --folds {' '.join(map(str, folds))}` "
                                "or pass --data")
    seed = cfg.get("seed", 0) if seed is None else seed
    name = name or cfg.get("name") or model_dir.name
    default = card.get("default", "int8")
    precisions = list(card["files"])
    if default not in precisions:
        raise ValueError(f"{model_dir / CARD}: default {default!r} is not among its files {precisions}")

    previous = card.get("calibration") or {}
    raw_thresholds = previous.get("thresholds_uncalibrated") or {
        "thresholds": card["thresholds"], **({"thresholds_fp32": card["thresholds_fp32"]} if "thresholds_fp32" in card else {})}
    raw, had = {}, {}
    for precision in precisions:
        raw[precision], had[precision] = strip_calibration(onnx.load(str(model_dir / card["files"][precision])))
    y = fold_labels(data_root, folds)
    z = _runtime_outputs(model_dir, card, {p: logit_graph(m) for p, m in raw.items()}, data_root, folds)
    # the uncalibrated probabilities as the runtime computes them (its float32 Sigmoid, not numpy's):
    # the labels before and after must agree exactly
    before = _runtime_outputs(model_dir, card, raw, data_root, folds)
    if len(y) != len(z[default]):
        raise RuntimeError(f"{len(y)} labels but {len(z[default])} predictions: the record lists disagree")

    comparison = compare(z[default], y, cv_folds=cv_folds, seed=seed, n_bins=n_bins)
    chosen, why = choose(comparison, method)
    cal = comparison[chosen]["calibration"]

    graphs = {p: insert_calibration(m, cal) for p, m in raw.items()}
    after = _runtime_outputs(model_dir, card, graphs, data_root, folds) if chosen != "none" else dict(before)
    thresholds, snapped = {}, []
    for key, values in raw_thresholds.items():
        checked_on = precisions if key == "thresholds" else [p for p in precisions if key == f"thresholds_{p}"]
        mapped = {}
        for k, c in enumerate(CLASSES):
            t = float(np.float32(cal.map_threshold(k, values[c])))
            t, moved = _snap(t, [(before[p][:, k], values[c], after[p][:, k]) for p in checked_on])
            if moved:
                snapped.append(f"{key}.{c}")
            mapped[c] = t
        thresholds[key] = mapped
    labels_equal = {p: bool(np.array_equal(before[p] >= np.array([raw_thresholds["thresholds"][c] for c in CLASSES]),
                                           after[p] >= np.array([thresholds["thresholds"][c] for c in CLASSES])))
                    for p in precisions}
    auc = {p: {"before": macro_auc(y, before[p]), "after": macro_auc(y, after[p])} for p in precisions}
    metrics = {p: {"before": calibration_metrics(y, before[p], n_bins), "after": calibration_metrics(y, after[p], n_bins)}
               for p in precisions}

    section = {
        "method": chosen,
        "rule": why,
        "transform": ("p = sigmoid(scale[k] * z + shift[k]) with z the logit (the Sigmoid's input) of the uncalibrated "
                      f"graph, as '{SCALE_NODE}' Mul (and '{SHIFT_NODE}' Add) nodes inside the graph"
                      if chosen != "none" else "none: the graph's probabilities are the uncalibrated ones"),
        "parameters": cal.to_card(),
        "fitted_on": {"folds": folds, "n_records": int(len(y)), "precision": default,
                      "path": "edgecardio.Classifier (native preprocessing) on the raw records, the Sigmoid made an Identity",
                      "fit": "maximum likelihood per class (Newton's method)"},
        "bins": {"headline": f"{n_bins} equal-mass bins (ECE)", "also": f"{n_bins} equal-width bins (ece_equal_width)"},
        "cross_validation": {"folds": cv_folds, "seed": seed, "within": f"folds {folds}: each part scored by the map "
                                                                         "fitted on the other parts"},
        "validation": {p: {"ece_before": {c: metrics[p]["before"]["per_class"][c]["ece"] for c in CLASSES},
                           "ece_after": {c: metrics[p]["after"]["per_class"][c]["ece"] for c in CLASSES},
                           "macro_ece_before": metrics[p]["before"]["macro"]["ece"],
                           "macro_ece_after": metrics[p]["after"]["macro"]["ece"],
                           "macro_brier_before": metrics[p]["before"]["macro"]["brier"],
                           "macro_brier_after": metrics[p]["after"]["macro"]["brier"],
                           "macro_log_loss_before": metrics[p]["before"]["macro"]["log_loss"],
                           "macro_log_loss_after": metrics[p]["after"]["macro"]["log_loss"],
                           "macro_auc_before": auc[p]["before"][0], "macro_auc_after": auc[p]["after"][0],
                           "labels_unchanged": labels_equal[p]} for p in precisions},
        "cross_validated": {m: {"macro_ece": d["cross_validated"]["macro"]["ece"],
                                "macro_log_loss": d["cross_validated"]["macro"]["log_loss"],
                                "macro_brier": d["cross_validated"]["macro"]["brier"],
                                "ece": {c: d["cross_validated"]["per_class"][c]["ece"] for c in CLASSES}}
                            for m, d in comparison.items()},
        "thresholds_uncalibrated": raw_thresholds,
        "thresholds_snapped": snapped,
    }
    report = {"model_dir": str(model_dir), "name": name, "calibration": section,
              "comparison": _strip_section(comparison),
              "runtime": {p: {"before": metrics[p]["before"], "after": metrics[p]["after"],
                              "per_class_auc_before": dict(zip(CLASSES, auc[p]["before"][1])),
                              "per_class_auc_after": dict(zip(CLASSES, auc[p]["after"][1]))} for p in precisions}}
    if not all(labels_equal.values()):
        raise RuntimeError(f"calibration changed predicted labels on the validation records: {labels_equal}")

    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        shown = chosen if chosen != "none" else min(METHODS, key=lambda m: comparison[m]["cross_validated"]["macro"]["log_loss"])
        curves = {"uncalibrated": before[default],
                  f"{shown} (in-sample)": comparison[shown]["calibration"].probabilities(z[default]),
                  f"{shown} (cross-validated)": cross_validated_probabilities(shown, z[default], y, cv_folds, seed)}
        report["reliability"] = {"bins": f"{n_bins} equal-mass", "precision": default, "curves": {
            label: {c: {k: v.tolist() for k, v in reliability_bins(y[:, i], p[:, i], n_bins).items()}
                    for i, c in enumerate(CLASSES)} for label, p in curves.items()}}
        plot_reliability(y, curves, out_dir / f"calibration_{name}.png",
                         f"{name} {default}, folds {folds} ({len(y)} records), {n_bins} equal-mass bins; "
                         f"shipped: {chosen}")
        (out_dir / f"calibration_{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    if write:
        # an uncalibrated graph that stays uncalibrated keeps its bytes
        card = _write(model_dir, card, {p: g for p, g in graphs.items() if chosen != "none" or had[p]}, section,
                      thresholds, chosen)
    report["card"] = card
    return report


def _write(model_dir: Path, card: dict, graphs: dict, section: dict, thresholds: dict, chosen: str) -> dict:
    card = copy.deepcopy(card)
    previous = card.get("calibration") or {}
    # the digests of the files as trained, carried over when a calibrated model is calibrated again
    earlier = previous.get("files", {}) if previous.get("method", "none") != "none" else {}
    files = {}
    for precision, model in graphs.items():
        name = card["files"][precision]
        path = model_dir / name
        old = earlier.get(precision, {}).get("sha256_uncalibrated") or hashlib.sha256(path.read_bytes()).hexdigest()
        tmp = path.with_name(name + ".tmp")
        digest = _save(model, tmp)
        os.replace(tmp, path)
        for info in card["file_info"].values():
            if info["file"] == name:
                info["sha256"], info["bytes"] = digest, path.stat().st_size
        files[precision] = {"file": name, "sha256_uncalibrated": old, "sha256": digest}
    card.update(thresholds)
    rule = card.get("thresholds_rule", "").split(MAPPED_RULE)[0]
    if rule:
        card["thresholds_rule"] = rule + (MAPPED_RULE if chosen != "none" else "")
    card["calibration"] = {**section, "files": files}
    card["outputs"][modelcard.OUTPUT_PROBABILITIES]["activation"] = (
        f"sigmoid (inside the graph), of the logits calibrated by {chosen} scaling (see 'calibration')"
        if chosen != "none" else "sigmoid (inside the graph)")
    if "version" in card and "int8" in files:
        card["version"] = card["version"].rsplit("-", 1)[0] + "-" + files["int8"]["sha256"][:8]
    tmp = model_dir / (CARD + ".tmp")
    tmp.write_text(json.dumps(card, indent=2))
    modelcard.load_card(tmp)
    os.replace(tmp, model_dir / CARD)
    return card


def calibrate_run(run, cfg: dict) -> dict | None:
    """The shipping step: calibrate a run directory as its config's ``calibrate`` section says (a
    config without one, saved before calibration existed, ships uncalibrated). Returns the new card,
    or None when the method is ``none``."""
    c = cfg.get("calibrate", {"method": "none"})
    if c["method"] == "none":
        return None
    run = Path(run)
    rep = calibrate_model_dir(run, method=c["method"], data_root=repo_path(cfg["data"]["root"]),
                              folds=cfg["data"]["val_folds"], cv_folds=c["cv_folds"], n_bins=c["n_bins"],
                              seed=cfg["seed"], write=True, out_dir=run / "calibration")
    return rep["card"]


def _print(report: dict):
    s = report["calibration"]
    cmp = report["comparison"]
    print(f"{report['name']}: {s['fitted_on']['n_records']} records of folds {s['fitted_on']['folds']}, "
          f"{s['bins']['headline']}, {s['cross_validation']['folds']}-fold CV")
    print(f"{'':22s} " + " ".join(f"{h:>12s}" for h in ("none", "temperature", "temp. CV", "platt", "platt CV")))
    for c in CLASSES:
        row = [cmp["none"]["in_sample"]["per_class"][c]["ece"]]
        for m in METHODS:
            row += [cmp[m]["in_sample"]["per_class"][c]["ece"], cmp[m]["cross_validated"]["per_class"][c]["ece"]]
        print(f"{'ECE ' + c:22s} " + " ".join(f"{v:12.4f}" for v in row))
    for metric in ("ece", "ece_equal_width", "brier", "log_loss"):
        row = [cmp["none"]["in_sample"]["macro"][metric]]
        for m in METHODS:
            row += [cmp[m]["in_sample"]["macro"][metric], cmp[m]["cross_validated"]["macro"][metric]]
        print(f"{'macro ' + metric:22s} " + " ".join(f"{v:12.4f}" for v in row))
    print(f"chosen: {s['method']} ({s['rule']})")
    for p, v in s["validation"].items():
        print(f"{p}: macro AUC {v['macro_auc_before']:.4f} -> {v['macro_auc_after']:.4f}, macro ECE "
              f"{v['macro_ece_before']:.4f} -> {v['macro_ece_after']:.4f}, labels unchanged: {v['labels_unchanged']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", "--run", dest="model_dir", required=True,
                    help="ONNX files and model_card.json: a packaged model (python/edgecardio/models/NAME) or a run directory")
    ap.add_argument("--method", choices=sorted(CHOICES[("calibrate", "method")]), default="auto",
                    help="auto (default): the better of temperature and Platt by cross-validated log loss, "
                         "if it also lowers the cross-validated ECE")
    ap.add_argument("--data", help="PTB-XL official layout (default: the card's config data.root)")
    ap.add_argument("--cv-folds", type=int, help="default: the card's config, else 5")
    ap.add_argument("--bins", type=int, help="default: the card's config, else 15")
    ap.add_argument("--out", help="folder for calibration_NAME.json and .png (default: runs/calibration)")
    ap.add_argument("--name", help="NAME in the file names (default: the card's config name)")
    ap.add_argument("--write", action="store_true", help="rewrite the graphs and the card in place")
    a = ap.parse_args(argv)
    card = modelcard.load_card(Path(a.model_dir) / CARD)
    c = card.get("training", {}).get("config", {}).get("calibrate", {})
    rep = calibrate_model_dir(a.model_dir, method=a.method, data_root=a.data, cv_folds=a.cv_folds or c.get("cv_folds", 5),
                              n_bins=a.bins or c.get("n_bins", CALIBRATION_BINS), write=a.write,
                              out_dir=a.out or REPO / "runs" / "calibration", name=a.name)
    _print(rep)
    if a.write:
        print(f"wrote {a.model_dir}: method {rep['calibration']['method']}")


if __name__ == "__main__":
    main()
