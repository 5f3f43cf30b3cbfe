"""LeRobot v3.0 export: the layout LeRobot reads (info.json, the episode index with each episode's rows, video
time range and stats, tasks, stats; test_lerobot_compat.py checks it with the real library), and a glam_jax ->
LeRobot -> glam_jax round trip that keeps every array (RGB within the video codec's error) and meta.json."""
import json
import os
import subprocess
import sys

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from glam_jax.data import DatasetWriter, lerobot_export, open_dataset
from glam_jax.data.importers import ImportOptions, import_dataset
from tests.data import import_helpers as H

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENGTHS = [8, 11, 9, 6]
LOW = {'ee_pose': 9, 'gripper': 1, 'joint_pos': 7, 'joint_target': 7, 'action': 8}


def write_glam(path: str, lengths, size: int = 32, depth: bool = True) -> dict:
  """Two views (RGB + mask), depth on one (unless not `depth`), every low-dimensional field a target source has."""
  rng = np.random.default_rng(1)
  ff = {f'{v}/{k}': {'shape': (size, size, 3) if k == 'rgb' else (size, size),
                     'dtype': 'float32' if k == 'depth' else 'uint8'}
        for v in ('overhead', 'front') for k in ('rgb', 'mask', 'depth') if k != 'depth' or (depth and v == 'front')}
  with DatasetWriter(path, ff, {k: {'dim': d, 'dtype': 'float32'} for k, d in LOW.items()}) as w:
    for e, n in enumerate(lengths):
      rgb, mask = H.scene(n, size, size, e)
      frames = {'overhead/rgb': rgb, 'overhead/mask': mask.astype(np.uint8), 'front/rgb': rgb[:, ::-1],
                'front/mask': mask[:, ::-1].astype(np.uint8)}
      if depth:
        frames['front/depth'] = rng.uniform(0.5, 2.0, (n, size, size)).astype(np.float32)
      w.add_episode({k: rng.normal(size=(n, d)) for k, d in LOW.items()}, frames)
    return w.close(task='lift', source='kinova', embodiment='kinova', num_arms=1, has_actions=True, has_proprio=True,
                   action_dim=8, proprio_dim=8, ctrl_dt=0.05, image_size=size, views=['overhead', 'front'], seed=3,
                   scripted_success_rate=0.8, attempts=5)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('glam') / 'kinova')
  write_glam(path, LENGTHS)
  return path


def test_layout_is_what_lerobot_reads(dataset, tmp_path):
  out = str(tmp_path / 'lr')
  info = lerobot_export.export(dataset, out, progress=False)
  assert info == json.load(open(os.path.join(out, 'meta/info.json')))
  assert (info['codebase_version'], info['fps'], info['robot_type']) == ('v3.0', 20, 'kinova')
  assert (info['total_episodes'], info['total_frames'], info['total_tasks']) == (4, sum(LENGTHS), 1)
  f = info['features']
  assert f['observation.images.front']['dtype'] == 'video' and f['observation.images.front']['shape'] == [32, 32, 3]
  assert f['observation.images.front']['info']['video.codec'] == 'av1'
  assert f['observation.masks.front']['dtype'] == 'image' and f['observation.masks.front']['shape'] == [32, 32, 3]
  assert f['observation.depth.front']['shape'] == [32, 32] and f['observation.gripper']['shape'] == [1]
  assert f['observation.state']['shape'] == [8] and f['observation.ee_pose']['names'][:3] == ['x', 'y', 'z']
  episodes = pq.read_table(os.path.join(out, 'meta/episodes/chunk-000/file-000.parquet')).to_pylist()
  assert [r['length'] for r in episodes] == LENGTHS and [r['tasks'] for r in episodes] == [['lift']] * 4
  starts = np.concatenate([[0], np.cumsum(LENGTHS)])
  for r, a, b in zip(episodes, starts[:-1], starts[1:]):
    assert (r['dataset_from_index'], r['dataset_to_index'], r['data/file_index']) == (a, b, 0)
    for view in ('front', 'overhead'):      # one video file per view, episodes back to back
      key = f'videos/observation.images.{view}'
      assert (r[f'{key}/from_timestamp'], r[f'{key}/to_timestamp']) == pytest.approx((a / 20, b / 20))
  data = pq.read_table(os.path.join(out, 'data/chunk-000/file-000.parquet'))
  assert data.num_rows == sum(LENGTHS) and data.column('index').to_pylist() == list(range(sum(LENGTHS)))
  assert set(data.column_names) == {k for k, v in f.items() if v['dtype'] != 'video'}
  assert data.schema.field('observation.gripper').type == pa.float32()    # shape (1,): LeRobot reads a scalar
  with av.open(os.path.join(out, 'videos/observation.images.front/chunk-000/file-000.mp4')) as c:
    assert sum(1 for _ in c.decode(video=0)) == sum(LENGTHS)
  tasks = pq.read_table(os.path.join(out, 'meta/tasks.parquet'))     # LeRobot's tasks: the unnamed pandas index
  assert json.loads(tasks.schema.metadata[b'pandas'])['index_columns'] == ['__index_level_0__']
  assert tasks.column('__index_level_0__').to_pylist() == ['lift'] and tasks.column('task_index').to_pylist() == [0]
  stats = json.load(open(os.path.join(out, 'meta/stats.json')))
  assert set(stats) == set(f) and np.shape(stats['observation.images.front']['mean']) == (3, 1, 1)
  assert set(stats['action']) == {'min', 'max', 'mean', 'std', 'count', 'q01', 'q10', 'q50', 'q90', 'q99'}
  assert np.shape(stats['observation.masks.front']['q50']) == (3, 1, 1) and np.shape(stats['timestamp']['q01']) == (1,)
  assert stats['observation.images.front']['count'] == [sum(LENGTHS)]        # frames, as LeRobot counts them
  ds = open_dataset(dataset)
  actions = np.concatenate([e['action'] for e in ds.episodes]).astype(np.float64)
  for k, fn in (('mean', np.mean), ('std', np.std), ('min', np.min), ('max', np.max)):
    np.testing.assert_allclose(stats['action'][k], fn(actions, 0), rtol=1e-5, atol=1e-6)
  # per-episode stats (LeRobot's split / merge tools re-aggregate them); the quantiles are their weighted mean
  for r, e in zip(episodes, ds.episodes):
    np.testing.assert_allclose(r['stats/action/q50'], np.median(e['action'], 0), rtol=1e-5, atol=1e-6)
    assert r['stats/observation.images.front/count'] == [r['length']]
  np.testing.assert_allclose(stats['action']['q90'], np.average([r['stats/action/q90'] for r in episodes], axis=0,
                                                                weights=LENGTHS), rtol=1e-6)


