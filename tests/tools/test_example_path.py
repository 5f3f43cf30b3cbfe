"""The README's end-to-end path on example files runs as written: the bash block under "End to end on example
files", run with its outputs in a temporary directory and a free port."""
import os
import re
import socket
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _block() -> str:
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = f.read()
  section = text[text.index('### End to end on example files'):]
  return re.search(r'```bash\n(.*?)```', section, re.S).group(1)


def test_readme_example_path(tmp_path):
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  env = {**os.environ, 'OUT': str(tmp_path / 'example'), 'PORT': str(port), 'JAX_PLATFORMS': 'cpu',
         'PATH': os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ['PATH']}
  run = subprocess.run(['bash', '-euo', 'pipefail', '-c', _block()], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
  assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
  assert "chunk from the server: (4, 7) health: {'status': 'ok'" in run.stdout, run.stdout[-3000:]
  assert os.path.exists(tmp_path / 'example' / 'policy' / 'offline' / 'results.json')
