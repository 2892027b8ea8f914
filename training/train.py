"""Train LightECGNet on PTB-XL folds 1-8, select on fold 9.

    python -m training.train --config training/configs/lightecgnet.json --ship
    python -m training.train --config ... --set train.epochs=5 --run-name quick   # an experiment
    python -m training.train --config ... --resume runs/NAME                      # continue

Weighted BCE (positive weights from training prevalence), AdamW, one-cycle or cosine schedule,
optional weight EMA, random crops with light augmentation, early stopping on the validation macro
AUC of the test-time crop ensemble (what the exported graph computes), best and last checkpoints,
fixed seeds. ``--ship`` then exports FP32 ONNX, quantizes to INT8, evaluates both on the
validation folds and writes the model card (training.ship); it refuses a non-native cache.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import REPO, load_config, repo_path
from .data import fit_stats, load_dataset
from .evaluate import macro_auc
from .model import CropEnsemble, LightECGNet, ModelConfig, count_parameters

#: Encoded demographics of a patient with nothing known (see edgecardio.modelcard).
ALL_MISSING = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1], dtype=torch.float32)


def seed_everything(seed: int):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pos_weight(labels: np.ndarray, rule: str) -> torch.Tensor | None:
    p = labels.mean(axis=0).clip(1e-6, 1 - 1e-6)
    if rule == "none":
        return None
    w = (1 - p) / p
    return torch.tensor(np.sqrt(w) if rule == "sqrt_neg_over_pos" else w, dtype=torch.float32)


def random_crops(x: torch.Tensor, crop_len: int, gen: torch.Generator) -> torch.Tensor:
    if not crop_len or crop_len >= x.shape[-1]:
        return x
    b, c, n = x.shape
    start = torch.randint(0, n - crop_len + 1, (b,), generator=gen)
    idx = (start[:, None] + torch.arange(crop_len)[None, :])[:, None, :].expand(b, c, crop_len)
    return torch.gather(x, 2, idx)


def augment(x: torch.Tensor, demo: torch.Tensor, aug: dict, gen: torch.Generator, fs_hz: int = 100):
    """Amplitude, baseline wander, noise, lead dropout on z-scored signals; demographics dropout."""
    b, c, n = x.shape
    if aug["amplitude_scale"] > 0:
        a = aug["amplitude_scale"]
        x = x * (1 + a * (2 * torch.rand(b, c, 1, generator=gen) - 1))
    if aug["baseline_wander"] > 0:
        t = torch.arange(n, dtype=torch.float32) / fs_hz
        f = 0.05 + 0.45 * torch.rand(b, c, 1, generator=gen)  # Hz, below the 0.5-Hz high-pass corner
        ph = 2 * math.pi * torch.rand(b, c, 1, generator=gen)
        amp = aug["baseline_wander"] * torch.rand(b, c, 1, generator=gen)
        x = x + amp * torch.sin(2 * math.pi * f * t + ph)
    if aug["gaussian_noise"] > 0:
        x = x + aug["gaussian_noise"] * torch.randn(x.shape, generator=gen)
    if aug["lead_dropout"] > 0:
        keep = (torch.rand(b, c, 1, generator=gen) >= aug["lead_dropout"]).float()
        x = x * keep
    if aug["demographics_dropout"] > 0:
        drop = torch.rand(b, 1, generator=gen) < aug["demographics_dropout"]
        demo = torch.where(drop, ALL_MISSING.expand_as(demo), demo)
    return x, demo


def make_scheduler(opt, t: dict, total_steps: int):
    if t["scheduler"] == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=t["lr"], total_steps=total_steps,
                                                   pct_start=t["warmup_frac"], anneal_strategy="cos",
                                                   div_factor=25.0, final_div_factor=1e3)
    warm = max(1, int(t["warmup_frac"] * total_steps))
    if t["scheduler"] == "cosine":
        f = lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warm) / max(1, total_steps - warm))))  # noqa: E731
    else:
        f = lambda s: min(1.0, (s + 1) / warm)  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(opt, f)


def param_groups(model: nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for p in model.parameters():
        (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def predict(model: nn.Module, ecg: np.ndarray, demo: np.ndarray, crop_len: int, stride: int, aggregate: str,
            batch_size: int = 256) -> np.ndarray:
    """Probabilities of the crop ensemble (crop_len 0 = full window), as the exported graph computes."""
    w = CropEnsemble(model, crop_len=crop_len or None, stride=stride, n_samples=ecg.shape[-1], aggregate=aggregate).eval()
    out = []
    for i in range(0, len(ecg), batch_size):
        out.append(w(torch.from_numpy(np.ascontiguousarray(ecg[i:i + batch_size])),
                     torch.from_numpy(demo[i:i + batch_size])))
    return torch.cat(out).numpy()


class EMA:
    """Exponential moving average of parameters and buffers (BN statistics follow the live model)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int):
        d = min(self.decay, (1 + step) / (10 + step))
        for e, m in zip(self.model.parameters(), model.parameters()):
            e.mul_(d).add_(m.detach(), alpha=1 - d)
        for e, m in zip(self.model.buffers(), model.buffers()):
            e.copy_(m)


