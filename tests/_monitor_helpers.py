"""Shared by test_quality.py and test_monitor.py: real PTB-XL records and an independent float64
implementation of the quality definitions (numpy/scipy, written from the documented formulas)."""

import numpy as np
from scipy import signal, stats
from _ptbxl import fold_start

_FOLD9 = {}


def fold9_counts(ptbxl, n):
    """The first n records of fold 9 as int16 counts (12, 1000) at 100 Hz, decoding only what is needed."""
    if _FOLD9.get("n", 0) < n:
        _FOLD9["x"] = fold_start(ptbxl, n)
        _FOLD9["n"] = n
    return _FOLD9["x"][:n]


def fold9_table(ptbxl):
    import pandas as pd

    db = pd.read_csv(ptbxl / "ptbxl_database.csv")
    return db[db.strat_fold == 9].reset_index(drop=True)


def upsample_counts(x, up):
    """int16 counts at up x the rate, same content (as the preprocess tests make 500 Hz records)."""
    if up == 1:
        return x
    y = signal.resample_poly(x.astype(np.float64), up, 1, axis=-1)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


DEFAULTS = dict(lead_off_rail_s=0.2, saturation_run=2, flat_run_s=1.0, flat_tolerance_mv=0.005,
                wander_bassqi=0.8, noisy_hf=0.1)
FLAG_BITS = dict(lead_off=1, flat=2, saturated=4, wander=8, noisy=16)


def _longest_run(b):
    b = np.concatenate([[0], b.astype(np.int8), [0]])
    d = np.diff(b)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return int((ends - starts).max()) if starts.size else 0


def _flat_run(v, tol):
    best = run = 1
    anchor = v[0]
    for x in v[1:]:
        if abs(x - anchor) <= tol:
            run += 1
        else:
            anchor, run = x, 1
        best = max(best, run)
    return best


def reference_quality(x, fs, gain=1000.0, nan_mask=None, rails=None, thr=None):
    """(indices (12, 7), flags (12,)) of a window: the module docstring of edgecardio.quality in float64."""
    thr = {**DEFAULTS, **(thr or {})}
    v = x.astype(np.float64) / gain if x.dtype.kind in "iu" else x.astype(np.float64)
    nper, step = 2 * fs, fs
    nfft = 1 << (nper - 1).bit_length()
    _, _, s = signal.spectrogram(v, fs, window="hann", nperseg=nper, noverlap=nper - step, nfft=nfft,
                                 detrend="constant", scaling="density", mode="psd", axis=-1)
    k = np.arange(nfft // 2 + 1)

    def band(lo, hi):
        sel = (k * fs >= lo * nfft) & (k * fs <= hi * nfft)
        return s[:, sel, :].sum(axis=1)  # (leads, segments)

    nyq = fs / 2
    psqi = band(5, 15).sum(1) / band(5, 40).sum(1)
    bassqi = 1 - band(0, 1).sum(1) / band(0, 40).sum(1)
    hf = (band(40, nyq) / band(1, nyq)).max(1)
    ksqi = stats.kurtosis(v, axis=1, fisher=False, bias=True)
    if rails is None:
        rails = (-32768, 32767) if x.dtype.kind in "iu" else (-np.inf, np.inf)
    idx = np.zeros((x.shape[0], 7))
    flags = np.zeros(x.shape[0], np.uint32)
    for c in range(x.shape[0]):
        rail = _longest_run((x[c] <= rails[0]) | (x[c] >= rails[1]))
        if x.dtype.kind in "iu":  # compared in counts, as documented
            flat = _flat_run(x[c].astype(np.float64), thr["flat_tolerance_mv"] / (1.0 / gain))
        else:
            flat = _flat_run(v[c], thr["flat_tolerance_mv"])
        nan = 0 if nan_mask is None else int(nan_mask[c].sum())
        idx[c] = [ksqi[c], psqi[c], bassqi[c], hf[c], nan, rail, flat]
        f = 0
        if nan > 0 or rail >= np.ceil(thr["lead_off_rail_s"] * fs):
            f |= FLAG_BITS["lead_off"]
        if flat >= np.ceil(thr["flat_run_s"] * fs):
            f |= FLAG_BITS["flat"]
        if rail >= thr["saturation_run"]:
            f |= FLAG_BITS["saturated"]
        if bassqi[c] < thr["wander_bassqi"]:
            f |= FLAG_BITS["wander"]
        if hf[c] > thr["noisy_hf"]:
            f |= FLAG_BITS["noisy"]
        flags[c] = f
    return idx, flags
