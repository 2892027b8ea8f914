"""A temporary package-models directory with two models, for tests of selection by name.

The second model is a copy of the default one under another name, with a card that differs where a
test can see it (thresholds of 0: every class is a label; INT8 only; no recorded latency; its own
description and AUC). Nothing here is committed as a model: it is built in tmp_path per test.
"""
import json
import shutil

from edgecardio import packaged

OTHER = "copy_int8"


def two_models(tmp_path, monkeypatch):
    """Point edgecardio.packaged at tmp_path/models holding the default model and ``OTHER``;
    return that directory."""
    src = packaged.model_dir()  # before the patch: the real default model
    root = tmp_path / "models"
    shutil.copytree(src, root / packaged.DEFAULT_MODEL)
    other = root / OTHER
    shutil.copytree(src, other)
    card = json.loads((other / "model_card.json").read_text())
    (other / card["files"]["fp32"]).unlink()
    del card["files"]["fp32"]
    card["file_info"]["fp32"]["shipped"] = False
    card["thresholds"] = {c: 0.0 for c in card["thresholds"]}
    card["description"] = "a copy for tests: every class over its threshold"
    card["version"] = "test-copy"
    card["metrics"]["validation"]["int8"]["macro_auc"] = 0.5
    card["metrics"]["validation"]["int8"]["macro_auc_ci90"] = [0.4, 0.6]
    del card["speed_cpu"]
    (other / "model_card.json").write_text(json.dumps(card))
    # a directory without a card (a stray __pycache__, say) is not a model
    (root / "__pycache__").mkdir()
    monkeypatch.setattr(packaged, "MODELS_DIR", root)
    return root
