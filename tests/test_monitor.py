"""edgecardio.Monitor: windowing, chunk invariance, equality with Classifier.predict, stable labels,
injected faults on real PTB-XL streams, threads, reset/flush, input checks."""
import threading

import numpy as np
import pytest

import edgecardio
from edgecardio import quality as eq
from _monitor_helpers import fold9_counts, fold9_table, upsample_counts


@pytest.fixture(scope="module")
def clf():
    return edgecardio.Classifier()


def synthetic_stream(rng, fs, seconds):
    t = np.arange(seconds * fs) / fs
    beats = np.sin(np.pi * 1.25 * t) ** 64
    x = np.empty((12, t.size))
    for c in range(12):
        x[c] = rng.uniform(-1.5, 1.5) * beats + 0.1 * np.sin(2 * np.pi * 0.2 * t + c) + rng.normal(0, 0.01, t.size)
    return np.round(x * 1000).astype(np.int16)


def run(mon, x, cuts):
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        out.extend(mon.push(x[:, a:b]))
    return out


def random_cuts(rng, n, max_chunk):
    cuts = [0]
    while cuts[-1] < n:
        cuts.append(min(n, cuts[-1] + int(rng.integers(1, max_chunk + 1))))
    return cuts


def same_results(a, b):
    assert len(a) == len(b)
    for r, s in zip(a, b):
        assert (r.t_end_s, r.index, r.labels, r.stable_labels, r.flushed) == (s.t_end_s, s.index, s.labels, s.stable_labels, s.flushed)
        assert r.prediction.probabilities == s.prediction.probabilities  # float equality: the same bits
        np.testing.assert_array_equal(r.quality.indices, s.quality.indices)
        np.testing.assert_array_equal(r.quality.flags, s.quality.flags)


# ---------------------------------------------------------------- windowing and invariance
def test_windows_come_at_10_s_then_every_hop(clf, rng):
    fs = 250
    x = synthetic_stream(rng, fs, 14)
    mon = edgecardio.Monitor(fs, classifier=clf, hop_s=0.5)
    assert mon.push(x[:, : 10 * fs - 1]) == []
    first = mon.push(x[:, 10 * fs - 1: 10 * fs])
    assert [r.t_end_s for r in first] == [10.0] and first[0].index == 0
    rest = mon.push(x[:, 10 * fs:])
    assert [r.t_end_s for r in rest] == [10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5, 14.0]
    assert mon.samples_seen == 14 * fs and mon.t_s == 14.0
    assert mon.flush() == []  # the last sample ended a window already


@pytest.mark.parametrize("fs,dtype", [(500, "int16"), (100, "float32"), (360, "float64")])
def test_chunk_invariance_and_equality_with_predict(clf, rng, fs, dtype):
    x = synthetic_stream(rng, fs, 16)
    sig = x if dtype == "int16" else (x / 1000.0).astype(dtype)
    one = run(edgecardio.Monitor(fs, classifier=clf), sig, [0, sig.shape[1]])
    assert len(one) == 7
    for max_chunk in (1 if fs == 100 else 7, 97, 3 * fs + 1):
        same_results(one, run(edgecardio.Monitor(fs, classifier=clf), sig, random_cuts(rng, sig.shape[1], max_chunk)))
    for r in one:
        end = int(round(r.t_end_s * fs))
        w = sig[:, end - 10 * fs: end]
        p = clf.predict(w, fs)
        assert p.probabilities == r.prediction.probabilities and p.labels == r.prediction.labels
        q = eq.window_quality(w, fs)  # the one-shot path, no segment cache: the same bits
        np.testing.assert_array_equal(q.indices, r.quality.indices)
        np.testing.assert_array_equal(q.flags, r.quality.flags)
        np.testing.assert_array_equal(p.quality.indices, r.quality.indices)  # predict's own quality
        assert r.prediction.quality is r.quality


def test_segment_cache_computes_one_new_segment_per_hop(clf, rng):
    fs = 100
    mon = edgecardio.Monitor(fs, classifier=clf)
    mon.push(synthetic_stream(rng, fs, 15))
    assert mon._sw.windows == 6
    # 9 segments of 12 leads in the first window, then 1 new segment per 1-s hop
    assert mon._sw.segments_computed == 12 * (9 + 5)


