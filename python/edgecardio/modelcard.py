"""The model card: the contract between training and the runtime.

Training writes ``model_card.json`` next to the ONNX files; the runtime reads it and encodes
demographics *only* from it, so the two cannot drift apart. This module holds the pieces both sides
share: the class order, the model's input/output names and shapes, and the demographics encoding;
and the card's validation (:func:`load_card`), which turns every malformed field into a
:class:`ModelError` naming the card and the field.

Demographics vector (``DEMOGRAPHIC_FEATURES`` order, float32)::

    age_z, age_missing, sex, sex_missing, height_z, height_missing, weight_z, weight_missing

* ``*_z`` is ``(clip(value, lo, hi) - mean) / std`` with ``mean``/``std`` from the training folds
  (written into the card); ``0.0`` when missing.
* ``sex`` is ``-1.0`` male, ``+1.0`` female, ``0.0`` missing.
* ``*_missing`` is ``1.0`` when the value is unknown, else ``0.0``.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

import numpy as np

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")

#: ONNX graph contract. Batch is dynamic; the runtime uses batch 1 (and N in predict_batch).
INPUT_ECG = "ecg"  # float32 [batch, 12, 1000]: output of edgecardio.preprocess at 100 Hz
INPUT_DEMOGRAPHICS = "demographics"  # float32 [batch, 8]: encode_demographics()
OUTPUT_PROBABILITIES = "probabilities"  # float32 [batch, 5]: sigmoid outputs in CLASSES order
#: Optional third input, read by graphs that declare it: float32 [batch, 12], each lead's standard
#: deviation after the band-pass in mV (``PreprocessInfo.lead_std_mv``), the voltage the per-lead
#: z-score of ``ecg`` divides out. Graphs with only ``ecg`` and ``demographics`` still run unchanged.
INPUT_LEAD_STD = "lead_std_mv"
#: Below this lead standard deviation (mV) a lead is flat (``edgecardio.preprocess.FLAT_STD_MV``);
#: graphs clamp ``lead_std_mv`` to it.
FLAT_STD_MV = 1e-3
N_LEADS = 12
N_SAMPLES = 1000
MODEL_FS_HZ = 100

DEMOGRAPHIC_FEATURES = (
    "age_z", "age_missing", "sex", "sex_missing",
    "height_z", "height_missing", "weight_z", "weight_missing",
)

#: What a caller may pass; outside these ranges the value is a data-entry error, not a patient.
VALID_RANGES = {
    "age": (0.0, 120.0),  # years
    "height_cm": (30.0, 250.0),
    "weight_kg": (1.0, 350.0),
}
#: Values are clipped to these before z-scoring (PTB-XL stores ages over 89 as 300: they become 90).
CLIP_RANGES = {
    "age": (0.0, 90.0),
    "height_cm": (100.0, 220.0),
    "weight_kg": (20.0, 250.0),
}
SEX_CODES = {"male": -1.0, "female": 1.0}


class ModelError(ValueError):
    """The model file or its card cannot be used: raised when the Classifier is built."""


def _scalar(value: Any) -> Any:
    """A 0-d array as its scalar (``np.array(60)`` is 60); anything else unchanged."""
    return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value


def _is_missing(value: Any) -> bool:
    # np.float32 is not a float subclass (np.float64 is): NaN of any float type means unknown.
    return value is None or (isinstance(value, (float, np.floating)) and math.isnan(value))


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number or None, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (or None when unknown), got {value}")
    lo, hi = VALID_RANGES[name]
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value:g} is outside the plausible range [{lo:g}, {hi:g}]; "
                         f"pass None when it is unknown")
    return value


def normalize_sex(sex: Any) -> Optional[str]:
    """Map the accepted spellings of sex to "male"/"female" (None stays None)."""
    sex = _scalar(sex)
    if _is_missing(sex):
        return None
    if isinstance(sex, str):
        key = sex.strip().lower()
        if key in ("m", "male"):
            return "male"
        if key in ("f", "female"):
            return "female"
    raise ValueError(f"sex must be 'male', 'female' or None, got {sex!r}")


def encode_demographics(stats: Mapping[str, Mapping[str, float]], *, age=None, sex=None,
                        height_cm=None, weight_kg=None, validate: bool = True) -> np.ndarray:
    """Encode one patient's demographics as the model's float32 ``[8]`` input.

    Parameters
    ----------
    stats : mapping
        ``card["demographics"]["stats"]``: ``{"age": {"mean", "std"}, "height_cm": ..., "weight_kg": ...}``.
    age, height_cm, weight_kg : float or None
        Years, centimetres, kilograms; None (or NaN) when unknown.
    sex : {"male", "female", None}
    validate : bool
        Reject values outside :data:`VALID_RANGES` (the runtime). Training passes False and relies on
        clipping, because PTB-XL stores ages over 89 as 300.
    """
    out = np.zeros(len(DEMOGRAPHIC_FEATURES), dtype=np.float32)
    for slot, name, value in ((0, "age", age), (4, "height_cm", height_cm), (6, "weight_kg", weight_kg)):
        value = _scalar(value)
        if _is_missing(value):
            out[slot + 1] = 1.0
            continue
        value = _check_number(name, value) if validate else float(value)
        lo, hi = CLIP_RANGES[name]
        s = stats[name]
        out[slot] = (min(max(value, lo), hi) - s["mean"]) / s["std"]
    sex = normalize_sex(sex)
    if sex is None:
        out[3] = 1.0
    else:
        out[2] = SEX_CODES[sex]
    return out


def fit_demographic_stats(age, height_cm, weight_kg) -> dict:
    """Mean and std of the clipped, non-missing training values (NaN = missing), for the card."""
    stats = {}
    for name, values in (("age", age), ("height_cm", height_cm), ("weight_kg", weight_kg)):
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        lo, hi = CLIP_RANGES[name]
        v = np.clip(v, lo, hi)
        stats[name] = {"mean": float(v.mean()), "std": float(max(v.std(), 1e-6)), "clip": [lo, hi],
                       "n_known": int(v.size)}
    return stats


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def card_thresholds(card: Mapping, path) -> Dict[str, float]:
    """The card's per-class decision thresholds (a mapping by class or a list in class order),
    checked: finite numbers in [0, 1], one per class."""
    t = card["thresholds"]
    if isinstance(t, Mapping):
        missing = [c for c in CLASSES if c not in t]
        if missing:
            raise ModelError(f"model card {path} has no threshold for {missing}")
        values = [t[c] for c in CLASSES]
    elif isinstance(t, list):
        values = t
        if len(values) != len(CLASSES):
            raise ModelError(f"model card {path} has {len(values)} thresholds, expected {len(CLASSES)}")
    else:
        raise ModelError(f"model card {path}: 'thresholds' must map each class to a number in [0, 1] "
                         f"(or list {len(CLASSES)} numbers in class order), got {t!r}")
    if not all(_is_real(v) for v in values):
        raise ModelError(f"model card {path} has non-numeric thresholds: {t!r}")
    out = {c: float(v) for c, v in zip(CLASSES, values)}
    if not all(0.0 <= v <= 1.0 for v in out.values()):
        raise ModelError(f"model card {path} has thresholds outside [0, 1]: {out}")
    return out


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_card(card: Any, path: Path) -> None:
    """Every field the runtime reads, with a ModelError naming the card and the field otherwise."""
    if not isinstance(card, dict):
        raise ModelError(f"model card {path} must be a JSON object, got {type(card).__name__} {card!r:.40}")
    for key in ("classes", "demographics", "thresholds", "inputs", "outputs"):
        if key not in card:
            raise ModelError(f"model card {path} lacks the '{key}' entry")
    if not isinstance(card["classes"], list) or tuple(card["classes"]) != CLASSES:
        raise ModelError(f"model card {path} has classes {card['classes']!r}, expected {list(CLASSES)}")
    for key in ("inputs", "outputs"):
        if not isinstance(card[key], dict):
            raise ModelError(f"model card {path}: '{key}' must be an object, got {card[key]!r:.40}")
    demo = card["demographics"]
    if not isinstance(demo, dict):
        raise ModelError(f"model card {path}: 'demographics' must be an object with 'features' and 'stats', "
                         f"got {demo!r:.40}")
    features = demo.get("features")
    if not isinstance(features, list) or tuple(features) != DEMOGRAPHIC_FEATURES:
        raise ModelError(f"model card {path} encodes demographics as {features!r}, "
                         f"this runtime implements {list(DEMOGRAPHIC_FEATURES)}")
    stats = demo.get("stats")
    if not isinstance(stats, dict):
        raise ModelError(f"model card {path} lacks 'demographics.stats' (the mean and std of each feature)")
    for name in CLIP_RANGES:
        s = stats.get(name)
        if not (isinstance(s, dict) and _is_real(s.get("mean")) and _is_real(s.get("std")) and s["std"] > 0):
            raise ModelError(f"model card {path}: 'demographics.stats.{name}' needs a finite mean and a positive, "
                             f"finite std, got {s!r}")
    card_thresholds(card, path)
    files = card.get("files", {})
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        raise ModelError(f"model card {path}: 'files' must map each precision to a file name, got {files!r:.60}")
    file_info = card.get("file_info", {})
    if not (isinstance(file_info, dict) and all(isinstance(v, dict) for v in file_info.values())):
        raise ModelError(f"model card {path}: 'file_info' must map each precision to an object, got {file_info!r:.60}")
    for precision, info in file_info.items():
        if not isinstance(info.get("file"), str) or not _SHA256.fullmatch(str(info.get("sha256"))):
            raise ModelError(f"model card {path}: 'file_info.{precision}' needs a 'file' name and a 'sha256' of "
                             f"64 lower-case hex digits, got {info!r:.80}")


def load_card(path) -> dict:
    """Read and check a ``model_card.json``; raise :class:`ModelError` naming the card and the field."""
    path = Path(path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"model card not found: {path}") from None
    except UnicodeDecodeError as e:
        raise ModelError(f"model card {path} is not UTF-8 text: {e}") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"model card {path} is not valid JSON: {e}") from None
    except RecursionError:
        raise ModelError(f"model card {path} nests too deeply to be a model card") from None
    _check_card(card, path)
    return card


def file_digest(card: Mapping, onnx_path: Path) -> Optional[str]:
    """The SHA-256 the card records for the file named like ``onnx_path``, or None when it records none."""
    for info in card.get("file_info", {}).values():
        if info["file"] == onnx_path.name:
            return info["sha256"]
    return None
