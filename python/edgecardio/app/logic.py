"""Everything the app computes, without Streamlit: reading records, diagnosing, explaining, drawing.

The Streamlit page (:mod:`edgecardio.app.page`) only lays these out, so they can be tested and reused
(the PNG report is the same figure code as the page).
"""
from __future__ import annotations

import io
import json
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

import edgecardio
from .. import modelcard as mc
from .._checks import check_rate
from ..classifier import LEAD_NAMES
from ..preprocess import DEFAULT_GAIN_PER_MV, MIN_DURATION_S, SUPPORTED_RATES_HZ

EXAMPLES_FILE = Path(__file__).resolve().parent / "examples" / "ptbxl_fold9.npz"
#: The clinical 3 x 4 layout: rows of leads, each column shows 2.5 s of the 10 s.
LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
RHYTHM_LEAD = "II"
MM_PER_S, MM_PER_MV = 25.0, 10.0
CAL_MM = 10.0  # room left of the tracing for the 1 mV calibration pulse
ROW_MM = 30.0
WINDOW_S = mc.N_SAMPLES / mc.MODEL_FS_HZ
UNITS = ("ADC counts", "millivolts", "microvolts")
#: Log-odds change drawn at full tint on the tracing: a fixed scale, so that a record whose every segment
#: matters little looks pale instead of having its largest trifle painted as strongly as real evidence.
OVERLAY_FULL_SCALE = 0.5
LAYOUTS = ("auto", "(12, n): leads as rows", "(n, 12): samples as rows")


class UploadError(ValueError):
    """A record the app cannot read or diagnose; the message is shown in the page as it is."""


@dataclass
class Record:
    """A 12-lead record as the classifier takes it.

    ``signal`` is int16 ADC counts (``gain_per_mv`` counts per mV) or float millivolts (gain unused),
    shape (12, n), leads in :data:`edgecardio.classifier.LEAD_NAMES` order.
    """

    signal: np.ndarray
    fs_hz: int
    gain_per_mv: float = DEFAULT_GAIN_PER_MV
    source: str = ""
    notes: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.fs_hz

    def window_mv(self) -> np.ndarray:
        """The model's window (first 10 s) in float millivolts, for drawing."""
        n = int(round(WINDOW_S * self.fs_hz))
        x = self.signal[:, :n]
        return x / self.gain_per_mv if x.dtype.kind in "iu" else x.astype(np.float64)


# ---------------------------------------------------------------- examples
def load_examples(path: Path = EXAMPLES_FILE) -> Tuple[List[Record], Dict[str, Any]]:
    """The bundled PTB-XL records and the dataset's attribution."""
    with np.load(path, allow_pickle=False) as z:
        signals, meta = z["signals"], json.loads(str(z["meta"]))
    out = []
    for sig, m in zip(signals, meta["records"]):
        out.append(Record(sig, int(meta["fs_hz"]), float(meta["gain_per_mv"]),
                          source=f"PTB-XL ecg_id {m['ecg_id']} ({m['file']})", meta=m))
    attribution = {k: meta[k] for k in ("source", "license", "citation")}
    return out, attribution


def example_title(rec: Record) -> str:
    m = rec.meta
    return f"PTB-XL {m['ecg_id']}: {' + '.join(m['superclasses'])} (cardiologists)"


def example_demographics(rec: Record) -> Dict[str, Any]:
    m = rec.meta
    age = m.get("age")
    # PTB-XL stores ages over 89 as 300 (anonymisation); the model card clips them to 90 anyway.
    return {"age": None if age is None else min(float(age), 90.0), "sex": m.get("sex"),
            "height_cm": m.get("height_cm"), "weight_kg": m.get("weight_kg")}


# ---------------------------------------------------------------- uploads
@dataclass(frozen=True)
class NpyOptions:
    """How to read a bare array: what the file cannot say itself."""

    fs_hz: float = 500.0
    units: str = UNITS[0]
    gain_per_mv: float = DEFAULT_GAIN_PER_MV
    layout: str = LAYOUTS[0]