def test_hop_not_a_multiple_of_a_second_is_still_exact(clf, rng):
    fs = 100
    x = synthetic_stream(rng, fs, 13)
    res = edgecardio.Monitor(fs, classifier=clf, hop_s=0.7).push(x)
    assert [round(r.t_end_s, 6) for r in res] == [10.0, 10.7, 11.4, 12.1, 12.8]
    for r in res:
        end = int(round(r.t_end_s * fs))
        np.testing.assert_array_equal(eq.window_quality(x[:, end - 1000: end], fs).indices, r.quality.indices)


def test_flush_and_reset(clf, rng):
    fs = 100
    x = synthetic_stream(rng, fs, 12)
    mon = edgecardio.Monitor(fs, classifier=clf, hop_s=2.0)
    res = mon.push(x[:, :1150])
    assert [r.t_end_s for r in res] == [10.0]
    fl = mon.flush()
    assert len(fl) == 1 and fl[0].flushed and fl[0].t_end_s == 11.5
    assert fl[0].prediction.probabilities == clf.predict(x[:, 150:1150], fs).probabilities
    assert mon.flush() == []
    assert [r.t_end_s for r in mon.push(x[:, 1150:])] == [12.0]  # the hop grid did not move
    mon.reset()
    assert mon.samples_seen == 0 and mon.flush() == []
    again = mon.push(x)
    same_results(again, run(edgecardio.Monitor(fs, classifier=clf, hop_s=2.0), x, [0, x.shape[1]]))
    mon.reset()
    assert len(mon.push(x.astype(np.float64) / 1000)) == 2  # a new stream may change dtype


def test_short_stream_flushes_nothing(clf, rng):
    mon = edgecardio.Monitor(100, classifier=clf)
    mon.push(synthetic_stream(rng, 100, 9))
    assert mon.flush() == []


def test_stable_labels_are_k_of_m(clf, rng):
    fs = 100
    x = synthetic_stream(rng, fs, 40)
    res = edgecardio.Monitor(fs, classifier=clf, stable_k=2, stable_m=4).push(x)
    raw = [set(r.labels) for r in res]
    for i, r in enumerate(res):
        last = raw[max(0, i - 3): i + 1]
        expect = {c for c in edgecardio.CLASSES if sum(c in s for s in last) >= 2}
        assert set(r.stable_labels) == expect


def test_many_monitors_share_one_classifier_from_threads(clf, rng):
    fs = 250
    streams = [synthetic_stream(np.random.default_rng(s), fs, 14) for s in range(4)]
    expected = [run(edgecardio.Monitor(fs, classifier=clf), x, [0, x.shape[1]]) for x in streams]
    got = [None] * 4
    errors = []

    def work(i):
        try:
            r = np.random.default_rng(100 + i)
            got[i] = run(edgecardio.Monitor(fs, classifier=clf), streams[i], random_cuts(r, streams[i].shape[1], 300))
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for e, g in zip(expected, got):
        same_results(e, g)


def test_bad_input_is_explained(clf, rng):
    with pytest.raises(ValueError, match="unsupported sampling rate"):
        edgecardio.Monitor(300, classifier=clf)
    with pytest.raises(ValueError, match="whole number of samples"):
        edgecardio.Monitor(100, classifier=clf, hop_s=0.015)
    with pytest.raises(ValueError, match=r"hop_s=11"):
        edgecardio.Monitor(100, classifier=clf, hop_s=11)
    with pytest.raises(ValueError, match="stable_k=4 cannot exceed stable_m=3"):
        edgecardio.Monitor(100, classifier=clf, stable_k=4)
    with pytest.raises(ValueError, match="sex"):
        edgecardio.Monitor(100, classifier=clf, sex="unknown-value")
    with pytest.raises(TypeError, match="Classifier"):
        edgecardio.Monitor(100, classifier="model.onnx")
    mon = edgecardio.Monitor(100, classifier=clf)
    with pytest.raises(ValueError, match="transpose"):
        mon.push(np.zeros((50, 12), np.int16))
    with pytest.raises(ValueError, match=r"shape \(12, k\)"):
        mon.push(np.zeros((11, 5), np.int16))
    with pytest.raises(TypeError, match="dtype"):
        mon.push(np.zeros((12, 5), dtype="U1"))
    with pytest.raises(ValueError, match="outside int16"):
        mon.push(np.full((12, 5), 40000, np.int32))
    mon.push(np.zeros((12, 5), np.int16))
    with pytest.raises(TypeError, match="one kind per stream"):
        mon.push(np.zeros((12, 5), np.float32))
    assert mon.push(np.zeros(12, np.int16)) == [] and mon.samples_seen == 6  # one frame
    assert mon.push(np.zeros((12, 0), np.int16)) == []


