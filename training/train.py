"""Train LightECGNet on PTB-XL folds 1-8, select on fold 9.

    python -m training.train --config training/configs/lightecgnet_reg.json
    python -m training.train --config ... --set train.epochs=5 --run-name quick   # an experiment
    python -m training.train --config ... --resume runs/NAME                      # continue

Weighted BCE (positive weights from training prevalence), AdamW, one-cycle or cosine schedule,
optional weight EMA, random crops with light augmentation, early stopping on the validation macro
AUC of the test-time crop ensemble (what the exported graph computes), best and last checkpoints,
fixed seeds. ``python -m training ... --ship`` trains and then ships (:mod:`training.ship`).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgecardio import modelcard

from .checkpoint import read_checkpoint, save_atomic, save_checkpoint
from .config import REPO, load_config, repo_path
from .data import fit_stats, load_dataset, load_soft_labels
from .metrics import macro_auc
from .model import CropEnsemble, LightECGNet, ModelConfig, count_parameters, lead_voltages, torch_predict

#: Encoded demographics of a patient with nothing known.
ALL_MISSING = torch.from_numpy(modelcard.encode_demographics({}))


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


def augment(x: torch.Tensor, demo: torch.Tensor, aug: dict, gen: torch.Generator, lead_std: torch.Tensor | None = None):
    """Amplitude, baseline wander, noise, lead dropout on z-scored signals; demographics dropout.
    A dropped lead is also flat in ``lead_std`` (when given), as a flat lead is at run time.
    Returns ``(x, demo, lead_std)``."""
    b, c, n = x.shape
    if aug["amplitude_scale"] > 0:
        a = aug["amplitude_scale"]
        x = x * (1 + a * (2 * torch.rand(b, c, 1, generator=gen) - 1))
    if aug["baseline_wander"] > 0:
        t = torch.arange(n, dtype=torch.float32) / modelcard.MODEL_FS_HZ
        f = 0.05 + 0.45 * torch.rand(b, c, 1, generator=gen)  # Hz, below the 0.5-Hz high-pass corner
        ph = 2 * math.pi * torch.rand(b, c, 1, generator=gen)
        amp = aug["baseline_wander"] * torch.rand(b, c, 1, generator=gen)
        x = x + amp * torch.sin(2 * math.pi * f * t + ph)
    if aug["gaussian_noise"] > 0:
        x = x + aug["gaussian_noise"] * torch.randn(x.shape, generator=gen)
    if aug["lead_dropout"] > 0:
        keep = (torch.rand(b, c, 1, generator=gen) >= aug["lead_dropout"]).float()
        x = x * keep
        if lead_std is not None:  # [b, 12] or [b, 24] (standard deviations, then peak-to-peak voltages)
            k = keep[:, :, 0].repeat(1, lead_std.shape[1] // c)
            lead_std = torch.where(k > 0, lead_std, torch.zeros_like(lead_std))
    if aug["demographics_dropout"] > 0:
        drop = torch.rand(b, 1, generator=gen) < aug["demographics_dropout"]
        demo = torch.where(drop, ALL_MISSING.expand_as(demo), demo)
    return x, demo, lead_std


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


def log(msg: str, fh=None):
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    print(line, flush=True)
    if fh is not None:
        fh.write(line + "\n")
        fh.flush()


@dataclass
class TrainingData:
    """What one run trains on (training folds, as tensors) and selects on (validation folds)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    demo_train: torch.Tensor
    labels_train: np.ndarray  # uint8, for the positive weights
    teacher_train: torch.Tensor | None  # teacher logits per training record (distillation) or None
    x_val: np.ndarray
    y_val: np.ndarray
    demo_val: np.ndarray
    std_train: torch.Tensor | None  # lead voltages of the training records (lead_voltages), for models that read them
    std_val: np.ndarray | None
    stats: dict  # demographic statistics of the training folds
    cache_meta: dict


