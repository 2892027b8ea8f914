#!/usr/bin/env python3
"""Generate cpp/include/edgecardio/coeffs_generated.h from scipy's own filter design functions.

    python tools/gen_coeffs.py            # rewrite the header
    python tools/gen_coeffs.py --check    # exit 1 if the committed header differs (tests do this)

The rates, the resampling ratios and the band-pass come from ``edgecardio.reference`` (the float64
specification). The taps are exactly what ``scipy.signal.resample_poly`` designs for each ratio
(``firwin(2*half_len+1, 1/max_rate, window=("kaiser", 5.0)) * up``) and the sections are
``reference.bandpass_sos()``, rounded to the native fixed-point formats (Q31 taps, Q30 biquad
coefficients). The header also records the worst-case signal bound of the pipeline (headroom
analysis below), so the native code's no-overflow argument is checked against the same numbers.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np
import scipy
from scipy import signal

REPO = Path(__file__).resolve().parents[1]
HEADER = REPO / "cpp" / "include" / "edgecardio" / "coeffs_generated.h"


def _load_reference():
    """``edgecardio.reference`` from this source tree: the header is an input of the package's
    build, so its generator cannot import the built package (and must not follow an installed one)."""
    spec = importlib.util.spec_from_file_location(
        "edgecardio_reference_source", REPO / "python" / "edgecardio" / "reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


reference = _load_reference()
TARGET_FS_HZ = reference.TARGET_FS_HZ
RATES_HZ = reference.SUPPORTED_RATES_HZ
KAISER_BETA = 5.0  # resample_poly's default window, which the specification uses
TAP_FRAC_BITS = 31
BIQUAD_FRAC_BITS = 30
#: The pipeline scales each lead so its input magnitude is at most 2**INPUT_BITS (block floating point).
INPUT_BITS = 24


def resample_design(fs_hz: int):
    """(up, down, half_len, h) as scipy.signal.resample_poly builds them (h already times ``up``)."""
    up, down = reference.resample_ratio(fs_hz)
    if up == down == 1:
        return 1, 1, 0, np.ones(1)  # resample_poly returns a copy: an identity "filter"
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", KAISER_BETA)) * up
    return up, down, half_len, h


def quantize(v, frac_bits: int) -> np.ndarray:
    q = np.round(np.asarray(v, dtype=np.float64) * 2.0**frac_bits)
    assert np.all(q >= -(2**31)) and np.all(q <= 2**31 - 1), "coefficient out of int32 range"
    return q.astype(np.int64)


def biquad_q30(sos: np.ndarray) -> np.ndarray:
    """Per section ``b0, b1, b2, -a1, -a2`` in Q30 (a0 == 1); the negation makes the DF1 sum all adds."""
    assert np.allclose(sos[:, 3], 1.0)
    c = np.stack([sos[:, 0], sos[:, 1], sos[:, 2], -sos[:, 4], -sos[:, 5]], axis=1)
    return quantize(c, BIQUAD_FRAC_BITS)


def dc_gains_q30(sos: np.ndarray) -> np.ndarray:
    """Each section's DC gain: the steady state sosfiltfilt's ``zi`` puts the filter in."""
    g = sos[:, :3].sum(axis=1) / sos[:, 3:].sum(axis=1)
    return quantize(g, BIQUAD_FRAC_BITS)


def error_feedback(sos: np.ndarray) -> np.ndarray:
    """Integer error-feedback coefficients (k1, k2) per section.

    A section whose poles sit near z = 1 (|A(1)| small: the 0.5 Hz high-pass) amplifies its own
    rounding noise by 1/|A(1)| (~60 dB) at low frequencies; feeding the last two rounding residuals
    back with (2, -1) shapes that noise by (1 - z^-1)^2, which cancels the pole pair's DC gain.
    Other sections do not need it (it would only raise their high-frequency noise).
    """
    k = np.zeros((len(sos), 2), dtype=np.int64)
    for i, s in enumerate(sos):
        if abs(s[3:].sum()) < 0.01:
            k[i] = (2, -1)
    return k


def sosfiltfilt_padlen(sos: np.ndarray) -> int:
    ntaps = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    return 3 * int(ntaps)


def headroom_log2() -> float:
    """log2 of the worst-case magnitude of any signal in the pipeline for an input bounded by 1.

    FIR output <= max over phases of sum|taps|; the odd extension 2*x[0] - x[k] triples it; each
    biquad output is bounded by the l1 norm of the impulse response from the cascade input to it
    (zero or steady-state initial conditions are an input extended into the past, same bound);
    the backward pass sees the forward output. Every DF1 accumulator holds at most
    (sum|b| * max|x| + sum|a| * max|y|) in Q30, checked in ``accumulator_log2``.
    """
    fir = max(max(np.abs(h[p::up]).sum() for p in range(up)) for up, _, _, h in map(resample_design, RATES_HZ))
    sos = reference.bandpass_sos()
    imp = np.zeros(4000)
    imp[0] = 1.0
    l1 = []
    y = imp
    for s in sos:
        y = signal.sosfilt(s[None, :], y)
        l1.append(np.abs(y).sum())
    cascade = max(l1)
    fwd = max(fir, 1.0) * 3.0 * cascade
    bwd = fwd * cascade
    return float(np.log2(max(fwd, bwd)))


def accumulator_log2(signal_log2: float) -> float:
    sos = reference.bandpass_sos()
    worst = max(np.abs(s[:3]).sum() + np.abs(s[4:]).sum() for s in sos)
    fir_l1 = max(max(np.abs(h[p::up]).sum() for p in range(up)) for up, _, _, h in map(resample_design, RATES_HZ))
    # + |k1| + |k2| residuals of at most 2^29 each (error feedback)
    biquad = np.log2(worst * 2.0 ** (signal_log2 + BIQUAD_FRAC_BITS) + 3 * 2.0 ** (BIQUAD_FRAC_BITS - 1))
    fir = np.log2(fir_l1) + INPUT_BITS + TAP_FRAC_BITS
    return float(max(biquad, fir))


def c_array(values, per_line: int = 8, indent: str = "    ") -> str:
    vals = [str(int(v)) for v in values]
    lines = [", ".join(vals[i:i + per_line]) for i in range(0, len(vals), per_line)]
    return (",\n" + indent).join(lines)


def render() -> str:
    sos = reference.bandpass_sos()
    bq = biquad_q30(sos)
    dc = dc_gains_q30(sos)
    head = headroom_log2()
    sig_log2 = INPUT_BITS + head
    acc = accumulator_log2(sig_log2)
    assert sig_log2 < 30.0, f"pipeline signals may reach 2^{sig_log2:.2f}: lower INPUT_BITS"
    assert acc < 62.5, f"accumulators may reach 2^{acc:.2f}"
    out = [
        "// Generated by tools/gen_coeffs.py from scipy's filter design functions: do not edit.",
        "// Regenerate with `python tools/gen_coeffs.py`; tests/test_coeffs.py fails if this file drifts.",
        "#pragma once",
        "#include <cstdint>",
        "",
        "namespace edgecardio {",
        "namespace coeffs {",
        "",
        f"constexpr int kTargetFsHz = {TARGET_FS_HZ};",
        f"constexpr int kTapFracBits = {TAP_FRAC_BITS};",
        f"constexpr int kBiquadFracBits = {BIQUAD_FRAC_BITS};",
        "// Each lead is scaled by a power of two so that |input| <= 2^kInputBits (block floating point).",
        f"constexpr int kInputBits = {INPUT_BITS};",
        f"// Worst-case growth of any pipeline signal over the input bound: 2^{head:.3f}, so every signal",
        f"// stays below 2^{sig_log2:.3f} (< 2^30) and every 64-bit accumulator below 2^{acc:.3f}.",
        f"constexpr double kHeadroomLog2 = {head:.6f};",
        "",
        "// butter(2, [0.5, 40], btype='bandpass', fs=100, output='sos'); per section b0, b1, b2, -a1, -a2 in Q30.",
        f"constexpr int kBandpassSections = {len(sos)};",
        f"constexpr int32_t kBandpassQ30[{len(sos)}][5] = {{",
    ]
    for row in bq:
        out.append(f"    {{{c_array(row)}}},")
    out += [
        "};",
        "// Error-feedback coefficients k1, k2 per section (applied to the previous rounding residuals).",
        f"constexpr int32_t kBandpassErrorFeedback[{len(sos)}][2] = {{"
        + ", ".join(f"{{{c_array(r)}}}" for r in error_feedback(sos)) + "};",
        "// DC gain of each section in Q30: sosfiltfilt's zi is the steady state for a constant input.",
        f"constexpr int32_t kBandpassDcGainQ30[{len(sos)}] = {{{c_array(dc)}}};",
        "// sosfiltfilt's default padlen for these sections (odd extension).",
        f"constexpr int kBandpassPadlen = {sosfiltfilt_padlen(sos)};",
        "",
        "// resample_poly designs: firwin(2*half_len+1, 1/max(up,down), window=('kaiser', 5.0)) * up, Q31.",
    ]
    table = []
    for fs in RATES_HZ:
        up, down, half_len, h = resample_design(fs)
        if (up, down) == (1, 1):
            table.append(f"    {{{fs}, 1, 1, 0, 0, nullptr}},")
            continue
        q = quantize(h, TAP_FRAC_BITS)
        out.append(f"constexpr int32_t kTapsQ31Fs{fs}[{len(q)}] = {{")
        out.append("    " + c_array(q) + ",")
        out.append("};")
        table.append(f"    {{{fs}, {up}, {down}, {half_len}, {len(q)}, kTapsQ31Fs{fs}}},")
    out += [
        "",
        "struct ResamplerDesign {",
        "  int fs_hz, up, down, half_len, n_taps;",
        "  const int32_t *taps_q31;  // n_taps values, h[0] first (as scipy's h)",
        "};",
        f"constexpr int kNumRates = {len(RATES_HZ)};",
        "constexpr ResamplerDesign kResamplers[kNumRates] = {",
        *table,
        "};",
        "",
        "}  // namespace coeffs",
        "}  // namespace edgecardio",
        "",
    ]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed header instead of writing")
    a = ap.parse_args(argv)
    text = render()
    if a.check:
        if not HEADER.is_file() or HEADER.read_text() != text:
            print(f"{HEADER} is stale: run python tools/gen_coeffs.py (scipy {scipy.__version__})", file=sys.stderr)
            return 1
        return 0
    HEADER.write_text(text)
    print(f"wrote {HEADER.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
