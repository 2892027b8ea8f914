"""The training protocol as data: one JSON config holds folds, label mapping, metrics, seeds and
every hyperparameter. Unknown keys and bad values fail loudly.

A config file overrides :data:`DEFAULTS` section by section; the fully resolved config is written
into the run directory and the model card, so a run can always be reproduced from what it wrote.
``--set section.key=JSON`` overrides single values from the command line (for experiments).
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from edgecardio.modelcard import CLASSES

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters of LightECGNet (the ``model`` section of a training config)."""

    stem_channels: int = 32
    stem_kernel: int = 15
    stage_channels: Sequence[int] = (64, 96, 128, 128)
    blocks_per_stage: Sequence[int] = (1, 2, 2, 2)
    kernel: int = 9
    se_ratio: float = 0.25  # squeeze-excitation bottleneck as a fraction of channels; 0 disables
    pool: str = "avgmax"  # "avg" or "avgmax" (concatenated global average and max)
    demo_hidden: int = 32
    use_demographics: bool = True
    dropout: float = 0.2  # before the head
    block_dropout: float = 0.0  # spatial dropout inside residual branches
    block: str = "ds"  # "ds": depthwise-separable residual blocks; "plain": two dense convolutions
    kernel2: int = 0  # "plain" blocks: kernel of the second convolution (0: the same as kernel)
    stem_stride: int = 1
    # Each lead's standard deviation after the band-pass (mV; the graph's ``lead_std_mv`` input, what the
    # z-score divides out) joins the demographics MLP as its standardized log: the voltage the
    # normalization removes (QRS amplitude criteria of hypertrophy).
    use_lead_std: bool = False
    # What the graph derives from lead_std_mv: "std" (the 12 standard deviations) or "std_range" (also
    # each lead's peak-to-peak voltage over the whole 10-s window, lead_std_mv * (max - min) of the
    # z-scored lead: R and S amplitudes, what voltage criteria read; computed in the graph before any crop).
    lead_voltage: str = "std"

    def __post_init__(self):
        if self.pool not in ("avg", "avgmax"):
            raise ValueError(f"model.pool must be 'avg' or 'avgmax', got {self.pool!r}")
        if len(self.stage_channels) != len(self.blocks_per_stage):
            raise ValueError("model.stage_channels and model.blocks_per_stage must have the same length")
        if self.block not in ("ds", "plain"):
            raise ValueError(f"model.block must be 'ds' or 'plain', got {self.block!r}")
        if self.lead_voltage not in ("std", "std_range"):
            raise ValueError(f"model.lead_voltage must be 'std' or 'std_range', got {self.lead_voltage!r}")
        if self.use_lead_std and not self.use_demographics:
            raise ValueError("model.use_lead_std needs model.use_demographics (the two share one MLP)")
        if self.kernel % 2 == 0 or self.stem_kernel % 2 == 0 or (self.kernel2 and self.kernel2 % 2 == 0):
            raise ValueError("model kernels must be odd (same padding)")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stage_channels"] = list(self.stage_channels)
        d["blocks_per_stage"] = list(self.blocks_per_stage)
        return d


