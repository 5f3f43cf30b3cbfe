#!/usr/bin/env bash
# Creates or reuses .venv, installs everything, runs the test suite (two workers: MJX compiles dominate).
# Extra arguments go to pytest, e.g. `bash tools/test.sh tests/sim -k camera` or `-m slow`.
source "$(dirname "$0")/_venv.sh"
exec python -m pytest -n "${GLAM_TEST_WORKERS:-2}" "$@"
