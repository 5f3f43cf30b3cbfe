"""Stage 2 on small synthetic datasets: relabelling matches the frozen IDM, the policy's loss falls, the
MIP head's two steps behave as specified, and a trained policy restores and acts."""
import os
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax import configs
from glam_jax.data.reader import Dataset
from glam_jax.models.policy import Policy, PolicyConfig
from glam_jax.stage1 import experiment as stage1
from glam_jax.stage2 import experiment as stage2
from glam_jax.stage2 import latent_bc, relabel
from glam_jax.train import loop, metrics
from glam_jax.data import DatasetWriter


def write_moving_dot(path: str, lengths, labelled: bool, seed: int, size: int = 16) -> None:
  """Episodes of a dot moving across the image with the end effector; actions are its velocity, which the
  end-effector state shows, so latents and actions are predictable from one observation."""
  rng = np.random.default_rng(seed)
  frame_fields = {'overhead/rgb': {'shape': (size, size, 3), 'dtype': 'uint8'},
                  'overhead/mask': {'shape': (size, size), 'dtype': 'uint8'}}
  low = {'ee_pose': 9, 'gripper': 1, **({'joint_pos': 7, 'joint_target': 7, 'action': 8} if labelled else {})}
  with DatasetWriter(path, frame_fields, {k: {'dim': d, 'dtype': 'float32'} for k, d in low.items()}) as w:
    for n in lengths:
      start, vel = rng.uniform(2, 6, 2), rng.uniform(0.5, 1.0, 2) * rng.choice([-1, 1], 2)
      xy = np.clip(start + 8 + np.arange(n)[:, None] * vel * 0.5, 0, size - 1)
      rgb = np.zeros((n, size, size, 3), np.uint8)
      rgb[np.arange(n), xy[:, 0].astype(int), xy[:, 1].astype(int)] = 255
      ee = np.concatenate([xy / size, np.repeat(vel[None], n, 0), np.zeros((n, 5))], 1)   # velocity observable
      arrays = {'ee_pose': ee, 'gripper': np.full((n, 1), 0.04)}
      if labelled:
        arrays.update(joint_pos=np.repeat(xy[:, :1] / size, 7, 1), joint_target=np.repeat(xy[:, 1:] / size, 7, 1),
                      action=np.repeat(np.concatenate([vel, vel, vel, vel])[None], n, 0) * 0.8)
      w.add_episode({k: v.astype(np.float32) for k, v in arrays.items()},
                    {'overhead/rgb': rgb, 'overhead/mask': (rgb[..., 0] > 0).astype(np.uint8)})
    name = 'kinova' if labelled else 'umi'
    w.close(task='lift', source=name, embodiment=name, num_arms=1, has_actions=labelled, has_proprio=labelled,
            action_dim=8 if labelled else 0, proprio_dim=8 if labelled else 0, ctrl_dt=0.05, image_size=size,
            views=['overhead'], seed=seed, scripted_success_rate=1.0, attempts=len(lengths))


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp('stage2')
  data = root / 'data'
  write_moving_dot(str(data / 'lift' / 'kinova'), [6, 9, 5, 12, 7, 8, 10], True, 0)
  write_moving_dot(str(data / 'lift' / 'umi'), [7, 4, 10, 8, 6, 9], False, 1)
  c = configs.load('world_model', 'lift,tiny')
  c.data_dir = str(data)
  c.image_keys = ('overhead/rgb', 'overhead/mask')
  c.model.conv_features = (8, 16)
  # the world-model training of tests/train/test_loop.py (the same programs: compiled once per run)
  c.update(batch_size=8, num_steps=12, log_every=1, checkpoint_every=4, eval_every=6)
  learner, train, held_out = stage1.build(c)
  wm_dir = str(root / 'wm')
  loop.train(c, learner, train, wm_dir, held_out, progress=False)
  return {'data': str(data), 'wm': wm_dir, 'root': root}


def _policy_config(runs, method, **overrides):
  c = configs.load('policy', f'lift,{method},tiny')
  c.data_dir = runs['data']
  c.world_model_dir = runs['wm'] if method != 'mip' else ''
  c.image_keys = ('overhead/rgb',)
  c.update(batch_size=8, log_every=5, checkpoint_every=60, eval_every=60, **overrides)
  c.optimizer.learning_rate = 3e-3
  return c


