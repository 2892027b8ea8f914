"""Calibration: the metrics on cases with a known answer, the fits on logits with a known map, the
graph rewrite (ranks, AUC, labels kept), and the shipped model's card against its graphs."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("sklearn")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgecardio import modelcard as mc  # noqa: E402
from edgecardio import packaged  # noqa: E402
from training.calibrate import (MAPPED_RULE, SCALE_NODE, SHIFT_NODE, Calibration, choose, compare,  # noqa: E402
                                cross_validated_probabilities, fit_logistic, insert_calibration,
                                logit_graph, sigmoid, strip_calibration)
from training.config import ConfigError, load_config  # noqa: E402
from training.metrics import (brier_score, calibration_metrics, expected_calibration_error, log_loss,  # noqa: E402
                              reliability_bins)

K = len(mc.CLASSES)
MODELS_DIR = packaged.model_dir()  # the default packaged model


# ------------------------------------------------------------------------------------ metrics

@pytest.mark.parametrize("strategy", ["equal_mass", "equal_width"])
def test_ece_of_calibrated_draws_is_near_zero(rng, strategy):
    q = rng.random(200_000)
    y = (rng.random(q.size) < q).astype(int)
    # sampling noise alone: about sqrt(q(1-q)/n_bin) per bin, ~0.003 here
    assert expected_calibration_error(y, q, 15, strategy) < 0.01


@pytest.mark.parametrize("strategy", ["equal_mass", "equal_width"])
def test_ece_of_a_known_miscalibration(rng, strategy):
    # reported q, true probability q**2 < q everywhere: every bin is off the same way, so the ECE is
    # E|q - q**2| = 1/2 - 1/3 whatever the bins
    q = rng.random(200_000)
    y = (rng.random(q.size) < q ** 2).astype(int)
    assert expected_calibration_error(y, q, 15, strategy) == pytest.approx(1 / 6, abs=0.005)


def test_ece_exact_on_two_groups():
    # 10 records at 0.2 with 5 positives, 10 at 0.9 with 7: |0.5 - 0.2| / 2 + |0.7 - 0.9| / 2
    p = np.r_[np.full(10, 0.2), np.full(10, 0.9)]
    y = np.r_[np.ones(5), np.zeros(5), np.ones(7), np.zeros(3)]
    assert expected_calibration_error(y, p, 15, "equal_width") == pytest.approx(0.25)
    assert expected_calibration_error(y, p, 2, "equal_mass") == pytest.approx(0.25)
    b = reliability_bins(y, p, 15, "equal_width")
    assert b["count"].tolist() == [10, 10] and b["fraction_positive"].tolist() == [0.5, 0.7]


def test_equal_mass_bins_hold_equal_counts(rng):
    p = rng.random(1003)
    b = reliability_bins(rng.integers(0, 2, p.size), p, 15, "equal_mass")
    assert b["count"].sum() == 1003 and b["count"].max() - b["count"].min() <= 1 and len(b["count"]) == 15
    assert np.all(np.diff(b["mean_probability"]) > 0)


def test_brier_and_log_loss_agree_with_sklearn(rng):
    from sklearn.metrics import brier_score_loss
    from sklearn.metrics import log_loss as sk_log_loss

    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p))
    assert np.isfinite(log_loss(np.array([1, 0]), np.array([0.0, 1.0])))  # float32 saturation is finite


@pytest.mark.parametrize("y, p, message", [
    ([0, 1], [0.1, 2.5], "sigmoid outputs, not logits"),
    ([0, 2], [0.1, 0.5], "0 or 1"),
    ([0, 1, 1], [0.1, 0.5], "one length"),
])
def test_metric_inputs_are_checked(y, p, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(np.array(y), np.array(p))


def test_calibration_metrics_shape_is_checked(rng):
    with pytest.raises(ValueError, match=r"\[n, 5\]"):
        calibration_metrics(np.zeros((4, 3)), np.zeros((4, 3)))
    m = calibration_metrics(rng.integers(0, 2, (50, K)), rng.random((50, K)))
    assert set(m["per_class"]) == set(mc.CLASSES) and m["macro"]["ece"] == pytest.approx(
        np.mean([m["per_class"][c]["ece"] for c in mc.CLASSES]))


# ------------------------------------------------------------------------------------ fits

def _logits(rng, n, scale, shift):
    """Logits z and labels drawn with P(y=1) = sigmoid(scale*z + shift), per class."""
    z = rng.normal(0.0, 3.0, (n, K))
    y = (rng.random((n, K)) < sigmoid(z * np.asarray(scale) + np.asarray(shift))).astype(np.uint8)
    return z, y


def test_fit_recovers_a_known_temperature(rng):
    temperature = np.array([0.5, 1.0, 1.5, 2.0, 3.0])
    z, y = _logits(rng, 40_000, 1 / temperature, np.zeros(K))
    cal = Calibration.fit("temperature", z, y)
    fitted = np.array([cal.to_card()["temperature"][c] for c in mc.CLASSES])
    np.testing.assert_allclose(fitted, temperature, rtol=0.04)
    assert cal.shift == (0.0,) * K


def test_fit_recovers_a_known_platt_map(rng):
    a, b = np.array([0.7, 1.3, 0.5, 1.0, 0.8]), np.array([-1.2, 0.4, 0.0, -0.5, -2.0])
    z, y = _logits(rng, 40_000, a, b)
    cal = Calibration.fit("platt", z, y)
    np.testing.assert_allclose(cal.scale, a, rtol=0.05)
    np.testing.assert_allclose(cal.shift, b, atol=0.06)


def test_fit_refuses_what_it_cannot_fit(rng):
    z = rng.normal(size=200)
    with pytest.raises(ValueError, match="both positive and negative"):
        fit_logistic(z, np.zeros(200), shift=True)
    with pytest.raises(ValueError, match="not positive"):
        fit_logistic(z, (rng.random(200) < sigmoid(-2 * z)).astype(float), shift=True)
    with pytest.raises(ValueError, match="one of"):
        Calibration.fit("isotonic", z[:, None].repeat(K, 1), np.zeros((200, K)))


def test_thresholds_map_through_the_same_function(rng):
    cal = Calibration("platt", (0.7, 1.3, 0.5, 1.0, 0.8), (-1.2, 0.4, 0.0, -0.5, -2.0))
    z = rng.normal(0, 3, (5000, K))
    p, q = sigmoid(z), cal.probabilities(z)
    for k in range(K):
        t = float(np.quantile(p[:, k], 0.6))
        np.testing.assert_array_equal(p[:, k] >= t, q[:, k] >= cal.map_threshold(k, t))
    assert cal.map_threshold(0, 0.0) == 0.0 and cal.map_threshold(0, 1.0) == 1.0


def test_cross_validation_scores_each_record_out_of_fold(rng):
    # a record's out-of-fold probability comes from a map fitted without it: changing its label
    # leaves its own probability unchanged (it changes other parts' maps only)
    z, y = _logits(rng, 600, np.full(K, 0.8), np.full(K, -0.5))
    a = cross_validated_probabilities("platt", z, y, 5, seed=3)
    y2 = y.copy()
    y2[0] = 1 - y2[0]
    b = cross_validated_probabilities("platt", z, y2, 5, seed=3)
    assert a[0].tolist() == b[0].tolist() and not np.array_equal(a, b)
    with pytest.raises(ValueError, match="k >= 2"):
        cross_validated_probabilities("platt", z, y, 1, seed=3)


def test_auto_ships_a_map_only_when_it_helps(rng):
    z, y = _logits(rng, 3000, np.full(K, 0.75), np.full(K, -0.6))  # biased up, like a weighted loss
    method, why = choose(compare(z, y, cv_folds=5, seed=1))
    assert method == "platt", why
    z, y = _logits(rng, 3000, np.ones(K), np.zeros(K))  # already calibrated
    method, why = choose(compare(z, y, cv_folds=5, seed=1))
    assert method == "none", why
    assert choose(compare(z, y, cv_folds=5, seed=1), "temperature")[0] == "temperature"


@pytest.mark.parametrize("override, message", [
    ("calibrate.method=\"isotonic\"", "calibrate.method='isotonic'"),
    ("calibrate.cv_folds=1", "cv_folds"),
    ("calibrate.n_bins=0", "n_bins"),
    ("calibrate.bins=15", "unknown config key 'calibrate.bins'"),
])
def test_calibrate_config_is_checked(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_old_configs_ship_uncalibrated(tmp_path):
    # a run saved before the section existed resolves to "none": re-shipping it changes nothing
    from training.calibrate import calibrate_run

    assert load_config(None)["calibrate"]["method"] == "none"
    assert calibrate_run(tmp_path, {"data": {}}) is None  # a saved config without the section
    assert calibrate_run(tmp_path, load_config(None)) is None and not any(tmp_path.iterdir())
    from training.config import REPO

    for config in (REPO / "training" / "configs").glob("*.json"):
        assert load_config(config)["calibrate"]["method"] == "auto", config.name


# ------------------------------------------------------------------------------------ graphs

def _tiny_graph(rng, crops: bool):
    """x [batch, 6] -> Gemm -> (crop-style ReduceMean over a unit axis) -> Sigmoid -> probabilities."""
    w = numpy_helper.from_array(rng.normal(size=(6, K)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(size=K).astype(np.float32), "bias")
    nodes = [helper.make_node("Gemm", ["x", "w", "bias"], ["z"], name="head")]
    head_in = "z"
    if crops:
        axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
        nodes += [helper.make_node("Unsqueeze", ["z", "axes"], ["z3"]),
                  helper.make_node("ReduceMean", ["z3"], ["zm"], axes=[1], keepdims=0)]  # opset 17: attribute
        head_in = "zm"
    nodes.append(helper.make_node("Sigmoid", [head_in], [mc.OUTPUT_PROBABILITIES], name="/Sigmoid"))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
                              [helper.make_tensor_value_info(mc.OUTPUT_PROBABILITIES, TensorProto.FLOAT, ["batch", K])],
                              [w, bias] + ([axes] if crops else []))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


#: ONNX Runtime's Sigmoid is an approximation, within about 1e-7 of the exact value (measured 9.5e-8
#: on these graphs): two records whose probabilities lie closer than that may swap, before or after.
SIGMOID_TOL = 3e-7


def _keeps_order(before, after) -> bool:
    """No two records in the opposite order after than before, beyond the runtime Sigmoid's error
    (records tied before may separate: a float32 probability stands for several logits)."""
    order = np.lexsort((after, before))
    return bool(np.all(np.diff(after[order]) >= -SIGMOID_TOL))


def _run(model, feeds):
    """The model's output on those of ``feeds`` it declares as inputs (a two-input graph ignores
    ``lead_std_mv``)."""
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return sess.run(None, {k: v for k, v in feeds.items() if k in names})[0].astype(np.float64)


@pytest.mark.parametrize("crops", [False, True])
@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_rewrite_computes_the_map_and_keeps_ranks(rng, crops, method):
    model = _tiny_graph(rng, crops)
    x = {"x": rng.normal(size=(400, 6)).astype(np.float32)}
    z = _run(logit_graph(model), x)
    np.testing.assert_allclose(_run(model, x), sigmoid(z), atol=1e-6)
    cal = Calibration(method, (0.7, 1.3, 0.5, 1.0, 0.8), (-1.2, 0.4, 0.0, -0.5, -2.0) if method == "platt" else (0.0,) * K)
    new = insert_calibration(model, cal)
    onnx.checker.check_model(new)
    p, q = _run(model, x), _run(new, x)
    np.testing.assert_allclose(q, cal.probabilities(z), atol=1e-6)
    assert all(_keeps_order(p[:, k], q[:, k]) for k in range(K))
    ops = [n.op_type for n in new.graph.node]
    assert ops[-1] == "Sigmoid" and (SHIFT_NODE in [n.name for n in new.graph.node]) == (method == "platt")
    stripped, had = strip_calibration(new)
    assert had and stripped.SerializeToString() == model.SerializeToString()
    with pytest.raises(ValueError, match="uncalibrated graph"):
        insert_calibration(new, cal)
    assert insert_calibration(model, Calibration.identity()).SerializeToString() == model.SerializeToString()


def test_rewrite_refuses_a_graph_without_a_sigmoid_head(rng):
    model = _tiny_graph(rng, False)
    model.graph.node[-1].op_type = "Relu"
    with pytest.raises(ValueError, match="one Sigmoid"):
        insert_calibration(model, Calibration.identity())


def _shipped(name=None):
    d = packaged.model_dir(name)
    card = mc.load_card(d / "model_card.json")
    return card, {p: onnx.load(str(d / f)) for p, f in card["files"].items()}


@pytest.fixture(scope="module")
def shipped_inputs():
    rng = np.random.default_rng(11)
    return {mc.INPUT_ECG: rng.normal(size=(48, 12, 1000)).astype(np.float32),
            mc.INPUT_DEMOGRAPHICS: rng.normal(size=(48, 8)).astype(np.float32),
            mc.INPUT_LEAD_STD: rng.uniform(0.03, 0.8, size=(48, 12)).astype(np.float32)}


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_rewrite_of_the_shipped_graphs_keeps_ranks(precision, shipped_inputs):
    _, graphs = _shipped()
    raw, _ = strip_calibration(graphs[precision])
    cal = Calibration("platt", (0.7, 1.3, 0.5, 1.0, 0.8), (-1.2, 0.4, 0.0, -0.5, -2.0))
    new = insert_calibration(raw, cal)
    assert [n.op_type for n in new.graph.node][-4:] == ["Gemm", "Mul", "Add", "Sigmoid"]
    z = _run(logit_graph(raw), shipped_inputs)
    p, q = _run(raw, shipped_inputs), _run(new, shipped_inputs)
    np.testing.assert_allclose(q, cal.probabilities(z), atol=2e-6)
    assert all(_keeps_order(p[:, k], q[:, k]) for k in range(K))


@pytest.mark.parametrize("name", packaged.model_names())
def test_shipped_card_describes_its_graphs(shipped_inputs, name):
    """The card's calibration section, its graphs and its thresholds tell the same story."""
    card, graphs = _shipped(name)
    section = card.get("calibration")
    if section is None:
        pytest.skip("the shipped model carries no calibration section")
    cal = Calibration(section["method"], tuple(section["parameters"]["scale"][c] for c in mc.CLASSES),
                      tuple(section["parameters"]["shift"][c] for c in mc.CLASSES))
    for precision, g in graphs.items():
        raw, had = strip_calibration(g)
        assert had == (cal.method != "none")
        # the graph's own constants are the card's parameters (float32)
        consts = {i.name: numpy_helper.to_array(i) for i in g.graph.initializer}
        if had:
            np.testing.assert_array_equal(consts[f"{SCALE_NODE}_value"].ravel(), np.float32(cal.scale))
        z = _run(logit_graph(raw), shipped_inputs)
        np.testing.assert_allclose(_run(g, shipped_inputs), cal.probabilities(z), atol=2e-6)
    for key, raw_t in section["thresholds_uncalibrated"].items():
        for k, c in enumerate(mc.CLASSES):
            # mapped thresholds, up to float32 rounding (or an ulp-sized move recorded as snapped)
            assert card[key][c] == pytest.approx(cal.map_threshold(k, raw_t[c]), abs=1e-6), (key, c)
    v = section["validation"]
    for precision in graphs:
        assert v[precision]["labels_unchanged"] and v[precision]["macro_auc_after"] == pytest.approx(
            v[precision]["macro_auc_before"], abs=1e-9)
    for info in card["file_info"].values():
        if info["shipped"]:
            import hashlib

            assert hashlib.sha256((packaged.model_dir(name) / info["file"]).read_bytes()).hexdigest() == info["sha256"]


