"""The validating facade of the native signal conditioning.

:func:`preprocess` checks a record, puts it in the layout the native pipeline reads (int16 counts
or float mV, one contiguous row per lead, native byte order) and calls ``edgecardio._core``, which
computes in fixed point what :func:`edgecardio.reference.preprocess_reference` (the float64 scipy
specification) defines. Every error message names the problem and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Optional, Tuple

import numpy as np

from . import _core
from .modelcard import MODEL_FS_HZ, N_LEADS

#: Input rates with generated resampling filters (scipy's resample_poly design for 100/fs_hz).
SUPPORTED_RATES_HZ: Tuple[int, ...] = tuple(_core.supported_rates_hz())
#: The shortest record accepted, in seconds (the classifier reads 10 s).
MIN_DURATION_S = 10
#: Below this standard deviation after the band-pass (mV) a lead is flat: its output is zeros.
FLAT_STD_MV: float = _core.FLAT_STD_MV
#: PTB-XL's ADC gain, counts per mV.
DEFAULT_GAIN_PER_MV = 1000.0
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


def _check_rate(fs_hz) -> int:
    if isinstance(fs_hz, (bool, np.bool_)) or not isinstance(fs_hz, Real):
        raise TypeError(f"fs_hz must be a number of hertz, got {type(fs_hz).__name__} {fs_hz!r}")
    if not float(fs_hz).is_integer() or int(fs_hz) not in SUPPORTED_RATES_HZ:
        raise ValueError(f"unsupported sampling rate fs_hz={fs_hz!r}: supported rates are "
                         f"{', '.join(map(str, SUPPORTED_RATES_HZ))} Hz; resample the record to one of them first")
    return int(fs_hz)


def _as_native_rows(x: np.ndarray, gain_per_mv) -> np.ndarray:
    """int16 counts or float32/float64 mV, native byte order, each row contiguous."""
    kind = x.dtype.kind
    if kind in "iu":
        if x.dtype != np.int16:
            if x.size and (x.min() < -32768 or x.max() > 32767):
                raise ValueError(f"integer signal ({x.dtype}) has values outside the int16 range of ADC counts; "
                                 f"pass int16 counts, or float millivolts")
            x = x.astype(np.int16)
    elif kind == "f":
        if gain_per_mv != DEFAULT_GAIN_PER_MV:
            raise ValueError("gain_per_mv applies to integer ADC counts; a float signal is taken as millivolts "
                             "already: drop gain_per_mv or pass the int16 counts")
        if x.dtype.itemsize < 4:
            x = x.astype(np.float32)
        elif x.dtype.itemsize > 8:
            x = x.astype(np.float64)
        finite = np.isfinite(x)
        if not finite.all():
            lead, idx = np.argwhere(~finite)[0]
            raise ValueError(f"signal has NaN or infinite samples (first at lead {lead}, sample {idx}); "
                             f"repair or drop the record before preprocessing")
    else:
        raise TypeError(f"signal must be int16 ADC counts or float millivolts, got dtype {x.dtype}; "
                        f"convert it with np.asarray(signal, dtype=np.int16) or dtype=np.float32")
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    if x.shape[1] > 1 and x.strides[1] != x.itemsize or x.strides[0] < 0:
        x = np.ascontiguousarray(x)
    return x


def preprocess(signal, fs_hz, *, gain_per_mv: float = DEFAULT_GAIN_PER_MV, duration_s: Optional[float] = None,
               return_info: bool = False, engine: Optional[str] = None):
    """Condition a raw 12-lead ECG for the classifier.

    Resample to 100 Hz, band-pass 0.5-40 Hz (zero phase), z-score each lead: in fixed point, the
    way :func:`edgecardio.reference.preprocess_reference` specifies it in float64.

    Parameters
    ----------
    signal : array_like, shape (12, n_samples)
        int16 ADC counts (see ``gain_per_mv``) or float millivolts, one row per lead in the order
        I, II, III, aVR, aVL, aVF, V1-V6. Any strides and byte order are accepted (copied if needed).
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
        infinite samples, or integer values outside int16.

    Examples
    --------
    >>> y = edgecardio.preprocess(counts_int16, 500)            # (12, 5000) -> (12, 1000)
    >>> y, info = edgecardio.preprocess(mv, 100, return_info=True)
    >>> info.flat_leads
    ()
    """
    x = np.asarray(signal)
    if x.dtype == object or x.dtype.kind in "bcmMSUV":
        raise TypeError(f"signal must be int16 ADC counts or float millivolts, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"signal must be 2-D with shape ({N_LEADS}, n_samples), got shape {x.shape}")
    if x.shape[0] != N_LEADS:
        if x.shape[1] == N_LEADS:
            raise ValueError(f"signal has shape {x.shape}: leads must be rows, shape ({N_LEADS}, n_samples); "
                             f"transpose? pass signal.T")
        raise ValueError(f"signal has {x.shape[0]} leads (shape {x.shape}); a 12-lead ECG with shape "
                         f"({N_LEADS}, n_samples) is expected")
    fs = _check_rate(fs_hz)
    n = x.shape[1]
    if duration_s is not None:
        if isinstance(duration_s, (bool, np.bool_)) or not isinstance(duration_s, Real):
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
    if isinstance(gain_per_mv, (bool, np.bool_)) or not isinstance(gain_per_mv, Real):
        raise TypeError(f"gain_per_mv must be a number, got {gain_per_mv!r}")
    if not np.isfinite(gain_per_mv) or gain_per_mv <= 0:
        raise ValueError(f"gain_per_mv must be positive and finite (ADC counts per mV), got {gain_per_mv!r}")
    x = _as_native_rows(x, gain_per_mv)
    if engine is not None and engine not in engines():
        raise ValueError(f"engine {engine!r} is not available here; choose one of {engines()}")
    y, d = _core.preprocess(x, fs, float(gain_per_mv), engine)
    if not return_info:
        return y
    info = PreprocessInfo(fs_hz=fs, n_out=y.shape[1], engine=d["engine"], flat_leads=tuple(d["flat_leads"]),
                          saturated_leads=tuple(d["saturated_leads"]), lead_std_mv=d["lead_std_mv"])
    return y, info


__all__ = ["DEFAULT_GAIN_PER_MV", "FLAT_STD_MV", "MODEL_FS_HZ", "PreprocessInfo", "SATURATION_RUN", "SUPPORTED_RATES_HZ",
           "engine", "engines", "kernels", "preprocess"]
