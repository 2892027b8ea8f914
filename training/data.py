"""PTB-XL signals: the official layout and the shared compact copy, the preprocessed signal cache
and the demographics of the labeled records.

    python -m training.data --config training/configs/lightecgnet_reg.json      # build the cache

Signals are read as int16 ADC counts (official layout via ``wfdb``; or the shared compact copy, the
same samples) and conditioned by ``edgecardio.preprocess``, the native path the device runs, once,
into a memory-mapped float32 ``[n, 12, 1000]`` array. The cache's ``meta.json`` records which
preprocessing path built it; the shipped model may only be trained from a native cache.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from edgecardio import modelcard

from .config import load_config, repo_path
from .labels import Split, read_database, read_statements, split_by_fold, superclass_labels

N_LEADS, N_SAMPLES = modelcard.N_LEADS, modelcard.N_SAMPLES
CACHE_FORMAT = 2  # 2: lead_std_mv.npy beside signals.npy


# ----------------------------------------------------------------------------------------------
# Raw signals (int16 ADC counts, [12, 1000])


def read_record_official(root, filename_lr: str) -> tuple[np.ndarray, float]:
    """One record from ``records100/`` as int16 ``[12, n]`` ADC counts and its gain (counts/mV)."""
    import wfdb

    rec = wfdb.rdrecord(str(Path(root) / filename_lr), physical=False, return_res=16)
    gains = np.asarray(rec.adc_gain, dtype=np.float64)
    if not np.all(gains == gains[0]) or np.any(np.asarray(rec.baseline) != 0):
        raise ValueError(f"{filename_lr}: per-lead gains {gains} / baselines {rec.baseline} not supported")
    if rec.fs != modelcard.MODEL_FS_HZ or rec.n_sig != N_LEADS:
        raise ValueError(f"{filename_lr}: {rec.n_sig} leads at {rec.fs} Hz, expected 12 at 100 Hz")
    return np.ascontiguousarray(rec.d_signal.T.astype(np.int16)), float(gains[0])


def iter_official(root, db: pd.DataFrame):
    for ecg_id, fn in zip(db.index, db["filename_lr"]):
        sig, gain = read_record_official(root, fn)
        yield int(ecg_id), sig, gain


def iter_compact(compact_dir, db: pd.DataFrame):
    """The shared compact copy: ``signals_fold{k}.npy.xz`` holds int16 first differences in
    ``ptbxl_database.csv`` row order of that fold (see its ``materialize.py``)."""
    compact_dir = Path(compact_dir)
    full = pd.read_csv(compact_dir / "ptbxl_database.csv", usecols=["ecg_id", "strat_fold"])
    wanted = set(db.index.tolist())
    for fold in sorted(set(db["strat_fold"].tolist())):
        ids = full.loc[full["strat_fold"] == fold, "ecg_id"].to_numpy()
        with open(compact_dir / f"signals_fold{fold}.npy.xz", "rb") as f:
            delta = np.load(io.BytesIO(lzma.decompress(f.read())))
        if len(delta) != len(ids):
            raise ValueError(f"signals_fold{fold}: {len(delta)} records, database lists {len(ids)}")
        for e, d in zip(ids, delta):
            if int(e) in wanted:
                yield int(e), np.cumsum(d, axis=1, dtype=np.int16), 1000.0


# ----------------------------------------------------------------------------------------------
# Preprocessing


def _reference_preprocess(signal, fs_hz, gain_per_mv=1000.0):
    """The float64 specification on ADC counts: for development and checks, never shipped."""
    from edgecardio import reference

    return reference.preprocess_reference(reference.counts_to_mv(signal, gain_per_mv), fs_hz, return_std=True)


def _native_preprocess(signal, fs_hz, gain_per_mv=1000.0):
    import edgecardio

    y, info = edgecardio.preprocess(signal, fs_hz, gain_per_mv=gain_per_mv, return_info=True)
    return y, info.lead_std_mv


def get_preprocess(path: str):
    """``(fn(signal, fs_hz, gain_per_mv) -> (float32 [12, 1000], lead_std_mv float64 [12]), description)``
    for a config path."""
    if path == "native":
        import edgecardio

        return _native_preprocess, {"path": "native", "function": "edgecardio.preprocess",
                                       "edgecardio_version": edgecardio.__version__,
                                       "engine": str(edgecardio.engine())}
    if path == "reference":
        return _reference_preprocess, {"path": "reference", "function": "edgecardio.reference.preprocess_reference"}
    raise ValueError(f"unknown preprocess path {path!r}")


# ----------------------------------------------------------------------------------------------
# Cache


def cache_dir_for(cfg: dict) -> Path:
    return repo_path(cfg["data"]["cache_dir"]) / f"ptbxl100_{cfg['data']['reader']}_{cfg['preprocess']['path']}"


def _file_sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_cache(cfg: dict, force: bool = False, progress: bool = True) -> Path:
    """Preprocess every record of ``data.root`` once into ``signals.npy`` (float32, memory-mappable)
    and ``lead_std_mv.npy`` (float32 ``[n, 12]``, each lead's standard deviation after the band-pass)."""
    out = cache_dir_for(cfg)
    if (out / "meta.json").is_file() and not force:
        return out
    root = repo_path(cfg["data"]["root"])
    db = read_database(root)
    fn, pinfo = get_preprocess(cfg["preprocess"]["path"])
    fs_hz = cfg["preprocess"]["fs_hz"]
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "signals.npy.partial"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(db), N_LEADS, N_SAMPLES))
    reader = cfg["data"]["reader"]
    it = iter_official(root, db) if reader == "official" else iter_compact(repo_path(cfg["data"]["compact_dir"]), db)
    pos = {e: i for i, e in enumerate(db.index.tolist())}
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(db), desc=f"cache ({reader}, {pinfo['path']})", mininterval=5)
    t0, seen = time.time(), np.zeros(len(db), bool)
    lead_std = np.zeros((len(db), N_LEADS), np.float32)
    for ecg_id, sig, gain in it:
        y, sd = fn(sig, fs_hz, gain_per_mv=gain)
        y = np.asarray(y, dtype=np.float32)
        if y.shape != (N_LEADS, N_SAMPLES):
            raise ValueError(f"preprocess returned {y.shape} for ecg_id {ecg_id}, expected (12, 1000)")
        arr[pos[ecg_id]] = y
        lead_std[pos[ecg_id]] = sd
        seen[pos[ecg_id]] = True
    if not seen.all():
        raise ValueError(f"{(~seen).sum()} records were not read")
    arr.flush()
    del arr
    tmp.replace(out / "signals.npy")
    np.save(out / "lead_std_mv.npy", lead_std)
    np.save(out / "ecg_ids.npy", db.index.to_numpy(np.int64))
    meta = {
        "format": CACHE_FORMAT, "n_records": len(db), "shape": [len(db), N_LEADS, N_SAMPLES],
        "reader": reader, "root": str(root), "preprocess": {**pinfo, "fs_hz": fs_hz},
        "ptbxl_database_sha256": _file_sha256(root / "ptbxl_database.csv"),
        "scp_statements_sha256": _file_sha256(root / "scp_statements.csv"),
        "data_version": cfg["data"]["data_version"], "seconds": round(time.time() - t0, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2))
    return out


