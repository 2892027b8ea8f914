"""edgecardio.wfdb_io (the WFDB backend of edgecardio.read_record) against the wfdb package: real
PTB-XL records and records wfdb itself writes.

Oracle: ``wfdb.rdrecord`` (digital counts must be equal; physical values equal to float64 rounding).
"""
import subprocess
import sys
import warnings

import numpy as np
import pytest

from edgecardio import wfdb_io

wfdb = pytest.importorskip("wfdb")


@pytest.fixture(scope="module")
def ptbxl_records(ptbxl, tmp_path_factory):
    dest = tmp_path_factory.mktemp("ptbxl")
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(dest), "--folds", "9", "--limit", "20"],
                   check=True, capture_output=True, timeout=300)
    records = sorted(p.with_suffix("") for p in dest.glob("records100/*/*.hea"))
    assert len(records) == 20
    return records


def assert_same_as_wfdb(path):
    ours = wfdb_io.read_wfdb(path)
    ref = wfdb.rdrecord(str(path), physical=False)
    np.testing.assert_array_equal(ours.digital, ref.d_signal.T)
    assert ours.fs_hz == ref.fs
    assert ours.sig_names == ref.sig_name
    np.testing.assert_array_equal(ours.gain_per_mv, np.asarray(ref.adc_gain))
    phys = wfdb.rdrecord(str(path)).p_signal.T
    np.testing.assert_allclose(ours.physical_mv(), phys, rtol=1e-12, atol=1e-12)
    return ours


@pytest.mark.ptbxl
def test_ptbxl_records_match_wfdb(ptbxl_records):
    for rec in ptbxl_records:
        ours = assert_same_as_wfdb(rec)
        assert ours.digital.shape == (12, 1000) and ours.digital.dtype == np.int16
        assert ours.fs_hz == 100 and np.all(ours.gain_per_mv == 1000)
    # with the .hea suffix too
    np.testing.assert_array_equal(wfdb_io.read_wfdb(str(ptbxl_records[0]) + ".hea").digital,
                                  wfdb_io.read_wfdb(ptbxl_records[0]).digital)


@pytest.mark.parametrize("fmt, n_sig, n", [("16", 12, 5000), ("212", 12, 1001), ("212", 3, 1001),
                                           ("212", 1, 7), ("16", 1, 1)])
def test_formats_written_by_wfdb(tmp_path, rng, fmt, n_sig, n):
    lim = 2047 if fmt == "212" else 32767
    d = rng.integers(-lim, lim + 1, (n, n_sig))
    d[0, 0], d[-1, -1] = -lim, lim  # extremes
    with warnings.catch_warnings():  # wfdb's own pandas deprecation noise, not ours
        warnings.simplefilter("ignore")
        wfdb.wrsamp("rec", fs=500, units=["mV"] * n_sig, sig_name=[f"s{i}" for i in range(n_sig)],
                    d_signal=d.astype(np.int32), fmt=[fmt] * n_sig, adc_gain=[200.0] * n_sig,
                    baseline=[0] * n_sig, write_dir=str(tmp_path))
    ours = assert_same_as_wfdb(tmp_path / "rec")
    np.testing.assert_array_equal(ours.digital, d.T)


def test_baseline_units_and_comments(tmp_path):
    d = np.arange(-50, 50, dtype=np.int16).reshape(50, 2)
    d.tofile(tmp_path / "r.dat")
    a, b = d[:, 0].astype(int), d[:, 1].astype(int)
    (tmp_path / "r.hea").write_text("# a comment line\nr 2 250/1000 50\n"
                                    f"r.dat 16 400(10)/uV 16 0 {a[0]} {a.sum()} 0 lead A\n"
                                    f"r.dat 16 2.5/mV 16 0 {b[0]} {b.sum()} 0 B # trailing comment\n")
    rec = wfdb_io.read_wfdb(tmp_path / "r")
    assert rec.fs_hz == 250 and rec.sig_names == ["lead A", "B"]
    np.testing.assert_allclose(rec.gain_per_mv, [400e3, 2.5])
    np.testing.assert_allclose(rec.physical_mv()[0], (d[:, 0] - 10) / 400e3)
    np.testing.assert_allclose(rec.physical_mv()[1], d[:, 1] / 2.5)


def test_byte_offset(tmp_path):
    d = np.arange(24, dtype="<i2")
    (tmp_path / "r.dat").write_bytes(b"HEADERXX" + d.tobytes())
    (tmp_path / "r.hea").write_text("r 2 100 12\nr.dat 16+8 200 16 0 0 132 0 a\nr.dat 16+8 200 16 0 1 144 0 b\n")
    np.testing.assert_array_equal(wfdb_io.read_wfdb(tmp_path / "r").digital, d.reshape(12, 2).T)


@pytest.mark.parametrize("header, dat, pattern", [
    ("r 1 100 10\nr.dat 99 200 16 0 0 0 0 a\n", b"\0" * 20, "format 99"),
    ("r 1 100 10\nr.dat 16 200 16 0 0 0 0 a\n", b"\0" * 19, "holds 19 bytes"),
    ("r/2 1 100 10\n", b"", "multi-segment"),
    ("r 2 100 10\nr.dat 16 200 16 0 0 0 0 a\n", b"\0" * 40, "declares 2 signals"),
    ("r 1 fast 10\nr.dat 16 200 16 0 0 0 0 a\n", b"\0" * 20, "record line"),
    ("", b"", "empty"),
])
def test_bad_records(tmp_path, header, dat, pattern):
    (tmp_path / "r.hea").write_text(header)
    (tmp_path / "r.dat").write_bytes(dat)
    with pytest.raises(ValueError, match=pattern):
        wfdb_io.read_wfdb(tmp_path / "r")


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="header not found"):
        wfdb_io.read_wfdb(tmp_path / "nothing")
    (tmp_path / "r.hea").write_text("r 1 100 10\nr.dat 16 200 16 0 0 0 0 a\n")
    with pytest.raises(FileNotFoundError, match="signal file not found"):
        wfdb_io.read_wfdb(tmp_path / "r")
