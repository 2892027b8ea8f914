"""Real-time monitoring: a stream of 12-lead samples in, a diagnosis with per-lead quality every hop.

:class:`Monitor` keeps the last 10 s of one stream in a native ring buffer
(``cpp/dsp/ring_buffer.cpp``). Chunks of any size go in; each time a window completes (the first when
10 s have arrived, then one per hop) the native code computes the window's per-lead quality
(:mod:`edgecardio.quality`) in the same GIL-free call, and the monitor runs
:meth:`Classifier.predict` on the window itself, a read-only view into the ring: the probabilities
are those of ``predict`` on the same 10 s by construction, and since windows depend only on the
samples, any chunking of a stream gives the same results bit for bit.

Labels: ``labels`` are the window's own (the classes over the model's thresholds; empty when the
window is untrusted), ``stable_labels`` the classes present in at least ``stable_k`` of the last
``stable_m`` windows (untrusted windows vote for nothing), which is what a display should show.
"""
from __future__ import annotations

import collections
import dataclasses
from dataclasses import dataclass
from numbers import Real
from typing import Deque, List, Mapping, Optional, Tuple

import numpy as np

from . import _core
from . import modelcard as mc
from .classifier import Classifier, Prediction
from ._checks import DEFAULT_GAIN_PER_MV, check_rate
from .quality import DEFAULT_MAX_BAD_LEADS, Quality, check_max_bad_leads, check_thresholds

WINDOW_S = mc.N_SAMPLES // mc.MODEL_FS_HZ  # the model's 10 s


@dataclass(frozen=True)
class MonitorResult:
    """One hop of a monitored stream.

    Attributes
    ----------
    t_end_s : float
        Stream time of the window's end, seconds since the first sample (the window is
        ``[t_end_s - 10, t_end_s)``).
    index : int
        0 for the first window of the stream (since the last :meth:`Monitor.reset`).
    prediction : Prediction
        ``Classifier.predict`` on this window (computed also for untrusted windows); its ``quality``
        is :attr:`quality`.
    quality : Quality
        Per-lead quality of the window and the trust rule.
    labels : tuple of str
        This window's classes over threshold; () when the window is untrusted.
    stable_labels : tuple of str
        Classes in ``labels`` of at least k of the last m windows.
    flushed : bool
        True for the extra window :meth:`Monitor.flush` makes at the end of a stream.
    """

    t_end_s: float
    index: int
    prediction: Prediction
    quality: Quality
    labels: Tuple[str, ...]
    stable_labels: Tuple[str, ...]
    flushed: bool = False

    @property
    def trusted(self) -> bool:
        return self.quality.trusted

    def to_dict(self) -> dict:
        q = self.quality
        return {"t_end_s": self.t_end_s, "index": self.index, "trusted": q.trusted, "reason": q.reason,
                "stable_labels": list(self.stable_labels), "labels": list(self.labels),
                "probabilities": dict(self.prediction.probabilities),
                "bad_leads": {lead: list(q.lead_flags(lead)) for lead in q.unusable_leads},
                "wander_leads": list(q.wander), "flushed": self.flushed,
                "quality": q.to_dict()["leads"]}


