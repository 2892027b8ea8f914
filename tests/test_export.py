"""ONNX export under the model-card contract; PyTorch vs ONNX Runtime on real records."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxsim")
import onnx  # noqa: E402

from edgecardio import modelcard as mc  # noqa: E402
from training.export import export_onnx  # noqa: E402
from training.model import CropEnsemble, LightECGNet, count_parameters, crop_starts, torch_predict  # noqa: E402
from training.onnx_io import onnx_predict, onnx_session  # noqa: E402

from _training_helpers import int8_graph_types, preprocessed_records  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1234)
    m = LightECGNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm1d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5)
    return m.eval()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    return {"crops": export_onnx(model, d / "crops.onnx"), "full": export_onnx(model, d / "full.onnx", crop_len=None)}


def test_parameter_budget(model):
    assert count_parameters(model) <= 300_000


def test_crop_starts():
    assert crop_starts(1000, 250, 125) == [0, 125, 250, 375, 500, 625, 750]
    assert crop_starts(1000, 300, 125) == [0, 125, 250, 375, 500, 625, 700]  # last crop ends at the end
    assert crop_starts(1000, 1000, 125) == [0]


def test_contract(exported):
    for path in exported.values():
        m = onnx.load(str(path))
        assert max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")) >= 17
        ins = {i.name: i.type.tensor_type for i in m.graph.input}
        outs = {o.name: o.type.tensor_type for o in m.graph.output}
        assert list(ins) == [mc.INPUT_ECG, mc.INPUT_DEMOGRAPHICS] and list(outs) == [mc.OUTPUT_PROBABILITIES]
        for t, shape in ((ins[mc.INPUT_ECG], [None, 12, 1000]), (ins[mc.INPUT_DEMOGRAPHICS], [None, 8]),
                         (outs[mc.OUTPUT_PROBABILITIES], [None, 5])):
            assert t.elem_type == onnx.TensorProto.FLOAT
            dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
            assert dims == shape
            assert t.shape.dim[0].dim_param  # dynamic batch


def test_dynamic_batch_rows_are_independent(exported, rng):
    x = rng.standard_normal((5, 12, 1000)).astype(np.float32)
    d = rng.standard_normal((5, 8)).astype(np.float32)
    sess = onnx_session(exported["crops"])
    all5 = onnx_predict(sess, x, d)
    one = np.concatenate([onnx_predict(sess, x[i:i + 1], d[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(all5, one, atol=1e-6)
    assert ((all5 > 0) & (all5 < 1)).all()  # sigmoid inside the graph


@pytest.mark.ptbxl
@pytest.mark.parametrize("variant", ["crops", "full"])
def test_parity_on_real_records(ptbxl, model, exported, variant):
    x, _ = preprocessed_records(ptbxl, fold=9, n=16)
    rng = np.random.default_rng(0)
    d = np.stack([mc.encode_demographics({k: {"mean": 60.0, "std": 15.0} for k in ("age", "height_cm", "weight_kg")},
                                         age=float(a), sex=s) for a, s in zip(rng.uniform(20, 90, 16),
                                                                               ["male", "female"] * 8)])
    wrapped = CropEnsemble(model, crop_len=250 if variant == "crops" else None, stride=125)
    p_torch = torch_predict(wrapped, torch.from_numpy(x), torch.from_numpy(d))
    p_onnx = onnx_predict(exported[variant], x, d)
    assert np.abs(p_torch - p_onnx).max() <= 1e-5


def test_crop_ensemble_matches_manual_crops(model, rng):
    x = torch.from_numpy(rng.standard_normal((2, 12, 1000)).astype(np.float32))
    d = torch.from_numpy(rng.standard_normal((2, 8)).astype(np.float32))
    w = CropEnsemble(model, crop_len=250, stride=125)
    with torch.no_grad():
        manual = torch.stack([model(x[:, :, s:s + 250], d) for s in range(0, 751, 125)], 1).mean(1)
        torch.testing.assert_close(w(x, d), torch.sigmoid(manual), atol=1e-6, rtol=0)


def _packaged_model_dirs():
    from training.config import REPO

    return sorted(p.parent for p in (REPO / "python" / "edgecardio" / "models").glob("*/model_card.json"))


def test_the_default_model_is_packaged():
    from edgecardio.packaged import DEFAULT_MODEL

    assert DEFAULT_MODEL in [d.name for d in _packaged_model_dirs()]


@pytest.mark.parametrize("d", _packaged_model_dirs(), ids=lambda d: d.name)
def test_shipped_model_matches_its_card(d):
    """The files in each python/edgecardio/models/<name>/ are the ones its card describes (sizes,
    SHA-256), the default model is within the parameter budget, and the INT8 file is static QDQ with
    per-channel signed int8 weights and the activation type the card states."""
    import hashlib
    import json

    from edgecardio.packaged import DEFAULT_MODEL

    card = mc.load_card(d / "model_card.json")
    assert card["training"]["config"]["name"] == d.name  # ship.py --install names the directory after the config
    for name, info in card["file_info"].items():
        if not info["shipped"]:
            assert not (d / info["file"]).exists()
            continue
        data = (d / info["file"]).read_bytes()
        assert len(data) == info["bytes"] and hashlib.sha256(data).hexdigest() == info["sha256"]
    assert set(card["files"]) >= {"fp32", "int8"} and card["default"] == "int8"
    if d.name == DEFAULT_MODEL:  # the fast default; other packaged models trade size for accuracy
        assert card["architecture"]["parameters"] <= 300_000
    assert card["preprocessing"]["built_by"]["path"] == "native"
    assert card["trained_on"]["val_folds"] == [9] and card["trained_on"]["train_folds"] == list(range(1, 9))
    q = onnx.load(str(d / card["files"]["int8"]))
    ops = {n.op_type for n in q.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    inits = {i.name: i for i in q.graph.initializer}
    for n in q.graph.node:  # Conv kernels: signed int8, one zero point per output channel
        if n.op_type == "DequantizeLinear" and len(n.input) == 3 and n.input[0] in inits and n.input[2] in inits:
            zp = inits[n.input[2]]
            if zp.data_type == onnx.TensorProto.INT8 and len(inits[n.input[0]].dims) == 3:
                assert len(zp.dims) == 1 and zp.dims[0] == inits[n.input[0]].dims[0], n.name
    weight_zp, act_zp, head = int8_graph_types(d / card["files"]["int8"])
    assert onnx.TensorProto.INT8 in weight_zp and weight_zp <= {onnx.TensorProto.INT8, onnx.TensorProto.INT32}
    act = card["quantization"]["activations"].split()[0]
    assert act_zp == {{"int8": onnx.TensorProto.INT8, "uint8": onnx.TensorProto.UINT8}[act]}
    if card["quantization"].get("float_head"):  # probabilities straight from a float sigmoid
        assert head == "Sigmoid"
    json.dumps(card)  # plain JSON all the way down


def test_quantize_rejects_unknown_activation_type(tmp_path):
    from training.quantize import quantize_int8

    ecg, demo = np.zeros((1, 12, 1000), np.float32), np.zeros((1, 8), np.float32)
    with pytest.raises(ValueError, match="activation type 'int4'"):
        quantize_int8(tmp_path / "in.onnx", tmp_path / "out.onnx", ecg, demo, activation_type="int4", min_records=1)


def test_quantize_needs_lead_std_exactly_when_the_graph_reads_it(tmp_path, exported):
    """Calibration data without the voltages a graph reads (or with voltages it has no input for) is
    refused before quantizing, instead of failing inside onnxruntime or calibrating on nothing."""
    from training.model import ModelConfig
    from training.quantize import quantize_int8

    ecg, demo = np.zeros((2, 12, 1000), np.float32), np.zeros((2, 8), np.float32)
    std = np.full((2, 12), 0.2, np.float32)
    with pytest.raises(ValueError, match="calib_lead_std must be given exactly when the graph reads lead_std_mv"):
        quantize_int8(exported["full"], tmp_path / "a.onnx", ecg, demo, std, min_records=1)
    torch.manual_seed(0)
    with_std = export_onnx(LightECGNet(ModelConfig(use_lead_std=True)), tmp_path / "v.onnx", crop_len=None)
    with pytest.raises(ValueError, match="calib_lead_std must be given exactly"):
        quantize_int8(with_std, tmp_path / "b.onnx", ecg, demo, min_records=1)


def test_head_nodes_of_an_exported_model(tmp_path, model):
    """The float head is the last Gemm and the sigmoid; a graph without a Gemm/MatMul head is refused."""
    import onnx
    from onnx import TensorProto, helper

    from training.quantize import head_nodes

    path = export_onnx(model, tmp_path / "m.onnx", crop_len=None)
    ops = {n.name: n.op_type for n in onnx.load(str(path)).graph.node}
    names = head_nodes(path)
    assert [ops[n] for n in names] == ["Sigmoid", "Gemm"]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    onnx.save(helper.make_model(g), str(tmp_path / "relu.onnx"))
    with pytest.raises(RuntimeError, match="no Gemm/MatMul head"):
        head_nodes(tmp_path / "relu.onnx")
