#!/usr/bin/env bash
# The main job on a fresh machine: creates .venv, installs, and runs the whole pipeline on the lift task
# (data, GLAM-O world model, relabelling, GLAM-O policy and MIP baseline, evaluation, report) into
# runs/pipeline_lift. Extra arguments go to tools/run_pipeline.py.
source "$(dirname "$0")/_venv.sh"
exec python tools/run_pipeline.py "$@"
