"""The float64 specification of EdgeCardio's signal conditioning (numpy + scipy).

Every native path (:func:`edgecardio.preprocess`, any engine) reproduces this function within the
tolerances stated in ``tests/test_preprocess.py``; it is the definition, written for clarity, not
speed. It needs scipy (the ``reference`` extra); the runtime does not.

Steps, per lead of a ``(n_leads, n)`` record:

1. resample to :data:`TARGET_FS_HZ` with ``scipy.signal.resample_poly(x, up, down, axis=-1)``,
   ``up/down = 100/fs_hz`` reduced (its default Kaiser window, beta 5, and zero padding), after
   removing each lead's least-squares line (:func:`remove_line`); identity at 100 Hz. The zero
   padding would otherwise meet an electrode offset or a drift as a step at each edge, which the
   band-pass turns into a transient; away from the edges the band-pass removes such a line anyway;
2. band-pass ``butter(2, [0.5, 40], btype="bandpass", fs=100, output="sos")`` applied zero-phase
   with ``sosfiltfilt`` (default odd padding);
3. subtract the mean and divide by the population standard deviation; a lead whose standard
   deviation is below :data:`FLAT_STD_MV` (in mV) is flat and becomes zeros.
"""
from __future__ import annotations

from math import gcd
from typing import Tuple

import numpy as np

TARGET_FS_HZ = 100
BANDPASS_ORDER = 2
BANDPASS_LOW_HZ = 0.5
BANDPASS_HIGH_HZ = 40.0
#: Below this population standard deviation (mV, after band-pass) a lead counts as flat.
FLAT_STD_MV = 1e-3
#: Input rates the native path supports (each has generated polyphase taps).
SUPPORTED_RATES_HZ = (100, 125, 200, 250, 360, 400, 500, 1000)


def resample_ratio(fs_hz: int) -> Tuple[int, int]:
    """``(up, down)`` with ``up / down == 100 / fs_hz`` in lowest terms."""
    g = gcd(TARGET_FS_HZ, int(fs_hz))
    return TARGET_FS_HZ // g, int(fs_hz) // g


def bandpass_sos() -> np.ndarray:
    """The band-pass second-order sections (scipy's own design)."""
    from scipy import signal

    return signal.butter(BANDPASS_ORDER, [BANDPASS_LOW_HZ, BANDPASS_HIGH_HZ], btype="bandpass",
                         fs=TARGET_FS_HZ, output="sos")


def preprocess_reference(x_mv, fs_hz: int, *, return_flat: bool = False, return_std: bool = False):
    """Condition a record the way the specification says, in float64.

    Parameters
    ----------
    x_mv : array_like, shape (n_leads, n)
        Signal in millivolts (int16 ADC counts must be divided by their gain first, see
        :func:`counts_to_mv`).
    fs_hz : int
        Sampling rate of ``x_mv``.
    return_flat : bool
        Also return the boolean mask of flat leads.
    return_std : bool
        Also return each lead's standard deviation after the band-pass (mV), what the z-score divides
        out and the classifier's ``lead_std_mv`` input.

    Returns
    -------
    y : ndarray of float32, shape (n_leads, ceil(n * up / down))
    flat : ndarray of bool, shape (n_leads,)
        Only when ``return_flat`` is true.
    std : ndarray of float64, shape (n_leads,)
        Only when ``return_std`` is true (after ``flat`` when both are asked for).
    """
    from scipy import signal

    x = np.asarray(x_mv, dtype=np.float64)
    up, down = resample_ratio(fs_hz)
    if (up, down) != (1, 1):
        x = signal.resample_poly(remove_line(x), up, down, axis=-1)
    x = signal.sosfiltfilt(bandpass_sos(), x, axis=-1)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    flat = std[:, 0] < FLAT_STD_MV
    y = np.where(flat[:, None], 0.0, (x - mean) / np.where(flat[:, None], 1.0, std))
    y = y.astype(np.float32)
    extra = ((flat,) if return_flat else ()) + ((std[:, 0],) if return_std else ())
    return (y, *extra) if extra else y


def remove_line(x) -> np.ndarray:
    """Each row minus its least-squares line over the sample index, in float64."""
    x = np.asarray(x, dtype=np.float64)
    t = np.arange(x.shape[-1]) - (x.shape[-1] - 1) / 2
    slope = (x @ t) / max(t @ t, 1.0)  # sum(t) == 0: the slope needs no centring of x
    return x - x.mean(axis=-1, keepdims=True) - slope[..., None] * t


def counts_to_mv(x_counts, gain_per_mv: float = 1000.0) -> np.ndarray:
    """ADC counts to millivolts in float64 (PTB-XL's gain is 1000 counts per mV)."""
    return np.asarray(x_counts, dtype=np.float64) / float(gain_per_mv)
