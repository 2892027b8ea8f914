"""PTB-XL benchmark labels, fold splits and demographics on real rows of the shared copy."""
import ast

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pandas")
from edgecardio import modelcard as mc  # noqa: E402
from training.data import encode_demographics_frame, fit_stats  # noqa: E402
from training.labels import read_database, read_statements, split_by_fold, superclass_labels  # noqa: E402

pytestmark = pytest.mark.ptbxl


@pytest.fixture(scope="module")
def table(ptbxl):
    db = read_database(ptbxl)
    st = read_statements(ptbxl)
    return db, st, superclass_labels(db["scp_codes"], st)


def benchmark_labels(db, st):
    """helme/ecg_ptbxl_benchmarking's 'superdiagnostic' aggregation, written independently."""
    agg = st[st.diagnostic == 1]
    out = []
    for codes in db.scp_codes:
        out.append(sorted({agg.loc[k].diagnostic_class for k in codes if k in agg.index}))
    return out


def test_matches_benchmark_aggregation(table):
    db, st, y = table
    ref = benchmark_labels(db, st)
    ours = [sorted(mc.CLASSES[k] for k in np.flatnonzero(row)) for row in y]
    assert ours == ref


@pytest.mark.parametrize("ecg_id, expected", [
    (1, {"NORM"}),  # NORM 100, LVOLT/SR are not diagnostic statements
    (146, {"MI", "STTC", "HYP"}),  # IMI, ISCLA, SEHYP
    (263, {"MI", "STTC"}),  # NST_ has likelihood 0 and still counts: no threshold in the protocol
    (17, set()),  # rhythm/form statements only: dropped from training and evaluation
])
def test_known_records(table, ecg_id, expected):
    db, _, y = table
    row = y[db.index.get_loc(ecg_id)]
    assert {c for c, v in zip(mc.CLASSES, row) if v} == expected


def test_class_order_and_counts(table):
    db, _, y = table
    assert tuple(mc.CLASSES) == ("NORM", "MI", "STTC", "CD", "HYP")
    labeled = y.any(1)
    if sorted(set(db.strat_fold)) == list(range(1, 10)) and len(db) == 19601:  # the shared folds 1-9 copy
        assert labeled.sum() == 19230
        assert y[labeled].sum(0).tolist() == [8551, 4919, 4714, 4402, 2387]


def test_splits_are_disjoint_by_fold_and_patient(table):
    db, _, y = table
    keep = y.any(1)
    sub = db[keep]
    s = split_by_fold(sub.strat_fold.to_numpy(), range(1, 9), [9], [10])
    folds = sub.strat_fold.to_numpy()
    assert set(folds[s.train]) <= set(range(1, 9)) and set(folds[s.val]) == {9}
    assert len(set(s.train) & set(s.val)) == 0
    if 10 not in set(folds):
        assert len(s.test) == 0  # the shared copy has no fold 10: handled, not an error
    pid = sub.patient_id.to_numpy()
    assert not set(pid[s.train]) & set(pid[s.val])  # PTB-XL folds are patient-disjoint
    assert len(s.train) + len(s.val) + len(s.test) == keep.sum()


def test_split_with_fold_10_present():
    folds = np.array([1, 2, 9, 10, 10, 8])
    s = split_by_fold(folds, range(1, 9), [9], [10])
    assert s.train.tolist() == [0, 1, 5] and s.val.tolist() == [2] and s.test.tolist() == [3, 4]


def test_split_fails_loudly_when_empty():
    with pytest.raises(ValueError, match="empty split"):
        split_by_fold(np.array([1, 2, 3]), range(1, 9), [9], [10])


def test_demographics_encoding_on_real_rows(table):
    db, _, _ = table
    df = db[["age", "sex", "height", "weight"]].reset_index(drop=True)
    stats = fit_stats(df)
    assert 50 < stats["age"]["mean"] < 70
    enc = encode_demographics_frame(df, stats)
    assert enc.shape == (len(df), 8) and enc.dtype == np.float32
    old = np.flatnonzero(df.age.to_numpy() == 300)
    assert len(old) > 0  # PTB-XL stores ages over 89 as 300
    np.testing.assert_allclose(enc[old, 0], (90 - stats["age"]["mean"]) / stats["age"]["std"], rtol=1e-6)
    male = df.sex.to_numpy() == 0
    assert (enc[male, 2] == -1).all() and (enc[~male, 2] == 1).all() and (enc[:, 3] == 0).all()
    nh = df.height.isna().to_numpy()
    assert (enc[nh, 5] == 1).all() and (enc[nh, 4] == 0).all() and (enc[~nh, 5] == 0).all()
