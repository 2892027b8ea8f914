"""ONNX Runtime sessions and batched inference under the model-card contract, with the runtime's
session settings, so that evaluation sees what devices compute."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgecardio import modelcard
from edgecardio.classifier import ort_session_options


def onnx_session(path, threads: int = 1):
    import onnxruntime as ort

    # the runtime's settings (exact int8 arithmetic on x86-64), so evaluation sees what devices compute
    return ort.InferenceSession(str(path), ort_session_options(threads), providers=["CPUExecutionProvider"])


def reads_lead_std(path_or_session) -> bool:
    """Whether a graph (a path or a session) takes the optional ``lead_std_mv`` input."""
    sess = onnx_session(path_or_session) if isinstance(path_or_session, (str, Path)) else path_or_session
    return any(i.name == modelcard.INPUT_LEAD_STD for i in sess.get_inputs())


def onnx_predict(path_or_session, ecg: np.ndarray, demographics: np.ndarray, lead_std_mv: np.ndarray | None = None,
                 batch_size: int = 256) -> np.ndarray:
    """Probabilities ``[n, 5]`` of an ONNX model (a path or a session), ``batch_size`` records at a time.
    ``lead_std_mv`` ``[n, 12]`` is required by graphs that read it and ignored by the others."""
    sess = onnx_session(path_or_session) if isinstance(path_or_session, (str, Path)) else path_or_session
    ecg = np.ascontiguousarray(ecg, dtype=np.float32)
    demographics = np.ascontiguousarray(demographics, dtype=np.float32)
    feeds = {modelcard.INPUT_ECG: ecg, modelcard.INPUT_DEMOGRAPHICS: demographics}
    if reads_lead_std(sess):
        if lead_std_mv is None:
            raise ValueError(f"this graph reads {modelcard.INPUT_LEAD_STD} [n, 12]: pass lead_std_mv")
        feeds[modelcard.INPUT_LEAD_STD] = np.ascontiguousarray(lead_std_mv, dtype=np.float32)
    out = [sess.run([modelcard.OUTPUT_PROBABILITIES], {k: v[i:i + batch_size] for k, v in feeds.items()})[0]
           for i in range(0, len(ecg), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, len(modelcard.CLASSES)), np.float32)


def check_contract(path):
    """Raise unless the model at ``path`` has the contract's input and output names, all float32
    (``ecg`` and ``demographics``, and optionally ``lead_std_mv``)."""
    sess = onnx_session(path)
    ins = {i.name: i.type for i in sess.get_inputs()}
    outs = {o.name: o.type for o in sess.get_outputs()}
    base = {modelcard.INPUT_ECG, modelcard.INPUT_DEMOGRAPHICS}
    if set(ins) not in (base, base | {modelcard.INPUT_LEAD_STD}) or set(outs) != {modelcard.OUTPUT_PROBABILITIES}:
        raise RuntimeError(f"{path}: inputs {sorted(ins)} and outputs {sorted(outs)} are not the contract's")
    for name, typ in {**ins, **outs}.items():
        if typ != "tensor(float)":
            raise RuntimeError(f"{path}: {name} is {typ}, the contract says float32")


def time_models(paths: dict, n: int = 300, threads: int = 1, batch: int = 1, seed: int = 0) -> dict:
    """Latency (ms) of several ONNX models measured round-robin, one call of each in turn, so
    that load from other processes on a shared machine hits every model alike."""
    sessions = {name: onnx_session(p, threads=threads) for name, p in paths.items()}
    rng = np.random.default_rng(seed)
    feed = {modelcard.INPUT_ECG: rng.standard_normal((batch, modelcard.N_LEADS, modelcard.N_SAMPLES)).astype(np.float32),
            modelcard.INPUT_DEMOGRAPHICS: rng.standard_normal((batch, len(modelcard.DEMOGRAPHIC_FEATURES))).astype(np.float32)}
    feeds = {name: dict(feed, **({modelcard.INPUT_LEAD_STD: rng.uniform(0.05, 0.5, (batch, modelcard.N_LEADS)).astype(np.float32)}
                                 if reads_lead_std(s) else {})) for name, s in sessions.items()}
    for name, s in sessions.items():
        for _ in range(20):
            s.run(None, feeds[name])
    ts = {name: [] for name in sessions}
    for _ in range(n):
        for name, s in sessions.items():
            t = time.perf_counter()
            s.run(None, feeds[name])
            ts[name].append((time.perf_counter() - t) * 1e3)
    return {name: {"median_ms": float(np.median(v)), "p10_ms": float(np.percentile(v, 10)),
                   "p90_ms": float(np.percentile(v, 90)), "runs": n, "threads": threads, "batch": batch}
            for name, v in ts.items()}
