#!/usr/bin/env bash
# Study 1 as re-run on 2026-12-07 (the e16-20 models of the first run were lost with their worktree):
# one heavy process at a time on the shared 2-core machine. Models are written through symlinks to
# /work/study-models/e16-20/ (outside the worktree) and copied there again after each step.
#   bash examples/studies/cutoff/queue27.sh STEP...   STEP = train:C | ci:TASKS:C
set -uo pipefail
cd "$(dirname "$0")/../../.."
M=examples/studies/cutoff/models/e16-20
for step in "$@"; do
    kind=${step%%:*}; rest=${step#*:}
    echo "#### $step start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
    s=$(date +%s)
    case $kind in
        train) STEP1_EPOCHS=16 STEP2_EPOCHS=20 bash examples/studies/cutoff/train_sweep.sh "$rest" ;;
        ci) RECIPE=e16-20 bash examples/studies/cutoff/run_ci.sh "${rest%%:*}" "${rest#*:}" ;;
    esac
    for f in "$M"/*.pt; do [ -L "$f" ] || cp -p "$f" /work/study-models/e16-20/; done
    echo "#### $step end $(date -u +%FT%TZ) $(( $(date +%s) - s )) s load $(cut -d' ' -f1-3 /proc/loadavg)"
done
