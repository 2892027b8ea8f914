"""edgecardio.read_record: lead names, WFDB formats and checks, .npy, EDF/BDF, DICOM, and the
corrupt-file corpora (each must be a one-line RecordError naming the file, in Python and in the CLI)."""
import warnings

import numpy as np
import pytest

import edgecardio
from edgecardio import RecordError, read_record, wfdb_io
from edgecardio.cli import main
from edgecardio.io import LEAD_ORDER, lead_order, standard_lead

from _io_helpers import LEADS, corrupt_npy_corpus, corrupt_wfdb_corpus, ecg_counts, write_wfdb


@pytest.fixture(scope="module")
def clf():
    return edgecardio.Classifier(backend="native" if edgecardio.HAS_NATIVE_ORT else "onnxruntime")


# ---------------------------------------------------------------- lead names
@pytest.mark.parametrize("written, lead", [
    ("aVR", "aVR"), ("AVR", "aVR"), ("avr", "aVR"), (" aVL ", "aVL"), ("Lead aVF", "aVF"), ("I", "I"),
    ("Lead I (Einthoven)", "I"), ("Lead III", "III"), ("ECG V1", "V1"), ("EKG-V6", "V6"), ("v3", "V3"),
    ("ECG_II", "II"), ("DII", "II"), ("lead_v4", "V4"), ("ECGaVR", "aVR"),
    ("-aVR", None), ("V7", None), ("MLII", None), ("Resp", None), ("", None), ("IIII", None),
])
def test_standard_lead(written, lead):
    assert standard_lead(written) == lead


def test_lead_order_reorders_and_ignores_extra_leads():
    names = ["V6", "Resp", "v5", "V4", "V3", "V2", "V1", "AVF", "avl", "aVR", "III", "II", "I"]
    order = lead_order(names, "x")
    assert [standard_lead(names[i]) for i in order] == list(LEAD_ORDER)


# ---------------------------------------------------------------- WFDB against the wfdb package
def encode(fmt: int, v: np.ndarray) -> bytes:
    """Interleaved samples -> the bytes of a WFDB signal file (signal(5)); the oracle's input."""
    v = v.astype(np.int64)
    if fmt == 16:
        return v.astype("<i2").tobytes()
    if fmt == 61:
        return v.astype(">i2").tobytes()
    if fmt == 160:
        return (v + 32768).astype("<u2").tobytes()
    if fmt == 32:
        return v.astype("<i4").tobytes()
    if fmt == 80:
        return (v + 128).astype(np.uint8).tobytes()
    if fmt == 24:
        u = v & 0xFFFFFF
        return np.stack([u & 0xFF, (u >> 8) & 0xFF, u >> 16], axis=1).astype(np.uint8).tobytes()
    if fmt == 212:
        u = np.append(v & 0xFFF, np.zeros(v.size % 2, np.int64)).reshape(-1, 2)
        b = np.stack([u[:, 0] & 0xFF, (u[:, 0] >> 8) | ((u[:, 1] >> 8) << 4), u[:, 1] & 0xFF], axis=1)
        return b.astype(np.uint8).tobytes()[:(3 * v.size + 1) // 2]
    if fmt in (310, 311):
        u = np.append(v & 0x3FF, np.zeros(-v.size % 3, np.int64)).reshape(-1, 3)
        if fmt == 310:
            w0 = (u[:, 0] << 1) | ((u[:, 2] & 0x1F) << 11)
            w1 = (u[:, 1] << 1) | ((u[:, 2] >> 5) << 11)
            b = np.stack([w0 & 0xFF, w0 >> 8, w1 & 0xFF, w1 >> 8], axis=1)
        else:
            w = u[:, 0] | (u[:, 1] << 10) | (u[:, 2] << 20)
            b = np.stack([w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF, w >> 24], axis=1)
        n_bytes = 4 * (v.size // 3) + {0: 0, 1: 2, 2: 4 if fmt == 310 else 3}[v.size % 3]
        return b.astype(np.uint8).tobytes()[:n_bytes]
    raise AssertionError(fmt)


BITS = {8: 8, 16: 16, 24: 24, 32: 32, 61: 16, 80: 8, 160: 16, 212: 12, 310: 10, 311: 10}


@pytest.mark.parametrize("fmt", sorted(BITS))
@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 1000])
def test_wfdb_formats_match_wfdb(tmp_path, rng, fmt, n):
    """Every uncompressed format, against wfdb.rdrecord (the files are written here from signal(5))."""
    wfdb = pytest.importorskip("wfdb")
    n_sig = 3
    lim = (1 << (BITS[fmt] - 1)) - 1
    if fmt == 8:  # first differences: a walk whose steps fit a byte
        d = 50 + np.cumsum(rng.integers(-100, 101, (n, n_sig)), axis=0)
        data = np.diff(np.vstack([d[:1], d]), axis=0).astype(np.int8).tobytes()
    else:
        d = rng.integers(-lim, lim + 1, (n, n_sig))  # -lim - 1 is the invalid-sample marker
        d[0, 0], d[-1, -1] = -lim, lim
        data = encode(fmt, d.ravel())
    (tmp_path / "rec.dat").write_bytes(data)
    lines = [f"rec {n_sig} 500 {n}"]
    for i in range(n_sig):
        lines.append(f"rec.dat {fmt} 200/mV {BITS[fmt]} 0 {d[0, i]} {int(d[:, i].sum()) % 65536} 0 s{i}")
    (tmp_path / "rec.hea").write_text("\n".join(lines) + "\n")
    ours = wfdb_io.read_wfdb(tmp_path / "rec")  # verify=True: the checksums and initial values agree
    ref = wfdb.rdrecord(str(tmp_path / "rec"), physical=False)
    np.testing.assert_array_equal(ours.digital, ref.d_signal.T)
    np.testing.assert_array_equal(ours.digital, d.T)
    assert not ours.invalid.any()
    # a short file is an error, not a silent zero-fill
    (tmp_path / "rec.dat").write_bytes(data[:-1])
    with pytest.raises(RecordError, match="holds"):
        wfdb_io.read_wfdb(tmp_path / "rec")


