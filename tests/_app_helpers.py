"""Records for the app's tests, made from the bundled examples (no PTB-XL copy needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecardio.classifier import LEAD_NAMES


def wfdb_files(signal: np.ndarray, fs_hz: int, name: str = "upload", gain_per_mv: float = 1000.0,
               lead_names=LEAD_NAMES, n_samples=None):
    """[(file name, bytes)] of a format-16 WFDB record: the header and its signal file."""
    x = np.asarray(signal, dtype=np.int16)
    n = x.shape[1] if n_samples is None else n_samples
    lines = [f"{name} {x.shape[0]} {fs_hz} {n}"]
    for lead, row in zip(lead_names, x):
        # WFDB's checksum: the sum of the samples as a signed 16-bit number (the reader checks it)
        checksum = (int(row.astype(np.int64).sum()) + 32768) % 65536 - 32768
        lines.append(f"{name}.dat 16 {gain_per_mv:g}(0)/mV 16 0 {int(row[0])} {checksum} 0 {lead}")
    hea = ("\n".join(lines) + "\n").encode()
    dat = np.ascontiguousarray(x.T).astype("<i2").tobytes()
    return [(f"{name}.hea", hea), (f"{name}.dat", dat)]


def write_files(files, directory: Path):
    paths = []
    for name, data in files:
        p = Path(directory) / name
        p.write_bytes(data)
        paths.append(p)
    return paths


def npy_bytes(x: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, x)
    return buf.getvalue()
