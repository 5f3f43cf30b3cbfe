"""Summarises a dataset and draws a contact sheet of frames and masks from a few episodes.

  python tools/inspect_dataset.py --data=data/lift/kinova --out=runs/inspect_lift_kinova.png [--episodes=4]
                                  [--gif=runs/lift_kinova.gif]

Prints what meta.json says (task, source, episodes, steps, lengths, fields, scripted success) and the
ranges of the low-dimensional fields (actions, end-effector pose, gripper, joints). The sheet has one row
per (episode, view) for RGB and one for the mask (when the set has masks), columns evenly spaced in time.
`--gif` plays the first episodes side by side, every stored view of each, at the recording's own rate.
"""
from __future__ import annotations

import numpy as np
from absl import app, flags

from glam_jax import viz
from glam_jax.data import open_dataset

_DATA = flags.DEFINE_string('data', None, 'Dataset directory.')
_OUT = flags.DEFINE_string('out', None, 'Contact sheet PNG to write (optional).')
_EPISODES = flags.DEFINE_integer('episodes', 4, 'Episodes drawn in the sheet.')
_COLUMNS = flags.DEFINE_integer('columns', 8, 'Frames per episode in the sheet.')
_GIF = flags.DEFINE_string('gif', None, 'Animated GIF of the first --episodes episodes to write (optional).')


def summary(ds) -> str:
  m = ds.meta
  lines = [
      f'{ds.path}',
      f'  task {m["task"]}, source {m["source"]} ({m["embodiment"]}, {m["num_arms"]} arm(s)), format v'
      f'{m["format_version"]}, seed {m["seed"]}',
      f'  {m["num_episodes"]} episodes, {m["num_steps"]} steps; length min {ds.lengths.min()} / mean '
      f'{ds.lengths.mean():.1f} / max {ds.lengths.max()} at ctrl_dt {m["ctrl_dt"]} s',
      f'  scripted success {m["scripted_success_rate"]:.1%} of {m["attempts"]} attempts',
      f'  actions: {"yes, dim " + str(m["action_dim"]) if m["has_actions"] else "none"}; proprioception: '
      f'{"yes, dim " + str(m["proprio_dim"]) if m["has_proprio"] else "none"}',
      '  images: ' + ', '.join(f'{k} {v["dtype"]}{v["shape"]}' for k, v in m['frame_fields'].items()),
      f'  {len(m["shards"])} frame shard(s)',
  ]
  for k, s in ds.stats.items():
    lo, hi = np.asarray(s['min']), np.asarray(s['max'])
    lines.append(f'  {k:10s} min {np.array2string(lo, precision=2, max_line_width=200)}')
    lines.append(f'  {"":10s} max {np.array2string(hi, precision=2, max_line_width=200)}')
  return '\n'.join(lines)


def contact_sheet(ds, episodes: int, columns: int) -> np.ndarray:
  rows, labels = [], []
  picks = np.linspace(0, ds.num_episodes - 1, min(episodes, ds.num_episodes)).astype(int)
  for e in picks:
    steps = np.linspace(0, ds.lengths[e] - 1, columns).astype(int)
    frames = [ds.frame(int(e), int(t)) for t in steps]
    for view in ds.meta['views']:
      rows.append([f[f'{view}/rgb'] for f in frames])
      labels.append(f'ep {e} {view}')
      if f'{view}/mask' in ds.meta['frame_fields']:      # imported sets may have no masks
        rows.append([viz.mask_to_rgb(f[f'{view}/mask']) for f in frames])
        labels.append('  mask')
  return viz.grid(rows, scale=2, labels=labels)


def episode_gif(ds, path: str, episodes: int) -> None:
  """The first `episodes` episodes side by side, each one's views stacked, played at its recorded rate."""
  clips = []
  for e in range(min(episodes, ds.num_episodes)):
    frames = [ds.frame(e, t) for t in range(int(ds.lengths[e]))]
    clips.append(np.stack([np.concatenate([f[f'{v}/rgb'] for v in ds.meta['views']], 0) for f in frames]))
  viz.save_gif(path, clips, fps=1.0 / float(ds.meta['ctrl_dt']))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _DATA.value:
    raise app.UsageError('--data is required')
  ds = open_dataset(_DATA.value)
  print(summary(ds))
  if _OUT.value:
    viz.save_png(_OUT.value, contact_sheet(ds, _EPISODES.value, _COLUMNS.value))
    print(f'wrote {_OUT.value}')
  if _GIF.value:
    episode_gif(ds, _GIF.value, _EPISODES.value)
    print(f'wrote {_GIF.value}')


if __name__ == '__main__':
  app.run(main)