def _lead_order(names: Sequence[str]) -> List[int]:
    lookup = {str(n).strip().lower(): i for i, n in enumerate(names)}
    order = [lookup.get(lead.lower()) for lead in LEAD_NAMES]
    missing = [lead for lead, i in zip(LEAD_NAMES, order) if i is None]
    if missing:
        raise UploadError(f"the record's leads are {list(names)}; missing {missing}. The model needs the 12 "
                          f"standard leads I, II, III, aVR, aVL, aVF, V1-V6")
    return order


def _array_record(x: np.ndarray, name: str, opt: NpyOptions) -> Record:
    notes = []
    if x.dtype == object or x.dtype.kind not in "iuf":
        raise UploadError(f"{name}: holds {x.dtype} values; an ECG array is integer ADC counts or float voltages")
    if x.ndim != 2 or mc.N_LEADS not in x.shape:
        raise UploadError(f"{name}: shape {x.shape}; a 12-lead ECG is a 2-D array of shape (12, n) "
                          f"(leads as rows) or (n, 12) (samples as rows)")
    if opt.layout == LAYOUTS[1] and x.shape[0] != mc.N_LEADS:
        raise UploadError(f"{name}: shape {x.shape} has 12 columns, not 12 rows: choose the layout "
                          f"'{LAYOUTS[2]}' (or 'auto') to transpose it")
    if opt.layout == LAYOUTS[2] and x.shape[1] != mc.N_LEADS:
        raise UploadError(f"{name}: shape {x.shape} has 12 rows, not 12 columns: choose the layout "
                          f"'{LAYOUTS[1]}' (or 'auto')")
    transpose = opt.layout == LAYOUTS[2] or (opt.layout == LAYOUTS[0] and x.shape[0] != mc.N_LEADS)
    if transpose:
        x = x.T
        notes.append(f"transposed from (n, 12) to {x.shape}")
    fs = _check_rate(opt.fs_hz, name)
    if opt.units == UNITS[0]:
        if not (opt.gain_per_mv > 0 and math.isfinite(opt.gain_per_mv)):
            raise UploadError(f"gain must be a positive number of ADC counts per mV, got {opt.gain_per_mv}")
        if x.dtype.kind in "iu":
            if x.size and (x.min() < -32768 or x.max() > 32767):
                raise UploadError(f"{name}: integer values outside the int16 range of ADC counts; choose the "
                                  f"units 'millivolts' or 'microvolts' if they are voltages")
            return Record(np.ascontiguousarray(x, dtype=np.int16), fs, float(opt.gain_per_mv), name, notes)
        mv = x.astype(np.float64) / opt.gain_per_mv
        notes.append(f"float counts divided by {opt.gain_per_mv:g} counts/mV")
    elif opt.units == UNITS[1]:
        mv = x.astype(np.float64)
    elif opt.units == UNITS[2]:
        mv = x.astype(np.float64) / 1000.0
    else:
        raise UploadError(f"unknown units {opt.units!r}; choose one of {UNITS}")
    if not np.isfinite(mv).all():
        raise UploadError(f"{name}: has NaN or infinite samples; repair the record first")
    return Record(np.ascontiguousarray(mv), fs, DEFAULT_GAIN_PER_MV, name, notes)


def _check_rate(fs_hz, name: str) -> int:
    """:func:`edgecardio._checks.check_rate` (the rule preprocess applies), as an upload error naming the file."""
    try:
        return check_rate(fs_hz)
    except TypeError:
        raise UploadError(f"{name}: unknown sampling rate {fs_hz!r}") from None
    except ValueError:
        raise UploadError(f"{name}: sampling rate {float(fs_hz):g} Hz is not one the model reads "
                          f"({', '.join(map(str, SUPPORTED_RATES_HZ))} Hz); resample the record first") from None


