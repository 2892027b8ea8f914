"""The models shipped inside the package, and how a ``model`` argument names one.

Each packaged model is a directory ``edgecardio/models/<name>/`` holding its ``model_card.json`` and
the ONNX files the card's ``files`` map names; the directory name is the model's name (the training
config's ``name``). :data:`DEFAULT_MODEL` is the one ``Classifier()`` loads.

A ``model`` argument (``Classifier``, ``Monitor``, ``score``, the ``--model`` option) is resolved by
:func:`resolve_model`:

* None: the default packaged model;
* an ``os.PathLike`` (``pathlib.Path``): always a path, a model directory or an ``.onnx`` file;
* a string that is an existing path: that path, as before packaged names existed (when it is also a
  packaged name, a warning says which one was loaded);
* any other string without a path separator and without the ``.onnx`` suffix: a packaged model
  name; an unknown one raises :class:`UnknownModelError` listing the names;
* anything else: a path (a missing one is a ``FileNotFoundError`` when the model loads).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from . import modelcard as mc
from .modelcard import ModelError

#: The directory holding one subdirectory per packaged model.
MODELS_DIR = Path(__file__).resolve().parent / "models"
#: The packaged model ``Classifier()`` loads: the fast one.
DEFAULT_MODEL = "resnet_s_v"
CARD_NAME = "model_card.json"


class UnknownModelError(ModelError, FileNotFoundError):
    """A ``model`` string that is neither an existing path nor a packaged model name.

    It is a :class:`ModelError` (a ``ValueError``) and a ``FileNotFoundError``: a bare word may be a
    mistyped name or a missing directory, and code that caught either before keeps catching it.
    """


@dataclass(frozen=True)
class ModelInfo:
    """What a user choosing a packaged model needs, as its model card records it.

    Attributes
    ----------
    name : str
        The name to pass as ``Classifier(model=name)`` or ``--model name``.
    default : bool
        True for the model ``Classifier()`` loads.
    description : str
        The card's ``description``, else a one-line summary of its ``architecture``.
    version : str or None
        The card's ``version`` (training run and INT8 digest).
    parameters : int or None
        Trainable parameters.
    precisions : tuple of str
        The precisions shipped (``Classifier(precision=...)``), the card's default first.
    macro_auc : dict
        Precision -> macro ROC AUC on the validation folds (``validation_folds``), as recorded in the
        card when the model was shipped; the folds were used to select the model.
    macro_auc_ci90 : dict
        Precision -> (low, high) 90 % bootstrap interval of ``macro_auc``.
    validation_folds : tuple of int
        The PTB-XL folds of ``macro_auc`` (fold 9).
    latency_ms : dict
        Precision -> median inference milliseconds (ONNX Runtime, batch 1, 1 thread) as measured when
        the model was shipped, on the machine ``latency_note`` names; empty when not recorded.
    latency_note : str or None
        Where and how ``latency_ms`` was measured.
    file_bytes : dict
        Precision -> size of the shipped ONNX file.
    files : dict
        Precision -> file name inside ``path``.
    path : pathlib.Path
        The model's directory (``Classifier(model=path)`` loads the same model).
    """

    name: str
    default: bool
    description: str
    version: Optional[str]
    parameters: Optional[int]
    precisions: Tuple[str, ...]
    macro_auc: Dict[str, float]
    macro_auc_ci90: Dict[str, Tuple[float, float]]
    validation_folds: Tuple[int, ...]
    latency_ms: Dict[str, float]
    latency_note: Optional[str]
    file_bytes: Dict[str, int]
    files: Dict[str, str]
    path: Path

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-ready data (``path`` as a string, tuples as lists)."""
        d = asdict(self)
        d["path"] = str(self.path)
        d["precisions"] = list(self.precisions)
        d["validation_folds"] = list(self.validation_folds)
        d["macro_auc_ci90"] = {k: list(v) for k, v in self.macro_auc_ci90.items()}
        return d


def model_names() -> List[str]:
    """Names of the packaged models: the default first, then by name."""
    if not MODELS_DIR.is_dir():
        return []
    names = sorted(p.name for p in MODELS_DIR.iterdir() if (p / CARD_NAME).is_file())
    return sorted(names, key=lambda n: n != DEFAULT_MODEL)


def _describe(names: List[str]) -> str:
    if not names:
        return f"none (no model directories with a {CARD_NAME} in {MODELS_DIR})"
    return ", ".join(f"{n} (default)" if n == DEFAULT_MODEL else n for n in names)


def model_dir(name: Optional[str] = None) -> Path:
    """The directory of the packaged model ``name`` (default: :data:`DEFAULT_MODEL`).

    Raises
    ------
    UnknownModelError
        No packaged model has that name; the message lists the names there are.
    """
    name = DEFAULT_MODEL if name is None else name
    names = model_names()
    if name not in names:
        raise UnknownModelError(f"unknown model {name!r}: the packaged models are {_describe(names)} "
                                f"(`edgecardio models` describes them); or pass the path of a model directory "
                                f"or an .onnx file")
    return MODELS_DIR / name


def is_name(value: str) -> bool:
    """Whether a string is read as a packaged model name when no such path exists."""
    return bool(value) and os.sep not in value and "/" not in value and not value.lower().endswith(".onnx") \
        and value not in (".", "..")


