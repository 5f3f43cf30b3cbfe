"""The Grain mixture: proportions, element integrity, chunk masks, process sharding and iterator state."""
import dataclasses

import numpy as np
import pytest

from glam_jax.data import pipeline
from glam_jax.data.schema import DatasetError
from tests.data.helpers import encoded, write_synthetic

LENGTHS_T = [6, 9, 5, 12]
LENGTHS_A = [7, 4, 10, 8, 6]


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
  root = tmp_path_factory.mktemp('mix')
  write_synthetic(str(root / 'kinova'), 0, LENGTHS_T)
  write_synthetic(str(root / 'umi'), 1, LENGTHS_A, has_actions=False, name='umi')
  return str(root / 'kinova'), str(root / 'umi')


def _config(paths, **kw):
  kw.setdefault('sources', (pipeline.Source(paths[0], 1.0), pipeline.Source(paths[1], 3.0)))
  kw.setdefault('batch_size', 8)
  return pipeline.PipelineConfig(image_keys=('overhead/rgb',), normalize=False, **kw)


def _decode(rgb):
  """(source, episode, step) stored in pixel (0, 0)."""
  return rgb[..., 0, 0, :].astype(int)


def test_mixture_proportions(sources):
  ds, info = pipeline.make_dataset(_config(sources))
  assert info['target'] == 0
  src = np.concatenate([ds[i]['source'] for i in range(100)])
  assert abs((src == 1).mean() - 0.75) < 0.03
  # within each source, every transition appears once per epoch
  first = np.concatenate([ds[i]['obs']['overhead/rgb'] for i in range(100)])
  seen = {tuple(x[1:]) for x in _decode(first) if x[0] == 0}
  assert len(seen) == sum(n - 1 for n in LENGTHS_T)


def test_stage1_elements_belong_together(sources):
  ds, _ = pipeline.make_dataset(_config(sources))
  for i in range(20):
    b = ds[i]
    s, e, t = _decode(b['obs']['overhead/rgb']).T
    s1, e1, t1 = _decode(b['next_obs']['overhead/rgb']).T
    np.testing.assert_array_equal((s1, e1, t1), (s, e, t + 1))
    lengths = np.where(s == 0, [LENGTHS_T[k] if k < len(LENGTHS_T) else 0 for k in e],
                       [LENGTHS_A[k] for k in e])
    assert np.all(t + 1 < lengths)
    np.testing.assert_array_equal(b['obs']['ee_pose'][:, 0], [encoded(*x) for x in zip(s, e, t)])
    target = s == 0
    np.testing.assert_array_equal(b['is_target'], target)
    np.testing.assert_array_equal(b['action'][target, 0], [encoded(0, a, c) for a, c in zip(e[target], t[target])])
    np.testing.assert_array_equal(b['proprio'][target, 0], [encoded(0, a, c) for a, c in zip(e[target], t[target])])
    np.testing.assert_array_equal(b['next_proprio'][target, 0],
                                  [encoded(0, a, c + 1) for a, c in zip(e[target], t[target])])
    assert not b['action'][~target].any() and not b['proprio'][~target].any()
    assert b['proprio'].shape == (8, 8) and b['action'].shape == (8, 8)


def test_a_frame_gap_pairs_each_step_with_the_one_gap_steps_on_held_at_the_end(sources):
  ds, _ = pipeline.make_dataset(_config(sources, frame_gap=3))
  lengths = {0: LENGTHS_T, 1: LENGTHS_A}
  for i in range(20):
    b = ds[i]
    s, e, t = _decode(b['obs']['overhead/rgb']).T
    s1, e1, t1 = _decode(b['next_obs']['overhead/rgb']).T
    last = np.array([lengths[a][c] - 1 for a, c in zip(s, e)])
    np.testing.assert_array_equal((s1, e1, t1), (s, e, np.minimum(t + 3, last)))
    target = s == 0
    np.testing.assert_array_equal(b['next_proprio'][target, 0],
                                  [encoded(0, a, c) for a, c in zip(e[target], t1[target])])
    np.testing.assert_array_equal(b['action'][target, 0], [encoded(0, a, c) for a, c in zip(e[target], t[target])])


def test_stage2_chunks_never_cross_episodes_unmasked(sources):
  horizon = 5
  num_steps = sum(LENGTHS_T) + sum(LENGTHS_A)
  labels = {sources[0]: np.arange(sum(LENGTHS_T), dtype=np.float32)[:, None] * np.ones(3),
            sources[1]: 1000 + np.arange(sum(LENGTHS_A), dtype=np.float32)[:, None] * np.ones(3)}
  assert num_steps > 0
  ds, info = pipeline.make_dataset(_config(sources, stage=2, horizon=horizon), labels=labels)
  offsets = [d.offsets for d in info['datasets']]
  masked_seen = False
  for i in range(40):
    b = ds[i]
    s, e, t = _decode(b['obs']['overhead/rgb']).T
    for j in range(len(s)):
      n = (LENGTHS_T if s[j] == 0 else LENGTHS_A)[e[j]]
      valid = t[j] + np.arange(horizon) <= n - 2
      np.testing.assert_array_equal(b['chunk_mask'][j], valid)
      masked_seen |= not valid.all()
      steps = t[j] + np.arange(horizon)[valid]
      expect = offsets[s[j]][e[j]] + steps + (1000 if s[j] else 0)
      np.testing.assert_array_equal(b['latents'][j, valid, 0], expect)
      if s[j] == 0:
        np.testing.assert_array_equal(b['actions'][j, valid, 0], [encoded(0, e[j], k) for k in steps])
      else:
        assert not b['actions'][j].any()
  assert masked_seen