def _wfdb_record(hea: Path) -> Record:
    from .. import wfdb_io

    try:
        rec = wfdb_io.read_record(hea)
    except FileNotFoundError as e:
        raise UploadError(f"{e}: upload the header and its signal file together") from None
    except ValueError as e:
        raise UploadError(f"{hea.name}: not a WFDB record the app can read ({e})") from None
    order = _lead_order(rec.sig_names)
    fs = _check_rate(rec.fs_hz, hea.name)
    gains, baselines = rec.gain_per_mv[order], rec.baseline[order]
    if np.all(gains == gains[0]) and not baselines.any() and gains[0] > 0:
        return Record(rec.digital[order], fs, float(gains[0]), hea.name)
    return Record(rec.physical_mv()[order], fs, DEFAULT_GAIN_PER_MV, hea.name)


def _package_reader():
    """``edgecardio.read_record`` when this version of the package has it (more formats), else None."""
    return getattr(edgecardio, "read_record", None)


def _package_record(path: Path, reader) -> Record:
    try:
        r = reader(path)
    except (ValueError, TypeError, OSError, ImportError) as e:
        raise UploadError(f"{path.name}: {e}") from None
    x = np.asarray(r.signal)
    gain = getattr(r, "gain_per_mv", None) or getattr(r, "gain", None)
    fs = _check_rate(r.fs_hz, path.name)
    if x.dtype.kind in "iu":
        return Record(np.ascontiguousarray(x, dtype=np.int16), fs, float(gain or DEFAULT_GAIN_PER_MV), path.name)
    return Record(np.ascontiguousarray(x, dtype=np.float64), fs, DEFAULT_GAIN_PER_MV, path.name)


def read_upload(files: Sequence[Tuple[str, bytes]], npy: NpyOptions = NpyOptions()) -> Record:
    """One uploaded record from its files: ``[(file name, contents)]``.

    A ``.npy`` array is read with ``npy`` (rate, units, gain, layout); a WFDB record needs its ``.hea``
    and every ``.dat`` the header names. Other formats go to ``edgecardio.read_record`` where the
    installed package has it. Every problem is an :class:`UploadError` whose message says what to do.
    """
    if not files:
        raise UploadError("no file uploaded")
    by_ext: Dict[str, List[Tuple[str, bytes]]] = {}
    for name, data in files:
        by_ext.setdefault(Path(name).suffix.lower(), []).append((Path(name).name, data))
    if ".npy" in by_ext:
        if len(files) != 1:
            raise UploadError("upload one .npy array at a time (it is a whole record)")
        name, data = by_ext[".npy"][0]
        try:
            x = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as e:  # numpy raises ValueError, EOFError, OSError, UnpicklingError... on junk
            raise UploadError(f"{name}: not a readable .npy array ({type(e).__name__}: {e})") from None
        if not isinstance(x, np.ndarray):
            raise UploadError(f"{name}: holds several arrays (an .npz?); upload one (12, n) array as .npy")
        return check_record(_array_record(x, name, npy))
    reader = _package_reader()
    with tempfile.TemporaryDirectory(prefix="edgecardio-upload-") as tmp:
        for name, data in files:
            (Path(tmp) / Path(name).name).write_bytes(data)
        if ".hea" in by_ext:
            if len(by_ext[".hea"]) != 1:
                raise UploadError("upload one WFDB record at a time (one .hea with its .dat)")
            hea = Path(tmp) / by_ext[".hea"][0][0]
            _check_wfdb_files(hea, {Path(n).name for n, _ in files})
            rec = _package_record(hea, reader) if reader is not None else _wfdb_record(hea)
        elif ".dat" in by_ext:
            raise UploadError(f"{by_ext['.dat'][0][0]} is a WFDB signal file: upload its .hea header with it "
                              f"(select both files at once)")
        elif reader is not None and len(files) == 1:
            rec = _package_record(Path(tmp) / Path(files[0][0]).name, reader)
        else:
            exts = ", ".join(sorted(e or "(none)" for e in by_ext))
            raise UploadError(f"cannot read {exts} files: this version of edgecardio reads .npy arrays and WFDB "
                              f"records (.hea + .dat)")
    rec.source = rec.source or Path(files[0][0]).name
    return check_record(rec)


