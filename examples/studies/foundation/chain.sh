#!/usr/bin/env bash
# Study 2 as run here (one process at a time): wait for PID (the zero-shot Task 2 runs), fine-tune CHGNet
# (seed 0), its Task 2, then its Task 1 (zero-shot Task 1 of CHGNet ran before: run.sh task1 chgnet).  Usage: chain.sh PID
set -uo pipefail
cd "$(dirname "$0")/../../.."
PY=${PY:-/work/venv-sevenn/bin/python}
while kill -0 "$1" 2>/dev/null; do sleep 20; done
mkdir -p examples/studies/foundation/models
echo "== fine-tune CHGNet seed 0: start $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
nice -n 5 "$PY" examples/studies/foundation/finetune_chgnet.py --seed 0 --epochs 30 \
    > examples/studies/foundation/models/chgnet-ft-s0.log 2>&1
echo "== fine-tune CHGNet seed 0: exit $?, end $(date -u +%FT%TZ)"
bash examples/studies/foundation/run.sh task2 chgnet_ft_s0
bash examples/studies/foundation/run.sh task1 chgnet_ft_s0
