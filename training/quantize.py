"""INT8 (static QDQ, signed int8, per-channel weights) and FP16 variants of the FP32 model.

    python -m training.quantize --run runs/NAME          # uses runs/NAME/config.json and the cache

Calibration feeds preprocessed training-fold records (``quantize.calibration_records`` of them,
at least 500) through ONNX Runtime's static quantizer after its pre-processing pass (shape
inference and graph optimization, which folds BatchNorm into the convolutions).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from . import modelcard

MIN_CALIBRATION_RECORDS = 500


class _Reader:
    """onnxruntime CalibrationDataReader over (ecg, demographics) arrays, a batch at a time."""

    def __init__(self, ecg: np.ndarray, demo: np.ndarray, batch_size: int = 32):
        # equal batches: the histogram calibrators stack per-batch outputs and need one shape
        batch_size = max(d for d in range(1, batch_size + 1) if len(ecg) % d == 0)
        self.ecg, self.demo, self.bs, self.i = ecg, demo, batch_size, 0

    def get_next(self):
        if self.i >= len(self.ecg):
            return None
        sl = slice(self.i, self.i + self.bs)
        self.i += self.bs
        return {modelcard.INPUT_ECG: np.ascontiguousarray(self.ecg[sl], dtype=np.float32),
                modelcard.INPUT_DEMOGRAPHICS: np.ascontiguousarray(self.demo[sl], dtype=np.float32)}

    def rewind(self):
        self.i = 0


def int8_options(q: dict) -> dict:
    """The :func:`quantize_int8` keywords that the ``quantize`` section of a config sets.

    ``float_head`` defaults to True for run configs saved before the key existed.
    """
    return {"method": q["calibration_method"], "per_channel": q["per_channel"],
            "activation_type": q["activation_type"], "float_head": q.get("float_head", True)}


def quantize_int8(fp32_path, out_path, calib_ecg: np.ndarray, calib_demo: np.ndarray, *,
                  method: str = "minmax", per_channel: bool = True, activation_type: str = "int8",
                  float_head: bool = True, min_records: int | None = None) -> Path:
    """Static QDQ INT8 of ``fp32_path``: signed int8 weights (per channel if ``per_channel``) and
    ``activation_type`` ("int8" or "uint8", asymmetric) activations. With ``float_head`` the
    classifier head (the last Gemm/MatMul and everything after it up to the output) stays float,
    so logits and probabilities are not rounded to 256 levels (a probability step of 1/255 would
    tie records and coarsen the thresholds; the head is 0.1 % of the compute)."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if min_records is None:
        min_records = MIN_CALIBRATION_RECORDS
    if len(calib_ecg) < min_records:
        raise ValueError(f"INT8 calibration needs at least {min_records} records, got {len(calib_ecg)}")
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    if method not in methods:
        raise ValueError(f"calibration method {method!r} is not one of {sorted(methods)}")
    act_types = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
    if activation_type not in act_types:
        raise ValueError(f"activation type {activation_type!r} is not one of {sorted(act_types)}")
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as td:
        pre = Path(td) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        exclude = head_nodes(pre) if float_head else []
        quantize_static(str(pre), str(out_path), _Reader(calib_ecg, calib_demo),
                        quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=act_types[activation_type], weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], nodes_to_exclude=exclude,
                        extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False})
    _check_contract(out_path)
    return out_path


def head_nodes(path) -> list[str]:
    """Names of the nodes from the last Gemm/MatMul to the graph outputs."""
    import onnx

    g = onnx.load(str(path)).graph
    producer = {o: n for n in g.node for o in n.output}
    names, todo, found = [], [o.name for o in g.output], False
    while todo:
        n = producer.get(todo.pop())
        if n is None or n.name in names:
            continue
        names.append(n.name)
        if n.op_type in ("Gemm", "MatMul"):
            found = True
        else:
            todo.extend(i for i in n.input if i in producer)
    if not found:
        raise RuntimeError(f"{path}: no Gemm/MatMul head before the outputs")
    return names