def test_relabel_gives_standardised_idm_means(runs, tmp_path):
  wm, params, _ = stage1.load(runs['wm'])
  kin = Dataset(os.path.join(runs['data'], 'lift', 'kinova'))
  umi = Dataset(os.path.join(runs['data'], 'lift', 'umi'))
  norm = stage2.normalizer({'normalizer': kin.stats})
  labels = relabel.relabel(wm, params, {'kinova': kin, 'umi': umi}, norm, str(tmp_path), progress=False)
  raw = relabel.idm_labels(wm, params, umi, norm, batch=4, progress=False)   # batches split episodes
  assert raw.shape == (umi.meta['num_steps'], wm.model_config.latent_dim)
  # one transition recomputed by hand: episode 2, step 3 -> 4
  ep, t = 2, 3
  obs = lambda s: {**{k: umi.frame(ep, s)[k][None] for k in wm.image_keys},
                   **{k: norm.normalize(k, umi.episodes[ep][k][s:s + 1]) for k in ('ee_pose', 'gripper')}}
  direct = np.asarray(wm.encode(params, obs(t), obs(t + 1)))[0]
  np.testing.assert_allclose(raw[umi.offsets[ep] + t], direct, rtol=1e-4, atol=1e-5)
  # standardised over every transition of both sources (episode-final rows excluded)
  rows = np.concatenate([np.delete(labels[d.path], d.offsets[1:] - 1, 0) for d in (kin, umi)])
  np.testing.assert_allclose(rows.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(rows.std(0), 1, atol=1e-3)
  # cached: a second call reads the files
  again = relabel.relabel(wm, params, {'kinova': kin, 'umi': umi}, norm, str(tmp_path), progress=False)
  np.testing.assert_array_equal(again[umi.path], labels[umi.path])


@pytest.mark.parametrize('method', ['clam_o', 'lapa_o'])
def test_baselines_relabel_with_their_own_encoding(runs, method):
  """A CLAM label is its IDM's mean of that transition, a LAPA label the 4 hard-quantised token embeddings
  of that transition's feature difference; both computed here from the learner's own encode."""
  c = configs.load('world_model', f'lift,{method},tiny')
  c.data_dir = runs['data']
  c.image_keys = ('overhead/mask',)
  c.model.conv_features = (8, 16)
  learner, train, _ = stage1.build(c)
  from glam_jax.data import pipeline
  ds, _ = pipeline.make_dataset(train)
  params = learner.init(jax.random.PRNGKey(0), jax.tree.map(jnp.asarray, ds[0]))
  umi = Dataset(os.path.join(runs['data'], 'lift', 'umi'))
  norm = stage2.normalizer({'normalizer': Dataset(os.path.join(runs['data'], 'lift', 'kinova')).stats})
  raw = relabel.idm_labels(learner, params, umi, norm, batch=4, progress=False)
  assert raw.shape == (umi.meta['num_steps'], learner.latent_dim)
  ep, t = 1, 2
  obs = lambda s: {**{k: umi.frame(ep, s)[k][None] for k in learner.image_keys},
                   **{k: norm.normalize(k, umi.episodes[ep][k][s:s + 1]) for k in ('ee_pose', 'gripper')}}
  direct = np.asarray(learner.encode(params, obs(t), obs(t + 1)))[0]
  np.testing.assert_allclose(raw[umi.offsets[ep] + t], direct, rtol=1e-4, atol=1e-5)
  if method == 'lapa_o':       # a label is made of codebook entries
    codebook = np.asarray(params['codebook'])
    tokens = direct.reshape(4, -1)
    assert all(np.abs(codebook - tok).sum(-1).min() < 1e-5 for tok in tokens)
    assert learner.latent_dim == 4 * 32


def test_lapa_frame_gap_pairs_frames_gap_steps_apart_in_training_relabelling_and_replay(runs):
  """LAPA's `frame_gap_s` (0.15 s = 3 control steps of 0.05 s): the training pipeline, the relabelling and
  latent replay's encoder all pair step t with step t + 3, held at the episode's last step."""
  from glam_jax.eval import latent_replay
  c = configs.load('world_model', 'lift,lapa_o,tiny')
  c.data_dir = runs['data']
  c.image_keys = ('overhead/mask',)
  c.model.conv_features = (8, 16)
  c.frame_gap_s = 0.15
  learner, train, held_out = stage1.build(c)
  umi = Dataset(os.path.join(runs['data'], 'lift', 'umi'))
  assert umi.meta.get('ctrl_dt', 0.05) == 0.05
  assert learner.frame_gap == train.frame_gap == held_out.frame_gap == 3
  from glam_jax.data import pipeline
  ds, _ = pipeline.make_dataset(train)
  params = learner.init(jax.random.PRNGKey(0), jax.tree.map(jnp.asarray, ds[0]))
  norm = stage2.normalizer({'normalizer': Dataset(os.path.join(runs['data'], 'lift', 'kinova')).stats})
  raw = relabel.idm_labels(learner, params, umi, norm, batch=4, progress=False)
  ep = 1
  last = int(umi.lengths[ep]) - 1
  obs = lambda s: {**{k: umi.frame(ep, s)[k][None] for k in learner.image_keys},
                   **{k: norm.normalize(k, umi.episodes[ep][k][s:s + 1]) for k in ('ee_pose', 'gripper')}}
  frames = [umi.frame(ep, s) for s in range(last + 1)]
  replayed = np.asarray(latent_replay.make_latent_encoder(learner, params, norm)(
      {k: np.stack([f[k] for f in frames]) for k in learner.image_keys},
      umi.episodes[ep]['ee_pose'], umi.episodes[ep]['gripper']))
  for t in (2, last - 2, last - 1):                  # three steps on, and held at the last step
    direct = np.asarray(learner.encode(params, obs(t), obs(min(t + 3, last))))[0]
    np.testing.assert_allclose(raw[umi.offsets[ep] + t], direct, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(replayed[t], direct, rtol=1e-4, atol=1e-5)
  # which frame is paired, seen through an encoder that returns the second frame's end-effector pose (LAPA's
  # own labels are codebook entries, often the same for neighbouring steps)
  pose = types.SimpleNamespace(encode=lambda p, o, n: n['ee_pose'], image_keys=learner.image_keys,
                               latent_dim=umi.episodes[ep]['ee_pose'].shape[-1], frame_gap=learner.frame_gap)
  paired = relabel.idm_labels(pose, params, umi, norm, batch=4, progress=False)[umi.offsets[ep]:][:last]
  want = norm.normalize('ee_pose', umi.episodes[ep]['ee_pose'][np.minimum(np.arange(last) + 3, last)])
  np.testing.assert_allclose(paired, want, rtol=1e-5, atol=1e-6)
  replay_pose = latent_replay.make_latent_encoder(pose, params, norm)(
      {k: np.stack([f[k] for f in frames]) for k in learner.image_keys},
      umi.episodes[ep]['ee_pose'], umi.episodes[ep]['gripper'])
  np.testing.assert_allclose(np.asarray(replay_pose), want, rtol=1e-5, atol=1e-6)


def test_relabel_cache_follows_the_world_model(runs, tmp_path):
  wm, params, _ = stage1.load(runs['wm'])
  data = {n: Dataset(os.path.join(runs['data'], 'lift', n)) for n in ('kinova', 'umi')}
  norm = stage2.normalizer({'normalizer': data['kinova'].stats})
  label = lambda p, fp: relabel.relabel(wm, p, data, norm, str(tmp_path), progress=False, fingerprint=fp)
  first = label(params, stage1.fingerprint(runs['wm']))
  changed = jax.tree.map(lambda x: x * 1.5, params)        # a retrained model: other parameters
  same_key = label(changed, stage1.fingerprint(runs['wm']))
  np.testing.assert_array_equal(same_key[data['umi'].path], first[data['umi'].path])
  new_key = label(changed, stage1.fingerprint(runs['wm']) + '-retrained')
  assert not np.allclose(new_key[data['umi'].path], first[data['umi'].path])


def _tiny_latent_policy(dropout=0.0, **loss):
  cfg = PolicyConfig(image_shape=(8, 8, 3), num_views=0, state_dim=10, horizon=3, output_dim=2, action_dim=4,
                     head_layers=3, head_width=16, decoder_layers=2, decoder_width=8, head_dropout=dropout)
  learner = latent_bc.PolicyLearner(cfg, (), 'ee', 'latents', action_weight=0.5,
                                    loss=latent_bc.PolicyLossConfig(**loss))
  k = jax.random.split(jax.random.PRNGKey(3), 4)
  batch = {'obs': {'ee_pose': jax.random.normal(k[0], (4, 9)), 'gripper': jnp.ones((4, 1))}, 'proprio': None,
           'latents': jax.random.normal(k[1], (4, 3, 2)), 'actions': jax.random.normal(k[2], (4, 3, 4)),
           'chunk_mask': jnp.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], bool),
           'is_target': jnp.array([True, False, True, False])}
  return learner, learner.init(k[3], batch), batch


