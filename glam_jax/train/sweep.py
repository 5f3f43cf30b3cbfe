"""Several training runs in one compiled program: seeds, and values of one scalar hyper-parameter, stacked.

`--config.num_seeds=K` trains the runs of seeds `seed, seed + 1, ..., seed + K - 1`; `--config.sweep=
'optimizer.learning_rate=1e-3,3e-4'` also sweeps one scalar (every seed with every value). Each *member* is
exactly the run its own config describes (`member_config`): its own initialisation, step keys and data order,
so member i equals a separate run of that config up to float rounding. The loop vmaps one step over the
members (parameters stacked on a leading axis, sharded over a `sweep` mesh axis when devices allow) and
writes each member's metrics and checkpoints into its own run directory, which every tool reads like any
other run.

Sweepable fields: the optimiser's `learning_rate` and `weight_decay` (the optimiser is rebuilt inside the
step from traced values), and any float field of the learner's `loss` config (`loss.align_weight`, the KL
weight `loss.prior_weight`, ...) for learners with `with_loss_config`.
"""
from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import PartitionSpec

from glam_jax import configs
from glam_jax.train.sharding import SWEEP_AXIS

try:                                      # jax >= 0.7
  from jax import shard_map as _shard_map
except ImportError:
  from jax.experimental.shard_map import shard_map as _shard_map

OPTIMIZER_FIELDS = ('optimizer.learning_rate', 'optimizer.weight_decay')


@dataclasses.dataclass(frozen=True)
class Member:
  name: str            # its run directory under the sweep's workdir ('seed1', 'seed1-learning_rate0.0003')
  seed: int
  values: tuple = ()   # ((field, value), ...): the swept hyper-parameter's value for this member


def parse_sweep(spec: str) -> tuple:
  """'a.b=v1,v2' -> ('a.b', (v1, v2)); '' -> ('', ())."""
  if not spec:
    return '', ()
  field, sep, raw = spec.partition('=')
  if not sep or not raw:
    raise ValueError(f'sweep {spec!r}: expected FIELD=V1,V2,... (e.g. optimizer.learning_rate=1e-3,3e-4)')
  try:
    values = tuple(float(v) for v in raw.split(','))
  except ValueError:
    raise ValueError(f'sweep {spec!r}: the values must be numbers') from None
  if len(set(values)) != len(values):
    raise ValueError(f'sweep {spec!r}: a value is repeated')
  return field.strip(), values


def field_value(config, field: str):
  node = config
  for part in field.split('.'):
    if part not in node:
      raise ValueError(f'sweep field {field!r}: the config has no {part!r}')
    node = node[part]
  return node


def members(config) -> list:
  """The runs a config describes: one unless it sets `num_seeds` > 1 or a `sweep`."""
  k = int(config.get('num_seeds', 1))
  if k < 1:
    raise ValueError(f'num_seeds must be at least 1, got {k}')
  field, values = parse_sweep(config.get('sweep', ''))
  if field:
    if field not in OPTIMIZER_FIELDS and not field.startswith('loss.'):
      raise ValueError(f'sweep field {field!r} cannot be swept in one program; sweepable: '
                       f'{", ".join(OPTIMIZER_FIELDS)} and float fields of loss.*')
    current = field_value(config, field)
    if not isinstance(current, float):
      raise ValueError(f'sweep field {field!r} is {current!r}, not a float')
  seeds = [config.seed + i for i in range(k)]
  if not field:
    return [Member(f'seed{s}', s) for s in seeds] if k > 1 else [Member('', config.seed)]
  short = field.rsplit('.', 1)[-1]
  return [Member(f'seed{s}-{short}{v:g}', s, ((field, v),)) for s, v in itertools.product(seeds, values)]


def member_config(config, member: Member) -> ml_collections.ConfigDict:
  """The config of the separate run that `member` reproduces."""
  c = ml_collections.ConfigDict(config.to_dict())
  configs.apply_overrides(c, {'seed': member.seed, 'num_seeds': 1, 'sweep': '', **dict(member.values)})
  return c


def hyperparameters(group: list) -> dict:
  """{field: (K,) array of each member's value} for the swept field ({} when only seeds vary)."""
  fields = sorted({f for m in group for f, _ in m.values})
  return {f: jnp.asarray([dict(m.values)[f] for m in group], jnp.float32) for f in fields}


def with_hyperparameters(learner, values: dict):
  """The learner with the swept `loss.*` fields set to (traced) `values`."""
  loss = {f.split('.', 1)[1]: v for f, v in values.items() if f.startswith('loss.')}
  if not loss:
    return learner
  if not hasattr(learner, 'with_loss_config'):
    raise ValueError(f'{type(learner).__name__} has no with_loss_config: its loss fields cannot be swept')
  return learner.with_loss_config(loss)


def sweep_devices(num_members: int, num_devices: int) -> int:
  """How many devices the `sweep` axis spans: all of them when they divide the run count (each device then
  trains its share of the runs on whole batches), else 1 (every run's batch split over all devices). One
  process only: every process must hold a slice of every run's batch."""
  return num_devices if jax.process_count() == 1 and num_members % num_devices == 0 else 1


def over_members(fn, mesh):
  """`fn(state, batch, key, values)` of one run -> the same over stacked runs: vmapped within a device and,
  over a `sweep` axis of several devices, `shard_map`ped so each device trains its own runs. Left to the
  SPMD partitioner, the vmapped convolutions (grouped convolutions in XLA) were not split by run: K = 2 on 2
  CPU devices ran at 0.15x the samples/s per seed of K = 1, against 0.98x with shard_map (bench_sweep).
  `lax.map` instead of vmap was slower still on CPU (0.09x on one device, against 0.34x vmapped)."""
  local = jax.vmap(fn)
  if mesh.shape[SWEEP_AXIS] == 1:
    return local
  spec = PartitionSpec(SWEEP_AXIS)
  return _shard_map(local, mesh=mesh, in_specs=(spec,) * 4, out_specs=spec)


def take(tree, i: int):
  return jax.tree.map(lambda x: x[i], tree)


def stack(trees: list):
  return jax.tree.map(lambda *xs: np.stack(xs), *trees)
