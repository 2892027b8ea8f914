"""EdgeCardio: real-time 12-lead ECG classification for edge devices.

The hot path is the compiled extension ``edgecardio._core``: fixed-point signal conditioning
(:func:`preprocess`) and an ONNX Runtime C API runner (:class:`Classifier`). :mod:`edgecardio.reference`
is the float64 scipy specification every native path reproduces.
"""
from ._core import HAS_NATIVE_ORT
from .modelcard import CLASSES
from .preprocess import SUPPORTED_RATES_HZ, PreprocessInfo, engine, engines, kernels, preprocess
from .classifier import Classifier, ModelError, Prediction
from .monitor import Monitor, MonitorResult
from .io import Record, RecordError, read_record
from .score import score

__version__ = "0.1.0"

__all__ = ["CLASSES", "Classifier", "HAS_NATIVE_ORT", "ModelError", "Monitor", "MonitorResult", "Prediction",
           "PreprocessInfo", "Record", "RecordError", "SUPPORTED_RATES_HZ", "__version__", "engine", "engines",
           "kernels", "preprocess", "read_record", "score"]