def save_checkpoint(path: Path, model: nn.Module, cfg: dict, stats: dict, extra: dict | None = None):
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "config": cfg, "demographic_stats": stats,
                "n_parameters": count_parameters(model), **(extra or {})}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> tuple[LightECGNet, dict]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    model = LightECGNet(ModelConfig(**ck["config"]["model"]))
    model.load_state_dict(ck["model"])
    return model.eval(), ck["config"]


def log(msg: str, fh=None):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


def train(cfg: dict, run_dir: Path, resume: bool = False, require_native: bool = False,
          stop_after_epoch: int | None = None) -> dict:
    """Train (or resume) the run in ``run_dir``; ``stop_after_epoch`` simulates an interruption."""
    t = cfg["train"]
    ev = cfg["eval"]
    torch.set_num_threads(t["num_threads"])
    seed_everything(cfg["seed"])
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / "train.log", "a")
    log(f"run {run_dir} | command: {' '.join(sys.argv)}", fh)

    ds = load_dataset(cfg, require_native=require_native)
    log(f"cache: {ds.meta['preprocess']['function']} ({ds.meta['reader']} reader), "
        f"{len(ds.split.train)} train / {len(ds.split.val)} val / {len(ds.split.test)} test records", fh)
    stats = fit_stats(ds.demographics_raw.iloc[ds.split.train])
    demo_all = ds.demographics(stats)
    t0 = time.time()
    x_tr = torch.from_numpy(np.asarray(ds.signals[ds.split.train], dtype=np.float32))
    x_va = np.asarray(ds.signals[ds.split.val], dtype=np.float32)
    log(f"loaded signals in {time.time() - t0:.1f} s", fh)
    y_tr = torch.from_numpy(ds.labels[ds.split.train].astype(np.float32))
    y_va = ds.labels[ds.split.val]
    d_tr = torch.from_numpy(demo_all[ds.split.train])
    d_va = demo_all[ds.split.val]

    model = LightECGNet(ModelConfig(**cfg["model"]))
    n_params = count_parameters(model)
    log(f"LightECGNet: {n_params} parameters", fh)
    opt = torch.optim.AdamW(param_groups(model, t["weight_decay"]), lr=t["lr"])
    steps_per_epoch = t["steps_per_epoch"] or math.ceil(len(x_tr) / t["batch_size"])
    sched = make_scheduler(opt, t, steps_per_epoch * t["epochs"])
    ema = EMA(model, t["ema_decay"]) if t["ema_decay"] > 0 else None
    pw = pos_weight(ds.labels[ds.split.train], t["pos_weight"] if t["loss"] == "bce" else "none")
    crit = nn.BCEWithLogitsLoss(pos_weight=pw)
    gen = torch.Generator().manual_seed(cfg["seed"])
    state = {"epoch": 0, "step": 0, "best_auc": -1.0, "best_epoch": -1, "history": [], "train_seconds": 0.0}

    last = run_dir / "last.pt"
    if resume and last.is_file():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        if ema is not None:
            ema.model.load_state_dict(ck["ema"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        state = ck["state"]
        log(f"resumed from {last} at epoch {state['epoch']}", fh)
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))

    from tqdm import tqdm

    start = time.time() - state["train_seconds"]
    while state["epoch"] < t["epochs"]:
        ep = state["epoch"]
        model.train()
        te = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        losses = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {ep + 1}/{t['epochs']}", mininterval=15,
                   file=sys.stderr, leave=False)
        for s in bar:
            idx = perm[(s * t["batch_size"]) % len(perm):][:t["batch_size"]]
            if len(idx) < 2:
                continue
            xb = random_crops(x_tr[idx], t["crop_len"], gen)
            xb, db = augment(xb, d_tr[idx], t["aug"], gen)
            yb = y_tr[idx]
            if t["label_smoothing"] > 0:
                yb = yb * (1 - t["label_smoothing"]) + 0.5 * t["label_smoothing"]
            loss = crit(model(xb, db), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"] > 0:
                nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            opt.step()
            sched.step()
            state["step"] += 1
            if ema is not None:
                ema.update(model, state["step"])
            losses.append(loss.item())
            if s % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        train_s = time.time() - te
        state["epoch"] = ep + 1
        state["train_seconds"] = time.time() - start
        rec = {"epoch": ep + 1, "loss": float(np.mean(losses)), "lr": float(sched.get_last_lr()[0]),
               "epoch_train_s": round(train_s, 1)}
        if (ep + 1) % t["val_every"] == 0 or ep + 1 == t["epochs"]:
            tv = time.time()
            evm = ema.model if ema is not None else model.eval()
            evm.eval()
            p_crop = predict(evm, x_va, d_va, ev["crop_len"], ev["crop_stride"], ev["aggregate"])
            auc, per = macro_auc(y_va, p_crop)
            rec.update({"val_macro_auc": auc, "val_per_class_auc": per})
            fw = ev["full_window_every"]
            if fw and ((ep + 1) % fw == 0 or ep + 1 == t["epochs"] or auc > state["best_auc"]):
                # the same weights on the whole 10-s window at once: what the crop ensemble buys
                auc_full, per_full = macro_auc(y_va, predict(evm, x_va, d_va, 0, 0, "mean"))
                rec.update({"val_macro_auc_full_window": auc_full, "val_per_class_auc_full_window": per_full})
            rec["val_s"] = round(time.time() - tv, 1)
            if auc > state["best_auc"]:
                state["best_auc"], state["best_epoch"] = auc, ep + 1
                save_checkpoint(run_dir / "best.pt", evm, cfg, stats,
                                {"epoch": ep + 1, "val_macro_auc": auc, "val_per_class_auc": per,
                                 "val_macro_auc_full_window": rec.get("val_macro_auc_full_window"),
                                 "val_per_class_auc_full_window": rec.get("val_per_class_auc_full_window"),
                                 "cache_meta": ds.meta})
        state["history"].append(rec)
        log(json.dumps(rec), fh)
        ck = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
              "ema": ema.model.state_dict() if ema is not None else None, "generator": gen.get_state(),
              "torch_rng": torch.get_rng_state(), "state": state, "config": cfg, "demographic_stats": stats}
        torch.save(ck, last.with_suffix(".tmp"))
        os.replace(last.with_suffix(".tmp"), last)
        (run_dir / "history.json").write_text(json.dumps(state, indent=1))
        if state["epoch"] - state["best_epoch"] >= t["early_stopping_patience"]:
            log(f"early stop: no better validation AUC since epoch {state['best_epoch']}", fh)
            break
        if stop_after_epoch is not None and state["epoch"] >= stop_after_epoch:
            log(f"stopped after epoch {state['epoch']} as asked (resume with --resume {run_dir})", fh)
            break
        if (time.time() - start) / 60 > t["max_minutes"]:
            log(f"time budget of {t['max_minutes']} min reached after epoch {state['epoch']}", fh)
            break
    log(f"best validation macro AUC {state['best_auc']:.4f} at epoch {state['best_epoch']}; "
        f"training took {(time.time() - start) / 60:.1f} min", fh)
    fh.close()
    return state


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON")
    ap.add_argument("--run-name", help="runs/NAME (default: config name)")
    ap.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from last.pt")
    ap.add_argument("--ship", action="store_true",
                    help="require a native cache; after training export, quantize, evaluate, write the card")
    ap.add_argument("--install", action="store_true", help="with --ship: copy the files to python/edgecardio/models")
    a = ap.parse_args(argv)
    if a.resume:
        run_dir = Path(a.resume)
        cfg = json.loads((run_dir / "config.json").read_text())
    else:
        cfg = load_config(a.config, a.set)
        run_dir = REPO / "runs" / (a.run_name or cfg["name"])
        if (run_dir / "last.pt").exists():
            sys.exit(f"{run_dir} already holds a run: pass --resume {run_dir} or another --run-name")
    if a.ship and cfg["preprocess"]["path"] != "native":
        sys.exit("--ship needs preprocess.path='native': the shipped model is trained on edgecardio.preprocess")
    t0 = time.time()
    train(cfg, run_dir, resume=bool(a.resume), require_native=a.ship)
    if a.ship:
        from .ship import ship

        ship(run_dir, install=a.install, command=" ".join(["python -m training.train"] + sys.argv[1:]),
             train_wall_s=time.time() - t0)


if __name__ == "__main__":
    main()
