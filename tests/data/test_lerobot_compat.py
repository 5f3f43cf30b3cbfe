"""The LeRobot importer and exporter against the real `lerobot` package, which needs torch and so lives in its own
virtualenv: GLAM_LEROBOT_PYTHON names that venv's python (`python -m venv V && V/bin/pip install lerobot`).
LeRobot writes a dataset with its own recorder and glam_jax imports it; glam_jax exports one and LeRobot loads
it, splits it and normalises it. The hand-written layouts in import_helpers.py stand in for this in CI.

  GLAM_LEROBOT_PYTHON=/path/to/venv/bin/python python -m pytest -m slow tests/data/test_lerobot_compat.py
"""
import json
import os
import subprocess

import numpy as np
import pytest

from glam_jax.data import lerobot_export, open_dataset
from glam_jax.data.importers import ImportOptions, import_dataset
from glam_jax.data.importers.common import square_rgb
from tests.data import import_helpers as H
from tests.data.test_export_lerobot import LOW, write_glam

PYTHON = os.environ.get('GLAM_LEROBOT_PYTHON', '')
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not os.path.isfile(PYTHON), reason='GLAM_LEROBOT_PYTHON is not the python of a venv with lerobot installed '
                                       f'(got {PYTHON!r}); create one with `pip install lerobot`')]

# The frames and vectors both sides write, from the same formulas (the subprocess cannot import glam_jax).
COMMON = r'''
import json, sys
import numpy as np, torch

def backend():    # LeRobot's default decoder, torchcodec, needs the system's FFmpeg libraries; else PyAV
  try:
    from torchcodec.decoders import VideoDecoder  # noqa: F401
    return 'torchcodec'
  except Exception:
    return 'pyav'

def served(ds, keys):
  """dataset[i] for every i: tensors stacked per key, images as (N, H, W, C) uint8."""
  out = {}
  for i in range(len(ds)):
    for k, v in ds[i].items():
      if isinstance(v, torch.Tensor):
        out.setdefault(k, []).append(v.numpy())
  out = {k: np.stack(v) for k, v in out.items()}
  for k in keys:
    out[k] = np.round(out[k].transpose(0, 2, 3, 1) * 255).astype(np.uint8)
  return out
'''

WRITE = COMMON + r'''
import importlib.metadata
from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION, LeRobotDataset
root, npz, vcodec, lengths = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
h, w = 48, 64
features = {
    'observation.images.front': {'dtype': 'video', 'shape': (h, w, 3), 'names': ['height', 'width', 'channels']},
    'observation.images.wrist': {'dtype': 'image', 'shape': (h, w, 3), 'names': ['height', 'width', 'channels']},
    'observation.state': {'dtype': 'float32', 'shape': (8,), 'names': [f'j{i}' for i in range(7)] + ['gripper']},
    'observation.ee_pos': {'dtype': 'float32', 'shape': (3,), 'names': ['x', 'y', 'z']},
    'observation.ee_quat': {'dtype': 'float32', 'shape': (4,), 'names': ['qw', 'qx', 'qy', 'qz']},
    'observation.gripper': {'dtype': 'float32', 'shape': (1,), 'names': ['gripper']},
    'action': {'dtype': 'float32', 'shape': (8,), 'names': None}}
ds = LeRobotDataset.create(repo_id='glam/written', root=root, fps=10, features=features, robot_type='so100',
                           use_videos=True, vcodec=vcodec)
src = {k: np.load(npz.replace('.npz', '_src.npz'))[k] for k in ('rgb', 'state', 'pos', 'quat', 'action')}
start = 0
for n in lengths:
  for t in range(start, start + n):
    ds.add_frame({'observation.images.front': src['rgb'][t], 'observation.images.wrist': src['rgb'][t, ::-1].copy(),
                  'observation.state': src['state'][t], 'observation.ee_pos': src['pos'][t],
                  'observation.ee_quat': src['quat'][t], 'observation.gripper': src['state'][t, 7:],
                  'action': src['action'][t], 'task': 'pick up the cube'})
  ds.save_episode()
  start += n
ds.finalize()
back = LeRobotDataset('glam/written', root=root, video_backend=backend())
np.savez(npz, **served(back, ['observation.images.front', 'observation.images.wrist']))
print(json.dumps({'version': importlib.metadata.version('lerobot'), 'codebase': CODEBASE_VERSION,
                  'backend': back.video_backend}))
'''

