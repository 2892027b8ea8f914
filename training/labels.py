"""PTB-XL metadata, benchmark labels and fold splits (pandas only: no signals, no torch).

* Labels follow the PTB-XL benchmark (Strodthoff et al. 2020, ``superdiagnostic``): every key of a
  record's ``scp_codes`` whose statement has ``diagnostic == 1`` in ``scp_statements.csv`` maps to
  its ``diagnostic_class``, with no likelihood threshold; records with no superclass are dropped.
* Splits are by ``strat_fold`` as the config says (train 1-8, validation 9, test 10 when present).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from edgecardio.modelcard import CLASSES


def read_database(root) -> pd.DataFrame:
    """``ptbxl_database.csv`` indexed by ``ecg_id`` (file order kept), ``scp_codes`` parsed to dicts."""
    db = pd.read_csv(Path(root) / "ptbxl_database.csv", index_col="ecg_id")
    db["scp_codes"] = db["scp_codes"].apply(ast.literal_eval)
    return db


def read_statements(root) -> pd.DataFrame:
    return pd.read_csv(Path(root) / "scp_statements.csv", index_col=0)


def diagnostic_map(statements: pd.DataFrame) -> dict[str, str]:
    """SCP code -> diagnostic superclass, for statements with ``diagnostic == 1``."""
    diag = statements[statements["diagnostic"] == 1]
    return {code: cls for code, cls in diag["diagnostic_class"].items() if isinstance(cls, str)}


def superclass_labels(scp_codes, statements: pd.DataFrame, classes=CLASSES) -> np.ndarray:
    """Multi-hot ``[n, len(classes)]`` uint8 labels from an iterable of ``scp_codes`` dicts."""
    mapping = diagnostic_map(statements)
    unknown = set(mapping.values()) - set(classes)
    if unknown:
        raise ValueError(f"scp_statements.csv has diagnostic classes {sorted(unknown)} outside {list(classes)}")
    col = {c: i for i, c in enumerate(classes)}
    codes = list(scp_codes)
    y = np.zeros((len(codes), len(classes)), dtype=np.uint8)
    for i, d in enumerate(codes):
        for code in d:  # any likelihood, including 0.0, counts (benchmark protocol)
            cls = mapping.get(code)
            if cls is not None:
                y[i, col[cls]] = 1
    return y


@dataclass
class Split:
    """Row positions (into the labeled table) of each split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_by_fold(folds: np.ndarray, train_folds, val_folds, test_folds) -> Split:
    folds = np.asarray(folds)
    pick = lambda fs: np.flatnonzero(np.isin(folds, list(fs)))  # noqa: E731
    s = Split(pick(train_folds), pick(val_folds), pick(test_folds))
    if len(s.train) == 0 or len(s.val) == 0:
        raise ValueError(f"empty split: {len(s.train)} train, {len(s.val)} validation records "
                         f"(folds present: {sorted(set(folds.tolist()))})")
    return s
