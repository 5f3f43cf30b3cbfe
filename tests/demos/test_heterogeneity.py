"""Source styles and heterogeneity levels: the settings resolve and refuse bad input, the levels produce
their motion (speed profile, pauses, tilt), pose error and appearance, and a style is part of a dataset's
identity (its meta, the keys of the datasets, planning's measured-success check)."""
import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from glam_jax import configs
from glam_jax.data import open_dataset
from glam_jax.demos import collect, generate, heterogeneity
from glam_jax.experiments import task_pipeline
from glam_jax.sim import camera

SOURCES = generate.SOURCES


def test_levels_style_the_unlabelled_sources_and_give_every_source_the_wrist_view():
  for level in heterogeneity.LEVELS:
    styles = heterogeneity.resolve(SOURCES, level)
    assert styles['kinova'] == styles['ur5e'] == heterogeneity.LABELLED[level]
    assert styles['kinova'].motion == styles['kinova'].motion == heterogeneity.DEFAULT.motion
    assert styles['kinova'].pose == heterogeneity.DEFAULT.pose
    assert styles['umi'] == heterogeneity.AUXILIARY[level]
  assert heterogeneity.AUXILIARY[0] == heterogeneity.LABELLED[0] == heterogeneity.DEFAULT
  assert heterogeneity.AUXILIARY[1].motion.human and heterogeneity.AUXILIARY[1].pose.active
  views = lambda level, source, task='lift': heterogeneity.recorded_views(
      heterogeneity.resolve(SOURCES, level)[source], ('overhead', 'front'), task)
  assert views(0, 'kinova') == views(0, 'umi') == ('overhead', 'front')
  assert views(1, 'kinova') == views(2, 'ur5e') == ('overhead', 'front', 'wrist')
  assert views(1, 'umi') == ('wrist',) and views(1, 'umi', 'stack_three') == ('wrist_left', 'wrist_right')


def test_overrides_apply_and_bad_input_names_what_is_wrong():
  styles = heterogeneity.resolve(SOURCES, 1, 'umi.pose.noise_pos=0.01; umi.motion.speed=0.5,0.9')
  assert styles['umi'].pose.noise_pos == 0.01 and styles['umi'].motion.speed == (0.5, 0.9)
  assert styles['umi'].motion.pause_prob == heterogeneity.AUXILIARY[1].motion.pause_prob
  for bad, named in [(dict(level=3), 'unknown heterogeneity level 3'),
                     (dict(level=True), 'unknown heterogeneity level True'),
                     (dict(overrides='umi.pose.nosie_pos=1'), 'unknown setting pose.nosie_pos'),
                     (dict(overrides='hand.pose.noise_pos=1'), "unknown source 'hand'"),
                     (dict(overrides='umi.looks.ambient=1'), "unknown group 'looks'"),
                     (dict(overrides='umi.pose.noise_pos=abc'), 'expected a value like'),
                     (dict(overrides='umi.pose.noise_pos'), 'expected SOURCE.GROUP.FIELD=VALUE'),
                     (dict(overrides='umi.motion.pause_prob=2'), 'motion.pause_prob=2.0'),
                     (dict(overrides='umi.recording.control_dt=0.033'), 'recording.control_dt=0.033'),
                     (dict(overrides='umi.recording.views=wrist,side'), "unknown 'side'")]:
    with pytest.raises(ValueError, match=named):
      heterogeneity.resolve(SOURCES, **{'level': 1, **bad})


def test_style_round_trips_through_json():
  for style in heterogeneity.AUXILIARY.values():
    assert heterogeneity.Style.from_dict(json.loads(json.dumps(style.to_dict()))) == style
  assert heterogeneity.style_key(heterogeneity.AUXILIARY[1]) != heterogeneity.style_key(heterogeneity.DEFAULT)


def _collect(level, batch=8):
  style = heterogeneity.AUXILIARY[level]
  env = generate.source_env('lift', 'umi', style, 'native')
  run = collect.make_collector(env, motion=style.motion)
  return collect.to_batch(run(jax.random.split(jax.random.PRNGKey(0), batch))), env


def test_level_motion_has_pauses_varied_speed_and_tilt():
  plain, env = _collect(0)
  human, env1 = _collect(1)
  assert env.dt == 0.05 and env1.dt == heterogeneity.AUXILIARY[1].recording.control_dt == 0.04
  assert plain.success.all() and human.success.all()
  s0, s1 = collect.tcp_speeds(plain, env.dt), collect.tcp_speeds(human, env1.dt)
  # recorded at its own rate, in seconds the hand moves about as fast as the scripted arm
  assert 0.6 < s1['mean'] / s0['mean'] < 1.0
  # minimum-jerk segments peak higher over their mean speed, and pauses leave the gripper still
  assert s1['peak'] / s1['mean'] > 1.3 * s0['peak'] / s0['mean']
  assert s1['still'] > s0['still'] + 0.05
  assert human.length.mean() * env1.dt > plain.length.mean() * env.dt
  tilt = lambda b: np.degrees(np.arccos(np.clip(-np.cross(b.steps['ee_pose'][..., 3:6],
                                                         b.steps['ee_pose'][..., 6:9])[..., 2], -1, 1)))
  steps = lambda b: np.concatenate([tilt(b)[i, 10:b.length[i]] for i in range(len(b.length))])
  assert np.median(steps(plain)) < 1.0 and np.median(steps(human)) > 2.0


