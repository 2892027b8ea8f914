"""Export a trained LightECGNet to ONNX under the runtime contract of ``edgecardio.modelcard``.

    python -m training.export --checkpoint runs/NAME/best.pt --out model.onnx

The graph takes ``ecg`` float32 ``[batch, 12, 1000]`` and ``demographics`` float32 ``[batch, 8]``
(and ``lead_std_mv`` float32 ``[batch, 12]`` for a model that reads it, ``model.use_lead_std``) and returns ``probabilities`` float32 ``[batch, 5]`` (sigmoid inside the graph), batch dynamic,
opset 17, simplified with onnxsim.
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgecardio import modelcard

from .checkpoint import load_checkpoint
from .model import N_DEMOGRAPHICS, CropEnsemble, torch_predict
from .onnx_io import onnx_predict

OPSET = 17
INPUT_ECG, INPUT_DEMOGRAPHICS, INPUT_LEAD_STD = modelcard.INPUT_ECG, modelcard.INPUT_DEMOGRAPHICS, modelcard.INPUT_LEAD_STD
OUTPUT_PROBABILITIES = modelcard.OUTPUT_PROBABILITIES
N_LEADS, N_SAMPLES = modelcard.N_LEADS, modelcard.N_SAMPLES


def export_onnx(model: nn.Module, path, *, crop_len: int | None = 250, crop_stride: int = 125,
                aggregate: str = "mean", opset: int = OPSET, simplify: bool = True,
                check_batch: int = 3, atol: float = 1e-5) -> Path:
    """Write ``model`` as an ONNX file that satisfies the runtime contract; return the path.

    Parameters
    ----------
    model : LightECGNet or CropEnsemble
        A backbone returning logits (wrapped here in :class:`CropEnsemble` with the given crop
        settings), or an already wrapped model returning probabilities.
    crop_len, crop_stride, aggregate
        Test-time crops computed inside the graph; ``crop_len=None`` runs the full window once.
    simplify : bool
        Run onnxsim (constant folding, shape cleanup) and keep its result only if it checks.
    check_batch : int
        After writing, run ONNX Runtime on a random batch of this size and require the
        probabilities to match PyTorch within ``atol`` (0 skips the check).
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = model if isinstance(model, CropEnsemble) else CropEnsemble(
        model, crop_len=crop_len, stride=crop_stride, n_samples=N_SAMPLES, aggregate=aggregate)
    wrapped = wrapped.eval().cpu()

    with_std = wrapped.uses_lead_std
    args = (torch.randn(2, N_LEADS, N_SAMPLES), torch.randn(2, N_DEMOGRAPHICS)) + (
        (random_lead_std(2, torch.Generator().manual_seed(1)),) if with_std else ())
    names = [INPUT_ECG, INPUT_DEMOGRAPHICS] + ([INPUT_LEAD_STD] if with_std else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter; the parity check below is the real test
        torch.onnx.export(
            wrapped, args, str(path), dynamo=False, opset_version=opset,
            input_names=names, output_names=[OUTPUT_PROBABILITIES],
            dynamic_axes={**{n: {0: "batch"} for n in names}, OUTPUT_PROBABILITIES: {0: "batch"}},
            do_constant_folding=True)
    proto = onnx.load(str(path))
    if simplify:
        import onnxsim

        simplified, ok = onnxsim.simplify(proto)
        if not ok:
            raise RuntimeError("onnxsim could not validate the simplified model")
        proto = simplified
    proto.producer_name = "edgecardio.training"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    if check_batch:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(check_batch, N_LEADS, N_SAMPLES, generator=g)
        d = torch.randn(check_batch, N_DEMOGRAPHICS, generator=g)
        s = random_lead_std(check_batch, g) if with_std else None
        err = np.abs(onnx_predict(path, x.numpy(), d.numpy(), None if s is None else s.numpy())
                     - torch_predict(wrapped, x, d, s)).max()
        if not err <= atol:
            raise RuntimeError(f"ONNX Runtime and PyTorch disagree by {err:.3g} (> {atol:g}) on {path}")
    return path


def random_lead_std(n: int, gen: torch.Generator) -> torch.Tensor:
    """Plausible ``lead_std_mv`` values (0.04-0.7 mV, log-uniform) for tracing and checks."""
    return torch.exp(torch.empty(n, N_LEADS).uniform_(-3.2, -0.4, generator=gen))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="a checkpoint written by training.train")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    model, cfg = load_checkpoint(a.checkpoint)
    ev = cfg["eval"]
    export_onnx(model, a.out, crop_len=ev["crop_len"], crop_stride=ev["crop_stride"], aggregate=ev["aggregate"])
    print(a.out)


if __name__ == "__main__":
    main()
