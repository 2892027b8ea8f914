"""The ``edgecardio`` command: diagnose records, benchmark latency, describe the installation.

    edgecardio predict RECORD... [--json]       # WFDB, EDF/BDF, DICOM, or .npy (12, n) + --fs-hz
    edgecardio score INPUT... -o results.parquet [--engine local|ray] [--resume]
    edgecardio bench [--out benchmark_results.json]
    edgecardio info [--json]
    edgecardio models [--json]                  # the packaged models (--model NAME picks one)
    edgecardio monitor SOURCE [--realtime] [--jsonl]   # a stream: WFDB/.npy replayed, or - (raw int16 on stdin)
    edgecardio app [--port 8501]                # the Streamlit app (pip install "edgecardio[app]")

Errors in the input (missing files, bad shapes, unsupported rates, implausible demographics) print one
line on stderr and exit with status 1; usage errors exit with status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from . import modelcard as mc
from ._synthetic import synthetic_record
from .preprocess import engine

PROG = "edgecardio"
BENCH_FS_HZ = 500
BENCH_SECONDS = 10


class CliError(Exception):
    """An input problem to report in one line (exit status 1)."""


# ---------------------------------------------------------------- record loading
def read(path: str, fs_hz: Optional[float], gain_per_mv: Optional[float], verify: bool = True):
    """edgecardio.read_record for the command line: --fs-hz and --gain-per-mv apply to .npy records."""
    from .io import SUFFIXES, read_record

    is_npy = SUFFIXES.get(Path(path).suffix.lower()) == "npy"
    if is_npy and fs_hz is None:
        raise CliError(f"{path}: a .npy record needs --fs-hz")
    return read_record(path, fs_hz=fs_hz, gain_per_mv=gain_per_mv if is_npy else None, verify=verify)


def load_record(path: str, fs_hz: Optional[float], gain_per_mv: Optional[float],
                verify: bool = True) -> Tuple[np.ndarray, float, float]:
    """(signal (12, n), fs_hz, gain_per_mv) of any record edgecardio.read_record reads."""
    rec = read(path, fs_hz, gain_per_mv, verify)
    rec.check_complete()
    return rec.signal, rec.fs_hz, 1000.0 if rec.gain_per_mv is None else rec.gain_per_mv


# ---------------------------------------------------------------- commands
def _classifier(a):
    from .classifier import Classifier

    return Classifier(a.model, precision=a.precision, threads=a.threads, backend=a.backend)


def cmd_predict(a) -> int:
    # every record is read before the model loads: a bad file is reported at once
    records = [(path, read(path, a.fs_hz, a.gain_per_mv, not a.no_verify)) for path in a.records]
    clf = _classifier(a)
    rows = []
    given = {k: v for k, v in (("age", a.age), ("sex", a.sex), ("height_cm", a.height_cm),
                               ("weight_kg", a.weight_kg)) if v is not None}
    for path, rec in records:
        r = rec.predict(clf, **given)  # demographics given here override the file's
        rows.append({"record": path, "fs_hz": rec.fs_hz, **r.to_dict()})
    if a.json:
        print(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return 0
    width = max(len("record"), *(len(r["record"]) for r in rows))
    print(f"{'record':<{width}}  " + "  ".join(f"{c:>5}" for c in mc.CLASSES) + "  labels           flat leads   ms")
    for r in rows:
        probs = "  ".join(f"{r['probabilities'][c]:5.3f}" for c in mc.CLASSES)
        labels = ",".join(r["labels"]) or "-"
        flat = ",".join(r["flat_leads"]) or "-"
        print(f"{r['record']:<{width}}  {probs}  {labels:<15}  {flat:<11}  {r['latency_ms']['total']:.1f}")
    return 0


def cmd_score(a) -> int:
    from .score import score, summary_line

    df = score(a.inputs, a.output, engine=a.engine, workers=a.workers, model=a.model, precision=a.precision,
               backend=a.backend, fs_hz=a.fs_hz, verify=not a.no_verify, resume=a.resume,
               progress=not a.no_progress, address=a.address, chunk_size=a.chunk_size)
    summary = df.attrs["summary"]
    print(f"{summary_line(summary)}; saved {a.output}", file=sys.stderr)
    failed = df[df["error"].notna()]
    for rec, err in zip(failed["record"][:3], failed["error"][:3]):
        print(f"  failed: {rec}: {err}", file=sys.stderr)
    if len(failed) > 3:
        print(f"  ... {len(failed) - 3} more in the error column of {a.output}", file=sys.stderr)
    return 1 if len(failed) else 0


def _stats(values_ms) -> dict:
    v = np.asarray(values_ms, dtype=np.float64)
    return {"mean": float(v.mean()), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)),
            "p99": float(np.percentile(v, 99)), "min": float(v.min()), "max": float(v.max())}


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    # x86: "model name"; Raspberry Pi OS (aarch64 has no model name): "Model", e.g. "Raspberry Pi 5 Model B"
    for key in ("model name", "Model", "Hardware"):
        if fields.get(key):
            cpu = fields[key]
            break
    return {"system": platform.system(), "machine": platform.machine(), "cpu": cpu,
            "cpu_count": os.cpu_count(), "python": platform.python_version()}


def cmd_bench(a) -> int:
    clf = _classifier(a)
    if a.record:
        x, fs, gain = load_record(a.record, a.fs_hz, a.gain_per_mv)
        source = a.record
    else:
        x, fs, gain = synthetic_record(BENCH_FS_HZ, BENCH_SECONDS, seed=0), BENCH_FS_HZ, 1000.0
        source = f"synthetic int16, {BENCH_FS_HZ} Hz, {BENCH_SECONDS} s, seed 0"
    if a.iterations < 1 or a.warmup < 0:
        raise CliError("--iterations must be >= 1 and --warmup >= 0")
    kwargs = dict(age=a.age, sex=a.sex, height_cm=a.height_cm, weight_kg=a.weight_kg, gain_per_mv=gain,
                  quality=a.quality)
    for _ in range(a.warmup):
        clf.predict(x, fs, **kwargs)
    total, pre, inf = [], [], []
    t_start = time.perf_counter()
    for _ in range(a.iterations):
        t0 = time.perf_counter()
        r = clf.predict(x, fs, **kwargs)
        total.append((time.perf_counter() - t0) * 1e3)
        pre.append(r.latency_ms["preprocess"])
        inf.append(r.latency_ms["inference"])
    wall_s = time.perf_counter() - t_start
    naive = _bench_naive(clf, x, fs, kwargs, a.iterations, a.warmup) if a.naive else None
    runtime = {}
    if clf.backend == "native":
        from .classifier import ort_runtime

        runtime = ort_runtime()
    result = {
        "tool": f"{PROG} bench",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": _machine(),
        "edgecardio": _version(),
        "engine": engine(),
        "backend": clf.backend,
        "onnxruntime_version": clf.ort_version,
        "onnxruntime_library": runtime.get("path"),
        "threads": clf.threads,
        "model": str(clf.model_path),
        "model_name": clf.model_name,
        "precision": clf.precision,
        "model_size_mb": round(clf.model_path.stat().st_size / 1e6, 3),
        "record": {"source": source, "fs_hz": fs, "shape": list(np.shape(x)), "dtype": str(np.asarray(x).dtype)},
        "warmup": a.warmup,
        "iterations": a.iterations,
        "quality": a.quality,
        "latency_ms": _stats(total),
        "preprocess_ms": _stats(pre),
        "inference_ms": _stats(inf),
        "throughput_per_s": a.iterations / wall_s,
    }
    if naive is not None:
        result["naive"] = naive
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        lat = result["latency_ms"]
        print(f"{clf.backend} backend, {clf.precision} model ({result['model_size_mb']:.2f} MB), "
              f"{clf.threads} thread(s), ONNX Runtime {clf.ort_version}, engine {result['engine']}")
        print(f"latency ms: mean {lat['mean']:.3f}  median {lat['median']:.3f}  p95 {lat['p95']:.3f}  "
              f"p99 {lat['p99']:.3f}  (preprocess {result['preprocess_ms']['median']:.3f}, "
              f"inference {result['inference_ms']['median']:.3f} median)")
        print(f"throughput: {result['throughput_per_s']:.1f} records/s over {a.iterations} runs; saved {a.out}")
        if naive is not None:
            print(f"naive path (scipy spec + InferenceSession, same model and threads): median "
                  f"{naive['latency_ms']['median']:.3f} ms; {clf.backend} is {naive['speedup_median']:.2f}x faster "
                  f"(interleaved blocks)")
    return 0


def _bench_naive(clf, x, fs, kwargs, iterations, warmup) -> dict:
    """Time what a user would write without edgecardio's native code, on the same model file and
    thread count: counts / gain, the float64 scipy specification, InferenceSession.run. Native and
    naive run in interleaved blocks so both see the same machine load (the plain run's figures are
    kept as they are)."""
    try:
        from . import reference
        import scipy  # noqa: F401
    except ImportError:
        raise CliError("--naive needs scipy (pip install 'edgecardio[reference]')") from None
    import onnxruntime as ort

    from .classifier import ort_session_options

    so = ort_session_options(clf.threads)  # same session settings, so both compute the same numbers
    sess = ort.InferenceSession(str(clf.model_path), so, providers=["CPUExecutionProvider"])
    stats = clf.model_card["demographics"]["stats"]
    demo_kw = {k: kwargs[k] for k in ("age", "sex", "height_cm", "weight_kg")}
    x_arr = np.asarray(x)
    n_window = mc.N_SAMPLES * int(fs) // mc.MODEL_FS_HZ
    to_mv = (lambda v: v / kwargs["gain_per_mv"]) if x_arr.dtype.kind in "iu" else (lambda v: v)

    reads_std = clf.reads_lead_std

    def naive():
        ecg, std = reference.preprocess_reference(to_mv(x_arr[:, :n_window]), int(fs), return_std=True)
        demo = mc.encode_demographics(stats, **demo_kw)
        feeds = {mc.INPUT_ECG: ecg[None], mc.INPUT_DEMOGRAPHICS: demo[None]}
        if reads_std:
            feeds[mc.INPUT_LEAD_STD] = std[None].astype(np.float32)
        return sess.run([mc.OUTPUT_PROBABILITIES], feeds)[0]

    def native():
        clf.predict(x, fs, **kwargs)

    for _ in range(warmup):
        naive()
    block = max(1, min(20, iterations // 10))
    nat_blocks, nai_blocks, nai_all = [], [], []
    for _ in range(max(1, iterations // block)):
        for fn, out in ((native, nat_blocks), (naive, nai_blocks)):
            ts = []
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                ts.append((time.perf_counter() - t0) * 1e3)
            out.append(float(np.median(ts)))
            if fn is naive:
                nai_all.extend(ts)
    return {"description": "reference.preprocess_reference (scipy, float64) + onnxruntime InferenceSession.run",
            "latency_ms": _stats(nai_all),
            "block_size": block,
            "native_block_median_ms": float(np.median(nat_blocks)),
            "naive_block_median_ms": float(np.median(nai_blocks)),
            "speedup_median": float(np.median(nai_blocks) / np.median(nat_blocks))}


def _one_line(e: BaseException) -> str:
    """An exception's message on one line (native errors list what they tried on several)."""
    return " ".join(line.strip() for line in str(e).strip().splitlines()) or type(e).__name__