LOAD = COMMON + r'''
from lerobot.configs.types import FeatureType, NormalizationMode
from lerobot.datasets.dataset_tools import delete_episodes
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.utils import dataset_to_policy_features
from lerobot.processor.converters import batch_to_transition
from lerobot.processor.core import TransitionKey
from lerobot.processor.normalize_processor import NormalizerProcessorStep
root, npz, split_root = sys.argv[1:4]
ds = LeRobotDataset('glam/export', root=root, video_backend=backend())
np.savez(npz, **served(ds, ds.meta.camera_keys))
report = {'len': len(ds), 'num_episodes': ds.num_episodes, 'fps': ds.fps, 'tasks': list(ds.meta.tasks.index),
          'stats': {k: {s: np.asarray(v).tolist() for s, v in st.items()} for k, st in ds.meta.stats.items()}}
# LeRobot's normaliser: mean/std for cameras, quantiles (pi0.5's default) for state and action
norm = NormalizerProcessorStep.from_lerobot_dataset(ds, dataset_to_policy_features(ds.features), {
    FeatureType.VISUAL: NormalizationMode.MEAN_STD, FeatureType.STATE: NormalizationMode.QUANTILES,
    FeatureType.ACTION: NormalizationMode.QUANTILES})
batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
out = norm(batch_to_transition(batch))
report['normalised'] = {k: list(v.shape) for k, v in out[TransitionKey.OBSERVATION].items()}
report['normalised_action'] = out[TransitionKey.ACTION].numpy().tolist()
if split_root != '-':      # LeRobot's dataset editing re-aggregates the per-episode stats
  kept = delete_episodes(ds, [1], output_dir=split_root, repo_id='glam/split')
  report['split'] = {'len': len(kept), 'num_episodes': kept.num_episodes,
                     'action_mean': np.asarray(kept.meta.stats['action']['mean']).tolist()}
print(json.dumps(report))
'''


def _run(script: str, *args) -> dict:
  run = subprocess.run([PYTHON, '-c', script, *map(str, args)], capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'SVT_LOG': '1', 'HF_HUB_OFFLINE': '1', 'HF_DATASETS_OFFLINE': '1'})
  assert run.returncode == 0, run.stderr[-5000:]
  return json.loads(run.stdout.strip().splitlines()[-1])


def _source(lengths) -> dict:
  """What the LeRobot recorder is given: import_helpers' LeRobot episodes, concatenated."""
  eps = [H._lerobot_episode(e, n, 48, 64) for e, n in enumerate(lengths)]
  return {k: np.concatenate([ep[k] for ep in eps]) for k in ('rgb', 'state', 'pos', 'quat', 'pose9', 'action')}


@pytest.mark.parametrize('vcodec', ['libsvtav1', 'h264'])
def test_import_what_lerobot_writes(tmp_path, vcodec):
  lengths = [10, 12, 9]
  src = _source(lengths)
  np.savez(tmp_path / 'written_src.npz', **src)
  meta = _run(WRITE, tmp_path / 'lr', tmp_path / 'written.npz', vcodec, json.dumps(lengths))
  assert meta['codebase'] == 'v3.0', meta
  served = np.load(tmp_path / 'written.npz')
  np.testing.assert_array_equal(served['observation.state'], src['state'])     # LeRobot kept what it was given
  fields = dict(ee_pos=('observation.ee_pos',), ee_rot=('observation.ee_quat',), rot='quat_wxyz',
                gripper=('observation.gripper',), joint_pos=('observation.state[0:7]',))
  info = import_dataset('lerobot', str(tmp_path / 'lr'), str(tmp_path / 'glam'),
                        ImportOptions(fields=fields, image_size=48, masks='none', progress=False))
  assert (info['episode_lengths'], info['ctrl_dt'], info['task']) == (lengths, pytest.approx(0.1), 'pick up the cube')
  assert (info['embodiment'], info['views'], info['action_dim']) == ('so100', ['front', 'wrist'], 8)
  ds, starts = open_dataset(str(tmp_path / 'glam')), np.concatenate([[0], np.cumsum(lengths)])
  for e, (a, b) in enumerate(zip(starts[:-1], starts[1:])):
    low = ds.episodes[e]
    np.testing.assert_array_equal(low['joint_pos'], src['state'][a:b, :7])
    np.testing.assert_array_equal(low['gripper'][:, 0], src['state'][a:b, 7])
    np.testing.assert_array_equal(low['action'], src['action'][a:b])
    np.testing.assert_allclose(low['ee_pose'], src['pose9'][a:b], atol=2e-6)
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'wrist/rgb'),
                                  np.stack([square_rgb(x[::-1], 48) for x in src['rgb'][a:b]]))
    # the frames LeRobot serves for these rows, whatever the codec did to them
    got = H.episode_arrays(ds, e, 'front/rgb')
    want = np.stack([square_rgb(x, 48) for x in served['observation.images.front'][a:b]])
    assert np.abs(got.astype(int) - want).max() <= 2, (e, np.abs(got.astype(int) - want).max())
    if vcodec == 'h264':       # close to the source and each nearer its own frame than its neighbours
      H.check_frames(got, np.stack([square_rgb(x, 48) for x in src['rgb'][a:b]]), 30)