@dataclass
class Dataset:
    """Labeled records (unlabeled dropped) with signals memory-mapped from the cache."""

    signals: np.ndarray  # float32 [n, 12, 1000] (memmap)
    lead_std_mv: np.ndarray  # float32 [n, 12]: each lead's standard deviation after the band-pass
    labels: np.ndarray  # uint8 [n, 5]
    demographics_raw: pd.DataFrame  # age, sex, height, weight (PTB-XL units/codes)
    folds: np.ndarray
    ecg_ids: np.ndarray
    split: Split
    meta: dict

    def demographics(self, stats) -> np.ndarray:
        """float32 ``[n, 8]`` encoded with :func:`edgecardio.modelcard.encode_demographics`."""
        return encode_demographics_frame(self.demographics_raw, stats)


def ptbxl_sex(code) -> str | None:
    """PTB-XL codes sex as 0 = male, 1 = female."""
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return None
    return {0: "male", 1: "female"}[int(code)]


def encode_demographics_frame(df: pd.DataFrame, stats) -> np.ndarray:
    out = np.zeros((len(df), len(modelcard.DEMOGRAPHIC_FEATURES)), dtype=np.float32)
    for i, (age, sex, h, w) in enumerate(df[["age", "sex", "height", "weight"]].itertuples(index=False)):
        out[i] = modelcard.encode_demographics(stats, age=_nan_none(age), sex=ptbxl_sex(sex),
                                               height_cm=_nan_none(h), weight_kg=_nan_none(w), validate=False)
    return out


def _nan_none(v):
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else float(v)


