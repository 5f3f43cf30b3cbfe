#!/usr/bin/env bash
# The main job on a fresh machine: creates .venv, installs, runs it. Until the learning pipeline exists,
# the main job is a batched closed-loop simulator rollout that writes pictures of itself.
source "$(dirname "$0")/_venv.sh"
exec python tools/sim_rollout.py --out_dir="${OUT_DIR:-runs/quickstart}" "$@"
