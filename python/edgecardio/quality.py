"""Per-lead signal quality of a 12-lead window, and the rule that says when a diagnosis is not trusted.

Computed natively (``cpp/dsp/quality.cpp``) on the raw window in millivolts at its own sampling rate
(not on the model's input: its 0.5-40 Hz band-pass removes the baseline wander and the high-frequency
noise these indices measure). For lead ``x`` (n samples at ``fs_hz``):

Welch spectrum
    2-s segments (``2 * fs_hz`` samples) every 1 s from the window's start, each minus its mean, times
    a periodic Hann window, zero-padded to the next power of two ``nfft``; one-sided ``|FFT|^2``. A band
    ``[lo, hi]`` Hz sums the bins with ``lo <= k * fs_hz / nfft <= hi``.
``ksqi``
    Pearson kurtosis ``m4 / m2**2`` of the window (Li, Mark & Clifford 2008: > 5 for a clean ECG).
``psqi``
    ``P[5, 15] / P[5, 40]`` over all segments (QRS share of the ECG band; Zhao & Zhang 2018 call
    0.5-0.8 optimal).
``bassqi``
    ``1 - P[0, 1] / P[0, 40]`` over all segments (baseline; Zhao & Zhang 2018: >= 0.95 optimal,
    < 0.9 unqualified).
``hf``
    Largest, over segments, of ``P[40, fs/2] / P[1, fs/2]`` in that segment (muscle or other
    high-frequency noise; per segment, so a short burst is not averaged away).
``nan_samples``, ``rail_run``, ``flat_run``
    NaN samples (streams only; they are held at the last finite value), the longest run on an ADC
    rail (int16 -32768 or 32767), the longest run within +-``flat_tolerance_mv`` of its first sample
    (int16 input is compared in counts: tolerance x ``gain_per_mv``).

Flags per lead (thresholds in :data:`DEFAULT_THRESHOLDS`, all overridable): ``lead_off`` (any NaN,
or a rail run >= ``lead_off_rail_s``), ``flat`` (a flat run >= ``flat_run_s``), ``saturated`` (a rail
run >= ``saturation_run`` samples), ``wander`` (``bassqi < wander_bassqi``), ``noisy`` (``hf >
noisy_hf``). A lead is *unusable* when it is lead-off, flat, saturated or noisy (wander is reported
but does not count: the model's band-pass removes most of it). **A window is untrusted when more
than** ``max_bad_leads`` **leads are unusable** (default 2: one loose chest electrode is reported
and the diagnosis stands; a loose limb electrode corrupts at least four of I, II, III, aVR, aVL, aVF
and the window is reported as untrusted instead of diagnosed).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Dict, Mapping, Optional, Tuple

import numpy as np

from . import _core
from .modelcard import N_LEADS

LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Columns of :attr:`Quality.indices`.
INDEX_NAMES: Tuple[str, ...] = tuple(_core.QUALITY_INDEX_NAMES)
#: Flag name -> bit of :attr:`Quality.flags`.
FLAGS: Dict[str, int] = dict(_core.QUALITY_FLAGS)
#: The native defaults (see the module docstring).
DEFAULT_THRESHOLDS: Dict[str, float] = dict(_core.QUALITY_THRESHOLDS)
#: Flags that make a lead unusable for diagnosis.
UNUSABLE_FLAGS = ("lead_off", "flat", "saturated", "noisy")
DEFAULT_MAX_BAD_LEADS = 2
_UNUSABLE_MASK = sum(FLAGS[f] for f in UNUSABLE_FLAGS)


@dataclass(frozen=True, eq=False)
class Quality:
    """Per-lead quality of one window.

    Attributes
    ----------
    indices : ndarray of float64, shape (n_leads, 7)
        Columns :data:`INDEX_NAMES`: ksqi, psqi, bassqi, hf, nan_samples, rail_run, flat_run (runs
        in samples).
    flags : ndarray of uint32, shape (n_leads,)
        Bits of :data:`FLAGS` per lead.
    fs_hz : int
    max_bad_leads : int
        The trust rule: the window is trusted while at most this many leads are unusable.
    """

    indices: np.ndarray
    flags: np.ndarray
    fs_hz: int
    max_bad_leads: int = DEFAULT_MAX_BAD_LEADS

    def _leads(self, mask: int) -> Tuple[str, ...]:
        return tuple(LEAD_NAMES[c] for c in range(self.flags.shape[0]) if int(self.flags[c]) & mask)

    def index(self, name: str) -> np.ndarray:
        """One index for every lead, e.g. ``q.index("psqi")``."""
        return self.indices[:, INDEX_NAMES.index(name)]

    @property
    def lead_off(self) -> Tuple[str, ...]:
        return self._leads(FLAGS["lead_off"])

    @property
    def flat(self) -> Tuple[str, ...]:
        return self._leads(FLAGS["flat"])

    @property
    def saturated(self) -> Tuple[str, ...]:
        return self._leads(FLAGS["saturated"])

    @property
    def wander(self) -> Tuple[str, ...]:
        return self._leads(FLAGS["wander"])

    @property
    def noisy(self) -> Tuple[str, ...]:
        return self._leads(FLAGS["noisy"])

    @property
    def unusable_leads(self) -> Tuple[str, ...]:
        """Leads that are lead-off, flat, saturated or noisy."""
        return self._leads(_UNUSABLE_MASK)

    @property
    def trusted(self) -> bool:
        """False when more than :attr:`max_bad_leads` leads are unusable."""
        return len(self.unusable_leads) <= self.max_bad_leads

    @property
    def reason(self) -> str:
        """Why the window is untrusted ("" when trusted)."""
        if self.trusted:
            return ""
        parts = [f"{lead} {'/'.join(self.lead_flags(lead))}" for lead in self.unusable_leads]
        return (f"{len(parts)} leads unusable (more than {self.max_bad_leads}): " + ", ".join(parts))

    def lead_flags(self, lead: str) -> Tuple[str, ...]:
        """Flag names set for one lead, e.g. ``("lead_off", "flat")``."""
        f = int(self.flags[LEAD_NAMES.index(lead)])
        return tuple(name for name, bit in FLAGS.items() if f & bit)

    def to_dict(self) -> dict:
        leads = {}
        for c in range(self.flags.shape[0]):
            d = {k: float(v) for k, v in zip(INDEX_NAMES, self.indices[c])}
            d["flags"] = list(self.lead_flags(LEAD_NAMES[c]))
            leads[LEAD_NAMES[c]] = d
        return {"trusted": self.trusted, "reason": self.reason, "unusable_leads": list(self.unusable_leads),
                "leads": leads}

    def __repr__(self) -> str:
        bad = {name: getattr(self, name) for name in FLAGS if getattr(self, name)}
        return f"Quality(trusted={self.trusted}, {bad or 'no flags'})"


def check_thresholds(thresholds: Optional[Mapping]) -> dict:
    """A thresholds mapping with known keys and positive numbers (messages for people)."""
    if thresholds is None:
        return {}
    out = {}
    for k, v in dict(thresholds).items():
        if k not in DEFAULT_THRESHOLDS:
            raise ValueError(f"unknown quality threshold {k!r}; known: {', '.join(DEFAULT_THRESHOLDS)}")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, Real) or not np.isfinite(v) or v < 0:
            raise ValueError(f"quality threshold {k} must be a non-negative number, got {v!r}")
        out[k] = int(v) if k == "saturation_run" else float(v)
    return out


def check_max_bad_leads(max_bad_leads) -> int:
    if isinstance(max_bad_leads, (bool, np.bool_)) or not isinstance(max_bad_leads, (int, np.integer)) \
            or not 0 <= max_bad_leads <= N_LEADS:
        raise ValueError(f"max_bad_leads must be an integer from 0 to {N_LEADS}, got {max_bad_leads!r}")
    return int(max_bad_leads)


def window_quality(signal, fs_hz, *, gain_per_mv: float = 1000.0, thresholds: Optional[Mapping] = None,
                   max_bad_leads: int = DEFAULT_MAX_BAD_LEADS) -> Quality:
    """Per-lead quality of one 12-lead window (definitions in the module docstring).

    Parameters
    ----------
    signal : array_like, shape (12, n)
        int16 ADC counts (divided by ``gain_per_mv``) or float millivolts, at least 2 s. Float NaN or
        infinite samples are allowed here: they are counted (``nan_samples``, ``lead_off``) and held
        at the lead's last finite value, as :class:`edgecardio.Monitor` does.
    fs_hz : int
        Sampling rate, one of :data:`edgecardio.SUPPORTED_RATES_HZ`.
    gain_per_mv : float
        ADC counts per millivolt of integer input.
    thresholds : mapping, optional
        Overrides of :data:`DEFAULT_THRESHOLDS`.
    max_bad_leads : int
        The trust rule (see :class:`Quality`).

    Returns
    -------
    Quality
    """
    from ._checks import as_native_rows, as_record, check_gain, check_rate

    x = as_record(signal)
    fs = check_rate(fs_hz)
    if x.shape[1] < 2 * fs:
        raise ValueError(f"signal has {x.shape[1]} samples ({x.shape[1] / fs:g} s at {fs} Hz); the quality "
                         f"indices need at least 2 s ({2 * fs} samples)")
    gain_per_mv = check_gain(gain_per_mv)
    thr = check_thresholds(thresholds)
    mbl = check_max_bad_leads(max_bad_leads)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        # Gaps: the stream path holds them and counts them; one window through a stream of one hop.
        sw = _core.StreamWindow(fs, N_LEADS, x.shape[1], x.shape[1], "float64", 1000.0, thr)
        sw.push(np.ascontiguousarray(x, dtype=np.float64), 0)
        idx, flags = sw.quality()
    else:
        x = as_native_rows(x, gain_per_mv if x.dtype.kind in "iu" else 1000.0)
        idx, flags = _core.window_quality(x, fs, float(gain_per_mv), thresholds=thr)
    return Quality(idx, flags, fs, mbl)


__all__ = ["DEFAULT_MAX_BAD_LEADS", "DEFAULT_THRESHOLDS", "FLAGS", "INDEX_NAMES", "Quality", "UNUSABLE_FLAGS",
           "window_quality"]
