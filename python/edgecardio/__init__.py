"""EdgeCardio: real-time 12-lead ECG classification for edge devices.

The hot path is the compiled extension ``edgecardio._core``: fixed-point signal conditioning
(:func:`preprocess`) and an ONNX Runtime C API runner (:class:`Classifier`). :mod:`edgecardio.reference`
is the float64 scipy specification every native path reproduces. :func:`models` lists the packaged
models; ``Classifier(model=name)`` picks one (default :data:`DEFAULT_MODEL`).
"""
from ._core import HAS_NATIVE_ORT
from .modelcard import CLASSES
from .preprocess import SUPPORTED_RATES_HZ, PreprocessInfo, engine, engines, kernels, preprocess
from .classifier import Classifier, ModelError, Prediction
from .packaged import DEFAULT_MODEL, ModelInfo, UnknownModelError, models
from .monitor import Monitor, MonitorResult
from .io import Record, RecordError, read_record
from .score import score

__version__ = "0.1.0"

__all__ = ["CLASSES", "Classifier", "DEFAULT_MODEL", "HAS_NATIVE_ORT", "ModelError", "ModelInfo", "Monitor",
           "MonitorResult", "Prediction", "PreprocessInfo", "Record", "RecordError", "SUPPORTED_RATES_HZ",
           "UnknownModelError", "__version__", "engine", "engines", "kernels", "models", "preprocess",
           "read_record", "score"]
