"""Turn a finished training run into the shipped model: FP32 ONNX, INT8 ONNX, model card.

    python -m training.ship --run runs/NAME [--install]

Exports the best checkpoint, checks PyTorch vs ONNX Runtime on real validation records, quantizes,
measures FP16, evaluates every variant on the validation folds (and the test folds when present),
tunes the thresholds on the validation folds for the default (INT8) model and writes
``model_card.json``. ``--install`` copies the files into ``python/edgecardio/models/<config name>/``; it refuses a
run whose cache was not built by the native ``edgecardio.preprocess``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgecardio import modelcard

from .calibrate import calibrate_run
from .checkpoint import model_from_checkpoint, read_checkpoint
from .config import REPO
from .data import load_dataset
from .evaluate import classifier_auc, evaluate_models
from .export import export_onnx
from .model import CropEnsemble, count_parameters, torch_predict
from .onnx_io import onnx_predict, time_models
from .quantize import calibration_set, convert_fp16, int8_options, quantize_int8

MODELS_DIR = REPO / "python" / "edgecardio" / "models"
FILES = {"fp32": "lightecgnet_fp32.onnx", "int8": "lightecgnet_int8.onnx"}
PREPROCESS_SPEC = ("band-limited polyphase resampling to 100 Hz (scipy.signal.resample_poly), "
                   "2nd-order Butterworth band-pass 0.5-40 Hz applied forward-backward (sosfiltfilt), "
                   "per-lead z-score over the 10-s window, flat leads -> zeros; int16 input in ADC counts "
                   "at gain_per_mv (PTB-XL: 1000)")


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _git_rev() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def provenance(run: Path, command: str | None, train_wall_s: float | None) -> tuple[str | None, float | None]:
    """How the run was trained: as given, else (re-shipping a finished run) as its card says."""
    card = run / "model_card.json"
    if command is None and card.is_file():
        previous = json.loads(card.read_text())
        command = previous["training"]["command"]
        train_wall_s = (previous["training"]["wall_minutes"] or 0) * 60 or None
    return command, train_wall_s


def check_native(run: Path, ck: dict, install: bool, allow_non_native: bool):
    if ck["cache_meta"]["preprocess"]["path"] != "native" and (install or not allow_non_native):
        raise RuntimeError(f"{run} was trained on a cache built by {ck['cache_meta']['preprocess']['function']}; "
                           "only a model trained on the native edgecardio.preprocess can be shipped")


@dataclass
class Inference:
    """What the exported graph computes: the crop ensemble or the whole window, and why."""

    graph: str  # "crops" or "full"
    rule: str
    crops_min_gain: float
    auc_crops: float
    auc_full: float | None
    crop_len: int | None  # None: the whole window


def choose_inference(ev: dict, ck: dict) -> Inference:
    # configs saved before eval.inference existed behave as "best_on_val"
    rule = ev.get("inference", "best_on_val")
    min_gain = ev.get("crops_min_gain", 0.0)
    auc_crops, auc_full = ck["val_macro_auc"], ck.get("val_macro_auc_full_window")
    graph = rule
    if rule == "best_on_val":
        if auc_full is None:
            raise RuntimeError("eval.inference='best_on_val' needs the full-window validation AUC of the best "
                               "checkpoint (eval.full_window_every > 0)")
        # the crop ensemble costs ~1.75x the compute: it must win by more than crops_min_gain
        graph = "crops" if auc_crops > auc_full + min_gain else "full"
    crop_len = (ev["crop_len"] or None) if graph == "crops" else None
    return Inference(graph, rule, min_gain, auc_crops, auc_full, crop_len)


def check_parity(wrapped: CropEnsemble, fp32: Path, ecg: np.ndarray, demo: np.ndarray,
                 lead_std: np.ndarray | None = None) -> float:
    """Largest PyTorch vs ONNX Runtime probability difference on real records (at most 1e-5)."""
    std = None if lead_std is None else np.asarray(lead_std, np.float32)  # ignored by a graph without the input
    parity = float(np.abs(torch_predict(wrapped, torch.from_numpy(ecg), torch.from_numpy(demo),
                                        None if std is None else torch.from_numpy(std))
                          - onnx_predict(fp32, ecg, demo, std)).max())
    if parity > 1e-5:
        raise RuntimeError(f"PyTorch vs ONNX Runtime differ by {parity:.3g} on validation records")
    return parity




@dataclass
class Shipment:
    """Everything the model card reports, gathered step by step by :func:`ship`."""

    run: Path
    ck: dict
    cfg: dict
    n_parameters: int
    inference: Inference
    starts: list  # crop starts of the exported graph
    parity: float
    n_calibration: int
    calibration_ids_sha256: str
    variants: dict  # name -> path of every variant built
    sizes: dict
    speed: dict
    ship_fp16: bool
    report: dict
    n_split: dict  # records per split: train, val, test
    timing_runs: int
    command: str | None
    train_wall_s: float | None
    history: dict  # history.json of the run

    @property
    def files(self) -> dict:
        files = dict(FILES)
        if self.ship_fp16:
            files["fp16"] = "lightecgnet_fp16.onnx"
        return files


def _metric_summary(m: dict) -> dict:
    b = m["bootstrap"]
    return {"macro_auc": m["macro_auc"], "macro_auc_ci90": b["macro_auc"],
            "per_class_auc": m["per_class_auc"],
            "per_class_auc_ci90": {c: b[f"auc_{c}"] for c in modelcard.CLASSES},
            "macro_f1": m["macro_f1"], "macro_f1_ci90": b["macro_f1"], "per_class_f1": m["per_class_f1"],
            "exact_match_accuracy": m["exact_match_accuracy"],
            "exact_match_accuracy_ci90": b["exact_match_accuracy"], "n_records": m["n_records"]}


def _architecture(s: Shipment) -> dict:
    inf, ev = s.inference, s.cfg["eval"]
    return {"backbone": "LightECGNet", "parameters": s.n_parameters, **s.cfg["model"],
            "inference": {
                "graph": inf.graph, "rule": inf.rule, "crops_min_gain": inf.crops_min_gain,
                "val_macro_auc_crops_torch": inf.auc_crops, "val_macro_auc_full_window_torch": inf.auc_full,
                "crops": ({"crop_len": ev["crop_len"], "stride": ev["crop_stride"], "n_crops": len(s.starts),
                           "starts": s.starts, "aggregate": f"{ev['aggregate']} of crop logits, then sigmoid"}
                          if inf.graph == "crops" else None)}}


def _trained_on(s: Shipment) -> dict:
    d, meta = s.cfg["data"], s.ck["cache_meta"]
    return {"data_version": d["data_version"], "label_rule": d["label_rule"],
            "train_folds": d["train_folds"], "val_folds": d["val_folds"], "test_folds": d["test_folds"],
            "n_train": s.n_split["train"], "n_val": s.n_split["val"], "n_test": s.n_split["test"],
            "ptbxl_database_sha256": meta["ptbxl_database_sha256"],
            "scp_statements_sha256": meta["scp_statements_sha256"],
            "citation": "Wagner et al., PTB-XL, Scientific Data 7, 154 (2020), CC BY 4.0"}


def _metrics(s: Shipment) -> dict:
    val, ck = s.report["splits"]["validation"], s.ck
    return {
        "validation": {"folds": val["folds"], **{n: _metric_summary(m) for n, m in val["models"].items()},
                       "naive_prevalence_baseline": val["naive_prevalence_baseline"],
                       "note": "F1 uses thresholds tuned on these same records (optimistic); AUC does not"},
        **({"test": {n: _metric_summary(m) for n, m in s.report["splits"]["test"]["models"].items()}}
           if "test" in s.report["splits"] else {}),
        "best_epoch": ck["epoch"],
        "checkpoint_val_macro_auc_torch": ck["val_macro_auc"],
        "checkpoint_val_macro_auc_full_window_torch": ck["val_macro_auc_full_window"],
        "pytorch_vs_onnxruntime_max_abs_diff": s.parity,
        "history": s.history["history"],
    }


def _quantization(s: Shipment) -> dict:
    q = s.cfg["quantize"]
    return {"format": "QDQ", "activations": f"{q['activation_type']} (asymmetric)", "weights": "int8 per-channel",
            "float_head": int8_options(q)["float_head"],
            "calibration_method": q["calibration_method"], "calibration_records": s.n_calibration,
            "calibration_folds": q["calibration_folds"], "calibration_ecg_ids_sha256": s.calibration_ids_sha256}


def _training(s: Shipment) -> dict:
    cfg = s.cfg
    return {"command": s.command or f"python -m training --config {s.run}/config.json --ship",
            "wall_minutes": round(s.train_wall_s / 60, 1) if s.train_wall_s else None,
            "train_minutes": round(s.history["train_seconds"] / 60, 1),
            "epochs_run": s.history["epoch"], "machine": "2-core x86-64 shared machine, no GPU, torch 2.13.0 CPU",
            "seed": cfg["seed"], "git_commit": _git_rev(), "config": cfg}


def model_card(s: Shipment) -> dict:
    """``model_card.json`` (``ship_minutes`` still None; the caller sets it)."""
    variants, sizes, speed = s.variants, s.sizes, s.speed
    files = s.files
    meta = s.ck["cache_meta"]
    return {
        "name": "LightECGNet",
        "version": f"lightecgnet-{time.strftime('%Y%m%d')}-{sha256(variants['int8'])[:8]}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "classes": list(modelcard.CLASSES),
        "fs_hz": modelcard.MODEL_FS_HZ,
        "inputs": {modelcard.INPUT_ECG: {"dtype": "float32", "shape": ["batch", 12, 1000]},
                   modelcard.INPUT_DEMOGRAPHICS: {"dtype": "float32", "shape": ["batch", 8]},
                   **({modelcard.INPUT_LEAD_STD: {"dtype": "float32", "shape": ["batch", 12],
                                                  "meaning": _lead_std_meaning(s.cfg["model"])}}
                      if s.cfg["model"].get("use_lead_std") else {})},
        "outputs": {modelcard.OUTPUT_PROBABILITIES: {"dtype": "float32", "shape": ["batch", 5],
                                                     "activation": "sigmoid (inside the graph)"}},
        "default": "int8",
        "files": files,
        "file_info": {n: {"file": p.name, "bytes": sizes[n], "sha256": sha256(p), "shipped": n in files}
                      for n, p in variants.items()},
        "thresholds": s.report["thresholds"]["int8"],
        "thresholds_rule": "per class, maximum F1 of the INT8 model on the validation folds",
        "thresholds_fp32": s.report["thresholds"]["fp32"],
        "demographics": {"features": list(modelcard.DEMOGRAPHIC_FEATURES), "stats": s.ck["demographic_stats"],
                         "encoding": "edgecardio.modelcard.encode_demographics; stats from the training folds; "
                                     "PTB-XL sex 0 = male, 1 = female; ages over 89 (stored as 300) clip to 90"},
        "preprocessing": {"spec": PREPROCESS_SPEC, "fs_hz": modelcard.MODEL_FS_HZ,
                          "built_by": meta["preprocess"], "cache_reader": meta["reader"]},
        "architecture": _architecture(s),
        "trained_on": _trained_on(s),
        "metrics": _metrics(s),
        "quantization": _quantization(s),
        "speed_cpu": {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                      "note": f"ONNX Runtime Python API, batch 1, 1 intra-op thread, median of {s.timing_runs} runs interleaved across the variants, on the "
                              "shared 2-core training machine (not the Raspberry Pi)", **speed},
        "fp16": {"bytes": sizes["fp16"], "median_ms": speed["fp16"]["median_ms"], "shipped": s.ship_fp16,
                 "rule": "shipped only when the config sets export.ship_fp16 (measured either way; a decision taken "
                         "from a timing would make the shipped files depend on the machine)"},
        "training": _training(s),
        "ship_minutes": None,
    }


def _lead_std_meaning(model_cfg: dict) -> str:
    what = ("log(max(v, 0.001)) of v = the 12 standard deviations"
            if model_cfg.get("lead_voltage", "std") == "std" else
            "log(max(v, 0.001)) of v = the 12 standard deviations and the 12 peak-to-peak voltages over the "
            "whole window (lead_std_mv times max - min of the z-scored lead)")
    return ("each lead's standard deviation after the band-pass, mV (PreprocessInfo.lead_std_mv), the voltage the "
            f"z-score removes from ecg; the graph takes {what}, standardized with the training folds' mean and std")


def validation_via_classifier(cfg: dict, run: Path) -> dict:
    """The runtime path end to end on the validation folds: edgecardio.Classifier from raw int16
    records (native preprocessing, card demographics), at 100 Hz and at 5x-upsampled 500 Hz."""
    via = {}
    try:
        for precision, fs in (("fp32", 100), ("int8", 100), ("int8", 500)):
            r = classifier_auc(cfg, run, precision, fs_hz=fs)
            via[f"{precision}_{fs}hz"] = {k: r[k] for k in ("macro_auc", "per_class_auc", "n_records", "backend")}
    except Exception as e:  # noqa: BLE001 - recorded, never hidden
        via["error"] = f"{type(e).__name__}: {e}"
    return via


def write_card(run: Path, card: dict, t_start: float):
    card["ship_minutes"] = round((time.time() - t_start) / 60, 1)
    (run / "model_card.json").write_text(json.dumps(card, indent=2))
    modelcard.load_card(run / "model_card.json")  # the runtime's own check


def install_files(run: Path, files: dict, ship_fp16: bool, name: str) -> Path:
    """Copy the shipped files and the card into the package as the packaged model ``name`` (its
    directory ``MODELS_DIR/name``); drop an FP16 file that no longer ships. Returns the directory."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"config name {name!r} cannot name a packaged model: use letters, digits, '_', '.', '-'")
    dest = MODELS_DIR / name
    dest.mkdir(parents=True, exist_ok=True)
    for file in files.values():
        shutil.copy2(run / file, dest / file)
    stale = dest / "lightecgnet_fp16.onnx"
    if not ship_fp16 and stale.exists():
        stale.unlink()
    shutil.copy2(run / "model_card.json", dest / "model_card.json")
    return dest


