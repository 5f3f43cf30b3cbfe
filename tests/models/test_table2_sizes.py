"""The paper preset builds the networks of the GLAM paper's Table 2 (DESIGN.md §2), read off the initialised
parameters: depths, widths, the conv codec and the latent sizes, and GLAM's 10 x 256 MIP head with H = 20."""
import jax
import jax.numpy as jnp

from glam_jax import configs
from glam_jax.models.policy import Policy, PolicyConfig
from glam_jax.models.world_model import WorldModel, WorldModelConfig
from glam_jax.stage1 import latent_action


def _blocks(tree) -> int:
  return sum(k.startswith('ResMLPBlock_') for k in tree)


def _world_model_params(task):
  c = configs.load('world_model', f'{task},glam_o')
  m = WorldModelConfig(image_shape=(64, 64, 2), ee_dim=10, proprio_dim=8, action_dim=8, **latent_action.model_fields(c))
  zeros = lambda *s: jnp.zeros((1,) + s)
  return jax.eval_shape(lambda: WorldModel(m).init(jax.random.PRNGKey(0), zeros(64, 64, 2), zeros(10), zeros(8),
                                                   zeros(8)))['params']


def test_world_model_has_table_2_sizes():
  p = _world_model_params('lift')
  # image encoder: 4 convs, kernel 4, stride 2 (64 -> 4), y in R^128; decoder: 4 transposed convs
  convs = [p['encoder'][f'Conv_{i}']['kernel'].shape for i in range(4)]
  assert all(s[:2] == (4, 4) for s in convs) and 'Conv_4' not in p['encoder']
  assert p['encoder']['Dense_0']['kernel'].shape == (4 * 4 * 256, 128)
  assert sum(k.startswith('ConvTranspose_') for k in p['decoder']) == 4
  # IDM 5 ResMLP blocks, action encoder 5, forward model 4, proprio forward 5, all width 256; d = 8
  assert _blocks(p['idm_net']['ResMLP_0']) == 5 and _blocks(p['action_encoder_net']['ResMLP_0']) == 5
  assert _blocks(p['forward_net']['ResMLP_0']) == 4 and _blocks(p['proprio_net']['layers_0']) == 5
  block = p['idm_net']['ResMLP_0']['ResMLPBlock_0']
  assert block['Dense_0']['kernel'].shape == (256, 256) and 'LayerNorm_0' in block
  assert p['idm_net']['GaussianHead_0']['Dense_0']['kernel'].shape == (256, 8)
  assert p['forward_net']['dy']['kernel'].shape == (256, 128) and p['forward_net']['dee']['kernel'].shape == (256, 10)
  # action decoder: a 4-layer MLP of width 256 from z alone
  dec = p['action_decoder_net']
  assert [dec[f'Dense_{i}']['kernel'].shape for i in range(4)] == [(8, 256), (256, 256), (256, 256), (256, 8)]
  # the bimanual stack-three: d = 16
  assert _world_model_params('stack_three')['idm_net']['GaussianHead_0']['Dense_0']['kernel'].shape == (256, 16)


def test_policy_head_is_glams_mip_head():
  c = configs.load('policy', 'lift,glam_o')
  assert c.horizon == 20 and c.model.t_star == 0.9
  cfg = PolicyConfig(image_shape=(64, 64, 3), num_views=2, state_dim=18, horizon=c.horizon, output_dim=8,
                     action_dim=8, **{k: tuple(v) if isinstance(v, tuple) else v for k, v in c.model.items()})
  p = jax.eval_shape(lambda: Policy(cfg).init(jax.random.PRNGKey(0), jnp.zeros((1, 2, 64, 64, 3)),
                                              jnp.zeros((1, 18))))['params']
  head = p['head_net']
  dense = [head[f'Dense_{i}']['kernel'].shape for i in range(10)]
  assert 'Dense_10' not in head and all(s[1] == 256 for s in dense[:9]) and dense[9] == (256, 20 * 8)
  assert sum(k.startswith('LayerNorm_') for k in head) == 9
  # vision projection: Linear 256 -> LN -> GELU -> Linear 64 -> LN per view
  view = p['view_0']
  assert view['Dense_0']['kernel'].shape[1] == 256 and view['Dense_1']['kernel'].shape == (256, 64)
