"""A normal import of the project's simulator and data pipeline prints neither MJX's warp notice nor Grain's
profiling warning, and other warnings still show."""
import subprocess
import sys

PROBE = r'''
from absl import logging
import glam_jax.sim.env, glam_jax.data.pipeline
logging.warning('Grain multiprocess worker profiling requires a newer jaxlib (a repeat of the notice)')
logging.warning('a real problem stays visible')
'''


def test_two_notices_dropped_and_the_rest_kept():
  run = subprocess.run([sys.executable, '-c', PROBE], capture_output=True, text=True, check=True, timeout=300)
  out = run.stdout + run.stderr
  assert 'Failed to import warp' not in out and 'Failed to import mujoco_warp' not in out, out
  assert 'Grain multiprocess worker profiling' not in out, out
  assert 'a real problem stays visible' in out, out
