"""Packaged models chosen by name: edgecardio.models(), Classifier(model=name), the CLI, Monitor,
score. Two-model cases run on a temporary package-models directory (tests/_models_helpers.py)."""
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import edgecardio
from edgecardio import modelcard as mc
from edgecardio import packaged
from edgecardio.classifier import Classifier
from edgecardio.cli import main
from edgecardio._synthetic import synthetic_record

from _models_helpers import OTHER, two_models

pytestmark = pytest.mark.skipif(not edgecardio.HAS_NATIVE_ORT and os.environ.get("EDGECARDIO_REQUIRE_NATIVE_ORT") != "1",
                                reason="built without the native ORT runner")


def probs(p) -> np.ndarray:
    return np.array([p.probabilities[c] for c in mc.CLASSES])


@pytest.fixture(scope="module")
def records():
    return [(synthetic_record(fs, 10, seed=40 + fs), fs) for fs in (100, 500)]


@pytest.fixture
def two(tmp_path, monkeypatch):
    return two_models(tmp_path, monkeypatch)


# ---------------------------------------------------------------- the real package
def test_the_default_model_is_packaged():
    assert packaged.DEFAULT_MODEL == edgecardio.DEFAULT_MODEL
    assert packaged.DEFAULT_MODEL in packaged.model_names()
    assert (packaged.model_dir() / "model_card.json").is_file()
    infos = edgecardio.models()
    assert infos[0].name == packaged.DEFAULT_MODEL and infos[0].default
    assert sum(m.default for m in infos) == 1


def test_models_is_the_function_not_the_data_directory():
    # edgecardio/models/ is a directory of data beside the function: importing nothing may shadow it
    assert callable(edgecardio.models)
    assert not (packaged.MODELS_DIR / "__init__.py").exists()


def test_models_summaries_are_what_the_cards_record():
    for m in edgecardio.models():
        card = mc.load_card(m.path / "model_card.json")
        assert m.path == packaged.MODELS_DIR / m.name and m.version == card["version"]
        assert m.parameters == card["architecture"]["parameters"]
        assert set(m.precisions) == set(card["files"]) and m.precisions[0] == card["default"]
        assert m.files == card["files"]
        val = card["metrics"]["validation"]
        assert m.validation_folds == tuple(val["folds"])
        for p in m.precisions:
            assert m.macro_auc[p] == val[p]["macro_auc"]
            assert m.macro_auc_ci90[p] == tuple(val[p]["macro_auc_ci90"])
            assert m.file_bytes[p] == (m.path / card["files"][p]).stat().st_size == card["file_info"][p]["bytes"]
            assert m.latency_ms[p] == card["speed_cpu"][p]["median_ms"]
        assert m.description and m.latency_note
        d = json.loads(json.dumps(m.to_dict()))
        assert d["name"] == m.name and d["path"] == str(m.path) and d["macro_auc"] == m.macro_auc
    with pytest.raises(AttributeError):  # frozen: a summary is data, not a handle
        edgecardio.models()[0].name = "x"


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_by_name_is_by_path(records, precision):
    name = packaged.DEFAULT_MODEL
    d = packaged.model_dir(name)
    by_name = Classifier(name, precision=precision)
    by_default = Classifier(precision=precision)
    by_dir = Classifier(d, precision=precision)
    by_file = Classifier(str(by_dir.model_path))
    assert by_name.model_path == by_default.model_path == by_dir.model_path == by_file.model_path
    assert by_name.precision == by_file.precision == precision
    # a path into the package is that packaged model too
    assert by_name.model_name == by_default.model_name == by_dir.model_name == by_file.model_name == name
    for x, fs in records:
        want = probs(by_dir.predict(x, fs, age=50, sex="male"))
        for clf in (by_name, by_default, by_file):
            np.testing.assert_array_equal(probs(clf.predict(x, fs, age=50, sex="male")), want)