def load_training_data(cfg: dict, require_native: bool, fh) -> TrainingData:
    ds = load_dataset(cfg, require_native=require_native)
    log(f"cache: {ds.meta['preprocess']['function']} ({ds.meta['reader']} reader), "
        f"{len(ds.split.train)} train / {len(ds.split.val)} val / {len(ds.split.test)} test records", fh)
    stats = fit_stats(ds.demographics_raw.iloc[ds.split.train])
    demo_all = ds.demographics(stats)
    t0 = time.time()
    x_tr = torch.from_numpy(np.asarray(ds.signals[ds.split.train], dtype=np.float32))
    x_va = np.asarray(ds.signals[ds.split.val], dtype=np.float32)
    log(f"loaded signals in {time.time() - t0:.1f} s", fh)
    teacher = None
    kd = cfg["train"]["distill"]
    if kd["weight"] > 0:
        path = repo_path(kd["soft_labels"])
        teacher = torch.from_numpy(load_soft_labels(path, ds.ecg_ids[ds.split.train]))
        log(f"distillation: teacher logits from {path}, weight {kd['weight']}, temperature {kd['temperature']}", fh)
    use_std = cfg["model"]["use_lead_std"]
    std_all = np.asarray(ds.lead_std_mv, np.float32)
    # the training crops see the voltages of their whole 10-s window, as the graph computes them
    volt_tr = lead_voltages(x_tr.numpy(), std_all[ds.split.train], cfg["model"]["lead_voltage"]) if use_std else None
    return TrainingData(x_train=x_tr, y_train=torch.from_numpy(ds.labels[ds.split.train].astype(np.float32)),
                        demo_train=torch.from_numpy(demo_all[ds.split.train]), labels_train=ds.labels[ds.split.train],
                        teacher_train=teacher,
                        x_val=x_va, y_val=ds.labels[ds.split.val], demo_val=demo_all[ds.split.val],
                        std_train=torch.from_numpy(volt_tr) if use_std else None,
                        std_val=std_all[ds.split.val] if use_std else None, stats=stats,
                        cache_meta=ds.meta)


@dataclass
class Optimization:
    """The model and everything that changes as it trains (saved in ``last.pt``)."""

    model: LightECGNet
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    ema: EMA | None
    crit: nn.Module
    gen: torch.Generator  # crops, augmentation and batch order
    steps_per_epoch: int


def build_optimization(cfg: dict, data: TrainingData, fh) -> Optimization:
    t = cfg["train"]
    model = LightECGNet(ModelConfig(**cfg["model"]))
    if model.lead_std is not None:
        model.lead_std.fit(data.std_train.numpy())  # standardization of the log from the training folds
    log(f"LightECGNet: {count_parameters(model)} parameters", fh)
    opt = torch.optim.AdamW(param_groups(model, t["weight_decay"]), lr=t["lr"])
    steps_per_epoch = t["steps_per_epoch"] or math.ceil(len(data.x_train) / t["batch_size"])
    sched = make_scheduler(opt, t, steps_per_epoch * t["epochs"])
    ema = EMA(model, t["ema_decay"]) if t["ema_decay"] > 0 else None
    pw = pos_weight(data.labels_train, t["pos_weight"] if t["loss"] == "bce" else "none")
    return Optimization(model=model, opt=opt, sched=sched, ema=ema, crit=nn.BCEWithLogitsLoss(pos_weight=pw),
                        gen=torch.Generator().manual_seed(cfg["seed"]), steps_per_epoch=steps_per_epoch)


def new_state() -> dict:
    return {"epoch": 0, "step": 0, "best_auc": -1.0, "best_epoch": -1, "history": [], "train_seconds": 0.0}


def restore(o: Optimization, last: Path) -> dict:
    """Load ``last.pt`` into ``o`` and the global torch RNG; return the loop state it saved."""
    ck = read_checkpoint(last)
    o.model.load_state_dict(ck["model"])
    o.opt.load_state_dict(ck["optimizer"])
    o.sched.load_state_dict(ck["scheduler"])
    if o.ema is not None:
        o.ema.model.load_state_dict(ck["ema"])
    o.gen.set_state(ck["generator"])
    torch.set_rng_state(ck["torch_rng"])
    return ck["state"]


