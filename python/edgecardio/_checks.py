"""The record checks that :func:`edgecardio.preprocess` and :class:`edgecardio.Classifier` share.

One place for each rule, so both accept and reject the same records with the same words, and what
reaches ``edgecardio._core`` is always in the layout it reads.
"""
from __future__ import annotations

from numbers import Real
from typing import Tuple

import numpy as np

from . import _core
from .modelcard import N_LEADS

#: Input rates with generated resampling filters (scipy's resample_poly design for 100/fs_hz).
SUPPORTED_RATES_HZ: Tuple[int, ...] = tuple(_core.supported_rates_hz())
#: PTB-XL's ADC gain, counts per mV.
DEFAULT_GAIN_PER_MV = 1000.0


def is_number(value) -> bool:
    """A real number that is not a bool (``True`` as a rate or gain is a mistake, not 1)."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def check_rate(fs_hz) -> int:
    if not is_number(fs_hz):
        raise TypeError(f"fs_hz must be a number of hertz, got {type(fs_hz).__name__} {fs_hz!r}")
    if not float(fs_hz).is_integer() or int(fs_hz) not in SUPPORTED_RATES_HZ:
        raise ValueError(f"unsupported sampling rate fs_hz={fs_hz!r}: supported rates are "
                         f"{', '.join(map(str, SUPPORTED_RATES_HZ))} Hz; resample the record to one of them first")
    return int(fs_hz)


def check_gain(gain_per_mv) -> float:
    if not is_number(gain_per_mv):
        raise TypeError(f"gain_per_mv must be a number, got {gain_per_mv!r}")
    if not np.isfinite(gain_per_mv) or gain_per_mv <= 0:
        raise ValueError(f"gain_per_mv must be positive and finite (ADC counts per mV), got {gain_per_mv!r}")
    return float(gain_per_mv)


def as_record(signal) -> np.ndarray:
    """``signal`` as a numeric ``(12, n)`` array, or an exception naming what is wrong with it."""
    if isinstance(signal, np.ma.MaskedArray):
        # np.asarray would drop the mask and process the hidden samples as if they were signal.
        masked = np.ma.getmaskarray(signal)
        if masked.any():
            raise ValueError(f"signal is a masked array with {int(masked.sum())} masked samples; the native code "
                             f"cannot skip samples: fill them (signal.filled(value)) or drop the record")
        signal = signal.data
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
    return x


def as_native_rows(x: np.ndarray, gain_per_mv) -> np.ndarray:
    """int16 counts or float32/float64 mV, native byte order, each row contiguous and rows apart.

    The native code reads row ``c`` at ``c * row_stride``; a stride below one row (a broadcast lead,
    a sliding-window view) would make rows overlap, so such an array is copied.
    """
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
    row_bytes = x.shape[1] * x.itemsize
    if x.shape[1] > 1 and x.strides[1] != x.itemsize or x.strides[0] < row_bytes:
        x = np.ascontiguousarray(x)
    return x
