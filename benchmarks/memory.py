"""Resident memory of each inference path, each in a fresh process.

    python benchmarks/memory.py [--out benchmarks/results_memory.json] [--predictions 200]

For every path (native, onnxruntime backend, naive = scipy float64 spec + InferenceSession) and
precision, a child process imports what that path needs, builds it, diagnoses the synthetic 10-s
500 Hz int16 record ``--predictions`` times, and reports VmRSS (after the interpreter and numpy,
after ``import edgecardio``, after the predictions) and the peak (ru_maxrss). Model file sizes are
recorded beside them. Measured here, never asserted (the RSS growth over 10,000 predictions is a
test: ``pytest -m slow tests/test_classifier.py``).
"""
import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys
import numpy as np

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

path, precision, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {"path": path, "precision": precision, "rss_start_mb": rss_mb()}
import edgecardio
from edgecardio.packaged import model_dir
MODEL_DIR = model_dir()  # the default packaged model, what Classifier() loads
from edgecardio._synthetic import synthetic_record
x = synthetic_record(500, 10, seed=0)
out["rss_after_import_mb"] = rss_mb()
if path in ("native", "onnxruntime"):
    clf = edgecardio.Classifier(backend=path, precision=precision)
    run = lambda: clf.predict(x, 500, age=63, sex="female")
else:
    import onnxruntime as ort
    from edgecardio import modelcard as mc, reference
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(MODEL_DIR / f"lightecgnet_{precision}.onnx"), so,
                                providers=["CPUExecutionProvider"])
    stats = mc.load_card(MODEL_DIR / "model_card.json")["demographics"]["stats"]
    reads_std = any(i.name == mc.INPUT_LEAD_STD for i in sess.get_inputs())
    def run():
        ecg, std = reference.preprocess_reference(x / 1000.0, 500, return_std=True)
        demo = mc.encode_demographics(stats, age=63, sex="female")
        feeds = {mc.INPUT_ECG: ecg[None], mc.INPUT_DEMOGRAPHICS: demo[None]}
        if reads_std:
            feeds[mc.INPUT_LEAD_STD] = std[None].astype(np.float32)
        return sess.run(None, feeds)
for _ in range(n):
    run()
out["rss_after_predictions_mb"] = rss_mb()
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["model_bytes"] = (MODEL_DIR / f"lightecgnet_{precision}.onnx").stat().st_size
print(json.dumps(out))
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).with_name("results_memory.json")))
    ap.add_argument("--predictions", type=int, default=200)
    a = ap.parse_args(argv)
    rows = []
    for path in ("native", "onnxruntime", "naive"):
        for precision in ("int8", "fp32"):
            r = subprocess.run([sys.executable, "-c", CHILD, path, precision, str(a.predictions)],
                               capture_output=True, text=True, check=True)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            w = rows[-1]
            print(f"{path:12s} {precision}: model {w['model_bytes'] / 1e6:.2f} MB, RSS after import "
                  f"{w['rss_after_import_mb']:.1f} MB, after {a.predictions} predictions "
                  f"{w['rss_after_predictions_mb']:.1f} MB, peak {w['peak_rss_mb']:.1f} MB")
    Path(a.out).write_text(json.dumps({"machine": f"{platform.machine()} {platform.processor()}".strip(),
                                       "python": platform.python_version(), "predictions": a.predictions,
                                       "results": rows}, indent=2))
    print(f"saved {a.out}")


if __name__ == "__main__":
    main()
