"""toolchains/aarch64_diagnose.py compare: what fails the x86_64 vs aarch64 comparison, and what is only reported.

Synthetic run files, no emulation: the gate is |dp| <= atol for every backend, int8 against the x86_64
run's int8 reference with session.x64quantprecision=1 (x86_64's default int8 kernels saturate on CPUs
without VNNI; aarch64's do not) within
1e-3 (or whole output quanta, for models with quantized outputs), and bit-identical preprocessing.
"""
import copy
import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "toolchains"))
import aarch64_diagnose as diag  # noqa: E402

CLASSES = ["NORM", "MI", "STTC", "CD", "HYP"]
REF = f"int8/{diag.INT8_REFERENCE}"


def _run(machine, probs, sha="aa"):
    """probs: {key: [[5 floats] per record]} for records 1, 2, ..."""
    n = len(next(iter(probs.values())))
    return {"machine": machine, "cpu_features": None, "engine": "x", "engines": ["x"], "has_native_ort": True,
            "ort_version": "1.0", "numpy": "2", "classes": CLASSES, "thresholds": {c: 0.5 for c in CLASSES},
            "records": {str(i + 1): {"probabilities": {k: v[i] for k, v in probs.items()},
                                     "preprocess_sha256": sha, "preprocess_engines_agree": True}
                        for i in range(n)}}


def _compare(tmp_path, a, b, capsys, atol=1e-3, **int8):
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    rc = diag.compare(str(tmp_path / "a.json"), str(tmp_path / "b.json"), atol, **int8)
    return rc, capsys.readouterr().out


EXACT = [[0.1, 0.2, 0.3, 0.4, 0.45], [0.9, 0.1, 0.1, 0.6, 0.2]]
SATURATED = [[0.1, 0.2, 0.3, 0.42, 0.47], [0.9, 0.1, 0.1, 0.6, 0.22]]  # CD/HYP off by ~2e-2, as on AVX2 x86_64


def test_int8_gated_against_x64quantprecision_reference(tmp_path, capsys):
    x86 = _run("x86_64", {"int8/native": SATURATED, "int8/onnxruntime": SATURATED, REF: EXACT, "fp32/native": EXACT})
    arm = _run("aarch64", {"int8/native": EXACT, "int8/onnxruntime": EXACT, REF: EXACT, "fp32/native": EXACT})
    rc, out = _compare(tmp_path, x86, arm, capsys)
    assert rc == 0, out
    assert "not gated" in out and "x64quantprecision=1" in out


def test_int8_rare_requantization_rounding_is_tolerated(tmp_path, capsys):
    # Quantized outputs (no float head), 40 records x 5 classes, --int8-atol 2/255 --int8-max-differing 0.01:
    # one probability 2 quanta off passes; 3 quanta, or 2 quanta on 3 of 200, fail. By default (1e-3) all fail.
    ref = [[0.2, 0.4, 0.6, 0.8, 0.1] for _ in range(40)]
    for change, ok in (({(7, 1): 2 / 255}, True), ({(7, 1): 3 / 255}, False),
                       ({(7, 1): 2 / 255, (8, 2): 2 / 255, (9, 3): -2 / 255}, False)):
        arm = copy.deepcopy(ref)
        for (r, c), dp in change.items():
            arm[r][c] += dp
        rc, out = _compare(tmp_path, _run("x86_64", {REF: ref}), _run("aarch64", {REF: arm}), capsys,
                           int8_atol=2 / 255 + 1e-6, int8_max_differing=0.01)
        assert rc == (0 if ok else 1), (change, out)
        rc, out = _compare(tmp_path, _run("x86_64", {REF: ref}), _run("aarch64", {REF: arm}), capsys)
        assert rc == 1, (change, out)


def test_int8_beyond_tolerance_of_the_reference_fails(tmp_path, capsys):
    x86 = _run("x86_64", {"int8/native": EXACT, REF: EXACT})
    arm = _run("aarch64", {"int8/native": SATURATED, REF: EXACT})
    rc, out = _compare(tmp_path, x86, arm, capsys)
    assert rc == 1 and "FAIL" in out


def test_without_int8_reference_int8_is_gated_directly(tmp_path, capsys):
    # Runs without the int8 reference: plain key-by-key comparison.
    rc, _ = _compare(tmp_path, _run("x86_64", {"int8/native": SATURATED}), _run("aarch64", {"int8/native": EXACT}),
                     capsys)
    assert rc == 1
    rc, _ = _compare(tmp_path, _run("x86_64", {"int8/native": EXACT}), _run("aarch64", {"int8/native": EXACT}), capsys)
    assert rc == 0


def test_fp32_difference_fails(tmp_path, capsys):
    off = copy.deepcopy(EXACT)
    off[1][0] += 2e-3
    rc, out = _compare(tmp_path, _run("x86_64", {"fp32/native": EXACT}), _run("aarch64", {"fp32/native": off}), capsys)
    assert rc == 1 and "record 2 NORM" in out


def test_preprocessing_must_be_bit_identical(tmp_path, capsys):
    rc, out = _compare(tmp_path, _run("x86_64", {"fp32/native": EXACT}),
                       _run("aarch64", {"fp32/native": EXACT}, sha="bb"), capsys)
    assert rc == 1 and "bit-identical [FAIL" in out


@pytest.mark.parametrize("drop_from", ["a", "b"])
def test_missing_backend_fails(tmp_path, capsys, drop_from):
    full = {"fp32/native": EXACT, "fp32/onnxruntime": EXACT}
    part = {"fp32/native": EXACT}
    a, b = (part, full) if drop_from == "a" else (full, part)
    rc, out = _compare(tmp_path, _run("x86_64", a), _run("aarch64", b), capsys)
    assert rc == 1 and "only in" in out


def test_different_record_sets_fail(tmp_path, capsys):
    rc, out = _compare(tmp_path, _run("x86_64", {"fp32/native": EXACT}), _run("aarch64", {"fp32/native": EXACT[:1]}),
                       capsys)
    assert rc == 1 and "different records" in out
