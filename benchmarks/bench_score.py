"""Archive scoring throughput: records/s over PTB-XL's WFDB files, and where the time goes.

    python /work/shared/ptbxl/materialize.py /tmp/ptbxl_wfdb          # folds 1-9, ~470 MB, ~1 min
    python benchmarks/bench_score.py /tmp/ptbxl_wfdb [--limit 2000] [--workers 1 2] [--no-ray] [--repeat 3]
        # -> benchmarks/results_score.json

A pass over thousands of files is the unit measured (cold process pools and Ray actors included, as
a user meets them), not pytest-benchmark's rounds of one call; every path runs once per round,
rounds repeated, and the median is reported (each round's figure is kept too).

Paths, all on the same records (the first ``--limit`` headers under ``records100/`` in path order):

* ``plain_loop_wfdb``: what a user writes today: ``wfdb.rdsamp`` (float mV), reorder the leads,
  ``Classifier.predict`` in a loop, one process.
* ``plain_loop_read_record``: the same loop with ``edgecardio.read_record`` + ``Record.predict``.
* ``local_wN``: ``edgecardio.score(engine="local", workers=N)`` (process pool, spawn start).
* ``ray_wN``: ``edgecardio.score(engine="ray", workers=N)`` on a local Ray instance (``ray.init``
  included in the time, as a user running it once would see it).
* ``stages``: per record, medians and totals of reading (``read_record``), preprocessing and
  inference (``Prediction.latency_ms`` of the native path), in one process.

Speed is measured here, never asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import edgecardio
from edgecardio.io import lead_order

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    from edgecardio.cli import _machine

    return _machine()


def records(root: Path, limit):
    hea = sorted((root / "records100").glob("*/*.hea"))
    if not hea:
        sys.exit(f"no records100/*/*.hea under {root}: run materialize.py first")
    return hea[:limit] if limit else hea


def plain_loop_wfdb(paths, clf):
    import wfdb

    t0 = time.perf_counter()
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sig, fields = wfdb.rdsamp(str(p.with_suffix("")))
        x = sig.T[lead_order(fields["sig_name"])]
        clf.predict(x, fields["fs"])
    return time.perf_counter() - t0


def plain_loop_read_record(paths, clf):
    t0 = time.perf_counter()
    for p in paths:
        edgecardio.read_record(p).predict(clf)
    return time.perf_counter() - t0


def stages(paths, clf):
    read_ms, pre_ms, inf_ms = [], [], []
    for p in paths:
        t0 = time.perf_counter()
        rec = edgecardio.read_record(p)
        read_ms.append((time.perf_counter() - t0) * 1e3)
        r = rec.predict(clf)
        pre_ms.append(r.latency_ms["preprocess"])
        inf_ms.append(r.latency_ms["inference"])

    def s(v):
        v = np.asarray(v)
        return {"median_ms": float(np.median(v)), "mean_ms": float(v.mean()), "total_s": float(v.sum() / 1e3)}

    out = {"read": s(read_ms), "preprocess": s(pre_ms), "inference": s(inf_ms)}
    total = sum(x["total_s"] for x in out.values())
    for x in out.values():
        x["share"] = x["total_s"] / total
    return out


def worker_rss_mb(paths) -> dict:
    """Peak RSS of one worker (a fresh process with one Scorer, after 200 records): the memory an
    actor needs besides Ray's own."""
    import subprocess

    code = ("import resource, sys, edgecardio\n"
            "from edgecardio.score import Options, Scorer\n"
            "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "s = Scorer(Options())\n"
            "for p in sys.argv[1:]: s.row({'record': p})\n"
            "print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths[:200])], capture_output=True, text=True,
                         check=True).stdout.split()
    return {"after_import_mb": int(out[0]) / 1024, "peak_mb": int(out[1]) / 1024}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="a materialized PTB-XL (records100/ inside)")
    ap.add_argument("--limit", type=int, help="first N records (default: all)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--no-wfdb", action="store_true", help="skip the wfdb.rdsamp loop")
    ap.add_argument("--repeat", type=int, default=3, help="rounds over every path (default 3); medians reported")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results_score.json")
    a = ap.parse_args(argv)
    paths = records(a.root, a.limit)
    n = len(paths)
    clf = edgecardio.Classifier(threads=1)
    res = {"tool": "benchmarks/bench_score.py", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "machine": machine(), "edgecardio": edgecardio.__version__, "engine": edgecardio.engine(),
           "backend": clf.backend, "precision": clf.precision, "records": n,
           "record_set": f"first {n} of {a.root}/records100/*/*.hea (PTB-XL folds 1-9, 100 Hz, format 16)",
           "load_average_before": os.getloadavg(), "runs": {}}

    def put(name, seconds, **extra):
        run = res["runs"].setdefault(name, {"seconds_each": [], "records_per_s_each": []})
        run["seconds_each"].append(seconds)
        run["records_per_s_each"].append(n / seconds)
        run["records_per_s"] = float(np.median(run["records_per_s_each"]))
        run.update(extra)
        print(f"{name:>24}: {n / seconds:8.1f} records/s ({seconds:.1f} s)", flush=True)

    plain_loop_read_record(paths[:50], clf)  # warm the page cache and the classifier
    res["stages"] = stages(paths, clf)
    print("stages:", json.dumps({k: round(v["share"], 3) for k, v in res["stages"].items()}), flush=True)
    res["worker_rss"] = worker_rss_mb(paths)
    print("worker RSS MB:", res["worker_rss"], flush=True)
    # every path once per round, rounds repeated: the machine's load drifts, so each path sees the same
    res["rounds"] = a.repeat
    for _ in range(a.repeat):
        put("plain_loop_read_record", plain_loop_read_record(paths, clf))
        if not a.no_wfdb:
            put("plain_loop_wfdb", plain_loop_wfdb(paths, clf))
        for w in a.workers:
            df = edgecardio.score(paths, engine="local", workers=w)
            s = df.attrs["summary"]
            put(f"local_w{w}", s["seconds"], failed=s["failed"])
        if not a.no_ray:
            for w in a.workers:
                t0 = time.perf_counter()
                df = edgecardio.score(paths, engine="ray", workers=w)
                put(f"ray_w{w}", time.perf_counter() - t0, failed=df.attrs["summary"]["failed"])
    res["load_average_after"] = os.getloadavg()
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
