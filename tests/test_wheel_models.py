"""toolchains/wheel_models.py: a wheel must carry every packaged model, byte for byte (the aarch64
wheel build runs it). Throwaway wheels are zipped here from the source tree's models."""
import json
import shutil
import sys
import zipfile

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "toolchains"))
import wheel_models  # noqa: E402

MODELS = REPO / "python" / "edgecardio" / "models"
if not list(MODELS.glob("*/model_card.json")):  # the aarch64 test copies the tests without the package source
    pytest.skip(f"no packaged models in {MODELS} (the source tree's package is not here)", allow_module_level=True)


def _wheel(path, models_dir, skip=(), replace=None):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("edgecardio/__init__.py", b"")
        for f in sorted(models_dir.rglob("*")):
            rel = f.relative_to(models_dir).as_posix()
            if f.is_file() and rel not in skip:
                zf.writestr(f"edgecardio/models/{rel}", (replace or {}).get(rel, f.read_bytes()))
    return path


def test_a_complete_wheel_passes(tmp_path):
    lines, problems = wheel_models.check(_wheel(tmp_path / "ok.whl", MODELS), MODELS)
    assert problems == []
    names = sorted(p.parent.name for p in MODELS.glob("*/model_card.json"))
    assert [line.split(":")[0] for line in lines] == names and names


@pytest.fixture
def two(tmp_path):
    """A source tree of two models (the second a renamed copy of the first)."""
    src = tmp_path / "src"
    first = sorted(MODELS.glob("*/model_card.json"))[0].parent
    shutil.copytree(first, src / first.name)
    shutil.copytree(first, src / "second")
    return src, first.name


def test_every_model_must_be_there(tmp_path, two):
    src, first = two
    card = json.loads((src / "second" / "model_card.json").read_text())
    int8 = f"second/{card['files']['int8']}"
    _, problems = wheel_models.check(_wheel(tmp_path / "a.whl", src, skip={int8}), src)
    assert problems == [f"edgecardio/models/{int8} is missing from the wheel"]
    _, problems = wheel_models.check(_wheel(tmp_path / "b.whl", src, skip={f"second/{f}" for f in
                                                                          [*card["files"].values(), "model_card.json"]}), src)
    assert len(problems) == 1 + len(card["files"])


def test_a_file_other_than_the_card_describes_fails(tmp_path, two):
    src, first = two
    card = json.loads((src / first / "model_card.json").read_text())
    rel = f"{first}/{card['files']['int8']}"
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n"
    _, problems = wheel_models.check(_wheel(tmp_path / "c.whl", src, replace={rel: pointer}), src)
    assert len(problems) == 1 and "is not the file its card describes" in problems[0]


def test_flat_files_and_strays_fail(tmp_path, two):
    src, first = two
    whl = _wheel(tmp_path / "d.whl", src)
    with zipfile.ZipFile(whl, "a") as zf:
        zf.writestr("edgecardio/models/model_card.json", b"{}")
        zf.writestr("edgecardio/models/old/x.onnx", b"")
    _, problems = wheel_models.check(whl, src)
    assert any("directly in edgecardio/models/" in p for p in problems)
    assert any("models/old/ is in the wheel but not a packaged model" in p for p in problems)
    _, problems = wheel_models.check(whl, tmp_path / "empty")
    assert any("no packaged models" in p for p in problems)
