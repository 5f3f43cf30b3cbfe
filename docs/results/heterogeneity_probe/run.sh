#!/usr/bin/env bash
# The alignment probe and latent replay of four latent methods' world models on lift, with the UMI source at
# heterogeneity levels 0 and 1 (glam_jax/demos/heterogeneity.py): cpu-preset world models, one seed each,
# MJX physics. World models only: no policies (the suite's heterogeneity section measures success).
#   bash docs/results/heterogeneity_probe/run.sh [RUN_DIR]    (default runs/heterogeneity_probe)
set -euo pipefail
cd "$(dirname "$0")/../../.."
run=${1:-runs/heterogeneity_probe}
py=${PYTHON:-.venv/bin/python}
for level in 0 1; do
  "$py" tools/generate_demos.py --task=lift --recipe --data_dir="$run/data_l$level" --level=$level
  keys=""
  [ "$level" -gt 0 ] && keys="--config.image_keys=('wrist/mask',)"     # the view every source stores
  for method in glam_o clam_o_aux clam_o lapa_o; do
    wm="$run/wm_l${level}_$method"
    "$py" tools/train_world_model.py --config=experiments/configs/world_model.py:lift,$method,cpu \
        --config.data_dir="$run/data_l$level" $keys --workdir="$wm"
    "$py" tools/alignment_probe.py --workdir="$wm" --sources=umi --episodes=100
    "$py" tools/latent_replay.py --workdir="$wm" --sources=umi,kinova --episodes=20 --level=$level
  done
done
"$py" docs/results/heterogeneity_probe/summarize.py "$run" --commit="$(git rev-parse --short HEAD)"