def test_wfdb_twelve_lead_record_read_as_counts(tmp_path, clf):
    x = ecg_counts(500, 10, seed=3)
    path = write_wfdb(tmp_path, "r", x)
    rec = read_record(path)
    assert rec.format == "wfdb" and rec.fs_hz == 500 and rec.gain_per_mv == 1000
    assert rec.signal.dtype == np.int16 and rec.lead_names == LEADS
    np.testing.assert_array_equal(rec.signal, x)
    for p in (str(path) + ".hea", str(path) + ".dat"):
        np.testing.assert_array_equal(read_record(p).signal, x)
    assert rec.predict(clf).probabilities == clf.predict(x, 500, gain_per_mv=1000).probabilities


def test_wfdb_leads_reordered_by_name(tmp_path):
    x = ecg_counts(250, 10, seed=4)
    perm = np.random.default_rng(0).permutation(12)
    write_wfdb(tmp_path, "a", x)
    write_wfdb(tmp_path, "b", x[perm], names=tuple(LEADS[i].lower() for i in perm), fs_hz=250)
    np.testing.assert_array_equal(read_record(tmp_path / "b").signal, x)


def test_wfdb_per_lead_gains_and_units_give_millivolts(tmp_path):
    x = ecg_counts(250, 10, seed=5)
    gains = ["1000/mV"] * 6 + ["500(10)/mV"] * 3 + ["1/uV"] * 3
    write_wfdb(tmp_path, "r", x, fs_hz=250, gain=gains)
    rec = read_record(tmp_path / "r")
    assert rec.signal.dtype == np.float64 and rec.gain_per_mv is None
    want = np.concatenate([x[:6] / 1000, (x[6:9] - 10.0) / 500, x[9:] / 1000])
    np.testing.assert_array_equal(rec.signal, want)


