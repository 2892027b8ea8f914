"""Preprocessing speed: every native engine vs the float64 scipy specification, in one run.

    python -m pytest benchmarks/bench_preprocess.py --benchmark-json=benchmarks/results_preprocess.json

The record: 10 s, 12 leads, int16 counts at 1000/mV, ECG-shaped (seeded), at 500 Hz (the issue's
case) and 100 Hz. ``reference`` is what a user would otherwise run: counts / gain, then
``edgecardio.reference.preprocess_reference`` (scipy resample_poly + sosfiltfilt + z-score).
Native rows go through the public facade (validation included) for each engine of the kernel
registry; the ``stage`` groups time every kernel variant of the registry (kernels.def) alone. Every native row stores
``speedup_vs_reference`` (min-of-runs ratio, measured in the same process) in its extra_info.
Speed is measured here, never asserted.
"""
import timeit

import numpy as np
import pytest

import edgecardio
from edgecardio import _core, reference
from edgecardio._synthetic import synthetic_record

ENGINES = edgecardio.engines()
_reference_s = {}


def record(fs_hz, seed=0):
    return synthetic_record(fs_hz, 10, seed=seed)


def reference_seconds(fs_hz):
    """Best-of time of the specification on the same record, measured once per rate."""
    if fs_hz not in _reference_s:
        x = record(fs_hz)
        run = lambda: reference.preprocess_reference(reference.counts_to_mv(x), fs_hz)  # noqa: E731
        _reference_s[fs_hz] = min(timeit.repeat(run, number=3, repeat=7)) / 3
    return _reference_s[fs_hz]


@pytest.mark.parametrize("fs_hz", [500, 100])
def test_reference(benchmark, fs_hz):
    benchmark.group = f"preprocess {fs_hz} Hz"
    x = record(fs_hz)
    benchmark(lambda: reference.preprocess_reference(reference.counts_to_mv(x), fs_hz))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fs_hz", [500, 100])
def test_native(benchmark, fs_hz, engine):
    benchmark.group = f"preprocess {fs_hz} Hz"
    x = record(fs_hz)
    run = lambda: edgecardio.preprocess(x, fs_hz, engine=engine)  # noqa: E731
    native_s = min(timeit.repeat(run, number=50, repeat=7)) / 50
    benchmark.extra_info.update(engine=engine, speedup_vs_reference=reference_seconds(fs_hz) / native_s,
                                reference_us=reference_seconds(fs_hz) * 1e6, native_us=native_s * 1e6)
    benchmark(run)


# ---------------------------------------------------------------- stages: every kernel variant
# One row per variant of kernels.def this CPU runs (_core.kernels()), each on the work it does in a
# 10-s, 12-lead record; engine=<isa> runs exactly that variant.
def variants(op):
    return [pytest.param(isa, id=name) for name, isa in _core.kernels() if name == f"{op}_{isa}"]


def frames(n, seed, lim=2**24):
    return np.random.default_rng(seed).integers(-lim, lim, size=(n, 12)).astype(np.int32)


@pytest.mark.parametrize("isa", variants("interleave_shl_i16"))
def test_stage_interleave_shl_i16(benchmark, isa):
    benchmark.group = "stage: int16 rows -> shifted int32 frames, 5000 x 12"
    x = (record(500) // 2).astype(np.int16)
    shifts = np.full(12, 9, np.intc)
    benchmark.extra_info["kernel"] = f"interleave_shl_i16_{isa}"
    benchmark(_core.interleave_shl_i16, x, shifts, engine=isa)


@pytest.mark.parametrize("isa", variants("fir_poly_q31"))
@pytest.mark.parametrize("fs_hz", [500, 360])
def test_stage_fir_poly_q31(benchmark, isa, fs_hz):
    benchmark.group = f"stage: resample {fs_hz} -> 100 Hz, 12 leads (polyphase)"
    d = _core.resampler_design(fs_hz)
    k, taps = d["taps_per_phase"], d["phase_taps_q31"].reshape(-1)
    x = frames(10 * fs_hz + 2 * k, 1)
    benchmark.extra_info["kernel"] = f"fir_poly_q31_{isa}"
    benchmark(_core.fir_poly_q31, x, taps, d["up"], d["down"], k, 0, d["half_len"], 1000, engine=isa)


@pytest.mark.parametrize("isa", variants("fir_decimsym_q31"))
def test_stage_fir_decimsym_q31(benchmark, isa):
    benchmark.group = "stage: resample 500 -> 100 Hz, 12 leads (polyphase)"
    d = _core.resampler_design(500)
    k, taps = d["taps_per_phase"], d["phase_taps_q31"].reshape(-1)
    x = frames(5000 + 2 * k, 1)
    benchmark.extra_info["kernel"] = f"fir_decimsym_q31_{isa}"
    benchmark(_core.fir_decimsym_q31, x, taps, d["down"], 0, d["half_len"], 1000, engine=isa)


@pytest.mark.parametrize("isa", variants("biquad_df1_q31"))
def test_stage_biquad_df1_q31(benchmark, isa):
    benchmark.group = "stage: one biquad section, 1030 frames x 12 leads"
    bp = _core.bandpass_design()
    sec = np.concatenate([bp["sections_q30"][1], bp["error_feedback"][1]]).astype(np.int32)
    x = frames(1030, 2)
    benchmark.extra_info["kernel"] = f"biquad_df1_q31_{isa}"
    benchmark(lambda: _core.biquad_df1_q31(sec, np.zeros((6, 12), np.int32), x, engine=isa))


@pytest.mark.parametrize("isa", variants("zscore_rows_f32"))
def test_stage_zscore_rows_f32(benchmark, isa):
    benchmark.group = "stage: z-score int32 frames -> float32 rows, 1000 x 12"
    x = frames(1000, 3, 2**29)
    mean, inv_std = np.linspace(-1e5, 1e5, 12), np.full(12, 1e-7)
    benchmark.extra_info["kernel"] = f"zscore_rows_f32_{isa}"
    benchmark(_core.zscore_rows_f32, x, mean, inv_std, engine=isa)


def test_stage_reference_resample(benchmark):
    benchmark.group = "stage: resample 500 -> 100 Hz, 12 leads"
    from scipy import signal

    x = reference.counts_to_mv(record(500))
    benchmark(signal.resample_poly, x, 1, 5, axis=-1)


def test_stage_reference_sosfiltfilt(benchmark):
    benchmark.group = "stage: zero-phase band-pass, 12 x 1000"
    from scipy import signal

    x = reference.counts_to_mv(record(100))
    benchmark(signal.sosfiltfilt, reference.bandpass_sos(), x, axis=-1)
