"""Score ECG archives: every record of files, directories, globs or a manifest, one row each.

    df = edgecardio.score(["records100/"], "results.parquet")              # a process pool here
    df = edgecardio.score(["manifest.csv"], "results.csv", engine="ray")   # Ray Data, here or a cluster

A row per record: ``record`` (its path; a WFDB record by its ``.hea``), the five probabilities
(``NORM``, ``MI``, ``STTC``, ``CD``, ``HYP``), ``labels``, ``flat_leads``, ``saturated_leads``,
``unusable_leads`` (comma-separated lead names; the last are the leads :mod:`edgecardio.quality` finds
lead-off, flat, saturated or noisy), ``quality`` ("ok", or why the diagnosis is not trustworthy), ``fs_hz``, ``model``, ``model_version`` and ``error``: a record that cannot be read or scored becomes a row with
its error (probabilities NaN), never the end of the run. Each record is scored by
:meth:`edgecardio.Record.predict` (one ``Classifier.predict`` call), so a row holds the same bits
whichever engine and however many workers, and the same as ``predict`` on that record.

Rows are appended to ``<output>.partial.jsonl`` as they arrive; the output file itself is written
once, at the end, atomically. ``resume=True`` keeps the rows of an earlier run (its output, or the
journal of a run that stopped early) that have no error and scores only the rest.

Needs ``pandas`` (``pip install 'edgecardio[score]'``); Parquet needs ``pyarrow`` (same extra);
the Ray engine ``pip install 'edgecardio[ray]'``.
"""
from __future__ import annotations

import glob
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from . import packaged
from .io import DEMOGRAPHICS, SUFFIXES
from .modelcard import CLASSES

ENGINES = ("local", "ray")
COLUMNS = ("record", *CLASSES, "labels", "flat_leads", "saturated_leads", "unusable_leads", "quality", "fs_hz", "model",
           "model_version", "error")
#: the optional per-record columns a manifest may carry besides ``path``
MANIFEST_COLUMNS = (*DEMOGRAPHICS, "fs_hz")
RECORD_SUFFIXES = (".hea", ".npy", ".edf", ".bdf", ".dcm")
DEFAULT_CHUNK = 32


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("scoring needs pandas: pip install 'edgecardio[score]'") from None
    return pd


