"""Accuracy against INT8 latency for every model candidate whose graph we still have: fold-9 macro AUC
(with its bootstrap interval) and ONNX Runtime INT8 latency measured side by side in one run.

    .venv/bin/python benchmarks/accuracy_latency.py [--config training/configs/resnet_s.json] \\
        [--candidate NAME=DIR ...] [--out benchmarks/results_accuracy_latency.json] [--png docs/accuracy_latency.png]

Candidates (``CANDIDATES``) are the packaged models and the earlier shipped ones, read from git
history (``git show COMMIT:python/edgecardio/models/...``), plus ``--candidate NAME=DIR`` for a run
directory or any folder holding ``lightecgnet_int8.onnx`` (or the card's ``files``) and
``model_card.json``. Each INT8 graph is scored on the fold-9 records of the training signal cache
(the native preprocessing, built by ``python -m training.data``) with the demographic statistics of
its own card; the interval is the 90 % percentile bootstrap over records (200 resamples, seed 7,
as in the model cards). Latency: batch 1, one thread, every model called in turn
(``training.onnx_io.time_models``) so load from other processes hits all of them alike.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import edgecardio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from training.config import load_config  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.metrics import bootstrap, macro_auc  # noqa: E402
from training.onnx_io import onnx_predict, time_models  # noqa: E402

MODELS = "python/edgecardio/models"
#: name -> (where the graph is, what it is). "git:COMMIT" reads the packaged files at that commit,
#: "git:COMMIT:NAME" those of the packaged model NAME (the models/NAME/ layout).
CANDIDATES = {
    "lightecgnet": ("git:3f7fbcc", "first trained model: depthwise-separable + SE, 7 in-graph crops, 277k params"),
    "lightecgnet_reg": ("git:5117ddb", "regularized lightecgnet, whole window, float head, 277k params"),
    "resnet_s": ("git:49b9436:resnet_s", "plain residual blocks, stride-2 stem, 298k params; z-scored ecg only (no voltage)"),
    "resnet_l": ("git:49b9436:resnet_l", "resnet1d_wang shape, 128 channels, 458k params; z-scored ecg only (no voltage)"),
}


def git_model(src: str, dest: Path) -> Path:
    """The packaged model files at ``src`` ("COMMIT" or "COMMIT:NAME") written to ``dest``."""
    commit, _, name = src.partition(":")
    folder = f"{MODELS}/{name}" if name else MODELS
    dest.mkdir(parents=True, exist_ok=True)
    names = subprocess.run(["git", "ls-tree", "--name-only", f"{commit}:{folder}"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split()
    for n in names:
        blob = subprocess.run(["git", "show", f"{commit}:{folder}/{n}"], cwd=REPO, check=True, capture_output=True)
        (dest / n).write_bytes(blob.stdout)
    return dest


def int8_path(model_dir: Path) -> tuple[Path, dict]:
    card = json.loads((model_dir / "model_card.json").read_text())
    return model_dir / card.get("files", {}).get("int8", "lightecgnet_int8.onnx"), card


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="training/configs/resnet_s.json", help="for the data paths and cache")
    ap.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--runs", type=int, default=300, help="timed calls per model")
    ap.add_argument("--out", default="benchmarks/results_accuracy_latency.json")
    ap.add_argument("--png", default="docs/accuracy_latency.png")
    ap.add_argument("--replot", action="store_true", help="redraw the PNG from the JSON at --out, measuring nothing")
    a = ap.parse_args(argv)
    if a.replot:
        plot(json.loads(Path(a.out).read_text())["candidates"], Path(a.png))
        return

    cfg = load_config(REPO / a.config)
    ds = load_dataset(cfg, require_native=True)
    val = ds.split.val
    x = np.asarray(ds.signals[val], np.float32)
    y = ds.labels[val]
    tmp = Path(tempfile.mkdtemp(prefix="edgecardio-candidates-"))
    dirs, notes, shipped = {}, {}, set()
    for name, (src, note) in CANDIDATES.items():
        dirs[name], notes[name] = git_model(src.split(":", 1)[1], tmp / name), f"{note} ({src})"
    for m in edgecardio.models():  # the installed package's models, as users get them
        dirs[m.name], notes[m.name] = m.path, "packaged now"
        shipped.add(m.name)
    for item in a.candidate:
        name, d = item.split("=", 1)
        dirs[name], notes[name] = Path(d), f"candidate ({d})"

    rows = {}
    for name, d in dirs.items():
        path, card = int8_path(d)
        demo = ds.demographics(card["demographics"]["stats"])[val]
        t = time.time()
        p = onnx_predict(path, x, demo, ds.lead_std_mv[val])
        auc, per = macro_auc(y, p)
        ci = bootstrap(y, p, [0.5] * y.shape[1], n=200, ci=0.90, seed=7)
        rows[name] = {"macro_auc": round(auc, 5), "macro_auc_ci90": [round(v, 5) for v in ci["macro_auc"]],
                      "per_class_auc": {c: round(v, 5) for c, v in zip(card["classes"], per)},
                      "card_macro_auc_int8": card["metrics"]["validation"]["int8"]["macro_auc"],
                      "parameters": card.get("architecture", {}).get("parameters"),
                      "int8_bytes": path.stat().st_size, "shipped_now": name in shipped, "source": notes[name],
                      "eval_seconds": round(time.time() - t, 1)}
        print(f"{name:18s} fold-9 macro AUC {auc:.4f} ({ci['macro_auc'][0]:.4f}-{ci['macro_auc'][1]:.4f})", flush=True)
    lat = time_models({n: int8_path(d)[0] for n, d in dirs.items()}, n=a.runs, threads=1, batch=1)
    for name in rows:
        rows[name]["int8_latency"] = lat[name]
        print(f"{name:18s} INT8 median {lat[name]['median_ms']:.2f} ms (p10 {lat[name]['p10_ms']:.2f}, "
              f"p90 {lat[name]['p90_ms']:.2f})")
    import onnxruntime as ort

    out = {"what": "fold-9 macro AUC of each INT8 graph (native-preprocessed cache, its card's demographic "
                   "statistics; 90 % bootstrap interval, 200 resamples) against ONNX Runtime INT8 latency "
                   "(batch 1, 1 thread, models called in turn)",
           "machine": {"cpu": platform.processor() or platform.machine(), "system": platform.platform(),
                       "onnxruntime": ort.__version__, "load_average": list(np.round(np.array(
                           __import__("os").getloadavg()), 2))},
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_records": int(len(y)), "candidates": rows}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    plot(rows, Path(a.png))
    print(f"wrote {a.out} and {a.png}")


def plot(rows: dict, png: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    placed = []  # (ms, auc) of the labels already below their points
    for name, r in rows.items():
        ms = r["int8_latency"]["median_ms"]
        lo, hi = r["macro_auc_ci90"]
        star = r["shipped_now"]
        ax.errorbar([ms], [r["macro_auc"]], yerr=[[r["macro_auc"] - lo], [hi - r["macro_auc"]]],
                    xerr=[[ms - r["int8_latency"]["p10_ms"]], [r["int8_latency"]["p90_ms"] - ms]],
                    fmt="*" if star else "o", ms=14 if star else 7, color="C3" if star else "C0", capsize=3,
                    elinewidth=0.8)
        # shipped labels above their point, the others below, one line further down per close
        # neighbour already labelled: candidates at the same latency and accuracy stay legible
        near = sum(abs(ms - m) < 0.4 and abs(r["macro_auc"] - a) < 0.002 for m, a in placed)
        if not star:
            placed.append((ms, r["macro_auc"]))
        ax.annotate(name + (" (shipped)" if star else ""), (ms, r["macro_auc"]), textcoords="offset points",
                    xytext=(8, 6 if star else -12 - 10 * near), fontsize=8)
    for level, text in ((0.928, "fast-model target 0.928"), (0.933, "accurate-model target 0.933")):
        ax.axhline(level, color="grey", lw=0.7, ls="--")
        ax.text(ax.get_xlim()[1], level, text, ha="right", va="bottom", fontsize=7, color="grey")
    ax.set_xlabel("INT8 inference, ms per record (ONNX Runtime, 1 thread, median; bars p10-p90)")
    ax.set_ylabel("PTB-XL fold-9 macro ROC AUC (90 % CI)")
    ax.set_title("EdgeCardio model candidates: accuracy against latency", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)


if __name__ == "__main__":
    main()