def resolve_model(model) -> Tuple[Path, Optional[str]]:
    """(path, packaged name or None) for a ``model`` argument; the rules are this module's."""
    if model is None:
        return model_dir(None), DEFAULT_MODEL
    if isinstance(model, str):
        path = Path(model)
        if path.exists():
            if is_name(model) and model in model_names():
                warnings.warn(f"model {model!r} is both a path here and the name of a packaged model: loading the "
                              f"path {path.resolve()} (an existing path always wins; run from another directory "
                              f"to load the packaged one)", UserWarning, stacklevel=4)
            return path, packaged_name(path)
        if is_name(model):
            return model_dir(model), model
        return path, None
    if isinstance(model, os.PathLike):
        path = Path(os.fspath(model))
        return path, packaged_name(path)
    raise TypeError(f"model must be a packaged model name, a path (str or os.PathLike) or None, "
                    f"got {type(model).__name__} {model!r:.60}")


def packaged_name(path: Union[str, os.PathLike]) -> Optional[str]:
    """The packaged name of a model directory or ONNX file inside :data:`MODELS_DIR`, else None."""
    try:
        p = Path(path).resolve()
        d = p if p.is_dir() else p.parent
        if d.parent == MODELS_DIR.resolve() and (d / CARD_NAME).is_file():
            return d.name
    except OSError:
        pass
    return None


def _summary_description(card: dict) -> str:
    if isinstance(card.get("description"), str) and card["description"].strip():
        return card["description"].strip()
    arch = card.get("architecture")
    if not isinstance(arch, dict):
        return str(card.get("name") or "")
    block = {"plain": "plain residual blocks", "ds": "depthwise-separable blocks"}.get(arch.get("block"),
                                                                                      arch.get("block"))
    parts = [f"{arch.get('backbone') or card.get('name') or 'model'} 1-D CNN"]
    if block:
        parts.append(str(block))
    chans, blocks = arch.get("stage_channels"), arch.get("blocks_per_stage")
    if isinstance(chans, list) and isinstance(blocks, list):
        parts.append("stages " + "/".join(f"{c}x{b}" for c, b in zip(chans, blocks)) + " (channels x blocks)")
    kernels = [k for k in (arch.get("kernel"), arch.get("kernel2")) if k]
    if kernels:
        parts.append(("kernels " if len(kernels) > 1 else "kernel ") + "/".join(map(str, kernels)))
    if arch.get("se_ratio"):
        parts.append("squeeze-excitation")
    crops = (arch.get("inference") or {}).get("crops") if isinstance(arch.get("inference"), dict) else None
    if isinstance(crops, dict) and crops.get("n_crops"):
        parts.append(f"{crops['n_crops']} in-graph crops")
    if arch.get("use_lead_std"):
        parts.append("reads each lead's voltage (lead_std_mv)")
    return ", ".join(parts)


def _number(value) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of the packaged model ``name`` (its card checked as the runtime does)."""
    d = model_dir(name)
    card = mc.load_card(d / CARD_NAME)
    files = dict(card.get("files", {}))
    present = {p: f for p, f in files.items() if (d / f).is_file()}
    default_precision = card.get("default")
    precisions = tuple(sorted(present, key=lambda p: (p != default_precision, p)))
    val = card.get("metrics", {}).get("validation", {}) if isinstance(card.get("metrics"), dict) else {}
    auc, ci = {}, {}
    for p in precisions:
        m = val.get(p) if isinstance(val, dict) else None
        if isinstance(m, dict) and _number(m.get("macro_auc")) is not None:
            auc[p] = float(m["macro_auc"])
            lohi = m.get("macro_auc_ci90")
            if isinstance(lohi, list) and len(lohi) == 2 and all(_number(v) is not None for v in lohi):
                ci[p] = (float(lohi[0]), float(lohi[1]))
    speed = card.get("speed_cpu") if isinstance(card.get("speed_cpu"), dict) else {}
    latency = {p: float(speed[p]["median_ms"]) for p in precisions
               if isinstance(speed.get(p), dict) and _number(speed[p].get("median_ms")) is not None}
    note = None
    if latency:
        note = "; ".join(str(x) for x in (speed.get("machine"), speed.get("note")) if x) or None
    arch = card.get("architecture") if isinstance(card.get("architecture"), dict) else {}
    params = arch.get("parameters")
    folds = val.get("folds") if isinstance(val, dict) else None
    return ModelInfo(
        name=name, default=name == DEFAULT_MODEL, description=_summary_description(card),
        version=card.get("version"), parameters=int(params) if isinstance(params, int) else None,
        precisions=precisions, macro_auc=auc, macro_auc_ci90=ci,
        validation_folds=tuple(int(f) for f in folds) if isinstance(folds, list) else (),
        latency_ms=latency, latency_note=note,
        file_bytes={p: (d / f).stat().st_size for p, f in present.items()}, files=present, path=d)


def models() -> List[ModelInfo]:
    """The models packaged with edgecardio, the default first.

    Returns
    -------
    list of ModelInfo
        One frozen record per model: its name (what ``Classifier(model=...)`` and ``--model`` take),
        whether it is the default, a description, parameters, the precisions shipped, the fold-9
        macro AUC per precision with its interval and the inference latency as recorded in its
        model card, and the file sizes. ``info.to_dict()`` gives plain JSON-ready data.

    Raises
    ------
    ModelError
        A packaged model card is not valid (a broken installation; the message names the card).

    Examples
    --------
    >>> [(m.name, m.default, m.macro_auc["int8"]) for m in edgecardio.models()]
    >>> clf = edgecardio.Classifier(model=edgecardio.models()[-1].name)
    """
    return [model_info(n) for n in model_names()]
