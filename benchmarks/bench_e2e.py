"""End-to-end and per-stage latency: native vs the onnxruntime Python backend vs the naive path vs
PyTorch eager, FP32 vs INT8, 1 and 2 threads, all in one process.

    python -m pytest benchmarks/bench_e2e.py --benchmark-json=benchmarks/results_e2e.json

The record: 10 s, 12 leads, 500 Hz, int16 counts at 1000/mV (edgecardio._synthetic.synthetic_record,
seed 0), demographics given. Paths:

* ``native``: ``Classifier(backend="native").predict``: fixed-point preprocessing written into the
  ORT input tensor, ONNX Runtime C API, one GIL-free call.
* ``onnxruntime``: ``Classifier(backend="onnxruntime").predict``: the same native preprocessing, then
  ``InferenceSession.run`` from Python.
* ``naive``: what a user would write without this package: counts / gain, the float64 scipy
  specification (``edgecardio.reference``), ``InferenceSession.run`` (same model file, same threads).
* ``torch``: the scipy specification, then LightECGNet in PyTorch eager (fp32 only): the packaged
  card's architecture and graph (full window or crop ensemble) with fixed-seed weights, so the
  compute is the shipped graph's.

Speed is measured here, never asserted. ``test_native_vs_naive`` records the single-thread speedup
(the issue's target: >= 2.5x) in the JSON's extra_info.
"""
import gc
import time

import numpy as np
import pytest

import edgecardio
from edgecardio import modelcard as mc
from edgecardio.classifier import Classifier
from edgecardio.packaged import model_dir
from edgecardio._synthetic import synthetic_record

FS_HZ = 500
GAIN = 1000.0
DEMO = dict(age=63.0, sex="female", height_cm=165.0, weight_kg=70.0)
MODEL_DIR = model_dir()  # the default packaged model, what Classifier() loads
PRECISIONS = ["int8", "fp32"]
THREADS = [1, 2]
HAS_NATIVE = edgecardio.HAS_NATIVE_ORT
needs_native = pytest.mark.skipif(not HAS_NATIVE, reason="built without the native ORT runner")


@pytest.fixture(scope="module")
def record():
    return synthetic_record(FS_HZ, 10, seed=0)


_classifiers = {}


def classifier(backend, precision, threads):
    key = (backend, precision, threads)
    if key not in _classifiers:
        _classifiers[key] = Classifier(precision=precision, threads=threads, backend=backend)
    return _classifiers[key]


def session(precision, threads):
    import onnxruntime as ort

    from edgecardio.classifier import ort_session_options

    so = ort_session_options(threads)  # the package's settings, so every path computes the same numbers
    return ort.InferenceSession(str(MODEL_DIR / f"lightecgnet_{precision}.onnx"), so,
                                providers=["CPUExecutionProvider"])


def reads_lead_std(sess) -> bool:
    """Whether the session's graph takes the optional ``lead_std_mv`` input (the packaged models do)."""
    return any(i.name == mc.INPUT_LEAD_STD for i in sess.get_inputs())


def naive_predict_fn(precision, threads):
    """The path without edgecardio's native code: scipy float64 preprocessing + InferenceSession."""
    from edgecardio import reference

    sess = session(precision, threads)
    card = mc.load_card(MODEL_DIR / "model_card.json")
    stats = card["demographics"]["stats"]

    reads_std = reads_lead_std(sess)

    def predict(x):
        ecg, std = reference.preprocess_reference(x / GAIN, FS_HZ, return_std=True)
        demo = mc.encode_demographics(stats, **DEMO)
        feeds = {mc.INPUT_ECG: ecg[None], mc.INPUT_DEMOGRAPHICS: demo[None]}
        if reads_std:
            feeds[mc.INPUT_LEAD_STD] = std[None].astype(np.float32)
        return sess.run([mc.OUTPUT_PROBABILITIES], feeds)[0][0]

    return predict


def torch_model():
    """LightECGNet in PyTorch eager with the packaged card's architecture and graph (weights are
    fixed-seed: the compute, not the values, is what is timed)."""
    torch = pytest.importorskip("torch")
    try:
        from training.model import CropEnsemble, LightECGNet, ModelConfig
    except ImportError as e:
        pytest.skip(f"training package not importable: {e}")
    arch = mc.load_card(MODEL_DIR / "model_card.json").get("architecture", {})
    fields = set(ModelConfig.__dataclass_fields__)
    torch.manual_seed(0)
    backbone = LightECGNet(ModelConfig(**{k: v for k, v in arch.items() if k in fields}))
    crops = (arch.get("inference") or {}).get("crops")
    if crops:
        return CropEnsemble(backbone, crop_len=crops["crop_len"], stride=crops["stride"]).eval()
    if (arch.get("inference") or {}).get("graph") == "full":
        return CropEnsemble(backbone, crop_len=None).eval()
    return CropEnsemble(backbone).eval()  # cards from before the graph choice: the crop ensemble


def torch_predict_fn(threads):
    torch = pytest.importorskip("torch")
    from edgecardio import reference

    torch.set_num_threads(threads)
    model = torch_model()
    card = mc.load_card(MODEL_DIR / "model_card.json")
    stats = card["demographics"]["stats"]

    def predict(x):
        ecg, std = reference.preprocess_reference(x / GAIN, FS_HZ, return_std=True)
        demo = mc.encode_demographics(stats, **DEMO)
        with torch.inference_mode():
            return model(torch.from_numpy(ecg[None]), torch.from_numpy(demo[None]),
                         torch.from_numpy(std[None].astype(np.float32)) if model.uses_lead_std else None)[0].numpy()

    return predict


