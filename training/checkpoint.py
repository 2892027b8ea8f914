"""Checkpoints of a run: ``best.pt`` (the selected weights with what ``ship`` needs to know about
them) and ``last.pt`` (everything ``--resume`` needs), each written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .model import LightECGNet, ModelConfig, count_parameters


def save_atomic(obj: dict, path: Path):
    """``torch.save`` to a temporary file, then rename: an interrupted write leaves the old file."""
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: Path, model: nn.Module, cfg: dict, stats: dict, extra: dict | None = None):
    save_atomic({"model": model.state_dict(), "config": cfg, "demographic_stats": stats,
                 "n_parameters": count_parameters(model), **(extra or {})}, path)


def read_checkpoint(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(ck: dict) -> LightECGNet:
    """The LightECGNet of a checkpoint dict, in eval mode."""
    model = LightECGNet(ModelConfig(**ck["config"]["model"]))
    model.load_state_dict(ck["model"])
    return model.eval()


def load_checkpoint(path) -> tuple[LightECGNet, dict]:
    """``(model, resolved config)`` of the checkpoint at ``path``."""
    ck = read_checkpoint(path)
    return model_from_checkpoint(ck), ck["config"]