def test_mip_objective_against_a_hand_computation():
  """MIP's loss (much-ado-about-noising mip/losses.py): step 1 from (t=0, I=0), step 2 from (t*, z + (1 - t*) ε),
  both against the clean chunk, errors divided by t* and (1 - t*) before squaring, summed over the output
  dimension, averaged over unmasked chunk steps, times loss_scale; the decoder term the same on target
  samples only. Recomputed here in numpy from the head's outputs."""
  learner, params, batch = _tiny_latent_policy()
  rng = jax.random.PRNGKey(7)
  loss, out = learner.loss(params, batch, rng)
  t = 0.9
  eps = np.asarray(jax.random.normal(jax.random.split(rng)[0], batch['latents'].shape))
  z, a = np.asarray(batch['latents']), np.asarray(batch['actions'])
  run = lambda m, *x: np.asarray(learner.model.apply({'params': params}, *x, method=m))
  ctx = run(Policy.context, None, np.concatenate([batch['obs']['ee_pose'], batch['obs']['gripper']], -1))
  first = run(Policy.head, jnp.zeros(4), jnp.zeros_like(z), ctx)
  second = run(Policy.head, jnp.full(4, t), z + 0.1 * eps, ctx)
  mask = np.asarray(batch['chunk_mask'], np.float64)
  act_mask = mask * np.asarray(batch['is_target'])[:, None]
  norm = lambda e, m: float((np.sum(e ** 2, -1) * m).sum() / m.sum())
  expected = 0.1 * (norm((first - z) / t, mask) + norm((second - z) / (1 - t), mask))
  decode = lambda c: run(Policy.decode, c, ctx)
  expected += 0.1 * 0.5 * (norm((decode(first) - a) / t, act_mask) + norm((decode(second) - a) / (1 - t), act_mask))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
  # the reported MSEs are the plain ones (mean over the output dimension), whatever the weighting
  np.testing.assert_allclose(float(out['chunk_mse_step2']), norm(second - z, mask) / 2, rtol=1e-4)
  # the earlier objective stays a choice: equal weights, mean over the dimension, no scale
  equal, params_e, _ = _tiny_latent_policy(step_weights='equal', dim_reduction='mean', scale=1.0)
  loss_e, out_e = equal.loss(params, batch, rng)
  np.testing.assert_allclose(float(loss_e), float(out['chunk_mse_step1'] + out['chunk_mse_step2'] + 0.5 * (
      out['action_mse_step1'] + out['action_mse_step2'])), rtol=1e-5)
  with pytest.raises(ValueError, match='step_weights'):
    latent_bc.PolicyLossConfig(step_weights='inverse')


