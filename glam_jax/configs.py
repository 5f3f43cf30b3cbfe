"""Config plumbing: loads an `experiments/configs/NAME.py` config file by name, as `--config=FILE:ARG` does
on a command line, for code that builds configs without absl flags (tests, the pipeline runner); parses
the `TASK[,OPTION...]` argument every config file takes; sets the training-loop fields every trained
model's config shares."""
from __future__ import annotations

import importlib.util
import os



class ConfigError(ValueError):
  """A config that cannot work (unknown key, impossible combination), found before the job starts."""


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
  try:
    task, opts = get_task(parts[0]).name, set(parts[1:])
  except ValueError as e:
    raise ConfigError(str(e)) from None
  unknown = opts - set(options)
  if unknown:
    raise ConfigError(f'unknown option(s) {sorted(unknown)}; valid: {", ".join(options)}')
  return task, opts


def add_training_loop(c, cpu: bool = False) -> None:
  """The fields `glam_jax.train.loop` reads, at paper scale or (`cpu`) sized for a 2-core CPU: AdamW 3e-4
  with 500 warm-up steps and cosine decay, batch 256, 20,000 steps, 2 Grain workers; `cpu`: 1e-3, 100, batch
  64, 2,000, no workers."""
  import ml_collections
  c.seed = 0
  c.num_seeds = 1                # > 1: that many seeds in one compiled program (glam_jax.train.sweep)
  c.sweep = ''                   # 'FIELD=V1,V2,...': also sweep one scalar in that program, e.g. optimizer.learning_rate
  c.batch_size = 64 if cpu else 256
  c.num_steps = 2000 if cpu else 20_000
  c.optimizer = ml_collections.ConfigDict(dict(learning_rate=1e-3 if cpu else 3e-4, warmup_steps=100 if cpu else 500,
                                               weight_decay=1e-4, grad_clip=1.0))
  c.log_every = 50
  c.eval_every = 500 if cpu else 1000
  c.eval_batches = 4
  c.eval_episodes = 5            # per source, held out of training
  c.checkpoint_every = 500 if cpu else 1000
  c.keep_checkpoints = 3
  # Grain worker processes. On the 2-core CPU they take cores from the training step: reading in the main
  # process trains the cpu-size world model at 10.7-11.0 steps/s against 9.1-9.5 with 2 workers, the policy
  # at 19.0 against 16.7-17.4 (tools/bench_train.py, stage-1 and -2 lift data)
  c.num_workers = 0 if cpu else 2
  c.prefetch = 2


# the method arguments whose configs hold, together, every field a stage config can have
STAGE_VARIANTS = {'world_model': ('glam', 'clam', 'lapa'), 'policy': ('glam_o', 'lawm', 'lawm,pretrain')}


def override_skeleton(name: str, task: str) -> 'ml_collections.ConfigDict':
  """Every field of stage config `name` ('world_model' or 'policy') of any method on `task`, unset (None, of
  the field's type): a pipeline's overrides of a stage config, so that
  `--config.world_model.optimizer.learning_rate=1e-3` parses with its field's type and a misspelt field is
  refused by the flag parser."""
  import ml_collections
  from ml_collections import config_dict

  def merge(into, config):
    for k, v in config.items():
      if hasattr(v, 'items'):
        if k not in into:
          into[k] = ml_collections.ConfigDict()
        merge(into[k], v)
      elif k not in into:
        into[k] = config_dict.placeholder(type(v))
  out = ml_collections.ConfigDict()
  for variant in STAGE_VARIANTS[name]:
    merge(out, load(name, f'{task},{variant}'))
  return out


def set_fields(overrides, prefix: str = '', keep_unset: bool = False) -> dict:
  """{'a.b': value} of the fields of `overrides` (an override skeleton, or a plain mapping) that are set
  (`keep_unset`: every field)."""
  out = {}
  for k, v in overrides.items():
    if hasattr(v, 'items'):
      out.update(set_fields(v, f'{prefix}{k}.', keep_unset))
    elif v is not None or keep_unset:
      out[prefix + k] = v
  return out


def only_set(overrides):
  """The set fields of an override skeleton, nested as they are: what identifies the overrides (a hash of
  the whole skeleton would change whenever a config file gains a field)."""
  import ml_collections
  out = ml_collections.ConfigDict()
  for k, v in overrides.items():
    if hasattr(v, 'items'):
      v = only_set(v)
      if len(v):
        out[k] = v
    elif v is not None:
      out[k] = v
  return out


def apply_overrides(config, overrides: dict, skip_missing: bool = False) -> None:
  """Sets `{'a.b': value}` fields of an ml_collections config (nested mappings are flattened first; unset
  fields of an override skeleton are left out); a key the config lacks is an error naming the keys it has,
  or (`skip_missing`) is left out."""
  for dotted, value in set_fields(overrides).items():
    *path, leaf = dotted.split('.')
    node = config
    for p in path:
      if p not in node:
        if skip_missing:
          break
        raise ConfigError(f'unknown config key {dotted!r}: no {p!r} (has {sorted(node.keys())})')
      node = node[p]
    else:
      if leaf not in node:
        if skip_missing:
          continue
        raise ConfigError(f'unknown config key {dotted!r}; {".".join(path) or "the config"} has {sorted(node.keys())}')
      try:
        node[leaf] = value
      except TypeError as e:        # ConfigDict's type safety: a string for a number, a float for an int
        raise ConfigError(f'{dotted}={value!r}: {e}') from None


def check_image_size(config, image_size: int, where: str) -> None:
  """Every conv stack in `config` (`conv_features` of the world model and LAWM's frame model, the policy's
  `encoder_features`) can halve `image_size` once per layer: checked when a job starts, not when its
  networks are built after the data is generated."""
  from glam_jax.models import layers
  for key, value in config.items():
    if key in ('conv_features', 'encoder_features'):
      try:
        layers.check_image_size(image_size, len(value))
      except ValueError as e:
        raise ConfigError(f'{where}: {e} ({key}={tuple(value)})') from None
    elif hasattr(value, 'items'):
      check_image_size(value, image_size, where)