def test_process_slices_make_the_one_process_batches(sources):
  """Each process reads a disjoint share, and process p's k-th batch is rows p*B/P .. of the one-process
  k-th batch: the global batch is the same elements in the same order (per-row random draws match too)."""
  cfg = _config(sources, batch_size=8)
  whole, _ = pipeline.make_dataset(cfg, process_index=0, process_count=1)
  halves = [pipeline.make_dataset(cfg, process_index=p, process_count=2)[0] for p in range(2)]
  assert halves[0][0]['source'].shape == (4,)
  for k in range(8):
    full = _decode(whole[k]['obs']['overhead/rgb'])
    parts = [_decode(h[k]['obs']['overhead/rgb']) for h in halves]
    np.testing.assert_array_equal(np.concatenate(parts), full)
  ids = [{tuple(x) for k in range(3) for x in _decode(h[k]['obs']['overhead/rgb'])} for h in halves]
  assert len(ids[0]) == 12 and not ids[0] & ids[1]      # within an epoch no transition is read twice


def test_held_out_episodes(sources):
  train, _ = pipeline.make_dataset(_config(sources, eval_episodes=1))
  held, _ = pipeline.make_dataset(_config(sources, eval_episodes=1, split='eval'))
  tr = np.concatenate([_decode(train[i]['obs']['overhead/rgb']) for i in range(50)])
  ev = np.concatenate([_decode(held[i]['obs']['overhead/rgb']) for i in range(20)])
  last = {0: len(LENGTHS_T) - 1, 1: len(LENGTHS_A) - 1}
  assert all(e != last[s] for s, e, _ in tr)
  assert all(e == last[s] for s, e, _ in ev)


@pytest.mark.parametrize('workers', [0, 2])
def test_iterator_state_restores_the_next_batch(sources, workers):
  cfg = _config(sources, num_workers=workers)
  ds, _ = pipeline.make_dataset(cfg)
  it = pipeline.make_iterator(ds, cfg)
  for _ in range(3):
    next(it)
  state = it.get_state()
  expect = [next(it) for _ in range(2)]
  ds2, _ = pipeline.make_dataset(cfg)
  it2 = pipeline.make_iterator(ds2, cfg)
  it2.set_state(state)
  for want in expect:
    got = next(it2)
    np.testing.assert_array_equal(got['obs']['overhead/rgb'], want['obs']['overhead/rgb'])
    np.testing.assert_array_equal(got['action'], want['action'])


def test_normalisation_uses_target_stats(sources):
  cfg = pipeline.PipelineConfig(sources=_config(sources).sources, image_keys=('overhead/rgb',), batch_size=8)
  ds, info = pipeline.make_dataset(cfg)
  b = ds[0]
  tstats = info['datasets'][0].stats['ee_pose']
  s, e, t = _decode(b['obs']['overhead/rgb']).T
  raw = np.array([encoded(*x) for x in zip(s, e, t)])
  np.testing.assert_allclose(b['obs']['ee_pose'][:, 0], (raw - tstats['mean'][0]) / tstats['std'][0], rtol=1e-4)


def test_bad_configurations(sources, tmp_path):
  with pytest.raises(DatasetError, match='no source has actions'):
    pipeline.make_dataset(_config(sources, sources=(pipeline.Source(sources[1]),)))
  with pytest.raises(DatasetError, match='field "overhead/depth" is not stored'):
    pipeline.make_dataset(pipeline.PipelineConfig(sources=(pipeline.Source(sources[0]),),
                                                  image_keys=('overhead/depth',), batch_size=8))
  with pytest.raises(ValueError, match='not divisible'):
    pipeline.make_dataset(_config(sources, batch_size=7), process_count=2)
  with pytest.raises(DatasetError, match='no such dataset'):
    pipeline.make_dataset(_config(sources, sources=(pipeline.Source(str(tmp_path / 'nope')),)))


def test_held_out_iterator_reads_only_what_an_evaluation_takes():
  """The evaluation's fresh iterator yields the dataset's first batches in order and reads ahead no more
  than the batches it needs (Grain's default read-ahead decoded up to 500 batches per evaluation)."""
  import threading
  import time

  import grain
  read, lock = [], threading.Lock()

  def load(i):
    with lock:
      read.append(i)
    return i

  ds = grain.MapDataset.range(1000).map(load)
  it = pipeline.held_out_iterator(ds, 3)
  assert [next(it) for _ in range(3)] == [0, 1, 2]
  time.sleep(0.5)                           # what read-ahead threads would do meanwhile
  assert len(read) <= 3 + 3, len(read)


