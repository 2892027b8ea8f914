"""Exploration, not a shippable model: does the network use voltage when it is given it?

    .venv/bin/python benchmarks/amplitude_train_probe.py [THREADS]     # -> runs/resnet_s_amp (~12 min on 2 idle cores)

The `resnet_s` recipe with each lead's log amplitude (0.5-99.5 percentile range of the raw record in
mV after removing its median, standardized with the training folds' mean and std) appended to the
demographics input: 8 -> 20 features. Demographics dropout is 0 (its "all missing" vector has 8
features); everything else is `training/configs/resnet_s.json`. It measured what a voltage input
would be worth before the runtime had one (benchmarks/amplitude_probe.py measures the same by
stacking instead of training); the shipped models now read `lead_std_mv` instead (training/README.md).
"""
import sys, time
from pathlib import Path
import numpy as np
import torch
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
import training.model as tm
import training.train as tt
from training.config import load_config

from amplitude_probe import log_amplitudes  # the same measure as the stacking probe (this folder)

cache = REPO / "data" / "cache" / "lead_log_amplitudes.npy"


def amplitudes(ds):
    if cache.exists():
        return np.load(cache)
    a = log_amplitudes(REPO / "data" / "ptbxl", ds.ecg_ids).astype(np.float32)
    np.save(cache, a)
    return a


orig = tt.load_training_data


def load_with_amp(cfg, require_native, fh):
    from training.data import load_dataset
    ds = load_dataset(cfg, require_native=require_native)
    a = amplitudes(ds)
    tr, va = ds.split.train, ds.split.val
    mu, sd = a[tr].mean(0), a[tr].std(0)
    a = (a - mu) / sd
    d = orig(cfg, require_native, fh)
    d.demo_train = torch.cat([d.demo_train, torch.from_numpy(a[tr])], 1)
    d.demo_val = np.concatenate([d.demo_val, a[va]], 1).astype(np.float32)
    tt.log(f"amplitude features appended: demo {tuple(d.demo_train.shape)}", fh)
    return d


def main():
    # the network's demographics layer and the data loader, patched for this run only
    tm.N_DEMOGRAPHICS = 20
    tt.load_training_data = load_with_amp
    cfg = load_config(REPO / "training" / "configs" / "resnet_s.json", [
        (["name"], "resnet_s_amp"), (["train", "aug", "demographics_dropout"], 0.0),
        (["train", "num_threads"], int(sys.argv[1]) if len(sys.argv) > 1 else 2),
        (["calibrate", "method"], "none")])
    t0 = time.time()
    state = tt.train(cfg, REPO / "runs" / "resnet_s_amp")
    print("best", state["best_auc"], state["best_epoch"], "min", (time.time() - t0) / 60)


if __name__ == "__main__":
    main()
