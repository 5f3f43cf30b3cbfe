# Sourced by quickstart.sh and test.sh: creates or reuses .venv and installs the pinned requirements
# (once per change of requirements.txt / setup.cfg).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
want=$(cat requirements.txt setup.cfg setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.installed 2>/dev/null || true)" != "$want" ]; then
  echo "installing requirements into .venv (first run takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  echo "$want" > .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
