"""Property tests over every surface that takes untrusted input: ``preprocess``, ``Classifier.predict``,
``Classifier.predict_batch`` and the WFDB reader.

Properties:

* only the documented exceptions escape: ``ValueError`` and ``TypeError`` (and their subclasses such as
  ``ModelError``); the WFDB reader may also raise ``FileNotFoundError`` for a file that is not there;
* the same input gives the same bits, every time;
* every layout of the same values gives the same bits: C or Fortran order, transposed copies, negative
  strides, strided, padded, byte-swapped, read-only, misaligned, broadcast and overlapping views, and
  other dtypes that hold the same values.

Hypothesis runs derandomized (the same examples on every run, no example database), with bounded
example counts, so the file is reproducible and takes well under a minute. Records are drawn as a
seed plus a few parameters and built with numpy: drawing 12 x 10000 samples element by element would
spend the budget on generation.
"""
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="the property tests need hypothesis (the test extra)")
from hypothesis import HealthCheck, Phase, assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import edgecardio
from edgecardio import modelcard as mc
from edgecardio import wfdb_io
from edgecardio.classifier import Classifier
from edgecardio.cli import synthetic_record

RATES = edgecardio.SUPPORTED_RATES_HZ
ENGINES = edgecardio.engines()
DOCUMENTED = (ValueError, TypeError)  # ModelError is a ValueError


def fuzz(max_examples, shrink=True):
    """Derandomized, no example database, no deadline (the machine is shared), bounded examples.
    ``shrink=False`` for the tests of known bugs: their first failing example is enough."""
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=max_examples, derandomize=True, database=None, deadline=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=False)


@pytest.fixture(scope="module")
def classifiers():
    # CI sets EDGECARDIO_REQUIRE_NATIVE_ORT=1: there a build without the runner fails instead of skipping.
    if not edgecardio.HAS_NATIVE_ORT and os.environ.get("EDGECARDIO_REQUIRE_NATIVE_ORT") != "1":
        pytest.skip("built without the native ORT runner")
    return {p: Classifier(precision=p) for p in ("int8", "fp32")}


