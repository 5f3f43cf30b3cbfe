"""Every config field has a rule, and planning a run from any override (valid or not) either plans or raises
the config error: no other exception, nothing written (glam_jax/config_rules.py)."""
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glam_jax import config_rules, configs, methods
from glam_jax.configs import ConfigError
from glam_jax.experiments import suite, task_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _variants():
  yield 'pipeline', [configs.load('pipeline', a) for a in ('lift', 'lift,smoke', 'stack_three,paper')]
  yield 'suite', [configs.load('suite', p) for p in ('smoke', 'cpu', 'paper')]
  yield 'world_model', [configs.load('world_model', f'stack_three,{m}{o}') for m in methods.with_world_model()
                        for o in ('', ',cpu', ',tiny', ',second_arm')]
  yield 'policy', [configs.load('policy', f'lift,{m}{o}') for m in methods.METHODS
                   for o in ('', ',cpu', ',tiny', ',ee_only', *((',pretrain', ',pretrain,tiny') if methods.get(m).pretrain else ()))]


@pytest.mark.parametrize('kind, variants', list(_variants()), ids=lambda v: v if isinstance(v, str) else '')
def test_every_field_has_a_rule_and_the_defaults_pass_it(kind, variants):
  for c in variants:
    assert config_rules.unchecked(c, kind) == []
    config_rules.check(c, kind)


@pytest.mark.parametrize('field, value, message', [
    ('trials', -5, 'trials must be at least 1, got -5'),
    ('seeds', (), 'seeds must hold at least 1 entry'),
    ('seeds', (0, 0), 'seeds names an entry twice'),
    ('eval_chunk', 0, 'eval_chunk must be at least 1, got 0'),
    ('gifs', -1, 'gifs must be at least 0, got -1'),
    ('replay_episodes', -3, 'replay_episodes must be at least 0'),
    ('image_size', 0, 'image_size must be at least 8'),
    ('replay_sources', ('umi', 'ufo'), "replay_sources: unknown source 'ufo'"),
    ('probe_episodes', 1, 'probe_episodes must be 0 (no probe) or at least 2, got 1'),
])
def test_the_issues_bad_values_are_refused_before_any_work(tmp_path, field, value, message):
  c = configs.load('pipeline', 'lift,smoke')
  c[field] = value
  with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
    task_pipeline.plan(c, str(tmp_path))
  assert os.listdir(tmp_path) == []


def test_stage_limits_between_fields(tmp_path):
  c = configs.load('pipeline', 'lift,smoke')
  c.policy.execute_steps = 9                     # the tiny policy predicts 4 steps
  with pytest.raises(ConfigError, match='policy of glam_o: execute_steps=9 is more than the predicted horizon=4'):
    task_pipeline.plan(c, str(tmp_path))
  c = configs.load('pipeline', 'lift,smoke')
  c.world_model.eval_episodes = 6                # of 6 episodes per source
  with pytest.raises(ConfigError, match='holds out every one of the 6 kinova episodes'):
    task_pipeline.plan(c, str(tmp_path))
  c = configs.load('pipeline', 'lift,smoke')
  c.world_model.loss.align_weight = -1.0          # GLAM's; a CLAM config has no such field and is not touched
  c.methods = ('clam_o', 'glam_o')
  with pytest.raises(ConfigError, match='world model of glam_o: loss.align_weight must be at least 0'):
    task_pipeline.plan(c, str(tmp_path))


def _fields(config, prefix=''):
  """Dotted paths of every leaf (mappings such as `episodes` and `sources` entry by entry)."""
  for k, v in config.items():
    if hasattr(v, 'items'):
      yield from _fields(v, f'{prefix}{k}.')
    else:
      yield prefix + k