# ---------------------------------------------------------------- real signals
def _detrended(rec):
    """A record whose every lead starts and ends at 0 mV, so copies join without a step."""
    x = rec.astype(np.float64)
    ramp = np.linspace(0.0, 1.0, x.shape[1])
    return x - x[:, :1] - (x[:, -1:] - x[:, :1]) * ramp


@pytest.fixture(scope="module")
def two_classes(ptbxl, clf):
    """Two clean fold-9 records with different, confident labels that hold on every 1-s rotation."""
    n = 300
    x = fold9_counts(ptbxl, n)
    db = fold9_table(ptbxl)
    cols = ["baseline_drift", "static_noise", "burst_noise", "electrodes_problems"]
    clean = db.loc[: n - 1, cols].isna().all(axis=1).to_numpy()
    picked = {}
    for i in np.flatnonzero(clean):
        rec = np.round(_detrended(x[i])).astype(np.int16)
        labels = clf.predict(rec, 100).labels
        if len(labels) != 1 or labels[0] in picked or labels[0] not in ("NORM", "CD", "MI"):
            continue
        if any(eq.window_quality(rec, 100).unusable_leads for _ in [0]):
            continue
        if all(clf.predict(np.roll(rec, -100 * k, axis=1), 100).labels == labels for k in range(1, 10)):
            picked[labels[0]] = rec
        if len(picked) == 2:
            break
    if len(picked) < 2:
        pytest.skip("no two suitable records in the first fold-9 records")
    (la, a), (lb, b) = picked.items()
    return (la, a), (lb, b)


@pytest.mark.ptbxl
def test_stable_labels_follow_a_change_of_record(clf, two_classes):
    (la, a), (lb, b) = two_classes
    stream = np.concatenate([a, a, a, b, b, b], axis=1)  # the change at 30 s
    k, m = 2, 3
    res = run(edgecardio.Monitor(100, classifier=clf, stable_k=k, stable_m=m), stream, random_cuts(np.random.default_rng(1), stream.shape[1], 250))
    assert [r.t_end_s for r in res] == [float(t) for t in range(10, 61)]
    by_t = {int(r.t_end_s): r for r in res}
    for t in range(10, 31):
        assert by_t[t].labels == (la,) and by_t[t].trusted
        assert by_t[t].stable_labels == (() if t == 10 else (la,))
    for t in range(40, 61):  # every window from 40 s on holds only the second record
        assert by_t[t].labels == (lb,)
    # The stable label follows within 10 + k - 1 hops of the change: windows up to 39 s still hold
    # some of the first record, then k windows are needed.
    for t in range(40 + k - 1, 61):
        assert by_t[t].stable_labels == (lb,), t
    print("stable labels:", [(t, by_t[t].stable_labels) for t in range(28, 44)])


def _windows_touching(t_ends, fs, lo, hi):
    """Window ends whose window [end - 10 s, end) shares a sample with [lo, hi) (samples)."""
    return {t for t in t_ends if int(round(t * fs)) > lo and int(round(t * fs)) - 10 * fs < hi}


