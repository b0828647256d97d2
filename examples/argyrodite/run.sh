#!/usr/bin/env bash
# The Li6PS5Cl argyrodite pack through the plugin, one report per model.
#
#   PY=/work/venv-sevenn/bin/python bash examples/argyrodite/run.sh PROFILE NAME=SPEC...
#   e.g. ... run.sh smoke chgnet=examples.chgnet_factory:make_calculator \
#                         sevennet0=examples.studies.foundation.factories:sevennet0
#
# Foundation models sit on their own energy zero: --lips-energy-offset=auto aligns the Task 2 energies
# (the mean per-atom offset over the snapshots; forces, Task 1 E_f, Task 3 and Task 4 do not depend on it).
# Optional: REFERENCE=<pack> (default li6ps5cl-open-pbesol; another pack adds its name to the report's file
# name, e.g. REFERENCE=lips-open-pbesol for the same models on the LiPS system) and TASKS=task2 (a
# subset, added to the file name).
# Reports: examples/argyrodite/<NAME>.<PROFILE>[.<REFERENCE>][.<TASKS>].json (+ .log, the terminal
# output). PY needs the model's package (chgnet, sevenn) and pytest-lips; SevenNet needs its own
# environment (examples/studies/README.md, Study 2). reference_data/protocols holds no tests, so only the plugin's items are collected.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/work/venv-sevenn/bin/python}
PROFILE=$1; shift
REFERENCE=${REFERENCE:-li6ps5cl-open-pbesol}
TASKS=${TASKS:-}
suffix=$([ "$REFERENCE" = li6ps5cl-open-pbesol ] || echo ".$REFERENCE")$([ -z "$TASKS" ] || echo ".${TASKS//,/-}")
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
for pair in "$@"; do
    name=${pair%%=*}; spec=${pair#*=}
    out="examples/argyrodite/$name.$PROFILE$suffix"
    echo "== $name $PROFILE $REFERENCE ${TASKS:-all tasks}: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s)
    nice -n 10 "$PY" -m pytest -m lips -p no:cacheprovider reference_data/protocols --lips-model="$spec" \
        --lips-reference="$REFERENCE" ${TASKS:+--lips-tasks="$TASKS"} --lips-profile="$PROFILE" --lips-offline --lips-energy-offset=auto \
        --lips-report="$out.json" > "$out.log" 2>&1
    rc=$?
    echo "== $name $PROFILE $REFERENCE ${TASKS:-all tasks}: exit $rc, $(( $(date +%s) - start )) s wall, end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
done
