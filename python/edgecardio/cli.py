"""The ``edgecardio`` command: diagnose records, benchmark latency, describe the installation.

    edgecardio predict RECORD... [--json]       # WFDB, EDF/BDF, DICOM, or .npy (12, n) + --fs-hz
    edgecardio score INPUT... -o results.parquet [--engine local|ray] [--resume]
    edgecardio bench [--out benchmark_results.json]
    edgecardio info [--json]

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
    if clf.model_card.get("placeholder"):
        print("note: the packaged model is an untrained placeholder; its probabilities are meaningless",
              file=sys.stderr)
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


def synthetic_record(fs_hz: int = BENCH_FS_HZ, seconds: int = BENCH_SECONDS, seed: int = 0) -> np.ndarray:
    """A seeded int16 (12, fs*seconds) ECG-like record at 1000 counts/mV: pulse train, baseline
    wander, mains hum and noise. Deterministic, so benchmark runs compare like with like."""
    rng = np.random.default_rng(seed)
    t = np.arange(fs_hz * seconds) / fs_hz
    beat = ((t * 1.2) % 1.0) - 0.3
    qrs = np.exp(-0.5 * (beat / 0.012) ** 2) - 0.15 * np.exp(-0.5 * ((beat + 0.03) / 0.01) ** 2)
    twave = 0.25 * np.exp(-0.5 * ((beat - 0.25) / 0.04) ** 2)
    x = np.empty((mc.N_LEADS, t.size))
    for lead in range(mc.N_LEADS):
        amp = rng.uniform(0.4, 1.5) * rng.choice([-1, 1])
        x[lead] = (amp * (qrs + twave) + 0.2 * np.sin(2 * np.pi * 0.3 * t + lead)
                   + 0.02 * np.sin(2 * np.pi * 50 * t) + 0.01 * rng.standard_normal(t.size))
    return np.round(x * 1000).astype(np.int16)


def _stats(values_ms) -> dict:
    v = np.asarray(values_ms, dtype=np.float64)
    return {"mean": float(v.mean()), "median": float(np.median(v)), "p95": float(np.percentile(v, 95)),
            "p99": float(np.percentile(v, 99)), "min": float(v.min()), "max": float(v.max())}


def _engine_name() -> str:
    import edgecardio

    return edgecardio.engine() if hasattr(edgecardio, "engine") else "unknown"


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
        x, fs, gain = synthetic_record(), BENCH_FS_HZ, 1000.0
        source = f"synthetic int16, {BENCH_FS_HZ} Hz, {BENCH_SECONDS} s, seed 0"
    if a.iterations < 1 or a.warmup < 0:
        raise CliError("--iterations must be >= 1 and --warmup >= 0")
    kwargs = dict(age=a.age, sex=a.sex, height_cm=a.height_cm, weight_kg=a.weight_kg, gain_per_mv=gain)
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
    naive = _bench_naive(clf, x, fs, kwargs, a.iterations, a.warmup, total) if a.naive else None
    runtime = {}
    if clf.backend == "native":
        from .classifier import ort_runtime

        runtime = ort_runtime()
    result = {
        "tool": f"{PROG} bench",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": _machine(),
        "edgecardio": _version(),
        "engine": _engine_name(),
        "backend": clf.backend,
        "onnxruntime_version": clf.ort_version,
        "onnxruntime_library": runtime.get("path"),
        "threads": clf.threads,
        "model": str(clf.model_path),
        "precision": clf.precision,
        "model_size_mb": round(clf.model_path.stat().st_size / 1e6, 3),
        "placeholder_model": bool(clf.model_card.get("placeholder", False)),
        "record": {"source": source, "fs_hz": fs, "shape": list(np.shape(x)), "dtype": str(np.asarray(x).dtype)},
        "warmup": a.warmup,
        "iterations": a.iterations,
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


def _bench_naive(clf, x, fs, kwargs, iterations, warmup, total_ms) -> dict:
    """Time what a user would write without edgecardio's native code, on the same model file and
    thread count: counts / gain, the float64 scipy specification, InferenceSession.run. Native and
    naive run in interleaved blocks so both see the same machine load; ``total_ms`` (the plain run
    above) is kept as it is."""
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

    def naive():
        ecg = reference.preprocess_reference(to_mv(x_arr[:, :n_window]), int(fs))
        demo = mc.encode_demographics(stats, **demo_kw)
        return sess.run([mc.OUTPUT_PROBABILITIES], {mc.INPUT_ECG: ecg[None], mc.INPUT_DEMOGRAPHICS: demo[None]})[0]

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
    import edgecardio

    from .classifier import Classifier, ort_library_candidates, ort_runtime

    info = {
        "edgecardio": _version(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": _package_version("onnxruntime"),
        "machine": _machine(),
        "engine": _engine_name(),
        "native_ort_runner": bool(edgecardio.HAS_NATIVE_ORT),
    }
    if edgecardio.HAS_NATIVE_ORT:
        from . import _core

        info["ort_header_api_version"] = int(_core.ORT_API_VERSION)
        try:
            rt = ort_runtime()
            info["ort_library"] = {"path": rt["path"], "version": rt["version"]}
        except OSError as e:
            info["ort_library"] = {"error": str(e).splitlines()[0], "candidates": ort_library_candidates()}
    backend = a.backend if (a.backend != "native" or edgecardio.HAS_NATIVE_ORT) else "onnxruntime"
    clf = Classifier(a.model, precision=a.precision, threads=a.threads, backend=backend)
    card = clf.model_card
    info["model"] = {
        "path": str(clf.model_path),
        "precision": clf.precision,
        "size_mb": round(clf.model_path.stat().st_size / 1e6, 3),
        "name": card.get("name"),
        "placeholder": bool(card.get("placeholder", False)),
        "classes": list(clf.classes),
        "thresholds": clf.thresholds,
        "input_fs_hz": card.get("fs_hz", mc.MODEL_FS_HZ),
    }
    info["model"].update(_card_summary(card, clf.precision))
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return 0


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


# ---------------------------------------------------------------- argument parsing
def _model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", help="an .onnx file (model_card.json beside it) or a model directory; "
                                   "default: the packaged model")
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
    ap = argparse.ArgumentParser(prog=PROG, description="Real-time 12-lead ECG classification (NORM, MI, STTC, CD, HYP).")
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
    g.add_argument("--model", help="an .onnx file or a model directory; default: the packaged model")
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
    p.add_argument("--naive", action="store_true",
                   help="also time the naive path (scipy float64 spec + InferenceSession.run, same model file and "
                        "threads) in interleaved blocks and report the speedup (needs scipy)")
    _record_options(p)
    _model_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("info", help="versions, engine, model card")
    p.add_argument("--json", action="store_true")
    _model_options(p)
    p.set_defaults(func=cmd_info)
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
        msg = str(e).strip().splitlines()
        print(f"{PROG}: error: {' '.join(line.strip() for line in msg) if msg else type(e).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