def _check_wfdb_files(hea: Path, uploaded: set) -> None:
    """Name the signal files a header needs that were not uploaded with it. Reads only the first field
    of each signal line (the file name), so it works whichever reader then reads the record."""
    try:
        lines = [ln.split("#", 1)[0].split() for ln in hea.read_text(encoding="latin-1").splitlines()]
        lines = [ln for ln in lines if ln]
        n_sig = int(lines[0][1])
        files = {ln[0] for ln in lines[1:1 + n_sig]}
    except (IndexError, ValueError) as e:
        raise UploadError(f"{hea.name}: not a readable WFDB header ({type(e).__name__}: {e}); its first "
                          f"line must be '<name> <number of signals> <rate> <samples>'") from None
    missing = sorted(files - uploaded)
    if missing:
        raise UploadError(f"{hea.name} needs its signal file {', '.join(missing)}: upload the .hea and the .dat "
                          f"together (select both files at once)")


def check_record(rec: Record) -> Record:
    """The checks the classifier would make, with messages for the page."""
    x = rec.signal
    if x.ndim != 2 or x.shape[0] != mc.N_LEADS:
        raise UploadError(f"{rec.source}: shape {x.shape}; the model needs 12 leads as rows")
    if rec.duration_s < MIN_DURATION_S:
        raise UploadError(f"{rec.source}: the record is {rec.duration_s:g} s long ({x.shape[1]} samples at "
                          f"{rec.fs_hz} Hz); the model needs at least {MIN_DURATION_S} s")
    return rec


# ---------------------------------------------------------------- diagnosis
@dataclass
class Diagnosis:
    record: Record
    prediction: Any  # edgecardio.Prediction
    model_input: np.ndarray  # float32 (12, 1000): what the model saw
    demographics: Dict[str, Any]
    demo_vector: np.ndarray
    model: Dict[str, Any]
    occlusion: Optional[np.ndarray] = None  # (5, 12, n_seg): probability drop when a segment is blanked
    occlusion_segment_s: float = 0.5
    occlusion_ms: float = 0.0
    lead_std_mv: Optional[np.ndarray] = None  # float32 (12,): each lead's voltage, for models that read it


def model_choice_label(info) -> str:
    """One line for the model selector: an :class:`edgecardio.ModelInfo`'s name, default flag,
    fold-9 macro AUC and inference time of its default precision, as its card records them."""
    precision = info.precisions[0] if info.precisions else None
    parts = [info.name + (" (default)" if info.default else "")]
    if precision in info.macro_auc:
        parts.append(f"AUC {info.macro_auc[precision]:.3f}")
    if precision in info.latency_ms:
        parts.append(f"{info.latency_ms[precision]:.1f} ms {precision}")
    return ", ".join(parts)


def model_description(clf) -> Dict[str, Any]:
    card = clf.model_card
    return {"name": card.get("name"), "packaged_name": getattr(clf, "model_name", None),
            "version": card.get("version"), "file": clf.model_path.name,
            "precision": clf.precision, "backend": clf.backend, "onnxruntime": clf.ort_version,
            "engine": edgecardio.engine(), "threads": clf.threads,
            "placeholder": bool(card.get("placeholder", False))}


def diagnose(clf, rec: Record, demographics: Mapping[str, Any], *, explain: bool = True,
             segment_s: float = 0.5) -> Diagnosis:
    """Classify ``rec`` and, with ``explain``, compute the occlusion map."""
    demo = {k: demographics.get(k) for k in ("age", "sex", "height_cm", "weight_kg")}
    try:
        pred = clf.predict(rec.signal, rec.fs_hz, gain_per_mv=rec.gain_per_mv, **demo)
        n_window = int(round(WINDOW_S * rec.fs_hz))
        x, info = edgecardio.preprocess(rec.signal[:, :n_window], rec.fs_hz, return_info=True,
                                        gain_per_mv=rec.gain_per_mv if rec.signal.dtype.kind in "iu" else DEFAULT_GAIN_PER_MV)
        demo_vec = clf.demographics(**demo)
    except (ValueError, TypeError) as e:
        raise UploadError(f"{rec.source}: {e}") from None
    d = Diagnosis(rec, pred, x, demo, demo_vec, model_description(clf), occlusion_segment_s=segment_s,
                  lead_std_mv=info.lead_std_mv.astype(np.float32))
    if explain:
        t0 = time.perf_counter()
        d.occlusion = occlusion_map(clf, x, demo_vec, segment_s, d.lead_std_mv)
        d.occlusion_ms = (time.perf_counter() - t0) * 1e3
    return d