def _version() -> str:
    import edgecardio

    return edgecardio.__version__


def _package_version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cmd_info(a) -> int:
    """Versions and the installation's state; what cannot be loaded is reported, not raised, so that
    the report reaches the user who needs it most (status 1 then)."""
    import edgecardio

    from .classifier import Classifier, ModelError, ort_library_candidates, ort_runtime

    info = {
        "edgecardio": _version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _package_version("onnxruntime"),
        "machine": _machine(),
        "engine": engine(),
        "native_ort_runner": bool(edgecardio.HAS_NATIVE_ORT),
    }
    ok = True
    if edgecardio.HAS_NATIVE_ORT:
        from . import _core

        info["ort_header_api_version"] = int(_core.ORT_API_VERSION)
        try:
            rt = ort_runtime()
            info["ort_library"] = {"path": rt["path"], "version": rt["version"]}
        except (OSError, RuntimeError) as e:
            info["ort_library"] = {"error": _one_line(e), "candidates": ort_library_candidates()}
            ok = False
    backend = a.backend if (a.backend != "native" or edgecardio.HAS_NATIVE_ORT) else "onnxruntime"
    try:
        clf = Classifier(a.model, precision=a.precision, threads=a.threads, backend=backend)
    except (ModelError, OSError, RuntimeError, ImportError) as e:
        info["model"] = {"error": _one_line(e)}
        ok = False
    else:
        card = clf.model_card
        info["model"] = {
            "packaged_name": clf.model_name,
            "path": str(clf.model_path),
            "precision": clf.precision,
            "size_mb": round(clf.model_path.stat().st_size / 1e6, 3),
            "name": card.get("name"),
            "classes": list(clf.classes),
            "thresholds": clf.thresholds,
            "input_fs_hz": card.get("fs_hz", mc.MODEL_FS_HZ),
            "inputs": [n for n, _, _ in clf._backend.inputs],
            "reads_lead_voltage": clf.reads_lead_std,
        }
        info["model"].update(_card_summary(card, clf.precision))
    try:
        from .packaged import model_names

        info["packaged_models"] = model_names()
    except OSError as e:
        info["packaged_models"] = {"error": _one_line(e)}
        ok = False
    if a.json:
        print(json.dumps(info, indent=2))
        return 0 if ok else 1
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return 0 if ok else 1