@pytest.mark.parametrize("name", packaged.model_names())
def test_shipped_model_calibration_matches_docs(name):
    """docs/calibration_<name>.json holds the numbers the card reports."""
    card, _ = _shipped(name)
    section = card.get("calibration")
    if section is None:
        pytest.skip("the shipped model carries no calibration section")
    from training.config import REPO

    doc = json.loads((REPO / "docs" / f"calibration_{name}.json").read_text())
    assert doc["calibration"]["parameters"] == section["parameters"]
    assert doc["calibration"]["method"] == section["method"]
    assert (REPO / "docs" / f"calibration_{name}.png").is_file()


# ------------------------------------------------------------------------------------ PTB-XL

@pytest.fixture(scope="module")
def fold9_layout(ptbxl, tmp_path_factory):
    """The official layout of the first 150 records of fold 9."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wfdb's own import warns about a pandas deprecation; not ours
        pytest.importorskip("wfdb")
    dest = tmp_path_factory.mktemp("ptbxl9")
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(dest), "--folds", "9", "--limit", "150",
                    "--source", str(ptbxl)], check=True, capture_output=True)
    return dest


def _raw_models(dest):
    """The shipped model as it was before calibration (if it is calibrated: the inserted nodes
    removed, the uncalibrated thresholds back, the digests of the stripped files)."""
    import hashlib

    dest.mkdir(parents=True, exist_ok=True)
    card, graphs = _shipped()
    section = card.pop("calibration", None)
    if section is not None:
        card.update(section["thresholds_uncalibrated"])
    for p, f in card["files"].items():
        onnx.save(strip_calibration(graphs[p])[0], str(dest / f))
        for info in card["file_info"].values():
            if info["file"] == f:
                info["sha256"] = hashlib.sha256((dest / f).read_bytes()).hexdigest()
                info["bytes"] = (dest / f).stat().st_size
    (dest / "model_card.json").write_text(json.dumps(card, indent=2))
    return dest


def _predict(model_dir, layout, precision):
    from training.evaluate import classifier_auc

    return classifier_auc({"data": {"root": str(layout), "val_folds": [9]}}, model_dir, precision)["probabilities"]


@pytest.mark.ptbxl
def test_write_round_trip(fold9_layout, tmp_path):
    """--write on the uncalibrated shipped model: the Classifier verifies the new digests, ranks and
    labels through the runtime are unchanged, the card reads back, and writing again reproduces it."""
    from edgecardio import Classifier
    from training.calibrate import calibrate_model_dir

    raw = _raw_models(tmp_path / "raw")
    d = shutil.copytree(raw, tmp_path / "models")
    rep = calibrate_model_dir(d, method="platt", data_root=fold9_layout, write=True, out_dir=tmp_path / "out",
                              name="t")
    card = mc.load_card(d / "model_card.json")
    assert card["calibration"]["method"] == "platt" and (tmp_path / "out" / "calibration_t.png").is_file()
    t_raw = mc.card_thresholds(mc.load_card(raw / "model_card.json"), "raw")
    assert card["calibration"]["thresholds_uncalibrated"]["thresholds"] == t_raw
    for precision in card["files"]:
        clf = Classifier(d, precision=precision)  # the new digests verify
        t_new = np.array([clf.thresholds[c] for c in mc.CLASSES])
        before, after = _predict(raw, fold9_layout, precision), _predict(d, fold9_layout, precision)
        np.testing.assert_array_equal(before >= np.array([t_raw[c] for c in mc.CLASSES]), after >= t_new)
        assert all(_keeps_order(before[:, k], after[:, k]) for k in range(K))
        assert not np.allclose(before, after, atol=1e-3)  # it did change the probabilities
        v = rep["calibration"]["validation"][precision]
        assert v["labels_unchanged"] and v["macro_auc_after"] == pytest.approx(v["macro_auc_before"], abs=1e-9)
        assert v["macro_log_loss_after"] < v["macro_log_loss_before"]
    first = {f: (d / f).read_bytes() for f in card["files"].values()}
    calibrate_model_dir(d, method="platt", data_root=fold9_layout, write=True)  # refits from the raw graph
    assert {f: (d / f).read_bytes() for f in card["files"].values()} == first
    again = mc.load_card(d / "model_card.json")
    assert again["thresholds"] == card["thresholds"] and again["thresholds_rule"] == card["thresholds_rule"]
    assert card["thresholds_rule"].count(MAPPED_RULE) == 1
    import hashlib

    for p, f in card["files"].items():  # the digests of the files as they were before any calibration
        assert again["calibration"]["files"][p]["sha256_uncalibrated"] == hashlib.sha256((raw / f).read_bytes()).hexdigest()
        assert again["calibration"]["files"][p]["sha256"] == again["file_info"][p]["sha256"]


@pytest.mark.ptbxl
def test_write_none_keeps_the_graph_bytes(fold9_layout, tmp_path):
    from training.calibrate import calibrate_model_dir

    raw = _raw_models(tmp_path / "raw")
    d = shutil.copytree(raw, tmp_path / "models")
    calibrate_model_dir(d, method="none", data_root=fold9_layout, write=True)
    card = mc.load_card(d / "model_card.json")
    assert card["calibration"]["method"] == "none"
    for f in card["files"].values():
        assert (d / f).read_bytes() == (raw / f).read_bytes()
    assert card["thresholds"] == mc.load_card(raw / "model_card.json")["thresholds"]
    assert MAPPED_RULE not in card["thresholds_rule"]


def test_missing_data_is_a_clear_error(tmp_path):
    from training.calibrate import calibrate_model_dir

    with pytest.raises(FileNotFoundError, match="materialize.py"):
        calibrate_model_dir(MODELS_DIR, data_root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="calibration method"):
        calibrate_model_dir(MODELS_DIR, method="isotonic", data_root=tmp_path)


@pytest.mark.slow
@pytest.mark.ptbxl
def test_shipped_labels_unchanged_on_all_of_fold_9(ptbxl, tmp_path_factory):
    """The shipped (calibrated) model gives, on every fold-9 record, the labels the uncalibrated
    graph gave with the uncalibrated thresholds, and the same per-class AUC to 1e-9."""
    from training.calibrate import fold_labels
    from training.metrics import macro_auc

    card, _ = _shipped()
    if card.get("calibration", {}).get("method", "none") == "none":
        pytest.skip("the shipped model is not calibrated")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # wfdb's own import warns about a pandas deprecation; not ours
        pytest.importorskip("wfdb")
    layout = tmp_path_factory.mktemp("ptbxl9_all")
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(layout), "--folds", "9", "--source",
                    str(ptbxl)], check=True, capture_output=True)
    raw = _raw_models(tmp_path_factory.mktemp("raw"))
    t_old = np.array([mc.load_card(raw / "model_card.json")["thresholds"][c] for c in mc.CLASSES])
    t_new = np.array([card["thresholds"][c] for c in mc.CLASSES])
    y = fold_labels(layout, [9])
    assert len(y) == card["calibration"]["fitted_on"]["n_records"]
    for precision in card["files"]:
        old, new = _predict(raw, layout, precision), _predict(MODELS_DIR, layout, precision)
        np.testing.assert_array_equal(old >= t_old, new >= t_new)
        np.testing.assert_allclose(macro_auc(y, new)[1], macro_auc(y, old)[1], atol=1e-9)


def test_command_names_the_missing_data(tmp_path, capsys):
    from training.calibrate import main

    with pytest.raises(FileNotFoundError, match="materialize.py"):
        main(["--model-dir", str(MODELS_DIR), "--data", str(tmp_path), "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["--model-dir", str(MODELS_DIR), "--method", "isotonic"])
    assert "invalid choice" in capsys.readouterr().err
