"""The model card: the contract between training and the runtime.

Training writes ``model_card.json`` next to the ONNX files; the runtime reads it and encodes
demographics *only* from it, so the two cannot drift apart. This module holds the pieces both sides
share: the class order, the model's input/output names and shapes, and the demographics encoding.

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
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

CLASSES = ("NORM", "MI", "STTC", "CD", "HYP")

#: ONNX graph contract. Batch is dynamic; the runtime uses batch 1 (and N in predict_batch).
INPUT_ECG = "ecg"  # float32 [batch, 12, 1000]: output of edgecardio.preprocess at 100 Hz
INPUT_DEMOGRAPHICS = "demographics"  # float32 [batch, 8]: encode_demographics()
OUTPUT_PROBABILITIES = "probabilities"  # float32 [batch, 5]: sigmoid outputs in CLASSES order
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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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


def load_card(path) -> dict:
    """Read and sanity-check a ``model_card.json``; raise ValueError naming what is wrong."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"model card not found: {path}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"model card {path} is not valid JSON: {e}") from None
    for key in ("classes", "demographics", "thresholds", "inputs", "outputs"):
        if key not in card:
            raise ValueError(f"model card {path} lacks the '{key}' entry")
    if tuple(card["classes"]) != CLASSES:
        raise ValueError(f"model card {path} has classes {card['classes']}, expected {list(CLASSES)}")
    if tuple(card["demographics"].get("features", ())) != DEMOGRAPHIC_FEATURES:
        raise ValueError(f"model card {path} encodes demographics as {card['demographics'].get('features')}, "
                         f"this runtime implements {list(DEMOGRAPHIC_FEATURES)}")
    return card
