"""Config plumbing: loads an `experiments/configs/NAME.py` config file by name, as `--config=FILE:ARG` does
on a command line, for code that builds configs without absl flags (tests, the pipeline runner); and
parses the `TASK[,OPTION...]` argument every config file takes."""
from __future__ import annotations

import importlib.util
import os

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'experiments', 'configs')


def load(name: str, arg: str = ''):
  """`get_config(arg)` of experiments/configs/`name`.py."""
  path = os.path.join(CONFIG_DIR, f'{name}.py')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: no such config file')
  spec = importlib.util.spec_from_file_location(f'glam_configs_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def parse_arg(arg: str, options) -> tuple:
  """'TASK,OPT,...' -> (task, {options}); unknown tasks or options fail with the valid names."""
  from glam_jax.sim.tasks import get_task      # deferred: config loading should not import MuJoCo eagerly
  parts = [p for p in (arg or 'lift').split(',') if p]
  task, opts = get_task(parts[0]).name, set(parts[1:])
  unknown = opts - set(options)
  if unknown:
    raise ValueError(f'unknown option(s) {sorted(unknown)}; valid: {", ".join(options)}')
  return task, opts
