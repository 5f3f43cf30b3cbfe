"""robomimic HDF5 (`data/demo_N/{actions, obs/<key>}`, `data.attrs['env_args']`, `num_samples` per demo) as
a source, demos in robomimic's order (by N).

Per-step keys are the `obs` datasets of one or two dimensions plus the demo's own `actions` (and
`actions_abs`, `rewards`, `dones` where present); image keys are the uint8 `obs` datasets (T, H, W[, C]).
Defaults follow robosuite's observation names: views from `<camera>_image`; per arm N (`robotN_...`) the
pose from `robotN_eef_pos` + `robotN_eef_quat` (x, y, z, w), the gripper opening from the two finger joints
(`robotN_gripper_qpos[0]-robotN_gripper_qpos[1]`), `robotN_joint_pos`, and `actions`; the rate is
`env_args.env_kwargs.control_freq`, the task `env_name`, the embodiment the first of `env_kwargs.robots`.
"""
from __future__ import annotations

import json
import os

import h5py
import numpy as np

from glam_jax.data.importers.common import Fields, RawEpisode, SourceError, SourceInfo, abspath

BLOCK = 64                                      # frames read from HDF5 at a time
TOP_KEYS = ('actions', 'actions_abs', 'rewards', 'dones')


def open(path: str) -> RobomimicReader:  # noqa: A001 -- every importer module has open(path)
  return RobomimicReader(path)


class RobomimicReader:
  def __init__(self, path: str):
    self.path = abspath(path)
    if not os.path.isfile(self.path):
      raise SourceError(f'{self.path}: no such robomimic HDF5 file')
    try:
      self.file = h5py.File(self.path, 'r')
    except OSError as e:
      raise SourceError(f'{self.path}: not an HDF5 file ({e})') from e
    try:
      self.info = self._describe()
    except BaseException:
      self.file.close()
      raise

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.file.close()

  def _describe(self) -> SourceInfo:
    if 'data' not in self.file:
      raise SourceError(f'{self.path}: no group "data"; not a robomimic dataset')
    data = self.file['data']
    self.demos = sorted((k for k in data if k.startswith('demo_') and k[5:].isdigit()), key=lambda k: int(k[5:]))
    if not self.demos:
      raise SourceError(f'{self.path}: group "data" holds no demo_N groups')
    try:
      env_args = json.loads(data.attrs.get('env_args', '{}'))
    except (TypeError, ValueError) as e:
      raise SourceError(f'{self.path}: data attribute "env_args" is not JSON ({e})') from e
    kwargs = env_args.get('env_kwargs', {}) or {}
    first = data[self.demos[0]]
    lowdim, images = {}, {}
    for name, ds in self._keys(first).items():
      if ds.dtype == np.uint8 and ds.ndim >= 3:
        images[name] = ds.shape[1:]
      elif ds.ndim in (1, 2) and (np.issubdtype(ds.dtype, np.number) or ds.dtype == bool):
        lowdim[name] = ds.shape[1] if ds.ndim == 2 else 1
    arms = [i for i in range(8) if f'robot{i}_eef_pos' in lowdim]
    f = dict(views=tuple((k, k[:-len('_image')]) for k in images if k.endswith('_image')),
             ee_pos=tuple(f'robot{i}_eef_pos' for i in arms), ee_rot=tuple(f'robot{i}_eef_quat' for i in arms),
             rot='quat_xyzw',
             gripper=tuple(f'robot{i}_gripper_qpos[0]-robot{i}_gripper_qpos[1]' for i in arms
                           if lowdim.get(f'robot{i}_gripper_qpos', 0) >= 2),
             joint_pos=tuple(f'robot{i}_joint_pos' for i in arms if f'robot{i}_joint_pos' in lowdim),
             action=('actions',) if 'actions' in lowdim else ())
    robots = kwargs.get('robots')
    robot = robots[0] if isinstance(robots, (list, tuple)) and robots else robots
    return SourceInfo(path=self.path, format='robomimic', lowdim=lowdim, images=images,
                      num_episodes=len(self.demos), fields=Fields(**f), fps=kwargs.get('control_freq'),
                      embodiment=str(robot or 'robomimic'), task=str(env_args.get('env_name', '')))

  @staticmethod
  def _keys(demo) -> dict:
    out = {k: demo[k] for k in TOP_KEYS if k in demo and isinstance(demo[k], h5py.Dataset)}
    if 'obs' in demo:
      out.update({k: v for k, v in demo['obs'].items() if isinstance(v, h5py.Dataset)})
    return out

  def episodes(self, keys):
    for name in self.demos:
      demo = self.file['data'][name]
      where = f'{self.path}: data/{name}'
      datasets = self._keys(demo)
      length = int(demo.attrs['num_samples']) if 'num_samples' in demo.attrs else None
      length_from = 'its num_samples attribute'
      if length is None:
        if 'actions' not in datasets:
          raise SourceError(f'{where}: neither a num_samples attribute nor actions to tell its length')
        length, length_from = len(datasets['actions']), 'actions'
      for k in set(keys) | set(self.info.images):
        if k not in datasets:
          if k in keys:
            raise SourceError(f'{where}: missing "{k}" (the first demo has it)')
          continue
        if len(datasets[k]) != length:
          path = k if k in TOP_KEYS else f'obs/{k}'
          raise SourceError(f'{where}/{path} has {len(datasets[k])} steps, expected {length} ({length_from})')
      lowdim = {k: np.asarray(datasets[k][()]).reshape(length, -1) for k in keys}
      yield RawEpisode(where, length, lowdim, lambda key, d=datasets, w=where: self._frames(d, key, w))

  @staticmethod
  def _frames(datasets: dict, key: str, where: str):
    if key not in datasets:
      raise SourceError(f'{where}: missing image key "{key}" (the first demo has it)')
    ds = datasets[key]
    for start in range(0, len(ds), BLOCK):
      yield from ds[start:start + BLOCK]
