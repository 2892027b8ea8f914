"""A tiny end-to-end training run on real PTB-XL rows: official layout -> cache -> train (a few
batches) -> resume -> ONNX export -> INT8 -> FP16 -> evaluation -> model card."""
import copy
import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxsim")
pytest.importorskip("wfdb")
pytest.importorskip("sklearn")

from edgecardio import modelcard as mc  # noqa: E402
from training.config import load_config  # noqa: E402
from training.data import build_cache, iter_compact, iter_official, load_dataset  # noqa: E402
from training.labels import read_database  # noqa: E402
from training.train import augment, random_crops  # noqa: E402

from _training_helpers import int8_graph_types  # noqa: E402

pytestmark = pytest.mark.ptbxl
torch.set_num_threads(1)
LIMIT = 40  # records per fold


@pytest.fixture(scope="module")
def layout(ptbxl, tmp_path_factory):
    """The official layout (csv files and records100/) of the first LIMIT records of folds 1 and 9."""
    dest = tmp_path_factory.mktemp("ptbxl")
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(dest), "--folds", "1", "9",
                    "--limit", str(LIMIT), "--source", str(ptbxl)], check=True, capture_output=True)
    return dest


@pytest.fixture(scope="module")
def cfg(layout, ptbxl, tmp_path_factory):
    return load_config(None, [
        ("data.root".split("."), str(layout)), ("data.compact_dir".split("."), str(ptbxl)),
        ("data.cache_dir".split("."), str(tmp_path_factory.mktemp("cache"))),
        ("model.stem_channels".split("."), 8), ("model.stage_channels".split("."), [12, 16, 16, 24]),
        ("model.blocks_per_stage".split("."), [1, 1, 1, 1]), ("model.demo_hidden".split("."), 8),
        ("train.epochs".split("."), 2), ("train.batch_size".split("."), 8), ("train.steps_per_epoch".split("."), 2),
        ("train.num_threads".split("."), 1), ("train.ema_decay".split("."), 0.9),
        ("quantize.calibration_records".split("."), 24),
        ("eval.bootstrap_samples".split("."), 100),
    ])


def test_official_and_compact_readers_agree(layout, ptbxl):
    db = read_database(layout)
    db = db[db.strat_fold == 9].iloc[:5]
    official = {e: (s, g) for e, s, g in iter_official(layout, db)}
    compact = {e: (s, g) for e, s, g in iter_compact(ptbxl, db)}
    assert official.keys() == compact.keys() and len(official) == 5
    for e in official:
        assert official[e][0].dtype == np.int16 and official[e][0].shape == (12, 1000)
        np.testing.assert_array_equal(official[e][0], compact[e][0])
        assert official[e][1] == compact[e][1] == 1000.0


def test_cache_records_its_preprocessing_path(cfg):
    out = build_cache(cfg, progress=False)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["preprocess"]["path"] == cfg["preprocess"]["path"] and meta["n_records"] == 2 * LIMIT
    ds = load_dataset(cfg)
    assert ds.signals.shape[1:] == (12, 1000) and len(ds.split.test) == 0
    x = np.asarray(ds.signals[ds.split.val[:3]])
    np.testing.assert_allclose(x.std(axis=2), 1.0, atol=1e-3)  # per-lead z-score
    # each lead's voltage, as the runtime computes it for the graph's lead_std_mv input
    import edgecardio

    db = read_database(cfg["data"]["root"])
    row = ds.split.val[0]
    sig, gain = next((s, g) for e, s, g in iter_official(cfg["data"]["root"], db.loc[[ds.ecg_ids[row]]]))
    _, info = edgecardio.preprocess(sig, 100, gain_per_mv=gain, return_info=True)
    assert ds.lead_std_mv.shape == (len(ds.labels), 12) and ds.lead_std_mv.dtype == np.float32
    np.testing.assert_array_equal(ds.lead_std_mv[row], info.lead_std_mv.astype(np.float32))
    # a cache from before lead_std_mv.npy (format 1) is refused with the rebuild command
    meta_path = out / "meta.json"
    saved = meta_path.read_text()
    try:
        meta_path.write_text(json.dumps({**meta, "format": 1}))
        with pytest.raises(ValueError, match="has format 1, expected 2: rebuild it"):
            load_dataset(cfg)
    finally:
        meta_path.write_text(saved)


