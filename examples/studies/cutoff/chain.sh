#!/usr/bin/env bash
# Study 1, as run on the loaded 2-core machine: for one cutoff, wait for its step-1 training (PID) to end,
# then step 2 and the ci Tasks 1 and 2 (the cheap, gated, non-MD part), then Task 4 and Task 3 if time
# allows; each result is on disk as soon as it exists.  Usage: chain.sh CUTOFF PID_OF_STEP1 [TASKS...]
set -uo pipefail
cd "$(dirname "$0")/../../.."
c=$1; pid=$2; shift 2
E1=${STEP1_EPOCHS:-16}; E2=${STEP2_EPOCHS:-20}
OUT=examples/studies/cutoff/models/e$E1-$E2
while kill -0 "$pid" 2>/dev/null; do sleep 20; done
echo "== cutoff $c A: step 2 (fine-tune on PBEsol) $(date -u +%FT%TZ)"
[ -f "$OUT/lips_open_152frames.extxyz" ] || git show 4966217716a1cef6896bad889cb48125ab2c91e7:reference_data/pack/data/lips_open.extxyz > "$OUT/lips_open_152frames.extxyz"
nice -n 5 python examples/train_example_model.py --init "$OUT/distilled-c$c.pt" --data "$OUT/lips_open_152frames.extxyz" \
    --epochs "$E2" --force-weight 1.0 --lr 2e-3 --out "$OUT/cutoff-c$c.pt" --max-minutes 1000 > "$OUT/cutoff-c$c.train.log" 2>&1
echo "== cutoff $c A: step 2 done $(date -u +%FT%TZ)"
for tasks in "${@:-task1,task2}"; do
    RECIPE=e$E1-$E2 bash examples/studies/cutoff/run_ci.sh "$tasks" "$c"
done
