"""Exports a glam_jax dataset for other stacks; `lerobot` writes a LeRobotDataset v3.0.

  python tools/export_dataset.py --data=DIR --out=DIR --format=lerobot [--codec=libsvtav1 --crf=30] [--overwrite]

RGB views become MP4 videos (LeRobot's default codec; lossy), masks lossless PNG columns, low-dimensional
fields float32 features, and `meta/glam_jax.json` keeps the rest of meta.json, so
`tools/import_dataset.py --format=lerobot --src=OUT` brings the same arrays back (RGB within codec error).
Nothing is left at --out when the export fails.
"""
from __future__ import annotations

from absl import app, flags

from glam_jax.data import lerobot_export

_DATA = flags.DEFINE_string('data', None, 'glam_jax dataset directory.')
_OUT = flags.DEFINE_string('out', None, 'Directory to write.')
_FORMAT = flags.DEFINE_enum('format', 'lerobot', ['lerobot'], 'Output format.')
_CODEC = flags.DEFINE_string('codec', 'libsvtav1', 'Video encoder (LeRobot reads libsvtav1, h264, hevc).')
_CRF = flags.DEFINE_integer('crf', 30, 'Video quality: lower is better and larger (LeRobot\'s default 30).')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace --out if it exists.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _DATA.value or not _OUT.value:
    raise app.UsageError('--data and --out are required')
  info = lerobot_export.export(_DATA.value, _OUT.value, codec=_CODEC.value, crf=_CRF.value,
                               overwrite=_OVERWRITE.value)
  print(f'{_OUT.value}: LeRobot {info["codebase_version"]}, {info["total_episodes"]} episodes, '
        f'{info["total_frames"]} frames at {info["fps"]} fps, features {list(info["features"])}')


if __name__ == '__main__':
  app.run(main)