def _card_summary(card: dict, precision: str) -> dict:
    """The model card's headline facts (the whole card, with the training history, is
    ``Classifier.model_card`` or ``model_card.json`` beside the model)."""
    out = {k: card[k] for k in ("version", "created") if k in card}
    val = card.get("metrics", {}).get("validation", {})
    for name in ("fp32", "int8"):
        m = val.get(name)
        if isinstance(m, dict) and "macro_auc" in m:
            lo, hi = m.get("macro_auc_ci90", (None, None))
            ci = f" (90% CI {lo:.4f}-{hi:.4f})" if lo is not None else ""
            out[f"val_macro_auc_{name}"] = f"{m['macro_auc']:.4f}{ci} on folds {val.get('folds')}"
    m = val.get(precision)
    if isinstance(m, dict) and "per_class_auc" in m:
        out["val_per_class_auc"] = {c: round(v, 4) for c, v in m["per_class_auc"].items()}
    arch = card.get("architecture", {})
    if arch:
        out["parameters"] = arch.get("parameters")
        out["graph"] = arch.get("inference", {}).get("graph")
    if "quantization" in card:
        q = card["quantization"]
        out["quantization"] = f"{q.get('format')}: weights {q.get('weights')}, activations {q.get('activations')}"
    if "trained_on" in card:
        t = card["trained_on"]
        out["trained_on"] = (f"{t.get('data_version')}, folds {t.get('train_folds')} "
                             f"({t.get('n_train')} records), selected on {t.get('val_folds')}")
    return out


