"""GLAM's stage-1 objective: closed-form KLs, the asymmetric alignment's gradients, the action decoder's only
path, target masking, and that the loss falls and a tiny dataset is fitted."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from glam_jax.models import gaussian
from glam_jax.stage1.glam import LossConfig, glam_loss
from tests.stage1 import helpers

RNG = jax.random.PRNGKey(3)


def _metric_grad(lrn, params, batch, name):
  return jax.grad(lambda p: glam_loss(lrn.model, p, batch, RNG, lrn.image_keys, lrn.loss_config)[1][name])(params)


def _norm(tree) -> float:
  return float(optax.global_norm(tree))


def test_gaussian_kls_match_closed_form():
  r = np.random.default_rng(0)
  mq, lq, mp, lp = (r.normal(size=(5, 3)) for _ in range(4))
  # one-dimensional Gaussians, written out: log(σp/σq) + (σq² + (μq-μp)²) / (2σp²) - 1/2, summed over dims
  sq, sp = np.exp(0.5 * lq), np.exp(0.5 * lp)
  expected = np.sum(np.log(sp / sq) + (sq ** 2 + (mq - mp) ** 2) / (2 * sp ** 2) - 0.5, -1)
  np.testing.assert_allclose(gaussian.kl(mq, lq, mp, lp), expected, rtol=1e-5)
  np.testing.assert_allclose(gaussian.kl_to_standard(mq, lq),
                             gaussian.kl(mq, lq, np.zeros_like(mp), np.zeros_like(lp)), rtol=1e-5)
  np.testing.assert_allclose(gaussian.kl(mq, lq, mq, lq), 0, atol=1e-6)
  # Monte Carlo check of the samples' distribution against the closed form
  z = gaussian.sample(jax.random.PRNGKey(0), jnp.full((200_000, 1), 0.7), jnp.full((200_000, 1), np.log(0.25)))
  assert float(z.mean()) == pytest.approx(0.7, abs=0.01) and float(z.std()) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize('alignment', ['asymmetric', 'symmetric'])
def test_alignment_gradients(alignment):
  lrn = helpers.learner(alignment=alignment)
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  g = _metric_grad(lrn, params, batch, 'kl_align')
  assert _norm(g['idm_net']) > 1e-6 and _norm(g['encoder']) > 1e-6
  if alignment == 'asymmetric':
    assert _norm(g['action_encoder_net']) == 0.0     # the action encoder is never pulled toward the IDM
  else:
    assert _norm(g['action_encoder_net']) > 1e-6


@pytest.mark.parametrize('action_loss_on', ['action_encoder', 'idm'])
def test_action_decoder_reads_only_the_action_encoder(action_loss_on):
  lrn = helpers.learner(action_loss_on=action_loss_on)
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  g = _metric_grad(lrn, params, batch, 'action_recon')
  total = jax.grad(lambda p: lrn.loss(p, batch, RNG)[0])(params)
  # the action loss is the only term that reaches the decoder
  for a, b in zip(jax.tree.leaves(total['action_decoder_net']), jax.tree.leaves(g['action_decoder_net'])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-8)
  if action_loss_on == 'action_encoder':
    assert _norm(g['idm_net']) == 0.0 and _norm(g['encoder']) == 0.0
    assert _norm(g['action_encoder_net']) > 1e-6
  else:   # the CLAM-style ablation: the action loss trains the IDM
    assert _norm(g['action_encoder_net']) == 0.0 and _norm(g['idm_net']) > 1e-6


def test_target_terms_ignore_auxiliary_samples():
  lrn = helpers.learner()
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  _, m = lrn.loss(params, batch, RNG)
  other = {**batch, 'action': batch['action'].copy(), 'proprio': batch['proprio'].copy()}
  other['action'][4:] = 0.9       # auxiliary rows: garbage labels must not count
  other['proprio'][4:] = 5.0
  _, m2 = lrn.loss(params, other, RNG)
  for k in ('action_recon', 'proprio_forward', 'kl_align', 'kl_act', 'forward_act'):
    assert float(m2[k]) == pytest.approx(float(m[k]), rel=1e-6), k
  # an all-auxiliary batch has no target terms at all, and a finite loss
  aux = {**batch, 'is_target': np.zeros(8, bool)}
  loss, m3 = lrn.loss(params, aux, RNG)
  assert np.isfinite(float(loss)) and float(m3['action_recon']) == 0.0 and float(m3['kl_align']) == 0.0


def test_loss_terms_against_the_models_own_outputs():
  """The alignment KL and the image reconstruction recomputed in numpy from the model's posteriors and codec
  (closed-form Gaussian KL over target rows only), and the total as the paper's weighted sum."""
  lrn = helpers.learner(align_weight=2.0, prior_weight=0.5)
  batch = helpers.random_batch()
  params = helpers.init(lrn, batch)
  loss, m = lrn.loss(params, batch, RNG)
  from glam_jax.models import inputs
  from glam_jax.models.world_model import WorldModel
  apply = lambda method, *a: lrn.model.apply({'params': params}, *a, method=method)
  now, nxt = (inputs.image_input(batch[k], lrn.image_keys) for k in ('obs', 'next_obs'))
  y, next_y = apply(WorldModel.encode, now), apply(WorldModel.encode, nxt)
  ee, next_ee = (inputs.ee_state(batch[k], lrn.ee_tilt) for k in ('obs', 'next_obs'))
  mi, li = (np.asarray(v, np.float64) for v in apply(WorldModel.idm, y, ee, next_y, next_ee))
  ma, la = (np.asarray(v, np.float64) for v in apply(WorldModel.action_encoder, batch['proprio'], batch['action']))
  kl = np.sum(0.5 * (la - li) + (np.exp(li) + (mi - ma) ** 2) / (2 * np.exp(la)) - 0.5, -1)
  target = np.asarray(batch['is_target'])
  assert float(m['kl_align']) == pytest.approx(kl[target].mean(), rel=1e-4)
  recon = np.mean((np.asarray(apply(WorldModel.decode, y), np.float64) - np.asarray(now)) ** 2)
  assert float(m['image_recon']) == pytest.approx(recon, rel=1e-4)
  expected = (m['image_recon'] + m['forward_idm'] + m['forward_act'] + m['proprio_forward'] + m['action_recon']
              + 2.0 * m['kl_align'] + 0.5 * (m['kl_idm'] + m['kl_act']))
  assert float(loss) == pytest.approx(float(expected), rel=1e-5)


