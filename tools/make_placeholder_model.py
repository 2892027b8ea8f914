"""Build the placeholder model that ships until the trained one lands.

    python tools/make_placeholder_model.py [--out python/edgecardio/models] [--seed 0]

Writes ``lightecgnet_fp32.onnx`` (the project's own LightECGNet, untrained, fixed-seed weights,
exported by ``training.export.export_onnx`` under the model-card contract), ``lightecgnet_int8.onnx``
(static QDQ int8: signed int8 activations and per-channel weights, calibrated on a small synthetic,
seeded set of ECG-like windows) and ``model_card.json`` marked ``"placeholder": true`` with neutral
demographic statistics and thresholds of 0.5. Its probabilities mean nothing; it exists so that the
runtime, CLI and benchmarks run on the real architecture and graph. The trained files replace these
three under the same names.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # training/ is a package of the repository, not of the wheel
# edgecardio.modelcard, also from the source tree before the extension is built
from training import modelcard as mc  # noqa: E402

FP32_NAME = "lightecgnet_fp32.onnx"
INT8_NAME = "lightecgnet_int8.onnx"
CARD_NAME = "model_card.json"
N_CALIBRATION = 32

# Round adult-population figures, not fitted to any data: the placeholder must not pretend to carry
# training statistics.
NEUTRAL_STATS = {"age": {"mean": 60.0, "std": 17.0}, "height_cm": {"mean": 168.0, "std": 10.0},
                 "weight_kg": {"mean": 75.0, "std": 15.0}}


def synthetic_calibration(n: int, seed: int):
    """ECG-like preprocessed windows: per-lead unit-variance mixtures of a QRS-like pulse train, a
    slow wave and noise, roughly what edgecardio.preprocess emits, plus random demographics."""
    rng = np.random.default_rng(seed)
    t = np.arange(mc.N_SAMPLES) / mc.MODEL_FS_HZ
    ecg = np.empty((n, mc.N_LEADS, mc.N_SAMPLES), np.float32)
    for i in range(n):
        hr_hz = rng.uniform(0.8, 2.0)
        phase = rng.uniform(0, 1)
        pulse = np.exp(-0.5 * (((t * hr_hz + phase) % 1.0 - 0.5) / 0.02) ** 2)
        for lead in range(mc.N_LEADS):
            x = (rng.normal(1.0, 0.5) * pulse + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 6))
                 + 0.1 * rng.standard_normal(mc.N_SAMPLES))
            ecg[i, lead] = (x - x.mean()) / (x.std() + 1e-6)
    stats = NEUTRAL_STATS
    demo = np.stack([mc.encode_demographics(stats, age=float(rng.uniform(18, 90)),
                                            sex=("male", "female", None)[i % 3],
                                            height_cm=float(rng.uniform(150, 195)) if i % 4 else None,
                                            weight_kg=float(rng.uniform(50, 110)) if i % 5 else None)
                     for i in range(n)])
    return ecg, demo


def quantize_int8(fp32_path: Path, int8_path: Path, seed: int, activations: str = "int8") -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ecg, demo = synthetic_calibration(N_CALIBRATION, seed)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(range(len(ecg)))

        def get_next(self):
            i = next(self._it, None)
            return None if i is None else {mc.INPUT_ECG: ecg[i:i + 1], mc.INPUT_DEMOGRAPHICS: demo[i:i + 1]}

    prepped = int8_path.with_suffix(".prep.onnx")
    try:
        quant_pre_process(str(fp32_path), str(prepped), skip_symbolic_shape=True)
        quantize_static(str(prepped), str(int8_path), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8 if activations == "int8" else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=True)
    finally:
        prepped.unlink(missing_ok=True)


def write_card(out: Path, seed: int, activations: str = "int8") -> dict:
    card = {
        "name": "LightECGNet",
        "placeholder": True,
        "note": ("untrained fixed-seed weights built by tools/make_placeholder_model.py; the probabilities "
                 "are meaningless until the trained model replaces these files"),
        "seed": seed,
        "classes": list(mc.CLASSES),
        "fs_hz": mc.MODEL_FS_HZ,
        "inputs": {
            mc.INPUT_ECG: {"dtype": "float32", "shape": ["batch", mc.N_LEADS, mc.N_SAMPLES]},
            mc.INPUT_DEMOGRAPHICS: {"dtype": "float32", "shape": ["batch", len(mc.DEMOGRAPHIC_FEATURES)]},
        },
        "outputs": {mc.OUTPUT_PROBABILITIES: {"dtype": "float32", "shape": ["batch", len(mc.CLASSES)]}},
        "demographics": {
            "features": list(mc.DEMOGRAPHIC_FEATURES),
            "stats": {k: {**v, "clip": list(mc.CLIP_RANGES[k])} for k, v in NEUTRAL_STATS.items()},
        },
        "thresholds": {c: 0.5 for c in mc.CLASSES},
        "files": {"fp32": FP32_NAME, "int8": INT8_NAME},
        "quantization": {"format": "QDQ", "weights": "int8 per-channel", "activations": activations,
                         "calibration": f"{N_CALIBRATION} synthetic windows, seed {seed}"},
    }
    (out / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    mc.load_card(out / CARD_NAME)  # the runtime's own check
    return card


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "python" / "edgecardio" / "models")
    ap.add_argument("--seed", type=int, default=0)
    # int8 (S8S8) is what training/quantize.py does and what ONNX Runtime fuses on ARM. On x86-64 it
    # leaves 19 of the 47 Convs in float between Q/DQ pairs (3.0 ms a record here); uint8 activations
    # (U8S8) fuse every Conv there (0.9 ms). Measure on the Pi before choosing for it.
    ap.add_argument("--activations", choices=("int8", "uint8"), default="int8",
                    help="activation type of the QDQ int8 model (weights are always per-channel int8)")
    a = ap.parse_args(argv)
    from training.export import export_onnx, placeholder_model

    a.out.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(placeholder_model(a.seed), a.out / FP32_NAME)
    quantize_int8(fp32, a.out / INT8_NAME, a.seed, a.activations)
    write_card(a.out, a.seed, a.activations)
    for name in (FP32_NAME, INT8_NAME, CARD_NAME):
        print(f"{a.out / name}  {(a.out / name).stat().st_size / 1e6:.3f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
