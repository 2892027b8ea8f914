"""The ``edgecardio`` command: predict (WFDB and .npy, table and JSON), bench, info, and one-line
errors with a non-zero exit status for bad input."""
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import edgecardio
from edgecardio import modelcard as mc
from edgecardio._synthetic import synthetic_record
from edgecardio.cli import main

# CI sets EDGECARDIO_REQUIRE_NATIVE_ORT=1: there a build without the runner fails these tests instead
# of skipping them.
pytestmark = pytest.mark.skipif(not edgecardio.HAS_NATIVE_ORT and os.environ.get("EDGECARDIO_REQUIRE_NATIVE_ORT") != "1",
                                reason="built without the native ORT runner")
LEADS = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]  # PTB-XL's spelling


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def wfdb_record(tmp_path_factory):
    """A 500 Hz PTB-XL-style record (format 16, gain 1000, PTB-XL lead names), written by wfdb."""
    wfdb = pytest.importorskip("wfdb")
    d = tmp_path_factory.mktemp("wfdb")
    x = synthetic_record(500, 10, seed=1)
    with warnings.catch_warnings():  # wfdb's own pandas deprecation noise
        warnings.simplefilter("ignore")
        wfdb.wrsamp("rec500", fs=500, units=["mV"] * 12, sig_name=LEADS, d_signal=x.T.astype(np.int32),
                    fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(d))
    return d / "rec500", x


@pytest.fixture(scope="module")
def npy_record(tmp_path_factory):
    d = tmp_path_factory.mktemp("npy")
    x = synthetic_record(250, 10, seed=2)
    np.save(d / "rec.npy", x)
    return d / "rec.npy", x


def test_predict_wfdb_json(capsys, wfdb_record):
    path, x = wfdb_record
    code, out, err = run(capsys, "predict", str(path), "--json", "--age", "63", "--sex", "female")
    assert code == 0, err
    r = json.loads(out)
    assert list(r["probabilities"]) == list(mc.CLASSES)
    want = edgecardio.Classifier().predict(x, 500, age=63, sex="female")
    for c in mc.CLASSES:
        assert r["probabilities"][c] == pytest.approx(want.probabilities[c], abs=1e-7)
    assert r["labels"] == list(want.labels) and r["fs_hz"] == 500
    # with ".hea" too, and the same answer
    code, out2, _ = run(capsys, "predict", str(path) + ".hea", "--json", "--age", "63", "--sex", "female")
    assert code == 0 and json.loads(out2)["probabilities"] == r["probabilities"]


def test_predict_reorders_leads_by_name(capsys, tmp_path, wfdb_record):
    wfdb = pytest.importorskip("wfdb")
    path, x = wfdb_record
    order = np.random.default_rng(0).permutation(12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wfdb.wrsamp("shuffled", fs=500, units=["mV"] * 12, sig_name=[LEADS[i] for i in order],
                    d_signal=x[order].T.astype(np.int32), fmt=["16"] * 12, adc_gain=[1000.0] * 12,
                    baseline=[0] * 12, write_dir=str(tmp_path))
    _, a, _ = run(capsys, "predict", str(path), "--json")
    _, b, _ = run(capsys, "predict", str(tmp_path / "shuffled"), "--json")
    assert json.loads(a)["probabilities"] == json.loads(b)["probabilities"]


@pytest.mark.ptbxl
def test_predict_ptbxl_records(capsys, ptbxl, tmp_path):
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(tmp_path), "--folds", "9", "--limit", "3"],
                   check=True, capture_output=True, timeout=300)
    records = sorted(str(p.with_suffix("")) for p in tmp_path.glob("records100/*/*.hea"))
    code, out, err = run(capsys, "predict", *records, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["record"] for r in rows] == records and all(r["fs_hz"] == 100 for r in rows)


def test_predict_npy_table(capsys, npy_record, wfdb_record):
    path, x = npy_record
    code, out, err = run(capsys, "predict", str(path), str(wfdb_record[0]), "--fs-hz", "250")
    # --fs-hz applies to the .npy; the WFDB header's 500 Hz contradicts it
    assert code == 1 and "contradicts" in err
    code, out, err = run(capsys, "predict", str(path), "--fs-hz", "250", "--precision", "fp32")
    assert code == 0, err
    header, row = out.strip().splitlines()
    assert header.split()[1:6] == list(mc.CLASSES)
    want = edgecardio.Classifier(precision="fp32").predict(x, 250)
    assert [float(v) for v in row.split()[1:6]] == pytest.approx(list(want.probabilities.values()), abs=6e-4)
    assert err == ""


def test_predict_backend_onnxruntime(capsys, npy_record):
    path, _ = npy_record
    _, a, _ = run(capsys, "predict", str(path), "--fs-hz", "250", "--json")
    _, b, _ = run(capsys, "predict", str(path), "--fs-hz", "250", "--json", "--backend", "onnxruntime")
    pa, pb = json.loads(a)["probabilities"], json.loads(b)["probabilities"]
    assert max(abs(pa[c] - pb[c]) for c in mc.CLASSES) <= 1e-4


