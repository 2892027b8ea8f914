"""Record writers and the corrupt-file corpus shared by the reader and scoring tests."""
from pathlib import Path

import numpy as np

LEADS = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")  # PTB-XL's spelling


def ecg_counts(fs_hz=500, seconds=10, seed=0) -> np.ndarray:
    """A seeded int16 (12, n) ECG-like record at 1000 counts/mV."""
    from edgecardio.cli import synthetic_record

    return synthetic_record(fs_hz, seconds, seed=seed)


def header_text(name, counts, fs_hz=500, gain="1000", fmt="16", names=LEADS, dat=None, checksums=True,
                n_samples=None) -> str:
    """A WFDB header for ``counts`` (12, n) written in format 16 to ``dat``."""
    dat = dat or f"{name}.dat"
    n = counts.shape[1] if n_samples is None else n_samples
    lines = [f"{name} {counts.shape[0]} {fs_hz} {n}".rstrip()]
    for i, lead in enumerate(names):
        tail = f" {int(counts[i, 0])} {int(counts[i].astype(np.int64).sum()) % 65536} 0" if checksums else ""
        g = gain[i] if isinstance(gain, (list, tuple)) else gain
        f = fmt[i] if isinstance(fmt, (list, tuple)) else fmt
        # header(5): the description follows the checksum fields, so without them the leads go unnamed
        lines.append(f"{dat} {f} {g} 16 0{tail} {lead}" if checksums else f"{dat} {f} {g} 16 0")
    return "\n".join(lines) + "\n"


def write_wfdb(directory, name, counts, **kw) -> Path:
    """A format-16 WFDB record (header with checksums and initial values); returns the path without .hea."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    np.ascontiguousarray(counts.T, dtype="<i2").tofile(d / f"{name}.dat")
    (d / f"{name}.hea").write_text(header_text(name, counts, **kw))
    return d / name


def corrupt_wfdb_corpus(directory):
    """(case, record path, pattern of the expected RecordError) for broken WFDB records.

    Each is a file a user could meet: a header that does not describe its signal file, a field a
    tool wrote wrong, a header that promises more than the file holds."""
    d = Path(directory)
    x = ecg_counts(100, 10, seed=7)
    cases = []

    def add(case, header, dat_bytes, pattern):
        sub = d / case
        sub.mkdir(parents=True, exist_ok=True)
        (sub / "r.hea").write_text(header)
        if dat_bytes is not None:
            (sub / "r.dat").write_bytes(dat_bytes)
        cases.append((case, sub / "r", pattern))

    raw16 = np.ascontiguousarray(x.T, dtype="<i2").tobytes()
    good = header_text("r", x, fs_hz=100)
    add("fmt212_on_fmt16", good.replace(" 16 1000 16 0 ", " 212 1000 12 0 "), raw16,
        r"checksums match 0 of 12 .*initial values match \d+ of 12")
    add("byte_offset_shifted", good.replace(" 16 1000 16 0 ", " 16+2 1000 16 0 "), raw16 + b"\0\0",
        "checksums match")
    add("gain_dot", good.replace("r.dat 16 1000 16", "r.dat 16 . 16", 1), raw16,
        r"r\.hea: signal 1 \(I\): the ADC gain field '\.' is not a number")
    add("adc_zero_x", good.replace("r.dat 16 1000 16 0 ", "r.dat 16 1000 16 x ", 1), raw16,
        r"r\.hea: signal 1 \(I\): the ADC zero field 'x' is not an integer")
    add("byte_offset_past_end", good.replace(" 16 1000 16 0 ", " 16+999999 1000 16 0 "), raw16,
        r"byte offset 999999 .* is past the end of .*r\.dat")
    add("huge_sample_count", header_text("r", x, fs_hz=100, n_samples=10**12, checksums=False), raw16,
        r"r\.dat: holds 24000 bytes .* needs 24000000000000")
    add("no_sample_count_empty_dat", header_text("r", x, fs_hz=100, n_samples="", checksums=False), b"",
        "no sample count and .*holds no samples")
    add("mixed_gain_signs", header_text("r", x, fs_hz=100, gain=["1000"] * 11 + ["-1000"]), raw16,
        r"ADC gains mix signs \(negative for \['V6'\]\)")
    add("unknown_units", header_text("r", x, fs_hz=100, gain=["1000/furlong"] * 12), raw16,
        "unknown units 'furlong'")
    add("missing_lead", header_text("r", x, fs_hz=100, names=LEADS[:11] + ("X",)), raw16, "no lead V6")
    add("duplicate_lead", header_text("r", x, fs_hz=100, names=LEADS[:11] + ("v5",)), raw16,
        "two signals are lead V5")
    add("flac", good.replace(" 16 1000 16 0 ", " 516 1000 16 0 "), raw16, "FLAC")
    add("unknown_format", good.replace(" 16 1000 16 0 ", " 99 1000 16 0 "), raw16, "format 99 is not supported")
    add("short_dat", good, raw16[:-3], "holds 23997 bytes")
    add("signal_count_text", "r twelve 100 1000\n", raw16, "signal count field 'twelve'")
    add("fs_text", "r 12 fast 1000\n", raw16, "sampling frequency field 'fast'")
    add("too_few_signal_lines", "\n".join(good.splitlines()[:5]) + "\n", raw16, "declares 12 signals but describes 4")
    add("empty_header", "", raw16, "empty WFDB header")
    add("comment_only_header", "# nothing here\n", raw16, "empty WFDB header")
    add("multi_segment", "r/2 12 100 1000\n", raw16, "multi-segment")
    add("missing_dat", good, None, "signal file not found")
    add("binary_garbage_header", "\x00\x01\x02\xff garbage\n", raw16, "signal count field")
    return cases


def corrupt_npy_corpus(directory):
    """(case, path, pattern) for broken ``.npy`` records (read with fs_hz=100)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    x = ecg_counts(100, 10, seed=8)
    cases = []

    def add(case, data: bytes, pattern):
        p = d / f"{case}.npy"
        p.write_bytes(data)
        cases.append((case, p, pattern))

    def npy(a) -> bytes:
        import io

        b = io.BytesIO()
        np.save(b, a, allow_pickle=True)
        return b.getvalue()

    add("empty_file", b"", "empty .npy file")
    add("not_numpy", b"this is not numpy", "not a readable .npy")
    add("truncated", npy(x)[:200], "not a readable .npy")
    add("transposed", npy(x.T), r"leads must be rows: save signal\.T")
    add("three_d", npy(x[None]), r"shape \(1, 12, 1000\)")
    add("eleven_leads", npy(x[:11]), r"shape \(11, 1000\)")
    add("no_samples", npy(x[:, :0]), "holds no samples")
    add("pickled_objects", npy(np.array([x, None], dtype=object)), "not a readable .npy")
    add("strings", npy(np.full((12, 1000), "a")), "dtype <U1")
    add("int32_out_of_range", npy(x.astype(np.int32) * 100), "outside int16")
    add("complex", npy(x.astype(np.complex64)), "dtype complex64")
    return cases