class Monitor:
    """Follow one 12-lead stream: a diagnosis and per-lead quality every hop.

    Parameters
    ----------
    fs_hz : int
        Sampling rate of the stream, one of :data:`edgecardio.SUPPORTED_RATES_HZ`.
    classifier : Classifier, optional
        Shared by any number of monitors (and threads); default: a new ``Classifier(model)``.
    model : str, path-like or None
        Without ``classifier``: the model of the new Classifier, a packaged model name
        (:func:`edgecardio.models`) or a path, as ``Classifier(model)`` takes it; None for the
        default. Giving both ``classifier`` and ``model`` is an error.
    hop_s : float
        Seconds between windows (a whole number of samples, at most 10).
    gain_per_mv : float
        ADC counts per mV of int16 chunks.
    age, sex, height_cm, weight_kg
        Demographics passed to every prediction.
    stable_k, stable_m : int
        A class is stable while it is a label of at least ``stable_k`` of the last ``stable_m`` windows.
    max_bad_leads : int
        A window with more unusable leads than this is untrusted (see :mod:`edgecardio.quality`).
    thresholds : mapping, optional
        Overrides of :data:`edgecardio.quality.DEFAULT_THRESHOLDS`.

    Notes
    -----
    The stream holds int16 counts or float mV, decided by the first chunk (float32 and float64 may
    mix); :meth:`reset` starts a new stream. Float NaN/infinite samples (gaps, lead-off) are held at
    the lead's last finite value and flag the lead ``lead_off`` in every window that holds them. One
    Monitor serves one stream from one thread at a time; monitors sharing a Classifier may run in
    different threads (the native work releases the GIL). Memory is allocated when the stream
    starts; a push allocates no ring or window memory, only its results.

    Examples
    --------
    >>> mon = edgecardio.Monitor(500, hop_s=1.0, age=63, sex="female")
    >>> for chunk in adc_chunks():               # (12, k) int16, any k
    ...     for r in mon.push(chunk):
    ...         print(r.t_end_s, r.stable_labels, r.quality.unusable_leads)
    """

    def __init__(self, fs_hz, *, classifier: Optional[Classifier] = None, model=None, hop_s: float = 1.0,
                 gain_per_mv: float = DEFAULT_GAIN_PER_MV, age=None, sex=None, height_cm=None, weight_kg=None,
                 stable_k: int = 2, stable_m: int = 3, max_bad_leads: int = DEFAULT_MAX_BAD_LEADS,
                 thresholds: Optional[Mapping] = None):
        self._fs = check_rate(fs_hz)
        if isinstance(hop_s, (bool, np.bool_)) or not isinstance(hop_s, Real):
            raise TypeError(f"hop_s must be a number of seconds, got {hop_s!r}")
        hop = hop_s * self._fs
        if not (0 < hop_s <= WINDOW_S) or abs(hop - round(hop)) > 1e-9 or round(hop) < 1:
            raise ValueError(f"hop_s={hop_s!r} must be in (0, {WINDOW_S}] s and a whole number of samples at "
                             f"{self._fs} Hz")
        self._hop = int(round(hop))
        if isinstance(gain_per_mv, (bool, np.bool_)) or not isinstance(gain_per_mv, Real) \
                or not np.isfinite(gain_per_mv) or gain_per_mv <= 0:
            raise ValueError(f"gain_per_mv must be positive and finite (ADC counts per mV), got {gain_per_mv!r}")
        self._gain = float(gain_per_mv)
        for name, v in (("stable_k", stable_k), ("stable_m", stable_m)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if stable_k > stable_m:
            raise ValueError(f"stable_k={stable_k} cannot exceed stable_m={stable_m} (k of the last m windows)")
        self._k, self._m = int(stable_k), int(stable_m)
        self._max_bad = check_max_bad_leads(max_bad_leads)
        self._thresholds = check_thresholds(thresholds)
        if classifier is not None and not isinstance(classifier, Classifier):
            raise TypeError(f"classifier must be an edgecardio.Classifier, got {type(classifier).__name__}")
        if classifier is not None and model is not None:
            raise ValueError("pass either classifier or model, not both: the classifier already has its model")
        self._clf = classifier if classifier is not None else Classifier(model)
        self._demo = dict(age=age, sex=sex, height_cm=height_cm, weight_kg=weight_kg)
        self._clf.demographics(**self._demo)  # bad demographics fail here, not at the first window
        self._n_window = WINDOW_S * self._fs
        self._sw = None  # the native stream, made by the first chunk (its dtype decides int16 or float)
        self._history: Deque[Tuple[str, ...]] = collections.deque(maxlen=self._m)

    # ------------------------------------------------------------ properties
    @property
    def fs_hz(self) -> int:
        return self._fs

    @property
    def hop_s(self) -> float:
        return self._hop / self._fs

    @property
    def classifier(self) -> Classifier:
        return self._clf

    @property
    def samples_seen(self) -> int:
        """Samples per lead pushed since the stream started (or the last reset)."""
        return 0 if self._sw is None else int(self._sw.samples_seen)

    @property
    def t_s(self) -> float:
        """Stream time in seconds: samples seen / fs_hz."""
        return self.samples_seen / self._fs

    @property
    def dtype(self) -> Optional[str]:
        """"int16" or "float64" once the stream has started, else None."""
        return None if self._sw is None else self._sw.kind

    def __repr__(self) -> str:
        return (f"Monitor(fs_hz={self._fs}, hop_s={self.hop_s:g}, stable={self._k}-of-{self._m}, "
                f"max_bad_leads={self._max_bad}, t_s={self.t_s:g})")

    # ------------------------------------------------------------ streaming
    def push(self, chunk) -> List[MonitorResult]:
        """Add samples; return the results of the windows they complete (often none, maybe several).

        Parameters
        ----------
        chunk : array_like, shape (12, k) or (12,)
            k >= 0 samples per lead (a (12,) array is one frame): int16 counts or float mV, the same
            kind as the stream's first chunk.

        Returns
        -------
        list of MonitorResult
        """
        x = self._check_chunk(chunk)
        out: List[MonitorResult] = []
        sw, n, start = self._sw, x.shape[1], 0
        while start < n:
            start += sw.push(x, start)
            if sw.window_ready:
                out.append(self._result(flushed=False))
        return out

    def flush(self) -> List[MonitorResult]:
        """At the end of a stream: a last window ending at the newest sample, when samples arrived
        since the last window and at least 10 s in all (else []). The hop grid is not moved."""
        if self._sw is None or not self._sw.flush():
            return []
        return [self._result(flushed=True)]

    def reset(self) -> None:
        """Forget the stream: empty buffer, stream time 0, no label history (next push starts anew,
        int16 or float)."""
        if self._sw is not None:
            self._sw.reset()
        self._history.clear()

    # ------------------------------------------------------------ internals
    def _check_chunk(self, chunk) -> np.ndarray:
        x = np.asarray(chunk)
        if x.dtype == object or x.dtype.kind not in "iuf":
            raise TypeError(f"chunk must be int16 ADC counts or float millivolts, got dtype {x.dtype}")
        if x.ndim == 1 and x.shape[0] == mc.N_LEADS:
            x = x[:, None]
        if x.ndim != 2 or x.shape[0] != mc.N_LEADS:
            hint = "; transpose? pass chunk.T" if x.ndim == 2 and x.shape[1] == mc.N_LEADS else ""
            raise ValueError(f"chunk must have shape ({mc.N_LEADS}, k) (leads as rows), got {x.shape}{hint}")
        if x.dtype.kind in "iu":
            if x.dtype != np.int16:
                if x.size and (x.min() < -32768 or x.max() > 32767):
                    raise ValueError(f"integer chunk ({x.dtype}) has values outside int16; pass int16 ADC counts "
                                     f"or float millivolts")
                x = x.astype(np.int16)
            kind = "int16"
        else:
            if x.dtype.itemsize not in (4, 8):
                x = x.astype(np.float64)
            kind = "float64"
        if not x.dtype.isnative:
            x = x.astype(x.dtype.newbyteorder("="))
        if (x.shape[1] > 1 and x.strides[1] != x.itemsize) or x.strides[0] < 0:
            x = np.ascontiguousarray(x)
        if self._sw is None or (self._sw.samples_seen == 0 and self._sw.kind != kind):
            self._sw = _core.StreamWindow(self._fs, mc.N_LEADS, self._n_window, self._hop, kind, self._gain,
                                          self._thresholds)
        elif self._sw.kind != kind:
            raise TypeError(f"this stream holds {self._sw.kind} samples and the chunk is {x.dtype}: push one kind "
                            f"per stream (or reset() first)")
        return x

    def _result(self, flushed: bool) -> MonitorResult:
        sw = self._sw
        window = sw.window()  # a read-only view into the ring, valid until the next push
        idx, flags = sw.quality()
        quality = Quality(idx, flags, self._fs, self._max_bad)
        gain = self._gain if sw.kind == "int16" else DEFAULT_GAIN_PER_MV
        # The quality the ring computed (cached segments) is the one predict would compute: attach it
        # instead of computing it twice.
        pred = dataclasses.replace(self._clf.predict(window, self._fs, gain_per_mv=gain, quality=False, **self._demo),
                                   quality=quality)
        labels = pred.labels if quality.trusted else ()
        self._history.append(labels)
        votes = collections.Counter(c for h in self._history for c in h)
        stable = tuple(c for c in mc.CLASSES if votes[c] >= self._k)
        end = int(sw.window_end)
        return MonitorResult(end / self._fs, int(sw.windows) - 1, pred, quality, labels, stable, flushed)


__all__ = ["Monitor", "MonitorResult", "WINDOW_S"]