@pytest.mark.parametrize("argv, pattern", [
    (["predict", "{missing}"], "record not found"),
    (["predict", "{npy}"], "needs --fs-hz"),
    (["predict", "{npy}", "--fs-hz", "333"], "unsupported sampling rate"),
    (["predict", "{npy}", "--fs-hz", "250", "--age", "-4"], "age"),
    (["predict", "{npy}", "--fs-hz", "250", "--age", "130"], "age"),
    (["predict", "{npy}", "--fs-hz", "250", "--sex", "x"], "sex"),
    (["predict", "{npy}", "--fs-hz", "500"], "too short"),
    (["predict", "{transposed}", "--fs-hz", "250"], "signal.T"),
    (["predict", "{junk_npy}", "--fs-hz", "250"], "not a readable .npy"),
    (["predict", "{npy}", "--fs-hz", "250", "--model", "{missing}"], "model file not found"),
    (["predict", "{npy}", "--fs-hz", "250", "--model", "{junk_onnx}"], "cannot load"),
    (["predict", "{bad_hea}"], "format 99"),
    (["bench", "--iterations", "0"], "iterations"),
])
def test_bad_input_is_one_line(capsys, tmp_path, npy_record, argv, pattern):
    path, x = npy_record
    np.save(tmp_path / "t.npy", x.T)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    shutil.copy(edgecardio.packaged.model_dir() / "model_card.json", tmp_path)
    (tmp_path / "bad.hea").write_text("bad 12 500 5000\n" + "bad.dat 99 1000 16 0 0 0 0 I\n" * 12)
    subs = {"{missing}": str(tmp_path / "nope"), "{npy}": str(path), "{transposed}": str(tmp_path / "t.npy"),
            "{junk_npy}": str(tmp_path / "junk.npy"), "{junk_onnx}": str(tmp_path / "junk.onnx"),
            "{bad_hea}": str(tmp_path / "bad")}
    code, out, err = run(capsys, *[subs.get(a, a) for a in argv])
    assert code == 1
    assert err.startswith("edgecardio: error: ") and err.count("\n") == 1, err
    assert pattern in err
    assert "Traceback" not in err


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as e:
        main(["predict"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.npy", "--threads", "0"])
    assert e.value.code == 2


def test_bench(capsys, tmp_path):
    out_file = tmp_path / "bench.json"
    code, out, err = run(capsys, "bench", "--iterations", "20", "--warmup", "2", "--out", str(out_file))
    assert code == 0, err
    r = json.loads(out_file.read_text())
    for key in ("mean", "median", "p95", "p99"):
        assert r["latency_ms"][key] > 0
    assert r["latency_ms"]["p99"] >= r["latency_ms"]["median"]
    assert r["throughput_per_s"] > 0 and r["model_size_mb"] > 0
    assert r["engine"] == edgecardio.engine() and r["threads"] == 1 and r["backend"] == "native"
    assert r["onnxruntime_version"] and r["record"]["shape"] == [12, 5000] and r["iterations"] == 20
    assert "latency ms" in out and "naive" not in r
    code, out, err = run(capsys, "bench", "--iterations", "20", "--warmup", "2", "--out", str(out_file), "--naive")
    assert code == 0, err
    r = json.loads(out_file.read_text())
    assert r["naive"]["speedup_median"] > 0 and r["naive"]["latency_ms"]["median"] > 0
    assert "faster" in out


def test_info(capsys):
    code, out, err = run(capsys, "info", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["edgecardio"] == edgecardio.__version__ and info["native_ort_runner"] is True
    assert info["engine"] == edgecardio.engine()
    assert info["ort_library"]["version"] == info["onnxruntime"]
    assert info["model"]["classes"] == list(mc.CLASSES)
    assert info["model"]["inputs"][:2] == [mc.INPUT_ECG, mc.INPUT_DEMOGRAPHICS]
    assert info["model"]["reads_lead_voltage"] == (mc.INPUT_LEAD_STD in info["model"]["inputs"])
    code, out, _ = run(capsys, "info")
    assert code == 0 and "model:" in out


def test_console_script(wfdb_record):
    """The installed entry point, in a fresh process: `edgecardio predict <wfdb record> --json`."""
    exe = shutil.which("edgecardio", path=str(__import__("pathlib").Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the edgecardio console script is not installed next to this Python")
    out = subprocess.run([exe, "predict", str(wfdb_record[0]), "--json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert set(json.loads(out.stdout)["probabilities"]) == set(mc.CLASSES)
    bad = subprocess.run([exe, "predict", "/nonexistent/record"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "record not found" in bad.stderr


@pytest.mark.parametrize("library", ["missing", "not a library"])
def test_info_reports_an_unloadable_onnx_runtime(tmp_path, library):
    """With an ONNX Runtime library that cannot be loaded, `info` still prints the versions, the
    load error and the candidates it tried, in a fresh process (the library loads once per process),
    and exits with status 1."""
    lib = tmp_path / "libonnxruntime.so.1.99.0"
    if library == "not a library":
        lib.write_bytes(b"\x7fELF but not really" * 64)
    env = {**os.environ, "EDGECARDIO_ORT_LIB": str(lib)}
    out = subprocess.run([sys.executable, "-m", "edgecardio.cli", "info", "--json"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    info = json.loads(out.stdout)
    assert info["edgecardio"] == edgecardio.__version__ and info["numpy"] == np.__version__
    assert info["engine"] == edgecardio.engine()
    assert str(lib) in info["ort_library"]["error"] and info["ort_library"]["candidates"] == [str(lib)]
    assert str(lib) in info["model"]["error"]
    text = subprocess.run([sys.executable, "-m", "edgecardio.cli", "info"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert text.returncode == 1 and "ort_library:" in text.stdout and "error:" in text.stdout