def save_last(o: Optimization, last: Path, state: dict, cfg: dict, stats: dict):
    save_atomic({"model": o.model.state_dict(), "optimizer": o.opt.state_dict(), "scheduler": o.sched.state_dict(),
                 "ema": o.ema.model.state_dict() if o.ema is not None else None, "generator": o.gen.get_state(),
                 "torch_rng": torch.get_rng_state(), "state": state, "config": cfg, "demographic_stats": stats}, last)


def train_epoch(o: Optimization, data: TrainingData, t: dict, state: dict) -> dict:
    """One pass of ``steps_per_epoch`` batches; returns the epoch's history entry so far."""
    from tqdm import tqdm

    ep = state["epoch"]
    kd = t["distill"]
    o.model.train()
    te = time.time()
    perm = torch.randperm(len(data.x_train), generator=o.gen)
    losses = []
    bar = tqdm(range(o.steps_per_epoch), desc=f"epoch {ep + 1}/{t['epochs']}", mininterval=15,
               file=sys.stderr, leave=False)
    for s in bar:
        idx = perm[(s * t["batch_size"]) % len(perm):][:t["batch_size"]]
        if len(idx) < 2:
            continue
        xb = random_crops(data.x_train[idx], t["crop_len"], o.gen)
        sb = None if data.std_train is None else data.std_train[idx]
        xb, db, sb = augment(xb, data.demo_train[idx], t["aug"], o.gen, sb)
        yb = data.y_train[idx]
        if t["label_smoothing"] > 0:
            yb = yb * (1 - t["label_smoothing"]) + 0.5 * t["label_smoothing"]
        z = o.model(xb, db, sb)
        loss = o.crit(z, yb)
        if data.teacher_train is not None:
            loss = (1 - kd["weight"]) * loss + kd["weight"] * distill_loss(z, data.teacher_train[idx], kd["temperature"])
        o.opt.zero_grad(set_to_none=True)
        loss.backward()
        if t["grad_clip"] > 0:
            nn.utils.clip_grad_norm_(o.model.parameters(), t["grad_clip"])
        o.opt.step()
        o.sched.step()
        state["step"] += 1
        if o.ema is not None:
            o.ema.update(o.model, state["step"])
        losses.append(loss.item())
        if s % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    return {"epoch": ep + 1, "loss": float(np.mean(losses)), "lr": float(o.sched.get_last_lr()[0]),
            "epoch_train_s": round(time.time() - te, 1)}


def distill_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """BCE of the student's tempered logits against the teacher's tempered probabilities, scaled by
    T^2 so the gradient's size does not depend on T (Hinton et al.'s convention)."""
    target = torch.sigmoid(teacher / temperature)
    return nn.functional.binary_cross_entropy_with_logits(student / temperature, target) * temperature ** 2


def val_auc(model: nn.Module, data: TrainingData, crop_len: int, stride: int, aggregate: str):
    """Validation macro and per-class AUC of the crop ensemble (crop_len 0 = the whole window)."""
    wrapped = CropEnsemble(model, crop_len=crop_len or None, stride=stride, n_samples=data.x_val.shape[-1],
                           aggregate=aggregate)
    return macro_auc(data.y_val, torch_predict(wrapped, data.x_val, data.demo_val, data.std_val))


def validate(model: nn.Module, data: TrainingData, ev: dict, state: dict, last_epoch: bool) -> dict:
    """Validation AUCs of the graph that would ship; the whole window too every few epochs."""
    tv = time.time()
    auc, per = val_auc(model, data, ev["crop_len"], ev["crop_stride"], ev["aggregate"])
    rec = {"val_macro_auc": auc, "val_per_class_auc": per}
    fw = ev["full_window_every"]
    if fw and (state["epoch"] % fw == 0 or last_epoch or auc > state["best_auc"]):
        # the same weights on the whole 10-s window at once: what the crop ensemble buys
        auc_full, per_full = val_auc(model, data, 0, 0, "mean")
        rec.update({"val_macro_auc_full_window": auc_full, "val_per_class_auc_full_window": per_full})
    rec["val_s"] = round(time.time() - tv, 1)
    return rec