def test_unknown_name_lists_the_names():
    with pytest.raises(edgecardio.UnknownModelError) as e:
        Classifier("resnet_xyz")
    msg = str(e.value)
    assert "'resnet_xyz'" in msg and f"{packaged.DEFAULT_MODEL} (default)" in msg and "edgecardio models" in msg
    # a bare word may be a missing directory too: both kinds of handler catch it
    assert isinstance(e.value, edgecardio.ModelError) and isinstance(e.value, FileNotFoundError)


@pytest.mark.parametrize("missing", ["nowhere/model", "nothing.onnx"])
def test_a_missing_path_is_still_a_missing_file(tmp_path, missing):
    with pytest.raises(FileNotFoundError, match="model file not found") as e:
        Classifier(missing)
    assert not isinstance(e.value, edgecardio.UnknownModelError)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        Classifier(Path(packaged.DEFAULT_MODEL + "_not_here"))  # a Path is never a name


def test_model_of_the_wrong_type():
    with pytest.raises(TypeError, match="packaged model name, a path"):
        Classifier(3)


# ---------------------------------------------------------------- two packaged models
def test_models_lists_every_model(two):
    infos = edgecardio.models()
    assert [m.name for m in infos] == [packaged.DEFAULT_MODEL, OTHER]
    assert [m.default for m in infos] == [True, False]
    other = infos[1]
    assert other.path == two / OTHER and other.version == "test-copy"
    assert other.precisions == ("int8",) and set(other.file_bytes) == {"int8"}
    assert other.macro_auc == {"int8": 0.5} and other.macro_auc_ci90 == {"int8": (0.4, 0.6)}
    assert other.latency_ms == {} and other.latency_note is None
    assert other.description.startswith("a copy for tests")
    assert infos[0].description.startswith("LightECGNet")  # no description in the card: its architecture


def test_select_the_other_model(two, records):
    x, fs = records[0]
    clf = Classifier(OTHER)
    assert clf.model_name == OTHER and clf.model_path.parent == two / OTHER
    assert clf.thresholds == dict.fromkeys(mc.CLASSES, 0.0)
    r = clf.predict(x, fs)
    assert r.labels == mc.CLASSES  # its own card's thresholds
    np.testing.assert_array_equal(probs(r), probs(Classifier().predict(x, fs)))  # same network, copied
    with pytest.raises(FileNotFoundError, match=f"the packaged model '{OTHER}' has no fp32 file \\(its card names int8\\)"):
        Classifier(OTHER, precision="fp32")
    with pytest.raises(edgecardio.UnknownModelError, match=f"{packaged.DEFAULT_MODEL} \\(default\\), {OTHER}"):
        Classifier("nope")


def test_the_default_is_one_name(two, monkeypatch):
    first = packaged.DEFAULT_MODEL
    monkeypatch.setattr(packaged, "DEFAULT_MODEL", OTHER)
    assert Classifier().model_name == OTHER
    assert [(m.name, m.default) for m in edgecardio.models()] == [(OTHER, True), (first, False)]


def test_an_existing_path_wins_over_a_name(two, tmp_path, monkeypatch):
    import shutil

    local = tmp_path / "work" / OTHER  # a directory here named like a packaged model: the default's files
    shutil.copytree(two / packaged.DEFAULT_MODEL, local)
    monkeypatch.chdir(local.parent)
    with pytest.warns(UserWarning, match="both a path here and the name of a packaged model"):
        clf = Classifier(OTHER)
    assert clf.model_path == Path(OTHER) / clf.model_path.name and clf.model_name is None
    assert clf.thresholds != dict.fromkeys(mc.CLASSES, 0.0)  # the local one's card
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Classifier(Path(OTHER)).model_name is None  # a Path object is a path, no question asked
        assert Classifier(f"./{OTHER}").model_name is None


