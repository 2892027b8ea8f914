"""Shared helpers for the training tests (real PTB-XL records from the compact shared copy)."""
import io
import lzma

import numpy as np
import pandas as pd


def preprocess_fn():
    """The native edgecardio.preprocess when built, else training's scipy specification (named for the log)."""
    try:
        import edgecardio

        return edgecardio.preprocess, "native"
    except ImportError:
        from training.data import _scipy_spec_preprocess

        return _scipy_spec_preprocess, "scipy"


_FOLD_CACHE = {}


def real_records(ptbxl, fold=9, n=8):
    """The first ``n`` records of ``fold``: int16 [n, 12, 1000] ADC counts and their ecg_ids."""
    if fold not in _FOLD_CACHE:
        with open(ptbxl / f"signals_fold{fold}.npy.xz", "rb") as f:
            _FOLD_CACHE[fold] = np.load(io.BytesIO(lzma.decompress(f.read())))
    db = pd.read_csv(ptbxl / "ptbxl_database.csv", usecols=["ecg_id", "strat_fold"])
    ids = db.loc[db.strat_fold == fold, "ecg_id"].to_numpy()[:n]
    return np.cumsum(_FOLD_CACHE[fold][:n], axis=2, dtype=np.int16), ids


def preprocessed_records(ptbxl, fold=9, n=8):
    fn, _ = preprocess_fn()
    raw, ids = real_records(ptbxl, fold, n)
    return np.stack([np.asarray(fn(r, 100, gain_per_mv=1000.0), np.float32) for r in raw]), ids
