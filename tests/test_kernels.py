"""Oracle 1: an exact integer model of every fixed-point kernel and of the whole native pipeline.

Each kernel variant this build runs (``_core.kernels()``, generated from cpp/include/edgecardio/kernels.def)
must equal the model bit for bit: random and extreme inputs, lane counts around the vector widths (4, 12),
lengths around loop boundaries, both time directions, arbitrary chunkings of a stream. The model
is written from the arithmetic contracts (cpp/include/edgecardio/qmath.h, cpp/kernels/*), in
numpy int64 where the contract bounds every sum below 2^63, Python ints elsewhere.
"""
import math

import numpy as np
import pytest

import edgecardio
from edgecardio import _core

ENGINES = edgecardio.engines()
RATES = edgecardio.SUPPORTED_RATES_HZ
BP = _core.bandpass_design()
LANES = (1, 3, 4, 5, 8, 12, 13, 16)
LENGTHS = (0, 1, 2, 3, 4, 5, 11, 12, 13, 64, 101)
OPS = ("interleave_shl_i16", "fir_poly_q31", "fir_decimsym_q31", "biquad_df1_q31", "zscore_rows_f32")


def variants(op):
    """Every variant of op as a pytest param: run with engine=<its instruction set>, id = its name."""
    return [pytest.param(isa, id=name) for name, isa in _core.kernels() if name == f"{op}_{isa}"]


# ---------------------------------------------------------------- the integer model
def rshift_round_sat32(acc, n):
    """q::rshift_round_sat32: round half up at bit n, saturate to int32 (acc: int64 array)."""
    acc = np.asarray(acc, dtype=np.int64)
    return np.clip((acc >> n) + ((acc >> (n - 1)) & 1), -(2**31), 2**31 - 1).astype(np.int64)


def round_residual(acc, n):
    """q::round_residual: ((acc + 2^(n-1)) mod 2^n) - 2^(n-1)."""
    half = 1 << (n - 1)
    return ((np.asarray(acc, dtype=np.int64) + half) & ((1 << n) - 1)) - half


def fir_poly_model(x, taps, up, down, n_taps, j0, offset, n_out):
    """y[j][c] = rshift_round_sat32(sum_m taps[phase][m] * x[s + m][c], 31), t = (j0+j)*down + offset."""
    x = np.asarray(x, dtype=np.int64)
    taps = np.asarray(taps, dtype=np.int64).reshape(up, n_taps)
    t = (j0 + np.arange(n_out)) * down + offset
    s, ph = t // up, t % up
    idx = s[:, None] + np.arange(n_taps)[None, :]  # (n_out, K)
    acc = (x[idx] * taps[ph][:, :, None]).sum(axis=1)  # bounded by the contract: |acc| < 2^56
    return rshift_round_sat32(acc, 31).astype(np.int32)


def biquad_model(coeffs, state, x, reverse=False):
    """One DF1 section with error feedback over (n, n_ch) frames; state (6, n_ch) rows x1, x2, y1, y2,
    e1, e2; returns (y, new state)."""
    b0, b1, b2, a1, a2, k1, k2 = (int(v) for v in coeffs)
    x = np.asarray(x, dtype=np.int64)
    x1, x2, y1, y2, e1, e2 = (np.asarray(state, dtype=np.int64)[i].copy() for i in range(6))
    y = np.empty_like(x)
    order = range(len(x) - 1, -1, -1) if reverse else range(len(x))
    for t in order:
        acc = b0 * x[t] + b1 * x1 + b2 * x2 + k1 * e1 + k2 * e2 + a2 * y2 + a1 * y1
        y0 = rshift_round_sat32(acc, 30)
        e2, e1 = e1, round_residual(acc, 30)
        x2, x1, y2, y1 = x1, x[t], y1, y0
        y[t] = y0
    return y.astype(np.int32), np.stack([x1, x2, y1, y2, e1, e2]).astype(np.int32)


def sections():
    """The band-pass sections as the kernels take them: b0, b1, b2, -a1, -a2, k1, k2."""
    return [np.concatenate([BP["sections_q30"][s], BP["error_feedback"][s]]).astype(np.int32)
            for s in range(len(BP["sections_q30"]))]


