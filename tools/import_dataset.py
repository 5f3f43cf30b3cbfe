"""Imports real-robot data (LeRobot, robomimic, UMI) as a glam_jax dataset.

  python tools/import_dataset.py --format=lerobot|robomimic|umi_zarr --src=PATH --out=DIR \
      [--embodiment=NAME] [--task=NAME] [--source=NAME] [--image_size=N] [--drop_actions] [--masks=SPEC] \
      [--views=KEY=VIEW,...] [--ee_pos=K,...] [--ee_rot=K,...] [--rot=FORMAT] [--ee_pose=K,...] [--gripper=K,...] \
      [--joint_pos=K,...] [--joint_target=K,...] [--action=K,...] [--fps=HZ] [--stride=N] [--overwrite]

Each format has defaults for every key (glam_jax/data/importers/<format>.py says which); a key flag replaces
one, `none` drops it (e.g. `--joint_pos=none`). Keys may select values: `KEY[i]`, `KEY[a:b]`, `KEY[i]-KEY[j]`;
per-arm flags take one spec per arm. `--masks`: auto, none, key[:K1,...], hsv:H0,H1,S0,S1,V0,V1,
rgb:R0,R1,G0,G1,B0,B1, fn:MODULE:FUNCTION (glam_jax/data/importers/masks.py). Images are centre-cropped to
squares of --image_size (default: the data recipe's). The written dataset is validated on open; nothing is
left at --out when the import fails.
"""
from __future__ import annotations

from absl import app, flags

from glam_jax.data import open_dataset
from glam_jax.data.importers import FORMATS, ImportOptions, import_dataset
from glam_jax.data.importers.common import ROT_DIMS

_FORMAT = flags.DEFINE_enum('format', None, FORMATS, 'Source format.')
_SRC = flags.DEFINE_string('src', None, 'Source dataset: a LeRobot directory, a robomimic .hdf5, a UMI .zarr(.zip).')
_OUT = flags.DEFINE_string('out', None, 'Dataset directory to write.')
_EMBODIMENT = flags.DEFINE_string('embodiment', '', 'Embodiment recorded in meta.json (default: from the source).')
_TASK = flags.DEFINE_string('task', '', 'Task recorded in meta.json (default: from the source).')
_SOURCE = flags.DEFINE_string('source', '', 'Source name recorded in meta.json (default: the embodiment).')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', None, 'Square image size (default: the data recipe\'s).')
_DROP_ACTIONS = flags.DEFINE_bool('drop_actions', False, 'Import as an auxiliary source: no actions.')
_MASKS = flags.DEFINE_string('masks', 'auto', 'Mask provider for GLAM-O (see above).')
_VIEWS = flags.DEFINE_string('views', '', 'Cameras as SOURCE_KEY=VIEW,... (default: every camera).')
_FIELDS = {name: flags.DEFINE_string(name, '', help_text) for name, help_text in (
    ('ee_pose', 'Per arm: 9 values, position + first two rotation-matrix columns.'),
    ('ee_pos', 'Per arm: 3 values of TCP position.'),
    ('ee_rot', 'Per arm: TCP rotation in --rot.'),
    ('gripper', 'Per arm: 1 value, the gripper opening.'),
    ('joint_pos', 'Joint positions (proprioception), concatenated.'),
    ('joint_target', 'Absolute joint targets the actions set, concatenated.'),
    ('action', 'Actions, concatenated.'),
    ('depth', 'Depth images as SOURCE_KEY=VIEW,...'))}
_ROT = flags.DEFINE_enum('rot', None, list(ROT_DIMS), 'Rotation format of --ee_rot (default: the format\'s).')
_FPS = flags.DEFINE_float('fps', 0.0, 'Control rate in Hz (default: the source\'s).')
_STRIDE = flags.DEFINE_integer('stride', 1, 'Keep every N-th step (actions are taken at the kept steps).')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace --out if it exists.')


def field_overrides() -> dict:
  """The key flags given on the command line, as `Fields` overrides."""
  out = {}
  pairs = lambda s: tuple(tuple(p.split('=', 1)) for p in s.split(',')) if s != 'none' else ()
  if _VIEWS.value:
    out['views'] = pairs(_VIEWS.value)
  for name, flag in _FIELDS.items():
    if flag.value:
      out[name] = pairs(flag.value) if name == 'depth' else () if flag.value == 'none' else tuple(flag.value.split(','))
  if _ROT.value:
    out['rot'] = _ROT.value
  for name in ('views', 'depth'):
    if any(len(p) != 2 for p in out.get(name, ())):
      raise app.UsageError(f'--{name} takes SOURCE_KEY=VIEW pairs separated by commas')
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  for flag in (_FORMAT, _SRC, _OUT):
    if not flag.value:
      raise app.UsageError(f'--{flag.name} is required')
  options = ImportOptions(fields=field_overrides(), image_size=_IMAGE_SIZE.value, masks=_MASKS.value,
                          drop_actions=_DROP_ACTIONS.value, embodiment=_EMBODIMENT.value, task=_TASK.value,
                          source=_SOURCE.value, fps=_FPS.value, stride=_STRIDE.value, overwrite=_OVERWRITE.value)
  meta = import_dataset(_FORMAT.value, _SRC.value, _OUT.value, options)
  ds = open_dataset(_OUT.value)         # the validator, as training will open it
  print(f'{ds.path}: {meta["num_episodes"]} episodes, {meta["num_steps"]} steps, views {meta["views"]}, '
        f'fields {list(meta["frame_fields"]) + list(meta["lowdim_fields"])}; actions '
        f'{"dim " + str(meta["action_dim"]) if meta["has_actions"] else "none"}, embodiment {meta["embodiment"]}'
        + (f'; {meta["skipped_episodes"]} episode(s) under 2 steps skipped' if meta['skipped_episodes'] else ''))


if __name__ == '__main__':
  app.run(main)
