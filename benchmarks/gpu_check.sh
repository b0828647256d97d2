#!/usr/bin/env bash
# GPU check of the MD engines (prepared for a machine with one NVIDIA GPU; not run in CI).
#
#   bash benchmarks/gpu_check.sh            # from the repository root
#   WHEELHOUSE=/path/to/wheels bash benchmarks/gpu_check.sh   # offline: install from local wheels only
#
# Installs pytest-lips with the torch-sim extra into a fresh venv (.venv-gpu; a CUDA build of torch,
# TORCH_SPEC to change it), then at paper sizes (Task 3: 15 x 672 atoms; Task 4: one temperature x
# every pressure, 1008 atoms) runs the same jobs with sequential ASE and with the batched torch-sim
# engine for STEPS steps (default 200), for the shipped example model and for an untrained MACE-sized
# graph-pes model (128 channels, l_max 3, 2 layers), and prints the atom-steps/s, the ratio torch-sim /
# ASE (last line of each block) and the extrapolated wall time of paper Task 3 and Task 4 on this GPU.
# Budget: about 5-8 minutes on an H100/H200 class GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${STEPS:-200}"
PY="${PYTHON:-$(command -v python3.12 || command -v python3)}"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "gpu_check: need Python >= 3.12 (torch-sim)" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || { echo "gpu_check: no NVIDIA GPU visible" >&2; exit 2; }

"$PY" -m venv .venv-gpu
# shellcheck disable=SC1091
. .venv-gpu/bin/activate
PIP=(python -m pip install -q)
if [ -n "${WHEELHOUSE:-}" ]; then PIP+=(--no-index --find-links "$WHEELHOUSE"); fi
"${PIP[@]}" --upgrade pip
"${PIP[@]}" "${TORCH_SPEC:-torch==2.13.0}"
"${PIP[@]}" -e ".[torch-sim]"
python -c "import torch, torch_sim; assert torch.cuda.is_available(), 'torch has no CUDA'; print('torch', torch.__version__, 'on', torch.cuda.get_device_name(0), '| torch-sim', torch_sim.__version__)"

for model in examples/lips-example-model.pt mace-sized; do
    echo "=== $model ==="
    timeout 900 python benchmarks/md_engines.py --sizes paper --paper-steps "$STEPS" --device cuda --model "$model" --threads 4
done
