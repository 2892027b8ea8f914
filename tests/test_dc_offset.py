"""A per-lead constant offset, or a slow linear drift, must not change the diagnosis at any rate.

Electrode offsets of tens to hundreds of mV are normal on real front ends. The specification removes
each lead's least-squares line before resampling (edgecardio.reference), so the resampler's zero
padding never meets an offset as an edge step; the native path does the same in fixed point. These
properties are checked on real fold-9 PTB-XL records brought to every supported rate, with fixed
and seeded per-lead offsets. Tolerances (max abs difference against the same record without the
offset or drift):

``preprocess`` output (z-scores), every resampled rate:
  * int16, whole-count offsets, rail to rail: bit for bit (the line is fitted in exact integers);
  * float64 offsets up to 300 mV and drifts of 1 and 5 mV across the record: 1e-5;
  * float32 offsets: 2e-5 + 4e-6 per mV of offset (float32 itself rounds x + offset to 2^-24 of it);
  * int16, a drift of one count per sample (exactly linear): 1e-5.
``preprocess`` output at 100 Hz (no resampling, unchanged since the shipped model was trained on
it): the band-pass removes an offset, but the fixed-point block exponent makes room for it, so
precision falls with its size: 1e-5 + 2e-5 per mV (float), 1e-3 (int16). A drift is not removed at
100 Hz: the band-pass's zero-phase edges respond to a ramp; only probabilities are bounded there.
``Classifier.predict`` probabilities: FP32 model 2e-3, INT8 model 0.03 (its input quantization turns
a 1e-5 change of one value into up to ~0.02), at every rate and for every offset and drift here,
except a drift at 100 Hz: FP32 0.03, INT8 0.1 (the worst measured here: 0.015 and 0.054).
"""
from math import gcd

import numpy as np
import pytest

import edgecardio
from edgecardio import reference
from _ptbxl import fold_start

signal = pytest.importorskip("scipy.signal")

RATES = edgecardio.SUPPORTED_RATES_HZ
RESAMPLED = [fs for fs in RATES if fs != 100]
N_RECORDS = 12
OFFSETS_MV = (0.5, -0.5, 2.0, -2.0, 50.0, -50.0, 300.0, -300.0)
DRIFTS_MV = (1.0, 5.0)  # total rise across the record
PROB_TOL = {"fp32": 2e-3, "int8": 0.03}
# At 100 Hz the specification removes no line (it runs only where resampling does), so a drift
# reaches the band-pass, whose zero-phase edges leave up to ~0.4 z-units of residue for the 5-mV ramp
# (each lead's standard deviation, the voltage input, moves by < 0.2 %). How far that moves a
# probability is the network's: 0.037 (FP32) for resnet_s_v on these records, below 0.03 for the
# network before it. Removing the line at 100 Hz too would change the 100-Hz specification the
# models are trained on (a retraining), so it is bounded here, not fixed.
PROB_TOL_DRIFT_100HZ = {"fp32": 0.05, "int8": 0.1}


@pytest.fixture(scope="module")
def records_100hz(ptbxl):
    """The first N_RECORDS int16 records of fold 9 (the xz stream holds first differences)."""
    return fold_start(ptbxl, N_RECORDS)


