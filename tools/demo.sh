#!/usr/bin/env bash
# The main job on the packaged default model: diagnose real PTB-XL records (validation fold 9) with the
# installed package, from their WFDB files, and show the cardiologists' superclasses beside the output.
#   bash tools/demo.sh [N]        # N records (default 8); needs ../shared/ptbxl or $EDGECARDIO_PTBXL
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-8}
src=${EDGECARDIO_PTBXL:-../shared/ptbxl}
[ -f "$src/ptbxl_database.csv" ] || { echo "demo: PTB-XL not found in $src (set EDGECARDIO_PTBXL)" >&2; exit 2; }
dest=build/demo-ptbxl
pool=$((n * 3))  # some records carry only rhythm statements (no diagnostic superclass): skip those
[ -f "$dest/ptbxl_database.csv" ] && [ "$(($(wc -l < "$dest/ptbxl_database.csv") - 1))" -ge "$pool" ] \
  || .venv/bin/python "$src/materialize.py" "$dest" --folds 9 --limit "$pool" --source "$src" >/dev/null
# the first n records with a diagnostic superclass, and that superclass (PTB-XL benchmark rule)
mapfile -t lines < <(.venv/bin/python - "$dest" "$n" <<'PY'
import ast, csv, sys
from edgecardio import CLASSES
dest, n = sys.argv[1], int(sys.argv[2])
cls = {r[""]: r["diagnostic_class"] for r in csv.DictReader(open(f"{dest}/scp_statements.csv"))
       if r["diagnostic"] == "1.0"}
shown = 0
for r in csv.DictReader(open(f"{dest}/ptbxl_database.csv")):
    codes = ast.literal_eval(r["scp_codes"])
    truth = sorted({cls[c] for c in codes if c in cls}, key=CLASSES.index)
    if truth and shown < n:
        print(f"{dest}/{r['filename_lr']}\t{','.join(truth)}\t{r['scp_codes']}")
        shown += 1
PY
)
records=(); for l in "${lines[@]}"; do records+=("${l%%$'\t'*}"); done
.venv/bin/edgecardio info
.venv/bin/edgecardio predict "${records[@]}"
echo
echo "Cardiologists' superclasses and statements (scp_codes) for the same records:"
for l in "${lines[@]}"; do
  IFS=$'\t' read -r rec truth codes <<< "$l"
  printf '  %s  %-14s %s\n' "${rec#$dest/}" "$truth" "$codes"
done
