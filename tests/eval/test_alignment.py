"""The alignment probe on constructed latents: an aligned latent reads the motion on both sources, one that
encodes the source does not; the motion features are the true ones; the reference probe sees pose noise."""
import numpy as np
import pytest

from glam_jax.demos import heterogeneity
from glam_jax.eval import alignment


def _episode(rng, steps=40, yaw_rate=0.0):
  """A 9-wide pose track: a random walk of the TCP, turning about z at `yaw_rate` per step."""
  pos = np.cumsum(rng.normal(0, 0.01, (steps, 3)), axis=0)
  yaw = yaw_rate * np.arange(steps)
  c0 = np.stack([np.cos(yaw), np.sin(yaw), np.zeros(steps)], -1)
  c1 = np.stack([np.sin(yaw), -np.cos(yaw), np.zeros(steps)], -1)
  grip = np.cumsum(rng.normal(0, 0.002, (steps, 1)), axis=0)
  return np.concatenate([pos, c0, c1], -1), grip


def test_motion_features_are_the_true_motion():
  rng = np.random.default_rng(0)
  ee, grip = _episode(rng, yaw_rate=0.05)
  m = alignment.ee_motion(ee, grip)
  assert m.shape == (39, 7)
  np.testing.assert_allclose(m[:, :3], np.diff(ee[:, :3], axis=0), atol=1e-12)
  # down-pointing gripper turning about world z by +0.05 rad per step (its z axis points down: the turn
  # about world z is what the rotation vector says)
  np.testing.assert_allclose(m[:, 5], 0.05, atol=1e-9)
  np.testing.assert_allclose(m[:, 3:5], 0.0, atol=1e-9)
  np.testing.assert_allclose(m[:, 6], np.diff(grip[:, 0]), atol=1e-12)


def _transitions(rng, n_eps, mix, phases=6, noise=0.0):
  """Transitions whose latent is `mix @ truth` (+ noise); each episode walks through `phases` phases, each
  with its own mean motion."""
  out = {'truth': [], 'recorded': [], 'phase': [], 'latent': []}
  for _ in range(n_eps):
    phase = np.repeat(np.arange(phases), 8)
    means = np.linspace(-1, 1, phases)[:, None] * np.array([0.01, -0.005, 0.008, 0.0, 0.0, 0.02, 0.001])
    truth = means[phase] + rng.normal(0, 0.004, (len(phase), 7))
    out['truth'].append(truth)
    out['recorded'].append(np.concatenate([truth, np.zeros((len(phase), 3))], -1))
    out['phase'].append(phase)
    out['latent'].append(truth @ mix.T + noise * rng.normal(size=(len(phase), mix.shape[0])))
  return {k: np.concatenate(v) for k, v in out.items()}


def test_aligned_latent_reads_the_motion_on_both_sources():
  rng = np.random.default_rng(1)
  mix = rng.normal(size=(8, 7))
  target = {'fit': _transitions(rng, 40, mix), 'held_out': _transitions(rng, 10, mix)}
  out = alignment.probe(target, {'umi': _transitions(rng, 40, mix)})
  assert out['target_held_out']['r2'] > 0.99
  assert out['umi']['r2'] > 0.99 and abs(out['umi']['gap']) < 0.01
  assert out['umi']['phase_distance']['ratio'] < 0.05
  assert out['umi']['reference_r2'] > 0.99          # recorded delta = truth here


def test_latent_that_encodes_the_source_has_a_large_gap():
  rng = np.random.default_rng(2)
  mix = rng.normal(size=(8, 7))
  other = mix[::-1] + rng.normal(size=(8, 7))        # the other source's motions land elsewhere
  target = {'fit': _transitions(rng, 40, mix), 'held_out': _transitions(rng, 10, mix)}
  out = alignment.probe(target, {'umi': _transitions(rng, 40, other)})
  assert out['target_held_out']['r2'] > 0.99
  assert out['umi']['gap'] > 0.5
  assert out['umi']['phase_distance']['ratio'] > 0.3
  assert out['umi']['margin'] < -0.5                 # far below reading the (exact) recorded delta


def test_reference_probe_falls_with_pose_noise():
  """On poses recorded with level-2 error the recorded delta no longer says what moved."""
  rng = np.random.default_rng(3)
  ee, grip = _episode(rng, steps=400, yaw_rate=0.01)
  truth = alignment.ee_motion(ee, grip)
  pose = heterogeneity.AUXILIARY[2].pose
  noisy = heterogeneity.recorded_pose(ee.astype(np.float32), pose, 0.05, np.random.default_rng(4))
  exact = alignment.fit_ridge(alignment.recorded_delta(ee, grip), truth)
  assert alignment.r2(exact, alignment.recorded_delta(ee, grip), truth) > 0.99
  model = alignment.fit_ridge(alignment.recorded_delta(noisy, grip), truth)
  assert alignment.r2(model, alignment.recorded_delta(noisy, grip), truth) < 0.9


def test_phase_distance_needs_two_common_phases():
  rng = np.random.default_rng(5)
  lat = rng.normal(size=(50, 4))
  out = alignment.phase_distance(lat, np.zeros(50), lat, np.zeros(50))
  assert out['ratio'] is None and out['phases'] == 1


@pytest.mark.parametrize('angle', [0.0, 1e-8, 0.3, 3.0])
def test_rotation_vectors_invert_rodrigues(angle):
  axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
  rot = heterogeneity._rotations(angle * axis[None])
  np.testing.assert_allclose(alignment.rotation_vectors(rot)[0], angle * axis, atol=1e-7)
