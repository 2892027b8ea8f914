"""Check that a wheel carries every packaged model of the source tree, byte for byte.

    python toolchains/wheel_models.py dist/edgecardio-*.whl [--models python/edgecardio/models]

A packaged model is a directory ``python/edgecardio/models/<name>/`` with a ``model_card.json``; the
wheel must hold, for each, the card and every file the card's ``files`` map names, with the size and
SHA-256 the card's ``file_info`` records (so a model that the build left out, a stale copy or a Git
LFS pointer in place of the file are all caught). Used by ``build-wheel-aarch64.sh``; exit status 1
when anything is missing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import List, Tuple

PREFIX = "edgecardio/models/"
CARD = "model_card.json"


def check(wheel, models_dir) -> Tuple[List[str], List[str]]:
    """(lines describing what was found, problems) for the wheel at ``wheel`` against the source
    tree's ``models_dir``."""
    models_dir = Path(models_dir)
    want = sorted(p.parent.name for p in models_dir.glob(f"*/{CARD}"))
    lines, problems = [], []
    if not want:
        problems.append(f"no packaged models in {models_dir} (a <name>/{CARD} per model)")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        flat = sorted(n for n in names if n.startswith(PREFIX) and n.count("/") == 2 and not n.endswith("/"))
        if flat:
            problems.append(f"files directly in {PREFIX} (each model needs its own directory): {flat}")
        in_wheel = sorted({n.split("/")[2] for n in names if n.startswith(PREFIX) and n.count("/") >= 3})
        for extra in sorted(set(in_wheel) - set(want)):
            problems.append(f"{PREFIX}{extra}/ is in the wheel but not a packaged model of {models_dir}")
        for name in want:
            card = json.loads((models_dir / name / CARD).read_text(encoding="utf-8"))
            digests = {info.get("file"): info for info in card.get("file_info", {}).values() if isinstance(info, dict)}
            found = []
            for file in [CARD, *sorted(set(card.get("files", {}).values()))]:
                member = f"{PREFIX}{name}/{file}"
                if member not in names:
                    problems.append(f"{member} is missing from the wheel")
                    continue
                data = zf.read(member)
                if file == CARD:
                    if data != (models_dir / name / CARD).read_bytes():
                        problems.append(f"{member} differs from {models_dir / name / CARD}")
                    continue
                info = digests.get(file)
                if info is None:
                    problems.append(f"{models_dir / name / CARD} records no size or SHA-256 for {file}")
                elif len(data) != info.get("bytes") or hashlib.sha256(data).hexdigest() != info.get("sha256"):
                    problems.append(f"{member} ({len(data)} bytes) is not the file its card describes "
                                    f"({info.get('bytes')} bytes, sha256 {str(info.get('sha256'))[:12]}...)")
                else:
                    found.append(f"{file} ({len(data) / 1e6:.2f} MB)")
            lines.append(f"{name}: {', '.join(found) or 'no model file'}")
    return lines, problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel")
    ap.add_argument("--models", default=str(Path(__file__).resolve().parent.parent / "python" / "edgecardio" / "models"),
                    help="the source tree's packaged models (default: %(default)s)")
    a = ap.parse_args(argv)
    lines, problems = check(a.wheel, a.models)
    for line in lines:
        print(f"    packaged model {line}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
