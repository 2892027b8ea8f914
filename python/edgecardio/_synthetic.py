"""The one seeded ECG-like record generator that the CLI's ``bench``, the benchmarks and the tests share.

Not a physiological model: a pulse train with a QRS-like spike and a T wave, baseline wander, mains
hum and noise, enough to exercise resampling, the band-pass and the z-score on every lead.
"""
from __future__ import annotations

from typing import Union

import numpy as np

from .modelcard import N_LEADS

#: ADC counts per mV of the generated records (PTB-XL's gain).
GAIN_PER_MV = 1000.0


def synthetic_record(fs_hz: int = 500, seconds: float = 10, seed: Union[int, np.random.Generator] = 0, *,
                     amplitude_mv: float = 1.0, offset_mv: float = 0.0) -> np.ndarray:
    """A seeded int16 ``(12, fs_hz * seconds)`` ECG-like record at :data:`GAIN_PER_MV` counts per mV.

    Parameters
    ----------
    fs_hz : int
        Sampling rate.
    seconds : float
        Duration.
    seed : int or numpy.random.Generator
        The same int gives the same record (benchmark runs compare like with like); a Generator is
        drawn from (successive records differ).
    amplitude_mv : float
        Scale of the beats; each lead's beat amplitude is drawn from 0.4-1.5 times this, either sign.
    offset_mv : float
        Each lead gets a constant offset drawn from [-offset_mv, offset_mv] (electrode DC offset).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs_hz * seconds))) / fs_hz
    beat = ((t * 1.2) % 1.0) - 0.3
    qrs = np.exp(-0.5 * (beat / 0.012) ** 2) - 0.15 * np.exp(-0.5 * ((beat + 0.03) / 0.01) ** 2)
    twave = 0.25 * np.exp(-0.5 * ((beat - 0.25) / 0.04) ** 2)
    x = np.empty((N_LEADS, t.size))
    for lead in range(N_LEADS):
        amp = amplitude_mv * rng.uniform(0.4, 1.5) * rng.choice([-1, 1])
        x[lead] = (amp * (qrs + twave) + 0.2 * np.sin(2 * np.pi * 0.3 * t + lead)
                   + 0.02 * np.sin(2 * np.pi * 50 * t) + 0.01 * rng.standard_normal(t.size))
        if offset_mv:
            x[lead] += rng.uniform(-offset_mv, offset_mv)
    return np.round(x * GAIN_PER_MV).astype(np.int16)