def convert_fp16(fp32_path, out_path) -> Path:
    """FP16 weights and activations, float32 inputs and outputs (the contract) kept."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    m = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    onnx.save(m, str(out_path))
    _check_contract(out_path)
    return Path(out_path)


def _check_contract(path):
    from .export import onnx_session

    sess = onnx_session(path)
    ins = {i.name: (i.type, i.shape) for i in sess.get_inputs()}
    outs = {o.name: (o.type, o.shape) for o in sess.get_outputs()}
    assert set(ins) == {modelcard.INPUT_ECG, modelcard.INPUT_DEMOGRAPHICS}, ins
    assert set(outs) == {modelcard.OUTPUT_PROBABILITIES}, outs
    for name, (typ, _) in {**ins, **outs}.items():
        if typ != "tensor(float)":
            raise RuntimeError(f"{path}: {name} is {typ}, the contract says float32")


def time_model(path, n: int = 200, threads: int = 1, batch: int = 1, seed: int = 0) -> dict:
    """Median and p90 latency (ms) of one ONNX Runtime call on the CPU."""
    from .export import onnx_session

    sess = onnx_session(path, threads=threads)
    rng = np.random.default_rng(seed)
    feed = {modelcard.INPUT_ECG: rng.standard_normal((batch, 12, 1000)).astype(np.float32),
            modelcard.INPUT_DEMOGRAPHICS: rng.standard_normal((batch, 8)).astype(np.float32)}
    for _ in range(10):
        sess.run(None, feed)
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        sess.run(None, feed)
        ts.append((time.perf_counter() - t) * 1e3)
    return {"median_ms": float(np.median(ts)), "p90_ms": float(np.percentile(ts, 90)), "runs": n,
            "threads": threads, "batch": batch}


def time_models(paths: dict, n: int = 300, threads: int = 1, batch: int = 1, seed: int = 0) -> dict:
    """Latency (ms) of several ONNX models measured round-robin, one call of each in turn, so
    that load from other processes on a shared machine hits every model alike."""
    from .export import onnx_session

    sessions = {name: onnx_session(p, threads=threads) for name, p in paths.items()}
    rng = np.random.default_rng(seed)
    feed = {modelcard.INPUT_ECG: rng.standard_normal((batch, 12, 1000)).astype(np.float32),
            modelcard.INPUT_DEMOGRAPHICS: rng.standard_normal((batch, 8)).astype(np.float32)}
    for s in sessions.values():
        for _ in range(20):
            s.run(None, feed)
    ts = {name: [] for name in sessions}
    for _ in range(n):
        for name, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feed)
            ts[name].append((time.perf_counter() - t) * 1e3)
    return {name: {"median_ms": float(np.median(v)), "p10_ms": float(np.percentile(v, 10)),
                   "p90_ms": float(np.percentile(v, 90)), "runs": n, "threads": threads, "batch": batch}
            for name, v in ts.items()}


def calibration_set(ds, stats, qcfg: dict, seed: int):
    rows = np.flatnonzero(np.isin(ds.folds, qcfg["calibration_folds"]))
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows, size=min(qcfg["calibration_records"], len(rows)), replace=False))
    demo = ds.demographics(stats)
    return np.asarray(ds.signals[pick], dtype=np.float32), demo[pick], ds.ecg_ids[pick]


def main(argv=None):
    from .data import fit_stats, load_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run directory holding config.json and lightecgnet_fp32.onnx")
    ap.add_argument("--method", help="override quantize.calibration_method")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    run = Path(a.run)
    cfg = json.loads((run / "config.json").read_text())
    ds = load_dataset(cfg)
    stats = fit_stats(ds.demographics_raw.iloc[ds.split.train])
    q = cfg["quantize"]
    x, d, _ = calibration_set(ds, stats, q, cfg["seed"])
    options = int8_options(q)
    if a.method:
        options["method"] = a.method
    out = quantize_int8(run / "lightecgnet_fp32.onnx", a.out or run / "lightecgnet_int8.onnx", x, d, **options)
    print(out)


if __name__ == "__main__":
    main()