DEFAULTS: dict[str, Any] = {
    "name": "lightecgnet",
    "seed": 20261125,
    "data": {
        # Official layout (ptbxl_database.csv, scp_statements.csv, records100/); relative to the repo.
        "root": "data/ptbxl",
        # "official": wfdb.rdrecord on records100/; "compact": signals_fold*.npy.xz of the shared copy
        # (same int16 samples, read without materializing; used only for speed, checked equal in tests).
        "reader": "official",
        "compact_dir": "../shared/ptbxl",
        "data_version": "PTB-XL v1.0.3 (records100, 100 Hz)",
        "classes": list(CLASSES),
        # PTB-XL benchmark (Strodthoff et al. 2020, 'superdiagnostic'): every scp_codes key whose
        # statement has diagnostic == 1 maps to its diagnostic_class, whatever its likelihood.
        "label_rule": "scp_diagnostic_class_any_likelihood",
        "drop_unlabeled": True,
        "train_folds": [1, 2, 3, 4, 5, 6, 7, 8],
        "val_folds": [9],
        "test_folds": [10],
        "cache_dir": "data/cache",
    },
    "preprocess": {
        # Must be "native" (edgecardio.preprocess) for a shipped model; "reference" (the float64
        # specification, edgecardio.reference) only for development and checks.
        "path": "native",
        "fs_hz": 100,
        "gain_per_mv": 1000.0,
    },
    "model": ModelConfig().to_dict(),
    "train": {
        "epochs": 40,
        "batch_size": 128,
        "optimizer": "adamw",
        "lr": 3e-3,
        "weight_decay": 1e-2,
        "scheduler": "onecycle",  # "onecycle" | "cosine" (linear warmup then cosine) | "constant"
        "warmup_frac": 0.1,
        "crop_len": 250,  # random training crops (samples at 100 Hz); 0 = full window
        "loss": "bce",  # "bce" with pos_weight from training prevalence, or "bce_plain"
        "pos_weight": "sqrt_neg_over_pos",  # "neg_over_pos" | "sqrt_neg_over_pos" | "none"
        "label_smoothing": 0.0,
        "ema_decay": 0.0,  # 0 disables the weight EMA
        "grad_clip": 1.0,
        "aug": {
            "amplitude_scale": 0.1,  # per-lead gain ~ U(1-a, 1+a)
            "baseline_wander": 0.1,  # amplitude (z units) of a random low-frequency sine per lead
            "gaussian_noise": 0.03,  # std (z units)
            "lead_dropout": 0.0,  # probability of zeroing each lead
            "demographics_dropout": 0.1,  # probability of marking all demographics missing
        },
        # Knowledge distillation: teacher logits per training record (python -m training.distill),
        # a committed file so the student's recipe needs no teacher. loss = (1 - weight) * BCE(labels)
        # + weight * BCE(student / T, sigmoid(teacher / T)) * T^2; weight 0 disables it.
        "distill": {"soft_labels": "", "weight": 0.0, "temperature": 1.0},
        "early_stopping_patience": 10,  # epochs without a better validation macro AUC
        "num_threads": 2,
        "steps_per_epoch": 0,  # 0 = one pass over the training folds
        "val_every": 1,
    },
    "eval": {
        # What the exported graph computes: "crops" (crop_len/crop_stride windows, logits
        # aggregated), "full" (the whole window at once), or "best_on_val": whichever of the two
        # scores the higher validation macro AUC with the selected checkpoint.
        "inference": "best_on_val",
        # with "best_on_val", the crop ensemble (about 1.75x the compute of one full window) is
        # exported only if it beats the full window by more than this validation macro AUC
        "crops_min_gain": 0.002,
        "crop_len": 250,  # test-time crops inside the exported graph; 0 = full window
        "crop_stride": 125,
        "aggregate": "mean",
        # also score the whole window at once (no crops) every N epochs and whenever the crop
        # ensemble improves; 0 never
        "full_window_every": 5,
        "metric": "macro_roc_auc",
        "threshold_rule": "max_f1_on_val",
        "bootstrap_samples": 200,
        "bootstrap_ci": 0.90,
        "bootstrap_seed": 7,
    },
    "quantize": {
        "calibration_records": 600,
        "calibration_folds": [1, 2, 3, 4, 5, 6, 7, 8],
        "calibration_method": "minmax",  # "minmax" | "entropy" | "percentile"
        "per_channel": True,
        "weight_type": "int8",
        # "int8" (S8S8) or "uint8" (U8S8: uint8 activations, int8 weights). ONNX Runtime's x86
        # kernels fuse every QDQ Conv for U8S8 but leave the stem, depthwise and shortcut Convs in
        # float for S8S8, so U8S8 runs ~3x faster there; the accuracy is measured either way.
        "activation_type": "int8",
        # keep the classifier head (last Gemm, sigmoid) in float: probabilities not in 1/255 steps
        "float_head": True,
        "format": "qdq",
    },
    "export": {
        "opset": 17,
        # FP16 is exported, evaluated and timed in every run, but ships only when asked: the runtime
        # loads int8 and fp32, and a rule on a measured speed-up would make the files machine-dependent.
        "ship_fp16": False,
    },
    "calibrate": {
        # After shipping, fit a per-class map of the logits on the validation folds and insert it
        # into the graphs (training.calibrate): "auto" ships the better of temperature and Platt
        # scaling by cross-validated log loss, and only if it also lowers the cross-validated ECE.
        # "none" (the default, so runs saved before this section existed re-ship unchanged) skips it.
        "method": "none",
        "cv_folds": 5,  # cross-validation within the validation folds, for the out-of-sample estimate
        "n_bins": 15,  # equal-mass reliability bins of the headline ECE
    },
}