@pytest.mark.ptbxl
def test_injected_faults_are_flagged_in_exactly_their_windows(clf, two_classes):
    """A 500 Hz int16 stream of real records with a lead unplugged (rail), clipping, a noise burst;
    each flagged on its lead in exactly the windows that contain it, nothing else flagged."""
    (_, a), (_, b) = two_classes
    fs = 500
    base = upsample_counts(np.concatenate([a, b, a, b, a, b], axis=1), 5)  # 60 s
    rng = np.random.default_rng(7)
    x = base.copy()
    faults = {  # lead -> (flag, start s, end s)
        "V2": ("lead_off", 14.0, 17.0),
        "II": ("saturated", 28.0, 31.0),
        "V5": ("noisy", 44.0, 46.0),
    }
    s = lambda t: int(t * fs)
    v2, ii, v5 = (edgecardio.classifier.LEAD_NAMES.index(n) for n in ("V2", "II", "V5"))
    x[v2, s(14): s(17)] = 32767
    seg = x[ii, s(28): s(31)].astype(np.int32)
    top = np.percentile(seg, 92)
    x[ii, s(28): s(31)] = np.where(seg >= top, 32767, seg).astype(np.int16)
    for sec in range(28, 31):  # precondition: every second of the fault holds a clipped run
        piece = x[ii, s(sec): s(sec + 1)] == 32767
        assert (piece[1:] & piece[:-1]).any()
    x[v5, s(44): s(46)] = np.clip(x[v5, s(44): s(46)] + rng.normal(0, 300, s(2)), -32768, 32767).astype(np.int16)

    clean = edgecardio.Monitor(fs, classifier=clf).push(base)
    assert all(not r.quality.unusable_leads for r in clean), "the base stream must be clean"
    res = run(edgecardio.Monitor(fs, classifier=clf), x, random_cuts(rng, x.shape[1], 700))
    t_ends = [r.t_end_s for r in res]
    for lead, (flag, lo, hi) in faults.items():
        expect = _windows_touching(t_ends, fs, s(lo), s(hi))
        got = {r.t_end_s for r in res if lead in getattr(r.quality, flag)}
        assert got == expect, (lead, flag, sorted(got ^ expect))
    for r in res:  # nothing else: no other lead unusable, and one bad lead keeps the window trusted
        assert set(r.quality.unusable_leads) <= set(faults) and r.trusted


@pytest.mark.ptbxl
def test_nan_gaps_and_a_loose_limb_electrode(clf, two_classes):
    """Float mV stream: NaN gaps flag their lead lead-off in exactly the windows holding them; a limb
    electrode off (five limb leads on the rail) makes exactly those windows untrusted, and the stable
    labels then drop instead of showing a diagnosis."""
    (la, a), (lb, b) = two_classes
    fs = 100
    x = np.concatenate([a, a, a, a, a], axis=1).astype(np.float64) / 1000.0  # 50 s
    x[7, 1230:1275] = np.nan        # V2, 0.45 s
    x[11, 3005:3006] = np.nan       # V6, one sample
    limb = [0, 2, 3, 4, 5]          # I, III, aVR, aVL, aVF: the left-arm electrode
    x[limb, 3800:4400] = 40.0       # 6 s
    rails = {"thresholds": None}
    mon = edgecardio.Monitor(fs, classifier=clf, **rails)
    res = run(mon, x, random_cuts(np.random.default_rng(3), x.shape[1], 130))
    t_ends = [r.t_end_s for r in res]
    assert {r.t_end_s for r in res if "V2" in r.quality.lead_off} == _windows_touching(t_ends, fs, 1230, 1275)
    assert {r.t_end_s for r in res if "V6" in r.quality.lead_off} == _windows_touching(t_ends, fs, 3005, 3006)
    untrusted = {r.t_end_s for r in res if not r.trusted}
    assert untrusted == _windows_touching(t_ends, fs, 3800, 4400)
    for r in res:
        if not r.trusted:
            assert r.labels == () and "leads unusable" in r.quality.reason
            assert set(r.quality.unusable_leads) >= {"I", "III", "aVR", "aVL", "aVF"}
    by_t = {int(r.t_end_s): r for r in res}
    assert by_t[30].stable_labels == (la,)
    assert by_t[50].stable_labels == ()  # the last windows all hold the loose electrode
    for r in res:  # predictions stay those of predict on the (held) window
        end = int(round(r.t_end_s * fs))
        w = x[:, end - 1000: end].copy()
        for c in range(12):
            bad = ~np.isfinite(w[c])
            if bad.any():
                prev = x[c, : end - 1000][np.isfinite(x[c, : end - 1000])]
                held = prev[-1] if prev.size else 0.0
                for i in range(w.shape[1]):
                    if bad[i]:
                        w[c, i] = held
                    else:
                        held = w[c, i]
        assert clf.predict(w, fs).probabilities == r.prediction.probabilities
