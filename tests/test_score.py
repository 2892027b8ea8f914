"""edgecardio.score and `edgecardio score`: one row per record, error rows, identical rows whatever the
engine and worker count (and equal to Classifier.predict), resume, manifests, CSV/Parquet, Ray."""
import json
import math

import numpy as np
import pytest

import edgecardio
from edgecardio import read_record
from edgecardio.cli import main
from edgecardio.modelcard import CLASSES

from _io_helpers import corrupt_wfdb_corpus, ecg_counts, write_wfdb

pd = pytest.importorskip("pandas", reason="scoring needs pandas: pip install 'edgecardio[score]'")
score_mod = pytest.importorskip("edgecardio.score")
BACKEND = "native" if edgecardio.HAS_NATIVE_ORT else "onnxruntime"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Six good WFDB records at three rates, one .npy, and two corrupt records, in nested folders."""
    d = tmp_path_factory.mktemp("archive")
    good = []
    for i, fs in enumerate((100, 250, 500, 100, 250, 500)):
        good.append(write_wfdb(d / f"sub{i % 2}", f"r{i}", ecg_counts(fs, 10, seed=100 + i), fs_hz=fs))
    cases = {c: p for c, p, _ in corrupt_wfdb_corpus(d / "bad")}
    bad = [cases["fmt212_on_fmt16"], cases["gain_dot"]]
    # only the two corrupt records under bad/: the rest of the corpus is for test_io
    keep = {p.parent for p in bad}
    for p in (d / "bad").iterdir():
        if p not in keep:
            for f in p.iterdir():
                f.unlink()
            p.rmdir()
    np.save(d / "x.npy", ecg_counts(250, 10, seed=200))
    return d, good, bad


def frame(df):
    return df.sort_values("record").reset_index(drop=True)


def test_rows_equal_predict_and_errors_are_rows(archive):
    d, good, bad = archive
    df = edgecardio.score([d], fs_hz=250, workers=1, backend=BACKEND)
    assert list(df.columns) == list(score_mod.COLUMNS)
    assert len(df) == len(good) + len(bad) + 1
    clf = edgecardio.Classifier(backend=BACKEND)
    rows = df.set_index("record")
    for p in good:
        r = rows.loc[str(p) + ".hea"]
        want = read_record(p).predict(clf)
        assert pd.isna(r["error"])
        assert [r[c] for c in CLASSES] == [want.probabilities[c] for c in CLASSES]  # exact
        assert r["labels"] == ",".join(want.labels) and r["flat_leads"] == ",".join(want.flat_leads)
        assert r["unusable_leads"] == ",".join(want.quality.unusable_leads)
        assert r["quality"] == ("ok" if want.quality.trusted else want.quality.reason)
        assert r["model"] == clf.model_name == edgecardio.DEFAULT_MODEL  # the packaged name, not the card's family
    x = rows.loc[str(d / "x.npy")]
    assert pd.isna(x["error"]) and x["fs_hz"] == 250
    errors = {str(p) + ".hea": rows.loc[str(p) + ".hea", "error"] for p in bad}
    assert "checksums match 0 of 12" in errors[str(bad[0]) + ".hea"]
    assert "ADC gain field '.'" in errors[str(bad[1]) + ".hea"]
    for p in bad:
        assert all(math.isnan(rows.loc[str(p) + ".hea", c]) for c in CLASSES)
    s = df.attrs["summary"]
    assert (s["records"], s["ok"], s["failed"]) == (len(df), len(good) + 1, len(bad))


def test_rows_identical_across_worker_counts(archive):
    d, _, _ = archive
    one = edgecardio.score([d], fs_hz=250, workers=1, backend=BACKEND, chunk_size=2)
    two = edgecardio.score([d], fs_hz=250, workers=2, backend=BACKEND, chunk_size=1)
    pd.testing.assert_frame_equal(frame(one), frame(two), check_exact=True)
    assert list(one["record"]) == list(two["record"])  # input order, whatever finished first


def test_manifest_demographics_and_missing_file(archive, tmp_path):
    d, good, _ = archive
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": [str(good[0]), str(good[1]), str(tmp_path / "gone"), str(d / "x.npy")],
                  "age": [70, None, 50, 40], "sex": ["F", None, "M", "male"],
                  "fs_hz": [None, None, None, 250]}).to_csv(manifest, index=False)
    df = edgecardio.score([manifest], workers=1, backend=BACKEND).set_index("record")
    clf = edgecardio.Classifier(backend=BACKEND)
    want = read_record(good[0]).predict(clf, age=70, sex="female")
    # a WFDB record is named by its header however it was given
    assert [df.loc[str(good[0]) + ".hea", c] for c in CLASSES] == [want.probabilities[c] for c in CLASSES]
    want = read_record(good[1]).predict(clf)
    assert [df.loc[str(good[1]) + ".hea", c] for c in CLASSES] == [want.probabilities[c] for c in CLASSES]
    assert "record not found" in df.loc[str(tmp_path / "gone"), "error"]
    assert pd.isna(df.loc[str(d / "x.npy"), "error"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_output_round_trips_exactly_and_resume(archive, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs pyarrow: pip install 'edgecardio[score]'")
    d, good, bad = archive
    out = tmp_path / f"res{suffix}"
    full = edgecardio.score([d], out, fs_hz=250, workers=1, backend=BACKEND)
    back = score_mod._frame(score_mod._read_output(out))
    pd.testing.assert_frame_equal(frame(full), frame(back), check_exact=True)
    assert not (tmp_path / f"res{suffix}.partial.jsonl").exists()

    # a first run over part of the archive, then a resumed run over all of it: the same rows
    part = tmp_path / f"part{suffix}"
    edgecardio.score([good[0], good[1], bad[0]], part, workers=1, backend=BACKEND)
    resumed = edgecardio.score([d], part, fs_hz=250, workers=1, backend=BACKEND, resume=True)
    s = resumed.attrs["summary"]
    assert s["skipped"] == 2 and s["scored"] == len(full) - 2  # the failed record is tried again
    pd.testing.assert_frame_equal(frame(resumed), frame(full), check_exact=True)
    assert len(set(resumed["record"])) == len(resumed)  # no record written twice


def test_resume_after_a_crash_uses_the_journal(archive, tmp_path):
    d, good, _ = archive
    out = tmp_path / "res.csv"
    full = edgecardio.score([d], fs_hz=250, workers=1, backend=BACKEND)
    journal = tmp_path / "res.csv.partial.jsonl"
    rows = full.set_index("record").loc[[str(good[0]) + ".hea", str(good[1]) + ".hea"]].reset_index()
    lines = [json.dumps(r) for r in rows.to_dict("records")]
    journal.write_text(lines[0] + "\n" + lines[1][:30])  # the run died while writing the second row
    resumed = edgecardio.score([d], out, fs_hz=250, workers=1, backend=BACKEND, resume=True)
    assert resumed.attrs["summary"]["skipped"] == 1
    pd.testing.assert_frame_equal(frame(resumed), frame(full), check_exact=True)
    assert not journal.exists()


def test_bad_arguments(archive, tmp_path):
    d, _, _ = archive
    with pytest.raises(ValueError, match="engine must be"):
        edgecardio.score([d], engine="spark")
    with pytest.raises(ValueError, match="workers must be"):
        edgecardio.score([d], workers=0)
    with pytest.raises(ValueError, match=r"\.parquet or \.csv"):
        edgecardio.score([d], tmp_path / "out.xlsx")
    with pytest.raises(ValueError, match="resume needs an output"):
        edgecardio.score([d], resume=True)
    with pytest.raises(ValueError, match="no file matches"):
        edgecardio.score([str(tmp_path / "*.nothing")])
    (tmp_path / "m.csv").write_text("file\nx\n")
    with pytest.raises(ValueError, match="needs a 'path' column"):
        edgecardio.score([tmp_path / "m.csv"])


def test_cli_score(archive, tmp_path, capsys):
    d, good, bad = archive
    out = tmp_path / "res.csv"
    code = main(["score", str(d), "-o", str(out), "--fs-hz", "250", "--workers", "1", "--no-progress",
                 "--backend", BACKEND])
    err = capsys.readouterr().err
    assert code == 1  # a record failed
    assert f"{len(good) + 3} records: {len(good) + 1} ok, 2 failed" in err and "records/s" in err
    assert "failed: " in err and "checksums match" in err
    df = pd.read_csv(out)
    assert len(df) == len(good) + 3
    # only good records: exit 0; with --resume nothing is scored again
    out2 = tmp_path / "good.csv"
    assert main(["score", *map(str, good), "-o", str(out2), "--workers", "1", "--no-progress",
                 "--backend", BACKEND]) == 0
    assert main(["score", *map(str, good), "-o", str(out2), "--resume", "--no-progress", "--backend", BACKEND]) == 0
    assert "kept from the earlier run" in capsys.readouterr().err


# Ray's own deprecation notices (DataContext's defaults) are not ours to fix
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_ray_engine_rows_identical(archive, tmp_path):
    pytest.importorskip("ray", reason="the Ray engine needs Ray: pip install 'edgecardio[ray]'")
    d, good, bad = archive
    local = edgecardio.score([d], fs_hz=250, workers=1, backend=BACKEND)
    out = tmp_path / "ray.parquet"
    ray_df = edgecardio.score([d], out, engine="ray", workers=2, fs_hz=250, backend=BACKEND, chunk_size=2)
    pd.testing.assert_frame_equal(frame(local), frame(ray_df), check_exact=True)
    assert list(ray_df["record"]) == list(local["record"])
    assert ray_df["error"].notna().sum() == len(bad)
    back = score_mod._frame(score_mod._read_output(out))
    pd.testing.assert_frame_equal(frame(back), frame(ray_df), check_exact=True)


def test_glob_and_suffixless_inputs(archive):
    d, good, _ = archive
    tasks = score_mod.expand_inputs([str(d / "sub0" / "*"), str(d / "sub1" / "r1"), str(d / "sub1" / "r1.dat")])
    want = sorted(str(p) + ".hea" for p in good if p.parent.name == "sub0") + [str(d / "sub1" / "r1.hea")]
    assert [t["record"] for t in tasks] == want  # .dat files are not records; one name per record
