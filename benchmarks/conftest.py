import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# training/ (PyTorch eager comparison) is a package of the repository, not of the wheel.
sys.path.insert(0, str(REPO))
SEED = int(os.environ.get("EDGECARDIO_TEST_SEED", "20261125"))


def pytest_report_header(config):
    import edgecardio

    lines = [f"edgecardio {edgecardio.__version__}, seed {SEED}, native ORT runner: {edgecardio.HAS_NATIVE_ORT}",
             f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or '?'}",
             f"engine: {edgecardio.engine()}"]
    return lines


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)