def test_wfdb_comments_give_demographics(tmp_path, clf):
    x = ecg_counts(500, 10, seed=6)
    path = write_wfdb(tmp_path, "r", x)
    with open(str(path) + ".hea", "a") as f:
        f.write("# Age: 71\n# <sex>: F\n# Dx: 164889003\n")
    rec = read_record(path)
    assert rec.demographics == {"age": 71.0, "sex": "female", "height_cm": None, "weight_kg": None}
    assert "Dx: 164889003" in rec.metadata["comments"] and rec.metadata["signals"] == list(LEADS)
    want = clf.predict(x, 500, gain_per_mv=1000, age=71, sex="female")
    assert rec.predict(clf).probabilities == want.probabilities
    # a value given to predict overrides the file's
    assert rec.predict(clf, age=30).probabilities == clf.predict(x, 500, age=30, sex="female").probabilities


def test_wfdb_no_sample_count_reads_the_whole_file(tmp_path):
    x = ecg_counts(100, 10, seed=9)
    path = write_wfdb(tmp_path, "r", x, fs_hz=100, n_samples="")
    np.testing.assert_array_equal(read_record(path).signal, x)


def test_wfdb_wrong_format_is_caught_by_checksums(tmp_path):
    """A header that says 212 for a format-16 file used to be decoded and diagnosed."""
    x = ecg_counts(100, 10, seed=10)
    path = write_wfdb(tmp_path, "r", x, fs_hz=100)
    hea = tmp_path / "r.hea"
    hea.write_text(hea.read_text().replace(" 16 1000 16 0 ", " 212 1000 12 0 "))
    with pytest.raises(RecordError, match="checksums match 0 of 12"):
        read_record(path)
    # the override decodes it anyway (garbage, as the user asked)
    assert read_record(path, verify=False).signal.shape == (12, 1000)


def test_wfdb_invalid_samples_are_missing_not_values(tmp_path, clf):
    x = ecg_counts(500, 10, seed=11)
    x[7, 100:110] = -32768  # WFDB's invalid-sample marker in format 16
    path = write_wfdb(tmp_path, "r", x)
    rec = read_record(path)
    assert rec.signal.dtype == np.float64 and rec.n_missing == 10
    assert np.isnan(rec.signal[7, 100:110]).all() and np.isfinite(rec.signal[7, :100]).all()
    with pytest.raises(RecordError, match=r"10 samples are missing .* in leads V2; the model cannot score"):
        rec.predict(clf)


