"""A small reader of single-segment WFDB records (``.hea`` + format 16 or 212 ``.dat``), numpy only.

Enough for PTB-XL and most 12-lead ECG archives, so the runtime does not need the ``wfdb`` package.
Header syntax: PhysioNet's ``header(5)``; what is not supported (multi-segment records, other
formats, signals split over several files with different formats) is a clear ``ValueError``.

    rec = read_record("records500/00000/00001_hr")     # with or without ".hea"
    rec.digital        # int16 ADC counts, shape (n_sig, n)
    rec.fs_hz, rec.gain_per_mv, rec.sig_names
    rec.physical_mv()  # float64 millivolts, like wfdb.rdrecord(...).p_signal
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import numpy as np

SUPPORTED_FORMATS = (16, 212)
DEFAULT_GAIN = 200.0  # header(5): an ADC gain of 0 or none means 200 adu per physical unit
#: adu per mV = adu per unit x this
_UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3, "nv": 1e-6}

_FMT_RE = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_GAIN_RE = re.compile(r"^(?P<gain>[-+0-9.eE]+)(?:\((?P<baseline>[-+]?\d+)\))?(?:/(?P<units>\S+))?$")


@dataclass(frozen=True)
class Signal:
    file_name: str
    fmt: int
    byte_offset: int
    adc_gain: float  # adu per physical unit
    baseline: int  # adu that map to 0 physical units
    units: str
    adc_zero: int
    name: str


@dataclass(frozen=True)
class Record:
    """One WFDB record as stored: ADC counts plus what it takes to turn them into millivolts."""

    name: str
    fs_hz: float
    digital: np.ndarray  # int16 or int32 (format 212 fits int16), shape (n_sig, n_samples)
    signals: Tuple[Signal, ...]

    @property
    def sig_names(self) -> List[str]:
        return [s.name for s in self.signals]

    @property
    def gain_per_mv(self) -> np.ndarray:
        """adu per millivolt of each signal (float64, shape (n_sig,))."""
        return np.array([s.adc_gain / _UNIT_TO_MV.get(s.units.lower(), 1.0) for s in self.signals])

    @property
    def baseline(self) -> np.ndarray:
        return np.array([s.baseline for s in self.signals], dtype=np.int64)

    def physical_mv(self) -> np.ndarray:
        """Millivolts, float64, shape (n_sig, n_samples)."""
        return (self.digital.astype(np.float64) - self.baseline[:, None]) / self.gain_per_mv[:, None]


def header_path(path) -> Path:
    """``record`` or ``record.hea`` -> ``record.hea``."""
    p = Path(os.fspath(path))
    return p if p.suffix == ".hea" else p.with_name(p.name + ".hea")


def _lines(text: str) -> List[str]:
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def read_header(path) -> Tuple[str, float, int, Tuple[Signal, ...]]:
    """Parse a ``.hea`` file: (record name, fs_hz, n_samples, signals)."""
    hea = header_path(path)
    try:
        lines = _lines(hea.read_text(encoding="latin-1"))
    except FileNotFoundError:
        raise FileNotFoundError(f"WFDB header not found: {hea}") from None
    if not lines:
        raise ValueError(f"{hea}: empty WFDB header")
    rec = lines[0].split()
    if "/" in rec[0]:
        raise ValueError(f"{hea}: multi-segment WFDB records are not supported")
    if len(rec) < 2:
        raise ValueError(f"{hea}: the record line needs at least a name and a signal count: {lines[0]!r}")
    try:
        n_sig = int(rec[1])
        fs_hz = float(rec[2].split("/")[0]) if len(rec) > 2 else 250.0
        n_samples = int(rec[3]) if len(rec) > 3 else 0
    except ValueError:
        raise ValueError(f"{hea}: cannot parse the record line {lines[0]!r}") from None
    if n_sig < 1 or fs_hz <= 0 or n_samples < 0:
        raise ValueError(f"{hea}: implausible record line {lines[0]!r}")
    if len(lines) < 1 + n_sig:
        raise ValueError(f"{hea}: declares {n_sig} signals but describes {len(lines) - 1}")
    signals = []
    for line in lines[1:1 + n_sig]:
        f = line.split(None, 8)
        if len(f) < 2:
            raise ValueError(f"{hea}: cannot parse the signal line {line!r}")
        m = _FMT_RE.match(f[1])
        if not m:
            raise ValueError(f"{hea}: cannot parse the format field {f[1]!r}")
        fmt = int(m["fmt"])
        if fmt not in SUPPORTED_FORMATS:
            raise ValueError(f"{hea}: WFDB format {fmt} is not supported (only {SUPPORTED_FORMATS})")
        if (m["spf"] and int(m["spf"]) != 1) or (m["skew"] and int(m["skew"]) != 0):
            raise ValueError(f"{hea}: multi-frequency or skewed signals are not supported ({f[1]!r})")
        gain, baseline, units = DEFAULT_GAIN, None, "mV"
        if len(f) > 2:
            g = _GAIN_RE.match(f[2])
            if not g:
                raise ValueError(f"{hea}: cannot parse the ADC gain field {f[2]!r}")
            gain = float(g["gain"]) or DEFAULT_GAIN
            baseline = int(g["baseline"]) if g["baseline"] is not None else None
            units = g["units"] or "mV"
        adc_zero = int(f[4]) if len(f) > 4 else 0
        if baseline is None:
            baseline = adc_zero
        name = f[8].strip() if len(f) > 8 else f"sig{len(signals)}"
        signals.append(Signal(f[0], fmt, int(m["offset"] or 0), gain, baseline, units, adc_zero, name))
    return rec[0], fs_hz, n_samples, tuple(signals)


def _decode_212(raw: np.ndarray, n_values: int) -> np.ndarray:
    """Format 212: two 12-bit two's-complement samples in three bytes."""
    n_pairs = (n_values + 1) // 2
    b = np.zeros(3 * n_pairs, dtype=np.int16)  # an odd count ends with a lone sample in 2 bytes
    b[:min(raw.size, b.size)] = raw[:b.size]
    b = b.reshape(-1, 3)
    out = np.empty(2 * len(b), dtype=np.int16)
    out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
    out[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
    out[out > 2047] -= 4096
    return out[:n_values]


def read_record(path) -> Record:
    """Read a WFDB record (path with or without ``.hea``); the ``.dat`` files sit beside the header."""
    hea = header_path(path)
    name, fs_hz, n_samples, signals = read_header(hea)
    groups = {}
    for i, s in enumerate(signals):
        groups.setdefault(s.file_name, []).append(i)
    digital = np.empty((len(signals), n_samples), dtype=np.int16)
    for file_name, idx in groups.items():
        fmts = {signals[i].fmt for i in idx}
        offsets = {signals[i].byte_offset for i in idx}
        if len(fmts) != 1 or len(offsets) != 1:
            raise ValueError(f"{hea}: signals in {file_name} mix formats or byte offsets")
        fmt, offset = fmts.pop(), offsets.pop()
        dat = hea.with_name(file_name)
        try:
            raw = np.fromfile(dat, dtype=np.uint8, offset=offset)
        except FileNotFoundError:
            raise FileNotFoundError(f"WFDB signal file not found: {dat}") from None
        n_values = n_samples * len(idx)
        need = 2 * n_values if fmt == 16 else (3 * n_values + 1) // 2
        if raw.size < need:
            raise ValueError(f"{dat}: holds {raw.size} bytes, the header needs {need} "
                             f"({len(idx)} signals x {n_samples} samples, format {fmt})")
        values = raw[:need].view("<i2") if fmt == 16 else _decode_212(raw, n_values)
        digital[idx] = values.reshape(n_samples, len(idx)).T
    return Record(name, fs_hz, digital, signals)
