"""The Streamlit page, run headless by ``streamlit.testing.v1.AppTest``: examples, uploads, demographics,
bad uploads. (Plots are images here; tests/test_app_browser.py looks at them in Chromium.)"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("matplotlib")

from streamlit.testing.v1 import AppTest  # noqa: E402

import edgecardio  # noqa: E402
from edgecardio.app import PAGE, logic  # noqa: E402

from _app_helpers import npy_bytes, wfdb_files  # noqa: E402
from _models_helpers import OTHER, two_models  # noqa: E402

TIMEOUT_S = 120  # a loaded 2-core CI machine; the page itself takes about a second


@pytest.fixture(scope="module")
def examples():
    return logic.load_examples()[0]


@pytest.fixture
def at():
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S).run()
    _ok(app)
    return app


def _ok(app):
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


def _heading(app) -> str:
    found = [m.value for m in app.markdown if m.value.startswith("### Diagnosis:")]
    assert len(found) == 1, [m.value for m in app.markdown]
    return found[0]


def _probabilities(app) -> dict:
    df = app.dataframe[0].value
    return dict(zip(df["class"], df["probability"]))


def _record_caption(app) -> str:
    return next(c.value for c in app.caption if c.value.startswith("Record:"))


def _sidebar_demographics(app) -> dict:
    sex = app.selectbox(key="sex").value
    return {"age": app.number_input(key="age").value, "sex": None if sex == "unknown" else sex,
            "height_cm": app.number_input(key="height_cm").value, "weight_kg": app.number_input(key="weight_kg").value}


def _expected(app, x, fs_hz=100):
    return edgecardio.Classifier().predict(x, fs_hz, **_sidebar_demographics(app)).probabilities


def _upload(app, files, **npy):
    app.sidebar.radio(key="source").set_value("Upload").run()
    for k, v in npy.items():
        w = app.number_input(key=f"npy_{k}") if k in ("fs", "gain") else app.selectbox(key=f"npy_{k}")
        w.set_value(v)
    app.file_uploader(key="upload").set_value([(n, b, "application/octet-stream") for n, b in files]).run()
    return app


def test_opens_on_the_first_example_diagnosed(at, examples):
    first = examples[0]
    assert at.selectbox(key="example").value == 0
    assert f"ecg_id {first.meta['ecg_id']}" in _record_caption(at)
    assert _heading(at).startswith("### Diagnosis: ")
    probs = _probabilities(at)
    assert set(probs) == set(edgecardio.CLASSES)
    expected = edgecardio.Classifier().predict(first.signal, 100, **logic.example_demographics(first))
    assert probs == pytest.approx(expected.probabilities, abs=1e-4)
    assert any(f"Cardiologists (PTB-XL {first.meta['ecg_id']})" in m.value for m in at.markdown)
    assert any("Why: occlusion map" in m.value for m in at.markdown)
    # the demographics of the example's patient fill the sidebar
    assert at.number_input(key="age").value == first.meta["age"] and at.selectbox(key="sex").value == first.meta["sex"]
    # no streaming monitor in this version: said so, no crash
    if not hasattr(edgecardio, "Monitor"):
        assert any("not available in this version" in i.value for i in at.info)
    if not hasattr(expected, "quality"):
        assert any("signal-quality indices: not available in this version" in c.value for c in at.caption)


def test_selecting_an_example_diagnoses_it(at, examples):
    seen = {}
    for i in (1, len(examples) - 1):
        at.selectbox(key="example").set_value(i).run()
        _ok(at)
        assert f"ecg_id {examples[i].meta['ecg_id']}" in _record_caption(at)
        seen[i] = _probabilities(at)
        assert at.number_input(key="age").value == logic.example_demographics(examples[i])["age"]
    assert seen[1] != seen[len(examples) - 1]


def test_demographics_change_the_result(at):
    before = _probabilities(at)
    at.number_input(key="age").set_value(85.0)
    at.selectbox(key="sex").set_value("male").run()
    _ok(at)
    after = _probabilities(at)
    assert after != before
    at.selectbox(key="sex").set_value("unknown")
    at.number_input(key="age").set_value(None).run()
    assert _probabilities(at) not in (before, after)


def test_upload_npy_rows(at, examples):
    x = examples[1].signal
    _upload(at, [("rows.npy", npy_bytes(x))], fs=100.0)
    _ok(at)
    assert "rows.npy" in _record_caption(at)
    assert _probabilities(at) == pytest.approx(_expected(at, x), abs=1e-4)


def test_upload_npy_transposed_millivolts(at, examples):
    x = examples[2].signal
    _upload(at, [("cols.npy", npy_bytes(np.ascontiguousarray(x.T) / 1000.0))], fs=100.0, units="millivolts")
    _ok(at)
    assert "transposed" in _record_caption(at)
    assert _probabilities(at) == pytest.approx(_expected(at, x / 1000.0), abs=1e-4)


def test_upload_wfdb(at, examples):
    ex = examples[4]
    _upload(at, wfdb_files(ex.signal, 100, "rec42"))
    _ok(at)
    assert "rec42.hea" in _record_caption(at)
    assert _probabilities(at) == pytest.approx(_expected(at, ex.signal), abs=1e-4)


def test_no_upload_yet_invites_one(at):
    at.sidebar.radio(key="source").set_value("Upload").run()
    _ok(at)
    assert any("Upload a record" in i.value for i in at.info)
    assert not [m for m in at.markdown if m.value.startswith("### Diagnosis")]


BAD_UPLOADS = ("wrong shape", "unknown rate", "hea without dat", "corrupt file", "too short")


def test_bad_uploads_show_a_message_and_the_app_keeps_working(at, examples):
    x = examples[0].signal
    cases = {
        "wrong shape": ([("bad.npy", npy_bytes(np.zeros((3, 5000), np.int16)))], {}, "shape (3, 5000)"),
        "unknown rate": (wfdb_files(np.zeros((12, 3000), np.int16), 300, "bad"), {},
                         "300 Hz is not one the model reads"),
        "hea without dat": (wfdb_files(x, 100, "bad")[:1], {}, "needs its signal file bad.dat"),
        "corrupt file": ([("bad.npy", b"\x93NUMPY\x01\x00garbage")], {}, "not a readable .npy array"),
        "too short": ([("bad.npy", npy_bytes(x[:, :950]))], {"fs": 100.0}, "needs at least 10 s"),
    }
    assert set(cases) == set(BAD_UPLOADS)
    for case, (files, npy, message) in cases.items():
        _upload(at, files, **npy)
        assert not at.exception, case
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in errors[0], (case, errors)
        assert not [m for m in at.markdown if m.value.startswith("### Diagnosis")], case
    # and a good record afterwards is diagnosed
    at.file_uploader(key="upload").set_value([(n, b, "application/octet-stream")
                                              for n, b in wfdb_files(x, 100, "good")]).run()
    _ok(at)
    assert "good.hea" in _record_caption(at)


def test_model_choice_in_the_sidebar(at, examples):
    at.sidebar.selectbox(key="precision").set_value("fp32")
    at.sidebar.selectbox(key="backend").set_value("onnxruntime").run()
    _ok(at)
    model = next(m.value for m in at.markdown if m.value.startswith("**Model**"))
    engine = next(m.value for m in at.markdown if m.value.startswith("**Engine**"))
    assert "fp32" in model and "onnxruntime backend" in engine
    want = edgecardio.Classifier(precision="fp32", backend="onnxruntime").predict(
        examples[0].signal, 100, **_sidebar_demographics(at)).probabilities
    assert _probabilities(at) == pytest.approx(want, abs=1e-4)


def test_model_selector_lists_the_packaged_models(tmp_path, monkeypatch, examples):
    two_models(tmp_path, monkeypatch)
    app = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S).run()
    _ok(app)
    sel = app.sidebar.selectbox(key="model")
    assert sel.value == edgecardio.DEFAULT_MODEL  # the default, selected
    assert [o.split(",")[0] for o in sel.options] == [f"{edgecardio.DEFAULT_MODEL} (default)", OTHER]
    assert any(c.value.startswith("LightECGNet") for c in app.sidebar.caption)  # the chosen one's description
    assert _heading(app) != "### Diagnosis: " + ", ".join(edgecardio.CLASSES)
    sel.set_value(OTHER).run()
    _ok(app)
    assert OTHER in next(m.value for m in app.markdown if m.value.startswith("**Model**"))
    assert _heading(app) == "### Diagnosis: " + ", ".join(edgecardio.CLASSES)  # its card's thresholds of 0
    want = edgecardio.Classifier(OTHER).predict(examples[0].signal, 100, **_sidebar_demographics(app)).probabilities
    assert _probabilities(app) == pytest.approx(want, abs=1e-4)


def test_model_input_on_request_and_explain_off(at):
    n_images = len(at.get("image"))
    assert n_images == 3  # probabilities, tracing, occlusion map
    at.sidebar.checkbox(key="model_input").check().run()
    _ok(at)
    assert any("The model's input" in m.value for m in at.markdown)
    assert len(at.get("image")) == n_images + 1
    at.sidebar.checkbox(key="explain").uncheck().run()
    _ok(at)
    assert not any("Why: occlusion map" in m.value for m in at.markdown)
    assert len(at.get("image")) == n_images


def test_live_mode_replays_through_the_monitor(examples):
    """The bundled examples one after another through the real edgecardio.Monitor: a row per hop,
    each window's diagnosis equal to predict on the same 10 s, and its quality verdict."""
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S).run()
    _ok(at)
    at.select_slider(key="live_speed").set_value(50)
    at.radio(key="live_what").set_value("the bundled examples one after another")
    at.button(key="live_go").click().run()
    _ok(at)
    hops = at.dataframe[1].value
    n = sum(r.signal.shape[1] for r in examples) // 100
    assert list(hops["stream_s"]) == [float(t) for t in range(10, n + 1)]
    # each whole example, seen alone, carries that example's diagnosis
    first = edgecardio.Classifier().predict(examples[0].signal, 100, **logic.example_demographics(examples[0]))
    assert hops["raw"].iloc[0] == ", ".join(first.labels)
    assert hops["quality"].iloc[0] == "ok"


def test_live_mode_with_an_unexpected_monitor_says_so(monkeypatch):
    class Broken:
        def __init__(self, *a, **k):
            raise TypeError("Monitor() got an unexpected keyword argument 'classifier'")

    monkeypatch.setattr(edgecardio, "Monitor", Broken, raising=False)
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT_S).run()
    at.button(key="live_go").click().run()
    assert not at.exception
    assert any("live mode stopped" in e.value and "unexpected keyword" in e.value for e in at.error)
