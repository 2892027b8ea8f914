"""Train LightECGNet and, with --ship, turn the run into the shipped model.

    python -m training --config training/configs/lightecgnet_reg.json --ship --install
    python -m training --config ... --set train.epochs=5 --run-name quick        # train only
    python -m training --config ... --resume runs/NAME --ship                   # continue, then ship

``--ship`` requires a native preprocessing cache, then exports FP32 ONNX, quantizes to INT8,
evaluates both on the validation folds and writes the model card (:mod:`training.ship`);
``--install`` also copies the files into ``python/edgecardio/models/<config name>/``.
"""
from __future__ import annotations

import argparse
import sys
import time

from .ship import ship
from .train import add_run_arguments, resolve_run, train


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    add_run_arguments(ap)
    ap.add_argument("--ship", action="store_true",
                    help="require a native cache; after training export, quantize, evaluate, write the card")
    ap.add_argument("--install", action="store_true", help="with --ship: copy the files to python/edgecardio/models/<config name>/")
    a = ap.parse_args(argv)
    if a.install and not a.ship:
        ap.error("--install copies what --ship writes: pass --ship too")
    cfg, run_dir = resolve_run(a)
    if a.ship and cfg["preprocess"]["path"] != "native":
        sys.exit("--ship needs preprocess.path='native': the shipped model is trained on edgecardio.preprocess")
    t0 = time.time()
    train(cfg, run_dir, resume=bool(a.resume), require_native=a.ship)
    if a.ship:
        ship(run_dir, install=a.install, command=" ".join(["python -m training"] + argv),
             train_wall_s=time.time() - t0)


if __name__ == "__main__":
    main()
