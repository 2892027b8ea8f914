"""The Classifier: raw 12-lead samples in, five probabilities out.

Two backends run the same model file after the same native preprocessing:

* ``"native"`` (default): the ONNX Runtime C API runner in ``edgecardio._core``. Preprocessing writes
  its float32 output straight into the runner's preallocated input tensor and ONNX Runtime writes the
  probabilities straight into its output buffer; one native call, GIL released.
* ``"onnxruntime"``: the ``onnxruntime`` Python API, as a fallback (a build without the runner) and as
  a cross-check of the native one.
"""
from __future__ import annotations

import copy
import glob
import hashlib
import importlib.util
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import _core
from . import modelcard as mc
from . import packaged
from ._checks import DEFAULT_GAIN_PER_MV, as_native_rows, as_record, check_gain, check_rate
from .modelcard import ModelError
from .preprocess import preprocess

PRECISIONS = ("int8", "fp32")
BACKENDS = ("native", "onnxruntime")
CARD_NAME = packaged.CARD_NAME
#: File names a model directory's card may leave out of its ``files`` map (training runs write these).
DEFAULT_FILES = {"fp32": "lightecgnet_fp32.onnx", "int8": "lightecgnet_int8.onnx"}
LEAD_NAMES = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: ONNX TensorProto element type of float32, and onnxruntime's Python spelling of it.
_FLOAT32, _ORT_FLOAT = 1, "tensor(float)"
#: predict_batch runs the model on at most this many records at once (bounds the buffer size).
BATCH_CHUNK = 64


#: Session configuration shared by every ONNX Runtime session of the package (the native runner
#: sets the same entries in C++). ``session.x64quantprecision``: on x86-64 without VNNI, ONNX
#: Runtime's fused u8s8 kernels otherwise add pairs of products in saturating int16, which moved
#: INT8 probabilities of PTB-XL records by up to 0.17; with it, x86-64 computes the quantized model
#: as written, as aarch64 does (ignored there).
ORT_SESSION_CONFIG = {
    "session.intra_op.allow_spinning": "0",
    "session.inter_op.allow_spinning": "0",
    "session.x64quantprecision": "1",
}