# ---------------------------------------------------------------- records
def _pattern(shape, n, fs, rng):
    """(12, n) float64 with max |x| 1 (or all zero), of the named shape."""
    t = np.arange(n) / fs
    if shape == "ecg":
        beat = ((t * rng.uniform(0.8, 2.5)) % 1.0) - 0.3
        x = np.exp(-0.5 * (beat / 0.012) ** 2) + 0.25 * np.exp(-0.5 * ((beat - 0.25) / 0.04) ** 2)
        x = rng.uniform(-1, 1, (12, 1)) * x + 0.2 * np.sin(2 * np.pi * 0.3 * t + np.arange(12)[:, None])
        x += 0.01 * rng.standard_normal((12, n))
    elif shape == "noise":
        x = rng.uniform(-1, 1, (12, n))
    elif shape == "square":
        period = rng.integers(1, fs, 12)[:, None]
        x = np.where((np.arange(n) // period) % 2 == 0, 1.0, -1.0)
    elif shape == "impulses":
        x = np.zeros((12, n))
        idx = rng.integers(0, n, 40)
        x[rng.integers(0, 12, 40), idx] = rng.choice([-1.0, 1.0], 40)
    elif shape == "steps":
        x = np.cumsum(rng.choice([0.0, 0.0, 0.0, 1.0, -1.0], (12, n)), axis=1)
    else:  # "zero"
        x = np.zeros((12, n))
    peak = np.abs(x).max()
    return x / peak if peak else x


@st.composite
def records(draw, kinds=("int16", "float32", "float64"), rates=RATES):
    """A valid record: (x (12, n), fs_hz). Lengths sit at and just over the 10-s minimum."""
    fs = draw(st.sampled_from(rates))
    n = 10 * fs + draw(st.sampled_from([0, 0, 1, 2, 7, fs // 3]))
    kind = draw(st.sampled_from(kinds))
    shape = draw(st.sampled_from(["ecg", "ecg", "noise", "square", "impulses", "steps", "zero"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _pattern(shape, n, fs, rng)
    if kind == "int16":
        x = np.round(x * draw(st.sampled_from([1, 3, 300, 3000, 32767]))).astype(np.int16)
        rails = draw(st.lists(st.integers(0, 11), max_size=2))
        x[rails, : n // 2] = draw(st.sampled_from([-32768, 32767]))  # clipped leads
    else:
        top = 1e30 if kind == "float32" else 1e300
        scale = draw(st.sampled_from([1e-30, 1e-6, 1e-3, 1.0, 5.0, 1e3, 1e6, top]))
        x = (x * scale).astype(kind)
    flat = draw(st.lists(st.integers(0, 11), max_size=3))
    x[flat] = x[flat, :1]  # constant leads
    return x, fs


# ---------------------------------------------------------------- layouts of the same values
def _misaligned(x):
    buf = bytearray(x.nbytes + 1)
    y = np.frombuffer(buf, dtype=x.dtype, offset=1, count=x.size).reshape(x.shape)
    y[...] = x
    return y


def _padded(x):
    buf = np.zeros((x.shape[0], x.shape[1] + 7), x.dtype)
    buf[:, 3:3 + x.shape[1]] = x
    return buf[:, 3:3 + x.shape[1]]


def _read_only(x):
    y = x.copy()
    y.flags.writeable = False
    return y


def _same_values_other_dtype(x):
    if x.dtype.kind == "f":
        return x.astype(np.float64)  # float32 values are exact in float64
    for dt in (np.int8, np.uint8, np.uint16):
        info = np.iinfo(dt)
        if x.min() >= info.min and x.max() <= info.max:
            return x.astype(dt)
    return x.astype(np.int64)


LAYOUTS = {
    "C": np.ascontiguousarray,
    "Fortran": np.asfortranarray,
    "transposed copy": lambda x: np.ascontiguousarray(x.T).T,
    "negative sample stride": lambda x: x[:, ::-1].copy()[:, ::-1],
    "negative lead stride": lambda x: x[::-1].copy()[::-1],
    "both strides negative": lambda x: x[::-1, ::-1].copy()[::-1, ::-1],
    "strided samples": lambda x: np.repeat(x, 2, axis=1)[:, ::2],
    "strided leads": lambda x: np.repeat(x, 3, axis=0)[::3],
    "padded rows": _padded,
    "byte-swapped": lambda x: x.astype(x.dtype.newbyteorder()),
    "read-only": _read_only,
    "misaligned": _misaligned,
    "other dtype, same values": _same_values_other_dtype,
    "int32/int64 or float64": lambda x: x.astype(np.int32 if x.dtype.kind in "iu" else np.float64),
    "nested list": lambda x: x.tolist(),
}
layouts = st.lists(st.sampled_from(sorted(LAYOUTS)), min_size=1, max_size=3)


def relayout(x, names):
    for name in names:
        x = LAYOUTS[name](np.asarray(x))
    return x


#: The refusal of a voltage-reading model (Classifier.reads_lead_std) for input far above an ECG's
#: voltage (microvolts passed as mV, say): drawn records span 60 orders of magnitude on purpose.
UNIT_REFUSAL = "far above an ECG"


def outcome(fn, *args, **kwargs):
    """``fn(...)``, or the text of its unit refusal (the same input must be refused the same way)."""
    try:
        return fn(*args, **kwargs)
    except ValueError as e:
        if UNIT_REFUSAL not in str(e):
            raise
        return "refused: " + str(e)


def assert_same_prediction(a, b, what):
    """Two predictions (or lists of them, from predict_batch) with the same bits, or the same refusal."""
    if isinstance(a, str) or isinstance(b, str):
        assert a == b, what
        return
    if isinstance(a, list):
        assert len(a) == len(b), what
        for x, y in zip(a, b):
            assert_same_prediction(x, y, what)
        return
    assert list(a.probabilities.values()) == list(b.probabilities.values()), what
    assert (a.labels, a.flat_leads, a.saturated_leads) == (b.labels, b.flat_leads, b.saturated_leads), what


# ---------------------------------------------------------------- hostile arguments
HOSTILE_SIGNALS = [
    None, 5, "abc", b"\x00\x01", {"a": 1}, [[1, 2], [3]], [], [[]],
    np.zeros(0), np.zeros((12, 0), np.int16), np.zeros((0, 1000)), np.zeros((12,)), np.zeros((12, 1000, 1)),
    np.zeros((1, 12, 1000)), np.zeros((1000, 12), np.int16), np.zeros((11, 1000)), np.zeros((13, 5000)),
    np.zeros((12, 999), np.int16), np.full((12, 1000), "a"), np.zeros((12, 1000), object),
    np.ones((12, 1000), object), np.zeros((12, 1000), complex), np.zeros((12, 1000), bool),
    np.zeros((12, 1000), "M8[s]"), np.zeros((12, 1000), "m8[s]"), np.zeros((12, 1000), "V2"),
    np.full((12, 1000), 2**40, np.int64), np.full((12, 1000), 2**63, np.uint64), np.full((12, 1000), -32769, np.int32),
    np.full((12, 1000), np.inf, np.float16), np.full((12, 1000), 1.5, np.longdouble), np.full((12, 1000), np.nan),
    np.ma.masked_array(np.zeros((12, 1000), np.int16), mask=True),
    np.lib.stride_tricks.as_strided(np.zeros(1, np.int16), (12, 1000), (0, 0)),
]
HOSTILE_RATES = [100, 250, 500, 1000, 0, -500, 500.0, 500.5, np.int64(500), np.float32(250), np.uint8(100), "500",
                 None, True, np.nan, np.inf, 10**30, 2**64, complex(500), [500], np.array(500), 1e-300]
HOSTILE_GAINS = [1000, 1000.0, 1, 1e-300, 5e-324, 1e300, 0, -1, np.nan, np.inf, "1000", None, True, np.float32(200),
                 np.int8(-3), [1000]]
HOSTILE_DURATIONS = [None, 10, 10.0, 10.5, 9, 11, 1e9, np.nan, np.inf, -10, "10", True, np.int64(10), 10**100]
HOSTILE_DEMOGRAPHICS = [None, 0, 60, 60.5, -1, 200, 1e300, np.nan, np.float32(np.nan), np.inf, "60", True, np.int64(60),
                        np.float32(170), [60], np.array(60), complex(1), float("nan")]
HOSTILE_SEXES = [None, "male", "female", "M", " f ", "x", "", 0, 1, True, np.nan, b"male", ["male"], np.str_("male")]


@st.composite
def hostile_signals(draw):
    if draw(st.booleans()):
        return draw(st.sampled_from(HOSTILE_SIGNALS)), draw(st.sampled_from(RATES))
    x, fs = draw(records())
    damage = draw(st.sampled_from(["none", "nan", "inf", "truncate", "transpose", "drop lead", "3-D", "object",
                                   "too big for int16"]))
    if damage in ("nan", "inf"):
        x = x.astype(np.float64)
        x[draw(st.integers(0, 11)), draw(st.integers(0, x.shape[1] - 1))] = np.nan if damage == "nan" else -np.inf
    elif damage == "truncate":
        x = x[:, : draw(st.integers(0, x.shape[1] - 1))]
    elif damage == "transpose":
        x = x.T
    elif damage == "drop lead":
        x = x[1:]
    elif damage == "3-D":
        x = x[None]
    elif damage == "object":
        x = x.astype(object)
    elif damage == "too big for int16":
        x = x.clip(-32768, 32767).astype(np.int32)
        x[0, 0] = 40000
    return x, fs


def _check_output(y, x, fs):
    n = np.asarray(x).shape[1]
    assert y.dtype == np.float32 and y.shape == (12, -(-n * 100 // fs))
    assert np.isfinite(y).all()
    # A z-scored row of m samples has max |z| <= sqrt(m - 1); a flat one is zeros.
    assert np.abs(y).max(initial=0) <= math.sqrt(y.shape[1]) + 1e-3


# ---------------------------------------------------------------- preprocess
@fuzz(150)
@given(hostile_signals(), st.data())
def test_preprocess_raises_only_documented_errors(record, data):
    x, fs = record
    fs = data.draw(st.sampled_from([fs] * 4 + HOSTILE_RATES), label="fs_hz")
    kwargs = dict(gain_per_mv=data.draw(st.sampled_from([1000.0] * 4 + HOSTILE_GAINS), label="gain_per_mv"),
                  duration_s=data.draw(st.sampled_from([None] * 4 + HOSTILE_DURATIONS), label="duration_s"),
                  engine=data.draw(st.sampled_from([None, *ENGINES, "bogus", "", 5, "SCALAR"]), label="engine"))
    try:
        y = edgecardio.preprocess(x, fs, **kwargs)
    except DOCUMENTED:
        return
    n = int(kwargs["duration_s"] * fs) if kwargs["duration_s"] is not None else np.asarray(x).shape[1]
    _check_output(y, np.asarray(x)[:, :n], int(fs))


@fuzz(80)
@given(records(), st.sampled_from(ENGINES))
def test_preprocess_same_input_same_bits(record, engine):
    x, fs = record
    y, info = edgecardio.preprocess(x, fs, return_info=True)
    _check_output(y, x, fs)
    y2, info2 = edgecardio.preprocess(x, fs, return_info=True, engine=engine)
    np.testing.assert_array_equal(y2, y)
    assert (info2.flat_leads, info2.saturated_leads) == (info.flat_leads, info.saturated_leads)
    np.testing.assert_array_equal(info2.lead_std_mv, info.lead_std_mv)


@fuzz(100)
@given(records(), layouts)
def test_preprocess_any_layout_same_bits(record, names):
    x, fs = record
    want = edgecardio.preprocess(np.ascontiguousarray(x), fs)
    np.testing.assert_array_equal(edgecardio.preprocess(relayout(x, names), fs), want, err_msg=str(names))


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_misaligned_input_same_bits(classifiers, dtype):
    """Every dtype path once, whatever the layout strategy draws: under UBSan (tools/sanitize.sh) a
    misaligned load in the native code ends the run."""
    x = synthetic_record(500, 10, seed=3)
    x = x.astype(dtype) if dtype == np.int16 else (x / 1000.0).astype(dtype)  # counts, or mV
    m = _misaligned(x)
    assert not m.flags.aligned
    np.testing.assert_array_equal(edgecardio.preprocess(m, 500), edgecardio.preprocess(x, 500))
    clf = classifiers["fp32"]
    assert_same_prediction(clf.predict(m, 500), clf.predict(x, 500), "predict")
    assert_same_prediction(clf.predict_batch([m, x], 500)[0], clf.predict_batch([x, x], 500)[0], "predict_batch")


def _broadcast(row):
    return np.broadcast_to(row, (12, row.size))


def _overlapping(row):
    """12 rows, each starting one sample after the previous, over one buffer of n + 11 samples."""
    base = np.concatenate([row, row[:11]])
    return np.lib.stride_tricks.sliding_window_view(base, row.size)


VIEWS = {"broadcast": _broadcast, "overlapping": _overlapping}


@fuzz(20)
@given(records(), st.sampled_from(sorted(VIEWS)))
def test_preprocess_broadcast_and_overlapping_views(record, view):
    x, fs = record
    v = VIEWS[view](x[1])
    np.testing.assert_array_equal(edgecardio.preprocess(v, fs), edgecardio.preprocess(v.copy(), fs))


# ---------------------------------------------------------------- predict
@fuzz(100)
@given(hostile_signals(), st.data())
def test_predict_raises_only_documented_errors(classifiers, record, data):
    x, fs = record
    clf = classifiers[data.draw(st.sampled_from(["int8", "fp32"]), label="precision")]
    fs = data.draw(st.sampled_from([fs] * 4 + HOSTILE_RATES), label="fs_hz")
    kwargs = {k: data.draw(st.sampled_from([None] * 3 + HOSTILE_DEMOGRAPHICS), label=k)
              for k in ("age", "height_cm", "weight_kg")}
    kwargs["sex"] = data.draw(st.sampled_from(HOSTILE_SEXES), label="sex")
    kwargs["gain_per_mv"] = data.draw(st.sampled_from([1000.0] * 4 + HOSTILE_GAINS), label="gain_per_mv")
    try:
        r = clf.predict(x, fs, **kwargs)
    except DOCUMENTED:
        return
    p = np.array(list(r.probabilities.values()))
    assert list(r.probabilities) == list(mc.CLASSES) and np.all((p >= 0) & (p <= 1))


@fuzz(40)
@given(records(), st.sampled_from(["int8", "fp32"]))
def test_predict_same_input_same_bits(classifiers, record, precision):
    x, fs = record
    clf = classifiers[precision]
    assert_same_prediction(outcome(clf.predict, x, fs, age=50), outcome(clf.predict, x, fs, age=50), "second call")


@fuzz(60)
@given(records(), layouts, st.sampled_from(["int8", "fp32"]))
def test_predict_any_layout_same_bits(classifiers, record, names, precision):
    x, fs = record
    clf = classifiers[precision]
    assert_same_prediction(outcome(clf.predict, relayout(x, names), fs),
                           outcome(clf.predict, np.ascontiguousarray(x), fs), names)


@fuzz(10, shrink=False)
@given(records(), st.sampled_from(sorted(VIEWS)))
def test_predict_broadcast_and_overlapping_views(classifiers, record, view):
    x, fs = record
    v = VIEWS[view](x[1])
    clf = classifiers["int8"]
    assert_same_prediction(outcome(clf.predict, v, fs), outcome(clf.predict, v.copy(), fs), view)


# ---------------------------------------------------------------- predict_batch
@st.composite
def batches(draw, size=st.integers(1, 4)):
    return [draw(records()) for _ in range(draw(size))]


@fuzz(40)
@given(st.lists(hostile_signals(), min_size=0, max_size=3), st.data())
def test_predict_batch_raises_only_documented_errors(classifiers, batch, data):
    clf = classifiers[data.draw(st.sampled_from(["int8", "fp32"]), label="precision")]
    signals = [x for x, _ in batch]
    if data.draw(st.booleans(), label="whole batch hostile"):
        signals = data.draw(st.sampled_from([None, 5, "abc", np.zeros((2, 12, 1000), np.int16), np.zeros((0, 12, 1000)),
                                             np.zeros((12, 1000), np.int16), iter([]), {1: 2}]), label="signals")
    per_record = lambda pool: st.one_of(st.sampled_from(pool), st.lists(st.sampled_from(pool), max_size=4),
                                        st.builds(np.array, st.lists(st.sampled_from([50, 60.5]), max_size=4)))
    fs = data.draw(st.one_of(st.just([f for _, f in batch]), per_record(HOSTILE_RATES)), label="fs_hz")
    kwargs = {k: data.draw(per_record([None] + HOSTILE_DEMOGRAPHICS), label=k) for k in ("age", "height_cm")}
    kwargs["sex"] = data.draw(per_record(HOSTILE_SEXES), label="sex")
    kwargs["gain_per_mv"] = data.draw(st.one_of(st.just(1000.0), per_record(HOSTILE_GAINS)), label="gain_per_mv")
    try:
        out = clf.predict_batch(signals, fs, **kwargs)
    except DOCUMENTED:
        return
    assert isinstance(out, list)


@fuzz(25)
@given(batches(), st.sampled_from(["int8", "fp32"]))
def test_predict_batch_same_input_same_bits(classifiers, batch, precision):
    clf = classifiers[precision]
    sigs, rates = [x for x, _ in batch], [f for _, f in batch]
    assert_same_prediction(outcome(clf.predict_batch, sigs, rates), outcome(clf.predict_batch, sigs, rates), "second call")


@fuzz(25)
@given(batches(), st.lists(layouts, min_size=4, max_size=4), st.sampled_from(["int8", "fp32"]))
def test_predict_batch_any_layout_same_bits(classifiers, batch, names, precision):
    clf = classifiers[precision]
    rates = [f for _, f in batch]
    want = outcome(clf.predict_batch, [np.ascontiguousarray(x) for x, _ in batch], rates)
    got = outcome(clf.predict_batch, [relayout(x, n) for (x, _), n in zip(batch, names)], rates)
    assert_same_prediction(got, want, names)


def _batch_equals_predict(clf, batch):
    sigs, rates = [x for x, _ in batch], [f for _, f in batch]
    results = outcome(clf.predict_batch, sigs, rates)
    if isinstance(results, str):  # refused for its first unit-refused record, as predict refuses that record
        i = int(results.split("record ", 1)[1].split(":", 1)[0])
        assert results == outcome(clf.predict, sigs[i], rates[i]).replace("refused: ", f"refused: record {i}: ")
        assert all(not isinstance(outcome(clf.predict, x, fs), str) for x, fs in zip(sigs[:i], rates[:i]))
        return
    for i, (r, x, fs) in enumerate(zip(results, sigs, rates)):
        assert_same_prediction(r, clf.predict(x, fs), f"record {i} of {len(sigs)}")


@fuzz(25)
@given(batches(size=st.integers(2, 4)))
def test_predict_batch_equals_predict_fp32(classifiers, batch):
    _batch_equals_predict(classifiers["fp32"], batch)


@fuzz(25, shrink=False)
@given(batches(size=st.integers(2, 4)))
@example([(synthetic_record(500, 10, seed=39), 500), (synthetic_record(500, 10, seed=1039), 500)])
def test_predict_batch_equals_predict_int8(classifiers, batch):
    _batch_equals_predict(classifiers["int8"], batch)


@fuzz(10, shrink=False)
@given(records(), st.sampled_from(sorted(VIEWS)))
def test_predict_batch_broadcast_and_overlapping_views(classifiers, record, view):
    x, fs = record
    v = VIEWS[view](x[1])
    clf = classifiers["fp32"]
    a, b = outcome(clf.predict_batch, [v, x], fs), outcome(clf.predict_batch, [v.copy(), x], fs)
    assert_same_prediction(a, b, view)


# ---------------------------------------------------------------- the WFDB reader
def _encode_212(values):
    """Format 212 bytes of int values in [-2048, 2047]: pairs in 3 bytes, a lone last one in 2."""
    v = np.asarray(values, dtype=np.int64) & 0xFFF
    if v.size % 2:
        v = np.append(v, 0)
        lone = True
    else:
        lone = False
    a, b = v[0::2], v[1::2]
    out = np.stack([a & 0xFF, (a >> 8) | ((b >> 8) << 4), b & 0xFF], axis=1).astype(np.uint8).ravel()
    return out[:-1].tobytes() if lone else out.tobytes()


@st.composite
def wfdb_records(draw, checksums=False):
    """A valid single-segment record as files: (header text, {file name: bytes}, digital (n_sig, n), spec)."""
    n_sig = draw(st.integers(1, 12))
    n = draw(st.integers(1, 300))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_files = draw(st.integers(1, min(3, n_sig)))
    file_of = np.sort(np.r_[np.arange(n_files), rng.integers(0, n_files, n_sig - n_files)])
    fmts = [draw(st.sampled_from([16, 212])) for _ in range(n_files)]
    offsets = [draw(st.sampled_from([0, 0, 1, 8, 512])) for _ in range(n_files)]
    negative = draw(st.booleans())  # one sign for every gain: WFDB readers may reject a mix
    digital = np.empty((n_sig, n), np.int16)
    files, lines = {}, []
    fs = draw(st.sampled_from(["100", "500", "250/1000", "360", "1000.5"]))
    lines.append(f"rec {n_sig} {fs} {n}" + draw(st.sampled_from(["", " 12:00:00", " 12:00:00 01/02/2000"])))
    for f in range(n_files):
        idx = np.flatnonzero(file_of == f)
        lim = 2047 if fmts[f] == 212 else 32767
        d = rng.integers(-lim, lim + 1, (len(idx), n))
        digital[idx] = d
        frames = d.T.ravel()  # samples interleave frame by frame
        body = frames.astype("<i2").tobytes() if fmts[f] == 16 else _encode_212(frames)
        files[f"rec_{f}.dat"] = bytes(rng.integers(0, 256, offsets[f], dtype=np.uint8)) + body
        for i in idx:
            fmt = f"{fmts[f]}" + (f"+{offsets[f]}" if offsets[f] else "")
            gains = ["200", "1000", "2.5", "0", "400(10)/uV", "200(-3)/mV", "1/V"]
            if negative:  # no field and 0 both mean the default, +200
                gains = ["-" + g for g in gains if g != "0"]
            gain = draw(st.sampled_from(gains if checksums or negative else ["", *gains]))
            fields = [f"rec_{f}.dat", fmt]
            if gain:
                checksum = int(d[list(idx).index(i)].sum()) % 65536
                checksum = checksum - 65536 if checksum > 32767 else checksum
                fields += [gain, "16", "0", str(int(d[list(idx).index(i), 0])), str(checksum), "0", f"lead{i}"]
            lines.append(" ".join(fields))
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "# a comment")
    return "\n".join(lines) + "\n", files, digital


NASTY_TOKENS = ["", "0", "-1", "1", "2", "-0", "nan", "inf", "-inf", "1e308", "1e-308", "0.0", "x", ".", "+", "-",
                "()", "(", "16", "212", "80", "16x2", "16:1", "16+3", "16+99999", "212+1", "200(5)/mV", "200(x)/mV",
                "-200/mV", "0/mV", "200/uV", "1/0", "100/0", "0/0", "999999", "rec_0.dat", "rec_1.dat", "missing.dat",
                "..", "é", "\x00", "#", "/", "rec/2", "1e400"]


@st.composite
def mutations(draw, text):
    """1-3 random edits of a header: replace a field, drop, repeat or cut a line, insert a character."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "replace", "replace", "drop", "repeat", "cut", "insert"]))
        i = draw(st.sampled_from([0, draw(st.integers(0, max(0, len(lines) - 1)))]))  # the record line often
        if not lines:
            lines = [draw(st.sampled_from(NASTY_TOKENS))]
        elif op == "replace":
            fields = lines[i].split(" ")
            fields[draw(st.integers(0, len(fields) - 1))] = draw(st.sampled_from(NASTY_TOKENS))
            lines[i] = " ".join(fields)
        elif op == "drop":
            del lines[i]
        elif op == "repeat":
            lines.insert(i, lines[i])
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        else:
            k = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:k] + draw(st.sampled_from(["\x00", "\xff", "#", "/", "(", ")", "+", ":", " ", "\t",
                                                             "\r", "é", "9"])) + lines[i][k:]
    return "\n".join(lines) + "\n"


def _write(tmp, header, files):
    Path(tmp, "rec.hea").write_text(header, encoding="latin-1", errors="replace")
    for name, data in files.items():
        Path(tmp, name).write_bytes(data)
    return Path(tmp, "rec")


@fuzz(80)
@given(wfdb_records())
def test_wfdb_round_trip(spec):
    header, files, digital = spec
    with tempfile.TemporaryDirectory() as tmp:
        rec = wfdb_io.read_record(_write(tmp, header, files))
        np.testing.assert_array_equal(rec.digital, digital)
        assert rec.digital.dtype == np.int16
        again = wfdb_io.read_record(Path(tmp, "rec.hea"))
    np.testing.assert_array_equal(again.digital, rec.digital)
    np.testing.assert_array_equal(again.physical_mv(), rec.physical_mv())


@fuzz(150)
@given(wfdb_records(), st.data())
def test_wfdb_reader_raises_only_documented_errors(spec, data):
    header, files, _ = spec
    header = data.draw(mutations(header), label="header")
    if data.draw(st.booleans(), label="damage a .dat"):
        name = data.draw(st.sampled_from(sorted(files)), label="file")
        body = files[name]
        files = {**files, name: body[: data.draw(st.integers(0, len(body)), label="cut at")]}
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(tmp, header, files)
        try:
            rec = wfdb_io.read_record(path)
        except DOCUMENTED:
            return
        except FileNotFoundError as e:
            named = [line.split()[0] for line in header.splitlines()[1:] if line.split()]
            assert any(not Path(tmp, name).is_file() for name in named), e
            return
        again = wfdb_io.read_record(path)
    assert rec.digital.ndim == 2 and rec.digital.shape[0] == len(rec.signals)
    np.testing.assert_array_equal(again.digital, rec.digital)


@pytest.mark.parametrize("rate, gain", [("nan", "200"), ("inf", "200"), ("1e400", "200"), ("500", "1e400")])
def test_wfdb_non_finite_rate_or_gain_is_a_value_error(tmp_path, rate, gain):
    np.arange(24, dtype="<i2").tofile(tmp_path / "r.dat")
    (tmp_path / "r.hea").write_text(f"r 2 {rate} 12\nr.dat 16 {gain} 16 0 0 0 0 a\nr.dat 16 200 16 0 0 0 0 b\n")
    with pytest.raises(ValueError, match="r.hea"):
        wfdb_io.read_record(tmp_path / "r")


def test_wfdb_huge_sample_count_is_a_value_error(tmp_path):
    (tmp_path / "r.hea").write_text(f"r 12 500 {10**13}\n" + "r.dat 16 1000 16 0 0 0 0 I\n" * 12)
    (tmp_path / "r.dat").write_bytes(b"\0" * 240)
    with pytest.raises(ValueError, match=r"r\.(hea|dat)"):
        wfdb_io.read_record(tmp_path / "r")


def _as_format_212(header):
    """The header with every format-16 signal declared as format 212 (same byte offset)."""
    out = []
    for line in header.splitlines():
        fields = line.split(" ")
        if len(fields) > 1 and fields[0].endswith(".dat") and (fields[1] == "16" or fields[1].startswith("16+")):
            fields[1] = "212" + fields[1][2:]
        out.append(" ".join(fields))
    return "\n".join(out) + "\n"


@fuzz(20, shrink=False)
@given(wfdb_records(checksums=True))
def test_wfdb_wrong_format_fails_its_checksums(spec):
    header, files, digital = spec
    swapped = _as_format_212(header)
    assume(swapped != header and digital.shape[1] >= 8)
    with tempfile.TemporaryDirectory() as tmp:
        with pytest.raises(ValueError):
            wfdb_io.read_record(_write(tmp, swapped, files))
