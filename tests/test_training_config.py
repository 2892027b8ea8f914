"""The training config fails loudly on what it does not know."""
import json

import pytest

from training.config import REPO, ConfigError, load_config

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
    ("model.block=\"dense\"", "model.block"),
    ("model.kernel2=4", "odd"),
    # the number of epochs must not depend on the machine's speed: no wall-time budget
    ("train.max_minutes=50", "unknown config key 'train.max_minutes'"),
    ("train.distill.weight=1.5", "train.distill.weight must be in [0, 1]"),
    ("train.distill.temperature=0", "train.distill.temperature > 0"),
    ("train.distill.weight=0.5", "needs train.distill.soft_labels"),
    ("model.lead_voltage=\"peak\"", "model.lead_voltage must be 'std' or 'std_range'"),
    # the voltages join the demographics MLP: without it they would be silently dropped
    ("model.use_demographics=false", None),
])
def test_bad_options_fail(override, message):
    if message is None:  # valid alone; wrong with model.use_lead_std
        load_config(None, [override])
        with pytest.raises(ValueError, match="model.use_lead_std needs model.use_demographics"):
            load_config(None, [override, "model.use_lead_std=true"])
        return
    with pytest.raises((ConfigError, ValueError), match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, [override])


def test_unknown_section_in_file_fails(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"trian": {"epochs": 1}}))
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        load_config(p)


# training/ in layers: a module imports only from earlier layers or, without cycles, its own.
LAYERS = (("config", "labels", "metrics"), ("data", "model", "checkpoint", "onnx_io"),
          ("train", "export", "quantize", "evaluate", "distill", "calibrate"), ("ship",), ("__main__",))


def training_imports(package) -> dict:
    """Module name -> the training modules it imports, at the top or inside functions."""
    import ast

    graph = {}
    for path in sorted(package.glob("*.py")):
        if path.stem == "__init__":
            continue
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("training."):
                deps.add(node.module.split(".")[1])
            elif isinstance(node, ast.ImportFrom) and node.module == "training":
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[1] for a in node.names if a.name.startswith("training.")}
        graph[path.stem] = deps
    return graph


def layer_violations(graph: dict, layers) -> list[str]:
    rank = {m: i for i, layer in enumerate(layers) for m in layer}
    out = [f"{m} is in no layer" for m in graph if m not in rank]
    out += [f"{m} (layer {rank[m] + 1}) imports {d} (layer {rank[d] + 1})"
            for m, deps in graph.items() for d in sorted(deps) if m in rank and d in rank and rank[d] > rank[m]]
    return out


def import_cycle(graph: dict) -> list[str] | None:
    """One cycle of the import graph as [a, b, ..., a], or None."""
    import graphlib

    try:
        graphlib.TopologicalSorter({m: deps & graph.keys() for m, deps in graph.items()}).prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])
    return None


def test_layer_and_cycle_checks_catch_what_they_are_for():
    layers = (("a",), ("b", "c"))
    assert layer_violations({"a": {"b"}, "b": set(), "c": set(), "d": set()}, layers) == [
        "d is in no layer", "a (layer 1) imports b (layer 2)"]
    assert set(import_cycle({"b": {"c"}, "c": {"b"}, "a": set()})) == {"b", "c"}
    assert import_cycle({"b": {"c"}, "c": {"a"}, "a": set()}) is None


def test_training_imports_go_down_only_and_have_no_cycle():
    from training.config import REPO

    graph = training_imports(REPO / "training")
    assert {"config", "data", "train", "ship", "__main__"} <= graph.keys()
    assert graph["__main__"] >= {"ship", "train"}  # the parser sees relative imports
    assert layer_violations(graph, LAYERS) == []
    assert import_cycle(graph) is None


def test_config_validates_without_torch():
    """Layer 1 (config, labels, metrics) works where torch cannot be imported."""
    import subprocess
    import sys

    from training.config import REPO

    code = f"""
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torch":
            raise ImportError("torch is blocked in this test")

sys.meta_path.insert(0, NoTorch())
import training.labels, training.metrics
from training.config import ConfigError, load_config

assert load_config({CONFIG!r})["quantize"]["activation_type"] in ("int8", "uint8")
try:
    load_config(None, ["train.epochz=3"])
except ConfigError as e:
    print("refused:", e)
assert "torch" not in sys.modules
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "refused: unknown config key 'train.epochz'" in r.stdout


@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "training" / "configs").glob("*.json")))
def test_every_config_in_the_repository_resolves(config):
    load_config(REPO / "training" / "configs" / config)


def test_plain_blocks_build_the_configured_network():
    torch = pytest.importorskip("torch")
    from training.config import ModelConfig
    from training.model import LightECGNet, PlainResBlock, count_parameters

    cfg = load_config(REPO / "training" / "configs" / "resnet_s.json")
    model = LightECGNet(ModelConfig(**cfg["model"])).eval()
    blocks = list(model.blocks)
    assert len(blocks) == sum(cfg["model"]["blocks_per_stage"]) and all(isinstance(b, PlainResBlock) for b in blocks)
    assert not any(c.groups > 1 for c in model.modules() if isinstance(c, torch.nn.Conv1d))  # no depthwise conv
    assert model.stem[0].stride == (2,)
    assert count_parameters(model) == 297701 <= 300_000
    with torch.no_grad():
        assert model(torch.zeros(2, 12, 250), torch.zeros(2, 8)).shape == (2, 5)
        assert model(torch.zeros(1, 12, 1000), torch.zeros(1, 8)).shape == (1, 5)
