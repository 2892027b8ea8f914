"""The generated constants (cpp/include/edgecardio/coeffs_generated.h) are scipy's designs.

Checked three ways: the committed header is exactly what tools/gen_coeffs.py writes today; the
constants compiled into the extension equal scipy's designs rounded to their Q formats (computed
here independently of the generator); and the polyphase indexing reproduces
scipy.signal.resample_poly itself in float64.
"""
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

signal = pytest.importorskip("scipy.signal")
from edgecardio import _core, reference  # noqa: E402

RATES = tuple(_core.supported_rates_hz())


def _gen_coeffs():
    spec = importlib.util.spec_from_file_location("gen_coeffs", REPO / "tools" / "gen_coeffs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_header_is_what_the_generator_writes():
    gen = _gen_coeffs()
    assert gen.HEADER.read_text() == gen.render(), "run python tools/gen_coeffs.py and commit the header"


def test_rates_match_the_reference():
    assert RATES == reference.SUPPORTED_RATES_HZ
    for required in (100, 125, 200, 250, 360, 400, 500, 1000):
        assert required in RATES


@pytest.mark.parametrize("fs_hz", RATES)
def test_taps_are_scipys_resample_poly_design_in_q31(fs_hz):
    d = _core.resampler_design(fs_hz)
    up, down = reference.resample_ratio(fs_hz)
    assert (d["up"], d["down"]) == (up, down)
    if up == down == 1:
        assert d["taps_q31"].size == 0
        return
    max_rate = max(up, down)
    half_len = 10 * max_rate  # resample_poly's choice
    h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    assert d["half_len"] == half_len
    np.testing.assert_array_equal(d["taps_q31"], np.round(h * 2.0**31).astype(np.int64))
    # The per-phase, reversed, zero-filled table the kernels read is a rearrangement of the same taps.
    k = d["taps_per_phase"]
    table = d["phase_taps_q31"].astype(np.int64)
    for p in range(up):
        want = np.zeros(k, np.int64)
        ph = d["taps_q31"][p::up]
        want[k - len(ph):] = ph[::-1]
        np.testing.assert_array_equal(table[p], want, err_msg=f"phase {p}")


@pytest.mark.parametrize("fs_hz", [r for r in RATES if r != 100])
def test_polyphase_indexing_reproduces_resample_poly(fs_hz, rng):
    """y[j] = sum_m table[phase][m] * xpad[s + m] with t = j*down + half_len, in float64, equals scipy."""
    d = _core.resampler_design(fs_hz)
    up, down, k, half_len = d["up"], d["down"], d["taps_per_phase"], d["half_len"]
    h = signal.firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
    table = np.zeros((up, k))
    for p in range(up):
        ph = h[p::up]
        table[p, k - len(ph):] = ph[::-1]
    n_in = 10 * fs_hz + 7
    x = rng.normal(size=n_in)
    n_out = _core.output_length(n_in, fs_hz)
    xp = np.concatenate([np.zeros(k - 1), x, np.zeros(n_out * down // up + k + 1)])
    t = np.arange(n_out) * down + half_len
    s, ph = t // up, t % up
    y = np.einsum("jm,jm->j", table[ph], xp[s[:, None] + np.arange(k)])
    want = signal.resample_poly(x, up, down)
    assert n_out == len(want) == math.ceil(n_in * up / down)
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)


def test_biquads_are_scipys_butter_in_q30():
    sos = signal.butter(2, [0.5, 40.0], btype="bandpass", fs=100, output="sos")
    np.testing.assert_array_equal(sos, reference.bandpass_sos())
    d = _core.bandpass_design()
    want = np.round(np.stack([sos[:, 0], sos[:, 1], sos[:, 2], -sos[:, 4], -sos[:, 5]], 1) * 2.0**30)
    np.testing.assert_array_equal(d["sections_q30"], want.astype(np.int64))
    dc = sos[:, :3].sum(1) / sos[:, 3:].sum(1)
    np.testing.assert_array_equal(d["dc_gain_q30"], np.round(dc * 2.0**30).astype(np.int64))
    # sosfiltfilt's steady state is sosfilt_zi: for a cascade, zi of section s scales with the DC
    # gains of the sections before it, which is what reset_steady's chained levels do.
    zi = signal.sosfilt_zi(sos)
    for s in range(len(sos)):
        b, a = sos[s, :3], sos[s, 3:]
        level = np.prod(dc[:s])
        np.testing.assert_allclose(zi[s], signal.lfilter_zi(b, a) * level, atol=1e-12)


def test_padlen_is_sosfiltfilts_default():
    sos = reference.bandpass_sos()
    ntaps = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    assert _core.bandpass_design()["padlen"] == 3 * ntaps


def test_error_feedback_only_on_the_near_dc_poles():
    sos = reference.bandpass_sos()
    ef = _core.bandpass_design()["error_feedback"]
    for s, (k1, k2) in zip(sos, ef):
        near_dc = np.max(np.abs(np.roots(s[3:]) - 1.0)) < 0.05
        assert (k1, k2) == ((2, -1) if near_dc else (0, 0))


def test_headroom_bound_keeps_every_signal_below_2_30():
    """Recompute the worst-case growth from the l1 norms, independently of the generator."""
    d = _core.bandpass_design()
    fir = max(max(np.abs(_core.resampler_design(fs)["taps_q31"][p::_core.resampler_design(fs)["up"]]).sum()
                  for p in range(_core.resampler_design(fs)["up"])) / 2.0**31
              for fs in RATES if fs != 100)
    imp = np.zeros(4000)
    imp[0] = 1.0
    sos = reference.bandpass_sos()
    l1 = max(np.abs(signal.sosfilt(sos[: s + 1], imp)).sum() for s in range(len(sos)))
    growth = max(fir, 1.0) * 3.0 * l1 * l1  # resampler, odd extension, forward and backward pass
    assert abs(math.log2(growth) - d["headroom_log2"]) < 1e-3
    assert d["input_bits"] + math.log2(growth) < 30