def cmd_models(a) -> int:
    """The packaged models: what ``--model NAME`` and ``Classifier(model=NAME)`` take."""
    from .packaged import MODELS_DIR, models

    infos = models()
    if a.json:
        print(json.dumps([m.to_dict() for m in infos], indent=2))
        return 0
    if not infos:
        raise CliError(f"no packaged models in {MODELS_DIR}: the installation is incomplete (reinstall edgecardio)")
    precisions = [p for p in ("int8", "fp32") if any(p in m.precisions for m in infos)]
    precisions += sorted({p for m in infos for p in m.precisions} - set(precisions))

    def cell(v, fmt):
        return "-" if v is None else format(v, fmt)

    head = ["name", "default", "parameters", *(f"AUC {p}" for p in precisions), *(f"{p} ms" for p in precisions),
            *(f"{p} MB" for p in precisions), "description"]
    rows = [[m.name, "yes" if m.default else "", cell(m.parameters, ",d"),
             *(cell(m.macro_auc.get(p), ".4f") for p in precisions),
             *(cell(m.latency_ms.get(p), ".2f") for p in precisions),
             *(cell(m.file_bytes[p] / 1e6 if p in m.file_bytes else None, ".2f") for p in precisions),
             m.description] for m in infos]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[-1])
    folds = sorted({f for m in infos for f in m.validation_folds})
    print(f"\nAUC: macro ROC AUC on PTB-XL fold(s) {', '.join(map(str, folds)) or '?'} (used to select the models), "
          f"as each model card records it. ms: median inference time recorded in the card (ONNX Runtime, batch 1, "
          f"1 thread), measured when the model was shipped:")
    for note in dict.fromkeys(m.latency_note for m in infos if m.latency_note):
        print(f"  {', '.join(m.name for m in infos if m.latency_note == note)}: {note}")
    print(f"Pick one: edgecardio predict --model NAME ...; edgecardio.Classifier(model=NAME). "
          f"`edgecardio info --model NAME` shows one model's card summary.")
    return 0


