"""The baselines' latent-action learners (CLAM, LAPA) on tiny networks: where their gradients go, NSVQ,
codebook use, that their losses fall, and the latent-action interface every method offers."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from glam_jax.models.latent_action_models import nearest_code, nsvq
from glam_jax.train import state as train_state
from tests.stage1 import helpers

RNG = jax.random.PRNGKey(5)
LEARNERS = {'glam': helpers.learner, 'clam': helpers.clam_learner, 'lapa': helpers.lapa_learner}


def _grad_norms(lrn, params, batch, metric):
  g = jax.grad(lambda p: lrn.loss(p, batch, RNG)[1][metric])(params)
  return {k: float(optax.global_norm(v)) for k, v in g.items()}


def test_clam_action_loss_trains_the_idm_and_encoder():
  lrn = helpers.clam_learner()
  batch = helpers.random_batch()
  g = _grad_norms(lrn, helpers.init(lrn, batch), batch, 'action_recon')
  assert g['idm_net'] > 1e-6 and g['encoder'] > 1e-6 and g['action_decoder_net'] > 1e-6
  assert g['decoder'] == 0.0 and g['forward_net'] == 0.0


def test_clam_action_term_has_the_authors_image_weight_and_schedule():
  """clam_code's train_clam_images.yaml: action_decoder_loss_weight 0.01, the term on every 2nd step."""
  lrn = helpers.clam_learner()
  assert (lrn.loss_config.action_weight, lrn.loss_config.action_every) == (0.01, 2)
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  at = lambda step: {**batch, train_state.STEP_KEY: jnp.asarray(step)}
  (on, m_on), (off, m_off) = lrn.loss(params, at(4), RNG), lrn.loss(params, at(5), RNG)
  assert float(on - off) == pytest.approx(0.01 * float(m_on['action_recon']), rel=1e-4)
  g_off = jax.grad(lambda p: lrn.loss(p, at(5), RNG)[0])(params)
  g_on = jax.grad(lambda p: lrn.loss(p, at(4), RNG)[0])(params)
  assert float(optax.global_norm(g_off['action_decoder_net'])) == 0.0
  assert float(optax.global_norm(g_on['action_decoder_net'])) > 0.0
  # held-out evaluation (no step) counts the term
  assert float(lrn.loss(params, batch, RNG)[0]) == pytest.approx(float(on), rel=1e-6)
  with pytest.raises(ValueError, match='action_every'):
    helpers.clam_learner(action_every=0)


def test_clam_action_loss_ignores_auxiliary_samples():
  lrn = helpers.clam_learner()
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  other = {**batch, 'action': batch['action'].copy()}
  other['action'][4:] = 0.7
  assert float(lrn.loss(params, other, RNG)[1]['action_recon']) == pytest.approx(
      float(lrn.loss(params, batch, RNG)[1]['action_recon']), rel=1e-6)


def test_nsvq_substitutes_noise_of_the_quantisation_error_norm():
  tokens = jax.random.normal(jax.random.PRNGKey(0), (50, 4, 3))
  codebook = jax.random.normal(jax.random.PRNGKey(1), (8, 3))
  q, idx = nsvq(tokens, codebook, jax.random.PRNGKey(2))
  brute = np.argmin(((np.asarray(tokens)[..., None, :] - np.asarray(codebook)) ** 2).sum(-1), -1)
  np.testing.assert_array_equal(idx, brute)
  np.testing.assert_array_equal(nearest_code(tokens, codebook), brute)
  np.testing.assert_allclose(np.linalg.norm(q - tokens, axis=-1),
                             np.linalg.norm(tokens - codebook[idx], axis=-1), rtol=1e-5)
  # the codebook gets a gradient through the error's norm, the tokens through themselves
  g_code, g_tok = jax.grad(lambda c, t: jnp.sum(nsvq(t, c, jax.random.PRNGKey(2))[0] ** 2), (0, 1))(codebook, tokens)
  assert float(jnp.abs(g_code).sum()) > 0 and float(jnp.abs(g_tok).sum()) > 0


