"""The C++ ray caster (glam_jax/sim/native_render.cc) gives the JAX caster's images: RGB, depth and masks on
every primitive (capsules end-on, tilted and lying, a rotated box, a sphere, the plane), on task scenes with
the wrist camera riding the gripper and another appearance, batched under vmap and alone; GLAM_NATIVE_RENDER=0
keeps the JAX caster."""
import dataclasses

import jax
import mujoco
import numpy as np
import pytest

from glam_jax.sim import camera, make_env, native_ffi
from tests.sim.test_camera import _PRIMITIVES_XML

pytestmark = pytest.mark.skipif(native_ffi.library() is None, reason='the native library does not build here')


def _states(model, n, seed=0):
  d = mujoco.MjData(model)
  rng = np.random.default_rng(seed)
  pos, mat = [], []
  for _ in range(n):
    d.qpos[:] = model.qpos0 + rng.normal(0, 0.05, model.nq)
    mujoco.mj_forward(model, d)
    pos.append(d.geom_xpos.astype(np.float32).copy())
    mat.append(d.geom_xmat.astype(np.float32).copy())
  return np.stack(pos), np.stack(mat)


def _both(rig, pos, mat):
  batched = lambda f: jax.jit(jax.vmap(lambda p, r: f(rig, p, r)))
  native = batched(camera.render)(pos, mat)
  reference = batched(camera.render_jax)(pos, mat)
  return native, reference


def _assert_same(native, reference):
  assert set(native) == set(reference)
  for key in native:
    a, b = np.asarray(native[key], np.float64), np.asarray(reference[key], np.float64)
    assert a.shape == b.shape and native[key].dtype == reference[key].dtype, key
    if key.endswith('rgb'):
      assert np.abs(a - b).mean() < 0.01 and (np.abs(a - b).max(-1) > 2).mean() < 1e-3, key
    elif key.endswith('mask'):
      assert (a != b).mean() < 1e-3, key
    else:
      assert (np.abs(a - b) > 1e-3).mean() < 1e-3, key


def test_every_primitive():
  model = mujoco.MjModel.from_xml_string(_PRIMITIVES_XML)
  rig = camera.make_rig(model, ('top', 'side'), 48, 48)
  pos, mat = _states(model, 3)
  assert camera.native()
  native, reference = _both(rig, pos, mat)
  _assert_same(native, reference)
  assert len(np.unique(np.asarray(reference['side/rgb']).reshape(-1, 3), axis=0)) > 20    # not a blank image


@pytest.mark.parametrize('task,embodiment,views', [('lift', 'kinova', ('overhead', 'front', 'wrist')),
                                                   ('stack_three', 'kinova', ('overhead', 'wrist_left', 'wrist_right')),
                                                   ('pick_place', 'umi', ('front', 'wrist'))])
def test_task_scenes_with_the_wrist_camera_and_another_look(task, embodiment, views):
  env = make_env(task, embodiment, render=False)
  look = camera.Appearance(light_dir=(-0.3, 0.5, 0.8), ambient=0.5, table_rgb=(0.6, 0.5, 0.4), checker=0.07,
                           checker_contrast=0.2)
  for appearance in (camera.Appearance(), look):
    rig = camera.make_rig(env.mj_model, views, 32, 32, env.mask_geoms, appearance)
    pos, mat = _states(env.mj_model, 4)
    native, reference = _both(rig, pos, mat)
    _assert_same(native, reference)
    assert any(np.asarray(reference[f'{v}/mask']).any() for v in views)      # the task's objects in view
  one = jax.jit(lambda p, r: camera.render(rig, p, r))(pos[0], mat[0])       # unbatched: the same first image
  assert all(np.array_equal(np.asarray(one[k]), np.asarray(native[k])[0]) for k in one)


def test_switched_off_by_the_environment(monkeypatch):
  monkeypatch.setenv('GLAM_NATIVE_RENDER', '0')
  assert not camera.native()
  model = mujoco.MjModel.from_xml_string(_PRIMITIVES_XML)
  rig = dataclasses.replace(camera.make_rig(model, ('top',), 16, 16))
  pos, mat = _states(model, 1)
  jaxpr = str(jax.make_jaxpr(lambda p, r: camera.render(rig, p, r))(pos[0], mat[0]))
  assert native_ffi.RENDER_TARGET not in jaxpr
  monkeypatch.setenv('GLAM_NATIVE_RENDER', '1')
  assert native_ffi.RENDER_TARGET in str(jax.make_jaxpr(lambda p, r: camera.render(rig, p, r))(pos[0], mat[0]))