def test_action_loss_reads_target_samples_only_and_dropout_trains_only():
  learner, params, batch = _tiny_latent_policy()
  rng = jax.random.PRNGKey(0)
  loss = lambda b: float(learner.loss(params, b, rng)[0])
  aux = np.asarray(batch['is_target']) == 0
  changed_aux = {**batch, 'actions': batch['actions'].at[aux].add(100.0)}
  changed_target = {**batch, 'actions': batch['actions'].at[~aux].add(1.0)}
  assert loss(changed_aux) == pytest.approx(loss(batch), rel=1e-6)        # auxiliary samples have no actions
  assert loss(changed_target) > loss(batch) + 1.0
  # dropout: training losses differ by key, the held-out metrics (dropout off) do not
  noisy, params_d, _ = _tiny_latent_policy(dropout=0.5)
  keys = [jax.random.PRNGKey(1), jax.random.PRNGKey(2)]
  run = lambda m, k: m.apply({'params': params_d}, jnp.zeros(4), jnp.zeros((4, 3, 2)), jnp.ones((4, 10)),
                             train=True, rngs={'dropout': k}, method=Policy.head)
  assert not np.allclose(run(noisy.model, keys[0]), run(noisy.model, keys[1]))
  plain, _, _ = _tiny_latent_policy(dropout=0.0)
  det = lambda m: m.apply({'params': params_d}, jnp.zeros(4), jnp.zeros((4, 3, 2)), jnp.ones((4, 10)), method=Policy.head)
  np.testing.assert_allclose(det(noisy.model), det(plain.model), atol=1e-6)     # off outside training


