#!/usr/bin/env bash
# What ran on 2026-12-07 (session 14), one step after another beside the DFT job and Study 1's queue:
# re-make the lost CHGNet fine-tune (seed 0), its Tasks 1+2, the ci Task 3 of CHGNet zero-shot and
# fine-tuned, then SevenNet-0's Task 1. Log: foundation/queue.log.
set -uo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/venv-sevenn/bin/python}
D=examples/studies/foundation
echo "== finetune chgnet seed 0: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
s=$(date +%s)
nice -n 5 "$PY" $D/finetune_chgnet.py --seed 0 --epochs 30 > $D/models/chgnet-ft-s0.train.log 2>&1
echo "== finetune chgnet seed 0: exit $?, $(( $(date +%s) - s )) s wall; load $(cut -d' ' -f1-3 /proc/loadavg)"
PY=$PY bash $D/run.sh task1,task2 chgnet_ft_s0
PY=$PY bash $D/run.sh task3 chgnet chgnet_ft_s0
PY=$PY bash $D/run.sh task1 sevennet0