@pytest.mark.parametrize('codec,crf,min_psnr', [('h264', 18, 30.0), ('libsvtav1', 30, None)])
def test_round_trip_keeps_every_array(dataset, tmp_path, codec, crf, min_psnr):
  lerobot_export.export(dataset, str(tmp_path / 'lr'), codec=codec, crf=crf, progress=False)
  import_dataset('lerobot', str(tmp_path / 'lr'), str(tmp_path / 'back'), ImportOptions(progress=False))
  a, b = open_dataset(dataset), open_dataset(str(tmp_path / 'back'))
  for k in ('task', 'source', 'embodiment', 'num_arms', 'views', 'ctrl_dt', 'image_size', 'seed', 'attempts',
            'scripted_success_rate', 'episode_lengths', 'frame_fields', 'lowdim_fields', 'has_actions', 'has_proprio',
            'action_dim', 'proprio_dim'):
    assert b.meta[k] == a.meta[k], k
  for e in range(a.num_episodes):
    for k in LOW:
      np.testing.assert_array_equal(b.episodes[e][k], a.episodes[e][k])
    for k in ('overhead/mask', 'front/mask', 'front/depth'):
      np.testing.assert_array_equal(H.episode_arrays(b, e, k), H.episode_arrays(a, e, k))
    for k in ('overhead/rgb', 'front/rgb'):
      got, want = H.episode_arrays(b, e, k), H.episode_arrays(a, e, k)
      if min_psnr:
        H.check_frames(got, want, min_psnr)
      else:   # LeRobot's default (libsvtav1, crf 30, fastest preset): coarse inter frames at 32 px
        psnr = [H.psnr(g, w) for g, w in zip(got, want)]
        assert np.mean(psnr) > 27 and min(psnr) > 20, psnr
  np.testing.assert_allclose(b.stats['ee_pose']['mean'], a.stats['ee_pose']['mean'], rtol=1e-6)


def test_command_line_and_refusals(dataset, tmp_path):
  out = str(tmp_path / 'lr')
  cmd = [sys.executable, 'tools/export_dataset.py', f'--data={dataset}', f'--out={out}', '--format=lerobot']
  run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert run.returncode == 0, run.stderr[-3000:]
  assert 'LeRobot v3.0, 4 episodes, 34 frames at 20 fps' in run.stdout
  again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert again.returncode != 0 and 'exists; pass overwrite' in again.stderr
  # a failed export leaves nothing: yuv420p video needs even image sizes
  write_glam(str(tmp_path / 'odd'), [3, 4], size=15)
  with pytest.raises(ValueError, match='needs even sizes, got 15x15'):
    lerobot_export.export(str(tmp_path / 'odd'), str(tmp_path / 'odd_lr'), progress=False)
  H.assert_no_output(str(tmp_path), 'odd_lr')