def ort_session_options(threads: int = 1):
    """``onnxruntime.SessionOptions`` as the package runs models: ``threads`` intra-op threads,
    sequential, no spinning, exact int8 arithmetic on x86-64 (:data:`ORT_SESSION_CONFIG`)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    for key, value in ORT_SESSION_CONFIG.items():
        so.add_session_config_entry(key, value)
    return so


# ---------------------------------------------------------------- ONNX Runtime library discovery
def ort_library_candidates() -> List[str]:
    """Where the native runner looks for ``libonnxruntime``, in order.

    ``$EDGECARDIO_ORT_LIB`` alone when set (a path the user names is not second-guessed); else the
    ``libonnxruntime.so.1.*`` shipped inside the installed ``onnxruntime`` wheel, newest first (found
    without importing ``onnxruntime``, whose import is heavy); else the system's ``libonnxruntime.so.1``.
    """
    env = os.environ.get("EDGECARDIO_ORT_LIB")
    if env:
        return [env]
    out: List[str] = []
    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        spec = None
    for loc in (spec.submodule_search_locations or []) if spec else []:
        found = glob.glob(os.path.join(loc, "capi", "libonnxruntime.so.1.*"))

        def version_key(p: str):
            parts = p.rsplit(".so.", 1)[-1].split(".")
            return [int(x) if x.isdigit() else -1 for x in parts]

        out.extend(sorted(found, key=version_key, reverse=True))
    out.append("libonnxruntime.so.1")
    return out


def ort_runtime() -> Dict[str, Any]:
    """Load (once per process) the ONNX Runtime library of the native runner; return its
    ``{path, version, api_version}``. Raises OSError naming every candidate tried."""
    if not _core.HAS_NATIVE_ORT:
        raise RuntimeError("this build of edgecardio has no native ONNX Runtime runner "
                           "(edgecardio.HAS_NATIVE_ORT is False): use backend='onnxruntime', or rebuild "
                           "with the ONNX Runtime headers (tools/fetch-ort-headers.sh)")
    return _core.ort_load(ort_library_candidates())


# ---------------------------------------------------------------- results
@dataclass(frozen=True)
class Prediction:
    """The diagnosis of one record.

    Attributes
    ----------
    probabilities : dict
        Class name -> probability, in :data:`edgecardio.CLASSES` order.
    labels : tuple of str
        Classes whose probability is at or over the model's tuned threshold.
    latency_ms : dict
        ``preprocess``, ``inference`` and ``total`` milliseconds for this record (a batch's
        inference time is shared equally among its records).
    flat_leads : tuple of str
        Leads with (almost) no signal: they were zeroed before inference, which lowers confidence.
    saturated_leads : tuple of str
        int16 leads that sat on an ADC rail (clipping); processed normally, worth a look.
    quality : edgecardio.quality.Quality or None
        Per-lead signal quality of the 10 s diagnosed (computed natively; None when not asked for).
        ``quality.trusted`` is False when too many leads are unusable to trust the diagnosis.
    """

    probabilities: Dict[str, float]
    labels: Tuple[str, ...]
    latency_ms: Dict[str, float]
    flat_leads: Tuple[str, ...] = ()
    saturated_leads: Tuple[str, ...] = ()
    thresholds: Dict[str, float] = field(default_factory=dict, repr=False)
    quality: Any = field(default=None, repr=False)

    def to_dict(self, quality: bool = False) -> dict:
        d = {"probabilities": dict(self.probabilities), "labels": list(self.labels),
             "flat_leads": list(self.flat_leads), "saturated_leads": list(self.saturated_leads),
             "latency_ms": dict(self.latency_ms)}
        if quality and self.quality is not None:
            d["quality"] = self.quality.to_dict()
        return d


# ---------------------------------------------------------------- model resolution and checks
def _resolve(model, precision: str) -> Tuple[Path, Path, Optional[str], bool]:
    """(onnx path, card path, packaged name or None, whether a directory was given) for ``model``
    (the rules: :mod:`edgecardio.packaged`)."""
    path, name = packaged.resolve_model(model)
    is_dir = path.is_dir()
    if is_dir:
        card_path = path / CARD_NAME
        files, named = DEFAULT_FILES, {}
        if card_path.is_file():
            named = mc.load_card(card_path).get("files", {})
            files = {**DEFAULT_FILES, **named}
        onnx_path = path / files[precision]
        if named and precision not in named and not onnx_path.is_file():
            what = f"the packaged model {name!r}" if name else str(path)
            raise FileNotFoundError(f"{what} has no {precision} file (its card names {', '.join(named)}): "
                                    f"choose one of those precisions")
    else:
        onnx_path, card_path = path, path.parent / CARD_NAME
    if not onnx_path.is_file():
        what = f" of the packaged model {name!r}" if name else ""
        raise FileNotFoundError(f"model file not found{what}: {onnx_path}")
    if not card_path.is_file():
        raise FileNotFoundError(f"no {CARD_NAME} next to {onnx_path}: the runtime needs the model card to "
                                f"encode demographics and apply the tuned thresholds")
    return onnx_path, card_path, name, is_dir


def _verify_digest(card: Mapping, onnx_path: Path, card_path: Path) -> None:
    """The file's SHA-256 against the one the card records for it (a card without one has nothing
    to check): a truncated or edited model otherwise loads and answers wrongly."""
    want = mc.file_digest(card, onnx_path)
    if want is None:
        return
    h = hashlib.sha256()
    with open(onnx_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    if h.hexdigest() != want:
        raise ModelError(f"{onnx_path} is not the file {card_path} describes: its SHA-256 is {h.hexdigest()}, "
                         f"the card records {want}. Restore the file, or pass verify=False if you changed "
                         f"the model on purpose")


def _check_signature(inputs, outputs, onnx_path: Path) -> None:
    """Inputs/outputs as ``[(name, float32?, shape)]`` (None for dynamic dims) against the contract."""
    expected_in = {mc.INPUT_ECG: (mc.N_LEADS, mc.N_SAMPLES), mc.INPUT_DEMOGRAPHICS: (len(mc.DEMOGRAPHIC_FEATURES),)}
    if any(n == mc.INPUT_LEAD_STD for n, _, _ in inputs):  # the optional third input
        expected_in[mc.INPUT_LEAD_STD] = (mc.N_LEADS,)
    expected_out = {mc.OUTPUT_PROBABILITIES: (len(mc.CLASSES),)}

    def fmt(items):
        return ", ".join(f"'{n}' {['?' if d is None else d for d in s]}" for n, _, s in items)

    for kind, items, expected in (("input", inputs, expected_in), ("output", outputs, expected_out)):
        by_name = {n: (f, tuple(s)) for n, f, s in items}
        for name, dims in expected.items():
            if name not in by_name:
                raise ModelError(f"{onnx_path}: the model has no {kind} '{name}' required by the model card "
                                 f"(its {kind}s: {fmt(items)})")
            is_float, shape = by_name[name]
            if not is_float or len(shape) != 1 + len(dims) or tuple(shape[1:]) != dims:
                want = ["batch", *dims]
                raise ModelError(f"{onnx_path}: {kind} '{name}' is {['?' if d is None else d for d in shape]}"
                                 f"{'' if is_float else ' (not float32)'}; the model card needs float32 {want}")
            if shape[0] is not None:
                # predict_batch runs up to BATCH_CHUNK records at once: a fixed batch would fail there.
                raise ModelError(f"{onnx_path}: {kind} '{name}' has a fixed batch of {shape[0]}; the model card "
                                 f"needs a dynamic batch dimension: export it with a dynamic axis 0")
        if kind == "input" and len(items) != len(expected):
            raise ModelError(f"{onnx_path}: the model has inputs {fmt(items)}; the model card defines only "
                             f"{list(expected)} (and optionally '{mc.INPUT_LEAD_STD}')")


# ---------------------------------------------------------------- backends
class _NativeBackend:
    name = "native"

    def __init__(self, onnx_path: Path, threads: int):
        self.runtime = ort_runtime()
        try:
            self.runner = _core.OrtRunner(str(onnx_path), threads)
        except ValueError as e:  # the runner's own contract check
            raise ModelError(f"{onnx_path}: {e}") from None
        except RuntimeError as e:
            raise ModelError(f"cannot load {onnx_path} with ONNX Runtime {self.runtime['version']}: {e}") from None
        conv = lambda infos: [(n, t == _FLOAT32, tuple(None if d < 0 else d for d in s)) for n, t, s in infos]
        self.inputs, self.outputs = conv(self.runner.inputs), conv(self.runner.outputs)
        self.version = self.runtime["version"]
        self.reads_lead_std = bool(self.runner.reads_lead_std)

    def run(self, ecg: np.ndarray, demographics: np.ndarray, lead_std_mv: Optional[np.ndarray]) -> np.ndarray:
        return self.runner.run(ecg, demographics, lead_std_mv if self.reads_lead_std else None)


class _OnnxruntimeBackend:
    name = "onnxruntime"

    def __init__(self, onnx_path: Path, threads: int):
        import onnxruntime as ort

        so = ort_session_options(threads)
        try:
            self.session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
            raise ModelError(f"cannot load {onnx_path} with onnxruntime {ort.__version__}: {e}") from None
        conv = lambda args: [(a.name, a.type == _ORT_FLOAT,
                              tuple(d if isinstance(d, int) else None for d in a.shape)) for a in args]
        self.inputs, self.outputs = conv(self.session.get_inputs()), conv(self.session.get_outputs())
        self.version = ort.__version__
        self.reads_lead_std = any(n == mc.INPUT_LEAD_STD for n, _, _ in self.inputs)

    def run(self, ecg: np.ndarray, demographics: np.ndarray, lead_std_mv: Optional[np.ndarray]) -> np.ndarray:
        feeds = {mc.INPUT_ECG: ecg, mc.INPUT_DEMOGRAPHICS: demographics}
        if self.reads_lead_std:
            feeds[mc.INPUT_LEAD_STD] = lead_std_mv
        return self.session.run([mc.OUTPUT_PROBABILITIES], feeds)[0]


# ---------------------------------------------------------------- the public class
class Classifier:
    """A 12-lead ECG classifier: preprocessing and an ONNX model, loaded once, used many times.

    Parameters
    ----------
    model : str, path-like or None
        None for the default packaged model (:data:`edgecardio.DEFAULT_MODEL`); the name of a packaged
        model (:func:`edgecardio.models` lists them); a directory holding ``model_card.json`` and the
        ONNX files; or an ``.onnx`` file with ``model_card.json`` beside it. A string that is an
        existing path is that path (a warning says so when it is also a packaged name); a
        ``pathlib.Path`` is always a path.
    precision : {"int8", "fp32"}
        Which file of a model directory to load (ignored when ``model`` is a file).
    threads : int
        ONNX Runtime intra-op threads (spinning off). 1 is fastest per record on small boards.
    backend : {"native", "onnxruntime"}
        The C API runner of ``edgecardio._core``, or the ``onnxruntime`` Python API. A build without
        the runner (``edgecardio.HAS_NATIVE_ORT`` False) uses "onnxruntime" with a RuntimeWarning.
    verify : bool
        Check the model file against the SHA-256 its card records for it (``file_info``), so that a
        truncated or corrupted file fails here. Pass False for a model you edited on purpose.

    Raises
    ------
    FileNotFoundError
        The model file or its card is missing.
    edgecardio.UnknownModelError (a ModelError and a FileNotFoundError)
        ``model`` is neither an existing path nor a packaged name; the message lists the names.
    ModelError (a ValueError)
        The card is not valid (the message names the card and the field), the file's SHA-256 differs
        from the card's, the file is not a model ONNX Runtime can load, or its inputs/outputs do not
        match the card (a fixed batch dimension included).

    Notes
    -----
    ``predict`` may be called from several threads at once: the native runner gives each concurrent
    call its own preallocated buffers, and ONNX Runtime sessions are thread-safe.

    Examples
    --------
    >>> clf = edgecardio.Classifier()
    >>> result = clf.predict(signal_int16, 500, age=63, sex="female")
    >>> result.probabilities["MI"], result.labels, result.latency_ms["total"]
    """

    def __init__(self, model=None, *, precision: str = "int8", threads: int = 1, backend: str = "native",
                 verify: bool = True):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if backend == "native" and not _core.HAS_NATIVE_ORT:
            # A build without the ORT headers: still a working classifier, and it says so.
            warnings.warn("edgecardio was built without the native ONNX Runtime runner (HAS_NATIVE_ORT is "
                          "False); using backend='onnxruntime'. Rebuild with the ONNX Runtime headers "
                          "(tools/fetch-ort-headers.sh) for the native one.", RuntimeWarning, stacklevel=2)
            backend = "onnxruntime"
        onnx_path, card_path, name, is_dir = _resolve(model, precision)
        card = mc.load_card(card_path)
        self._thresholds = mc.card_thresholds(card, card_path)
        self._stats = card["demographics"]["stats"]
        if onnx_path.stat().st_size == 0:
            raise ModelError(f"{onnx_path} is empty, not an ONNX model")
        if verify:
            _verify_digest(card, onnx_path, card_path)
        impl = _NativeBackend if backend == "native" else _OnnxruntimeBackend
        self._backend = impl(onnx_path, int(threads))
        _check_signature(self._backend.inputs, self._backend.outputs, onnx_path)
        self._card = card
        self._path = onnx_path
        self._precision = precision if is_dir else _precision_of(card, onnx_path)
        self._name = name
        self._threads = int(threads)

    # ------------------------------------------------------------ properties
    @property
    def model_path(self) -> Path:
        """The ONNX file in use."""
        return self._path

    @property
    def model_name(self) -> Optional[str]:
        """The packaged model's name (:func:`edgecardio.models`), or None for a model loaded from
        elsewhere."""
        return self._name

    @property
    def classes(self) -> Tuple[str, ...]:
        return mc.CLASSES

    @property
    def model_card(self) -> dict:
        """A copy of the model card (``model_card.json``)."""
        return copy.deepcopy(self._card)

    @property
    def thresholds(self) -> Dict[str, float]:
        return dict(self._thresholds)

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def precision(self) -> str:
        return self._precision

    @property
    def threads(self) -> int:
        return self._threads

    @property
    def reads_lead_std(self) -> bool:
        """Whether the model also reads each lead's voltage (the ``lead_std_mv`` input): then it
        needs the signal in real units, millivolts or ADC counts with their ``gain_per_mv``."""
        return self._backend.reads_lead_std

    @property
    def ort_version(self) -> str:
        """Version of the ONNX Runtime that runs the model."""
        return self._backend.version

    def __repr__(self) -> str:
        return (f"Classifier(model={str(self._path)!r}, precision={self._precision!r}, threads={self._threads}, "
                f"backend={self.backend!r})")

    # ------------------------------------------------------------ inference
    def demographics(self, *, age=None, sex=None, height_cm=None, weight_kg=None) -> np.ndarray:
        """The model's float32 ``[8]`` demographics input, encoded as the model card says."""
        return mc.encode_demographics(self._stats, age=age, sex=sex, height_cm=height_cm, weight_kg=weight_kg)

    def run(self, ecg, demographics, lead_std_mv=None) -> np.ndarray:
        """The model alone on already preprocessed input: ``ecg`` float32 ``[n, 12, 1000]`` (or
        ``[12, 1000]``), ``demographics`` float32 ``[n, 8]`` (or ``[8]``) -> probabilities ``[n, 5]``.

        ``lead_std_mv`` ``[n, 12]`` (or ``[12]``): each lead's standard deviation after the band-pass in
        mV, ``preprocess(..., return_info=True)[1].lead_std_mv``. Required when :attr:`reads_lead_std`,
        ignored otherwise."""
        ecg = np.ascontiguousarray(ecg, dtype=np.float32)
        demographics = np.ascontiguousarray(demographics, dtype=np.float32)
        if ecg.shape == (mc.N_LEADS, mc.N_SAMPLES):
            ecg = ecg[None]
        if demographics.ndim == 1:
            demographics = demographics[None]
        n = ecg.shape[0] if ecg.ndim == 3 else -1
        if ecg.ndim != 3 or ecg.shape[1:] != (mc.N_LEADS, mc.N_SAMPLES) or n < 1:
            raise ValueError(f"ecg must be float32 [n, {mc.N_LEADS}, {mc.N_SAMPLES}] with n >= 1, got {ecg.shape}")
        if demographics.shape != (n, len(mc.DEMOGRAPHIC_FEATURES)):
            raise ValueError(f"demographics must be [{n}, {len(mc.DEMOGRAPHIC_FEATURES)}], got {demographics.shape}")
        std = None
        if self.reads_lead_std:
            if lead_std_mv is None:
                raise ValueError(f"this model also reads each lead's voltage: pass lead_std_mv [n, {mc.N_LEADS}], the "
                                 "lead_std_mv of edgecardio.preprocess(..., return_info=True) for each record")
            std = np.ascontiguousarray(lead_std_mv, dtype=np.float32)
            if std.ndim == 1:
                std = std[None]
            if std.shape != (n, mc.N_LEADS) or not np.all(np.isfinite(std)) or np.any(std < 0):
                raise ValueError(f"lead_std_mv must be [{n}, {mc.N_LEADS}] finite standard deviations >= 0 (mV), "
                                 f"got shape {std.shape}")
        return self._backend.run(ecg, demographics, std)

    def predict(self, signal, fs_hz, *, age=None, sex=None, height_cm=None, weight_kg=None,
                gain_per_mv: float = DEFAULT_GAIN_PER_MV, quality: bool = True) -> Prediction:
        """Diagnose one 10-s 12-lead record.

        Parameters
        ----------
        signal : array_like, shape (12, n)
            Leads I, II, III, aVR, aVL, aVF, V1-V6. Integer ADC counts (int16 range; divided by
            ``gain_per_mv``) or floating-point millivolts. At least 10 s; a longer record is cut to
            its first 10 s (the model's window). The same layouts and the same refusals as
            :func:`edgecardio.preprocess` (a masked array with masked samples is refused).
        fs_hz : int
            Sampling rate; one of ``edgecardio.SUPPORTED_RATES_HZ``.
        age, height_cm, weight_kg : float or None
            Years, centimetres, kilograms; None or NaN when unknown.
        sex : {"male", "female", None}
        gain_per_mv : float
            ADC counts per millivolt of integer input (PTB-XL: 1000).
        quality : bool
            Also compute the per-lead signal quality (:mod:`edgecardio.quality`) of the 10 s.

        Returns
        -------
        Prediction
        """
        t0 = time.perf_counter()
        demo = self.demographics(age=age, sex=sex, height_cm=height_cm, weight_kg=weight_kg)
        x, fs = _check_signal(signal, fs_hz, gain_per_mv)
        if self._backend.name == "native":
            probs, flat, sat, pre_ms, inf_ms, _engine, std = self._backend.runner.predict(x, fs, float(gain_per_mv), demo)
        else:
            tp = time.perf_counter()
            ecg, flat, sat, std = _preprocess(x, fs, gain_per_mv)
            t1 = time.perf_counter()
            probs = self._backend.run(ecg[None], demo[None], std[None].astype(np.float32))[0]
            pre_ms, inf_ms = (t1 - tp) * 1e3, (time.perf_counter() - t1) * 1e3
        if self.reads_lead_std:
            _check_units(std, x)
        result = self._result(probs, flat, sat, pre_ms, inf_ms, _quality(x, fs, gain_per_mv) if quality else None)
        # total is wall time from the call to here: checks and demographics included.
        result.latency_ms["total"] = (time.perf_counter() - t0) * 1e3
        return result

    def predict_batch(self, signals, fs_hz, *, age=None, sex=None, height_cm=None, weight_kg=None,
                      gain_per_mv=DEFAULT_GAIN_PER_MV, quality: bool = True) -> List[Prediction]:
        """Diagnose many records; the model runs on them in batches.

        Parameters
        ----------
        signals : sequence of array_like (12, n), or an array (N, 12, n)
            Records may differ in length and rate. One record alone goes to :meth:`predict` (or in a
            list of one).
        fs_hz, gain_per_mv : scalar or sequence of length N
        age, sex, height_cm, weight_kg : scalar (same for every record), None, or sequence of length N
        quality : bool
            Also compute each record's per-lead signal quality.

        Returns
        -------
        list of Prediction, in input order
        """
        signals = list(signals)  # a sequence of records, or the rows of an (N, 12, n) array
        n = len(signals)
        if n == 0:
            return []
        if np.ndim(signals[0]) == 1:
            raise ValueError(f"predict_batch takes a sequence of records, each (12, n); it got one record "
                             f"(its first item has shape {np.shape(signals[0])}): call predict(signal, ...) "
                             f"or pass [signal]")

        def per_record(name, value):
            if (isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray))
                    or isinstance(value, np.ndarray) and value.ndim == 0):
                return [value] * n
            if len(value) != n:
                raise ValueError(f"{name} has {len(value)} values for {n} records")
            return list(value)

        ages, sexes, heights, weights = (per_record(k, v) for k, v in (
            ("age", age), ("sex", sex), ("height_cm", height_cm), ("weight_kg", weight_kg)))
        rates, gains = per_record("fs_hz", fs_hz), per_record("gain_per_mv", gain_per_mv)
        demo = np.empty((n, len(mc.DEMOGRAPHIC_FEATURES)), np.float32)
        xs, fss = [], []
        for i in range(n):
            try:
                demo[i] = self.demographics(age=ages[i], sex=sexes[i], height_cm=heights[i], weight_kg=weights[i])
                x, fs = _check_signal(signals[i], rates[i], gains[i])
            except (ValueError, TypeError) as e:
                raise type(e)(f"record {i}: {e}") from None
            xs.append(x)
            fss.append(fs)
        out: List[Prediction] = []
        for lo in range(0, n, BATCH_CHUNK):
            hi = min(n, lo + BATCH_CHUNK)
            if self._backend.name == "native":
                probs, flat, sat, pre_ms, inf_ms, std = self._backend.runner.predict_many(
                    xs[lo:hi], fss[lo:hi], [float(g) for g in gains[lo:hi]], demo[lo:hi])
            else:
                ecg = np.empty((hi - lo, mc.N_LEADS, mc.N_SAMPLES), np.float32)
                std = np.empty((hi - lo, mc.N_LEADS), np.float64)
                flat, sat, pre_ms = [], [], []
                for j in range(lo, hi):
                    t0 = time.perf_counter()
                    ecg[j - lo], f, sa, std[j - lo] = _preprocess(xs[j], fss[j], gains[j])
                    flat.append(f)
                    sat.append(sa)
                    pre_ms.append((time.perf_counter() - t0) * 1e3)
                t1 = time.perf_counter()
                probs = self._backend.run(ecg, demo[lo:hi], std.astype(np.float32))
                inf_ms = (time.perf_counter() - t1) * 1e3
            if self.reads_lead_std:
                for j in range(hi - lo):
                    try:
                        _check_units(std[j], xs[lo + j])
                    except ValueError as e:
                        raise ValueError(f"record {lo + j}: {e}") from None
            share = inf_ms / (hi - lo)
            out.extend(self._result(probs[j], flat[j], sat[j], pre_ms[j], share,
                                    _quality(xs[lo + j], fss[lo + j], gains[lo + j]) if quality else None)
                       for j in range(hi - lo))
        return out

    def _result(self, probs: np.ndarray, flat, saturated, t_pre_ms: float, t_inf_ms: float,
                quality=None) -> Prediction:
        p = {c: float(v) for c, v in zip(mc.CLASSES, probs)}
        labels = tuple(c for c in mc.CLASSES if p[c] >= self._thresholds[c])
        return Prediction(p, labels, {"preprocess": t_pre_ms, "inference": t_inf_ms, "total": t_pre_ms + t_inf_ms},
                          _lead_names(flat), _lead_names(saturated), dict(self._thresholds), quality)


