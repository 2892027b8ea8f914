"""edgecardio._synthetic: the seeded record that bench, the benchmarks and the tests share."""
import numpy as np

from edgecardio._synthetic import GAIN_PER_MV, synthetic_record


def test_seeded_shape_and_type():
    x = synthetic_record(360, 12.5, seed=3)
    assert x.shape == (12, 4500) and x.dtype == np.int16
    np.testing.assert_array_equal(x, synthetic_record(360, 12.5, seed=3))
    assert not np.array_equal(x, synthetic_record(360, 12.5, seed=4))


def test_a_generator_gives_successive_records():
    rng = np.random.default_rng(0)
    a, b = synthetic_record(100, 10, seed=rng), synthetic_record(100, 10, seed=rng)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, synthetic_record(100, 10, seed=np.random.default_rng(0)))


def test_amplitude_and_offset():
    base = synthetic_record(500, 10, seed=1).astype(np.float64)
    small = synthetic_record(500, 10, seed=1, amplitude_mv=0.25).astype(np.float64)
    # the beats scale; wander, hum and noise (same draws) do not
    assert np.ptp(small, axis=1).max() < 0.6 * np.ptp(base, axis=1).max()
    shifted = synthetic_record(500, 10, seed=1, offset_mv=2.0).astype(np.float64)
    base_means, means = base.mean(axis=1) / GAIN_PER_MV, shifted.mean(axis=1) / GAIN_PER_MV
    assert np.abs(base_means).max() < 0.3  # beats and wander only
    assert np.abs(means).max() <= 2.3 and np.ptp(means) > 1.0  # offsets drawn from [-2, 2] mV
