"""Every field of the pipeline, suite, world-model and policy configs checked for type and range before any
work: a count of zero where zero makes no sense, a negative size, an empty seed list or an unknown name
fails as one `ConfigError` naming the field, instead of a stage that trains for an hour and then crashes, or
silently does nothing.

Each config has a table {field path: rule}; a rule returns what is wrong with a value, or None. The tables
cover every field the config files define (tests/test_config_rules.py checks that, so a new field needs a
rule). Cross-field limits (a chunk executed past its horizon, held-out episodes that leave none to train on)
are checked where both fields are known (`check_stage`, `task_pipeline.plan`).
"""
from __future__ import annotations

import numbers

from glam_jax.configs import ConfigError


def _is_int(v) -> bool:
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def integer(low=None, high=None):
  def rule(v):
    if not _is_int(v):
      return f'must be an integer, got {v!r}'
    if low is not None and v < low:
      return f'must be at least {low}, got {v}'
    if high is not None and v > high:
      return f'must be at most {high}, got {v}'
  return rule


def number(low=None, high=None, open_low=False, open_high=False):
  def rule(v):
    if not isinstance(v, numbers.Real) or isinstance(v, bool):
      return f'must be a number, got {v!r}'
    if v != v or v in (float('inf'), float('-inf')):
      return f'must be finite, got {v}'
    if low is not None and (v <= low if open_low else v < low):
      return f'must be {"above" if open_low else "at least"} {low}, got {v}'
    if high is not None and (v >= high if open_high else v > high):
      return f'must be {"below" if open_high else "at most"} {high}, got {v}'
  return rule


def flag(v):
  if not isinstance(v, bool):
    return f'must be True or False, got {v!r}'


def text(v):
  if not isinstance(v, str):
    return f'must be a string, got {v!r}'


def choice(options, noun: str = ''):
  """One of `options` (a tuple, or a function returning one: the modules that define them load late); with
  a `noun`, the error reads 'unknown NOUN ...; valid NOUNs: ...'."""
  def rule(v):
    valid = tuple(options() if callable(options) else options)
    if not isinstance(v, str) or v not in valid:
      if noun:
        return f'unknown {noun} {v!r}; valid {noun}s: {", ".join(map(str, valid))}'
      return f'must be one of {", ".join(map(str, valid))}; got {v!r}'
  return rule


def sequence(item, min_len=0, unique=False):
  """A tuple or list of items each passing `item`; a string entry 'a,b' counts as two (as a command line
  gives lists)."""
  def rule(v):
    if isinstance(v, str):
      v = (v,)
    if not isinstance(v, (tuple, list)):
      return f'must be a list, got {v!r}'
    v = tuple(p for x in v for p in (x.split(',') if isinstance(x, str) else (x,)) if p != '')
    if len(v) < min_len:
      return f'must hold at least {min_len} entr{"y" if min_len == 1 else "ies"}, got {tuple(v)!r}'
    if unique and len(set(v)) != len(v):
      return f'names an entry twice: {tuple(v)!r}'
    for x in v:
      problem = item(x)
      if problem:
        return problem if problem.startswith('unknown') else f'entry {x!r} {problem}'
  return rule


def mapping(keys, noun: str, value):
  """A ConfigDict or dict from names in `keys` (each a `noun`) to values passing `value`."""
  def rule(v):
    if not hasattr(v, 'items'):
      return f'must be a mapping, got {v!r}'
    for k, x in v.items():
      problem = choice(keys, noun)(k)
      if problem:
        return problem
      problem = value(x)
      if problem:
        return f'entry {k!r} {problem}'
  return rule


def anything(v):
  """Checked elsewhere, as a whole (the pipeline's world-model and policy overrides: on the stage configs)."""


# the names each choice draws from, loaded when checked (config files load before MuJoCo and the models)
def _tasks():
  from glam_jax.sim.tasks import TASKS
  return tuple(TASKS)


def _methods():
  from glam_jax import methods
  return tuple(methods.METHODS)


def _sources():
  from glam_jax.demos.generate import SOURCES
  return tuple(SOURCES)


def _backends():
  from glam_jax.sim.backends import CHOICES
  return CHOICES


def level(v):
  from glam_jax.demos import heterogeneity
  try:
    heterogeneity.check_level(v)
  except ValueError as e:
    return str(e)


def _from(module: str, name: str):
  def options():
    import importlib
    return getattr(importlib.import_module(module), name)
  return options


def _learners():
  return tuple(_from('glam_jax.stage1.experiment', 'LEARNERS')())