def test_mip_head_is_residual_and_inference_feeds_step_one_into_step_two():
  cfg = PolicyConfig(image_shape=(8, 8, 3), num_views=0, state_dim=3, horizon=4, output_dim=2, head_layers=4,
                     head_width=16, head_dropout=0.0)
  model = Policy(cfg)
  state = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
  params = model.init(jax.random.PRNGKey(0), None, state)['params']
  plain = Policy(PolicyConfig(**{**cfg.__dict__, 'head_residual': False}))
  # the same parameters through a plain stack give other outputs: the skips are there
  out = lambda m: np.asarray(m.apply({'params': params}, None, state, method=Policy.infer)[0])
  assert not np.allclose(out(model), out(plain))
  # test time: step 2 at t* reads step 1's output (not zeros, not noise): a head that ignores its input
  # would give the same chunk for any step-2 input
  run = lambda m, *a: model.apply({'params': params}, *a, method=m)
  ctx = run(Policy.context, None, state)
  first = run(Policy.head, jnp.zeros(3), jnp.zeros((3, 4, 2)), ctx)
  from_zeros = run(Policy.head, jnp.full(3, 0.9), jnp.zeros((3, 4, 2)), ctx)
  chunk, actions = run(Policy.infer, None, state)
  assert not np.allclose(chunk, from_zeros)
  np.testing.assert_allclose(chunk, run(Policy.head, jnp.full(3, 0.9), first, ctx), atol=1e-6)
  np.testing.assert_array_equal(actions, chunk)          # no decoder: the MIP baseline's chunk is its actions


def test_state_only_policy():
  # no camera views: the context is the state alone (MIP's own low-dimensional setting, bench_train --peer=mip)
  cfg = PolicyConfig(image_shape=(8, 8, 3), num_views=0, state_dim=10, horizon=4, output_dim=3, head_layers=3,
                     head_width=16, head_dropout=0.0)
  learner = latent_bc.PolicyLearner(cfg, (), 'ee', 'actions')
  batch = {'obs': {'ee_pose': jnp.ones((5, 9)), 'gripper': jnp.ones((5, 1))}, 'proprio': None,
           'actions': jnp.ones((5, 4, 3)), 'chunk_mask': jnp.ones((5, 4), bool)}
  params = learner.init(jax.random.PRNGKey(0), batch)
  assert not any('view' in k for k in params)
  loss, out = learner.loss(params, batch, jax.random.PRNGKey(1))
  full = learner.eval_metrics(params, batch, jax.random.PRNGKey(1))
  # without dropout the held-out loss is the training loss, plus the test-time inference's error
  assert set(full) - set(out) == {'chunk_mse_inferred'} and full['loss'] == loss
  assert learner.act(params, batch['obs']).shape == (5, 4, 3)


def test_policy_refuses_another_methods_world_model(runs, tmp_path):
  c = _policy_config(runs, 'glam_o', num_steps=2)       # the fixture's world model is a `glam` run
  with pytest.raises(ValueError, match="is a 'glam' model"):
    stage2.prepare(c, str(tmp_path / 'p'), progress=False)


@pytest.mark.parametrize('method', ['glam', 'mip'])
def test_policy_trains_restores_and_acts(runs, method):
  workdir = str(runs['root'] / method)
  c = _policy_config(runs, method, num_steps=60)
  learner, train, held_out = stage2.prepare(c, workdir, progress=False)
  out = loop.train(c, learner, train, workdir, held_out, progress=False)
  losses = [r['train/loss'] for r in metrics.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
            if 'train/loss' in r]
  assert losses[-1] < 0.5 * losses[0], losses
  assert np.isfinite(out['eval']['loss'])
  # the test-time inference's error is a held-out metric only (a third head pass per training step)
  inferred = {'chunk_mse_inferred'} | ({'action_mse_inferred'} if method == 'glam' else set())
  assert inferred <= set(out['eval']) and not inferred & set(out['train'])
  if method == 'glam':
    assert os.path.exists(os.path.join(runs['wm'], 'labels', 'umi.npy'))
    assert 0 < out['train']['target_fraction'] < 1

  learner, params, spec, _ = stage2.load(workdir)
  assert spec['label'] == ('latents' if method == 'glam' else 'actions')
  # evaluation acts with the parameters' moving average (MIP's EMA), not the last step's parameters
  from glam_jax.train import state as state_lib
  ema = state_lib.ema_params(out['state'].opt_state)
  assert ema is not None and c.optimizer.ema_rate == 0.9
  for restored, averaged, raw in zip(*(jax.tree.leaves(t) for t in (params, ema, out['state'].params))):
    np.testing.assert_allclose(np.asarray(restored), np.asarray(averaged), rtol=1e-6, atol=1e-7)
  assert any(not np.allclose(a, b) for a, b in zip(jax.tree.leaves(ema), jax.tree.leaves(out['state'].params)))
  batch = jax.tree.map(jnp.asarray, stage2.example_batch(spec, batch=2))
  chunk = learner.act(params, batch['obs'], batch['proprio'])
  assert chunk.shape == (2, c.horizon, 8)
  assert bool(jnp.all(jnp.isfinite(chunk)))


