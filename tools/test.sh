#!/usr/bin/env bash
# Creates or reuses .venv, installs everything, runs the test suite (two workers: MJX compiles dominate).
# Extra arguments go to pytest, e.g. `bash tools/test.sh tests/sim -k camera` or `-m slow`.
source "$(dirname "$0")/_venv.sh"
# the optional Ray executor's tests need Ray (the quickstart does not install it)
want_ray=$(sha256sum requirements-ray.txt | cut -d' ' -f1)
if [ "$(cat .venv/.installed-ray 2>/dev/null || true)" != "$want_ray" ]; then
  echo "installing requirements-ray.txt into .venv (the Ray executor's tests)"
  .venv/bin/python -m pip install -q -r requirements-ray.txt
  echo "$want_ray" > .venv/.installed-ray
fi
exec python -m pytest -n "${GLAM_TEST_WORKERS:-2}" "$@"
