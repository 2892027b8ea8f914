"""INT8 and FP16 variants of the FP32 model.

    python -m training.quantize --run runs/NAME          # uses runs/NAME/config.json and the cache

INT8 is static QDQ with per-channel signed int8 weights and the activation type, calibration
method and float head of the run's ``quantize`` config section (:func:`int8_options`), the same
whether ``training.ship`` or this command quantizes.

Calibration feeds preprocessed training-fold records (``quantize.calibration_records`` of them,
at least 500) through ONNX Runtime's static quantizer after its pre-processing pass (shape
inference and graph optimization, which folds BatchNorm into the convolutions).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from edgecardio import modelcard

from .data import fit_stats, load_dataset
from .onnx_io import check_contract, reads_lead_std

MIN_CALIBRATION_RECORDS = 500


class _Reader:
    """onnxruntime CalibrationDataReader over (ecg, demographics[, lead_std_mv]) arrays, a batch at a time."""

    def __init__(self, ecg: np.ndarray, demo: np.ndarray, lead_std: np.ndarray | None = None, batch_size: int = 32):
        # equal batches: the histogram calibrators stack per-batch outputs and need one shape
        batch_size = max(d for d in range(1, batch_size + 1) if len(ecg) % d == 0)
        self.feeds = {modelcard.INPUT_ECG: ecg, modelcard.INPUT_DEMOGRAPHICS: demo}
        if lead_std is not None:
            self.feeds[modelcard.INPUT_LEAD_STD] = lead_std
        self.n, self.bs, self.i = len(ecg), batch_size, 0

    def get_next(self):
        if self.i >= self.n:
            return None
        sl = slice(self.i, self.i + self.bs)
        self.i += self.bs
        return {k: np.ascontiguousarray(v[sl], dtype=np.float32) for k, v in self.feeds.items()}

    def rewind(self):
        self.i = 0


def int8_options(q: dict) -> dict:
    """The :func:`quantize_int8` keywords that the ``quantize`` section of a config sets.

    ``float_head`` defaults to True for run configs saved before the key existed.
    """
    return {"method": q["calibration_method"], "per_channel": q["per_channel"],
            "activation_type": q["activation_type"], "float_head": q.get("float_head", True)}


def quantize_int8(fp32_path, out_path, calib_ecg: np.ndarray, calib_demo: np.ndarray,
                  calib_lead_std: np.ndarray | None = None, *, method: str = "minmax", per_channel: bool = True, activation_type: str = "int8",
                  float_head: bool = True, min_records: int | None = None) -> Path:
    """Static QDQ INT8 of ``fp32_path``: signed int8 weights (per channel if ``per_channel``) and
    ``activation_type`` ("int8" or "uint8", asymmetric) activations. With ``float_head`` the
    classifier head (the last Gemm/MatMul and everything after it up to the output) stays float,
    so logits and probabilities are not rounded to 256 levels (a probability step of 1/255 would
    tie records and coarsen the thresholds; the head is 0.1 % of the compute). ``calib_lead_std`` is
    needed for a graph that reads ``lead_std_mv``."""
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
        if reads_lead_std(pre) != (calib_lead_std is not None):
            raise ValueError(f"{fp32_path}: calib_lead_std must be given exactly when the graph reads "
                             f"{modelcard.INPUT_LEAD_STD}")
        quantize_static(str(pre), str(out_path), _Reader(calib_ecg, calib_demo, calib_lead_std),
                        quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=act_types[activation_type], weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], nodes_to_exclude=exclude,
                        extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False})
    check_contract(out_path)
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
    check_contract(out_path)
    return Path(out_path)


def calibration_set(ds, stats, qcfg: dict, seed: int):
    """``(ecg, demographics, lead_std_mv, ecg_ids)`` of the INT8 calibration records."""
    rows = np.flatnonzero(np.isin(ds.folds, qcfg["calibration_folds"]))
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(rows, size=min(qcfg["calibration_records"], len(rows)), replace=False))
    demo = ds.demographics(stats)
    return (np.asarray(ds.signals[pick], dtype=np.float32), demo[pick], np.asarray(ds.lead_std_mv[pick], np.float32),
            ds.ecg_ids[pick])


def main(argv=None):
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
    x, d, sd, _ = calibration_set(ds, stats, q, cfg["seed"])
    options = int8_options(q)
    if a.method:
        options["method"] = a.method
    out = quantize_int8(run / "lightecgnet_fp32.onnx", a.out or run / "lightecgnet_int8.onnx", x, d,
                        sd if cfg["model"].get("use_lead_std") else None, **options)
    print(out)


if __name__ == "__main__":
    main()
