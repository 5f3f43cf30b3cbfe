"""The methods of the paper's comparison, one registry entry each (DESIGN.md §2, "Baselines and ablations").

A method says what it trains and on which sources, nothing else; the configs (experiments/configs/
world_model.py, policy.py) and the main job (tools/run_pipeline.py) read it here instead of testing names:
- `learner`: its stage-1 latent-action learner (a key of `glam_jax.stage1.experiment.LEARNERS`), or None
  for a method without a world model;
- `world_model_input`: what that learner's image encoder sees, both views' `rgb` or object `mask`s;
- `world_model_overrides`: fields of the world-model config it changes (the ablations' switches);
- `policy_label`: what its policy regresses, `latents` (the frozen learner's labels of every source, then
  decoded to actions) or `actions` (target demonstrations only);
- `world_model_sources` / `policy_sources`: `all` the recipe's sources, or `target` alone;
- `pretrain`: the policy is first pre-trained without labels on every source (the policy config's
  `pretrain` option) and fine-tuned from those parameters (LAWM);
- `role`: what it is in the paper's claims (experiments/claims.py): the `method` (GLAM, GLAM-O), an
  `ablation` of it, a paper's `baseline`, or a `stronger_baseline` than the paper runs (given more data).

A new latent-action method is one learner file in stage1/ plus one entry here.
"""
from __future__ import annotations

import dataclasses

STAGES = ('world_model', 'relabel', 'pretrain', 'policy', 'evaluate')
SOURCE_SETS = ('all', 'target')
INPUTS = ('rgb', 'mask')
LABELS = ('latents', 'actions')
ROLES = ('method', 'ablation', 'baseline', 'stronger_baseline')


@dataclasses.dataclass(frozen=True)
class Method:
  name: str
  summary: str
  learner: str | None = None
  world_model_input: str = 'rgb'
  world_model_overrides: tuple = ()        # ((dotted config key, value), ...)
  world_model_sources: str = 'all'
  policy_label: str = 'latents'
  policy_sources: str = 'all'
  pretrain: bool = False
  role: str = 'baseline'

  def __post_init__(self):
    if self.role not in ROLES:
      raise ValueError(f'{self.name}: role {self.role!r}; valid: {", ".join(ROLES)}')
    if self.world_model_input not in INPUTS:
      raise ValueError(f'{self.name}: world_model_input {self.world_model_input!r}; valid: {", ".join(INPUTS)}')
    if self.policy_label not in LABELS:
      raise ValueError(f'{self.name}: policy_label {self.policy_label!r}; valid: {", ".join(LABELS)}')
    for s in (self.world_model_sources, self.policy_sources):
      if s not in SOURCE_SETS:
        raise ValueError(f'{self.name}: source set {s!r}; valid: {", ".join(SOURCE_SETS)}')
    if (self.learner is None) != (self.policy_label == 'actions'):
      raise ValueError(f'{self.name}: a latent policy needs a learner, an action policy has none')
    if self.pretrain and self.learner:
      raise ValueError(f'{self.name}: pre-training replaces the world model; a method has one or the other')

  @property
  def stages(self) -> tuple:
    """The pipeline stages this method runs, in order."""
    skip = {'pretrain'} if self.learner else {'world_model', 'relabel'} | (set() if self.pretrain else {'pretrain'})
    return tuple(s for s in STAGES if s not in skip)


_ALL = (
    Method('glam_o', 'GLAM-O: the GLAM world model on object masks; latent-chunk policy on every source',
           learner='glam', world_model_input='mask', role='method'),
    Method('glam', 'GLAM: the GLAM world model on RGB; latent-chunk policy on every source', learner='glam',
           role='method'),
    Method('glam_o_symmetric', 'ablation of GLAM-O: symmetric alignment (no stop-gradient on the action '
           'encoder)', learner='glam', world_model_input='mask',
           world_model_overrides=(('loss.alignment', 'symmetric'),), role='ablation'),
    Method('glam_o_action_on_idm', 'ablation of GLAM-O: the action decoder reads the IDM posterior',
           learner='glam', world_model_input='mask', world_model_overrides=(('loss.action_loss_on', 'idm'),),
           role='ablation'),
    Method('clam', 'CLAM: continuous latent actions, action decoder trained jointly on the IDM latent; '
           'target data only in both stages, as the paper runs it', learner='clam', world_model_sources='target',
           policy_sources='target'),
    Method('clam_o', 'CLAM-O: CLAM on object masks, target data only', learner='clam', world_model_input='mask',
           world_model_sources='target', policy_sources='target'),
    Method('clam_aux', 'CLAM given the auxiliary data: CLAM trained and relabelling on every source (a stronger '
           'baseline than the paper\'s)', learner='clam', role='stronger_baseline'),
    Method('clam_o_aux', 'CLAM-O given the auxiliary data: CLAM-O on every source', learner='clam',
           world_model_input='mask', role='stronger_baseline'),
    Method('lapa', 'LAPA: discrete latent actions (NSVQ, codebook 8, 4 tokens) from next-frame '
           'reconstruction', learner='lapa'),
    Method('lapa_o', 'LAPA-O: LAPA on object masks', learner='lapa', world_model_input='mask'),
    Method('lawm', 'LAWM: the policy emits latent chunks that a world model turns into future frames '
           '(pre-trained on every source), then fine-tuned on target actions', policy_label='actions',
           policy_sources='target', pretrain=True),
    Method('mip', 'MIP: the same policy network on the target demonstrations, regressing actions',
           policy_label='actions', policy_sources='target'),
)
METHODS = {m.name: m for m in _ALL}


def get(name: str) -> Method:
  if name not in METHODS:
    raise ValueError(f'unknown method {name!r}; valid methods: {", ".join(METHODS)}')
  return METHODS[name]


def with_role(role: str) -> tuple:
  if role not in ROLES:
    raise ValueError(f'unknown role {role!r}; valid roles: {", ".join(ROLES)}')
  return tuple(n for n, m in METHODS.items() if m.role == role)


def with_world_model() -> tuple:
  return tuple(n for n, m in METHODS.items() if m.learner)
