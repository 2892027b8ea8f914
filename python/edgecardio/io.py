"""Read 12-lead ECG records from files: WFDB, ``.npy``, EDF/EDF+/BDF and DICOM waveforms.

    rec = edgecardio.read_record("records100/00000/00001_lr")   # WFDB, with or without .hea
    rec.signal          # (12, n) in the model's lead order: int16 counts or float64 mV (NaN = missing)
    rec.fs_hz, rec.gain_per_mv, rec.lead_names, rec.metadata
    rec.predict(classifier)   # Classifier.predict with the record's rate, gain and demographics

Lead names are matched as practitioners write them (``aVR``/``AVR``/``avr``, ``Lead I (Einthoven)``,
``ECG V1``) and reordered to I, II, III, aVR, aVL, aVF, V1-V6; extra leads are ignored. A missing
lead, an unknown unit, an unsupported format or a corrupt file is a :class:`RecordError` (a
``ValueError``) naming the file. EDF needs ``pyedflib`` and DICOM ``pydicom``: ``pip install
'edgecardio[formats]'``.

Missing samples (WFDB's invalid-sample marker, NaN in a float ``.npy``) are kept as NaN in a float
signal: the record is read faithfully, and :meth:`Record.predict` refuses it with a message naming
the file and the leads, as :meth:`Classifier.predict` refuses NaN (the model has no notion of a gap).
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .modelcard import N_LEADS

LEAD_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: file suffix -> reader name
SUFFIXES = {".hea": "wfdb", ".dat": "wfdb", ".npy": "npy", ".edf": "edf", ".bdf": "edf", ".dcm": "dicom"}
DEMOGRAPHICS = ("age", "sex", "height_cm", "weight_kg")
_INSTALL_FORMATS = "pip install 'edgecardio[formats]'"


class RecordError(ValueError):
    """A record that cannot be read or scored as it is (the message names the file and the problem)."""


# ---------------------------------------------------------------- lead names
_LEAD_KEYS = {k.lower(): k for k in LEAD_ORDER}
_LEAD_KEYS.update({"di": "I", "dii": "II", "diii": "III"})  # European "Derivation" names
_LEAD_PREFIX = re.compile(r"^(?:lead|ecg|ekg)(?:[\s_:-]+|(?=[iv]|av))", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)  # an archive spells its leads a handful of ways
def standard_lead(name: str) -> Optional[str]:
    """The standard name of a lead as written in a file (``'AVR'``, ``'Lead aVR'``, ``'ECG V1'``,
    ``'Lead I (Einthoven)'``), or None when it is not one of the 12 leads. A leading ``-`` (an
    inverted lead, e.g. ``-aVR``) is not the lead."""
    s = re.sub(r"\(.*?\)", "", str(name)).strip()
    s = _LEAD_PREFIX.sub("", s)
    s = re.sub(r"[\s_]+", "", s).lower()
    return _LEAD_KEYS.get(s)


def lead_order(names: Sequence[str], path="") -> List[int]:
    """Indices into ``names`` that give the leads I, II, III, aVR, aVL, aVF, V1-V6."""
    found: Dict[str, int] = {}
    for i, n in enumerate(names):
        std = standard_lead(n)
        if std is None:
            continue
        if std in found:
            raise RecordError(f"{path}: two signals are lead {std}: {names[found[std]]!r} and {n!r}")
        found[std] = i
    missing = [lead for lead in LEAD_ORDER if lead not in found]
    if missing:
        raise RecordError(f"{path}: no lead {', '.join(missing)} among the signals {list(names)}; the model needs "
                          f"I, II, III, aVR, aVL, aVF, V1-V6")
    return [found[lead] for lead in LEAD_ORDER]


# ---------------------------------------------------------------- the record
@dataclass(frozen=True)
class Record:
    """One 12-lead record read from a file.

    Attributes
    ----------
    path : str
        The file as given.
    signal : numpy.ndarray, shape (12, n)
        Leads I, II, III, aVR, aVL, aVF, V1-V6: int16 ADC counts (``gain_per_mv`` per mV) when the
        file stores counts with one gain and no offset, else float64 millivolts, NaN where a sample
        is missing.
    fs_hz : float
    gain_per_mv : float or None
        ADC counts per mV of an int16 ``signal``; None when ``signal`` is float millivolts.
    lead_names : tuple of str
        The names the file gives the 12 leads, in ``signal`` order.
    format : str
        ``wfdb``, ``npy``, ``edf`` or ``dicom``.
    metadata : dict
        ``age``, ``sex``, ``height_cm``, ``weight_kg`` when the file has them; ``signals``, every
        signal name in the file (extra leads included); what else the format carries (e.g.
        ``comments`` of a WFDB header).
    """

    path: str
    signal: np.ndarray
    fs_hz: float
    gain_per_mv: Optional[float]
    lead_names: Tuple[str, ...]
    format: str
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def n_missing(self) -> int:
        """Samples that are missing (NaN) in ``signal``."""
        return 0 if self.signal.dtype.kind != "f" else int(np.count_nonzero(np.isnan(self.signal)))

    @property
    def demographics(self) -> Dict[str, Any]:
        """``age``, ``sex``, ``height_cm``, ``weight_kg`` found in the file (None when absent)."""
        return {k: self.metadata.get(k) for k in DEMOGRAPHICS}

    def check_complete(self) -> None:
        """Raise :class:`RecordError` when samples are missing (the model cannot score a gap)."""
        if self.signal.dtype.kind == "f":
            gaps = ~np.isfinite(self.signal)
            if gaps.any():
                leads = [LEAD_ORDER[i] for i in np.flatnonzero(gaps.any(axis=1))]
                raise RecordError(f"{self.path}: {int(gaps.sum())} samples are missing (invalid-sample markers or "
                                  f"NaN) in leads {', '.join(leads)}; the model cannot score a record with gaps")

    def predict(self, classifier, **demographics):
        """``classifier.predict`` on this record: its rate and gain, and its demographics unless
        given here (a value of None given here means unknown)."""
        self.check_complete()
        demo = {**self.demographics, **demographics}
        gain = 1000.0 if self.gain_per_mv is None else self.gain_per_mv
        return classifier.predict(self.signal, self.fs_hz, gain_per_mv=gain, **demo)


def _finish(path, digital_or_mv: np.ndarray, fs_hz: float, gain_per_mv: Optional[float], names, fmt: str,
            metadata: Mapping) -> Record:
    order = lead_order(names, path)
    sig = digital_or_mv[order]
    return Record(str(path), sig, float(fs_hz), gain_per_mv, tuple(names[i] for i in order), fmt, dict(metadata))


# ---------------------------------------------------------------- readers
def read_record(path, *, fs_hz: Optional[float] = None, gain_per_mv: Optional[float] = None,
                verify: bool = True) -> Record:
    """Read one 12-lead record; the format follows from the suffix.

    Parameters
    ----------
    path : str or os.PathLike
        A WFDB record (``.hea``, ``.dat`` or no suffix), ``.npy`` (``(12, n)``, leads in the model's
        order), ``.edf``/``.bdf`` (EDF, EDF+, BDF) or ``.dcm`` (DICOM 12-lead ECG waveform).
    fs_hz : float, optional
        The sampling rate of a ``.npy`` record (required there); for other formats, when given, it
        must agree with the file.
    gain_per_mv : float, optional
        ADC counts per mV of an integer ``.npy`` record (default 1000). Other formats carry theirs.
    verify : bool
        WFDB: check the header's checksums and initial values against the samples.

    Returns
    -------
    Record

    Raises
    ------
    RecordError
        A corrupt or unsupported file, a missing lead, an unknown unit (the message names the file).
    FileNotFoundError
    ImportError
        EDF or DICOM without their optional package (the message says which extra to install).
    """
    if isinstance(path, (bytes, bytearray)):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not str(text).strip():
        raise RecordError("empty record path")
    p = Path(text)
    kind = SUFFIXES.get(p.suffix.lower(), "wfdb")
    if kind != "npy" and gain_per_mv is not None:
        raise RecordError(f"{path}: gain_per_mv applies to .npy records; this file states its own gains")
    if kind == "wfdb":
        rec = _read_wfdb(p, verify)
    elif kind == "npy":
        rec = _read_npy(p, fs_hz, gain_per_mv)
    elif kind == "edf":
        rec = _read_edf(p)
    else:
        rec = _read_dicom(p)
    if fs_hz is not None and kind != "npy" and float(fs_hz) != rec.fs_hz:
        raise RecordError(f"{path}: fs_hz {fs_hz:g} contradicts the file's {rec.fs_hz:g} Hz")
    return rec


def _read_wfdb(p: Path, verify: bool) -> Record:
    from . import wfdb_io

    if p.suffix.lower() == ".dat":
        p = p.with_suffix("")
    hea = wfdb_io.header_path(p)
    try:
        w = wfdb_io.read_wfdb(hea, verify=verify)
    except FileNotFoundError as e:
        if str(hea) not in str(e):
            raise  # the header is there, a signal file is not
        raise FileNotFoundError(f"record not found: {p} (expected a WFDB header {hea}, or a .npy, .edf, .bdf "
                                f"or .dcm file)") from None
    order = lead_order(w.sig_names, hea)
    digital, invalid = w.digital[order], w.invalid[order]
    gains = w.gain_per_mv[order]
    baselines = w.baseline[order]
    names = tuple(w.sig_names[i] for i in order)
    meta: Dict[str, Any] = _comment_metadata(w.comments)
    meta["comments"] = list(w.comments)
    meta["signals"] = list(w.sig_names)
    if (np.all(gains == gains[0]) and gains[0] > 0 and not baselines.any() and not invalid.any()
            and digital.dtype == np.int16):
        # The common case (PTB-XL): raw counts and one gain, straight into the fixed-point path.
        return Record(str(p), digital, w.fs_hz, float(gains[0]), names, "wfdb", meta)
    mv = (digital.astype(np.float64) - baselines[:, None]) / gains[:, None]
    mv[invalid] = np.nan
    return Record(str(p), mv, w.fs_hz, None, names, "wfdb", meta)


_AGE_KEYS, _SEX_KEYS = ("age",), ("sex", "gender")


def _comment_metadata(comments: Sequence[str]) -> Dict[str, Any]:
    """Demographics from ``key: value`` header comments (``# Age: 62``, ``# <sex>: M``)."""
    out: Dict[str, Any] = {}
    for c in comments:
        key, sep, value = c.partition(":")
        if not sep:
            continue
        key = key.strip().strip("<>").strip().lower()
        value = value.strip()
        if key in _AGE_KEYS and "age" not in out:
            out["age"] = _number(value)
        elif key in _SEX_KEYS and "sex" not in out:
            out["sex"] = parse_sex(value)
    return {k: v for k, v in out.items() if v is not None}


def _number(text) -> Optional[float]:
    try:
        v = float(str(text).strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_sex(value) -> Optional[str]:
    """``'M'``, ``'male'``, ``'F'``, ``'Female'``... -> ``'male'``/``'female'``; anything else -> None."""
    s = str(value).strip().lower()
    return {"m": "male", "male": "male", "f": "female", "female": "female"}.get(s)


def _read_npy(p: Path, fs_hz, gain_per_mv) -> Record:
    if fs_hz is None:
        raise RecordError(f"{p}: a .npy record needs its sampling rate (fs_hz=..., CLI --fs-hz, or an fs_hz "
                          f"column in the manifest)")
    try:
        x = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"record not found: {p}") from None
    except IsADirectoryError:
        raise RecordError(f"{p} is a directory, not a .npy file") from None
    except EOFError:
        raise RecordError(f"{p}: empty .npy file") from None
    except (ValueError, OSError) as e:
        raise RecordError(f"{p}: not a readable .npy array ({e})") from None
    if not isinstance(x, np.ndarray):
        raise RecordError(f"{p}: holds several arrays (.npz?); save one (12, n) array with np.save")
    if x.dtype.kind not in "iuf" or x.dtype.names:
        raise RecordError(f"{p}: dtype {x.dtype}; a record is int16 ADC counts or float millivolts")
    if x.ndim != 2 or x.shape[0] != N_LEADS:
        hint = "; leads must be rows: save signal.T" if x.ndim == 2 and x.shape[1] == N_LEADS else ""
        raise RecordError(f"{p}: shape {x.shape}; a 12-lead record is ({N_LEADS}, n_samples), leads in the order "
                          f"I, II, III, aVR, aVL, aVF, V1-V6{hint}")
    if x.shape[1] == 0:
        raise RecordError(f"{p}: holds no samples")
    if x.dtype.kind in "iu":
        if x.min() < -32768 or x.max() > 32767:
            raise RecordError(f"{p}: integer values outside int16; save int16 ADC counts or float millivolts")
        gain = 1000.0 if gain_per_mv is None else float(gain_per_mv)
        if not math.isfinite(gain) or gain <= 0:
            raise RecordError(f"{p}: gain_per_mv must be positive and finite, got {gain_per_mv!r}")
        return Record(str(p), x.astype(np.int16, copy=False), float(fs_hz), gain, LEAD_ORDER, "npy", {})
    if gain_per_mv is not None:
        raise RecordError(f"{p}: float samples are taken as millivolts; gain_per_mv applies to integer counts")
    return Record(str(p), x.astype(np.float64, copy=False), float(fs_hz), None, LEAD_ORDER, "npy", {})


def _require(module: str, what: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"reading {what} needs {module}: {_INSTALL_FORMATS}") from None


def _read_edf(p: Path) -> Record:
    pyedflib = _require("pyedflib", "EDF/BDF files")
    if not p.is_file():
        raise FileNotFoundError(f"record not found: {p}")
    try:
        f = pyedflib.EdfReader(str(p))
    except OSError as e:
        raise RecordError(f"{p}: not a readable EDF/BDF file ({e})") from None
    try:
        labels = [s.strip() for s in f.getSignalLabels()]
        order = lead_order(labels, p)
        rates = [float(f.getSampleFrequency(i)) for i in order]
        if len(set(rates)) != 1:
            raise RecordError(f"{p}: the 12 leads have different sampling rates {sorted(set(rates))}")
        lengths = {int(f.getNSamples()[i]) for i in order}
        if len(lengths) != 1:
            raise RecordError(f"{p}: the 12 leads have different lengths {sorted(lengths)}")
        mv = np.empty((N_LEADS, lengths.pop()), dtype=np.float64)
        for row, i in enumerate(order):
            scale = _unit_to_mv(f.getPhysicalDimension(i), p, labels[i])
            mv[row] = f.readSignal(i, digital=False) * scale
        meta = _edf_metadata(f)
        meta["signals"] = labels
    finally:
        f.close()
    names = tuple(labels[i] for i in order)
    return Record(str(p), mv, rates[0], None, names, "edf", meta)


def _unit_to_mv(units: str, path, lead: str) -> float:
    from .wfdb_io import unit_to_mv

    return unit_to_mv(units, path, lead)


def _edf_metadata(f) -> Dict[str, Any]:
    meta: Dict[str, Any] = {}
    try:
        sex = f.getSex() if hasattr(f, "getSex") else f.getGender()
        if parse_sex(sex):
            meta["sex"] = parse_sex(sex)
    except Exception:  # noqa: BLE001  optional header fields; absent or malformed means unknown
        pass
    try:
        import datetime as dt

        birth = f.getBirthdate(string=False)
        start = f.getStartdatetime()
        if isinstance(birth, dt.datetime) and isinstance(start, dt.datetime):
            years = start.year - birth.year - ((start.month, start.day) < (birth.month, birth.day))
            if 0 <= years < 130:
                meta["age"] = float(years)
    except Exception:  # noqa: BLE001
        pass
    return meta


def _read_dicom(p: Path) -> Record:
    pydicom = _require("pydicom", "DICOM files")
    if not p.is_file():
        raise FileNotFoundError(f"record not found: {p}")
    try:
        ds = pydicom.dcmread(str(p))
    except Exception as e:  # noqa: BLE001  pydicom raises many types for a broken file
        raise RecordError(f"{p}: not a readable DICOM file ({type(e).__name__}: {e})") from None
    groups = getattr(ds, "WaveformSequence", None)
    if not groups:
        raise RecordError(f"{p}: a DICOM file without a waveform (WaveformSequence); not an ECG")
    chosen, problems = None, []
    for gi, g in enumerate(groups):
        names = [_dicom_channel_name(ch) for ch in getattr(g, "ChannelDefinitionSequence", [])]
        try:
            order = lead_order(names, p)
        except RecordError as e:
            problems.append(str(e))
            continue
        n = int(getattr(g, "NumberOfWaveformSamples", 0))
        if chosen is None or n > chosen[2]:  # the rhythm strip, not a median beat, when both are there
            chosen = (gi, names, n, order)
    if chosen is None:
        raise RecordError(problems[0] if problems else f"{p}: no 12-lead waveform")
    gi, names, n, order = chosen
    g = groups[gi]
    try:
        values = np.asarray(ds.waveform_array(gi), dtype=np.float64)  # (n, channels), sensitivity applied
    except Exception as e:  # noqa: BLE001
        raise RecordError(f"{p}: cannot decode waveform group {gi} ({type(e).__name__}: {e})") from None
    chans = g.ChannelDefinitionSequence
    mv = np.empty((N_LEADS, values.shape[0]), dtype=np.float64)
    for row, i in enumerate(order):
        units_seq = getattr(chans[i], "ChannelSensitivityUnitsSequence", None)
        if not units_seq:
            raise RecordError(f"{p}: channel {names[i]!r} states no units (ChannelSensitivityUnitsSequence); "
                              f"its values cannot be taken as a voltage")
        units = units_seq[0].CodeValue
        mv[row] = values[:, i] * _unit_to_mv(units, p, names[i])
    meta: Dict[str, Any] = {"signals": names}
    age = str(getattr(ds, "PatientAge", "") or "")
    m = re.fullmatch(r"(\d{1,3})([YMWD])", age.strip())
    if m:
        meta["age"] = float(m[1]) / {"Y": 1, "M": 12, "W": 52.1775, "D": 365.25}[m[2]]
    if parse_sex(getattr(ds, "PatientSex", "")):
        meta["sex"] = parse_sex(ds.PatientSex)
    size_m, weight = _number(getattr(ds, "PatientSize", "")), _number(getattr(ds, "PatientWeight", ""))
    if size_m:
        meta["height_cm"] = 100.0 * size_m
    if weight:
        meta["weight_kg"] = weight
    fs = float(g.SamplingFrequency)
    return Record(str(p), mv, fs, None, tuple(names[i] for i in order), "dicom", meta)


def _dicom_channel_name(ch) -> str:
    src = getattr(ch, "ChannelSourceSequence", None)
    if src:
        return str(getattr(src[0], "CodeMeaning", "") or getattr(src[0], "CodeValue", ""))
    return str(getattr(ch, "ChannelLabel", ""))
