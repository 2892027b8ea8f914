#!/usr/bin/env bash
# The main job on the packaged default model: diagnose real PTB-XL records (validation fold 9) with the
# installed package, from their WFDB files, and show the cardiologists' superclasses beside the output.
#   bash tools/demo.sh [N]        # N records (default 5); needs ../shared/ptbxl or $EDGECARDIO_PTBXL
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
src=${EDGECARDIO_PTBXL:-../shared/ptbxl}
[ -f "$src/ptbxl_database.csv" ] || { echo "demo: PTB-XL not found in $src (set EDGECARDIO_PTBXL)" >&2; exit 2; }
dest=build/demo-ptbxl
[ -f "$dest/ptbxl_database.csv" ] && [ "$(($(wc -l < "$dest/ptbxl_database.csv") - 1))" -ge "$n" ] \
  || .venv/bin/python "$src/materialize.py" "$dest" --folds 9 --limit "$n" --source "$src" >/dev/null
mapfile -t records < <(.venv/bin/python - "$dest" "$n" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(f"{sys.argv[1]}/ptbxl_database.csv")))[: int(sys.argv[2])]
for r in rows:
    print(f"{sys.argv[1]}/{r['filename_lr']}")
PY
)
.venv/bin/edgecardio info
.venv/bin/edgecardio predict "${records[@]}"
echo
echo "Cardiologists' statements (scp_codes) for the same records:"
.venv/bin/python - "$dest" "$n" <<'PY'
import csv, sys
for r in list(csv.DictReader(open(f"{sys.argv[1]}/ptbxl_database.csv")))[: int(sys.argv[2])]:
    print(f"  {r['filename_lr']}: {r['scp_codes']}")
PY
