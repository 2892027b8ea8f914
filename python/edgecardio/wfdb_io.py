"""The WFDB backend of :func:`edgecardio.read_record`: single-segment records (``.hea`` + ``.dat``), numpy only.

The runtime does not need the ``wfdb`` package. Header syntax: PhysioNet's ``header(5)``; sample
formats: ``signal(5)``. Every uncompressed format is read (8, 16, 24, 32, 61, 80, 160, 212, 310,
311); FLAC (508, 516, 524), multi-segment records and multi-frequency or skewed signals are a clear
:class:`~edgecardio.io.RecordError`. Each error names the file, the signal and the field.

The header's checksums and initial values, when it has them, are checked against the decoded
samples: a header that does not describe its signal file (wrong format, byte offset, sample count)
is an error, not a confident diagnosis of noise. ``verify=False`` skips the check.

    rec = read_wfdb("records500/00000/00001_hr")     # with or without ".hea"
    rec.digital        # ADC counts, int16 (formats of 16 bits or fewer) or int32, shape (n_sig, n)
    rec.invalid        # True where the file holds WFDB's invalid-sample marker (a gap)
    rec.fs_hz, rec.gain_per_mv, rec.sig_names, rec.comments
    rec.physical_mv()  # float64 millivolts (NaN at invalid samples), like wfdb.rdrecord(...).p_signal
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from .io import RecordError

SUPPORTED_FORMATS = (8, 16, 24, 32, 61, 80, 160, 212, 310, 311)
FLAC_FORMATS = (508, 516, 524)
DEFAULT_GAIN = 200.0  # header(5): an ADC gain of 0 or none means 200 adu per physical unit
#: millivolts per physical unit, keyed by the lower-cased units field
UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}
#: bits of one sample; the most negative value of that width is WFDB's invalid-sample marker
_BITS = {8: 8, 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 160: 16, 212: 12, 310: 10, 311: 10}
_MAX_FORMAT_BITS = 16  # formats of at most this width decode to int16

_FMT_RE = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$")
_GAIN_RE = re.compile(r"^(?P<gain>[^(/]*)(?:\((?P<baseline>[^)]*)\))?(?:/(?P<units>.*))?$")


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
    init_value: Optional[int] = None  # the first sample, when the header states it
    checksum: Optional[int] = None  # 16-bit sum of all samples, when the header states it

    @property
    def invalid_marker(self) -> Optional[int]:
        """The value WFDB writes for a missing sample in this format (none for first differences)."""
        return None if self.fmt == 8 else -(1 << (_BITS[self.fmt] - 1))


@dataclass(frozen=True)
class Header:
    path: Path
    name: str
    fs_hz: float
    n_samples: Optional[int]  # None when the record line has no sample count
    signals: Tuple[Signal, ...]
    comments: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Record:
    """One WFDB record as stored: ADC counts plus what it takes to turn them into millivolts."""

    name: str
    fs_hz: float
    digital: np.ndarray  # int16 or int32, shape (n_sig, n_samples)
    signals: Tuple[Signal, ...]
    invalid: np.ndarray = field(default=None)  # bool, shape of digital: WFDB's invalid-sample marker
    comments: Tuple[str, ...] = ()
    path: Optional[Path] = None

    @property
    def sig_names(self) -> List[str]:
        return [s.name for s in self.signals]

    @property
    def gain_per_mv(self) -> np.ndarray:
        """adu per millivolt of each signal (float64, shape (n_sig,))."""
        return np.array([s.adc_gain / unit_to_mv(s.units, self.path, s.name) for s in self.signals])

    @property
    def baseline(self) -> np.ndarray:
        return np.array([s.baseline for s in self.signals], dtype=np.int64)

    def physical_mv(self) -> np.ndarray:
        """Millivolts, float64, shape (n_sig, n_samples); NaN where a sample is invalid."""
        out = (self.digital.astype(np.float64) - self.baseline[:, None]) / self.gain_per_mv[:, None]
        if self.invalid is not None and self.invalid.any():
            out[self.invalid] = np.nan
        return out


def unit_to_mv(units: str, path=None, lead: str = "") -> float:
    """Millivolts per physical unit for a units field; an unknown unit is an error naming the file."""
    try:
        return UNIT_TO_MV[units.strip().lower()]
    except KeyError:
        where = f"{path}: " if path is not None else ""
        raise RecordError(f"{where}lead {lead!r} is in unknown units {units!r}; the model needs a voltage "
                          f"(V, mV, uV, nV)") from None


def header_path(path) -> Path:
    """``record`` or ``record.hea`` -> ``record.hea``."""
    s = os.fspath(path)
    if not str(s).strip():
        raise RecordError("empty record path: pass a WFDB record (with or without .hea)")
    p = Path(s)
    return p if p.suffix == ".hea" else p.with_name(p.name + ".hea")


def _split_comments(text: str) -> Tuple[List[str], List[str]]:
    lines, comments = [], []
    for line in text.splitlines():
        body, hash_, comment = line.partition("#")
        if hash_ and comment.strip():
            comments.append(comment.strip())
        body = body.strip()
        if body:
            lines.append(body)
    return lines, comments


def _int_field(hea, where: str, field_name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RecordError(f"{hea}: {where}: the {field_name} field {text!r} is not an integer") from None


def read_header(path) -> Header:
    """Parse a ``.hea`` file."""
    hea = header_path(path)
    try:
        text = hea.read_text(encoding="latin-1")
    except FileNotFoundError:
        raise FileNotFoundError(f"WFDB header not found: {hea}") from None
    except IsADirectoryError:
        raise RecordError(f"{hea} is a directory, not a WFDB header") from None
    lines, comments = _split_comments(text)
    if not lines:
        raise RecordError(f"{hea}: empty WFDB header (no record line)")
    rec = lines[0].split()
    if "/" in rec[0]:
        raise RecordError(f"{hea}: multi-segment WFDB records are not supported")
    if len(rec) < 2:
        raise RecordError(f"{hea}: the record line needs at least a name and a signal count: {lines[0]!r}")
    n_sig = _int_field(hea, "record line", "signal count", rec[1])
    try:
        # "500", "500/1000" (counter frequency), "500/1000(0)" (base counter)
        fs_hz = float(rec[2].split("/")[0].split("(")[0]) if len(rec) > 2 else 250.0
    except ValueError:
        raise RecordError(f"{hea}: record line: the sampling frequency field {rec[2]!r} is not a number") from None
    n_samples = _int_field(hea, "record line", "sample count", rec[3]) if len(rec) > 3 else None
    if n_sig < 1:
        raise RecordError(f"{hea}: record line: {n_sig} signals; a record needs at least one")
    if not math.isfinite(fs_hz) or fs_hz <= 0:
        raise RecordError(f"{hea}: record line: implausible sampling frequency {rec[2]!r}")
    if n_samples is not None and n_samples < 0:
        raise RecordError(f"{hea}: record line: negative sample count {n_samples}")
    if len(lines) < 1 + n_sig:
        raise RecordError(f"{hea}: declares {n_sig} signals but describes {len(lines) - 1}")
    signals = []
    for i, line in enumerate(lines[1:1 + n_sig]):
        f = line.split(None, 8)
        name = f[8].strip() if len(f) > 8 else f"sig{i}"
        where = f"signal {i + 1} ({name})"
        if len(f) < 2:
            raise RecordError(f"{hea}: {where}: the signal line {line!r} has no format field")
        m = _FMT_RE.match(f[1])
        if not m:
            raise RecordError(f"{hea}: {where}: cannot parse the format field {f[1]!r}")
        fmt = int(m["fmt"])
        if fmt in FLAC_FORMATS:
            raise RecordError(f"{hea}: {where}: FLAC-compressed WFDB (format {fmt}) is not supported; "
                              f"convert the record to format 16 (e.g. wfdb.wrsamp) first")
        if fmt not in SUPPORTED_FORMATS:
            raise RecordError(f"{hea}: {where}: WFDB format {fmt} is not supported (supported: {SUPPORTED_FORMATS})")
        if (m["spf"] and int(m["spf"]) != 1) or (m["skew"] and int(m["skew"]) != 0):
            raise RecordError(f"{hea}: {where}: multi-frequency or skewed signals are not supported ({f[1]!r})")
        gain, baseline, units = DEFAULT_GAIN, None, "mV"
        if len(f) > 2:
            g = _GAIN_RE.match(f[2])
            try:
                gain = float(g["gain"])
            except (TypeError, ValueError):
                raise RecordError(f"{hea}: {where}: the ADC gain field {f[2]!r} is not a number "
                                  f"(expected e.g. 1000, 1000(0)/mV)") from None
            if not math.isfinite(gain):
                raise RecordError(f"{hea}: {where}: the ADC gain field {f[2]!r} is not finite")
            gain = gain or DEFAULT_GAIN
            if g["baseline"] is not None:
                baseline = _int_field(hea, where, "baseline (in the ADC gain field)", g["baseline"])
            if g["units"] is not None:
                units = g["units"] or "mV"
        adc_zero = _int_field(hea, where, "ADC zero", f[4]) if len(f) > 4 else 0
        init_value = _int_field(hea, where, "initial value", f[5]) if len(f) > 5 else None
        checksum = _int_field(hea, where, "checksum", f[6]) if len(f) > 6 else None
        if baseline is None:
            baseline = adc_zero
        signals.append(Signal(f[0], fmt, int(m["offset"] or 0), gain, baseline, units, adc_zero, name,
                              init_value, checksum))
    signs = {np.sign(s.adc_gain) for s in signals}
    if len(signs) > 1:
        neg = [s.name for s in signals if s.adc_gain < 0]
        raise RecordError(f"{hea}: ADC gains mix signs (negative for {neg}): a negative gain would silently "
                          f"invert those leads; fix the header's gain fields")
    return Header(hea, rec[0], fs_hz, n_samples, tuple(signals), tuple(comments))


def _bytes_needed(fmt: int, n_values: int) -> int:
    """Bytes that hold ``n_values`` samples (all signals of one file, interleaved) in ``fmt``."""
    if fmt == 212:
        return (3 * n_values + 1) // 2  # pairs in 3 bytes; a lone last sample in 2
    if fmt in (310, 311):
        groups, rest = divmod(n_values, 3)
        tail = {0: 0, 1: 2, 2: 4 if fmt == 310 else 3}[rest]
        return 4 * groups + tail
    return n_values * {8: 1, 80: 1, 16: 2, 61: 2, 160: 2, 24: 3, 32: 4}[fmt]


def _values_that_fit(fmt: int, n_bytes: int) -> int:
    """The most samples ``n_bytes`` hold in ``fmt`` (for a header without a sample count)."""
    if fmt == 212:
        n = (2 * n_bytes) // 3 + 1
    elif fmt in (310, 311):
        n = (3 * n_bytes) // 4 + 2
    else:
        n = n_bytes // {8: 1, 80: 1, 16: 2, 61: 2, 160: 2, 24: 3, 32: 4}[fmt]
    while n > 0 and _bytes_needed(fmt, n) > n_bytes:
        n -= 1
    return n


def _decode(fmt: int, raw: np.ndarray, n_values: int) -> np.ndarray:
    """Interleaved samples as int32 (format 8: the first differences, summed by the caller)."""
    if fmt == 16:
        return raw[:2 * n_values].view("<i2").astype(np.int32)
    if fmt == 61:
        return raw[:2 * n_values].view(">i2").astype(np.int32)
    if fmt == 160:
        return raw[:2 * n_values].view("<u2").astype(np.int32) - 32768
    if fmt == 32:
        return raw[:4 * n_values].view("<i4").astype(np.int32)
    if fmt == 8:
        return raw[:n_values].view(np.int8).astype(np.int32)
    if fmt == 80:
        return raw[:n_values].astype(np.int32) - 128
    if fmt == 24:
        b = raw[:3 * n_values].reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return np.where(v >= 1 << 23, v - (1 << 24), v)
    if fmt == 212:
        n_pairs = (n_values + 1) // 2
        b = np.zeros(3 * n_pairs, dtype=np.int32)  # an odd count ends with a lone sample in 2 bytes
        b[:min(raw.size, b.size)] = raw[:b.size]
        b = b.reshape(-1, 3)
        out = np.empty(2 * n_pairs, dtype=np.int32)
        out[0::2] = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        out[1::2] = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        out[out > 2047] -= 4096
        return out[:n_values]
    # 310 and 311: three 10-bit samples in four bytes
    n_groups = (n_values + 2) // 3
    b = np.zeros(4 * n_groups, dtype=np.int64)
    b[:min(raw.size, b.size)] = raw[:b.size]
    b = b.reshape(-1, 4)
    out = np.empty(3 * n_groups, dtype=np.int64)
    if fmt == 310:
        # two little-endian 16-bit words; samples 0 and 1 in bits 1-10 of each word, sample 2 split
        # over bits 11-15 of the first (low half) and of the second (high half)
        w0 = b[:, 0] | (b[:, 1] << 8)
        w1 = b[:, 2] | (b[:, 3] << 8)
        out[0::3] = (w0 >> 1) & 0x3FF
        out[1::3] = (w1 >> 1) & 0x3FF
        out[2::3] = ((w0 >> 11) & 0x1F) | (((w1 >> 11) & 0x1F) << 5)
    else:
        # one little-endian 32-bit word; samples in bits 0-9, 10-19, 20-29
        w = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)
        out[0::3] = w & 0x3FF
        out[1::3] = (w >> 10) & 0x3FF
        out[2::3] = (w >> 20) & 0x3FF
    out[out > 511] -= 1024
    return out[:n_values].astype(np.int32)


def read_wfdb(path, *, verify: bool = True) -> Record:
    """Read a WFDB record (path with or without ``.hea``); the ``.dat`` files sit beside the header.

    Parameters
    ----------
    verify : bool
        Check the header's checksums and initial values (when it states them) against the samples.
    """
    hdr = read_header(path)
    hea, signals = hdr.path, hdr.signals
    groups = {}
    for i, s in enumerate(signals):
        groups.setdefault(s.file_name, []).append(i)
    # Sizes first, so a header that promises more samples than its files hold fails before any allocation.
    plan = []
    n_samples = hdr.n_samples
    for file_name, idx in groups.items():
        fmts = {signals[i].fmt for i in idx}
        offsets = {signals[i].byte_offset for i in idx}
        if len(fmts) != 1 or len(offsets) != 1:
            raise RecordError(f"{hea}: signals in {file_name} mix formats or byte offsets")
        fmt, offset = fmts.pop(), offsets.pop()
        dat = hea.parent / file_name  # header(5): the file name is relative to the header's folder
        try:
            size = os.path.getsize(dat)
        except FileNotFoundError:
            raise FileNotFoundError(f"WFDB signal file not found: {dat}") from None
        if offset > size:
            raise RecordError(f"{hea}: the byte offset {offset} (format field of {signals[idx[0]].name!r}) is past "
                              f"the end of {dat} ({size} bytes)")
        if n_samples is None:
            # header(5): without a sample count, the signal file's length says it
            n_samples = _values_that_fit(fmt, size - offset) // len(idx)
            if n_samples == 0:
                raise RecordError(f"{hea}: the record line has no sample count and {dat} holds no samples")
        need = _bytes_needed(fmt, n_samples * len(idx))
        if size - offset < need:
            raise RecordError(f"{dat}: holds {size - offset} bytes after offset {offset}, the header needs {need} "
                              f"({len(idx)} signals x {n_samples} samples, format {fmt})")
        plan.append((dat, idx, fmt, offset, need))
    wide = any(_BITS[s.fmt] > _MAX_FORMAT_BITS for s in signals)
    digital = np.empty((len(signals), n_samples), dtype=np.int32 if wide else np.int16)
    for dat, idx, fmt, offset, need in plan:
        raw = np.fromfile(dat, dtype=np.uint8, count=need, offset=offset)
        values = _decode(fmt, raw, n_samples * len(idx)).reshape(n_samples, len(idx)).T
        if fmt == 8:
            init = np.array([signals[i].init_value or 0 for i in idx], dtype=np.int64)
            values = init[:, None] + np.cumsum(values, axis=1, dtype=np.int64)
        digital[idx] = values
    markers = [s.invalid_marker for s in signals]
    if None in markers:  # first differences have no marker
        invalid = np.zeros(digital.shape, dtype=bool)
        for i, m in enumerate(markers):
            if m is not None:
                invalid[i] = digital[i] == m
    else:
        invalid = digital == np.array(markers, dtype=digital.dtype)[:, None]
    record = Record(hdr.name, hdr.fs_hz, digital, signals, invalid, hdr.comments, hea)
    if verify:
        _verify(record)
    return record


def _verify(rec: Record) -> None:
    """The header's checksums and initial values against the decoded samples."""
    n = rec.digital.shape[1]
    if n == 0:
        return
    sums = rec.digital.sum(axis=1, dtype=np.int64).tolist()
    firsts = rec.digital[:, 0].tolist()
    bad_sum, bad_init, n_sum, n_init = [], [], 0, 0
    for s, total, first in zip(rec.signals, sums, firsts):
        if s.checksum is not None:
            n_sum += 1
            if (total - s.checksum) % 65536:
                bad_sum.append(s.name)
        if s.init_value is not None and s.fmt != 8:
            n_init += 1
            if first != s.init_value:
                bad_init.append(s.name)
    if bad_sum or bad_init:
        parts = []
        if n_sum:
            parts.append(f"checksums match {n_sum - len(bad_sum)} of {n_sum} signals")
        if n_init:
            parts.append(f"initial values match {n_init - len(bad_init)} of {n_init}")
        bad = list(dict.fromkeys(bad_sum + bad_init))
        raise RecordError(f"{rec.path}: the header does not describe its signal file ({', '.join(parts)}; "
                          f"wrong: {bad}): a wrong format, byte offset or sample count would decode noise; "
                          f"fix the header, or read with verify=False (CLI: --no-verify) to decode it anyway")


def read_record(path, *, verify: bool = True) -> Record:
    """Alias of :func:`read_wfdb` (the name this module had before :func:`edgecardio.read_record`)."""
    return read_wfdb(path, verify=verify)
