"""Teacher logits for knowledge distillation, written once so the student's recipe needs no teacher.

    python -m training.distill --teacher runs/resnet_l --teacher runs/resnet_s \\
        --config training/configs/resnet_s.json --out training/soft_labels/resnet_l+resnet_s.npz

Each teacher is a run's ``best.pt``, applied as its config's evaluation crop ensemble (the crop
logits averaged) to every labelled record of the config's training and validation folds; several
teachers are averaged in logit space. The file holds ``ecg_id`` (int64) and ``logits`` (float16,
[n, 5]) and is small enough to commit (about 10 bytes a record). The validation-fold macro AUC of
the teacher ensemble is printed and kept in the file's ``meta`` JSON, so the student's gain can be
judged against it. Only training-fold logits are used in training (:func:`training.data.load_soft_labels`).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import model_from_checkpoint, read_checkpoint
from .config import load_config, repo_path
from .data import fit_stats, load_dataset
from .metrics import macro_auc
from .model import CropEnsemble


@torch.no_grad()
def teacher_logits(run_dir: Path, signals: np.ndarray, demographics: np.ndarray, lead_std: np.ndarray | None = None,
                   batch_size: int = 256) -> np.ndarray:
    """Crop-ensemble logits of the run's best checkpoint for ``signals`` [n, 12, 1000] (``lead_std``
    [n, 12] is read by a teacher with ``model.use_lead_std``)."""
    ck = read_checkpoint(Path(run_dir) / "best.pt")
    ev = ck["config"]["eval"]
    wrapped = CropEnsemble(model_from_checkpoint(ck), crop_len=ev["crop_len"] or None, stride=ev["crop_stride"],
                           n_samples=signals.shape[-1], aggregate=ev["aggregate"]).eval()
    out = []
    for i in range(0, len(signals), batch_size):
        x = torch.from_numpy(np.asarray(signals[i:i + batch_size], dtype=np.float32))
        std = None if lead_std is None else torch.from_numpy(np.asarray(lead_std[i:i + batch_size], np.float32))
        out.append(wrapped.logits(x, torch.from_numpy(demographics[i:i + batch_size]), std).numpy())
    return np.concatenate(out)


def build(cfg: dict, teachers: list[Path], out: Path) -> dict:
    ds = load_dataset(cfg, require_native=True)
    rows = np.concatenate([ds.split.train, ds.split.val])
    t0 = time.time()
    logits = np.zeros((len(rows), ds.labels.shape[1]), np.float32)
    for run in teachers:
        # each teacher encodes demographics with the statistics it was trained with
        stats = read_checkpoint(Path(run) / "best.pt")["demographic_stats"]
        demo = ds.demographics(stats)[rows]
        logits += teacher_logits(run, ds.signals[rows], demo, ds.lead_std_mv[rows]) / len(teachers)
    n_tr = len(ds.split.train)
    val_auc, val_per = macro_auc(ds.labels[ds.split.val], 1 / (1 + np.exp(-logits[n_tr:])))
    meta = {"teachers": [str(t) for t in teachers], "train_folds": cfg["data"]["train_folds"],
            "val_folds": cfg["data"]["val_folds"], "cache": ds.meta.get("preprocess"),
            "val_macro_auc": round(float(val_auc), 5), "val_per_class_auc": val_per,
            "seconds": round(time.time() - t0, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, ecg_id=ds.ecg_ids[rows], logits=logits.astype(np.float16),
                        meta=np.array(json.dumps(meta)))
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", action="append", required=True, metavar="RUN_DIR",
                    help="a run directory with best.pt (repeat to average several teachers)")
    ap.add_argument("--config", required=True, help="the student's config (its folds and signal cache)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    meta = build(load_config(a.config), [Path(t) for t in a.teacher], repo_path(a.out))
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
