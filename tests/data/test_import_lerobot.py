"""LeRobot v2.1 and v3.0 import: every field lands where the training pipeline reads it, video frames are
matched by timestamp across files holding several episodes, masks come from each provider, and bad input
fails with a named error and no output."""
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from glam_jax.data import DatasetError, open_dataset, pipeline
from glam_jax.data.importers import ImportOptions, SourceError, import_dataset
from glam_jax.data.importers.common import square_mask, square_rgb
from glam_jax.data.video import VideoWriter
from tests.data import import_helpers as H

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LENGTHS = [8, 10, 9, 7, 11]
SIZE = 32
FIELDS = dict(ee_pos=('observation.ee_pos',), ee_rot=('observation.ee_quat',), rot='quat_wxyz',
              gripper=('observation.state[7]',), joint_pos=('observation.state[0:7]',))
FRONT = dict(views=(('observation.images.front', 'front'),))


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
  root = tmp_path_factory.mktemp('lerobot')
  return {v: (str(root / v), H.write_lerobot(str(root / v), v, LENGTHS, wrist=True, masks=True))
          for v in ('v2.1', 'v3.0')}


@functools.cache
def _inspect_tool():          # loaded once: its absl flags can be defined only once per process
  spec = importlib.util.spec_from_file_location('inspect_dataset', os.path.join(ROOT, 'tools', 'inspect_dataset.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _import(src, out, **kw):
  kw.setdefault('fields', FIELDS)
  return import_dataset('lerobot', src, str(out), ImportOptions(image_size=SIZE, progress=False, **kw))


@pytest.mark.parametrize('version', ['v2.1', 'v3.0'])
def test_import_matches_the_source(sources, tmp_path, version):
  src, eps = sources[version]     # the gripper from a shape-(1,) feature: a plain column, not a list
  meta = _import(src, tmp_path / 'out', masks='none', fields={**FIELDS, 'gripper': ('observation.gripper',)})
  ds = open_dataset(str(tmp_path / 'out'))
  assert ds.meta == meta
  assert meta['views'] == ['front', 'wrist'] and list(meta['frame_fields']) == ['front/rgb', 'wrist/rgb']
  assert meta['episode_lengths'] == LENGTHS and meta['ctrl_dt'] == pytest.approx(0.1)
  assert (meta['has_actions'], meta['has_proprio'], meta['action_dim'], meta['proprio_dim']) == (True, True, 8, 8)
  assert (meta['embodiment'], meta['task'], meta['image_size']) == ('so100', 'pick up the cube', SIZE)
  assert meta['imported_from']['format'] == f'lerobot {version}'
  for e, ep in enumerate(eps):
    low = ds.episodes[e]
    np.testing.assert_allclose(low['ee_pose'], ep['pose9'], atol=2e-6)
    np.testing.assert_array_equal(low['gripper'][:, 0], ep['state'][:, 7])
    np.testing.assert_array_equal(low['joint_pos'], ep['state'][:, :7])
    np.testing.assert_array_equal(low['action'], ep['action'])
    H.check_frames(H.episode_arrays(ds, e, 'front/rgb'), np.stack([square_rgb(x, SIZE) for x in ep['rgb']]), 30)
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'wrist/rgb'),       # PNG: lossless
                                  np.stack([square_rgb(x[::-1], SIZE) for x in ep['rgb']]))
  sheet = _inspect_tool().contact_sheet(ds, episodes=2, columns=3)   # a set without masks draws RGB rows only
  assert sheet.ndim == 3 and sheet.shape[-1] == 3
  # the training pipeline reads it as a target source
  data, info = pipeline.make_dataset(pipeline.PipelineConfig(
      sources=(pipeline.Source(str(tmp_path / 'out')),), image_keys=('front/rgb', 'wrist/rgb'), batch_size=4))
  batch = data[0]
  assert batch['obs']['front/rgb'].shape == (4, SIZE, SIZE, 3) and batch['action'].shape == (4, 8)
  assert batch['proprio'].shape == (4, 8) and batch['is_target'].all()


def test_masks_from_every_provider(sources, tmp_path):
  src, eps = sources['v3.0']
  truth = [np.stack([square_mask(m, SIZE) for m in ep['mask']]) for ep in eps]
  for i, spec in enumerate(['auto', 'key', 'hsv:340,20,0.6,1,0.5,1', 'rgb:150,255,0,100,0,100',
                            'fn:tests.data.import_helpers:red_mask', f'fn:{H.__file__}:red_mask']):
    meta = _import(src, tmp_path / f'out{i}', masks=spec, fields={**FIELDS, **FRONT})
    assert list(meta['frame_fields']) == ['front/rgb', 'front/mask'], spec
    ds = open_dataset(str(tmp_path / f'out{i}'))
    for e in range(len(eps)):
      got = H.episode_arrays(ds, e, 'front/mask')
      assert set(np.unique(got)) <= {0, 1}
      if spec in ('auto', 'key'):                   # shipped as PNG: exact
        np.testing.assert_array_equal(got, truth[e])
      else:                                         # from decoded video: codec noise at the edges
        assert H.iou(got, truth[e]) > 0.85, (spec, e, H.iou(got, truth[e]))
  # two views, masks shipped for one only: "auto" writes none, "key" names what is missing
  assert 'front/mask' not in _import(src, tmp_path / 'auto2', masks='auto')['frame_fields']
  with pytest.raises(DatasetError, match=r"no masks shipped for view\(s\) \['wrist'\]"):
    _import(src, tmp_path / 'key2', masks='key')
  H.assert_no_output(str(tmp_path), 'key2')


