"""Two library notices the project triggers by choice, kept out of normal runs; anything else still shows.

- MuJoCo MJX prints "Failed to import warp" and "... mujoco_warp" on its first import: warp is its NVIDIA
  GPU backend, which this project does not use. Importing this module imports MJX with those two lines
  dropped (any other line it prints is printed again).
- Grain warns on import that profiling its worker processes needs jaxlib >= 0.11; jax is pinned to 0.6.2
  for MJX's CPU speed (README "Versions"). A filter on absl's logger drops that one warning.

Import it before `mujoco.mjx` or `grain` (glam_jax/sim/env.py, sim/native_env.py, demos/ik.py,
data/pipeline.py, train/checkpoint.py do).
"""
from __future__ import annotations

import contextlib
import io
import logging

MJX_NOTICES = ('Failed to import warp:', 'Failed to import mujoco_warp:')
GRAIN_NOTICE = 'Grain multiprocess worker profiling requires'


class _DropGrainProfilingNotice(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(GRAIN_NOTICE)


def _install() -> None:
  absl_logger = logging.getLogger('absl')
  if not any(isinstance(f, _DropGrainProfilingNotice) for f in absl_logger.filters):
    absl_logger.addFilter(_DropGrainProfilingNotice())
  printed = io.StringIO()
  with contextlib.redirect_stdout(printed):
    import mujoco.mjx  # noqa: F401
  for line in printed.getvalue().splitlines():
    if not line.startswith(MJX_NOTICES):
      print(line)


_install()
