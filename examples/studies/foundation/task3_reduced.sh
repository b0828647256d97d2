#!/usr/bin/env bash
# Study 2, Task 3 under the reduced design task3_reduced.yaml (42 atoms, 4 T x 0.5 + 2.5 ps), several
# models in one pytest session, one report:
#
#   PY=/work/venv-sevenn/bin/python bash examples/studies/foundation/task3_reduced.sh chgnet chgnet_ft_s0
#
# Report: reports/task3_reduced.<MODEL>-<MODEL>....json (profile foundation-task3-reduced; the figure and
# table of make_figures.py foundation show its sigma298 beside the ci reports, labelled with the design).
set -uo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/venv-sevenn/bin/python}
D=examples/studies/foundation
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
models=(); for m in "$@"; do models+=(--lips-model="examples.studies.foundation.factories:$m"); done
tag=$(IFS=-; echo "$*")
out="$D/reports/task3_reduced.$tag"
echo "== task3 reduced $*: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
nice -n 5 "$PY" -m pytest -m lips -p no:cacheprovider reference_data/protocols "${models[@]}" \
    --lips-profile="$D/task3_reduced.yaml" --lips-tasks=task3 --lips-offline \
    --lips-report="$out.json" > "$out.log" 2>&1
rc=$?
echo "== task3 reduced $*: exit $rc, $(( $(date +%s) - start )) s wall, end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