# ---------------------------------------------------------------- inputs
def expand_inputs(inputs, fs_hz: Optional[float] = None) -> List[Dict[str, Any]]:
    """Tasks (``record`` plus optional ``age``, ``sex``, ``height_cm``, ``weight_kg``, ``fs_hz``) for
    ``inputs``: record files, directories (searched recursively for ``.hea``, ``.npy``, ``.edf``,
    ``.bdf``, ``.dcm``), glob patterns, or manifest ``.csv`` files with a ``path`` column. A path
    that does not exist stays a task: its row will carry the error."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    tasks: List[Dict[str, Any]] = []
    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.suffix.lower() == ".csv" and p.is_file():
            tasks.extend(_read_manifest(p))
        elif p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.suffix.lower() in RECORD_SUFFIXES and f.is_file())
            tasks.extend({"record": f} for f in found)
        elif any(ch in text for ch in "*?[") and not p.exists():
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise ValueError(f"no file matches the pattern {text!r}")
            # record files, and WFDB record names without a suffix ("records/*_lr"); not .dat or others
            tasks.extend({"record": m} for m in matches if Path(m).suffix.lower() in RECORD_SUFFIXES
                         or Path(m + ".hea").is_file())
        else:
            tasks.append({"record": text})
    for t in tasks:
        t["record"] = _canonical(t["record"])
    seen, out = set(), []
    for t in tasks:  # a record given twice is scored once (a row per record)
        if t["record"] not in seen:
            seen.add(t["record"])
            if fs_hz is not None and t.get("fs_hz") is None and t["record"].lower().endswith(".npy"):
                t["fs_hz"] = float(fs_hz)
            out.append(t)
    return out


def _canonical(record: str) -> str:
    """A WFDB record named by its header (``rec``, ``rec.dat`` -> ``rec.hea``), so a record has one
    name in the output whichever way it was given, and ``resume`` recognizes it."""
    p = Path(record)
    suffix = p.suffix.lower()
    if suffix == ".dat" or (suffix not in SUFFIXES and not p.is_file()):
        hea = (p.with_suffix("") if suffix == ".dat" else p).with_name(
            (p.stem if suffix == ".dat" else p.name) + ".hea")
        if hea.is_file():
            return str(hea)
    return record


def _read_manifest(p: Path) -> List[Dict[str, Any]]:
    pd = _pandas()
    try:
        df = pd.read_csv(p, dtype={"path": str, "sex": str})
    except Exception as e:  # noqa: BLE001  pandas raises several types for a broken CSV
        raise ValueError(f"{p}: not a readable manifest CSV ({type(e).__name__}: {e})") from None
    if "path" not in df.columns:
        raise ValueError(f"{p}: a manifest needs a 'path' column (and may have {', '.join(MANIFEST_COLUMNS)}); "
                         f"it has {list(df.columns)}")
    tasks = []
    for i, row in enumerate(df.to_dict("records")):
        path = row["path"]
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"{p}: row {i + 2} has an empty path")
        rp = Path(path)
        t: Dict[str, Any] = {"record": str(rp if rp.is_absolute() else p.parent / rp)}
        for col in MANIFEST_COLUMNS:
            v = row.get(col)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if col == "sex":
                t[col] = str(v)
            else:
                try:
                    t[col] = float(v)
                except (TypeError, ValueError):
                    raise ValueError(f"{p}: row {i + 2}: {col} {v!r} is not a number") from None
        tasks.append(t)
    return tasks


# ---------------------------------------------------------------- scoring one chunk (any process)
@dataclass(frozen=True)
class Options:
    model: Optional[str] = None
    precision: str = "int8"
    backend: str = "native"
    verify: bool = True


class Scorer:
    """Scores tasks with one :class:`Classifier` (one per worker process or Ray actor)."""

    def __init__(self, options: Options):
        from .classifier import Classifier

        self.options = options
        self.classifier = Classifier(options.model, precision=options.precision, threads=1, backend=options.backend)
        card = self.classifier.model_card
        # a packaged model by its name (the card's "name" is the architecture family, the same for all)
        self.model = str(self.classifier.model_name or card.get("name") or self.classifier.model_path.name)
        self.model_version = str(card.get("version", ""))

    def row(self, task: Dict[str, Any]) -> Dict[str, Any]:
        from .io import read_record

        row: Dict[str, Any] = {"record": task["record"], **{c: math.nan for c in CLASSES}, "labels": "",
                               "flat_leads": "", "saturated_leads": "", "unusable_leads": "", "quality": "",
                               "fs_hz": math.nan,
                               "model": self.model, "model_version": self.model_version, "error": None}
        try:
            rec = read_record(task["record"], fs_hz=task.get("fs_hz"), verify=self.options.verify)
            row["fs_hz"] = rec.fs_hz
            demo = {k: task[k] for k in DEMOGRAPHICS if task.get(k) is not None}
            r = rec.predict(self.classifier, **demo)
        except Exception as e:  # noqa: BLE001  one bad record must not end the run: it becomes its row
            row["error"] = _one_line(e)
            return row
        row.update(r.probabilities)
        row["labels"] = ",".join(r.labels)
        row["flat_leads"] = ",".join(r.flat_leads)
        row["saturated_leads"] = ",".join(r.saturated_leads)
        row["unusable_leads"] = ",".join(r.quality.unusable_leads)
        row["quality"] = "ok" if r.quality.trusted else r.quality.reason
        return row

    def rows(self, tasks: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [self.row(t) for t in tasks]


def _one_line(e: BaseException) -> str:
    msg = " ".join(line.strip() for line in str(e).strip().splitlines())
    kind = type(e).__name__
    return f"{kind}: {msg}" if msg else kind


_WORKER: Optional[Scorer] = None


def _init_worker(options: Options) -> None:
    global _WORKER
    _WORKER = Scorer(options)


def _score_chunk(start: int, tasks: List[Dict[str, Any]]):
    return start, _WORKER.rows(tasks)


# ---------------------------------------------------------------- engines
def _run_local(tasks, options: Options, workers: int, chunk: int, emit: Callable[..., None]):
    if workers == 1:
        scorer = Scorer(options)
        for lo in range(0, len(tasks), chunk):
            emit(lo, scorer.rows(tasks[lo:lo + chunk]))
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # spawn: a forked child would inherit the parent's ONNX Runtime and thread state
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(options,)) as pool:
        pending, next_lo = set(), 0
        while next_lo < len(tasks) or pending:
            # a bounded number of chunks in flight keeps memory flat however long the input list is
            while next_lo < len(tasks) and len(pending) < 4 * workers:
                pending.add(pool.submit(_score_chunk, next_lo, tasks[next_lo:next_lo + chunk]))
                next_lo += chunk
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                try:
                    emit(*f.result())
                except BrokenProcessPool:
                    raise RuntimeError("a worker process died (killed for memory, or a crash): the rows scored so "
                                       "far are kept in the output's .partial.jsonl journal; run again with "
                                       "resume=True (CLI --resume) to go on") from None


class _RayScorer:
    """The Ray Data stateful callable: one Classifier per actor, a batch of tasks -> rows."""

    def __init__(self, options: Options):
        self.scorer = Scorer(options)

    def __call__(self, batch):
        pd = _pandas()
        tasks = []
        for t in batch.to_dict("records"):
            tasks.append({k: v for k, v in t.items() if not _is_missing(v)})
        rows = self.scorer.rows(tasks)
        out = pd.DataFrame(rows, columns=list(COLUMNS))
        out["error"] = out["error"].astype(object)
        out["_i"] = batch["_i"].to_numpy()
        return out


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _run_ray(tasks, options: Options, workers: int, chunk: int, address: Optional[str],
             emit: Callable[..., None]):
    try:
        import ray
    except ImportError:
        raise ImportError("--engine ray needs Ray: pip install 'edgecardio[ray]'") from None
    pd = _pandas()
    started = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        if address is None:
            ray.init(num_cpus=workers, **kwargs)
        else:
            ray.init(address=address, **kwargs)
        started = True
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        cols = ("record", *MANIFEST_COLUMNS)
        frame = pd.DataFrame({"_i": range(len(tasks)), **{c: [t.get(c) for t in tasks] for c in cols}})
        for c in cols:
            frame[c] = frame[c].astype(object if c in ("record", "sex") else "float64")
        # one block per chunk, made here: a repartition would need CPU slots the actors already hold
        ds = ray.data.from_pandas([frame.iloc[lo:lo + chunk] for lo in range(0, len(frame), chunk)])
        ds = ds.map_batches(_RayScorer, fn_constructor_kwargs={"options": options}, batch_size=chunk,
                            batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
        for batch in ds.iter_batches(batch_format="pandas", batch_size=None):
            idx = batch.pop("_i").to_numpy()
            rows = batch.to_dict("records")
            for r in rows:
                if _is_missing(r["error"]):
                    r["error"] = None
            emit([int(i) for i in idx], rows)  # a batch at a time: one journal write per batch
    finally:
        if started:
            ray.shutdown()


# ---------------------------------------------------------------- output, journal, resume
def _journal_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial.jsonl")


def _read_output(output: Path):
    pd = _pandas()
    if output.suffix.lower() == ".csv":
        # pandas < 3 parses floats approximately unless asked; 3 is exact and deprecates the option
        exact = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
        df = pd.read_csv(output, dtype={"record": str, "error": object, "model_version": str}, **exact)
    else:
        df = pd.read_parquet(output)
    return [_clean_row(r) for r in df.to_dict("records")]


def _clean_row(r: Dict[str, Any]) -> Dict[str, Any]:
    for c in ("labels", "flat_leads", "saturated_leads", "unusable_leads", "quality"):
        if _is_missing(r.get(c)):
            r[c] = ""
    if _is_missing(r.get("error")):
        r["error"] = None
    for c in ("model", "model_version"):
        r[c] = "" if _is_missing(r.get(c)) else str(r[c])
    return {c: r.get(c) for c in COLUMNS}


def _read_journal(path: Path) -> List[Dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(_clean_row(json.loads(line)))
            except (json.JSONDecodeError, AttributeError):
                break  # the run stopped while writing this line: the rest is not there
    return rows


def _frame(rows: List[Dict[str, Any]]):
    pd = _pandas()
    # explicit dtypes: float64 numbers, and Python objects for text with None for "no error", so a
    # frame does not change type with the rows it happens to hold (pandas >= 3 infers str with NaN)
    cols = {}
    for c in COLUMNS:
        values = [r[c] for r in rows]
        if c in CLASSES or c == "fs_hz":
            cols[c] = pd.Series(values, dtype="float64")
        else:
            cols[c] = pd.Series([None if _is_missing(v) else str(v) for v in values] if c == "error" else values,
                                dtype=object)
    return pd.DataFrame(cols, columns=list(COLUMNS))


def _write(df, output: Path) -> None:
    tmp = output.with_name(f".{output.name}.tmp")
    if output.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    else:
        try:
            df.to_parquet(tmp, index=False)
        except ImportError:
            raise ImportError("Parquet output needs pyarrow: pip install 'edgecardio[score]', "
                              "or write a .csv") from None
    os.replace(tmp, output)


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.bar, self.total, self.done, self.last = None, total, 0, 0.0
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="rec", file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                pass

    def update(self, n: int, failed: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(failed=failed, refresh=False)
        elif self.enabled and (time.monotonic() - self.last > 5 or self.done == self.total):
            self.last = time.monotonic()
            print(f"scored {self.done}/{self.total} ({failed} failed)", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------- the API
def _model_option(model) -> Optional[str]:
    """``model`` as the string a worker resolves the same way: a path object stays a path even
    where its text alone would read as a packaged name."""
    if model is None or isinstance(model, str):
        return model
    text = os.fspath(model)
    return os.path.join(os.curdir, text) if packaged.is_name(text) else text


def score(inputs, output=None, *, engine: str = "local", workers: Optional[int] = None, model=None,
          precision: str = "int8", backend: str = "native", fs_hz: Optional[float] = None, verify: bool = True,
          resume: bool = False, progress: bool = False, address: Optional[str] = None,
          chunk_size: int = DEFAULT_CHUNK):
    """Score every record of ``inputs``; one row per record.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        Record files, directories (searched recursively), glob patterns, or manifest ``.csv`` files
        (a ``path`` column, relative to the manifest; optional ``age``, ``sex``, ``height_cm``,
        ``weight_kg`` and, for ``.npy`` records, ``fs_hz``). A manifest's demographics override the
        ones a file carries.
    output : str or os.PathLike, optional
        ``.parquet`` (default) or ``.csv``; written atomically at the end. None: only return the rows.
    engine : {"local", "ray"}
        A process pool on this machine, or Ray Data (``address`` to join an existing cluster).
    workers : int, optional
        Processes or Ray actors (default: the CPU count); each runs one single-threaded Classifier.
    model, precision, backend
        As for :class:`edgecardio.Classifier`: ``model`` is a packaged model name
        (:func:`edgecardio.models`), a path, or None for the default. Each worker resolves a name in
        its own installation (Ray nodes need not share a path); an unknown name fails here, at once.
    fs_hz : float, optional
        The sampling rate of ``.npy`` records without an ``fs_hz`` manifest column.
    verify : bool
        Check WFDB checksums and initial values (a mismatch is that record's error).
    resume : bool
        Keep the rows without error of an earlier run into ``output`` and score only the rest.
    progress : bool
        A progress bar on stderr.
    address : str, optional
        The Ray cluster to join (``ray://host:10001`` or ``auto``); default: a local Ray instance.
    chunk_size : int
        Records per task sent to a worker (or per Ray batch).

    Returns
    -------
    pandas.DataFrame
        The rows in input order (rows kept by ``resume`` first), columns :data:`COLUMNS`;
        ``df.attrs["summary"]`` holds ``records``, ``ok``, ``failed``, ``skipped``, ``seconds``,
        ``records_per_s``.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if workers is None:
        workers = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if address is not None and engine != "ray":
        raise ValueError("address applies to engine='ray'")
    _pandas()
    out_path = None if output is None else Path(os.fspath(output))
    if out_path is not None and out_path.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"output must end in .parquet or .csv, got {out_path}")
    packaged.resolve_model(model)  # an unknown model name fails before any worker starts
    tasks = expand_inputs(inputs, fs_hz)
    options = Options(_model_option(model), precision, backend, verify)

    kept: Dict[str, Dict[str, Any]] = {}
    journal = None if out_path is None else _journal_path(out_path)
    if resume:
        if out_path is None:
            raise ValueError("resume needs an output file")
        earlier = _read_output(out_path) if out_path.exists() else []
        if journal.exists():
            earlier += _read_journal(journal)
        kept = {r["record"]: r for r in earlier if r["error"] is None}
    todo = [t for t in tasks if t["record"] not in kept]
    if journal is not None:
        if not resume and journal.exists():
            journal.unlink()
        # the kept rows go into the journal first (replacing it whole), so a run that stops again
        # loses none of them
        tmp = journal.with_name(f".{journal.name}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept.values()), encoding="utf-8")
        os.replace(tmp, journal)
        jf = open(journal, "a", encoding="utf-8")
    else:
        jf = None

    results: List[Optional[Dict[str, Any]]] = [None] * len(todo)
    failed = 0
    bar = _Progress(len(todo), progress)

    def emit(where, rows: List[dict]) -> None:
        """Rows in; ``where`` is the index of the first (consecutive rows) or a list of indices."""
        nonlocal failed
        indices = range(where, where + len(rows)) if isinstance(where, int) else where
        for i, r in zip(indices, rows):
            if results[i] is None:
                failed += r["error"] is not None
            results[i] = r  # a block delivered twice (a retry) overwrites its own rows
        if jf is not None:
            jf.write("".join(json.dumps(r) + "\n" for r in rows))
            jf.flush()
        bar.update(len(rows), failed)

    t0 = time.perf_counter()
    try:
        if todo:
            if engine == "local":
                _run_local(todo, options, min(workers, max(1, math.ceil(len(todo) / chunk_size))), chunk_size, emit)
            else:
                _run_ray(todo, options, workers, chunk_size, address, emit)
    finally:
        bar.close()
        if jf is not None:
            jf.close()
    seconds = time.perf_counter() - t0
    rows = list(kept.values()) + [r for r in results if r is not None]
    df = _frame(rows)
    if out_path is not None:
        _write(df, out_path)
        journal.unlink()
    df.attrs["summary"] = {"records": len(rows), "ok": len(rows) - int(df["error"].notna().sum()),
                           "failed": int(df["error"].notna().sum()), "skipped": len(kept),
                           "scored": len(todo), "seconds": seconds,
                           "records_per_s": len(todo) / seconds if seconds > 0 else math.nan,
                           "engine": engine, "workers": workers}
    return df


def summary_line(summary: Dict[str, Any]) -> str:
    """One line for people: records ok, failed, skipped, records/s."""
    s = summary
    skipped = f", {s['skipped']} kept from the earlier run" if s["skipped"] else ""
    return (f"{s['records']} records: {s['ok']} ok, {s['failed']} failed{skipped}; scored {s['scored']} in "
            f"{s['seconds']:.1f} s ({s['records_per_s']:.1f} records/s, {s['engine']} engine, "
            f"{s['workers']} workers)")