BASE = configs.load('pipeline', 'lift,smoke')
PIPELINE_FIELDS = sorted(_fields(BASE))
NAMES = ['', 'x', 'glam_o', 'mip', 'kinova', 'umi', 'ufo', 'lift', 'mjx', 'native', 'shared', 'target', 'cpu', 'tiny',
         'random', 'delta', 'idm', 'latents', 'ee', 'overhead/rgb', 'front/mask', 'a=b', 'umi.pose.noise_pos=0.01',
         'umi.motion.speed=2', 'kinova.recording.views=wrist']
BY_TYPE = {
    int: st.one_of(st.integers(-2, 3), st.sampled_from([8, 16, 32, 64, 100, 10**7])),
    float: st.one_of(st.floats(-1, 2), st.sampled_from([0.0, 1.0, float('nan'), float('inf')])),
    bool: st.booleans(),
    str: st.sampled_from(NAMES),
    tuple: st.one_of(st.lists(st.integers(-2, 40), max_size=4).map(tuple),
                     st.lists(st.sampled_from(NAMES), max_size=3).map(tuple)),
}
ANY = st.one_of(*BY_TYPE.values(), st.none())


def _type(config, path):
  *parents, leaf = path.split('.')
  node = config
  for p in parents:
    node = node[p]
  return node.get_ref(leaf).get_type()


def _values(config, path):
  """Values of the field's type (boundaries, names of every kind), and now and then any other."""
  return st.one_of(BY_TYPE.get(_type(config, path), ANY), ANY) if _type(config, path) in BY_TYPE else ANY


@st.composite
def _overrides(draw, config, fields):
  return [(f, draw(_values(config, f))) for f in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3))]


def _set(config, path, value) -> bool:
  """Sets a dotted field as the flag parser would; False where the config's own type check refuses it
  (the command line's error, tested in tests/tools/test_cli.py)."""
  *parents, leaf = path.split('.')
  node = config
  for p in parents:
    node = node[p]
  try:
    node[leaf] = value
  except (TypeError, ValueError):
    return False
  return True


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=_overrides(BASE, PIPELINE_FIELDS))
def test_any_override_plans_or_raises_the_config_error(tmp_path_factory, overrides):
  workdir = tmp_path_factory.mktemp('plan')
  c = configs.load('pipeline', 'lift,smoke')
  c.methods = ('glam_o', 'clam_o', 'lapa_o', 'lawm', 'mip')
  for path, value in overrides:
    _set(c, path, value)
  try:
    task_pipeline.plan(c, str(workdir / 'run'))
  except ConfigError:
    pass
  assert os.listdir(workdir) == []


SUITE = configs.load('suite', 'smoke')
SUITE_FIELDS = [f for f in _fields(SUITE) if not f.startswith('pipeline.')]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(override=_overrides(SUITE, SUITE_FIELDS))
def test_any_suite_override_plans_or_raises_the_config_error(tmp_path_factory, override):
  (path, value), *_ = override
  workdir = tmp_path_factory.mktemp('suite')
  sc = configs.load('suite', 'smoke')
  _set(sc, path, value)
  try:
    suite.cells_of(sc, str(workdir / 'run'))
  except ConfigError:
    pass
  assert os.listdir(workdir) == []


@pytest.mark.parametrize('args, expected', [
    (['--config=experiments/configs/pipeline.py:lfit'], "error: unknown task 'lfit'; valid tasks: lift"),
    (['--config=experiments/configs/pipeline.py:lift,smoke', '--config.seeds=()'], 'error: seeds must hold at least 1'),
    (['--config=experiments/configs/pipeline.py:lift', '--config.world_model.optimizer.learning_rate=-1.0'],
     'error: world model of glam_o: optimizer.learning_rate must be above 0'),
])
def test_command_line_errors_are_one_message(tmp_path, args, expected):
  workdir = tmp_path / 'run'
  run = subprocess.run([sys.executable, 'tools/run_pipeline.py', *args, f'--workdir={workdir}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 2 and run.stderr.startswith(expected), run.stderr[-2000:]
  assert 'Traceback' not in run.stderr and len(run.stderr.splitlines()) <= 2, run.stderr
  assert not workdir.exists()
