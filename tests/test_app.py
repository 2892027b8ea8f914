"""The app's logic without Streamlit: bundled examples, reading uploads, occlusion, result, report."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import edgecardio  # noqa: E402
from edgecardio import cli  # noqa: E402
from edgecardio.app import logic  # noqa: E402
from edgecardio.classifier import LEAD_NAMES  # noqa: E402

from _app_helpers import npy_bytes, wfdb_files  # noqa: E402


@pytest.fixture(scope="module")
def clf():
    return edgecardio.Classifier()


@pytest.fixture(scope="module")
def examples():
    return logic.load_examples()[0]


def test_examples_are_tiny_real_ptbxl_records_covering_every_class():
    recs, attribution = logic.load_examples()
    assert logic.EXAMPLES_FILE.stat().st_size < 200_000
    assert "CC BY 4.0" in attribution["license"] and "PTB-XL" in attribution["citation"]
    covered = set()
    for r in recs:
        assert r.signal.dtype == np.int16 and r.signal.shape == (12, 1000) and r.fs_hz == 100
        assert r.meta["statements"] and r.meta["report"]
        covered.update(r.meta["superclasses"])
    assert covered == set(edgecardio.CLASSES)
    assert len({r.meta["ecg_id"] for r in recs}) == len(recs)


def test_example_demographics_clip_ptbxl_anonymised_ages(examples):
    r = examples[0]
    r2 = logic.Record(r.signal, r.fs_hz, meta={**r.meta, "age": 300.0})
    assert logic.example_demographics(r2)["age"] == 90.0


# ---------------------------------------------------------------- uploads
def test_npy_counts_rows_and_transposed_read_the_same(examples):
    x = examples[1].signal
    a = logic.read_upload([("a.npy", npy_bytes(x))], logic.NpyOptions(fs_hz=100))
    b = logic.read_upload([("b.npy", npy_bytes(np.ascontiguousarray(x.T)))], logic.NpyOptions(fs_hz=100))
    assert a.signal.dtype == np.int16 and np.array_equal(a.signal, x) and np.array_equal(b.signal, x)
    assert not a.notes and "transposed" in b.notes[0]
    c = logic.read_upload([("c.npy", npy_bytes(np.ascontiguousarray(x.T)))],
                          logic.NpyOptions(fs_hz=100, layout=logic.LAYOUTS[2]))
    assert np.array_equal(c.signal, x)


def test_npy_units_millivolts_and_microvolts_agree(clf, examples):
    mv = examples[2].signal / 1000.0
    a = logic.read_upload([("mv.npy", npy_bytes(mv))], logic.NpyOptions(fs_hz=100, units="millivolts"))
    b = logic.read_upload([("uv.npy", npy_bytes(mv * 1000.0))], logic.NpyOptions(fs_hz=100, units="microvolts"))
    assert np.allclose(a.signal, b.signal)
    pa, pb = (clf.predict(r.signal, r.fs_hz).probabilities for r in (a, b))
    assert pa == pytest.approx(pb, abs=1e-6)


def test_npy_gain_is_applied(clf, examples):
    x = examples[0].signal
    r = logic.read_upload([("g.npy", npy_bytes(x))], logic.NpyOptions(fs_hz=100, gain_per_mv=500.0))
    assert r.gain_per_mv == 500.0
    assert np.allclose(r.window_mv(), x / 500.0)


def test_wfdb_upload_reads_the_record_as_stored(clf, examples):
    ex = examples[3]
    rec = logic.read_upload(wfdb_files(ex.signal, 100, "rec"))
    assert rec.fs_hz == 100 and rec.gain_per_mv == 1000.0 and np.array_equal(rec.signal, ex.signal)
    d1 = logic.diagnose(clf, rec, {}, explain=False)
    d2 = logic.diagnose(clf, ex, {}, explain=False)
    assert d1.prediction.probabilities == d2.prediction.probabilities


def test_wfdb_leads_are_reordered_by_name(examples):
    ex = examples[0]
    perm = np.random.default_rng(3).permutation(12)
    names = [LEAD_NAMES[i].upper() for i in perm]  # PTB-XL writes AVR, AVL, AVF
    rec = logic.read_upload(wfdb_files(ex.signal[perm], 100, "p", lead_names=names))
    assert np.array_equal(rec.signal, ex.signal)


@pytest.mark.parametrize("case, message", [
    ("wrong shape", "shape (3, 5000)"),
    ("npy unknown rate", "300 Hz is not one the model reads"),
    ("wfdb unknown rate", "300 Hz is not one the model reads"),
    ("hea without dat", "needs its signal file rec.dat"),
    ("dat without hea", "upload its .hea header"),
    ("corrupt npy", "not a readable .npy array"),
    ("corrupt dat", "not a WFDB record the app can read"),
    ("corrupt hea", "not a readable WFDB header"),
    ("short", "needs at least 10 s"),
    ("missing lead", "missing ['V6']"),
    ("unknown format", "cannot read .edf files"),
])
def test_bad_uploads_say_what_is_wrong(examples, case, message, monkeypatch):
    monkeypatch.delattr(edgecardio, "read_record", raising=False)  # this version's readers
    x = examples[0].signal
    files, opt = {
        "wrong shape": ([("w.npy", npy_bytes(np.zeros((3, 5000), np.int16)))], logic.NpyOptions()),
        "npy unknown rate": ([("r.npy", npy_bytes(np.zeros((12, 3000), np.int16)))], logic.NpyOptions(fs_hz=300)),
        "wfdb unknown rate": (wfdb_files(np.zeros((12, 3000), np.int16), 300, "rec"), None),
        "hea without dat": (wfdb_files(x, 100, "rec")[:1], None),
        "dat without hea": (wfdb_files(x, 100, "rec")[1:], None),
        "corrupt npy": ([("c.npy", b"\x93NUMPY garbage" + bytes(50))], logic.NpyOptions()),
        "corrupt dat": ([wfdb_files(x, 100, "rec")[0], ("rec.dat", b"\x00" * 100)], None),
        "corrupt hea": ([("rec.hea", b"rec twelve 100 1000\n"), ("rec.dat", b"")], None),
        "short": ([("s.npy", npy_bytes(x[:, :900]))], logic.NpyOptions(fs_hz=100)),
        "missing lead": (wfdb_files(x[:11], 100, "rec", lead_names=LEAD_NAMES[:11]), None),
        "unknown format": ([("x.edf", b"0       ")], None),
    }[case]
    with pytest.raises(logic.UploadError) as e:
        logic.read_upload(files, opt or logic.NpyOptions())
    assert message in str(e.value)


def test_layout_choice_contradicting_the_shape_is_explained(examples):
    x = examples[0].signal
    with pytest.raises(logic.UploadError, match="choose the layout"):
        logic.read_upload([("t.npy", npy_bytes(np.ascontiguousarray(x.T)))],
                          logic.NpyOptions(fs_hz=100, layout=logic.LAYOUTS[1]))


def test_package_reader_is_used_when_present(examples, monkeypatch):
    class Rec:
        signal, fs_hz, gain_per_mv = examples[4].signal, 100, 1000.0

    seen = []
    monkeypatch.setattr(edgecardio, "read_record", lambda p: seen.append(p.name) or Rec(), raising=False)
    r = logic.read_upload([("x.edf", b"whatever")])
    assert seen == ["x.edf"] and np.array_equal(r.signal, examples[4].signal)


# ---------------------------------------------------------------- diagnosis and explanation
def test_occlusion_map_measures_probability_drops(clf, examples):
    d = logic.diagnose(clf, examples[1], logic.example_demographics(examples[1]), segment_s=1.0)
    occ = d.occlusion
    assert occ.shape == (5, 12, 10)
    base = clf.run(d.model_input, d.demo_vector, d.lead_std_mv)[0]
    assert base == pytest.approx([d.prediction.probabilities[c] for c in edgecardio.CLASSES], abs=1e-6)
    # one entry by hand: blank lead V2, second 3
    x = d.model_input.copy()
    x[7, 300:400] = 0
    p = clf.run(x, d.demo_vector, d.lead_std_mv)[0]
    lo = lambda q: np.log(q / (1 - q))  # noqa: E731
    assert occ[:, 7, 3] == pytest.approx(lo(base.astype(np.float64)) - lo(p.astype(np.float64)), abs=1e-4)
    assert np.abs(occ).max() > 1e-2


def test_occlusion_of_a_flat_lead_is_zero(clf, examples):
    x = examples[0].signal.copy()
    x[8] = 0  # V3 unplugged
    d = logic.diagnose(clf, logic.Record(x, 100, source="flat"), {}, segment_s=0.5)
    assert "V3" in d.prediction.flat_leads
    assert not d.occlusion[:, 8].any() and d.occlusion[:, :8].any()
    assert logic.lead_warnings(d.prediction) == {"V3": ["flat"]}


def test_explained_classes_fall_back_to_the_most_probable():
    class P:
        labels = ()
        probabilities = {"NORM": 0.2, "MI": 0.4, "STTC": 0.1, "CD": 0.0, "HYP": 0.3}

    assert logic.explained_classes(P()) == ["MI"]


def test_quality_flags_are_marked_on_their_leads():
    """A real record with one lead unplugged (flat) and one clipped at the rail: the prediction's
    quality flags reach the lead warnings the page draws on the tracing."""
    rec = logic.load_examples()[0][0]
    x = rec.signal.copy()
    x[LEAD_NAMES.index("V2")] = 0
    x[LEAD_NAMES.index("V4")] = np.clip(x[LEAD_NAMES.index("V4")].astype(np.int32) * 200, -32768, 32767)  # ~100 samples on the rails
    pred = edgecardio.Classifier().predict(x, rec.fs_hz, gain_per_mv=rec.gain_per_mv)
    flags = logic.quality_flags(pred)
    assert "flat" in flags["V2"] and "saturated" in flags["V4"]
    warn = logic.lead_warnings(pred)
    assert "flat" in warn["V2"] and "saturated" in warn["V4"]
    assert not logic.quality_flags(edgecardio.Classifier().predict(rec.signal, rec.fs_hz, quality=False))


def test_demographics_change_the_diagnosis(clf, examples):
    ex = examples[0]
    a = logic.diagnose(clf, ex, {"age": 25, "sex": "female"}, explain=False).prediction.probabilities
    b = logic.diagnose(clf, ex, {"age": 85, "sex": "male"}, explain=False).prediction.probabilities
    assert a != b


def test_result_json_and_report_png(clf, examples):
    ex = examples[2]
    d = logic.diagnose(clf, ex, logic.example_demographics(ex))
    out = json.loads(json.dumps(logic.result_dict(d)))
    assert out["probabilities"] == pytest.approx(d.prediction.probabilities)
    assert out["reference"]["ecg_id"] == ex.meta["ecg_id"]
    assert len(out["occlusion"]["by_class"]["MI"]) == 12 and out["model"]["engine"] == edgecardio.engine()
    png = logic.report_png(d, logic.explained_classes(d.prediction)[0], dpi=60)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert w / h == pytest.approx(297 / 210, rel=0.01)  # A4 landscape


def test_clinical_figure_marks_warnings_on_the_lead(clf, examples):
    x = examples[0].signal.copy()
    x[4, :] = 32767  # aVL on the rail
    d = logic.diagnose(clf, logic.Record(x, 100, source="sat"), {}, explain=False)
    assert "aVL" in d.prediction.saturated_leads
    fig = logic.clinical_figure(d)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "saturated" in " ".join(texts) and all(lead in texts for lead in LEAD_NAMES)
    # the paper is at scale: 260 mm x 120 mm
    assert fig.get_size_inches() * 25.4 == pytest.approx([260, 120])


# ---------------------------------------------------------------- the command
def test_cli_app_parses_port():
    a = cli.build_parser().parse_args(["app", "--port", "8600"])
    assert a.func is cli.cmd_app and a.port == 8600 and a.address == "localhost"


def test_cli_app_without_the_extra_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "streamlit" else real(n, *a))
    assert cli.main(["app"]) == 1
    assert "pip install 'edgecardio[app]'" in capsys.readouterr().err


def test_cli_app_rejects_a_bad_port(capsys):
    pytest.importorskip("streamlit")
    assert cli.main(["app", "--port", "70000"]) == 1
    assert "--port must be a TCP port" in capsys.readouterr().err


@pytest.mark.ptbxl
def test_examples_are_the_ptbxl_records_they_name(ptbxl):
    """The bundled signals and statements are those of PTB-XL, as tools/make_app_examples.py took them."""
    import ast
    import csv
    import io
    import lzma

    recs, _ = logic.load_examples()
    with open(ptbxl / "ptbxl_database.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["strat_fold"] == "9"]
    index = {int(r["ecg_id"]): i for i, r in enumerate(rows)}
    with open(ptbxl / "signals_fold9.npy.xz", "rb") as f:
        delta = np.load(io.BytesIO(lzma.decompress(f.read())))
    for r in recs:
        i = index[r.meta["ecg_id"]]
        assert np.array_equal(np.cumsum(delta[i], axis=1, dtype=np.int16), r.signal)
        codes = ast.literal_eval(rows[i]["scp_codes"])
        assert {s["code"]: s["likelihood"] for s in r.meta["statements"]} == codes
        assert rows[i]["report"] == r.meta["report"] and rows[i]["filename_lr"] == r.meta["file"]
