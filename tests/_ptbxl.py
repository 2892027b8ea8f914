"""The first records of a PTB-XL fold from the shared compact copy, decoding only the start of its xz
stream (the signals are stored as first differences along time: see ../shared/ptbxl/README.md)."""
import lzma

import numpy as np


def fold_start(ptbxl, n: int, fold: int = 9) -> np.ndarray:
    """int16 ADC counts [n, 12, 1000] at 100 Hz: the first ``n`` records of ``fold``."""
    with lzma.open(ptbxl / f"signals_fold{fold}.npy.xz", "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        assert not fortran and shape[1:] == (12, 1000) and n <= shape[0]
        raw = f.read(n * 12 * 1000 * dtype.itemsize)
    return np.cumsum(np.frombuffer(raw, dtype=dtype).reshape(n, 12, 1000), axis=2, dtype=np.int16)
