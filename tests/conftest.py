import os
from pathlib import Path

import numpy as np
import pytest

SEED = int(os.environ.get("EDGECARDIO_TEST_SEED", "20261125"))
REPO = Path(__file__).resolve().parents[1]


def ptbxl_dir():
    """The compact PTB-XL copy (../shared/ptbxl or $EDGECARDIO_PTBXL), or None when absent."""
    p = Path(os.environ.get("EDGECARDIO_PTBXL", REPO.parent / "shared" / "ptbxl"))
    return p if (p / "ptbxl_database.csv").is_file() else None


def pytest_report_header(config):
    import edgecardio

    lines = [f"edgecardio {edgecardio.__version__}, seed {SEED} (EDGECARDIO_TEST_SEED)",
             f"native ORT runner: {edgecardio.HAS_NATIVE_ORT}",
             f"PTB-XL: {ptbxl_dir() or 'absent: tests marked ptbxl are skipped'}",
             f"engine: {edgecardio.engine()}"]
    return lines


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def ptbxl():
    p = ptbxl_dir()
    if p is None:
        pytest.skip("PTB-XL not found: put it in ../shared/ptbxl or set EDGECARDIO_PTBXL")
    return p