def steady_state(level, n_ch):
    """BiquadCascade::reset_steady: a constant input has flowed forever, residuals zero."""
    states, lvl = [], np.asarray(level, dtype=np.int64)
    for g in BP["dc_gain_q30"]:
        out = rshift_round_sat32(int(g) * lvl, 30)
        states.append(np.stack([lvl, lvl, out, out, 0 * lvl, 0 * lvl]).astype(np.int32))
        lvl = out
    return states


def filtfilt_model(w):
    """sosfiltfilt with odd padding on (n, n_ch) int frames, as cpp/dsp/bandpass.cpp does it."""
    pad = BP["padlen"]
    w = np.asarray(w, dtype=np.int64)
    ext = np.concatenate([2 * w[0] - w[pad:0:-1], w, 2 * w[-1] - w[-2:-pad - 2:-1]])
    for reverse in (False, True):
        start = ext[-1] if reverse else ext[0]
        for sec, st in zip(sections(), steady_state(start, w.shape[1])):
            ext, _ = biquad_model(sec, st, ext, reverse=reverse)
        ext = ext.astype(np.int64)
    return ext[pad:pad + len(w)]


def block_exponent(maxabs):
    if maxabs == 0:
        return 0
    return BP["input_bits"] - math.frexp(float(maxabs))[1]


def line_removal_model(row, prescale):
    """cpp/dsp/detrend.cpp on one lead, bit for bit: (int64 samples, input units of one LSB)."""
    n = row.size
    tc = 0.5 * float(n - 1)
    centred = float(n) * (float(n) * float(n) - 1.0) / 12.0
    u = np.arange(n) - tc
    if row.dtype == np.int16:  # exact integer sums; the floor of the mean comes off as an integer
        xi = row.astype(np.int64).tolist()
        s0, s1 = sum(xi), sum(t * v for t, v in enumerate(xi))
        origin = s0 // n
        level = float(s0 - origin * n) / float(n)
        slope = float(2 * s1 - (n - 1) * s0) / (2.0 * centred) if n > 1 else 0.0
    else:  # double sums in sample order (np.cumsum accumulates sequentially, as the C++ loop does)
        v = row.astype(np.float64) * prescale
        origin = 0
        level = float(np.cumsum(v)[-1]) / float(n)
        slope = float(np.cumsum(u * v)[-1]) / centred if n > 1 else 0.0
    r = (row.astype(np.float64) - float(origin)) * prescale - (level + slope * u)
    m = float(np.abs(r).max())
    e = min(BP["input_bits"] - math.frexp(m)[1], 64) if m > 0 else 0
    return np.rint(r * math.ldexp(1.0, e)).astype(np.int64), math.ldexp(1.0, -e) / prescale