def _precision_of(card: Mapping, onnx_path: Path) -> str:
    files = {**DEFAULT_FILES, **card.get("files", {})}
    for precision, name in files.items():
        if name == onnx_path.name:
            return precision
    return "custom"


# ---------------------------------------------------------------- input checks
def _check_signal(signal, fs_hz, gain_per_mv) -> Tuple[np.ndarray, int]:
    """Validate a raw record as :func:`edgecardio.preprocess` does (same rules, same messages) and
    return what the native code reads: int16 counts or float mV, (12, 10 s), rows contiguous, a view
    of the first 10 s when the record is longer (the model's window; no copy)."""
    x = as_record(signal)
    fs = check_rate(fs_hz)
    gain = check_gain(gain_per_mv)
    n_window = mc.N_SAMPLES * fs // mc.MODEL_FS_HZ  # the model's 10 s at fs
    n = x.shape[1]
    if n < n_window:
        raise ValueError(f"record too short: {n} samples is {n / fs:g} s at {fs} Hz; the model needs "
                         f"{n_window / fs:g} s ({n_window} samples)")
    return as_native_rows(x[:, :n_window], gain), fs


def _preprocess(x: np.ndarray, fs: int, gain_per_mv) -> Tuple[np.ndarray, Any, Any, np.ndarray]:
    """edgecardio.preprocess on a checked record: (float32 [12, 1000], flat, saturated lead indices,
    lead_std_mv)."""
    gain = float(gain_per_mv) if x.dtype.kind in "iu" else DEFAULT_GAIN_PER_MV
    ecg, info = preprocess(x, fs, gain_per_mv=gain, return_info=True)
    return ecg, info.flat_leads, info.saturated_leads, info.lead_std_mv


