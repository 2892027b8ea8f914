"""What must hold on a Raspberry Pi before anything else: the vector kernels give the scalar bits, the
NEON engine is the one chosen, the native runner agrees with the onnxruntime Python API, the CLI runs.

Marked ``aarch64``: ``toolchains/test-wheel-aarch64.sh --smoke`` runs exactly these (with any other test
so marked) under qemu as a Cortex-A76 (Pi 5) and a Cortex-A72 (Pi 4). They run on any machine; on
x86_64 they check the AVX2 engine the same way.
"""
import os
import platform
import subprocess
import sys

import numpy as np
import pytest

import edgecardio

pytestmark = pytest.mark.aarch64

#: Samples past 10 s: 0, odd remainders around 4/8/16-lane blocks and the resampler's phase count.
EXTRA_SAMPLES = (0, 1, 7, 8, 9, 15, 16, 17, 33)


def _signals(rng, n):
    """int16 records that stress the fixed-point kernels: noise, both rails, impulses, one flat lead."""
    noise = rng.integers(-3000, 3000, size=(12, n), dtype=np.int16)
    rails = np.where(rng.random((12, n)) < 0.5, np.int16(-32768), np.int16(32767)).astype(np.int16)
    impulses = np.zeros((12, n), np.int16)
    impulses[:, :: max(n // 7, 1)] = 32767
    mixed = noise.copy()
    mixed[3] = 12  # flat lead
    mixed[5, : n // 2] = -32768  # saturated half lead
    return {"noise": noise, "rails": rails, "impulses": impulses, "mixed": mixed}


def _bits(y):
    return np.ascontiguousarray(y, dtype=np.float32).view(np.uint32)


def test_best_engine_is_chosen():
    engines = edgecardio.engines()
    assert engines[0] == "scalar", engines
    if platform.machine() == "aarch64":
        # NEON (Advanced SIMD) is mandatory in ARMv8-A: every Pi 4 and Pi 5 has it.
        assert edgecardio.engine() == "neon", (edgecardio.engine(), engines)
    elif os.environ.get("EDGECARDIO_FORCE_SCALAR"):
        assert edgecardio.engine() == "scalar"
    else:
        assert edgecardio.engine() == engines[-1], (edgecardio.engine(), engines)
    isa = edgecardio.engine()
    if isa != "scalar":
        assert any(k.endswith("_" + isa) for k in edgecardio.kernels()), edgecardio.kernels()


@pytest.mark.parametrize("fs_hz", [100, 250, 360, 500])
def test_vector_engines_give_scalar_bits(rng, fs_hz):
    others = [e for e in edgecardio.engines() if e != "scalar"]
    if not others:
        pytest.skip(f"only the scalar engine on this CPU ({platform.machine()})")
    for extra in EXTRA_SAMPLES:
        n = 10 * fs_hz + extra
        for kind, x in _signals(rng, n).items():
            ref = _bits(edgecardio.preprocess(x, fs_hz, engine="scalar"))
            for e in others:
                y = _bits(edgecardio.preprocess(x, fs_hz, engine=e))
                assert y.shape == ref.shape
                diff = np.count_nonzero(y != ref)
                assert diff == 0, f"{e} vs scalar: {diff} samples differ ({kind}, fs {fs_hz} Hz, n {n})"


def test_float_input_gives_scalar_bits(rng):
    x = rng.standard_normal((12, 5000 + 17)) * 0.8
    for dtype in (np.float32, np.float64):
        ref = _bits(edgecardio.preprocess(x.astype(dtype), 500, engine="scalar"))
        for e in edgecardio.engines()[1:]:
            assert np.array_equal(_bits(edgecardio.preprocess(x.astype(dtype), 500, engine=e)), ref), (e, dtype)


def test_force_scalar_environment_variable():
    env = {**os.environ, "EDGECARDIO_FORCE_SCALAR": "1"}
    out = subprocess.run([sys.executable, "-c", "import edgecardio; print(edgecardio.engine())"],
                         env=env, capture_output=True, text=True, check=True, cwd=os.path.dirname(__file__))
    assert out.stdout.strip() == "scalar", out


def _packaged():
    """(model name, precision) of every packaged model; the default model alone where this version
    of edgecardio cannot list them."""
    infos = edgecardio.models() if hasattr(edgecardio, "models") else []
    return [(m.name, p) for m in infos for p in m.precisions] or [(None, "int8"), (None, "fp32")]


@pytest.mark.parametrize("model, precision", _packaged())
def test_native_runner_matches_onnxruntime_python_api(rng, model, precision):
    if not edgecardio.HAS_NATIVE_ORT:
        pytest.skip("this build has no native ONNX Runtime runner (edgecardio.HAS_NATIVE_ORT is False)")
    from edgecardio.classifier import Classifier

    native = Classifier(model, precision=precision, backend="native")
    python = Classifier(model, precision=precision, backend="onnxruntime")
    pre = [edgecardio.preprocess(x, 500, duration_s=10, return_info=True) for x in _signals(rng, 5000).values()]
    ecg = np.stack([y for y, _ in pre]).astype(np.float32)
    std = np.stack([info.lead_std_mv for _, info in pre]).astype(np.float32)
    demo = np.stack([native.demographics(age=a, sex=s) for a, s in ((63, "female"), (None, None), (30, "male"), (90, "m"))])
    p_native, p_python = native.run(ecg, demo, std), python.run(ecg, demo, std)
    assert p_native.shape == (4, len(edgecardio.CLASSES))
    # Same library, same model, same thread count: ONNX Runtime picks the same kernels for both.
    np.testing.assert_allclose(p_native, p_python, rtol=0, atol=1e-6)


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "edgecardio.cli", "info"], capture_output=True, text=True,
                         cwd=os.path.dirname(__file__), timeout=600)
    assert out.returncode == 0, out.stderr
    assert edgecardio.engine() in out.stdout, out.stdout
