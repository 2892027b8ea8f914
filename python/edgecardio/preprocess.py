"""The validating facade of the native signal conditioning.

:func:`preprocess` checks a record, puts it in the layout the native pipeline reads (int16 counts
or float mV, one contiguous row per lead, native byte order) and calls ``edgecardio._core``, which
computes in fixed point what :func:`edgecardio.reference.preprocess_reference` (the float64 scipy
specification) defines. Every error message names the problem and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from . import _core
from ._checks import DEFAULT_GAIN_PER_MV, SUPPORTED_RATES_HZ, as_native_rows, as_record, check_gain, check_rate, is_number
from .modelcard import MODEL_FS_HZ

#: The shortest record accepted, in seconds (the classifier reads 10 s).
MIN_DURATION_S = 10
#: Below this standard deviation after the band-pass (mV) a lead is flat: its output is zeros.
FLAT_STD_MV: float = _core.FLAT_STD_MV
#: This many consecutive int16 samples on a rail (-32768 or 32767, either) mark a lead as saturated.
SATURATION_RUN: int = _core.SATURATION_RUN


@dataclass(frozen=True)
class PreprocessInfo:
    """What :func:`preprocess` found besides the output array.

    Attributes
    ----------
    fs_hz : int
        Input sampling rate.
    n_out : int
        Samples per lead in the output (at 100 Hz).
    engine : str
        Kernel engine that ran (see :func:`engine`).
    flat_leads : tuple of int
        Leads whose standard deviation after the band-pass was below :data:`FLAT_STD_MV` mV; their
        output rows are zeros.
    saturated_leads : tuple of int
        int16 leads with :data:`SATURATION_RUN` or more consecutive samples on a rail (-32768 or
        32767; ADC clipping).
        They are processed normally; the caller decides whether to trust them.
    lead_std_mv : ndarray of float64, shape (n_leads,)
        Standard deviation of each lead after the band-pass, in mV.
    """

    fs_hz: int
    n_out: int
    engine: str
    flat_leads: Tuple[int, ...]
    saturated_leads: Tuple[int, ...]
    lead_std_mv: np.ndarray


def engine() -> str:
    """Name of the kernel engine :func:`preprocess` uses: ``"avx512"``, ``"avx2"``, ``"neon"`` or ``"scalar"``.

    The best engine the CPU supports is chosen once per process; set the environment variable
    ``EDGECARDIO_FORCE_SCALAR=1`` before import to force the portable scalar kernels.
    """
    return _core.engine()


def engines() -> Tuple[str, ...]:
    """Every engine compiled in and supported by this CPU, scalar first. All give identical bits."""
    return tuple(_core.engines())


def kernels() -> Tuple[str, ...]:
    """Names of the fixed-point kernel variants available here, ``<op>_<form>_<format>_<isa>``."""
    return tuple(dict.fromkeys(name for name, _ in _core.kernels()))  # engines may share a variant


def preprocess(signal, fs_hz, *, gain_per_mv: float = DEFAULT_GAIN_PER_MV, duration_s: Optional[float] = None,
               return_info: bool = False, engine: Optional[str] = None):
    """Condition a raw 12-lead ECG for the classifier.

    Resample to 100 Hz, band-pass 0.5-40 Hz (zero phase), z-score each lead: in fixed point, the
    way :func:`edgecardio.reference.preprocess_reference` specifies it in float64.

    Parameters
    ----------
    signal : array_like, shape (12, n_samples)
        int16 ADC counts (see ``gain_per_mv``) or float millivolts, one row per lead in the order
        I, II, III, aVR, aVL, aVF, V1-V6. Any strides (broadcast and overlapping rows included) and
        byte order are accepted (copied if needed).
    fs_hz : int
        Sampling rate, one of :data:`SUPPORTED_RATES_HZ`.
    gain_per_mv : float, optional
        ADC counts per millivolt of an integer signal; default 1000 (PTB-XL). It only decides which
        leads count as flat. Float input is in mV already: another value with it is an error.
    duration_s : float, optional
        Use only the first ``duration_s`` seconds (at least 10). The classifier reads exactly
        1000 samples: pass ``duration_s=10`` for longer records. Default: the whole record.
    return_info : bool
        Also return a :class:`PreprocessInfo` (flat and saturated leads, engine).
    engine : str, optional
        Force a kernel engine from :func:`engines` (all give the same bits); default :func:`engine`.

    Returns
    -------
    y : ndarray of float32, shape (12, ceil(n_samples * 100 / fs_hz))
        Zero-mean, unit-variance leads at 100 Hz; flat leads are zeros.
    info : PreprocessInfo
        Only when ``return_info`` is true.

    Raises
    ------
    TypeError
        For a non-numeric signal or a non-numeric ``fs_hz``.
    ValueError
        For a wrong shape or lead count, a record shorter than 10 s, an unsupported rate, NaN or
        infinite samples, integer values outside int16, or a masked array with masked samples
        (fill them first; a mask that hides nothing is ignored).

    Examples
    --------
    >>> y = edgecardio.preprocess(counts_int16, 500)            # (12, 5000) -> (12, 1000)
    >>> y, info = edgecardio.preprocess(mv, 100, return_info=True)
    >>> info.flat_leads
    ()
    """
    x = as_record(signal)
    fs = check_rate(fs_hz)
    n = x.shape[1]
    if duration_s is not None:
        if not is_number(duration_s):
            raise TypeError(f"duration_s must be a number of seconds, got {duration_s!r}")
        keep = duration_s * fs
        if not float(keep).is_integer() or duration_s < MIN_DURATION_S:
            raise ValueError(f"duration_s={duration_s!r} must be at least {MIN_DURATION_S} s and a whole number "
                             f"of samples at {fs} Hz")
        keep = int(keep)
        if n < keep:
            raise ValueError(f"record has {n} samples ({n / fs:g} s at {fs} Hz), fewer than duration_s={duration_s:g} s")
        x = x[:, :keep]
        n = keep
    if n < MIN_DURATION_S * fs:
        raise ValueError(f"record too short: {n} samples is {n / fs:g} s at {fs} Hz, at least {MIN_DURATION_S} s "
                         f"({MIN_DURATION_S * fs} samples) are needed; check fs_hz, or pad/record longer")
    gain = check_gain(gain_per_mv)
    x = as_native_rows(x, gain)
    if engine is not None and engine not in engines():
        raise ValueError(f"engine {engine!r} is not available here; choose one of {engines()}")
    y, d = _core.preprocess(x, fs, gain, engine)
    if not return_info:
        return y
    info = PreprocessInfo(fs_hz=fs, n_out=y.shape[1], engine=d["engine"], flat_leads=tuple(d["flat_leads"]),
                          saturated_leads=tuple(d["saturated_leads"]), lead_std_mv=d["lead_std_mv"])
    return y, info


__all__ = ["DEFAULT_GAIN_PER_MV", "FLAT_STD_MV", "MODEL_FS_HZ", "PreprocessInfo", "SATURATION_RUN", "SUPPORTED_RATES_HZ",
           "engine", "engines", "kernels", "preprocess"]