#: A model that reads lead voltages refuses a record whose median lead standard deviation after the
#: band-pass exceeds this (mV): surface ECG leads stay below ~2 mV; 1000x more is microvolt input.
MAX_MEDIAN_LEAD_STD_MV = 20.0


def _check_units(lead_std_mv: np.ndarray, x: np.ndarray) -> None:
    """Refuse input that is not in millivolts (or counts with their gain) for a voltage-reading model:
    the diagnosis would be silently wrong, not merely less confident."""
    live = np.asarray(lead_std_mv, np.float64)
    live = live[live >= mc.FLAT_STD_MV]
    if live.size and float(np.median(live)) > MAX_MEDIAN_LEAD_STD_MV:
        what = ("integer counts: pass the recorder's gain_per_mv (counts per mV)" if x.dtype.kind in "iu"
                else "float input must be in millivolts: divide microvolts by 1000")
        raise ValueError(f"the leads' median standard deviation after the band-pass is {np.median(live):.4g} mV, far "
                         f"above an ECG's (0.05-2 mV; this model reads voltage and refuses more than "
                         f"{MAX_MEDIAN_LEAD_STD_MV:g} mV); {what}")


def _quality(x: np.ndarray, fs: int, gain_per_mv):
    """Native per-lead quality of a checked record (edgecardio.quality.window_quality's core)."""
    from .quality import Quality

    indices, flags = _core.window_quality(x, fs, float(gain_per_mv) if x.dtype.kind in "iu" else 1000.0)
    return Quality(indices, flags, fs)


def _lead_names(leads) -> Tuple[str, ...]:
    """Lead names from the native bit set (bit c = lead c) or a sequence of lead indices."""
    if isinstance(leads, (int, np.integer)):
        return tuple(name for c, name in enumerate(LEAD_NAMES) if (int(leads) >> c) & 1)
    return tuple(LEAD_NAMES[int(c)] for c in sorted(leads))
