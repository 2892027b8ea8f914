"""Shared helpers for the training tests (real PTB-XL records from the compact shared copy)."""
import io
import lzma

import numpy as np
import pandas as pd


_FOLD_CACHE = {}


def real_records(ptbxl, fold=9, n=8):
    """The first ``n`` records of ``fold``: int16 [n, 12, 1000] ADC counts and their ecg_ids."""
    if fold not in _FOLD_CACHE:
        with open(ptbxl / f"signals_fold{fold}.npy.xz", "rb") as f:
            _FOLD_CACHE[fold] = np.load(io.BytesIO(lzma.decompress(f.read())))
    db = pd.read_csv(ptbxl / "ptbxl_database.csv", usecols=["ecg_id", "strat_fold"])
    ids = db.loc[db.strat_fold == fold, "ecg_id"].to_numpy()[:n]
    return np.cumsum(_FOLD_CACHE[fold][:n], axis=2, dtype=np.int16), ids


def preprocessed_records(ptbxl, fold=9, n=8):
    """The same records through ``edgecardio.preprocess``: float32 [n, 12, 1000]."""
    import edgecardio

    raw, ids = real_records(ptbxl, fold, n)
    return np.stack([np.asarray(edgecardio.preprocess(r, 100, gain_per_mv=1000.0), np.float32) for r in raw]), ids


def int8_graph_types(path):
    """``(weight zero-point types, activation zero-point types, op of the output's producer)`` of a
    QDQ model: a DequantizeLinear of a constant dequantizes weights or biases, any other one
    activations."""
    import onnx

    g = onnx.load(str(path)).graph
    inits = {i.name: i for i in g.initializer}
    weight_zp, act_zp = set(), set()
    for n in g.node:
        if n.op_type != "DequantizeLinear" or len(n.input) < 3 or n.input[2] not in inits:
            continue
        (weight_zp if n.input[0] in inits else act_zp).add(inits[n.input[2]].data_type)
    producer = {o: n for n in g.node for o in n.output}
    return weight_zp, act_zp, producer[g.output[0].name].op_type