def test_lapa_latents_never_see_actions():
  lrn = helpers.lapa_learner()
  batch = helpers.random_batch()
  g = _grad_norms(lrn, helpers.init(lrn, batch), batch, 'action_probe')
  assert g['action_decoder_net'] > 1e-6
  assert g['idm_net'] == 0.0 and g['encoder'] == 0.0 and g['codebook'] == 0.0


def test_lapa_quantises_the_feature_difference_and_its_probe_reads_the_state():
  """LAPA (laq_model/nsvq.py): the tokens are g(x_t+1) - g(x_t), so a transition to the same frame has zero
  tokens and swapping the frames negates them; the action probe reads the proprioception beside the tokens."""
  lrn = helpers.lapa_learner()
  assert lrn.model_config.latent_input == 'difference' and lrn.reads_state
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  tokens = lambda a, b: np.asarray(lrn._tokens(params, {'obs': a, 'next_obs': b})[-1])
  np.testing.assert_allclose(tokens(batch['obs'], batch['obs']), 0.0, atol=1e-6)
  np.testing.assert_allclose(tokens(batch['next_obs'], batch['obs']), -tokens(batch['obs'], batch['next_obs']),
                             atol=1e-5)
  z = lrn.encode(params, batch['obs'], batch['next_obs'])
  a1 = lrn.decode_action(params, z, batch['proprio'])
  a2 = lrn.decode_action(params, z, batch['proprio'] + 1.0)
  assert not np.allclose(a1, a2)
  with pytest.raises(ValueError, match='proprioception'):
    lrn.decode_action(params, z)
  pair = helpers.lapa_learner(latent_input='pair')
  pair_tokens = np.asarray(pair._tokens(helpers.init(pair, batch), {'obs': batch['obs'], 'next_obs': batch['obs']})[-1])
  assert np.abs(pair_tokens).max() > 1e-3        # the 'pair' option is an MLP over both frames, no difference


def test_lapa_uses_every_code_on_random_data():
  lrn = helpers.lapa_learner()
  batch = helpers.random_batch(n=32, num_target=16)
  params, first, m = helpers.train(lrn, batch, 300)
  codes = np.asarray(lrn.codes(params, batch['obs'], batch['next_obs']))
  assert codes.shape == (32, 4)
  assert len(np.unique(codes)) == 8, np.bincount(codes.ravel(), minlength=8)
  assert float(m['next_frame']) < 0.5 * float(first['next_frame'])


@pytest.mark.parametrize('name', sorted(LEARNERS))
def test_loss_falls_and_interface(name):
  lrn = LEARNERS[name]()
  batch = helpers.random_batch(n=8)
  params, first, m = helpers.train(lrn, batch, 200)
  assert float(m['loss']) < 0.5 * float(first['loss'])
  z = lrn.encode(params, batch['obs'], batch['next_obs'])
  assert z.shape == (8, lrn.latent_dim)
  assert float(np.std(np.asarray(z), axis=0).mean()) > 1e-4          # transitions get different latents
  assert lrn.decode_action(params, z, batch['proprio']).shape == (8, 8)


@pytest.mark.parametrize('revival', [0.0, 0.1])
def test_lapa_revives_a_code_that_wins_no_token(revival):
  # code 0 starts far from every token: NSVQ alone never moves it (it is nobody's nearest code); the tokens of
  # an MLP over both frames stay near the origin on this batch, the frame difference's grow toward code 0
  lrn = helpers.lapa_learner(latent_input='pair', revival_weight=revival)
  batch = helpers.random_batch(n=32, num_target=16)
  params = helpers.init(lrn, batch)
  params = {**params, 'codebook': params['codebook'].at[0].set(6.0)}
  tx = optax.adam(3e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, i):
    g = jax.grad(lambda p: lrn.loss(p, batch, jax.random.fold_in(RNG, i))[0])(params)
    updates, opt = tx.update(g, opt)
    return optax.apply_updates(params, updates), opt

  for i in range(600):
    params, opt = step(params, opt, i)
  used = set(np.unique(np.asarray(lrn.codes(params, batch['obs'], batch['next_obs']))).tolist())
  assert (0 in used) == (revival > 0), used
