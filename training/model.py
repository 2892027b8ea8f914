"""LightECGNet: a depthwise-separable residual 1-D CNN for 12-lead ECG plus demographics.

The backbone is fully convolutional and ends in global pooling, so the same weights run on a
2.5-s crop (12 x 250) during training and on any longer window at inference. What the device runs
is :class:`CropEnsemble`: it slices the contract's ``(batch, 12, 1000)`` input into overlapping
crops inside the graph, runs the backbone on all of them as one batch and averages the crop logits,
then applies the sigmoid. The ONNX contract (``edgecardio.modelcard``) is unchanged by that choice.

Shapes on the full window: 1000 -> 500 -> 250 -> 125 -> 63 (four stride-2 stages).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgecardio import modelcard

from .config import ModelConfig

N_LEADS = modelcard.N_LEADS
N_DEMOGRAPHICS = len(modelcard.DEMOGRAPHIC_FEATURES)
N_CLASSES = len(modelcard.CLASSES)
#: Lead standard deviations below this (mV) are flat leads (zero rows in ``ecg``); the graph clamps to it.
FLAT_STD_MV = modelcard.FLAT_STD_MV


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: float):
        super().__init__()
        hidden = max(8, int(round(channels * ratio)))
        self.fc1 = nn.Conv1d(channels, hidden, 1)
        self.fc2 = nn.Conv1d(hidden, channels, 1)

    def forward(self, x):
        s = x.mean(dim=2, keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class ResidualBlock(nn.Module):
    """``relu(se(branch(x)) + shortcut(x))`` with a strided 1x1 shortcut where the shape changes.

    The branch is built by the subclass before this constructor runs, so parameters are created
    (and randomly initialised) in the order branch, squeeze-excitation, shortcut."""

    def __init__(self, branch: nn.Module, c_in: int, c_out: int, stride: int, se_ratio: float):
        super().__init__()
        self.branch = branch
        self.se = SqueezeExcite(c_out, se_ratio) if se_ratio > 0 else nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm1d(c_out))
        else:
            self.shortcut = nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.se(self.branch(x)) + self.shortcut(x))


def _dropout(p: float) -> nn.Module:
    return nn.Dropout1d(p) if p > 0 else nn.Identity()


class DSResBlock(ResidualBlock):
    """Two depthwise-separable convolutions with a residual connection."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, se_ratio: float, dropout: float):
        pad = kernel // 2
        super().__init__(nn.Sequential(
            nn.Conv1d(c_in, c_in, kernel, stride=stride, padding=pad, groups=c_in, bias=False),
            nn.BatchNorm1d(c_in),
            nn.Conv1d(c_in, c_out, 1, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True),
            _dropout(dropout),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, groups=c_out, bias=False),
            nn.BatchNorm1d(c_out),
            nn.Conv1d(c_out, c_out, 1, bias=False),
            nn.BatchNorm1d(c_out),
        ), c_in, c_out, stride, se_ratio)


