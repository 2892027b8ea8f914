"""Training, export, quantization and evaluation of the shipped LightECGNet (not needed at run time).

Needs the ``train`` extra (torch==2.13.0, onnx, onnxsim, scikit-learn, pandas, wfdb, ...).
"""
from __future__ import annotations


def _modelcard():
    """``edgecardio.modelcard``, also when the compiled package is not built yet.

    The model card module is pure Python; loading it from the source tree lets the model and export
    code run (and build a placeholder model) before ``edgecardio._core`` exists.
    """
    try:
        from edgecardio import modelcard
        return modelcard
    except ImportError:
        import importlib.util
        import sys
        from pathlib import Path

        name = "edgecardio_modelcard_src"
        if name in sys.modules:
            return sys.modules[name]
        path = Path(__file__).resolve().parents[1] / "python" / "edgecardio" / "modelcard.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod


modelcard = _modelcard()
