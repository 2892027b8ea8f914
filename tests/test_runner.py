"""The native ONNX Runtime runner (edgecardio._core.OrtRunner) and model loading checks.

Oracle: the onnxruntime Python API on the same file. Both run the same ONNX Runtime build (the
wheel's libonnxruntime.so and its Python module), same thread count, so single-record results
must agree to float32 rounding (1e-6); the issue's cross-backend bound is 1e-4.
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import edgecardio
from edgecardio import modelcard as mc
from edgecardio.classifier import Classifier, ModelError, ort_library_candidates
from edgecardio.packaged import model_dir
from _ptbxl import fold_start

MODEL_DIR = model_dir()  # the default packaged model

# CI sets EDGECARDIO_REQUIRE_NATIVE_ORT=1: there a build without the runner fails these tests instead
# of skipping them.
pytestmark = pytest.mark.skipif(not edgecardio.HAS_NATIVE_ORT and os.environ.get("EDGECARDIO_REQUIRE_NATIVE_ORT") != "1",
                                reason="built without the native ORT runner")

ATOL_SAME_ENGINE = 1e-6


# ---------------------------------------------------------------- tiny models with the contract's IO
def make_model(path, *, seed=0, ecg_name=mc.INPUT_ECG, ecg_shape=("batch", 12, 1000),
               demo_name=mc.INPUT_DEMOGRAPHICS, demo_type=None, out_name=mc.OUTPUT_PROBABILITIES,
               n_out=5, extra_input=False, lead_std=None):
    """A small ONNX model: probabilities = sigmoid([max_t ecg, min_t ecg, demographics] @ W + b).

    ``lead_std``: None, or the shape of an optional ``lead_std_mv`` input (``("batch", 12)`` is the
    contract's), whose log joins the features.

    Fast enough for 10,000-run tests, sensitive to every lead and every demographic feature. The
    keyword arguments bend the signature to make contract violations.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    n_feat = 2 * ecg_shape[1] + 8 + (lead_std[1] if lead_std else 0)
    w = numpy_helper.from_array((rng.standard_normal((n_feat, n_out)) * 0.3).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal(n_out).astype(np.float32) * 0.1, "B")
    demo_type = TensorProto.FLOAT if demo_type is None else demo_type
    nodes = [
        helper.make_node("ReduceMax", [ecg_name], ["mx"], axes=[2], keepdims=0),
        helper.make_node("ReduceMin", [ecg_name], ["mn"], axes=[2], keepdims=0),
        helper.make_node("Cast", [demo_name], ["demo_f"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["mx", "mn", "demo_f"] + (["log_std"] if lead_std else []), ["feat"], axis=1),
        helper.make_node("MatMul", ["feat", "W"], ["z0"]),
        helper.make_node("Add", ["z0", "B"], ["z"]),
        helper.make_node("Sigmoid", ["z"], [out_name]),
    ]
    inputs = [helper.make_tensor_value_info(ecg_name, TensorProto.FLOAT, list(ecg_shape)),
              helper.make_tensor_value_info(demo_name, demo_type, ["batch", 8])]
    if lead_std:
        inputs.append(helper.make_tensor_value_info(mc.INPUT_LEAD_STD, TensorProto.FLOAT, list(lead_std)))
        floor = numpy_helper.from_array(np.array(mc.FLAT_STD_MV, np.float32), "FLOOR")
        nodes[:0] = [helper.make_node("Constant", [], ["floor"], value=floor),
                     helper.make_node("Max", [mc.INPUT_LEAD_STD, "floor"], ["std_c"]),
                     helper.make_node("Log", ["std_c"], ["log_std"])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["batch", 1]))
        nodes.append(helper.make_node("Identity", ["extra"], ["extra_out"]))
    outputs = [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", n_out])]
    if extra_input:
        outputs.append(helper.make_tensor_value_info("extra_out", TensorProto.FLOAT, ["batch", 1]))
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_card(directory, **overrides):
    """A valid model card (the packaged one) into ``directory``, with overrides."""
    card = mc.load_card(MODEL_DIR / "model_card.json")
    card.update(overrides)
    import json

    (directory / "model_card.json").write_text(json.dumps(card))
    return directory / "model_card.json"


@pytest.fixture
def tiny(tmp_path):
    write_card(tmp_path)
    return make_model(tmp_path / "tiny.onnx")


@pytest.fixture(scope="module")
def runtime():
    from edgecardio.classifier import ort_runtime

    return ort_runtime()


def ort_session(path, threads=1):
    import onnxruntime as ort

    from edgecardio.classifier import ort_session_options

    return ort.InferenceSession(str(path), ort_session_options(threads), providers=["CPUExecutionProvider"])


def random_inputs(rng, n):
    return (rng.standard_normal((n, 12, 1000)).astype(np.float32),
            rng.standard_normal((n, 8)).astype(np.float32))


# ---------------------------------------------------------------- the library
def test_runtime_is_the_wheels_library(runtime):
    import onnxruntime

    assert runtime["version"] == onnxruntime.__version__
    assert runtime["api_version"] == edgecardio._core.ORT_API_VERSION
    if "EDGECARDIO_ORT_LIB" not in os.environ:
        assert os.path.dirname(runtime["path"]).endswith(os.path.join("onnxruntime", "capi"))


def test_candidates_order(monkeypatch):
    monkeypatch.delenv("EDGECARDIO_ORT_LIB", raising=False)
    c = ort_library_candidates()
    assert c[-1] == "libonnxruntime.so.1"
    assert any("onnxruntime" in p and "capi" in p for p in c[:-1])
    monkeypatch.setenv("EDGECARDIO_ORT_LIB", "/opt/ort/libonnxruntime.so")
    assert ort_library_candidates() == ["/opt/ort/libonnxruntime.so"]


@pytest.mark.parametrize("lib, why", [("/nonexistent/libonnxruntime.so.1", "No such file"),
                                      (np.__file__, "")])  # a file that is not a shared library
def test_load_error_names_what_was_tried(lib, why):
    # A fresh process: the runtime loads once per process and this one already has it.
    code = ("import edgecardio\n"
            "try:\n    edgecardio.classifier.Classifier()\n"
            "except OSError as e:\n    print('OSERROR', e)\n")
    env = {**os.environ, "EDGECARDIO_ORT_LIB": lib}
    out = subprocess.run([sys.executable, "-c", "import edgecardio.classifier\n" + code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert "OSERROR could not load ONNX Runtime; tried:" in out.stdout, out.stdout + out.stderr
    assert lib in out.stdout and why in out.stdout
    assert "EDGECARDIO_ORT_LIB" in out.stdout


# ---------------------------------------------------------------- runner vs onnxruntime Python
@pytest.mark.parametrize("precision", ["fp32", "int8"])
@pytest.mark.parametrize("n", [1, 3])
def test_runner_matches_onnxruntime_python(runtime, rng, precision, n):
    path = MODEL_DIR / f"lightecgnet_{precision}.onnx"
    runner = edgecardio._core.OrtRunner(str(path), 1)
    sess = ort_session(path)
    ecg, demo = random_inputs(rng, n)
    std = rng.uniform(0.05, 0.5, (n, 12)).astype(np.float32) if runner.reads_lead_std else None
    feeds = {mc.INPUT_ECG: ecg, mc.INPUT_DEMOGRAPHICS: demo} | ({} if std is None else {mc.INPUT_LEAD_STD: std})
    want = sess.run(None, feeds)[0]
    got = runner.run(ecg, demo, std)
    assert got.shape == (n, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL_SAME_ENGINE)
    for i in range(n):  # the preallocated single-record slot
        np.testing.assert_allclose(runner.run_leased(ecg[i], demo[i], None if std is None else std[i]), want[i],
                                   rtol=0, atol=ATOL_SAME_ENGINE)


def test_runner_threads_option(runtime, rng):
    path = MODEL_DIR / "lightecgnet_fp32.onnx"
    ecg, demo = random_inputs(rng, 2)
    one = edgecardio._core.OrtRunner(str(path), 1)
    two = edgecardio._core.OrtRunner(str(path), 2)
    assert (one.threads, two.threads) == (1, 2)
    std = np.full((2, 12), 0.2, np.float32) if one.reads_lead_std else None
    np.testing.assert_allclose(two.run(ecg, demo, std), one.run(ecg, demo, std), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="intra_op_threads"):
        edgecardio._core.OrtRunner(str(path), 0)


def test_runner_io_description(runtime):
    runner = edgecardio._core.OrtRunner(str(MODEL_DIR / "lightecgnet_int8.onnx"))
    assert runner.inputs == [(mc.INPUT_ECG, 1, (-1, 12, 1000)), (mc.INPUT_DEMOGRAPHICS, 1, (-1, 8))] + (
        [(mc.INPUT_LEAD_STD, 1, (-1, 12))] if runner.reads_lead_std else [])
    assert runner.outputs == [(mc.OUTPUT_PROBABILITIES, 1, (-1, 5))]


def test_runner_rejects_wrong_sizes(runtime, tiny):
    runner = edgecardio._core.OrtRunner(str(tiny))
    with pytest.raises(ValueError, match="ecg"):
        runner.run_leased(np.zeros((12, 999), np.float32), np.zeros(8, np.float32))
    with pytest.raises(ValueError, match="demographics"):
        runner.run(np.zeros((2, 12, 1000), np.float32), np.zeros((1, 8), np.float32))


def test_concurrent_leases_are_independent(runtime, tiny, rng):
    """8 threads x 50 runs on one runner, each with its own inputs: every result equals the
    sequential one (a shared buffer would mix records up)."""
    runner = edgecardio._core.OrtRunner(str(tiny))
    ecg, demo = random_inputs(rng, 8)
    want = [runner.run_leased(ecg[i], demo[i]) for i in range(8)]
    got = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for _ in range(50):
            got[i].append(runner.run_leased(ecg[i], demo[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(8):
        assert len(got[i]) == 50
        for g in got[i]:
            np.testing.assert_array_equal(g, want[i])
    assert 1 <= runner.slots_created <= 8


# ---------------------------------------------------------------- model problems at load time
BAD_MODELS = {
    "input name": (dict(ecg_name="x"), "no input 'ecg'|no input named 'ecg'"),
    "ecg length": (dict(ecg_shape=("batch", 12, 500)), "'ecg'.*500"),
    "lead count": (dict(ecg_shape=("batch", 8, 1000)), "'ecg'"),
    "demographics type": (dict(demo_type=11), "'demographics'"),  # float64
    "output name": (dict(out_name="logits"), "'probabilities'"),
    "output size": (dict(n_out=4), "'probabilities'"),
    "extra input": (dict(extra_input=True), "inputs"),
    "lead_std size": (dict(lead_std=("batch", 8)), "'lead_std_mv'"),
}


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
@pytest.mark.parametrize("case", sorted(BAD_MODELS))
def test_model_not_matching_the_card_fails_at_load(tmp_path, backend, case):
    kwargs, pattern = BAD_MODELS[case]
    write_card(tmp_path)
    path = make_model(tmp_path / "bad.onnx", **kwargs)
    with pytest.raises(ModelError, match=pattern):
        Classifier(path, backend=backend)


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_missing_model_file(tmp_path, backend):
    write_card(tmp_path)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        Classifier(tmp_path / "nope.onnx", backend=backend)


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
@pytest.mark.parametrize("content", [b"", b"this is not a protobuf\x00\x01\x02 at all" * 10])
def test_not_an_onnx_file(tmp_path, backend, content):
    write_card(tmp_path)
    (tmp_path / "junk.onnx").write_bytes(content)
    with pytest.raises(ModelError, match="junk.onnx"):
        Classifier(tmp_path / "junk.onnx", backend=backend)


def test_missing_card(tmp_path):
    path = make_model(tmp_path / "tiny.onnx")
    with pytest.raises(FileNotFoundError, match="model_card.json"):
        Classifier(path)


@pytest.mark.parametrize("overrides, pattern", [
    (dict(classes=["A", "B", "C", "D", "E"]), "classes"),
    (dict(thresholds={"NORM": 0.5}), "threshold"),
    (dict(thresholds=[0.5, 0.5, 0.5, 0.5, 1.5]), "outside"),
])
def test_bad_card(tmp_path, overrides, pattern):
    write_card(tmp_path, **overrides)
    path = make_model(tmp_path / "tiny.onnx")
    with pytest.raises(ModelError, match=pattern):
        Classifier(path)


@pytest.mark.parametrize("kwargs, pattern", [(dict(precision="int4"), "precision"),
                                             (dict(backend="tflite"), "backend"),
                                             (dict(threads=0), "threads"),
                                             (dict(threads=1.5), "threads")])
def test_bad_arguments(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        Classifier(**kwargs)


def test_fallback_without_native_runner(monkeypatch):
    """A build without the runner still classifies, through onnxruntime, and says so."""
    monkeypatch.setattr(edgecardio._core, "HAS_NATIVE_ORT", False)
    with pytest.warns(RuntimeWarning, match="without the native ONNX Runtime runner"):
        clf = Classifier()
    assert clf.backend == "onnxruntime"


# ---------------------------------------------------------------- batch size must not change a record's bits
@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_predict_batch_equals_predict_bit_for_bit(ptbxl, precision):
    """A record's probabilities do not depend on the records batched with it: ONNX Runtime runs
    ReduceMean (the squeeze-excitation pooling) by another kernel for batch > 1, and the INT8 model
    requantizes right after it, so a batched run once moved probabilities by up to 0.03."""
    x = fold_start(ptbxl, 64)
    clf = Classifier(precision=precision)
    ages = [40 + i % 40 for i in range(len(x))]
    batch = clf.predict_batch(list(x), 100, age=ages, sex="female")
    for i, r in enumerate(batch):
        one = clf.predict(x[i], 100, age=ages[i], sex="female")
        assert r.probabilities == one.probabilities, f"record {i}"


# ---------------------------------------------------------------- the optional lead_std_mv input
@pytest.fixture
def tiny_std(tmp_path):
    write_card(tmp_path)
    return make_model(tmp_path / "tiny_std.onnx", lead_std=("batch", 12))


@pytest.mark.parametrize("n", [1, 3])
def test_lead_std_model_runner_matches_onnxruntime_python(runtime, tiny_std, rng, n):
    ecg, demo = random_inputs(rng, n)
    std = rng.uniform(0.02, 1.0, (n, 12)).astype(np.float32)
    runner = edgecardio._core.OrtRunner(str(tiny_std))
    assert runner.reads_lead_std
    want = ort_session(tiny_std).run(None, {mc.INPUT_ECG: ecg, mc.INPUT_DEMOGRAPHICS: demo, mc.INPUT_LEAD_STD: std})[0]
    np.testing.assert_allclose(runner.run(ecg, demo, std), want, atol=ATOL_SAME_ENGINE)
    np.testing.assert_allclose(runner.run_leased(ecg[0], demo[0], std[0]), want[0], atol=ATOL_SAME_ENGINE)
    # the input is read: other voltages, other probabilities
    assert np.abs(runner.run(ecg, demo, std * 3) - want).max() > 1e-3


def test_lead_std_is_required_exactly_when_the_model_reads_it(runtime, tiny, tiny_std, rng):
    ecg, demo = random_inputs(rng, 2)
    std = np.full((2, 12), 0.2, np.float32)
    with pytest.raises(ValueError, match="lead_std_mv.*pass it"):
        edgecardio._core.OrtRunner(str(tiny_std)).run(ecg, demo)
    with pytest.raises(ValueError, match="lead_std_mv.*no such input"):
        edgecardio._core.OrtRunner(str(tiny)).run(ecg, demo, std)
    with pytest.raises(ValueError, match="lead_std_mv: expected 24"):
        edgecardio._core.OrtRunner(str(tiny_std)).run(ecg, demo, std[:, :6])
    for backend in ("native", "onnxruntime"):
        clf = Classifier(tiny_std, backend=backend, verify=False)
        assert clf.reads_lead_std and not Classifier(tiny, backend=backend, verify=False).reads_lead_std
        with pytest.raises(ValueError, match="pass lead_std_mv"):
            clf.run(ecg, demo)
        with pytest.raises(ValueError, match=r"lead_std_mv must be \[2, 12\]"):
            clf.run(ecg, demo, std[:, :6])
        with pytest.raises(ValueError, match="lead_std_mv must be"):
            clf.run(ecg, demo, -std)
        with pytest.raises(ValueError, match="lead_std_mv must be .* finite"):
            clf.run(ecg, demo, np.where(np.arange(12) == 3, np.nan, std))


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_predict_feeds_each_leads_voltage(tiny_std, backend, rng):
    """predict passes the preprocessing's own lead_std_mv: it equals the model run by hand on
    preprocess() and its info; twice the voltage keeps ecg (z-scored) but changes the diagnosis."""
    clf = Classifier(tiny_std, backend=backend, verify=False)
    x = (rng.standard_normal((12, 5000)) * 0.3).astype(np.float32)
    y, info = edgecardio.preprocess(x, 500, return_info=True)
    demo = clf.demographics(age=50)
    want = ort_session(tiny_std).run(None, {mc.INPUT_ECG: y[None], mc.INPUT_DEMOGRAPHICS: demo[None],
                                            mc.INPUT_LEAD_STD: info.lead_std_mv[None].astype(np.float32)})[0][0]
    got = np.array(list(clf.predict(x, 500, age=50).probabilities.values()))
    np.testing.assert_allclose(got, want, atol=1e-5)
    doubled = np.array(list(clf.predict(2 * x, 500, age=50).probabilities.values()))
    assert np.abs(doubled - got).max() > 1e-3
    batch = clf.predict_batch([x, 2 * x], 500, age=50)
    np.testing.assert_array_equal([list(p.probabilities.values()) for p in batch], [got, doubled])


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_voltage_model_refuses_microvolts(tiny, tiny_std, backend, rng):
    x = (rng.standard_normal((12, 1000)) * 0.3).astype(np.float32)
    clf = Classifier(tiny_std, backend=backend, verify=False)
    with pytest.raises(ValueError, match="millivolts: divide microvolts by 1000"):
        clf.predict(x * 1000, 100)
    with pytest.raises(ValueError, match="record 1: .*millivolts"):
        clf.predict_batch([x, x * 1000], 100)
    with pytest.raises(ValueError, match="gain_per_mv"):
        clf.predict((x * 1000).astype(np.int16), 100, gain_per_mv=1.0)
    clf.predict(x, 100)  # millivolts pass
    Classifier(tiny, backend=backend, verify=False).predict(x * 1000, 100)  # a z-score-only model does not care