@pytest.fixture(scope="module")
def records(records_100hz):
    """{fs_hz: [int16 record]}: band-limited resampling of the 100 Hz records, rounded to counts."""
    out = {}
    for fs in RATES:
        g = gcd(fs, 100)
        out[fs] = [x if fs == 100 else
                   np.clip(np.rint(signal.resample_poly(x.astype(np.float64), fs // g, 100 // g, axis=-1)),
                           -32768, 32767).astype(np.int16)
                   for x in records_100hz]
    return out


def ramp_mv(n, total_mv):
    return np.linspace(-total_mv / 2, total_mv / 2, n)


def int16_offsets(x, rng):
    """Whole-count per-lead offsets that keep every lead inside int16, up to both rails."""
    x = x.astype(np.int64)
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    room_up, room_down = 32767 - hi, -32768 - lo
    cases = {"+500": 500, "-2000": -2000, "to +rail": room_up, "to -rail": room_down,
             "random per lead": rng.integers(room_down, room_up + 1)}
    return {k: (x + v).astype(np.int16) for k, v in cases.items()}


def max_diff(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


# ---------------------------------------------------------------- the specification
@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RATES)
def test_spec_ignores_offsets_and_drift(records, fs_hz, rng):
    for x in records[fs_hz][:4]:
        mv = reference.counts_to_mv(x)
        want = reference.preprocess_reference(mv, fs_hz)
        per_lead = rng.uniform(-300, 300, (12, 1))
        for off in (2.0, -300.0, per_lead):
            assert max_diff(reference.preprocess_reference(mv + off, fs_hz), want) <= 1e-6
        if fs_hz != 100:  # at 100 Hz the band-pass's edges respond to a ramp (see the module docstring)
            for d in DRIFTS_MV:
                assert max_diff(reference.preprocess_reference(mv + ramp_mv(mv.shape[1], d), fs_hz), want) <= 1e-6


# ---------------------------------------------------------------- the native path
@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RATES)
def test_int16_offsets(records, fs_hz, rng):
    for x in records[fs_hz]:
        want = edgecardio.preprocess(x, fs_hz)
        for name, xo in int16_offsets(x, rng).items():
            got = edgecardio.preprocess(xo, fs_hz)
            if fs_hz == 100:
                assert max_diff(got, want) <= 1e-3, name
            else:
                np.testing.assert_array_equal(got, want, err_msg=f"{fs_hz} Hz, offset {name}")


@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RATES)
def test_float_offsets(records, fs_hz, rng):
    for x in records[fs_hz]:
        mv = reference.counts_to_mv(x)
        per_lead = rng.uniform(-300, 300, (12, 1))
        for dtype in (np.float64, np.float32):
            want = edgecardio.preprocess(mv.astype(dtype), fs_hz)
            for off in OFFSETS_MV + (per_lead,):
                size = float(np.max(np.abs(off)))
                tol = 1e-5 if dtype == np.float64 else 2e-5 + 4e-6 * size
                if fs_hz == 100:
                    tol = max(tol, 1e-5 + 2e-5 * size)
                got = edgecardio.preprocess((mv + off).astype(dtype), fs_hz)
                assert max_diff(got, want) <= tol, (fs_hz, dtype.__name__, size)


@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RESAMPLED)
def test_drift(records, fs_hz):
    for x in records[fs_hz]:
        mv = reference.counts_to_mv(x)
        want = edgecardio.preprocess(mv, fs_hz)
        for d in DRIFTS_MV:
            assert max_diff(edgecardio.preprocess(mv + ramp_mv(mv.shape[1], d), fs_hz), want) <= 1e-5
        # One count per sample: exactly linear in counts, so only the fit's double rounding differs.
        steps = np.arange(x.shape[1]) - x.shape[1] // 2
        xd = x.astype(np.int64) + steps
        if xd.min() >= -32768 and xd.max() <= 32767:
            assert max_diff(edgecardio.preprocess(xd.astype(np.int16), fs_hz), edgecardio.preprocess(x, fs_hz)) <= 1e-5


@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RESAMPLED)
def test_offset_records_still_match_spec(records, fs_hz):
    """The native path with a 300 mV offset is as close to the specification as without one."""
    for x in records[fs_hz][:4]:
        mv = reference.counts_to_mv(x) - 300.0
        ref = reference.preprocess_reference(mv, fs_hz).astype(np.float64)
        err = edgecardio.preprocess(mv, fs_hz).astype(np.float64) - ref
        snr = 10 * np.log10((ref**2).sum(-1) / np.maximum((err**2).sum(-1), 1e-300))
        assert snr.min() >= 95 and np.abs(err).max() <= 5e-5


