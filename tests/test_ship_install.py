"""training/ship.py --install puts a run's files into python/edgecardio/models/<config name>/, where
edgecardio finds the model by that name."""
import json
import shutil

import pytest

pytest.importorskip("torch")
from training import ship  # noqa: E402

from edgecardio import packaged  # noqa: E402


def _run_dir(tmp_path, name):
    """A finished run as ship() leaves it: the default packaged model's files and card (renamed)."""
    run = tmp_path / "runs" / name
    shutil.copytree(packaged.model_dir(), run)
    card = json.loads((run / "model_card.json").read_text())
    card["training"]["config"]["name"] = name
    (run / "model_card.json").write_text(json.dumps(card))
    (run / "lightecgnet_fp16.onnx").write_bytes(b"not shipped")
    return run, card


def test_install_goes_to_the_config_name(tmp_path, monkeypatch):
    root = tmp_path / "models"
    monkeypatch.setattr(ship, "MODELS_DIR", root)
    run, card = _run_dir(tmp_path, "resnet_test")
    (root / "resnet_test").mkdir(parents=True)
    (root / "resnet_test" / "lightecgnet_fp16.onnx").write_bytes(b"stale")  # FP16 no longer ships
    dest = ship.install_files(run, card["files"], False, "resnet_test")
    assert dest == root / "resnet_test"
    assert sorted(p.name for p in dest.iterdir()) == sorted([*card["files"].values(), "model_card.json"])
    for file in card["files"].values():
        assert (dest / file).read_bytes() == (run / file).read_bytes()
    assert not list(root.glob("*.onnx"))  # nothing beside the model directories
    # edgecardio finds it by that name
    monkeypatch.setattr(packaged, "MODELS_DIR", root)
    assert packaged.model_names() == ["resnet_test"]
    assert packaged.model_info("resnet_test").files == card["files"]


@pytest.mark.parametrize("name", ["", "../escape", "a/b", ".hidden"])
def test_install_refuses_a_name_that_is_no_directory_name(tmp_path, monkeypatch, name):
    monkeypatch.setattr(ship, "MODELS_DIR", tmp_path / "models")
    run, card = _run_dir(tmp_path, "ok")
    with pytest.raises(ValueError, match="cannot name a packaged model"):
        ship.install_files(run, card["files"], False, name)
    assert not (tmp_path / "models").exists()

