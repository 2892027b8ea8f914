"""`edgecardio monitor`: replayed records and raw int16 frames on stdin, text and JSON lines,
malformed streams reported without losing the results before them."""
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import edgecardio
from edgecardio import cli


def stream(seed=0, fs=100, seconds=13):
    rng = np.random.default_rng(seed)
    t = np.arange(seconds * fs) / fs
    beats = np.sin(np.pi * 1.2 * t) ** 64
    x = np.stack([rng.uniform(0.5, 1.5) * beats + 0.05 * np.sin(2 * np.pi * 0.25 * t + c) for c in range(12)])
    return np.round(x * 1000).astype(np.int16)


def run_cli(args, stdin=b""):
    return subprocess.run([sys.executable, "-m", "edgecardio.cli", "monitor", *args], input=stdin,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def expected():
    """What the Python API gives for the same stream (hop 1 s, then a flush at 13.5 s)."""
    x = stream(seconds=13)
    x = np.concatenate([x, x[:, :50]], axis=1)
    mon = edgecardio.Monitor(100)
    return x, mon.push(x) + mon.flush()


def test_npy_replay_jsonl_equals_the_api(tmp_path, expected):
    x, want = expected
    np.save(tmp_path / "s.npy", x)
    p = run_cli([str(tmp_path / "s.npy"), "--fs-hz", "100", "--jsonl", "--chunk-ms", "70"])
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert [r["t_end_s"] for r in rows] == [10.0, 11.0, 12.0, 13.0, 13.5]
    assert rows[-1]["flushed"] and not rows[0]["flushed"]
    for r, w in zip(rows, want):
        assert r["probabilities"] == w.prediction.probabilities  # JSON floats round-trip exactly
        assert r["stable_labels"] == list(w.stable_labels) and r["labels"] == list(w.labels)
        assert r["trusted"] is True and r["bad_leads"] == {}
        assert set(r["quality"]) == set(edgecardio.quality.LEAD_NAMES)


def test_stdin_raw_frames_text_lines(expected):
    x, want = expected
    raw = x.T.astype("<i2").tobytes()
    p = run_cli(["-", "--fs-hz", "100"], stdin=raw)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[0].startswith("# -: 100 Hz, hop 1 s")
    body = lines[1:]
    assert len(body) == len(want)
    for line, w in zip(body, want):
        assert line.split()[0] == f"{w.t_end_s:.2f}"
        assert f"NORM {w.prediction.probabilities['NORM']:.3f}" in line and line.endswith("ok")
    assert "(flush)" in body[-1]


def test_stdin_partial_frame_keeps_the_results(expected):
    x, want = expected
    raw = x.T.astype("<i2").tobytes() + b"\x01\x02\x03"
    p = run_cli(["-", "--fs-hz", "100", "--jsonl"], stdin=raw)
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "partial frame (3 of 24 bytes)" in err and "Results before it are complete" in err
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert [r["t_end_s"] for r in rows] == [w.t_end_s for w in want]


def test_wrong_frame_size_is_reported():
    """8 channels per frame (16 bytes) read as 12: the byte count is not a whole number of frames."""
    x8 = stream(seconds=11)[:8]
    p = run_cli(["-", "--fs-hz", "100"], stdin=x8.T.astype("<i2").tobytes() + b"\x00" * 8)
    assert p.returncode == 1 and b"partial frame" in p.stderr and b"channel count" in p.stderr


def test_untrusted_windows_and_bad_leads_are_printed(tmp_path):
    x = stream(seconds=12)
    x[[0, 2, 3, 4, 5], 1050:] = 32767  # a limb electrode off from 10.5 s
    x[7, 0:90] = 32767                   # V2 off in the first second: the first window only
    np.save(tmp_path / "f.npy", x)
    p = run_cli([str(tmp_path / "f.npy"), "--fs-hz", "100"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.decode().splitlines()[1:]
    assert "bad leads V2:lead_off" in lines[0]
    assert "UNTRUSTED (5 leads unusable (more than 2)" in lines[1] and "UNTRUSTED" in lines[2]


def test_short_stream_and_usage_errors(tmp_path, capsys):
    np.save(tmp_path / "short.npy", stream(seconds=5))
    p = run_cli([str(tmp_path / "short.npy"), "--fs-hz", "100"])
    assert p.returncode == 0 and b"before its first 10-s window" in p.stderr
    assert cli.main(["monitor", "-"]) == 1
    assert "needs --fs-hz" in capsys.readouterr().err
    assert cli.main(["monitor", str(tmp_path / "short.npy")]) == 1
    assert "needs --fs-hz" in capsys.readouterr().err
    assert cli.main(["monitor", str(tmp_path / "short.npy"), "--fs-hz", "100", "--hop-s", "0"]) == 1
    assert "hop_s" in capsys.readouterr().err


def test_realtime_replay_is_paced(tmp_path):
    x = stream(seconds=11)
    np.save(tmp_path / "r.npy", x)
    import time

    t0 = time.perf_counter()
    p = run_cli([str(tmp_path / "r.npy"), "--fs-hz", "100", "--realtime", "--jsonl"])
    elapsed = time.perf_counter() - t0
    assert p.returncode == 0 and len(p.stdout.decode().splitlines()) == 2
    assert elapsed >= 10.5  # 11 s of samples replayed at their rate


@pytest.mark.ptbxl
def test_wfdb_record(ptbxl, tmp_path):
    subprocess.run([sys.executable, str(ptbxl / "materialize.py"), str(tmp_path), "--folds", "9", "--limit", "1"],
                   check=True, capture_output=True)
    rec = next((tmp_path / "records100").rglob("*.hea"))
    p = run_cli([str(rec), "--jsonl"])
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.decode().splitlines()]
    assert len(rows) == 1 and rows[0]["t_end_s"] == 10.0
    from edgecardio import wfdb_io

    r = wfdb_io.read_record(rec)
    want = edgecardio.Classifier().predict(r.digital, 100)
    assert rows[0]["probabilities"] == want.probabilities