def test_forward_target_is_a_stop_gradient():
  """The forward model's next-state target is the encoded next frame under a stop-gradient: the loss value
  is the same with and without it, the gradient reaching the image encoder is not (DESIGN.md §2)."""
  batch = helpers.random_batch()
  with_sg, without = helpers.learner(stop_grad_next_state=True), helpers.learner(stop_grad_next_state=False)
  params = helpers.init(with_sg, batch)
  values = [float(lrn.loss(params, batch, RNG)[1]['forward_idm']) for lrn in (with_sg, without)]
  assert values[0] == pytest.approx(values[1], rel=1e-6)
  grads = [_metric_grad(lrn, params, batch, 'forward_idm')['encoder'] for lrn in (with_sg, without)]
  diff = _norm(jax.tree.map(lambda a, b: a - b, *grads))
  assert diff > 1e-3 * _norm(grads[1])
  # the IDM and forward model get the same gradient either way: only the target's path differs
  g_idm = [_metric_grad(lrn, params, batch, 'forward_idm')['forward_net'] for lrn in (with_sg, without)]
  for a, b in zip(*(jax.tree.leaves(g) for g in g_idm)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_bad_loss_options():
  with pytest.raises(ValueError, match='valid: asymmetric, symmetric'):
    LossConfig(alignment='both')
  with pytest.raises(ValueError, match='valid: action_encoder, idm'):
    LossConfig(action_loss_on='policy')


def test_loss_falls_and_tiny_dataset_is_fitted():
  _, first, m = helpers.train(helpers.learner(), helpers.random_batch(n=8), 400)
  assert float(m['loss']) < 0.2 * float(first['loss'])
  # grounded: actions decoded from the action encoder's latent reproduce the labels
  assert float(m['action_recon']) < 0.05 * float(first['action_recon'])