CHOICES = {
    ("data", "reader"): {"official", "compact"},
    ("data", "label_rule"): {"scp_diagnostic_class_any_likelihood"},
    ("preprocess", "path"): {"native", "reference"},
    ("train", "optimizer"): {"adamw"},
    ("train", "scheduler"): {"onecycle", "cosine", "constant"},
    ("train", "loss"): {"bce", "bce_plain"},
    ("train", "pos_weight"): {"neg_over_pos", "sqrt_neg_over_pos", "none"},
    ("eval", "aggregate"): {"mean", "max"},
    ("eval", "inference"): {"crops", "full", "best_on_val"},
    ("eval", "metric"): {"macro_roc_auc"},
    ("eval", "threshold_rule"): {"max_f1_on_val"},
    ("quantize", "calibration_method"): {"minmax", "entropy", "percentile"},
    ("quantize", "weight_type"): {"int8"},
    ("quantize", "activation_type"): {"int8", "uint8"},
    ("quantize", "format"): {"qdq"},
    ("calibrate", "method"): {"auto", "temperature", "platt", "none"},
}


class ConfigError(ValueError):
    pass


def _merge(base: dict, override: dict, where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}" if where else key
        if key.startswith("_"):  # "_comment" style keys are allowed and ignored
            continue
        if key not in base:
            raise ConfigError(f"unknown config key '{path}' (known: {sorted(base)})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{path}' must be a table, got {value!r}")
            out[key] = _merge(base[key], value, path)
        else:
            if base[key] is not None and not _same_kind(base[key], value):
                raise ConfigError(f"config key '{path}' must be like {base[key]!r}, got {value!r}")
            out[key] = value
    return out


def _same_kind(ref, value) -> bool:
    if isinstance(ref, bool):
        return isinstance(value, bool)
    if isinstance(ref, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(ref, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(ref))


def validate(cfg: dict) -> dict:
    for (section, key), allowed in CHOICES.items():
        if cfg[section][key] not in allowed:
            raise ConfigError(f"{section}.{key}={cfg[section][key]!r} is not one of {sorted(allowed)}")
    d = cfg["data"]
    if tuple(d["classes"]) != CLASSES:
        raise ConfigError(f"data.classes must be the model-card order {', '.join(CLASSES)}, got {d['classes']}")
    folds = [set(d["train_folds"]), set(d["val_folds"]), set(d["test_folds"])]
    if folds[0] & folds[1] or folds[0] & folds[2] or folds[1] & folds[2]:
        raise ConfigError("train, validation and test folds overlap")
    ModelConfig(**cfg["model"])  # raises on bad architecture values
    t = cfg["train"]
    if not 0 <= t["crop_len"] <= 1000 or not 0 <= cfg["eval"]["crop_len"] <= 1000:
        raise ConfigError("crop_len must be in [0, 1000]")
    if t["epochs"] < 1 or t["batch_size"] < 1:
        raise ConfigError("train.epochs and train.batch_size must be >= 1")
    if not 0 <= t["ema_decay"] < 1:
        raise ConfigError("train.ema_decay must be in [0, 1)")
    kd = t["distill"]
    if not 0 <= kd["weight"] <= 1 or kd["temperature"] <= 0:
        raise ConfigError("train.distill.weight must be in [0, 1] and train.distill.temperature > 0")
    if kd["weight"] > 0 and not kd["soft_labels"]:
        raise ConfigError("train.distill.weight > 0 needs train.distill.soft_labels (python -m training.distill)")
    c = cfg["calibrate"]
    if not isinstance(c["cv_folds"], int) or c["cv_folds"] < 2:
        raise ConfigError(f"calibrate.cv_folds must be an integer >= 2, got {c['cv_folds']!r}")
    if not isinstance(c["n_bins"], int) or c["n_bins"] < 1:
        raise ConfigError(f"calibrate.n_bins must be an integer >= 1, got {c['n_bins']!r}")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"--set expects section.key=JSON, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # bare strings
    return key.split("."), value


def load_config(path=None, overrides=()) -> dict:
    """Resolve a config: defaults, then the file at ``path``, then ``section.key=JSON`` overrides."""
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        text = Path(path).read_text()
        try:
            user = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        cfg = _merge(cfg, user, "")
    for item in overrides:
        keys, value = parse_override(item) if isinstance(item, str) else item
        nested: dict = value
        for k in reversed(keys):
            nested = {k: nested}
        cfg = _merge(cfg, nested, "")
    return validate(cfg)


def repo_path(p: str) -> Path:
    """Paths in configs are relative to the repository root."""
    q = Path(p)
    return q if q.is_absolute() else REPO / q