def ship(run_dir, install: bool = False, command: str | None = None, train_wall_s: float | None = None,
         allow_non_native: bool = False, min_calibration_records: int | None = None,
         timing_runs: int = 300) -> dict:
    """Export, check, quantize, time and evaluate the best checkpoint of ``run_dir``; write (and with
    ``install`` copy into the package) the files and the model card; return the card."""
    run = Path(run_dir)
    t_start = time.time()
    command, train_wall_s = provenance(run, command, train_wall_s)
    ck = read_checkpoint(run / "best.pt")
    model, cfg = model_from_checkpoint(ck), ck["config"]
    check_native(run, ck, install, allow_non_native)
    torch.set_num_threads(cfg["train"]["num_threads"])
    ev, q = cfg["eval"], cfg["quantize"]

    inference = choose_inference(ev, ck)
    fp32 = export_onnx(model, run / FILES["fp32"], crop_len=inference.crop_len, crop_stride=ev["crop_stride"],
                       aggregate=ev["aggregate"], opset=cfg["export"]["opset"])
    ds = load_dataset(cfg, require_native=not allow_non_native)
    stats = ck["demographic_stats"]
    demo = ds.demographics(stats)
    rows = ds.split.val[:256]
    wrapped = CropEnsemble(model, crop_len=inference.crop_len, stride=ev["crop_stride"], aggregate=ev["aggregate"])
    parity = check_parity(wrapped, fp32, np.asarray(ds.signals[rows], np.float32), demo[rows], ds.lead_std_mv[rows])

    cx, cd, cs, cids = calibration_set(ds, stats, q, cfg["seed"])
    int8 = quantize_int8(fp32, run / FILES["int8"], cx, cd, cs if wrapped.uses_lead_std else None, **int8_options(q),
                         min_records=min_calibration_records)
    fp16 = convert_fp16(fp32, run / "lightecgnet_fp16.onnx")
    variants = {"fp32": fp32, "int8": int8, "fp16": fp16}
    speed = time_models(variants, n=timing_runs, threads=1)
    sizes = {n: p.stat().st_size for n, p in variants.items()}
    report = evaluate_models(cfg, variants, run / "eval", tune_on="int8")

    s = Shipment(run=run, ck=ck, cfg=cfg, n_parameters=count_parameters(model), inference=inference,
                 starts=wrapped.starts, parity=parity, n_calibration=int(len(cx)),
                 calibration_ids_sha256=hashlib.sha256(cids.tobytes()).hexdigest(), variants=variants,
                 sizes=sizes, speed=speed, ship_fp16=bool(cfg["export"].get("ship_fp16", False)),
                 report=report,
                 n_split={"train": int(len(ds.split.train)), "val": int(len(ds.split.val)),
                          "test": int(len(ds.split.test))},
                 timing_runs=timing_runs, command=command, train_wall_s=train_wall_s,
                 history=json.loads((run / "history.json").read_text()))
    card = model_card(s)
    write_card(run, card, t_start)  # Classifier(run) below reads it
    card["metrics"]["validation_via_classifier"] = validation_via_classifier(cfg, run)
    write_card(run, card, t_start)
    calibrated = calibrate_run(run, cfg)  # rewrites the graphs and the card in place (config calibrate.method)
    if calibrated is not None:
        card = calibrated
        write_card(run, card, t_start)
    if install:
        install_files(run, s.files, s.ship_fp16, cfg["name"])
    return card


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--allow-non-native", action="store_true", help="development: card from a non-native cache (never installed)")
    a = ap.parse_args(argv)
    card = ship(a.run, install=a.install, allow_non_native=a.allow_non_native)
    v = card["metrics"]["validation"]
    for n in ("fp32", "int8", "fp16"):
        print(f"{n}: macro AUC {v[n]['macro_auc']:.4f} {v[n]['macro_auc_ci90']}, "
              f"{card['file_info'][n]['bytes']} bytes, {card['speed_cpu'][n]['median_ms']:.2f} ms")


if __name__ == "__main__":
    main()
