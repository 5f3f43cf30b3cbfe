"""A source's missing views (a UMI recording has only its wrist camera) are left out: of the pixel losses,
and of the policy's context, whatever the zeros standing in for them hold."""
import jax
import jax.numpy as jnp
import numpy as np

from glam_jax.models import inputs
from glam_jax.models.policy import Policy, PolicyConfig

KEYS = ('overhead/rgb', 'wrist/mask')


def test_channel_weights_follow_the_views():
  obs = {'image_present': np.array([[True, False], [True, True]])}
  w = np.asarray(inputs.channel_weights(obs, KEYS))
  np.testing.assert_array_equal(w, [[1, 1, 1, 0], [1, 1, 1, 1]])
  assert inputs.channel_weights({}, KEYS) is None


def test_pixel_loss_leaves_out_missing_views():
  rng = np.random.default_rng(0)
  pred, target = rng.normal(size=(2, 2, 5, 5, 4)).astype(np.float32)
  w = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], np.float32)
  changed = target.copy()
  changed[0, ..., 3] += 100.0          # element 0's missing view: whatever it holds, it does not count
  np.testing.assert_allclose(inputs.pixel_mse(pred, target, w), inputs.pixel_mse(pred, changed, w), rtol=1e-6)
  expected = np.mean([np.mean((pred[0, ..., :3] - target[0, ..., :3]) ** 2), np.mean((pred[1] - target[1]) ** 2)])
  np.testing.assert_allclose(inputs.pixel_mse(pred, target, w), expected, rtol=1e-5)
  np.testing.assert_allclose(inputs.pixel_mse(pred, target), np.mean((pred - target) ** 2), rtol=1e-6)


def test_policy_context_ignores_a_missing_view():
  config = PolicyConfig(image_shape=(16, 16, 3), num_views=2, state_dim=4, horizon=4, output_dim=3,
                        encoder_features=(8, 8), encoder_dim=16, projection_width=16, view_embedding=8,
                        head_layers=2, head_width=16)
  model = Policy(config)
  rng = np.random.default_rng(1)
  images = jnp.asarray(rng.uniform(size=(2, 2, 16, 16, 3)), jnp.float32)
  state = jnp.asarray(rng.normal(size=(2, 4)), jnp.float32)
  present = jnp.array([[1.0, 0.0], [1.0, 1.0]])
  params = model.init(jax.random.PRNGKey(0), images, state, present)
  ctx = lambda im: np.asarray(model.apply(params, im, state, present, method=Policy.context))
  other = images.at[:, 1].set(jnp.asarray(rng.uniform(size=(2, 16, 16, 3)), jnp.float32))
  a, b = ctx(images), ctx(other)
  np.testing.assert_array_equal(a[0], b[0])                     # element 0 lacks view 1
  assert np.abs(a[1] - b[1]).max() > 1e-3                       # element 1 has it
  np.testing.assert_array_equal(a[0, 8:16], 0.0)                # the missing view's embedding