def cmd_app(a) -> int:
    from .app import serve

    try:
        serve(port=a.port, address=a.address)  # does not return: the process becomes the server
    except ImportError as e:
        raise CliError(str(e)) from None
    return 0


# ---------------------------------------------------------------- monitor
FRAME_CHANNELS = mc.N_LEADS
FRAME_BYTES = 2 * FRAME_CHANNELS  # little-endian int16 per channel, channels interleaved


def _monitor_line(r) -> str:
    probs = " ".join(f"{c} {r.prediction.probabilities[c]:.3f}" for c in mc.CLASSES)
    stable = ",".join(r.stable_labels) or "-"
    raw = ",".join(r.labels) or "-"
    q = r.quality
    if not q.trusted:
        state = f"UNTRUSTED ({q.reason})"
    else:
        bad = " ".join(f"{lead}:{'/'.join(q.lead_flags(lead))}" for lead in q.unusable_leads)
        state = f"bad leads {bad}" if bad else "ok"
    mark = " (flush)" if r.flushed else ""
    return f"{r.t_end_s:8.2f}{mark}  {stable:<14} {raw:<14} {probs}  {state}"


def _stdin_chunks(stream, frames_per_chunk: int):
    """(12, k) int16 chunks from raw interleaved little-endian frames; a partial frame at the end
    raises CliError after every whole frame before it was yielded."""
    want = frames_per_chunk * FRAME_BYTES
    rest = b""
    while True:
        block = stream.read(want)
        if not block:
            break
        data = rest + block
        whole = len(data) // FRAME_BYTES * FRAME_BYTES
        rest = data[whole:]
        if whole:
            frames = np.frombuffer(data[:whole], dtype="<i2").reshape(-1, FRAME_CHANNELS)
            yield np.ascontiguousarray(frames.T.astype(np.int16))
    if rest:
        raise CliError(f"stdin ended with a partial frame ({len(rest)} of {FRAME_BYTES} bytes): the stream must be "
                       f"frames of {FRAME_CHANNELS} interleaved little-endian int16 channels ({FRAME_BYTES} bytes "
                       f"each); check the channel count and sample format of the source. Results before it are complete.")