def logit(p) -> np.ndarray:
    """Log-odds, with probabilities kept off 0 and 1 (float32 sigmoid outputs reach them)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def occlusion_map(clf, model_input: np.ndarray, demo_vec: np.ndarray, segment_s: float = 0.5,
                  lead_std_mv: Optional[np.ndarray] = None) -> np.ndarray:
    """How much each (lead, time segment) holds up each class: the drop in log-odds,
    ``logit p(record) - logit p(segment blanked)``.

    Blanking sets the segment of the preprocessed lead to 0, its mean after z-scoring (what a flat lead
    becomes too). Log-odds rather than probability because a confident prediction (p = 0.999) barely
    moves in probability when evidence is removed, while its log-odds do. Returns float32
    ``[n_classes, 12, n_segments]``; positive values are evidence for the class, negative against it.
    One batched model call of ``12 x n_segments + 1`` inputs. ``lead_std_mv`` (the record's lead
    voltages, unchanged by blanking: the map explains the waveform) is needed by models that read it.
    """
    seg = int(round(segment_s * mc.MODEL_FS_HZ))
    if seg < 1 or mc.N_SAMPLES % seg:
        raise ValueError(f"segment_s={segment_s} must divide the 10-s window into whole 100 Hz samples")
    n_seg = mc.N_SAMPLES // seg
    batch = np.repeat(model_input[None], mc.N_LEADS * n_seg + 1, axis=0)
    for lead in range(mc.N_LEADS):
        for s in range(n_seg):
            batch[1 + lead * n_seg + s, lead, s * seg:(s + 1) * seg] = 0.0
    stds = None if lead_std_mv is None else np.repeat(np.asarray(lead_std_mv, np.float32)[None], len(batch), axis=0)
    z = logit(clf.run(batch, np.repeat(demo_vec[None], len(batch), axis=0), stds))
    drop = z[0][None, :] - z[1:]  # [12 * n_seg, 5]
    return drop.T.reshape(len(mc.CLASSES), mc.N_LEADS, n_seg).astype(np.float32)


def explained_classes(pred) -> List[str]:
    """The predicted classes, or the most probable one when none reaches its threshold."""
    return list(pred.labels) or [max(pred.probabilities, key=pred.probabilities.get)]


def lead_warnings(pred) -> Dict[str, List[str]]:
    """Lead name -> warnings: flat and saturated (preprocessing) and the per-lead quality flags."""
    out: Dict[str, List[str]] = {}
    for lead in pred.flat_leads:
        out.setdefault(lead, []).append("flat")
    for lead in pred.saturated_leads:
        out.setdefault(lead, []).append("saturated")
    for lead, flags in quality_flags(pred).items():
        out.setdefault(lead, []).extend(f for f in flags if f not in out.get(lead, []))
    return out


def quality_flags(pred) -> Dict[str, List[str]]:
    """Lead name -> the quality flags (lead_off, flat, saturated, wander, noisy) that
    :class:`edgecardio.quality.Quality` set for it; nothing when the prediction carries no quality."""
    q = getattr(pred, "quality", None)
    if q is None:
        return {}
    return {lead: list(q.lead_flags(lead)) for lead in LEAD_NAMES if q.lead_flags(lead)}


def result_dict(d: Diagnosis) -> Dict[str, Any]:
    """The downloadable JSON result."""
    p = d.prediction
    out = {
        "tool": "edgecardio app",
        "edgecardio": edgecardio.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "record": {"source": d.record.source, "fs_hz": d.record.fs_hz, "n_samples": int(d.record.signal.shape[1]),
                   "dtype": str(d.record.signal.dtype), "gain_per_mv": d.record.gain_per_mv,
                   "notes": list(d.record.notes)},
        "demographics": d.demographics,
        **p.to_dict(),
        "thresholds": dict(p.thresholds),
        "lead_warnings": lead_warnings(p),
        "model": d.model,
    }
    if d.record.meta:
        out["reference"] = {"dataset": "PTB-XL (CC BY 4.0)", **{k: d.record.meta[k] for k in
                            ("ecg_id", "report", "statements", "superclasses") if k in d.record.meta}}
    if d.occlusion is not None:
        out["occlusion"] = {"segment_s": d.occlusion_segment_s, "leads": list(LEAD_NAMES),
                            "what": "log-odds drop of each class when the segment of the lead is blanked (positive: evidence "
                                    "for the class)",
                            "by_class": {c: np.round(d.occlusion[i], 5).tolist() for i, c in enumerate(mc.CLASSES)}}
    return out


# ---------------------------------------------------------------- drawing
def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _paper(ax, width_mm: float, height_mm: float) -> None:
    from matplotlib.collections import LineCollection

    minor = [((x, 0), (x, height_mm)) for x in np.arange(0, width_mm + 0.01, 1.0) if round(x) % 5] + \
            [((0, y), (width_mm, y)) for y in np.arange(0, height_mm + 0.01, 1.0) if round(y) % 5]
    major = [((x, 0), (x, height_mm)) for x in np.arange(0, width_mm + 0.01, 5.0)] + \
            [((0, y), (width_mm, y)) for y in np.arange(0, height_mm + 0.01, 5.0)]
    ax.add_collection(LineCollection(minor, colors="#f6caca", linewidths=0.3, zorder=0))
    ax.add_collection(LineCollection(major, colors="#e88f8f", linewidths=0.7, zorder=0))
    ax.set_xlim(0, width_mm)
    ax.set_ylim(0, height_mm)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fff8f8")
    for s in ax.spines.values():
        s.set_visible(False)


def draw_clinical(ax, d: Diagnosis, overlay_class: Optional[str] = None) -> None:
    """The 12 leads as printed: 3 x 4 panels of 2.5 s plus a 10-s lead II rhythm strip, on 1 mm / 5 mm
    paper at 25 mm/s and 10 mm/mV, a 1 mV calibration pulse on each row; warnings in red on their leads;
    with ``overlay_class``, its occlusion map tinted over the tracing (red: evidence for the class)."""
    mv = d.record.window_mv()
    fs = d.record.fs_hz
    mv = mv - np.median(mv, axis=1, keepdims=True)  # the printout's baseline; the model filters its own
    width, height = CAL_MM + WINDOW_S * MM_PER_S, 4 * ROW_MM
    _paper(ax, width, height)
    warnings_by_lead = lead_warnings(d.prediction)
    col_s = WINDOW_S / 4
    rows = [(r, LAYOUT[r]) for r in range(3)] + [(3, (RHYTHM_LEAD,))]
    occ = None
    if overlay_class is not None and d.occlusion is not None:
        occ = d.occlusion[mc.CLASSES.index(overlay_class)]
    vmax = OVERLAY_FULL_SCALE
    seg_s = d.occlusion_segment_s
    for r, leads in rows:
        base = height - ROW_MM * (r + 0.5)
        ax.plot([0.5, 2, 2, 7, 7, 8.5], [base, base, base + MM_PER_MV, base + MM_PER_MV, base, base],
                color="black", lw=0.8, zorder=3)
        for j, lead in enumerate(leads):
            t0, t1 = (0.0, WINDOW_S) if r == 3 else (j * col_s, (j + 1) * col_s)
            i0, i1 = int(round(t0 * fs)), int(round(t1 * fs))
            li = LEAD_NAMES.index(lead)
            xs = CAL_MM + np.arange(i0, i1) / fs * MM_PER_S
            x0, x1 = CAL_MM + t0 * MM_PER_S, CAL_MM + t1 * MM_PER_S
            if occ is not None:
                for s in range(int(round(t0 / seg_s)), int(round(t1 / seg_s))):
                    v = max(-1.0, min(1.0, float(occ[li, s]) / vmax))
                    if abs(v) < 0.05:
                        continue
                    ax.add_patch(_rect(CAL_MM + s * seg_s * MM_PER_S, base - ROW_MM / 2, seg_s * MM_PER_S, ROW_MM,
                                       "#d62728" if v > 0 else "#1f77b4", 0.45 * abs(v)))
            warn = warnings_by_lead.get(lead)
            if warn:
                ax.add_patch(_rect(x0, base - ROW_MM / 2, x1 - x0, ROW_MM, "#ff0000", 0.08))
            ax.plot(xs, base + mv[li, i0:i1] * MM_PER_MV, color="black", lw=0.6, zorder=4, clip_on=True)
            ax.text(x0 + 1.5, base + ROW_MM / 2 - 2.5, lead, fontsize=7, fontweight="bold", va="top", zorder=5)
            if warn:
                ax.text(x0 + 9, base + ROW_MM / 2 - 2.5, " / ".join(warn), fontsize=6.5, color="#c00000",
                        fontweight="bold", va="top", zorder=5)
            if r < 3 and j > 0:
                ax.plot([x0, x0], [base - 2.5, base + 2.5], color="black", lw=0.8, zorder=4)
    ax.text(width - 1, 1, f"25 mm/s   10 mm/mV   recorded at {fs} Hz", fontsize=6, ha="right", va="bottom", zorder=5)


def _rect(x, y, w, h, color, alpha):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=color, edgecolor="none", alpha=alpha, zorder=1)


def clinical_figure(d: Diagnosis, overlay_class: Optional[str] = None, dpi: int = 110):
    plt = _plt()
    width, height = CAL_MM + WINDOW_S * MM_PER_S, 4 * ROW_MM
    fig = plt.figure(figsize=(width / 25.4, height / 25.4), dpi=dpi)  # true scale when printed at 100 %
    ax = fig.add_axes([0, 0, 1, 1])
    draw_clinical(ax, d, overlay_class)
    return fig


def model_input_figure(d: Diagnosis, dpi: int = 110):
    """The model's own input: 12 z-scored leads at 100 Hz after its band-pass (flat leads are zeros)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 9), dpi=dpi)
    t = np.arange(d.model_input.shape[1]) / mc.MODEL_FS_HZ
    # z-scored QRS complexes reach several units: space the rows by the largest swing
    step = max(4.0, 0.8 * float(np.ptp(d.model_input, axis=1).max()))
    for i, lead in enumerate(LEAD_NAMES):
        off = -step * i
        ax.plot(t, d.model_input[i] + off, lw=0.6, color="#333333")
        ax.text(-0.1, off, lead, ha="right", va="center", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(0, WINDOW_S)
    ax.set_xlabel("seconds (100 Hz, band-passed 0.5-40 Hz, z-scored per lead)")
    ax.grid(axis="x", color="#dddddd", lw=0.5)
    for s in ("top", "right", "left"):
        ax.spines[s].set_visible(False)
    fig.tight_layout()
    return fig


def probabilities_figure(pred, dpi: int = 110):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 2.4), dpi=dpi)
    classes = list(mc.CLASSES)[::-1]
    p = [pred.probabilities[c] for c in classes]
    th = [pred.thresholds.get(c, 0.5) for c in classes]
    colors = ["#d62728" if c in pred.labels else "#9e9e9e" for c in classes]
    ax.barh(classes, p, color=colors, height=0.6)
    for y, t in enumerate(th):
        ax.plot([t, t], [y - 0.4, y + 0.4], color="black", lw=1.5)
    for y, v in enumerate(p):
        ax.text(min(v + 0.02, 0.9), y, f"{v:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability (black tick: the class's threshold)")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    fig.tight_layout()
    return fig