class PlainResBlock(ResidualBlock):
    """Two dense convolutions (kernels k1, k2) with a residual connection, as in the PTB-XL benchmark's
    resnet1d: a dense convolution is one large GEMM, which INT8 runtimes execute far more efficiently
    than a depthwise and a pointwise convolution of the same reach."""

    def __init__(self, c_in: int, c_out: int, k1: int, k2: int, stride: int, se_ratio: float, dropout: float):
        super().__init__(nn.Sequential(
            nn.Conv1d(c_in, c_out, k1, stride=stride, padding=k1 // 2, bias=False),
            nn.BatchNorm1d(c_out),
            nn.ReLU(inplace=True),
            _dropout(dropout),
            nn.Conv1d(c_out, c_out, k2, padding=k2 // 2, bias=False),
            nn.BatchNorm1d(c_out),
        ), c_in, c_out, stride, se_ratio)


class LeadStdFeatures(nn.Module):
    """Voltage features ``[B, n] -> [B, n]``: ``(log(max(v, FLAT_STD_MV)) - mean) / scale`` of
    ``v = lead_voltages(...)`` (12 standard deviations, or those and 12 peak-to-peak voltages, mV), with
    ``mean`` and ``scale`` of the log over the training folds (buffers, set by :meth:`fit`; in the graph)."""

    def __init__(self, mode: str = "std"):
        super().__init__()
        self.mode = mode
        self.n = N_LEADS * (2 if mode == "std_range" else 1)
        self.register_buffer("log_mean", torch.zeros(self.n))
        self.register_buffer("log_scale", torch.ones(self.n))

    @torch.no_grad()
    def fit(self, voltages: np.ndarray):
        z = np.log(np.maximum(np.asarray(voltages, np.float64), FLAT_STD_MV))
        self.log_mean.copy_(torch.from_numpy(z.mean(axis=0)).float())
        self.log_scale.copy_(torch.from_numpy(np.maximum(z.std(axis=0), 1e-3)).float())

    def forward(self, voltages):
        return (torch.log(torch.clamp(voltages, min=FLAT_STD_MV)) - self.log_mean) / self.log_scale


def lead_voltages(ecg, lead_std_mv, mode: str):
    """The graph's voltage inputs from the z-scored window ``ecg`` [B,12,T] and ``lead_std_mv`` [B,12]:
    the standard deviations, and with ``mode="std_range"`` also each lead's peak-to-peak in mV
    (``lead_std_mv * (max - min)`` of the z-scored lead). Works on tensors and numpy arrays."""
    if mode == "std":
        return lead_std_mv
    if isinstance(ecg, np.ndarray):
        return np.concatenate([lead_std_mv, lead_std_mv * (ecg.max(axis=2) - ecg.min(axis=2))], axis=1).astype(np.float32)
    return torch.cat([lead_std_mv, lead_std_mv * (torch.amax(ecg, dim=2) - torch.amin(ecg, dim=2))], dim=1)


class LightECGNet(nn.Module):
    """``forward(ecg [B,12,T], demographics [B,8], lead_std_mv [B,12] or None) -> logits [B,5]`` (no
    sigmoid); ``lead_std_mv`` is read only with ``config.use_lead_std``."""

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        cfg = config or ModelConfig()
        self.config = cfg
        self.stem = nn.Sequential(
            nn.Conv1d(N_LEADS, cfg.stem_channels, cfg.stem_kernel, stride=cfg.stem_stride,
                      padding=cfg.stem_kernel // 2, bias=False),
            nn.BatchNorm1d(cfg.stem_channels),
            nn.ReLU(inplace=True),
        )
        blocks, c = [], cfg.stem_channels
        for c_out, n in zip(cfg.stage_channels, cfg.blocks_per_stage):
            for i in range(n):
                stride = 2 if i == 0 else 1
                if cfg.block == "plain":
                    blocks.append(PlainResBlock(c, c_out, cfg.kernel, cfg.kernel2 or cfg.kernel, stride,
                                                cfg.se_ratio, cfg.block_dropout))
                else:
                    blocks.append(DSResBlock(c, c_out, cfg.kernel, stride, cfg.se_ratio, cfg.block_dropout))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.n_features = c * (2 if cfg.pool == "avgmax" else 1)
        n_head = self.n_features
        self.lead_std = LeadStdFeatures(cfg.lead_voltage) if cfg.use_lead_std else None
        if cfg.use_demographics:
            n_in = N_DEMOGRAPHICS + (self.lead_std.n if cfg.use_lead_std else 0)
            self.demo = nn.Sequential(nn.Linear(n_in, cfg.demo_hidden), nn.ReLU(inplace=True),
                                      nn.Linear(cfg.demo_hidden, cfg.demo_hidden), nn.ReLU(inplace=True))
            n_head += cfg.demo_hidden
        else:
            self.demo = None
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(n_head, N_CLASSES)

    def features(self, ecg):
        x = self.blocks(self.stem(ecg))
        if self.config.pool == "avgmax":
            return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
        return x.mean(dim=2)

    def forward(self, ecg, demographics, lead_std_mv=None):
        """``lead_std_mv``: [B, 12], whose voltages (:func:`lead_voltages`) are then taken from this
        ``ecg``; or the voltages themselves, [B, 24] for ``lead_voltage="std_range"`` (training passes
        those of the whole 10-s window while ``ecg`` is a crop, as :class:`CropEnsemble` does)."""
        f = self.features(ecg)
        if self.demo is not None:
            d = demographics
            if self.lead_std is not None:
                if lead_std_mv is None:
                    raise ValueError("this model reads lead_std_mv (model.use_lead_std): pass it")
                v = lead_std_mv if lead_std_mv.shape[1] == self.lead_std.n else lead_voltages(ecg, lead_std_mv, self.lead_std.mode)
                d = torch.cat([d, self.lead_std(v)], dim=1)
            f = torch.cat([f, self.demo(d)], dim=1)
        return self.head(self.dropout(f))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def crop_starts(n_samples: int, crop_len: int, stride: int) -> list[int]:
    """Start indices of the test-time crops; the last crop always ends at the window's end."""
    if crop_len >= n_samples:
        return [0]
    starts = list(range(0, n_samples - crop_len + 1, stride))
    if starts[-1] != n_samples - crop_len:
        starts.append(n_samples - crop_len)
    return starts


class CropEnsemble(nn.Module):
    """What ships: ``(ecg [B,12,1000], demographics [B,8]) -> probabilities [B,5]``.

    ``crop_len=None`` runs the backbone once on the full window. Otherwise the window is cut into
    overlapping crops (a static list, so the ONNX graph is a handful of Slice nodes), the crops run
    as one batch of ``B * n_crops`` and the crop logits are averaged ("mean") or max-pooled ("max")
    before the sigmoid.
    """

    def __init__(self, backbone: nn.Module, crop_len: int | None = 250, stride: int = 125,
                 n_samples: int = 1000, aggregate: str = "mean"):
        super().__init__()
        if aggregate not in ("mean", "max"):
            raise ValueError(f"aggregate must be 'mean' or 'max', got {aggregate!r}")
        self.backbone = backbone
        self.crop_len = crop_len
        self.starts = crop_starts(n_samples, crop_len, stride) if crop_len else [0]
        self.aggregate = aggregate

    @property
    def uses_lead_std(self) -> bool:
        return getattr(self.backbone, "lead_std", None) is not None

    def logits(self, ecg, demographics, lead_std_mv=None):
        if lead_std_mv is not None and self.uses_lead_std:
            lead_std_mv = lead_voltages(ecg, lead_std_mv, self.backbone.lead_std.mode)  # of the whole window
        if not self.crop_len:
            return self.backbone(ecg, demographics, lead_std_mv)
        k = len(self.starts)
        b = ecg.shape[0]
        crops = torch.stack([ecg[:, :, s:s + self.crop_len] for s in self.starts], dim=1)  # [B,k,12,L]
        crops = crops.reshape(b * k, ecg.shape[1], self.crop_len)
        demo = _repeat_rows(demographics, k)
        std = None if lead_std_mv is None else _repeat_rows(lead_std_mv, k)
        z = self.backbone(crops, demo, std).reshape(b, k, N_CLASSES)
        return z.mean(dim=1) if self.aggregate == "mean" else z.amax(dim=1)

    def forward(self, ecg, demographics, lead_std_mv=None):
        return torch.sigmoid(self.logits(ecg, demographics, lead_std_mv))


def _repeat_rows(x, k: int):
    """``[B, F] -> [B * k, F]``, each row k times in a row (the crops of one record)."""
    b, f = x.shape
    return x.unsqueeze(1).expand(b, k, f).reshape(b * k, f)


@torch.no_grad()
def torch_predict(wrapped: CropEnsemble, ecg, demographics, lead_std_mv=None, batch_size: int = 256) -> np.ndarray:
    """Probabilities of ``wrapped`` (eval mode) for arrays or tensors, ``batch_size`` records at a time."""
    wrapped.eval()
    ecg, demographics = torch.as_tensor(ecg), torch.as_tensor(demographics)
    std = None if lead_std_mv is None else torch.as_tensor(lead_std_mv)
    out = [wrapped(ecg[i:i + batch_size], demographics[i:i + batch_size],
                   None if std is None else std[i:i + batch_size]) for i in range(0, len(ecg), batch_size)]
    return torch.cat(out).numpy()


if __name__ == "__main__":
    m = LightECGNet()
    print(m.config)
    print("parameters:", count_parameters(m), "features:", m.n_features)
