#!/usr/bin/env bash
# Study 2: foundation models zero-shot and fine-tuned through the plugin, one JSON report per model.
#
#   PY=/work/venv-sevenn/bin/python bash examples/studies/foundation/run.sh TASKS MODEL...
#   e.g. ... run.sh task2 chgnet sevennet0 chgnet_ft_s0        # Task 2 (melt-quench errors) only
#        ... run.sh task1,task2 chgnet
#
# MODEL is a callable of examples/studies/foundation/factories.py. Every run uses the ci profile,
# --lips-energy-offset=auto (the foundation models' energy zero is not PBEsol's) and --lips-offline.
# Reports: reports/<MODEL>.<TASKS>.json (merge several with `python -m pytest_lips merge`).
# The path reference_data/protocols holds no tests: pytest collects nothing of this repository's own
# suite (which needs graph-pes), and the plugin adds the LiPS-25 items.
set -uo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/venv-sevenn/bin/python}
TASKS=$1; shift
DIR=examples/studies/foundation
mkdir -p "$DIR/reports"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
for m in "$@"; do
    out="$DIR/reports/$m.${TASKS//,/-}"
    echo "== $m $TASKS: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s)
    nice -n 5 "$PY" -m pytest -m lips -q -p no:cacheprovider reference_data/protocols --lips-model="examples.studies.foundation.factories:$m" \
        --lips-profile=ci --lips-tasks="$TASKS" --lips-energy-offset=auto --lips-offline \
        --lips-report="$out.json" > "$out.log" 2>&1
    rc=$?
    echo "== $m $TASKS: exit $rc, $(( $(date +%s) - start )) s wall, end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
done