def occlusion_figure(d: Diagnosis, classes: Sequence[str], dpi: int = 110):
    """Leads x time heatmaps of the occlusion map, one per class."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(classes), figsize=(4.2 * len(classes), 3.2), dpi=dpi, squeeze=False)
    for ax, c in zip(axes[0], classes):
        m = d.occlusion[mc.CLASSES.index(c)]
        v = max(float(np.abs(m).max()), 1e-3)
        im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-v, vmax=v,
                       extent=(0, WINDOW_S, mc.N_LEADS - 0.5, -0.5), interpolation="nearest")
        ax.set_yticks(range(mc.N_LEADS))
        ax.set_yticklabels(LEAD_NAMES, fontsize=7)
        ax.set_xlabel("seconds")
        ax.set_title(f"{c}: p = {d.prediction.probabilities[c]:.3f}", fontsize=9)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        cb.ax.tick_params(labelsize=7)
        cb.set_label("log-odds drop when blanked", fontsize=7)
    fig.tight_layout()
    return fig


def report_png(d: Diagnosis, overlay_class: Optional[str] = None, dpi: int = 150) -> bytes:
    """One A4-landscape page: the tracing at scale and the diagnosis beside its evidence."""
    plt = _plt()
    fig = plt.figure(figsize=(297 / 25.4, 210 / 25.4), dpi=dpi)
    width, height = CAL_MM + WINDOW_S * MM_PER_S, 4 * ROW_MM
    ax = fig.add_axes([18.5 / 297, 1 - (28 + height) / 210, width / 297, height / 210])
    draw_clinical(ax, d, overlay_class)
    p = d.prediction
    fig.text(18.5 / 297, 1 - 10 / 210, "EdgeCardio report", fontsize=14, fontweight="bold")
    fig.text(18.5 / 297, 1 - 17 / 210, f"{d.record.source}   {d.record.fs_hz} Hz, {d.record.duration_s:g} s   "
             f"demographics: {_demo_text(d.demographics)}", fontsize=8)
    fig.text(18.5 / 297, 1 - 23 / 210, f"Labels: {', '.join(p.labels) or 'none over threshold'}", fontsize=11,
             fontweight="bold", color="#c00000" if p.labels else "black")
    lines = ["Probabilities (threshold):"] + [
        f"  {c:<5} {p.probabilities[c]:.3f} ({p.thresholds.get(c, float('nan')):.3f})"
        f"{'  <' if c in p.labels else ''}" for c in mc.CLASSES]
    m = d.model
    lines += ["", f"Model {m.get('packaged_name') or m.get('name')} {m.get('version') or ''}",
              f"  {m['precision']}, {m['backend']} backend, ONNX Runtime {m['onnxruntime']}, engine {m['engine']}",
              f"Latency: preprocess {p.latency_ms['preprocess']:.2f} ms, inference "
              f"{p.latency_ms['inference']:.2f} ms, total {p.latency_ms['total']:.2f} ms"]
    warn = lead_warnings(p)
    if warn:
        lines.append("Lead warnings: " + "; ".join(f"{k} {'/'.join(v)}" for k, v in warn.items()))
    y0 = 1 - (32 + height) / 210
    fig.text(18.5 / 297, y0, "\n".join(lines), fontsize=8, family="monospace", va="top")
    right = []
    if overlay_class is not None and d.occlusion is not None:
        right += [f"Tint: occlusion map for {overlay_class} (red: segments whose blanking lowers its",
                  f"log-odds; blue: raises them; {d.occlusion_segment_s:g}-s segments)."]
    if d.record.meta:
        mt = d.record.meta
        right += ["", f"PTB-XL ecg_id {mt['ecg_id']} (CC BY 4.0), cardiologists:",
                  f"  superclasses {', '.join(mt['superclasses'])}",
                  *[f"  {s['code']} ({s['likelihood']:g}%) {s['description']}" for s in mt["statements"]][:6]]
    right += ["", "Research software, not a medical device."]
    fig.text(165 / 297, y0, "\n".join(right), fontsize=7.5, va="top")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def _demo_text(demo: Mapping[str, Any]) -> str:
    parts = []
    for k, unit in (("age", " y"), ("sex", ""), ("height_cm", " cm"), ("weight_kg", " kg")):
        v = demo.get(k)
        if v is not None:
            parts.append(f"{v:g}{unit}" if isinstance(v, (int, float)) else f"{v}{unit}")
    return ", ".join(parts) or "unknown"


def figure_png(fig, dpi: Optional[int] = None) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    plt.close(fig)
    return buf.getvalue()