def test_monitor_takes_a_model(two, records):
    x, fs = records[1]
    mon = edgecardio.Monitor(fs, model=OTHER)
    assert mon.classifier.model_name == OTHER
    results = mon.push(x)
    assert results and results[0].labels == mc.CLASSES
    with pytest.raises(ValueError, match="either classifier or model"):
        edgecardio.Monitor(fs, classifier=mon.classifier, model=OTHER)
    with pytest.raises(edgecardio.UnknownModelError):
        edgecardio.Monitor(fs, model="nope")


def test_score_takes_a_model(two, tmp_path, records):
    pytest.importorskip("pandas")
    x, fs = records[0]
    np.save(tmp_path / "r.npy", x)
    df = edgecardio.score([tmp_path / "r.npy"], fs_hz=fs, workers=1, model=OTHER)
    assert list(df["model"]) == [OTHER] and list(df["labels"]) == [",".join(mc.CLASSES)]
    assert edgecardio.score([tmp_path / "r.npy"], fs_hz=fs, workers=1)["model"].tolist() == [packaged.DEFAULT_MODEL]
    with pytest.raises(edgecardio.UnknownModelError, match="nope"):
        edgecardio.score([tmp_path / "r.npy"], fs_hz=fs, workers=1, model="nope")


# ---------------------------------------------------------------- command line
def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_models_table_and_json(capsys, two):
    code, out, err = run(capsys, "models")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["name", "default", "parameters"]
    assert lines[1].startswith(packaged.DEFAULT_MODEL) and lines[1].split()[1] == "yes"
    assert lines[2].startswith(OTHER) and "0.5000" in lines[2] and "a copy for tests" in lines[2]
    info = edgecardio.models()[0]
    assert f"{info.macro_auc['int8']:.4f}" in lines[1] and f"{info.latency_ms['int8']:.2f}" in lines[1]
    assert "fold(s) 9" in out
    code, out, err = run(capsys, "models", "--json")
    assert code == 0, err
    assert json.loads(out) == [m.to_dict() for m in edgecardio.models()]


def test_cli_model_by_name(capsys, two, tmp_path, records):
    x, fs = records[0]
    np.save(tmp_path / "r.npy", x)
    code, out, err = run(capsys, "predict", str(tmp_path / "r.npy"), "--fs-hz", str(fs), "--json", "--model", OTHER)
    assert code == 0, err
    assert json.loads(out)["labels"] == list(mc.CLASSES)
    code, out, err = run(capsys, "predict", str(tmp_path / "r.npy"), "--fs-hz", str(fs), "--json")
    assert code == 0 and json.loads(out)["labels"] != list(mc.CLASSES)
    code, out, err = run(capsys, "info", "--json", "--model", OTHER)
    assert code == 0, err
    info = json.loads(out)
    assert info["model"]["packaged_name"] == OTHER and info["packaged_models"] == [packaged.DEFAULT_MODEL, OTHER]
    code, out, err = run(capsys, "monitor", str(tmp_path / "r.npy"), "--fs-hz", str(fs), "--jsonl", "--model", OTHER)
    assert code == 0, err
    assert json.loads(out.splitlines()[0])["labels"] == list(mc.CLASSES)


@pytest.mark.parametrize("command", ["predict", "monitor", "bench"])
def test_cli_unknown_model_is_one_line(capsys, tmp_path, records, command):
    x, fs = records[0]
    np.save(tmp_path / "r.npy", x)
    argv = {"predict": ["predict", str(tmp_path / "r.npy"), "--fs-hz", str(fs)],
            "monitor": ["monitor", str(tmp_path / "r.npy"), "--fs-hz", str(fs)],
            "bench": ["bench", "--iterations", "1", "--out", str(tmp_path / "b.json")]}[command]
    code, out, err = run(capsys, *argv, "--model", "resnet_xyz")
    assert code == 1 and err.count("\n") == 1, err
    assert "unknown model 'resnet_xyz'" in err and f"{packaged.DEFAULT_MODEL} (default)" in err