def _info(benchmark, **kw):
    benchmark.extra_info.update({"engine": edgecardio.engine(),
                                 "record": f"int16 (12, {10 * FS_HZ}) at {FS_HZ} Hz", **kw})


# ---------------------------------------------------------------- end to end
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("path", ["native", "native+quality", "onnxruntime", "naive", "torch"])
def test_e2e(benchmark, record, path, precision, threads):
    benchmark.group = f"e2e {precision} {threads} thread(s)"
    if path in ("native", "native+quality", "onnxruntime"):
        if path.startswith("native") and not HAS_NATIVE:
            pytest.skip("built without the native ORT runner")
        clf = classifier(path.split("+")[0], precision, threads)
        # Quality only where asked: the other paths compute none, so "native" compares like with like.
        with_quality = path == "native+quality"
        fn = lambda: clf.predict(record, FS_HZ, gain_per_mv=GAIN, quality=with_quality, **DEMO)  # noqa: E731
    elif path == "naive":
        fn = naive_predict_fn(precision, threads)
        fn = (lambda f: lambda: f(record))(fn)
    else:
        if precision != "fp32":
            pytest.skip("PyTorch eager runs the fp32 model only")
        fn = (lambda f: lambda: f(record))(torch_predict_fn(threads))
    _info(benchmark, path=path, precision=precision, threads=threads)
    benchmark.pedantic(fn, rounds=100, iterations=1, warmup_rounds=10)


# ---------------------------------------------------------------- stages
@pytest.mark.parametrize("impl", ["native", "reference"])
def test_stage_preprocess(benchmark, record, impl):
    benchmark.group = "stage preprocess"
    if impl == "native":
        from edgecardio import preprocess

        fn = lambda: preprocess(record, FS_HZ, gain_per_mv=GAIN)  # noqa: E731
    else:
        from edgecardio import reference

        fn = lambda: reference.preprocess_reference(record / GAIN, FS_HZ)  # noqa: E731
    _info(benchmark, impl=impl)
    benchmark.pedantic(fn, rounds=200, iterations=1, warmup_rounds=10)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("impl", ["native", "onnxruntime", "torch"])
def test_stage_inference(benchmark, rng, impl, precision, threads):
    benchmark.group = f"stage inference {precision} {threads} thread(s)"
    ecg = rng.standard_normal((1, 12, 1000)).astype(np.float32)
    demo = rng.standard_normal((1, 8)).astype(np.float32)
    std = rng.uniform(0.05, 0.5, (1, 12)).astype(np.float32)
    if impl == "native":
        if not HAS_NATIVE:
            pytest.skip("built without the native ORT runner")
        runner = classifier("native", precision, threads)._backend.runner
        s0 = std[0] if runner.reads_lead_std else None
        fn = lambda: runner.run_leased(ecg[0], demo[0], s0)  # noqa: E731
    elif impl == "onnxruntime":
        sess = session(precision, threads)
        feeds = {mc.INPUT_ECG: ecg, mc.INPUT_DEMOGRAPHICS: demo}
        if reads_lead_std(sess):
            feeds[mc.INPUT_LEAD_STD] = std
        fn = lambda: sess.run(None, feeds)  # noqa: E731
    else:
        if precision != "fp32":
            pytest.skip("PyTorch eager runs the fp32 model only")
        torch = pytest.importorskip("torch")
        torch.set_num_threads(threads)
        model = torch_model()
        te, td = torch.from_numpy(ecg), torch.from_numpy(demo)
        ts = torch.from_numpy(std) if model.uses_lead_std else None

        def fn():
            with torch.inference_mode():
                return model(te, td, ts)
    _info(benchmark, impl=impl, precision=precision, threads=threads)
    benchmark.pedantic(fn, rounds=100, iterations=1, warmup_rounds=10)


# ---------------------------------------------------------------- the target, in one process
def _median_ms(fn, n):
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts) * 1e3)


@needs_native
@pytest.mark.parametrize("precision", PRECISIONS)
def test_native_vs_naive(benchmark, record, precision):
    """Native predict vs the naive path on the same model file, 1 thread, interleaved rounds so both
    see the same machine load. The ratio of medians goes to extra_info["speedup"]."""
    benchmark.group = "native vs naive (1 thread)"
    clf = classifier("native", precision, 1)
    native = lambda: clf.predict(record, FS_HZ, gain_per_mv=GAIN, quality=False, **DEMO)  # noqa: E731
    naive = (lambda f: lambda: f(record))(naive_predict_fn(precision, 1))
    np.testing.assert_allclose(naive(), np.array(list(native().probabilities.values())), atol=5e-3)
    for f in (native, naive):
        for _ in range(10):
            f()
    gc.collect()
    nat, nai = [], []
    for _ in range(10):  # interleave: 10 blocks of 20 each
        nat.append(_median_ms(native, 20))
        nai.append(_median_ms(naive, 20))
    nat_ms, nai_ms = float(np.median(nat)), float(np.median(nai))
    _info(benchmark, precision=precision, threads=1, native_median_ms=nat_ms, naive_median_ms=nai_ms,
          speedup=nai_ms / nat_ms)
    print(f"\n{precision}: native {nat_ms:.3f} ms, naive {nai_ms:.3f} ms, speedup {nai_ms / nat_ms:.2f}x")
    benchmark.pedantic(native, rounds=50, iterations=1, warmup_rounds=5)
