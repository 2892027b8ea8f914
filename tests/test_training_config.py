"""The training config fails loudly on what it does not know."""
import json

import pytest

from training.config import ConfigError, load_config

CONFIG = "training/configs/lightecgnet.json"


def test_shipped_config_resolves():
    from training.config import REPO

    cfg = load_config(REPO / CONFIG)
    assert cfg["data"]["train_folds"] == [1, 2, 3, 4, 5, 6, 7, 8] and cfg["data"]["val_folds"] == [9]
    assert cfg["preprocess"]["path"] == "native"


@pytest.mark.parametrize("override, message", [
    ("train.epochz=3", "unknown config key 'train.epochz'"),
    ("train.scheduler=\"step\"", "train.scheduler='step'"),
    ("model.pool=\"sum\"", "model.pool"),
    ("data.val_folds=[8]", "overlap"),
    ("train.lr=\"fast\"", "must be like"),
    ("data.classes=[\"MI\",\"NORM\",\"STTC\",\"CD\",\"HYP\"]", "model-card order"),
])
def test_bad_options_fail(override, message):
    with pytest.raises((ConfigError, ValueError), match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, [override])


def test_unknown_section_in_file_fails(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"trian": {"epochs": 1}}))
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        load_config(p)