def fit_stats(df: pd.DataFrame) -> dict:
    return modelcard.fit_demographic_stats(df["age"].to_numpy(float), df["height"].to_numpy(float),
                                           df["weight"].to_numpy(float))


def load_dataset(cfg: dict, require_native: bool = False) -> Dataset:
    """Labels and splits from the official CSVs joined with the cached signals."""
    cdir = cache_dir_for(cfg)
    if not (cdir / "meta.json").is_file():
        raise FileNotFoundError(f"no signal cache in {cdir}: run python -m training.data --config ...")
    meta = json.loads((cdir / "meta.json").read_text())
    if meta.get("format") != CACHE_FORMAT:
        raise ValueError(f"cache {cdir} has format {meta.get('format')}, expected {CACHE_FORMAT}: rebuild it")
    if require_native and meta["preprocess"]["path"] != "native":
        raise RuntimeError(f"cache {cdir} was built by {meta['preprocess']['function']}, not the native "
                           "edgecardio.preprocess: the shipped model must be trained on the native path")
    root = repo_path(cfg["data"]["root"])
    if _file_sha256(root / "ptbxl_database.csv") != meta["ptbxl_database_sha256"]:
        raise ValueError(f"{root}/ptbxl_database.csv changed since the cache in {cdir} was built: rebuild it")
    db = read_database(root)
    ids = np.load(cdir / "ecg_ids.npy")
    if not np.array_equal(ids, db.index.to_numpy(np.int64)):
        raise ValueError(f"cache {cdir} rows do not match ptbxl_database.csv")
    signals = np.load(cdir / "signals.npy", mmap_mode="r")
    labels = superclass_labels(db["scp_codes"], read_statements(root), cfg["data"]["classes"])
    keep = labels.any(axis=1) if cfg["data"]["drop_unlabeled"] else np.ones(len(db), bool)
    rows = np.flatnonzero(keep)
    sub = db.iloc[rows]
    folds = sub["strat_fold"].to_numpy()
    d = cfg["data"]
    lead_std = np.load(cdir / "lead_std_mv.npy")
    return Dataset(signals=signals if keep.all() else _RowView(signals, rows), lead_std_mv=lead_std[rows],
                   labels=labels[rows],
                   demographics_raw=sub[["age", "sex", "height", "weight"]].reset_index(drop=True),
                   folds=folds, ecg_ids=sub.index.to_numpy(np.int64),
                   split=split_by_fold(folds, d["train_folds"], d["val_folds"], d["test_folds"]), meta=meta)


def load_soft_labels(path, ecg_ids: np.ndarray) -> np.ndarray:
    """Teacher logits (float32 ``[len(ecg_ids), 5]``) from a :mod:`training.distill` file, in the
    order of ``ecg_ids``; every record must be there (a partial file would silently train on zeros)."""
    with np.load(path) as z:
        ids, logits = z["ecg_id"], z["logits"].astype(np.float32)
    if logits.shape != (len(ids), len(modelcard.CLASSES)):
        raise ValueError(f"{path}: logits have shape {logits.shape}, expected ({len(ids)}, {len(modelcard.CLASSES)})")
    pos = {int(e): i for i, e in enumerate(ids)}
    missing = [int(e) for e in ecg_ids if int(e) not in pos]
    if missing:
        raise ValueError(f"{path} has no teacher logits for {len(missing)} training records (first ecg_id "
                         f"{missing[0]}): rebuild it with python -m training.distill for this config's folds")
    return logits[[pos[int(e)] for e in ecg_ids]]


class _RowView:
    """Row subset of a memmap without copying it (fancy indexing maps through ``rows``)."""

    def __init__(self, base, rows):
        self.base, self.rows = base, np.asarray(rows)
        self.shape = (len(self.rows),) + base.shape[1:]
        self.dtype = base.dtype

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, idx):
        r = self.rows[idx]
        if np.ndim(r) == 0:
            return np.asarray(self.base[int(r)])
        order = np.argsort(r)  # memmap reads in ascending order, then restore the request's order
        out = np.asarray(self.base[r[order]])
        res = np.empty_like(out)
        res[order] = out
        return res


def main(argv=None):
    ap = argparse.ArgumentParser(description="Build the preprocessed PTB-XL signal cache")
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=JSON")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set)
    out = build_cache(cfg, force=a.force)
    print(out, json.dumps(json.loads((out / "meta.json").read_text()), indent=1))


if __name__ == "__main__":
    main()