def test_drop_actions_makes_an_auxiliary_source(sources, tmp_path):
  meta = _import(sources['v2.1'][0], tmp_path / 'aux', drop_actions=True, embodiment='koch', source='aux')
  assert not meta['has_actions'] and 'action' not in meta['lowdim_fields'] and meta['action_dim'] == 0
  assert (meta['embodiment'], meta['source']) == ('koch', 'aux')


def _copy(sources, version, tmp_path):
  dst = str(tmp_path / f'src-{version}')
  shutil.copytree(sources[version][0], dst)
  return dst


def test_bad_input_fails_with_a_named_error_and_no_output(sources, tmp_path):
  out = tmp_path / 'out'
  # a missing video
  src = _copy(sources, 'v2.1', tmp_path)
  os.remove(os.path.join(src, 'videos/chunk-000/observation.images.front/episode_000002.mp4'))
  with pytest.raises(DatasetError, match=r'episode_000002\.mp4: missing video \(episode 2, feature "observation'):
    _import(src, out)
  H.assert_no_output(str(tmp_path), 'out')
  # a video shorter than its episode
  shutil.rmtree(src)
  src = _copy(sources, 'v2.1', tmp_path)
  vw = VideoWriter(os.path.join(src, 'videos/chunk-000/observation.images.front/episode_000001.mp4'), 10, 64, 48)
  for x in sources['v2.1'][1][1]['rgb'][:6]:
    vw.write(x)
  vw.close()
  with pytest.raises(DatasetError, match=r'episode_000001\.mp4: the video ends before 0\.6000 s .* expected 10 '
                                         r'frames from 0\.0000 s, found 6'):
    _import(src, out)
  H.assert_no_output(str(tmp_path), 'out')
  # an episode whose rows disagree with meta/episodes.jsonl
  shutil.rmtree(src)
  src = _copy(sources, 'v2.1', tmp_path)
  with open(os.path.join(src, 'meta/episodes.jsonl')) as f:
    lines = f.readlines()
  lines[3] = json.dumps({'episode_index': 3, 'tasks': ['x'], 'length': 9}) + '\n'
  with open(os.path.join(src, 'meta/episodes.jsonl'), 'w') as f:
    f.writelines(lines)
  with pytest.raises(SourceError, match=r'episode_000003\.parquet: episode 3 has 7 rows, meta/episodes\.jsonl says '
                                        r'its length is 9'):
    _import(src, out)
  H.assert_no_output(str(tmp_path), 'out')
  # an unknown key, and no end-effector pose at all: refused before anything is written
  with pytest.raises(SourceError, match=r'ee_pos: unknown key "observation\.nope"; the per-step keys are '
                                        r"\['action', 'observation.ee_pos'"):
    _import(sources['v3.0'][0], out, fields={**FIELDS, 'ee_pos': ('observation.nope',)})
  with pytest.raises(SourceError, match='gripper: "observation.state\\[2:4\\]" has 2 values, expected 1'):
    _import(sources['v3.0'][0], out, fields={**FIELDS, 'gripper': ('observation.state[2:4]',)})
  with pytest.raises(SourceError, match='no end-effector pose'):
    _import(sources['v3.0'][0], out, fields={})
  H.assert_no_output(str(tmp_path), 'out')
  # an unsupported version
  src = _copy(sources, 'v3.0', tmp_path)
  info = json.load(open(os.path.join(src, 'meta/info.json')))
  info['codebase_version'] = 'v1.6'
  json.dump(info, open(os.path.join(src, 'meta/info.json'), 'w'))
  with pytest.raises(SourceError, match=r'info\.json: field "codebase_version" is \'v1\.6\'; supported: v2\.0, v2\.1, '
                                        r'v3\.0'):
    _import(src, out)
  H.assert_no_output(str(tmp_path), 'out')


def test_command_line_import_then_inspect(sources, tmp_path):
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu'}
  out = str(tmp_path / 'imported')
  run = subprocess.run(
      [sys.executable, 'tools/import_dataset.py', '--format=lerobot', f'--src={sources["v2.1"][0]}', f'--out={out}',
       '--views=observation.images.front=front', '--ee_pos=observation.ee_pos', '--ee_rot=observation.ee_quat',
       '--rot=quat_wxyz', '--gripper=observation.state[7]', '--joint_pos=observation.state[0:7]',
       '--masks=hsv:340,20,0.6,1,0.5,1', '--image_size=32', '--embodiment=so100_arm', '--task=lift'],
      cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  assert '5 episodes, 45 steps' in run.stdout
  png = str(tmp_path / 'sheet.png')
  run = subprocess.run([sys.executable, 'tools/inspect_dataset.py', f'--data={out}', f'--out={png}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=120, env=env)
  assert run.returncode == 0, run.stderr[-3000:]
  assert 'source so100_arm (so100_arm, 1 arm(s))' in run.stdout and os.path.getsize(png) > 0
