#!/usr/bin/env bash
# Study 1: the example model's recipe (examples/README.md, two steps) at radial cutoffs 3, 4, 6 A.
# The 5 A model is the shipped examples/lips-example-model.pt (same recipe, same data: see README here).
#
#   bash examples/studies/cutoff/train_sweep.sh 3 4 6      # from the repository root: the full recipe
#   STEP1_EPOCHS=16 STEP2_EPOCHS=20 bash examples/studies/cutoff/train_sweep.sh 3 4 5 6   # the reduced recipe
#
# Full recipe: step 1 80 epochs, step 2 100 epochs (~25 CPU-min per cutoff on an idle core; the 5 A model
# is then the shipped one). Reduced recipe (what this study ran, README here): the same two steps, data,
# seeds, batch size, learning rates and loss weights with 1/5 of the epochs (the linear LR decay spans the
# shorter run), for all four cutoffs including 5 A. Models go to models/e<STEP1>-<STEP2>/.
#
# Step 2's data is lips_open.extxyz as it was when the shipped model was trained (commit 0b03b58's parent:
# 111 train / 14 validation / 27 test frames); the file has grown since (crystals the shipped model never
# saw on purpose), so the sweep takes that state from git history to keep "same data" exact.
# --max-minutes 1000: every model gets the recipe's full epoch count (the default 22-min cap would cut
# epochs on a loaded machine, and at a different epoch for each cutoff).
set -euo pipefail
cd "$(dirname "$0")/../../.."
E1=${STEP1_EPOCHS:-80}
E2=${STEP2_EPOCHS:-100}
OUT=examples/studies/cutoff/models/e$E1-$E2
mkdir -p "$OUT"
DATA152="$OUT/lips_open_152frames.extxyz"   # not committed (git show regenerates it)
git show 4966217716a1cef6896bad889cb48125ab2c91e7:reference_data/pack/data/lips_open.extxyz > "$DATA152"
for c in "$@"; do
    echo "== cutoff $c A: step 1 (distil CHGNet) $(date -u +%FT%TZ)"
    nice -n 5 python examples/train_example_model.py --data fixtures/data/chgnet_lips_frames.extxyz \
        --cutoff "$c" --epochs "$E1" --out "$OUT/distilled-c$c.pt" --max-minutes 1000 > "$OUT/distilled-c$c.train.log" 2>&1
    echo "== cutoff $c A: step 2 (fine-tune on PBEsol) $(date -u +%FT%TZ)"
    nice -n 5 python examples/train_example_model.py --init "$OUT/distilled-c$c.pt" --data "$DATA152" \
        --epochs "$E2" --force-weight 1.0 --lr 2e-3 --out "$OUT/cutoff-c$c.pt" --max-minutes 1000 \
        > "$OUT/cutoff-c$c.train.log" 2>&1
    echo "== cutoff $c A: done $(date -u +%FT%TZ)"
done