def cmd_monitor(a) -> int:
    from .monitor import Monitor

    if a.source == "-":
        if a.fs_hz is None:
            raise CliError("monitoring stdin needs --fs-hz (and --gain-per-mv unless it is 1000 counts per mV)")
        fs, gain = a.fs_hz, 1000.0 if a.gain_per_mv is None else a.gain_per_mv
        x = None
    else:
        x, fs, gain = load_record(a.source, a.fs_hz, a.gain_per_mv)
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] != mc.N_LEADS:
            raise CliError(f"{a.source}: shape {x.shape}; a ({mc.N_LEADS}, n) record is needed"
                           + ("; transpose it" if x.ndim == 2 and x.shape[1] == mc.N_LEADS else ""))
        if x.dtype.kind == "f":
            gain = 1000.0
    mon = Monitor(fs, classifier=_classifier(a), hop_s=a.hop_s, gain_per_mv=gain, age=a.age, sex=a.sex,
                  height_cm=a.height_cm, weight_kg=a.weight_kg, stable_k=a.stable_k, stable_m=a.stable_m,
                  max_bad_leads=a.max_bad_leads)
    fs = mon.fs_hz
    if a.chunk_ms <= 0:
        raise CliError(f"--chunk-ms must be positive, got {a.chunk_ms:g}")
    k = max(1, int(round(fs * a.chunk_ms / 1000.0)))
    if not a.jsonl:
        print(f"# {a.source}: {fs} Hz, hop {mon.hop_s:g} s, stable = {a.stable_k} of {a.stable_m} windows; "
              f"columns: end of window (s), stable labels, window labels, probabilities, quality", flush=True)

    def emit(results):
        for r in results:
            print(json.dumps(r.to_dict()) if a.jsonl else _monitor_line(r), flush=True)

    n_results = 0
    try:
        if x is None:
            chunks = _stdin_chunks(sys.stdin.buffer, k)
        else:
            chunks = (x[:, i: i + k] for i in range(0, x.shape[1], k))
        t0 = time.perf_counter()
        for chunk in chunks:
            res = mon.push(chunk)
            if a.realtime and x is not None:  # a replay paced as the samples would arrive
                delay = t0 + mon.samples_seen / fs - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            emit(res)
            n_results += len(res)
    finally:
        # Whatever ends the stream (its end, a malformed frame, Ctrl-C), the last partial hop is shown.
        res = mon.flush()
        emit(res)
        n_results += len(res)
    if n_results == 0:
        print(f"{PROG}: the stream ended after {mon.t_s:g} s, before its first 10-s window", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- argument parsing
def _model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", help="a packaged model name (`edgecardio models` lists them), a model directory, "
                                   "or an .onnx file (model_card.json beside it); default: the default packaged "
                                   "model")
    g.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    g.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads (default 1)")
    g.add_argument("--backend", choices=("native", "onnxruntime"), default="native")