def test_recorded_pose_error_has_the_configured_noise_and_drift():
  rng = np.random.default_rng(0)
  track = np.tile(np.array([0.4, 0.0, 0.2, 1, 0, 0, 0, -1, 0], np.float32), (200, 1))
  white = heterogeneity.recorded_pose(track, heterogeneity.Pose(noise_pos=0.003), 0.05, rng)
  assert abs((white[:, :3] - track[:, :3]).std() - 0.003) < 0.0005
  np.testing.assert_array_equal(white[:, 3:], track[:, 3:])
  drift = np.stack([heterogeneity.recorded_pose(track, heterogeneity.Pose(drift_pos=0.01, drift_rot=0.02), 0.05, rng)
                    for _ in range(200)])
  err = drift[..., :3] - track[:, :3]
  # a random walk: variance grows as drift^2 * t
  for t in (50, 199):
    assert abs(err[:, t].var() / (0.01 ** 2 * 0.05 * t) - 1) < 0.25
  cols = drift[..., 3:6], drift[..., 6:9]
  np.testing.assert_allclose(np.linalg.norm(cols[0], axis=-1), 1, atol=1e-5)
  np.testing.assert_allclose(np.sum(cols[0] * cols[1], -1), 0, atol=1e-5)
  assert np.abs(cols[0] - track[:, 3:6]).max() > 0.01


def test_appearance_changes_the_render_and_keeps_the_masks(get_env):
  import mujoco
  env = get_env('lift', 'umi', render=False)
  data = mujoco.MjData(env.mj_model)
  mujoco.mj_forward(env.mj_model, data)
  pos, mat = np.asarray(data.geom_xpos, np.float32), np.asarray(data.geom_xmat, np.float32)
  images = {}
  for name, look in [('plain', camera.Appearance()), ('level1', heterogeneity.AUXILIARY[1].appearance)]:
    rig = camera.make_rig(env.mj_model, ('overhead',), 24, 24, env.mask_geoms, look)
    images[name] = camera.render(rig, pos, mat)
  assert np.abs(images['plain']['overhead/rgb'].astype(int) - images['level1']['overhead/rgb']).mean() > 10
  np.testing.assert_array_equal(images['plain']['overhead/mask'], images['level1']['overhead/mask'])


def test_level_dataset_keeps_truth_and_identity(tmp_path):
  style = heterogeneity.AUXILIARY[1]
  cfg = generate.GenerateConfig(task='lift', source='umi', episodes=2, out=str(tmp_path / 'umi'), seed=3,
                                image_size=16, batch=4, render_chunk=64, progress=False, backend='native',
                                style=style, level=1)
  meta = generate.generate(cfg)
  assert meta['heterogeneity_level'] == 1 and heterogeneity.Style.from_dict(meta['style']) == style
  assert meta['ctrl_dt'] == 0.04                    # its own recording rate
  ds = open_dataset(cfg.out)
  assert meta['views'] == ['wrist'] and set(ds.meta['frame_fields']) == {'wrist/rgb', 'wrist/mask'}
  assert any(ds.frame(0, t)['wrist/mask'].any() for t in range(int(ds.lengths[0])))   # the cube, in its camera
  e = ds.episodes[0]
  assert set(e) == {'ee_pose', 'gripper', 'phase', 'true_ee_pose'}
  err = np.linalg.norm(e['ee_pose'][:, :3] - e['true_ee_pose'][:, :3], axis=-1)
  assert 0.0005 < err.mean() < 0.05
  assert generate.dataset_complete(cfg.out, cfg)
  assert not generate.dataset_complete(cfg.out, dataclasses.replace(cfg, style=heterogeneity.DEFAULT, level=0))
  assert not generate.dataset_complete(cfg.out, dataclasses.replace(cfg, style=heterogeneity.AUXILIARY[2], level=2))


def test_level_changes_the_keys_of_the_datasets_it_styles():
  pc = configs.load('pipeline', 'lift')
  paths = {}
  for level in heterogeneity.LEVELS:
    pc.heterogeneity = level
    paths[level] = task_pipeline.plan(pc, '/w').paths
  # the target's style (a wrist view added) is the same at levels 1 and 2: runs at both share its data
  assert paths[0]['kinova'] != paths[1]['kinova'] == paths[2]['kinova']
  assert len({paths[level]['umi'] for level in heterogeneity.LEVELS}) == 3
  assert all(os.path.dirname(p) == os.path.join('data', 'lift') for ps in paths.values() for p in ps.values())