COUNT = integer(low=1)
SIZE = integer(low=1, high=1 << 16)
SEED = integer(low=0, high=2**31 - 1)
WEIGHT = number(low=0)
RATE = number(low=0, high=1, open_low=True, open_high=True)
NAMES_OF = lambda options, noun, min_len=1: sequence(choice(options, noun), min_len=min_len, unique=True)  # noqa: E731
SHAPES = sequence(SIZE, min_len=1)

# the training loop's fields (configs.add_training_loop), in every trained model's config
TRAINING = {
    'task': choice(_tasks, 'task'), 'method': choice(_methods, 'method'), 'data_dir': text, 'target': choice(_sources, 'source'),
    'sources': mapping(_sources, 'source', number(low=0, open_low=True)), 'image_keys': sequence(text, min_len=1, unique=True),
    'ee_tilt': flag, 'action_space': choice(_from('glam_jax.data.action_space', 'SPACES')),
    'seed': SEED, 'num_seeds': COUNT, 'sweep': text, 'batch_size': SIZE, 'num_steps': COUNT,
    'optimizer.learning_rate': number(low=0, open_low=True), 'optimizer.warmup_steps': integer(low=0),
    'optimizer.weight_decay': WEIGHT, 'optimizer.grad_clip': number(low=0, open_low=True),
    'optimizer.ema_rate': RATE,
    'log_every': COUNT, 'eval_every': COUNT, 'eval_batches': COUNT, 'eval_episodes': integer(low=0),
    'checkpoint_every': COUNT, 'keep_checkpoints': COUNT, 'num_workers': integer(low=0, high=64),
    'prefetch': integer(low=1, high=64),
}

WORLD_MODEL = {
    **TRAINING, 'learner': choice(_learners),
    'model.state_dim': SIZE, 'model.width': SIZE, 'model.conv_features': SHAPES, 'model.decoder_layers': COUNT,
    'model.latent_dim': SIZE, 'model.idm_blocks': COUNT, 'model.action_encoder_blocks': COUNT,
    'model.forward_blocks': COUNT, 'model.proprio_blocks': COUNT, 'model.token_dim': SIZE,
    'model.num_tokens': SIZE, 'model.codebook_size': integer(low=2, high=1 << 16),
    'model.latent_input': choice(_from('glam_jax.models.latent_action_models', 'LAPA_INPUTS')),
    'model.probe_state': flag,
    'loss.align_weight': WEIGHT, 'loss.prior_weight': WEIGHT,
    'loss.alignment': choice(_from('glam_jax.stage1.glam', 'ALIGNMENTS')),
    'loss.action_loss_on': choice(_from('glam_jax.stage1.glam', 'ACTION_LOSS_ON')),
    'loss.stop_grad_next_state': flag, 'loss.action_weight': WEIGHT, 'loss.action_every': COUNT,
    'loss.stochastic': flag, 'loss.probe_weight': WEIGHT, 'loss.revival_weight': WEIGHT,
    'frame_gap_s': number(low=0, high=60),
}

POLICY = {
    **TRAINING, 'label': choice(_from('glam_jax.stage2.latent_bc', 'LABELS')), 'world_model_dir': text,
    'init_from': text, 'init_from_key': text,
    'state_input': choice(_from('glam_jax.stage2.latent_bc', 'STATE_INPUTS')), 'horizon': SIZE,
    'execute_steps': COUNT, 'action_weight': WEIGHT,
    'loss.step_weights': choice(_from('glam_jax.stage2.latent_bc', 'STEP_WEIGHTS')),
    'loss.dim_reduction': choice(_from('glam_jax.stage2.latent_bc', 'DIM_REDUCTIONS')),
    'loss.scale': number(low=0, open_low=True),
    'model.encoder_features': SHAPES, 'model.encoder_dim': SIZE, 'model.projection_width': SIZE,
    'model.view_embedding': SIZE, 'model.head_layers': COUNT, 'model.head_width': SIZE, 'model.head_residual': flag,
    'model.head_dropout': number(low=0, high=1, open_high=True), 'model.decoder_layers': COUNT,
    'model.decoder_width': SIZE, 'model.decoder_context': flag, 'model.t_star': RATE,
    'lawm.latent_dim': SIZE, 'lawm.future_frames': COUNT, 'lawm.future_start': choice(('first', 'random')),
    'lawm.model.state_dim': SIZE, 'lawm.model.width': SIZE, 'lawm.model.conv_features': SHAPES,
    'lawm.model.forward_blocks': COUNT,
}