def stop_reason(state: dict, t: dict, stop_after_epoch: int | None, run_dir: Path) -> str | None:
    # No wall-time budget: the number of epochs must not depend on the machine's speed, or the
    # recipe would not reproduce its files elsewhere.
    if state["epoch"] - state["best_epoch"] >= t["early_stopping_patience"]:
        return f"early stop: no better validation AUC since epoch {state['best_epoch']}"
    if stop_after_epoch is not None and state["epoch"] >= stop_after_epoch:
        return f"stopped after epoch {state['epoch']} as asked (resume with --resume {run_dir})"
    return None


def train(cfg: dict, run_dir: Path, resume: bool = False, require_native: bool = False,
          stop_after_epoch: int | None = None) -> dict:
    """Train (or resume) the run in ``run_dir``; ``stop_after_epoch`` simulates an interruption."""
    t = cfg["train"]
    torch.set_num_threads(t["num_threads"])
    seed_everything(cfg["seed"])
    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / "train.log", "a")
    log(f"run {run_dir} | command: {' '.join(sys.argv)}", fh)
    data = load_training_data(cfg, require_native, fh)
    o = build_optimization(cfg, data, fh)
    state = new_state()
    last = run_dir / "last.pt"
    if resume and last.is_file():
        state = restore(o, last)
        log(f"resumed from {last} at epoch {state['epoch']}", fh)
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2))

    start = time.time() - state["train_seconds"]
    while state["epoch"] < t["epochs"]:
        rec = train_epoch(o, data, t, state)
        state["epoch"] = rec["epoch"]
        state["train_seconds"] = time.time() - start
        if state["epoch"] % t["val_every"] == 0 or state["epoch"] == t["epochs"]:
            evm = o.ema.model if o.ema is not None else o.model
            evm.eval()
            rec.update(validate(evm, data, cfg["eval"], state, last_epoch=state["epoch"] == t["epochs"]))
            if rec["val_macro_auc"] > state["best_auc"]:
                state["best_auc"], state["best_epoch"] = rec["val_macro_auc"], state["epoch"]
                save_checkpoint(run_dir / "best.pt", evm, cfg, data.stats,
                                {"epoch": state["epoch"], "val_macro_auc": rec["val_macro_auc"],
                                 "val_per_class_auc": rec["val_per_class_auc"],
                                 "val_macro_auc_full_window": rec.get("val_macro_auc_full_window"),
                                 "val_per_class_auc_full_window": rec.get("val_per_class_auc_full_window"),
                                 "cache_meta": data.cache_meta})
        state["history"].append(rec)
        log(json.dumps(rec), fh)
        save_last(o, last, state, cfg, data.stats)
        (run_dir / "history.json").write_text(json.dumps(state, indent=1))
        reason = stop_reason(state, t, stop_after_epoch, run_dir)
        if reason:
            log(reason, fh)
            break
    log(f"best validation macro AUC {state['best_auc']:.4f} at epoch {state['best_epoch']}; "
        f"training took {(time.time() - start) / 60:.1f} min", fh)
    fh.close()
    return state


def add_run_arguments(ap: argparse.ArgumentParser):
    """The options that name a run: its config (with overrides) and directory, or the run to resume."""
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON")
    ap.add_argument("--run-name", help="runs/NAME (default: config name)")
    ap.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from last.pt")


def resolve_run(a: argparse.Namespace) -> tuple[dict, Path]:
    """``(config, run directory)`` for the options of :func:`add_run_arguments`."""
    if a.resume:
        run_dir = Path(a.resume)
        # through the defaults, so a run saved before a config key existed resumes with its default
        return load_config(run_dir / "config.json"), run_dir
    cfg = load_config(a.config, a.set)
    run_dir = REPO / "runs" / (a.run_name or cfg["name"])
    if (run_dir / "last.pt").exists():
        sys.exit(f"{run_dir} already holds a run: pass --resume {run_dir} or another --run-name")
    return cfg, run_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    a = ap.parse_args(argv)
    cfg, run_dir = resolve_run(a)
    train(cfg, run_dir, resume=bool(a.resume))


if __name__ == "__main__":
    main()
