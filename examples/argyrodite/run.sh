#!/usr/bin/env bash
# The Li6PS5Cl argyrodite pack through the plugin, one report per model.
#
#   PY=/work/venv-sevenn/bin/python bash examples/argyrodite/run.sh PROFILE NAME=SPEC...
#   e.g. ... run.sh smoke chgnet=examples.chgnet_factory:make_calculator \
#                         sevennet0=examples.studies.foundation.factories:sevennet0
#
# Foundation models sit on their own energy zero: --lips-energy-offset=auto aligns the Task 2 energies
# (the mean per-atom offset over the snapshots; forces, Task 1 E_f, Task 3 and Task 4 do not depend on it).
# Reports: examples/argyrodite/<NAME>.<PROFILE>.json (+ .log, the terminal output). PY needs the model's
# package (chgnet, sevenn) and pytest-lips; SevenNet needs its own environment (examples/studies/README.md,
# Study 2). reference_data/protocols holds no tests, so only the plugin's items are collected.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/work/venv-sevenn/bin/python}
PROFILE=$1; shift
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
for pair in "$@"; do
    name=${pair%%=*}; spec=${pair#*=}
    out="examples/argyrodite/$name.$PROFILE"
    echo "== $name $PROFILE: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s)
    nice -n 10 "$PY" -m pytest -m lips -p no:cacheprovider reference_data/protocols --lips-model="$spec" \
        --lips-reference=li6ps5cl-open-pbesol --lips-profile="$PROFILE" --lips-offline --lips-energy-offset=auto \
        --lips-report="$out.json" > "$out.log" 2>&1
    rc=$?
    echo "== $name $PROFILE: exit $rc, $(( $(date +%s) - start )) s wall, end $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
done