def test_lerobot_loads_an_export(tmp_path):
  lengths = [8, 11, 9, 6]
  write_glam(str(tmp_path / 'glam'), lengths)
  write_glam(str(tmp_path / 'glam2'), lengths, depth=False)     # LeRobot's editing tools fail on 2-d features
  for name in ('glam', 'glam2'):
    lerobot_export.export(str(tmp_path / name), str(tmp_path / f'{name}_lr'), progress=False)
  report = _run(LOAD, tmp_path / 'glam_lr', tmp_path / 'served.npz', '-')
  split = _run(LOAD, tmp_path / 'glam2_lr', tmp_path / 'served2.npz', tmp_path / 'split')['split']
  ds, got = open_dataset(str(tmp_path / 'glam')), np.load(tmp_path / 'served.npz')
  n = sum(lengths)
  assert (report['len'], report['num_episodes'], report['fps'], report['tasks']) == (n, 4, 20, ['lift'])
  np.testing.assert_array_equal(got['index'], np.arange(n))
  np.testing.assert_array_equal(got['episode_index'], np.repeat(np.arange(4), lengths))
  np.testing.assert_array_equal(got['frame_index'], np.concatenate([np.arange(k) for k in lengths]))
  np.testing.assert_allclose(got['timestamp'], np.concatenate([np.arange(k) for k in lengths]) / 20, atol=1e-6)
  low = {k: np.concatenate([e[k] for e in ds.episodes]).astype(np.float32) for k in LOW}
  for k in LOW:
    np.testing.assert_array_equal(got['action' if k == 'action' else f'observation.{k}'].reshape(n, -1), low[k])
  np.testing.assert_array_equal(got['observation.state'], np.concatenate([low['joint_pos'], low['gripper']], -1))
  frames = {k: np.concatenate([H.episode_arrays(ds, e, k) for e in range(4)]) for k in ds.meta['frame_fields']}
  np.testing.assert_array_equal(got['observation.depth.front'], frames['front/depth'])
  for view in ('overhead', 'front'):
    np.testing.assert_array_equal(got[f'observation.masks.{view}'], np.repeat(frames[f'{view}/mask'][..., None] * 255,
                                                                             3, -1))
    psnr = [H.psnr(a, b) for a, b in zip(got[f'observation.images.{view}'], frames[f'{view}/rgb'])]
    assert np.mean(psnr) > 27 and min(psnr) > 20, psnr      # libsvtav1, crf 30 at 32 px
  stats = report['stats']
  for k in LOW:
    name = 'action' if k == 'action' else f'observation.{k}'
    for s, fn in (('mean', np.mean), ('std', np.std), ('min', np.min), ('max', np.max)):
      np.testing.assert_allclose(stats[name][s], fn(low[k].astype(np.float64), 0), rtol=1e-5, atol=1e-6)
    assert np.all(np.diff([stats[name][q] for q in ('q01', 'q10', 'q50', 'q90', 'q99')], axis=0) >= 0)
  assert np.shape(stats['observation.images.front']['mean']) == (3, 1, 1)
  assert report['normalised']['observation.images.front'] == [n, 3, 32, 32]
  assert np.isfinite(report['normalised_action']).all() and np.abs(report['normalised_action']).max() < 3
  kept = open_dataset(str(tmp_path / 'glam2'))
  assert (split['len'], split['num_episodes']) == (n - lengths[1], 3)
  np.testing.assert_allclose(split['action_mean'], np.concatenate([kept.episodes[e]['action'] for e in (0, 2, 3)])
                             .astype(np.float64).mean(0), rtol=1e-5, atol=1e-6)