def test_wfdb_format_212_invalid_marker(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    d = np.arange(-200, 200, dtype=np.int64).reshape(100, 4)
    d[5, 2] = -2048
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wfdb.wrsamp("rec", fs=500, units=["mV"] * 4, sig_name=list("abcd"), d_signal=d, fmt=["212"] * 4,
                    adc_gain=[200.0] * 4, baseline=[0] * 4, write_dir=str(tmp_path))
    w = wfdb_io.read_wfdb(tmp_path / "rec")
    assert w.invalid.sum() == 1 and w.invalid[2, 5]
    phys = w.physical_mv()
    assert np.isnan(phys[2, 5]) and np.isnan(wfdb.rdrecord(str(tmp_path / "rec")).p_signal[5, 2])


# ---------------------------------------------------------------- .npy
def test_npy_int_and_float(tmp_path, clf):
    x = ecg_counts(250, 10, seed=12)
    np.save(tmp_path / "i.npy", x)
    np.save(tmp_path / "f.npy", x / 1000.0)
    ri = read_record(tmp_path / "i.npy", fs_hz=250)
    assert ri.signal.dtype == np.int16 and ri.gain_per_mv == 1000 and ri.format == "npy"
    assert read_record(tmp_path / "i.npy", fs_hz=250, gain_per_mv=500).gain_per_mv == 500
    rf = read_record(tmp_path / "f.npy", fs_hz=250)
    assert rf.signal.dtype == np.float64 and rf.gain_per_mv is None
    assert ri.predict(clf).probabilities == clf.predict(x, 250).probabilities
    assert rf.predict(clf).probabilities == clf.predict(x / 1000.0, 250).probabilities
    with pytest.raises(RecordError, match="needs its sampling rate"):
        read_record(tmp_path / "i.npy")


def test_npy_nan_is_missing(tmp_path, clf):
    x = ecg_counts(250, 10, seed=13) / 1000.0
    x[0, 3] = np.nan
    np.save(tmp_path / "n.npy", x)
    rec = read_record(tmp_path / "n.npy", fs_hz=250)
    assert rec.n_missing == 1
    with pytest.raises(RecordError, match="n.npy: 1 samples are missing .* in leads I"):
        rec.predict(clf)


# ---------------------------------------------------------------- corrupt-file corpora
def test_corrupt_wfdb_corpus(tmp_path):
    cases = corrupt_wfdb_corpus(tmp_path)
    assert len(cases) >= 20
    for case, path, pattern in cases:
        with pytest.raises((RecordError, FileNotFoundError), match=pattern):
            read_record(path)


def test_corrupt_npy_corpus(tmp_path):
    for case, path, pattern in corrupt_npy_corpus(tmp_path):
        with pytest.raises(RecordError, match=pattern):
            read_record(path, fs_hz=100)


def test_empty_and_odd_paths(tmp_path):
    with pytest.raises(RecordError, match="empty record path"):
        read_record("")
    with pytest.raises(RecordError, match="empty record path"):
        read_record("  ")
    with pytest.raises(TypeError, match="path must be"):
        read_record(5)
    with pytest.raises(FileNotFoundError, match="record not found"):
        read_record(tmp_path / "nothing")
    (tmp_path / "d.npy").mkdir()
    with pytest.raises(RecordError, match="is a directory"):
        read_record(tmp_path / "d.npy", fs_hz=100)


def test_corpora_through_the_cli_are_one_line(tmp_path, capsys):
    """Every corrupt file: exit status 1 and one line naming the file, never a traceback."""
    cases = [(str(p), pat) for _, p, pat in corrupt_wfdb_corpus(tmp_path / "w")]
    cases += [(str(p), pat) for _, p, pat in corrupt_npy_corpus(tmp_path / "n")]
    cases.append(("", "empty record path"))
    for path, pattern in cases:
        code = main(["predict", path, "--fs-hz", "100"] if path.endswith(".npy") else ["predict", path])
        _, err = capsys.readouterr()
        assert code == 1, path
        assert err.startswith("edgecardio: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
        if path:
            assert path.rsplit("/", 1)[-1].split(".")[0] in err or "r.dat" in err or "r.hea" in err, err


def test_cli_no_verify(tmp_path, capsys):
    x = ecg_counts(100, 10, seed=14)
    path = write_wfdb(tmp_path, "r", x, fs_hz=100)
    hea = tmp_path / "r.hea"
    hea.write_text(hea.read_text().replace(" 16 1000 16 0 ", " 16+2 1000 16 0 "))
    with open(tmp_path / "r.dat", "ab") as f:
        f.write(b"\0\0")
    assert main(["predict", str(path)]) == 1
    assert "checksums match" in capsys.readouterr().err
    assert main(["predict", str(path), "--no-verify", "--json"]) == 0


# ---------------------------------------------------------------- EDF / BDF
@pytest.mark.parametrize("suffix", [".edf", ".bdf"])
def test_edf_and_bdf(tmp_path, suffix, clf):
    pyedflib = pytest.importorskip("pyedflib", reason="EDF needs pyedflib: pip install 'edgecardio[formats]'")
    x_mv = ecg_counts(500, 10, seed=15) / 1000.0
    labels = ["ECG " + lead for lead in LEADS]
    perm = np.random.default_rng(1).permutation(12)  # file order differs from the model's
    path = tmp_path / f"r{suffix}"
    file_type = pyedflib.FILETYPE_EDFPLUS if suffix == ".edf" else pyedflib.FILETYPE_BDFPLUS
    dmax = 32767 if suffix == ".edf" else 8388607
    with pyedflib.EdfWriter(str(path), 12, file_type=file_type) as w:
        w.setSignalHeaders([{"label": labels[i], "dimension": "uV", "sample_frequency": 500,
                             "physical_max": 10000.0, "physical_min": -10000.0,
                             "digital_max": dmax, "digital_min": -dmax - 1} for i in perm])
        w.setSex(1)
        w.writeSamples([np.ascontiguousarray(x_mv[i] * 1000.0) for i in perm])
    rec = read_record(path)
    assert rec.format == "edf" and rec.fs_hz == 500 and rec.lead_names == tuple(labels)
    lsb_mv = 20.0 / (2 * dmax + 1)  # physical range over digital steps, in mV
    np.testing.assert_allclose(rec.signal, x_mv, rtol=0, atol=lsb_mv)
    assert rec.metadata.get("sex") == "male"
    assert rec.predict(clf).labels is not None


def test_edf_missing_extra_message(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "pyedflib", None)  # import pyedflib -> ImportError
    (tmp_path / "r.edf").write_bytes(b"0")
    with pytest.raises(ImportError, match=r"edgecardio\[formats\]"):
        read_record(tmp_path / "r.edf")


# ---------------------------------------------------------------- DICOM
def test_dicom_waveform_ecg(clf):
    pydicom = pytest.importorskip("pydicom", reason="DICOM needs pydicom: pip install 'edgecardio[formats]'")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom's test data has no waveform_ecg.dcm")
    rec = read_record(path)
    ds = pydicom.dcmread(path)
    assert rec.format == "dicom" and rec.signal.shape[0] == 12
    assert rec.fs_hz == float(ds.WaveformSequence[0].SamplingFrequency)
    assert [standard_lead(n) for n in rec.lead_names] == list(LEAD_ORDER)
    # the file states microvolts: a real ECG is a few mV, not thousands
    assert 0.1 < np.abs(rec.signal).max() < 20
    raw = ds.waveform_array(0)
    names = [ch.ChannelSourceSequence[0].CodeMeaning for ch in ds.WaveformSequence[0].ChannelDefinitionSequence]
    v1 = [standard_lead(n) for n in names].index("V1")
    np.testing.assert_allclose(rec.signal[6], raw[:, v1] / 1000.0)


def test_mutated_headers_fail_cleanly(tmp_path, rng):
    """Seeded mutations of a valid header and .npy: a RecordError or FileNotFoundError, or a record;
    never another exception, never a huge allocation."""
    x = ecg_counts(100, 10, seed=16)
    path = write_wfdb(tmp_path, "r", x, fs_hz=100)
    good = (tmp_path / "r.hea").read_text()
    alphabet = list("0123456789 -+.()/x:#\n") + ["99999999999", "-1", "nan", "inf", "1e400", "\t", "é"]
    outcomes = {"ok": 0, "error": 0}
    for _ in range(300):
        text = list(good)
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(0, len(text)))
            op = rng.integers(0, 3)
            if op == 0:
                text[i] = str(rng.choice(alphabet))
            elif op == 1:
                del text[i]
            else:
                text.insert(i, str(rng.choice(alphabet)))
        (tmp_path / "r.hea").write_text("".join(text))
        try:
            rec = read_record(path)
            assert rec.signal.shape[0] == 12
            outcomes["ok"] += 1
        except (RecordError, FileNotFoundError):
            outcomes["error"] += 1
    assert outcomes["error"] > 100, outcomes  # most mutations break the header; each was caught


def test_dicom_without_units_or_leads(tmp_path):
    pydicom = pytest.importorskip("pydicom", reason="DICOM needs pydicom: pip install 'edgecardio[formats]'")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("waveform_ecg.dcm")
    if path is None:
        pytest.skip("pydicom's test data has no waveform_ecg.dcm")
    ds = pydicom.dcmread(path)
    for g in ds.WaveformSequence:
        del g.ChannelDefinitionSequence[3].ChannelSensitivityUnitsSequence
    ds.save_as(tmp_path / "nounits.dcm")
    with pytest.raises(RecordError, match=r"nounits\.dcm: channel 'Lead aVR' states no units"):
        read_record(tmp_path / "nounits.dcm")
    ds = pydicom.dcmread(path)
    for g in ds.WaveformSequence:
        g.ChannelDefinitionSequence[7].ChannelSourceSequence[0].CodeMeaning = "Lead V7"
    ds.save_as(tmp_path / "nov2.dcm")
    with pytest.raises(RecordError, match=r"nov2\.dcm: no lead V2"):
        read_record(tmp_path / "nov2.dcm")
    (tmp_path / "junk.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(RecordError, match="not a readable DICOM"):
        read_record(tmp_path / "junk.dcm")