@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RESAMPLED)
def test_power_of_two_scale_and_huge_offsets_do_not_overflow(records, fs_hz):
    """Scaling up by 2^k keeps the bits (the line comes off after an exact power-of-two prescale,
    so 300 mV * 2^900 overflows nothing); scaled far down the record is flat."""
    mv = reference.counts_to_mv(records[fs_hz][0]) + 300.0
    want = edgecardio.preprocess(mv, fs_hz)
    for k in (-900, -60, 60, 900):
        y, info = edgecardio.preprocess(mv * 2.0**k, fs_hz, return_info=True)
        assert np.isfinite(y).all()
        if k > 0:
            np.testing.assert_array_equal(y, want)
        else:  # now below FLAT_STD_MV after the band-pass: flat, zeros
            assert info.flat_leads == tuple(range(12)) and not y.any()


@pytest.mark.parametrize("fs_hz", RATES)
def test_constant_leads_are_flat_at_every_rate(fs_hz, rng):
    n = 10 * fs_hz
    t = np.arange(n) / fs_hz
    x = np.round(800 * np.sin(2 * np.pi * 1.1 * t) ** 31 + rng.normal(0, 20, (12, n))).astype(np.int16)
    x[2] = 1234
    x[4] = 32767
    x[6] = -32768
    y, info = edgecardio.preprocess(x, fs_hz, return_info=True)
    assert info.flat_leads == (2, 4, 6) and not y[[2, 4, 6]].any()
    mv = reference.counts_to_mv(x)
    mv[2] = 300.0
    _, info = edgecardio.preprocess(mv, fs_hz, return_info=True)
    assert info.flat_leads == (2, 4, 6)
    _, info = edgecardio.preprocess(mv.astype(np.float32), fs_hz, return_info=True)
    assert info.flat_leads == (2, 4, 6)


# ---------------------------------------------------------------- the diagnosis
@pytest.fixture(scope="module", params=["fp32", "int8"])
def classifier(request):
    return edgecardio.Classifier(precision=request.param)


def probabilities(clf, x, fs_hz):
    r = clf.predict(x, fs_hz)
    return np.array([r.probabilities[c] for c in clf.classes])


@pytest.mark.ptbxl
@pytest.mark.parametrize("fs_hz", RATES)
def test_predictions_ignore_offsets_and_drift(records, fs_hz, classifier, rng):
    tol = PROB_TOL[classifier.precision]
    tol_drift = PROB_TOL_DRIFT_100HZ[classifier.precision] if fs_hz == 100 else tol
    worst = {"offset": 0.0, "drift": 0.0}
    for x in records[fs_hz]:
        mv = reference.counts_to_mv(x)
        want_counts, want_mv = probabilities(classifier, x, fs_hz), probabilities(classifier, mv, fs_hz)
        n = x.shape[1]
        for xo in int16_offsets(x, rng).values():
            worst["offset"] = max(worst["offset"], max_diff(probabilities(classifier, xo, fs_hz), want_counts))
        for off in (2.0, -300.0, rng.uniform(-300, 300, (12, 1))):
            worst["offset"] = max(worst["offset"], max_diff(probabilities(classifier, mv + off, fs_hz), want_mv))
        for d in DRIFTS_MV:
            worst["drift"] = max(worst["drift"], max_diff(probabilities(classifier, mv + ramp_mv(n, d), fs_hz), want_mv))
        # int16: one count per sample, exactly linear (a drift rounded to counts would also requantize
        # every sample, a different record for the INT8 model).
        xd = x.astype(np.int64) + np.arange(n) - n // 2
        if xd.min() >= -32768 and xd.max() <= 32767:
            worst["drift"] = max(worst["drift"], max_diff(probabilities(classifier, xd.astype(np.int16), fs_hz), want_counts))
    print(f"{fs_hz} Hz {classifier.precision}: worst probability change {worst}")
    assert worst["offset"] <= tol and worst["drift"] <= tol_drift, worst