def pipeline_model(x, fs_hz, gain_per_mv=1000.0):
    """The whole native pipeline, bit for bit: returns (float32 output, flat lead indices)."""
    d = _core.resampler_design(fs_hz)
    n_ch, n_in = x.shape
    if x.dtype == np.int16:
        e = [block_exponent(int(np.abs(r.astype(np.int64)).max())) for r in x]
        q = np.stack([r.astype(np.int64) << ei for r, ei in zip(x, e)], axis=1)
        scale = [math.ldexp(1.0, -ei) / gain_per_mv for ei in e]
    else:
        e = [block_exponent(float(np.abs(r.astype(np.float64)).max())) for r in x]
        e = [0 if ei > 512 else ei for ei in e]
        q = np.stack([np.rint(np.ldexp(r.astype(np.float64), ei)).astype(np.int64) for r, ei in zip(x, e)], axis=1)
        scale = [math.ldexp(1.0, -ei) for ei in e]
    if not d["up"] == d["down"] == 1:  # resampled rates: each lead's line comes off first
        parts = [line_removal_model(r, 1.0 if x.dtype == np.int16 else math.ldexp(1.0, ei)) for r, ei in zip(x, e)]
        q = np.stack([p[0] for p in parts], axis=1)
        scale = [p[1] / gain_per_mv if x.dtype == np.int16 else p[1] for p in parts]
    n_out = _core.output_length(n_in, fs_hz)
    if d["up"] == d["down"] == 1:
        w = q
    else:
        k = d["taps_per_phase"]
        xp = np.concatenate([np.zeros((k - 1, n_ch), np.int64), q, np.zeros((n_out * d["down"] // d["up"] + k + 1, n_ch), np.int64)])
        w = fir_poly_model(xp, d["phase_taps_q31"], d["up"], d["down"], k, 0, d["half_len"], n_out)
    y = filtfilt_model(w)
    out = np.zeros((n_ch, n_out), np.float32)
    flat = []
    for c in range(n_ch):
        v = [int(s) for s in y[:, c]]
        s1, s2 = sum(v), sum(s * s for s in v)
        mean = float(s1) / float(n_out)
        std = math.sqrt(float(n_out * s2 - s1 * s1) / (float(n_out) * float(n_out)))
        if not std * scale[c] >= _core.FLAT_STD_MV or std == 0.0:
            flat.append(c)
            continue
        inv = 1.0 / std
        out[c] = np.array([(float(s) - mean) * inv for s in v], dtype=np.float64).astype(np.float32)
    return out, tuple(flat)


# ---------------------------------------------------------------- the kernels
def test_registry_lists_every_variant():
    """Each engine has one variant of each op, its own or another engine's (avx512 runs the AVX2
    FIR); every listed variant is named <op>_<isa> and is run by the engine of its isa."""
    assert ENGINES[0] == "scalar" and edgecardio.engine() in ENGINES
    pairs = _core.kernels()
    names = {name for name, _ in pairs}
    for name, isa in pairs:
        assert isa in ENGINES and name.endswith("_" + isa) and name[: -len(isa) - 1] in OPS, (name, isa)
    for eng in ENGINES:
        table = _core.engine_kernels(eng)
        assert sorted(table) == sorted(OPS), eng
        for op, name in table.items():
            assert name in names and name.startswith(op + "_"), (eng, op, name)
            if name.endswith("_" + eng):
                assert (name, eng) in pairs
        assert any(name.endswith("_" + eng) for name in table.values()), eng
    for op in OPS:
        assert (f"{op}_scalar", "scalar") in pairs, op
    assert len(edgecardio.kernels()) == len(set(edgecardio.kernels())) == len(names) == len(pairs)


def test_rounding_model_matches_the_contract():
    acc = np.array([0, 1, -1, (1 << 30) - 1, 1 << 29, -(1 << 29), (1 << 29) - 1, -(1 << 29) - 1,
                    3 << 29, -(3 << 29), 2**62, -(2**62)], dtype=np.int64)
    exact = [math.floor(int(a) / 2**30 + 0.5) for a in acc]
    assert list(rshift_round_sat32(acc, 30)) == [min(max(v, -(2**31)), 2**31 - 1) for v in exact]
    assert all(int(a) - (r << 30) == int(e) for a, r, e in zip(acc, exact, round_residual(acc, 30)))


@pytest.mark.parametrize("engine", variants("interleave_shl_i16"))
def test_interleave_equals_model(engine, rng):
    for n_ch in LANES:
        for n in (0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1001):
            x = rng.integers(-32768, 32768, size=(n_ch, n)).astype(np.int16)
            if n:
                x[0, 0], x[-1, -1] = -32768, 32767
            shifts = (np.arange(n_ch) * 7 % 24).astype(np.intc)
            want = (x.astype(np.int64) << shifts[:, None].astype(np.int64)).T.astype(np.int32)
            np.testing.assert_array_equal(_core.interleave_shl_i16(x, shifts, engine=engine), want)


@pytest.mark.parametrize("engine", variants("fir_poly_q31"))
@pytest.mark.parametrize("fs_hz", [r for r in RATES if r != 100])
def test_fir_poly_equals_model(engine, fs_hz, rng):
    d = _core.resampler_design(fs_hz)
    up, down, k, off = d["up"], d["down"], d["taps_per_phase"], d["half_len"]
    taps = d["phase_taps_q31"].reshape(-1)
    for n_ch in LANES:
        for n_out in LENGTHS:
            j0 = int(rng.integers(0, 3))
            frames = ((j0 + max(n_out, 1) - 1) * down + off) // up + k
            x = rng.integers(-(2**24), 2**24 + 1, size=(frames, n_ch), dtype=np.int64).astype(np.int32)
            got = _core.fir_poly_q31(x, taps, up, down, k, j0, off, n_out, engine=engine)
            np.testing.assert_array_equal(got, fir_poly_model(x, taps, up, down, k, j0, off, n_out),
                                          err_msg=f"{engine} fs={fs_hz} lanes={n_ch} n_out={n_out}")


@pytest.mark.parametrize("engine", variants("fir_poly_q31"))
def test_fir_extremes_equal_model(engine):
    """Full-scale steps, alternating rails and impulses at the contract's bound 2^24."""
    d = _core.resampler_design(500)
    taps, k = d["phase_taps_q31"].reshape(-1), d["taps_per_phase"]
    frames = 400
    lim = 2**24
    cases = {
        "step": np.where(np.arange(frames)[:, None] < 200, -lim, lim) * np.ones((1, 12), np.int64),
        "alternating": np.where(np.arange(frames)[:, None] % 2 == 0, lim, -lim) * np.ones((1, 12), np.int64),
        "sign-matched": np.sign(np.resize(taps, frames))[:, None] * lim * np.ones((1, 12), np.int64),
        "impulse": np.zeros((frames, 12), np.int64),
    }
    cases["impulse"][150] = lim
    cases["impulse"][151, 3] = -lim
    n_out = (frames - k) // 5
    for name, x in cases.items():
        x = x.astype(np.int32)
        want = fir_poly_model(x, taps, 1, 5, k, 0, 0, n_out)
        np.testing.assert_array_equal(_core.fir_poly_q31(x, taps, 1, 5, k, 0, 0, n_out, engine=engine), want, err_msg=name)
        np.testing.assert_array_equal(_core.fir_decimsym_q31(x, taps, 5, 0, 0, n_out, engine=engine), want, err_msg=name)


@pytest.mark.parametrize("engine", variants("fir_decimsym_q31"))
@pytest.mark.parametrize("fs_hz", [r for r in RATES if _core.resampler_design(r)["symmetric"]])
def test_fir_decimsym_equals_fir_poly(engine, fs_hz, rng):
    d = _core.resampler_design(fs_hz)
    down, k, off = d["down"], d["taps_per_phase"], d["half_len"]
    taps = d["phase_taps_q31"].reshape(-1)
    for n_ch in LANES:
        for n_out in LENGTHS:
            frames = (max(n_out, 1) - 1) * down + off + k
            x = rng.integers(-(2**24), 2**24 + 1, size=(frames, n_ch), dtype=np.int64).astype(np.int32)
            np.testing.assert_array_equal(_core.fir_decimsym_q31(x, taps, down, 0, off, n_out, engine=engine),
                                          fir_poly_model(x, taps, 1, down, k, 0, off, n_out))


def test_symmetric_kernel_is_used_for_every_pure_decimator():
    for fs in RATES:
        d = _core.resampler_design(fs)
        assert d["symmetric"] == (d["up"] == 1 and fs != 100), fs


@pytest.mark.parametrize("engine", variants("biquad_df1_q31"))
@pytest.mark.parametrize("reverse", [False, True])
def test_biquad_equals_model(engine, reverse, rng):
    for sec in sections():
        for n_ch in LANES:
            for n in LENGTHS:
                x = rng.integers(-(2**26), 2**26 + 1, size=(n, n_ch), dtype=np.int64).astype(np.int32)
                st = rng.integers(-(2**26), 2**26, size=(6, n_ch), dtype=np.int64).astype(np.int32)
                st[4:] = rng.integers(-(2**29), 2**29, size=(2, n_ch))
                want, want_st = biquad_model(sec, st, x, reverse)
                got_st = st.copy()
                got = _core.biquad_df1_q31(sec, got_st, x, reverse=reverse, engine=engine)
                np.testing.assert_array_equal(got, want, err_msg=f"{engine} lanes={n_ch} n={n}")
                np.testing.assert_array_equal(got_st, want_st)


@pytest.mark.parametrize("engine", variants("biquad_df1_q31"))
def test_biquad_extremes_equal_model(engine):
    """Rail-to-rail steps and impulses beyond the pipeline's headroom bound (2^27)."""
    n = 300
    t = np.arange(n)[:, None]
    lim = 2**27
    cases = [
        np.where(t < 150, -lim, lim) * np.ones((1, 12), np.int64),
        np.where(t % 2 == 0, lim, -lim) * np.ones((1, 12), np.int64),
        np.where(t == 40, lim, 0) * np.ones((1, 12), np.int64),
    ]
    for x in cases:
        x = x.astype(np.int32)
        for sec in sections():
            st = np.zeros((6, 12), np.int32)
            want, want_st = biquad_model(sec, st, x)
            got = _core.biquad_df1_q31(sec, st, x, engine=engine)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(st, want_st)


@pytest.mark.parametrize("engine", variants("biquad_df1_q31"))
def test_biquad_saturation_equals_model(engine, rng):
    """Outside the pipeline's contract (histories on opposite rails) the output saturates instead of
    wrapping, and every engine agrees with the model, residuals included (defined modulo 2^30).
    Inputs stay below 2^27 so the model's int64 sums cannot overflow."""
    for sec in sections():
        st = np.zeros((6, 12), np.int32)
        even = np.arange(12) % 2 == 0
        st[2] = np.where(even, 2**31 - 1, -(2**31))
        same = np.sign(sec[3]) == np.sign(sec[4])  # push both feedback products the same way
        st[3] = st[2] if same else np.where(even, -(2**31), 2**31 - 1)
        x = rng.integers(-(2**27), 2**27, size=(200, 12), dtype=np.int64).astype(np.int32)
        want, want_st = biquad_model(sec, st, x)
        assert np.abs(want.astype(np.int64)).max() >= 2**31 - 1, "the case must reach the rails"
        got = _core.biquad_df1_q31(sec, st, x, engine=engine)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(st, want_st)


@pytest.mark.parametrize("engine", variants("biquad_df1_q31"))
def test_biquad_chunked_equals_one_shot(engine, rng):
    """The causal filter is a streaming object: any chunking gives the one-shot bits."""
    x = rng.integers(-(2**24), 2**24, size=(997, 12), dtype=np.int64).astype(np.int32)
    for sec in sections():
        whole = _core.biquad_df1_q31(sec, np.zeros((6, 12), np.int32), x, engine=engine)
        for trial in range(5):
            cuts = np.sort(rng.choice(np.arange(1, len(x)), size=int(rng.integers(1, 40)), replace=False))
            st = np.zeros((6, 12), np.int32)
            parts = [_core.biquad_df1_q31(sec, st, chunk, engine=engine) for chunk in np.split(x, cuts)]
            np.testing.assert_array_equal(np.concatenate(parts), whole, err_msg=f"trial {trial} cuts {cuts[:5]}...")


# ---------------------------------------------------------------- the pipeline, bit for bit
def _records(rng):
    t = np.arange(10_000) / 1000.0
    ecg = (np.sin(2 * np.pi * 1.1 * t) ** 63 * 1500 + 300 * np.sin(2 * np.pi * 0.2 * t))
    yield "random int16", lambda fs: rng.integers(-32768, 32768, size=(12, 10 * fs)).astype(np.int16)
    yield "ecg-like int16", lambda fs: (ecg[:: 1000 // fs][: 10 * fs] if 1000 % fs == 0 else
                                        np.interp(np.arange(10 * fs) / fs, t, ecg))[None, :].repeat(12, 0).astype(np.int16) \
        + rng.integers(-20, 20, size=(12, 10 * fs)).astype(np.int16)
    yield "full-scale square", lambda fs: np.where((np.arange(10 * fs) // (fs // 4 or 1)) % 2 == 0, 32767, -32768)[None, :] \
        .repeat(12, 0).astype(np.int16)
    yield "impulses + flat", lambda fs: _impulses(fs)
    yield "float64 mV", lambda fs: rng.normal(0, 0.5, size=(12, 10 * fs))
    yield "float32 mV", lambda fs: rng.normal(0, 1e-3, size=(12, 10 * fs)).astype(np.float32)


def _impulses(fs):
    x = np.zeros((12, 10 * fs), np.int16)
    x[1, 5 * fs] = 32767
    x[2, 3] = -32768
    x[3, -1] = 1
    x[4, :] = 500  # constant: flat
    x[5, ::fs] = -32768
    return x


@pytest.mark.parametrize("fs_hz", [100, 125, 360, 500])
def test_pipeline_equals_integer_model(fs_hz, rng):
    for name, make in _records(rng):
        x = make(fs_hz)
        want, want_flat = pipeline_model(x, fs_hz)
        for eng in ENGINES:
            got, info = edgecardio.preprocess(x, fs_hz, return_info=True, engine=eng)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} at {fs_hz} Hz, engine {eng}")
            assert info.flat_leads == want_flat, name