def test_lawm_pretrains_on_frames_and_finetunes_from_its_policy(runs):
  pre_dir = str(runs['root'] / 'lawm_pretrain')
  c = _policy_config(runs, 'lawm,pretrain', num_steps=60)
  assert c.label == 'frames' and set(c.sources) == {'kinova', 'umi'}
  learner, train, held_out = stage2.prepare(c, pre_dir, progress=False)
  assert train.future_frames == c.lawm.future_frames == 2
  # the frame loss trains the policy itself: its gradient reaches the view encoders and the head
  from glam_jax.data import pipeline
  ds, _ = pipeline.make_dataset(train)
  batch = ds[0]
  params = learner.init(jax.random.PRNGKey(0), batch)
  g = jax.grad(lambda p: learner.loss(p, batch, None)[1]['future_frames'])(params)
  for part in ('view_0', 'head_net'):
    assert float(optax_norm(g['policy'][part])) > 1e-7, part
  # every latent of the chunk is trained: each sample's window of n frames starts at its own offset k, and
  # its frames are the episode's at t+k .. t+k+n
  import copy
  assert c.lawm.future_start == 'random'
  offsets = np.asarray(batch['future_offset'])
  assert offsets.min() >= 0 and offsets.max() <= c.horizon - 2 and len(set(offsets.tolist())) > 1
  kin = Dataset(os.path.join(runs['data'], 'lift', 'kinova'))
  i = next(j for j in range(len(offsets)) if batch['source'][j] == 0 and batch['future_mask'][j].all())
  ep, t, k = int(batch['episode'][i]), int(batch['step'][i]), int(offsets[i])
  np.testing.assert_array_equal(batch['future_start']['overhead/rgb'][i], kin.frame(ep, t + k)['overhead/rgb'])
  np.testing.assert_array_equal(batch['future']['overhead/rgb'][i, -1], kin.frame(ep, t + k + 2)['overhead/rgb'])
  chunk = learner.latents(params, batch)

  def frame_loss(z):
    fixed = copy.copy(learner)
    fixed.latents = lambda p, b: z
    return fixed.loss(params, batch, None)[1]['future_frames']

  gz = np.abs(np.asarray(jax.grad(frame_loss)(chunk))).sum(-1)          # (B, H)
  n = c.lawm.future_frames
  for j, kj in enumerate(offsets):
    if batch['future_mask'][j].all():
      assert (gz[j, kj:kj + n] > 0).all() and gz[j, :kj].sum() == 0 and gz[j, kj + n:].sum() == 0
  loop.train(c, learner, train, pre_dir, held_out, progress=False)
  losses = [r['train/future_frames'] for r in metrics.read_jsonl(os.path.join(pre_dir, 'metrics.jsonl'))
            if 'train/future_frames' in r]
  assert losses[-1] < 0.7 * losses[0], losses

  fine = _policy_config(runs, 'lawm', num_steps=2)
  assert fine.label == 'actions' and set(fine.sources) == {'kinova'} and fine.init_from_key == 'policy'
  fine.init_from = pre_dir
  learner, train, _ = stage2.prepare(fine, str(runs['root'] / 'lawm'), progress=False)
  ds, _ = pipeline.make_dataset(train)
  fresh = learner.init(jax.random.PRNGKey(1), ds[0])
  started, report = loop.init_from(fresh, pre_dir, 'policy', learner.fresh_on_init)
  saved = loop.checkpoint.saved_params(os.path.join(pre_dir, 'checkpoints'))['policy']
  out_layer = learner.fresh_on_init[0].split('/')
  for path, leaf in jax.tree_util.tree_flatten_with_path(started)[0]:
    names = [p.key for p in path]
    expected = fresh if names[:2] == out_layer else saved
    for n in names:
      expected = expected[n]
    np.testing.assert_array_equal(np.asarray(leaf), np.asarray(expected), err_msg='/'.join(names))
  assert 'initialised' in report and learner.fresh_on_init[0] in report
  out = loop.train(fine, learner, train, str(runs['root'] / 'lawm'), progress=False)
  assert out['step'] == 2


def optax_norm(tree):
  import optax
  return optax.global_norm(tree)