def test_planning_refuses_an_unmeasured_or_failing_style(tmp_path):
  table = str(tmp_path / 'table.json')
  styles = heterogeneity.resolve(SOURCES, 1)
  levels = {'kinova': 1, 'umi': 1}
  with pytest.raises(ValueError, match='no measured scripted success.*check_demos.py --tasks=lift --sources=umi --levels=1'):
    heterogeneity.check_measured('lift', levels, 'mjx', styles, table)
  row = dict(task='lift', source='umi', backend='mjx', level=1, motion_key=heterogeneity.motion_key(styles['umi']),
             successes=170, episodes=200, rate=0.85)
  heterogeneity.record_success([row], table)
  with pytest.raises(ValueError, match='170/200, below 90%'):
    heterogeneity.check_measured('lift', levels, 'mjx', styles, table)
  heterogeneity.record_success([dict(row, successes=199, rate=0.995)], table)
  heterogeneity.check_measured('lift', levels, 'mjx', styles, table)
  assert len(heterogeneity.read_success_table(table)) == 1
  # the level measured again under a new definition: the old row goes
  heterogeneity.record_success([dict(row, motion_key='0123456789', successes=198, rate=0.99)], table)
  assert [r['motion_key'] for r in heterogeneity.read_success_table(table)] == ['0123456789']
  with pytest.raises(ValueError, match='on native physics has no measured'):
    heterogeneity.check_measured('lift', levels, 'native', styles, table)
  heterogeneity.check_measured('lift', {'kinova': 0, 'umi': 0}, 'native', heterogeneity.resolve(SOURCES, 0), table)


def test_models_read_the_views_the_sources_store():
  """Level 0 changes nothing; at level 1 the policy reads the target's three views, the world model the one
  every source stores (or, asked, the target's)."""
  c = configs.load('pipeline', 'lift')
  styles = lambda level: {s: st for s, st in heterogeneity.resolve(SOURCES, level).items() if s in ('kinova', 'umi')}
  assert task_pipeline.view_keys(c, styles(0)) == (None, None)
  wm, policy = task_pipeline.view_keys(c, styles(1))
  assert wm(('overhead/mask', 'front/mask')) == ('wrist/mask',)
  assert policy(('overhead/rgb', 'front/rgb')) == ('overhead/rgb', 'front/rgb', 'wrist/rgb')
  c.world_model_views = 'target'
  wm, _ = task_pipeline.view_keys(c, styles(1))
  assert wm(('overhead/rgb', 'front/rgb')) == ('overhead/rgb', 'front/rgb', 'wrist/rgb')
  c.world_model_views = 'all'
  with pytest.raises(configs.ConfigError, match="world_model_views='all'; valid: shared, target"):
    task_pipeline.view_keys(c, styles(1))
  c.world_model_views = 'shared'
  no_wrist = heterogeneity.resolve(SOURCES, 1, 'umi.recording.views=front')
  wm, _ = task_pipeline.view_keys(c, {s: no_wrist[s] for s in ('kinova', 'umi')})
  assert wm(('overhead/mask',)) == ('front/mask',)


def test_the_scene_version_is_part_of_a_datasets_and_a_rows_identity(tmp_path, monkeypatch):
  """Data and scripted-success rows made on another scene (glam_jax.sim.scene.SCENE_VERSION) are not reused:
  the dataset's key changes, a finished dataset is not complete, a measured row does not count."""
  from glam_jax.demos import store
  from glam_jax.sim import scene
  cfg = generate.GenerateConfig(task='lift', source='umi', episodes=2, out=str(tmp_path / 'umi'), seed=3,
                                image_size=16, batch=4, render_chunk=64, progress=False, backend='native')
  generate.generate(cfg)
  assert generate.dataset_complete(cfg.out, cfg)
  key = store.dataset_path('root', cfg)
  table = str(tmp_path / 'table.json')
  styles = heterogeneity.resolve(SOURCES, 1)
  row = dict(task='lift', source='umi', backend='mjx', level=1, motion_key=heterogeneity.motion_key(styles['umi']),
             successes=200, episodes=200, rate=1.0)
  heterogeneity.record_success([row], table)
  heterogeneity.check_measured('lift', {'kinova': 1, 'umi': 1}, 'mjx', styles, table)
  monkeypatch.setattr(scene, 'SCENE_VERSION', scene.SCENE_VERSION + 1)
  assert not generate.dataset_complete(cfg.out, cfg)
  assert store.dataset_path('root', cfg) != key
  with pytest.raises(ValueError, match='no measured scripted success'):
    heterogeneity.check_measured('lift', {'kinova': 1, 'umi': 1}, 'mjx', styles, table)
