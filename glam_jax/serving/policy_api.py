"""A trained policy as a function from one robot observation (or a batch) to an action chunk, read from its
run directory alone: what a robot-side process loads, and what the policy server serves.

`load_policy(workdir)` restores the parameters closed-loop evaluation uses (stage2.load), compiles the step
at batch 1 at load, and checks every observation before it reaches the network: `ObservationError` names a
missing key, a wrong shape or dtype, or a non-finite value. The step is the evaluation controller's plan
(eval/controllers.ChunkPolicyController): the end-effector state and joint positions standardised with the
target's statistics, the images as uint8, the chunk turned into commands in the env's units (joint targets
in radians for `joint_target`, the env's own actions for `delta`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from glam_jax.data import action_space
from glam_jax.models import inputs
from glam_jax.stage2 import experiment as stage2
from glam_jax.stage2.latent_bc import normalize_env_obs

PROTOCOL = 1      # of the metadata and the server's messages


class ObservationError(ValueError):
  """An observation the policy cannot take; the message names the key and what is wrong."""


def observation_spec(spec: dict) -> dict:
  """{key: (shape, dtype)} of one observation of the policy in run spec `spec` (policy.json)."""
  h, w = spec['policy']['image_shape'][:2]
  out = {k: ((h, w, 3) if k.endswith('/rgb') else (h, w), 'uint8') for k in spec['image_keys']}
  for k in inputs.EE_KEYS:
    out[k] = ((len(spec['normalizer'][k]['mean']),), 'float32')
  if spec['state_input'] == 'ee_proprio':
    out['joint_pos'] = ((spec['proprio_dim'] - len(spec['normalizer']['gripper']['mean']),), 'float32')
  return out


class LoadedPolicy:
  """`infer(observation) -> (H, action_dim)` (or `(B, H, action_dim)` for a batch), `metadata`, `reset()`."""

  def __init__(self, workdir: str):
    learner, params, spec, _ = stage2.load(workdir)
    self.workdir, self.spec = workdir, spec
    self.space = action_space.of(spec)
    self.keys = observation_spec(spec)
    normalizer = stage2.normalizer(spec)
    num_arms = len(spec['normalizer']['gripper']['mean'])
    horizon = spec['policy']['horizon']
    self.metadata = {
        'protocol': PROTOCOL, 'task': spec['task'], 'method': spec['method'],
        'observation': {k: {'shape': list(s), 'dtype': d} for k, (s, d) in self.keys.items()},
        'action_space': self.space, 'action_dim': int(spec['policy']['action_dim'] or spec['policy']['output_dim']),
        'horizon': horizon, 'execute_steps': spec['execute_steps'],
        'ctrl_dt': spec.get('ctrl_dt', 0.05),
        'images': spec.get('images', {'size': spec['policy']['image_shape'][:2], 'dtype': 'uint8',
                                      'preprocessing': 'centre square crop, bilinear resize'}),
        'num_arms': num_arms}

    def step(params, obs):
      obs, proprio = normalize_env_obs(obs, normalizer)
      chunk = learner.act(params, obs, proprio)
      return action_space.to_command(self.space, chunk, normalizer, num_arms)
    self._params = params
    self._step = jax.jit(step)
    self.infer({k: np.zeros(s, d) for k, (s, d) in self.keys.items()})      # compile at load: no first-call wait

  def reset(self) -> None:
    """A new episode. The policy keeps no state between calls; here for clients that call it anyway."""

  def check(self, observation) -> tuple[dict, bool]:
    """The observation as arrays of the policy's dtypes, and whether it is a batch; ObservationError else."""
    if not isinstance(observation, dict):
      raise ObservationError(f'the observation must be a mapping of arrays, got {type(observation).__name__}')
    missing = [k for k in self.keys if k not in observation]
    if missing:
      raise ObservationError(f'missing key {missing[0]!r}; the policy reads {sorted(self.keys)}')
    out, batched = {}, None
    for k, (shape, dtype) in self.keys.items():
      x = np.asarray(observation[k])
      if x.shape not in (shape,) and x.shape[1:] != shape:
        raise ObservationError(f'{k}: shape {x.shape}; expected {shape} or (batch, *{shape})')
      is_batch = x.shape != shape
      if batched is not None and is_batch != batched:
        raise ObservationError(f'{k}: some keys are batched and some are not')
      batched = is_batch
      if dtype == 'uint8' and x.dtype != np.uint8:
        raise ObservationError(f'{k}: dtype {x.dtype}; images are uint8')
      if dtype == 'float32':
        if x.dtype.kind != 'f':
          raise ObservationError(f'{k}: dtype {x.dtype}; expected a float array')
        if not np.isfinite(x).all():
          raise ObservationError(f'{k}: holds NaN or infinite values')
        x = x.astype(np.float32)
      out[k] = x
    sizes = {v.shape[0] for v in out.values()} if batched else {1}
    if len(sizes) != 1:
      raise ObservationError(f'the batched keys disagree on the batch size: {sorted(sizes)}')
    return out, batched

  def infer(self, observation: dict) -> np.ndarray:
    obs, batched = self.check(observation)
    if not batched:
      obs = {k: v[None] for k, v in obs.items()}
    chunk = np.asarray(self._step(self._params, {k: jnp.asarray(v) for k, v in obs.items()}))
    return chunk if batched else chunk[0]


def load_policy(workdir: str) -> LoadedPolicy:
  """The policy of a policy run directory (tools/train_policy.py, or a main job's `policies/<run>/`)."""
  return LoadedPolicy(workdir)
