"""Cost of one monitor hop (ring buffer + quality + preprocessing + inference), as a real-time factor,
and memory over an hour of stream.

    python -m pytest benchmarks/bench_monitor.py --benchmark-json=benchmarks/results_monitor.json

The stream: edgecardio.cli.synthetic_record (seed 0, int16 counts at 1000/mV) repeated, 12 leads,
pushed one hop (1 s) at a time into a running Monitor (packaged INT8 model, 1 thread), so every
push completes exactly one window. Rows:

* ``test_hop``: ``Monitor.push`` of 1 s, at 500 and 100 Hz (pytest-benchmark timing), plus per-hop
  p50/p99 over ``HOPS`` hops timed one by one, in wall time and in the pushing thread's CPU time, the
  real-time factor (1 s of ECG / p50 cost) and the streams one core keeps up with (1 s / mean cost),
  in ``extra_info``, with the load average (the development machine is shared).
* ``test_stage``: the parts of a hop on their own: the native ring + quality (``StreamWindow.push``
  of 1 s, cached segments), quality of a whole window without the cache (what ``window_quality``
  and ``Classifier.predict`` pay), and ``Classifier.predict(quality=False)`` on the window.
* ``test_rss_over_an_hour``: 3,600 hops (one hour at hop 1 s); VmRSS every 600 hops (after a warm-up
  of 200), in ``extra_info``. Measured, never asserted.
"""
import os
import time

import numpy as np
import pytest

import edgecardio
from edgecardio import _core
from edgecardio.cli import synthetic_record

HOPS = 600
DEMO = dict(age=63.0, sex="female", height_cm=165.0, weight_kg=70.0)


@pytest.fixture(scope="module")
def clf():
    return edgecardio.Classifier()


def stream(fs_hz, seconds):
    rec = synthetic_record(fs_hz, 10, seed=0)
    reps = -(-seconds // 10)
    return np.ascontiguousarray(np.tile(rec, (1, reps))[:, : seconds * fs_hz])


def running_monitor(clf, fs_hz):
    mon = edgecardio.Monitor(fs_hz, classifier=clf, **DEMO)
    x = stream(fs_hz, 10)
    mon.push(x[:, :-1])  # one sample short of the first window: the next 1-s push completes one
    return mon


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return -1


@pytest.mark.parametrize("fs_hz", [500, 100])
def test_hop(benchmark, clf, fs_hz):
    x = stream(fs_hz, 10 + HOPS + 400)
    hops = [np.ascontiguousarray(x[:, 10 * fs_hz - 1 + i * fs_hz: 10 * fs_hz - 1 + (i + 1) * fs_hz])
            for i in range(HOPS + 400)]
    mon = running_monitor(clf, fs_hz)
    # Per-hop timings, one by one (the percentiles pytest-benchmark does not give).
    for h in hops[:50]:
        mon.push(h)
    times, cpu = [], []
    for h in hops[50: 50 + HOPS]:
        t0, c0 = time.perf_counter(), time.thread_time()
        res = mon.push(h)
        times.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        assert len(res) == 1
    info = {"fs_hz": fs_hz, "hop_s": 1.0, "hops_timed": HOPS, "engine": edgecardio.engine(),
            "load_average": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}
    # Wall time, and the CPU time of the pushing thread (ONNX Runtime runs on it with 1 intra-op
    # thread): on a shared machine the second is the cost a core pays, the first adds the waits.
    for name, values in (("wall", times), ("cpu", cpu)):
        ms = np.array(values) * 1e3
        p50, p99 = float(np.percentile(ms, 50)), float(np.percentile(ms, 99))
        info.update({f"{name}_p50_ms": round(p50, 4), f"{name}_p99_ms": round(p99, 4),
                     f"{name}_mean_ms": round(float(ms.mean()), 4), f"{name}_p99_over_p50": round(p99 / p50, 3),
                     f"{name}_real_time_factor_p50": round(1000.0 / p50, 1),
                     f"{name}_real_time_factor_p99": round(1000.0 / p99, 1),
                     f"{name}_streams_per_core": int(1000.0 // ms.mean())})
    benchmark.extra_info.update(info)
    rest = iter(hops[50 + HOPS:])
    benchmark.pedantic(lambda: mon.push(next(rest)), rounds=300, iterations=1, warmup_rounds=10)


@pytest.mark.parametrize("stage", ["ring_quality_cached", "quality_uncached", "predict"])
def test_stage(benchmark, clf, stage):
    fs = 500
    x = stream(fs, 10 + 400)
    w = x[:, :5000]
    if stage == "ring_quality_cached":
        sw = _core.StreamWindow(fs, 12, 5000, fs, "int16", 1000.0, {})
        sw.push(x[:, :4999], 0)
        hops = iter([np.ascontiguousarray(x[:, 4999 + i * fs: 4999 + (i + 1) * fs]) for i in range(390)])
        benchmark.pedantic(lambda: sw.push(next(hops), 0), rounds=300, iterations=1, warmup_rounds=10)
    elif stage == "quality_uncached":
        benchmark(_core.window_quality, np.ascontiguousarray(w), fs, 1000.0)
    else:
        benchmark(lambda: clf.predict(w, fs, quality=False, **DEMO))  # what a hop pays (quality comes from the ring)
    benchmark.extra_info.update({"fs_hz": fs, "stage": stage})


def test_rss_over_an_hour(benchmark, clf):
    fs = 500
    x = stream(fs, 30)
    mon = running_monitor(clf, fs)
    one_s = [np.ascontiguousarray(x[:, i * fs: (i + 1) * fs]) for i in range(30)]
    for i in range(200):
        mon.push(one_s[i % 30])
    series = [(0, rss_kb())]
    t0 = time.perf_counter()
    for i in range(1, 3601):
        mon.push(one_s[i % 30])
        if i % 600 == 0:
            series.append((i, rss_kb()))
    seconds = time.perf_counter() - t0
    benchmark.extra_info.update({"hops": 3600, "rss_kb": series, "growth_kb": series[-1][1] - series[0][1],
                                 "seconds": round(seconds, 2)})
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