def _record_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("record")
    g.add_argument("--fs-hz", type=float, help="sampling rate of .npy records (WFDB headers carry theirs)")
    g.add_argument("--gain-per-mv", type=float,
                   help="ADC counts per mV of integer .npy records (default 1000; WFDB headers carry theirs)")
    g = p.add_argument_group("demographics (optional; the same for every record)")
    g.add_argument("--age", type=float, help="years")
    g.add_argument("--sex", help="male or female")
    g.add_argument("--height-cm", type=float)
    g.add_argument("--weight-kg", type=float)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=f"Real-time 12-lead ECG classification ({', '.join(mc.CLASSES)}).")
    ap.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("predict", help="diagnose records",
                       description="Diagnose 10-s 12-lead records. --json prints one object for one record, "
                                   "a list for several.")
    p.add_argument("records", nargs="+", metavar="RECORD",
                   help="a WFDB record (path with or without .hea), .edf/.bdf, .dcm, or a .npy array (12, n)")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.add_argument("--no-verify", action="store_true",
                   help="decode WFDB records whose header checksums or initial values do not match the samples")
    _record_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("score", help="score an archive: one row per record, to Parquet or CSV",
                       description="Score every record of files, directories (recursive), globs or manifest CSVs "
                                   "(a path column; optional age, sex, height_cm, weight_kg, fs_hz). A record that "
                                   "cannot be read or scored becomes a row with its error; the exit status is 1 "
                                   "when any record failed.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="record file, directory, glob, or manifest .csv")
    p.add_argument("-o", "--output", required=True, help="results .parquet or .csv")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); "
                        "ray: Ray Data (pip install 'edgecardio[ray]')")
    p.add_argument("--workers", type=int, help="processes or Ray actors (default: the CPU count)")
    p.add_argument("--address", help="Ray cluster to join (e.g. auto, ray://head:10001); default: a local instance")
    p.add_argument("--resume", action="store_true",
                   help="keep the rows without error already in OUTPUT; score the rest")
    p.add_argument("--chunk-size", type=int, default=32, help="records per task sent to a worker (default 32)")
    p.add_argument("--fs-hz", type=float, help="sampling rate of .npy records (or an fs_hz manifest column)")
    p.add_argument("--no-verify", action="store_true", help="skip the WFDB checksum and initial-value check")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("model")
    g.add_argument("--model", help="a packaged model name (`edgecardio models` lists them), a model directory, "
                                   "or an .onnx file; default: the default packaged model")
    g.add_argument("--precision", choices=("int8", "fp32"), default="int8")
    g.add_argument("--backend", choices=("native", "onnxruntime"), default="native")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("bench", help="measure end-to-end latency",
                       description="Time predict() on one record (default: a synthetic 10-s 12-lead 500 Hz "
                                   "int16 record) and save the results as JSON.")
    p.add_argument("--record", help="WFDB record or .npy to time instead of the synthetic one")
    p.add_argument("--iterations", type=int, default=500)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--out", default="benchmark_results.json", help="where to save (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="also print the results as JSON")
    p.add_argument("--quality", action="store_true",
                   help="time predict with its per-lead signal quality (predict's default); off by default so the "
                        "figures compare like with like against --naive, which computes none")
    p.add_argument("--naive", action="store_true",
                   help="also time the naive path (scipy float64 spec + InferenceSession.run, same model file and "
                        "threads) in interleaved blocks and report the speedup (needs scipy)")
    _record_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("monitor", help="follow a stream: a diagnosis and lead quality every hop",
                       description="Replay a record (WFDB or .npy; --realtime paces it) or read a live stream "
                                   "from stdin ('-': raw little-endian int16 frames of 12 interleaved channels, "
                                   "with --fs-hz and --gain-per-mv) and print one line per hop, or JSON lines.")
    p.add_argument("source", metavar="SOURCE", help="a WFDB record, a .npy array (12, n), or - for stdin")
    p.add_argument("--hop-s", type=float, default=1.0, help="seconds between windows (default 1)")
    p.add_argument("--realtime", action="store_true", help="replay a record at its sampling rate")
    p.add_argument("--chunk-ms", type=float, default=40.0, help="samples pushed at a time (default 40 ms)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per hop")
    p.add_argument("--stable-k", type=int, default=2, help="a class is stable in k of the last m windows (k, default 2)")
    p.add_argument("--stable-m", type=int, default=3, help="(m, default 3)")
    p.add_argument("--max-bad-leads", type=int, default=2,
                   help="a window with more unusable leads is untrusted (default 2)")
    _record_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("info", help="versions, engine, model card")
    p.add_argument("--json", action="store_true")
    _model_options(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("models", help="the packaged models: name, accuracy, latency, size",
                       description="List the models packaged with edgecardio, with what their model cards "
                                   "record: fold-9 macro AUC, inference latency, parameters, file sizes. "
                                   "--model NAME (predict, score, monitor, bench, info) picks one.")
    p.add_argument("--json", action="store_true", help="JSON instead of a table")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("app", help="the Streamlit app: the ECG, the diagnosis and why",
                       description="Serve the EdgeCardio app on this machine (needs the app extra: "
                                   "pip install 'edgecardio[app]'); it prints its URL.")
    p.add_argument("--port", type=int, default=8501, help="TCP port (default: %(default)s)")
    p.add_argument("--address", default="localhost",
                   help="interface to listen on (default: %(default)s; 0.0.0.0 for every interface)")
    p.set_defaults(func=cmd_app)
    return ap


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    if getattr(a, "threads", 1) < 1:
        build_parser().error("--threads must be >= 1")
    try:
        return a.func(a)
    except BrokenPipeError:
        # `edgecardio ... | head`: the reader left; not an error of ours. Silence the final flush too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (CliError, ValueError, TypeError, OSError, RuntimeError, ImportError) as e:
        # Every input problem is one line; a traceback would hide it.
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