def test_crops_and_augmentation_shapes():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 12, 1000)
    c = random_crops(x, 250, g)
    assert c.shape == (4, 12, 250)
    aug = load_config(None)["train"]["aug"] | {"lead_dropout": 0.5, "demographics_dropout": 1.0}
    xa, da, sa = augment(c, torch.zeros(4, 8), aug, g)
    assert xa.shape == c.shape and torch.equal(da, torch.tensor([[0, 1, 0, 1, 0, 1, 0, 1.0]]).expand(4, 8))
    assert sa is None
    # a dropped lead is flat in lead_std too (zero, which the graph clamps to FLAT_STD_MV), as at run time
    g = torch.Generator().manual_seed(0)
    std = torch.full((4, 12), 0.3)
    xa, _, sa = augment(c, torch.zeros(4, 8), aug, g, std)
    dropped = (xa == 0).all(dim=2)
    assert dropped.any() and (~dropped).any()
    assert torch.equal(sa == 0, dropped) and torch.all(sa[~dropped] == 0.3)


@pytest.mark.parametrize("use_lead_std", [False, True])
def test_tiny_run_end_to_end(cfg, tmp_path, use_lead_std):
    from training.ship import ship
    from training.train import train

    cfg = json.loads(json.dumps(cfg))
    cfg["model"]["use_lead_std"] = use_lead_std
    build_cache(cfg, progress=False)
    run = tmp_path / "run"
    state = train(cfg, run, stop_after_epoch=1)  # an interrupted run ...
    assert state["epoch"] == 1 and (run / "best.pt").is_file() and (run / "last.pt").is_file()
    state = train(json.loads((run / "config.json").read_text()), run, resume=True)  # ... resumed
    assert [h["epoch"] for h in state["history"]] == [1, 2]

    card = ship(run, min_calibration_records=20, timing_runs=5)
    loaded = mc.load_card(run / "model_card.json")
    assert loaded["files"]["int8"] == "lightecgnet_int8.onnx"
    v = loaded["metrics"]["validation"]
    for name in ("fp32", "int8"):
        assert 0.0 <= v[name]["macro_auc"] <= 1.0
        lo, hi = v[name]["macro_auc_ci90"]
        assert lo <= hi
    assert card["metrics"]["pytorch_vs_onnxruntime_max_abs_diff"] <= 1e-5
    from training.ship import sha256

    for name, info in card["file_info"].items():
        assert info["sha256"] == sha256(run / info["file"]) and info["bytes"] == (run / info["file"]).stat().st_size
    assert all(0.0 <= t <= 1.0 for t in loaded["thresholds"].values())
    via = loaded["metrics"]["validation_via_classifier"]
    assert "error" not in via, via
    assert abs(via["int8_100hz"]["macro_auc"] - v["int8"]["macro_auc"]) < 0.02  # same model, runtime path
    assert (run / "eval" / "report.json").is_file() and (run / "eval" / "roc_int8_validation.png").is_file()
    # the INT8 model follows the FP32 one on real records
    from training.onnx_io import onnx_predict

    ds = load_dataset(cfg)
    demo = ds.demographics(loaded["demographics"]["stats"])
    x = np.asarray(ds.signals[ds.split.val], np.float32)
    std = ds.lead_std_mv[ds.split.val]
    p32 = onnx_predict(run / "lightecgnet_fp32.onnx", x, demo[ds.split.val], std)
    p8 = onnx_predict(run / "lightecgnet_int8.onnx", x, demo[ds.split.val], std)
    assert np.abs(p32 - p8).max() < 0.1
    # the graphs read each lead's voltage exactly when the config says so, and the card says which
    from edgecardio import Classifier

    assert (mc.INPUT_LEAD_STD in loaded["inputs"]) == use_lead_std
    for precision in ("fp32", "int8"):
        assert Classifier(run, precision=precision).reads_lead_std == use_lead_std


def test_ship_refuses_non_native(cfg, tmp_path):
    from training.ship import ship
    from training.train import train

    c = json.loads(json.dumps(cfg))
    c["preprocess"]["path"] = "reference"  # a development cache (its own directory)
    c["train"]["epochs"] = 1
    build_cache(c, progress=False)
    with pytest.raises(RuntimeError, match="native"):
        load_dataset(c, require_native=True)
    train(c, tmp_path / "r")
    with pytest.raises(RuntimeError, match="native"):
        ship(tmp_path / "r", install=True)


