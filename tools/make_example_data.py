"""Writes small files in robomimic's HDF5 and UMI's zarr layouts, to try the import path end to end without
real data (README, "End to end on example files").

  python tools/make_example_data.py --out=examples [--episodes=12 --length=30 --size=48]

`<out>/demo.hdf5`: robomimic demos (robosuite names: agentview_image, robot0_eef_pos/quat,
robot0_gripper_qpos, robot0_joint_pos, 7-dim actions); `<out>/umi.zarr`: a UMI replay buffer (camera0_rgb,
robot0_eef_pos/rot_axis_angle, robot0_gripper_width), twice as many episodes. Both show a red square whose
mask the importers find with `--masks=hsv:340,20,0.6,1,0.5,1`.
"""
from __future__ import annotations

import os

from absl import app, flags

from glam_jax import cli
from glam_jax.configs import ConfigError
from glam_jax.data.importers import examples

_OUT = flags.DEFINE_string('out', 'examples', 'Directory to write demo.hdf5 and umi.zarr into.')
_EPISODES = flags.DEFINE_integer('episodes', 12, 'robomimic demos (UMI: twice as many).')
_LENGTH = flags.DEFINE_integer('length', 30, 'Steps per episode.')
_SIZE = flags.DEFINE_integer('size', 48, 'Image side in pixels.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _EPISODES.value < 2 or _LENGTH.value < 4 or _SIZE.value < 16:
    raise ConfigError('--episodes must be at least 2, --length at least 4 and --size at least 16')
  if os.path.exists(os.path.join(_OUT.value, 'demo.hdf5')) or os.path.exists(os.path.join(_OUT.value, 'umi.zarr')):
    raise ConfigError(f'{_OUT.value} already holds example files; remove them or choose another --out')
  os.makedirs(_OUT.value, exist_ok=True)
  lengths = [_LENGTH.value + (e % 5) for e in range(_EPISODES.value)]
  examples.write_robomimic(os.path.join(_OUT.value, 'demo.hdf5'), lengths, size=_SIZE.value)
  examples.write_umi(os.path.join(_OUT.value, 'umi.zarr'), lengths * 2, size=_SIZE.value)
  print(f'wrote {_OUT.value}/demo.hdf5 ({len(lengths)} demos) and {_OUT.value}/umi.zarr ({2 * len(lengths)} episodes)')


if __name__ == '__main__':
  cli.run(main)