def test_a_source_missing_a_view_gives_zeros_marked_absent(tmp_path):
  """A UMI-like source with only the wrist view beside a target with two: its overhead images are zeros and
  `image_present` says so; the target's are marked present; a source with none of the views is refused."""
  target, umi = str(tmp_path / 'kinova'), str(tmp_path / 'umi')
  write_synthetic(target, 0, LENGTHS_T, views=('overhead', 'wrist'))
  write_synthetic(umi, 1, LENGTHS_A, has_actions=False, name='umi', views=('wrist',))
  keys = ('overhead/rgb', 'wrist/rgb')
  for stage in (1, 2):
    cfg = pipeline.PipelineConfig(sources=(pipeline.Source(target, 1.0), pipeline.Source(umi, 1.0)),
                                  image_keys=keys, normalize=False, batch_size=16, stage=stage,
                                  future_frames=2 if stage == 2 else 0, horizon=4)
    batch = next(iter(pipeline.make_dataset(cfg)[0]))
    present = batch['obs']['image_present']
    is_target = batch['is_target']
    assert present.shape == (16, 2) and 0 < is_target.sum() < 16
    np.testing.assert_array_equal(present[:, 0], is_target)
    assert present[:, 1].all()
    np.testing.assert_array_equal(_decode(batch['obs']['wrist/rgb'])[:, 0], np.where(is_target, 0, 1))
    assert not batch['obs']['overhead/rgb'][~is_target].any()
    assert (_decode(batch['obs']['overhead/rgb'])[is_target] == _decode(batch['obs']['wrist/rgb'])[is_target]).all()
    if stage == 2:
      assert not batch['future']['overhead/rgb'][~is_target].any()
  # every source stores every key: no marks (batches as before views could differ)
  same = pipeline.PipelineConfig(sources=(pipeline.Source(target, 1.0), pipeline.Source(umi, 1.0)),
                                 image_keys=('wrist/rgb',), normalize=False, batch_size=8)
  assert 'image_present' not in next(iter(pipeline.make_dataset(same)[0]))['obs']
  with pytest.raises(DatasetError, match='a source must store at least one of the views read'):
    pipeline.make_dataset(dataclasses.replace(same, image_keys=('overhead/rgb',)))
  with pytest.raises(DatasetError, match='the target must store every view read'):
    pipeline.make_dataset(dataclasses.replace(same, image_keys=('overhead/rgb', 'front/rgb')))


def test_a_source_at_its_own_rate_is_read_at_the_targets(tmp_path):
  """UMI recorded every 0.04 s beside a target at 0.05 s: the pipeline reads the UMI re-timed, each step the
  recorded one nearest in time, so transitions and chunks count target steps."""
  from glam_jax.data import reader
  np.testing.assert_array_equal(reader.resample_indices(11, 0.04, 0.05), [0, 1, 2, 4, 5, 6, 8, 9, 10])
  np.testing.assert_array_equal(reader.resample_indices(5, 0.05, 0.05), np.arange(5))
  assert len(reader.resample_indices(7, 0.06, 0.05)) == 8              # slower recording: steps repeat
  target, umi = str(tmp_path / 'kinova'), str(tmp_path / 'umi')
  write_synthetic(target, 0, LENGTHS_T)
  write_synthetic(umi, 1, [11, 21], has_actions=False, name='umi', ctrl_dt=0.04)
  ds = reader.at_rate(reader.Dataset(umi), 0.05)
  assert ds.lengths.tolist() == [9, 17] and ds.meta['num_steps'] == 26 and ds.meta['recorded_ctrl_dt'] == 0.04
  step = lambda e, t: int(round(ds.episodes[e]['ee_pose'][t, 0])) % 100
  assert [step(0, t) for t in range(9)] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
  assert _decode(ds.frame(0, 3)['overhead/rgb'])[2] == 4              # the frame of the same recorded step
  cfg = pipeline.PipelineConfig(sources=(pipeline.Source(target, 1.0), pipeline.Source(umi, 1.0)),
                                image_keys=('overhead/rgb',), normalize=False, batch_size=16)
  _, info = pipeline.make_dataset(cfg)
  assert info['transitions'] == [sum(LENGTHS_T) - len(LENGTHS_T), 26 - 2]
  batch = next(iter(pipeline.make_dataset(cfg)[0]))
  umi_rows = ~batch['is_target']
  now, nxt = _decode(batch['obs']['overhead/rgb'])[umi_rows, 2], _decode(batch['next_obs']['overhead/rgb'])[umi_rows, 2]
  assert set(nxt - now) <= {1, 2}                                     # one target step: 1 or 2 recorded steps