@pytest.mark.parametrize("activation_type, float_head", [("uint8", True), ("int8", False)])
def test_quantize_cli_follows_the_config(cfg, tmp_path, monkeypatch, activation_type, float_head):
    """``python -m training.quantize --run`` quantizes as the run's config says, as ``ship`` does."""
    import onnx

    import training.quantize
    from training.export import export_onnx
    from training.model import LightECGNet, ModelConfig

    build_cache(cfg, progress=False)
    c = json.loads(json.dumps(cfg))
    c["quantize"].update(activation_type=activation_type, float_head=float_head)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(c))
    torch.manual_seed(0)
    export_onnx(LightECGNet(ModelConfig(**c["model"])).eval(), run / "lightecgnet_fp32.onnx", crop_len=None)
    monkeypatch.setattr(training.quantize, "MIN_CALIBRATION_RECORDS", 20)  # the tiny cache has 24
    training.quantize.main(["--run", str(run)])
    _, act_zp, head = int8_graph_types(run / "lightecgnet_int8.onnx")
    want = {"int8": onnx.TensorProto.INT8, "uint8": onnx.TensorProto.UINT8}[activation_type]
    assert act_zp == {want}
    assert (head == "Sigmoid") == float_head


def test_entry_point_refuses_what_it_cannot_ship(capsys):
    """``python -m training`` ships only a native run and installs only what it ships."""
    from training.__main__ import main
    from training.config import REPO

    config = str(REPO / "training" / "configs" / "lightecgnet_reg.json")
    with pytest.raises(SystemExit, match="--ship needs preprocess.path='native'"):
        main(["--config", config, "--set", 'preprocess.path="reference"', "--run-name", "never", "--ship"])
    with pytest.raises(SystemExit):
        main(["--config", config, "--run-name", "never", "--install"])
    assert "pass --ship too" in capsys.readouterr().err


def test_distill_loss_is_minimal_at_the_teacher():
    from training.train import distill_loss

    teacher = torch.tensor([[2.0, -1.0, 0.5, -3.0, 0.0]])
    for temperature in (1.0, 2.0):
        student = teacher.clone().requires_grad_(True)
        distill_loss(student, teacher, temperature).backward()
        assert student.grad.abs().max() < 1e-6
        # away from the teacher the loss is larger and its gradient points back to it
        away = (teacher + 1.0).requires_grad_(True)
        loss = distill_loss(away, teacher, temperature)
        loss.backward()
        assert loss > distill_loss(teacher, teacher, temperature) and (away.grad > 0).all()


def test_distillation_end_to_end(cfg, tmp_path):
    """Teacher run -> committed-style soft labels -> a student trained on them, and a soft-label file
    that misses training records is refused instead of training on zeros."""
    from training.data import load_soft_labels
    from training.distill import build
    from training.train import train

    build_cache(cfg, progress=False)
    teacher = tmp_path / "teacher"
    train(cfg, teacher)
    soft = tmp_path / "soft.npz"
    meta = build(cfg, [teacher, teacher], soft)
    ds = load_dataset(cfg)
    z = np.load(soft)
    assert z["logits"].dtype == np.float16 and len(z["ecg_id"]) == len(ds.split.train) + len(ds.split.val)
    assert 0.0 <= meta["val_macro_auc"] <= 1.0 and np.isfinite(z["logits"]).all()
    got = load_soft_labels(soft, ds.ecg_ids[ds.split.train][::-1])
    assert got.shape == (len(ds.split.train), 5)
    np.testing.assert_array_equal(got[::-1], z["logits"][:len(ds.split.train)].astype(np.float32))

    student_cfg = copy.deepcopy(cfg)
    student_cfg["train"]["distill"] = {"soft_labels": str(soft), "weight": 0.5, "temperature": 2.0}
    state = train(student_cfg, tmp_path / "student")
    assert state["epoch"] == cfg["train"]["epochs"] and np.isfinite(state["history"][-1]["loss"])

    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, ecg_id=z["ecg_id"], logits=z["logits"][:, :4])
    with pytest.raises(ValueError, match=r"logits have shape .*expected"):
        load_soft_labels(wrong, ds.ecg_ids[ds.split.train])
    partial = tmp_path / "partial.npz"
    np.savez(partial, ecg_id=z["ecg_id"][1:], logits=z["logits"][1:])
    with pytest.raises(ValueError, match="no teacher logits for 1 training records"):
        load_soft_labels(partial, ds.ecg_ids[ds.split.train])