PIPELINE = {
    'task': choice(_tasks, 'task'), 'data_dir': text, 'datasets': text,
    'episodes': mapping(_sources, 'source', integer(low=0, high=1_000_000)),
    'image_size': integer(low=8, high=512), 'methods': NAMES_OF(_methods, 'method'),
    'world_model_arg': choice(('', 'cpu', 'tiny')), 'policy_arg': choice(('', 'cpu', 'tiny')),
    'world_model': anything, 'policy': anything, 'seeds': sequence(SEED, min_len=1, unique=True),
    'sweep': text, 'runs_in_one_program': choice(('auto', 'on', 'off')), 'trials': COUNT,
    'backend': choice(_backends, 'physics backend'), 'heterogeneity': level,
    'source_style': text, 'world_model_views': choice(('shared', 'target')), 'eval_seed': SEED,
    'eval_chunk': integer(low=1, high=1 << 16), 'gifs': integer(low=0, high=64),
    'replay_episodes': integer(low=0, high=100_000), 'replay_sources': NAMES_OF(_sources, 'source', min_len=0),
    'probe_episodes': lambda v: integer(low=0, high=100_000)(v) or (
        f'must be 0 (no probe) or at least 2, got {v}' if v == 1 else None),
}

SUITE = {
    'preset': text, 'tasks': NAMES_OF(_tasks, 'task', min_len=0), 'reference': choice(_methods, 'method'),
    'methods': NAMES_OF(_methods, 'method'), 'one_seed_methods': NAMES_OF(_methods, 'method', min_len=0),
    'only_on': mapping(_methods, 'method', NAMES_OF(_tasks, 'task')), 'seeds': sequence(SEED, min_len=1, unique=True),
    'trials': COUNT,
    'scaling.task': choice(lambda: ('', *_tasks())), 'scaling.target': sequence(COUNT, min_len=1, unique=True),
    'scaling.base_target': COUNT, 'scaling.aux': sequence(integer(low=0), min_len=1, unique=True),
    'scaling.full_aux': integer(low=0), 'scaling.seeds': sequence(SEED, unique=True),
    'third_source.tasks': NAMES_OF(_tasks, 'task', min_len=0), 'third_source.episodes': COUNT,
    'heterogeneity.tasks': NAMES_OF(_tasks, 'task', min_len=0),
    'heterogeneity.levels': sequence(level, min_len=1, unique=True),
    'heterogeneity.methods': NAMES_OF(_methods, 'method'),
    'resources.cpus': number(low=0, open_low=True), 'resources.gpus': number(low=0), 'grid': text,
    **{f'pipeline.{k}': rule for k, rule in PIPELINE.items()},
}

RULES = {'pipeline': PIPELINE, 'suite': SUITE, 'world_model': WORLD_MODEL, 'policy': POLICY}


def leaves(config, rules: dict, prefix: str = '') -> dict:
  """{dotted path: value} of every field of `config`; a field whose rule takes the whole value (a mapping)
  is one leaf."""
  out = {}
  for k, v in config.items():
    path = prefix + k
    if hasattr(v, 'items') and path not in rules:
      out.update(leaves(v, rules, path + '.'))
    else:
      out[path] = v
  return out


def unchecked(config, kind: str) -> list:
  """The fields of `config` that no rule of `kind` covers (the tests keep this empty)."""
  return [p for p in leaves(config, RULES[kind]) if p not in RULES[kind]]


def check(config, kind: str, where: str = '') -> None:
  """Raises ConfigError for the first field of `config` whose value breaks its rule of `kind` ('pipeline',
  'suite', 'world_model', 'policy'), naming the field and, as `where`, whose config it is."""
  rules = RULES[kind]
  for path, value in leaves(config, rules).items():
    rule = rules.get(path)
    problem = rule(value) if rule else None
    if problem:
      sep = ': ' if problem.startswith(('unknown', 'key', 'entry')) else ' '
      raise ConfigError(f'{where + ": " if where else ""}{path}{sep}{problem}')


def check_stage(config, kind: str, where: str, episodes: dict | None = None) -> None:
  """`check` plus the limits between fields of a world-model or policy config: a chunk executed within its
  horizon, LAWM's future frames within it, and (given the recipe's `episodes` per source) held-out episodes
  that leave some of every source to train on."""
  check(config, kind, where)
  if kind == 'policy' and config.execute_steps > config.horizon:
    raise ConfigError(f'{where}: execute_steps={config.execute_steps} is more than the predicted horizon='
                      f'{config.horizon}')
  if kind == 'policy' and 'lawm' in config and config.lawm.future_frames > config.horizon:
    raise ConfigError(f'{where}: lawm.future_frames={config.lawm.future_frames} is more than the horizon='
                      f'{config.horizon}')
  for source in config.sources:
    n = (episodes or {}).get(source)
    if n is not None and config.eval_episodes >= n:
      raise ConfigError(f'{where}: eval_episodes={config.eval_episodes} holds out every one of the {n} '
                        f'{source} episodes; nothing is left to train on')
