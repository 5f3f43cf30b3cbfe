"""The main job for one task: data -> each method's world model -> relabelling -> policies -> closed-loop
evaluation -> report, for any subset of the methods of `glam_jax.methods` (tools/run_pipeline.py is its
command line; the suite runs it once per cell).

Every stage is keyed by a hash of its inputs (`stages.Stages`): a rerun in the same workdir skips the
finished ones, redoes those whose config changed, and resumes an interrupted training.
"""
from __future__ import annotations

import dataclasses
import json
import os
import platform
import shutil

import jax
import ml_collections
import numpy as np

from glam_jax import compile_cache, config_rules, configs, file_lock, methods
from glam_jax.data import schema, sources
from glam_jax.data.reader import read_meta
from glam_jax.demos import generate, heterogeneity, store
from glam_jax.eval import alignment, latent_replay, policy_eval, report, stats
from glam_jax.experiments.stages import Stages, config_hash, say, write_json, write_text
from glam_jax.sim import backends
from glam_jax.stage1 import experiment as stage1
from glam_jax.stage2 import experiment as stage2
from glam_jax.train import checkpoint, loop, sweep


def comparisons(results: dict, names) -> list:
  """Newcombe's interval of p_A − p_B for every pair of methods, A before B in `names`."""
  rows = []
  for i, first in enumerate(names):
    a = results[first]['success']
    for other in names[i + 1:]:
      rows.append({'a': first, 'b': other, **stats.compare(a, results[other]['success'])})
  return rows


def pooled(per_seed: list, seeds=()) -> dict:
  """One method's evaluation over its policy seeds (`seeds`, in the order of `per_seed`): pooled success
  (Wilson), mean smoothness, per-seed rates and, where every seed's evaluation kept them, each episode's
  outcome per seed (placement i is entry i of `success` and `first_success`)."""
  k = sum(r['success']['successes'] for r in per_seed)
  n = sum(r['success']['trials'] for r in per_seed)
  smooth = {key: float(np.nanmean([r['smoothness'][key] for r in per_seed])) for key in ('ldlj', 'sparc', 'fft')}
  smooth['valid'] = sum(r['smoothness']['valid'] for r in per_seed)
  out = {'success': stats.rate_summary(k, n), 'smoothness': smooth, 'seeds': [r['success']['rate'] for r in per_seed]}
  if seeds:
    out['policy_seeds'] = [int(s) for s in seeds]
  if len(per_seed) > 1:
    out['seed_mean'], out['seed_std'] = stats.mean_std(out['seeds'])
  if seeds and all('episodes' in r for r in per_seed):
    out['episodes'] = [{'seed': int(s), 'eval_seed': r['seed'], **r['episodes']} for s, r in zip(seeds, per_seed)]
  return out


def training_record(method, world_model, policy, pretrain=None) -> dict:
  """What a method's numbers come from: its sources and label in each stage, and the steps and batch size
  of its world model (or pre-training) and policy (every method of a comparison trains with the same)."""
  out = {'label': method.policy_label, 'summary': method.summary, 'policy_sources': sorted(policy.sources),
         'policy_steps': policy.num_steps, 'policy_batch': policy.batch_size}
  if world_model is not None:
    out.update(learner=method.learner, world_model_input=method.world_model_input,
               world_model_sources=sorted(world_model.sources), world_model_steps=world_model.num_steps,
               world_model_batch=world_model.batch_size)
  if pretrain is not None:
    out.update(pretrain_sources=sorted(pretrain.sources), pretrain_steps=pretrain.num_steps,
               pretrain_batch=pretrain.batch_size)
  return out


def comma_list(value) -> tuple:
  """A list field as given on a command line ('glam_o,mip', or a tuple of such) -> a tuple of names."""
  names = (value,) if isinstance(value, str) else value
  return tuple(m for n in names for m in n.split(',') if m)


def recipe_sources(episodes) -> dict:
  """The recipe's sources with their episode counts, those with none left out (a data-scaling point
  without UMI data); the target must have some."""
  unknown = set(episodes) - set(generate.SOURCES)
  if unknown:
    raise configs.ConfigError(f'unknown source(s) {sorted(unknown)} in episodes; valid sources: {", ".join(generate.SOURCES)}')
  out = {name: int(n) for name, n in episodes.items() if n > 0}
  if policy_eval.TARGET not in out:
    raise configs.ConfigError(f'the recipe needs episodes of the target {policy_eval.TARGET!r}; got episodes={dict(episodes)}')
  return out


def recipe_of(c):
  """The data recipe (experiments/configs/data.py) of pipeline config `c`."""
  r = configs.load('data', c.task)
  r.episodes = ml_collections.ConfigDict(recipe_sources(c.episodes))
  r.image_size = c.image_size
  r.backend = c.backend
  r.heterogeneity = c.get('heterogeneity', 0)
  r.source_style = c.get('source_style', '')
  return r


def drop_missing_sources(config, episodes: dict) -> None:
  """Removes from a model config's mixture the sources the recipe has no episodes of."""
  for name in [n for n in config.sources if n not in episodes]:
    del config.sources[name]


WORLD_MODEL_VIEWS = ('shared', 'target')


def view_keys(c, styles: dict) -> tuple:
  """Where the sources' styles store other views than the recipe's (heterogeneity levels >= 1), functions
  that turn a world-model and a policy config's image keys into the views to read: the policy every view
  of the target (what it sees when it acts; a source's missing views are masked), the world model the views
  every source of the recipe stores (`world_model_views='shared'`: its latent is read from what all
  sources see) or the target's (`'target'`: missing views masked). (None, None) where nothing changes."""
  if c.world_model_views not in WORLD_MODEL_VIEWS:
    raise configs.ConfigError(f'world_model_views={c.world_model_views!r}; valid: {", ".join(WORLD_MODEL_VIEWS)}')
  recipe_views = tuple(configs.load('data', c.task).views)
  stored = {s: heterogeneity.recorded_views(style, recipe_views, c.task) for s, style in styles.items()}
  if all(v == recipe_views for v in stored.values()):
    return None, None
  target = stored[policy_eval.TARGET]
  shared = tuple(v for v in target if all(v in views for views in stored.values()))
  if not shared:
    raise configs.ConfigError(f'no camera view is stored by every source ({stored}); the world model needs one')
  wm_views = shared if c.world_model_views == 'shared' else target
  suffixes = lambda keys: tuple(dict.fromkeys(k.rpartition('/')[2] for k in keys))
  return (lambda keys: tuple(f'{v}/{x}' for v in wm_views for x in suffixes(keys)),
          lambda keys: tuple(f'{v}/{x}' for v in target for x in suffixes(keys)))


# stage-config fields the main job sets from its own (an override of them would mislabel a stage)
SET_BY_PLAN = {'world_model': ('task', 'method', 'learner', 'data_dir'),
               'policy': ('task', 'method', 'label', 'data_dir', 'world_model_dir', 'init_from', 'seed')}


@dataclasses.dataclass
class Plan:
  """Every config the main job will run, built and checked before any work."""
  chosen: list            # glam_jax.methods.Method, in the order given
  episodes: dict          # the recipe's sources with their episode counts (an imported one's as it has)
  data_dir: str           # the recipe's directory of links to its datasets, what the stage configs read
  data_key: str           # hash of the data recipe, in every run directory's name
  data_root: str          # where the keyed datasets live (glam_jax/demos/store.py)
  generated: dict         # source -> GenerateConfig of the datasets the data stage makes (or finds)
  paths: dict             # source -> dataset path (keyed, or imported by `datasets`)
  world_models: dict      # arm -> (world-model config, directory)
  pretrained: dict        # arm -> (pre-training config, directory)
  runs: list              # (arm, seed, policy config, directory)
  # (arm, Method, sweep point label): an arm is a method at one point of the pipeline's `sweep` (named
  # 'glam_o@align_weight=0.5'), or the method alone (named as it) where there is no sweep or it changes
  # nothing the method runs
  arms: list = dataclasses.field(default_factory=list)
  sweep: tuple = ('', ())  # (field relative to the pipeline config, values)


def parse_sweep(c) -> tuple:
  """The pipeline's `sweep` 'FIELD=V1,V2' -> (FIELD, values): FIELD a field of the world-model or policy
  configs that one compiled program can sweep (glam_jax/train/sweep.py): `world_model.optimizer.*`,
  `world_model.loss.*` (a float), `policy.optimizer.*`. ('', ()) without one."""
  try:
    field, values = sweep.parse_sweep(c.get('sweep', ''))
  except ValueError as e:
    raise configs.ConfigError(str(e)) from None
  if not field:
    return '', ()
  stage, _, rest = field.partition('.')
  sweepable = rest in sweep.OPTIMIZER_FIELDS or (stage == 'world_model' and rest.startswith('loss.'))
  if stage not in ('world_model', 'policy') or not sweepable:
    raise configs.ConfigError(f'sweep field {field!r} cannot be swept in one program; sweepable: '
                              'world_model.optimizer.learning_rate, world_model.optimizer.weight_decay, '
                              'float fields of world_model.loss.*, policy.optimizer.learning_rate, '
                              'policy.optimizer.weight_decay')
  return field, values


def point_label(field: str, value: float) -> str:
  return f'{field.rsplit(".", 1)[-1]}={value:g}'


def plan(c, workdir: str) -> Plan:
  """Builds every stage's config of pipeline config `c` (normalising its list fields) and checks them;
  raises `configs.ConfigError` for a config that cannot work. Writes nothing. With a `sweep`, every point's
  configs: the arms of a method at each point (one arm where the point changes nothing it runs), sharing
  what the points share (the data; a policy sweep's world model)."""
  config_rules.check(c, 'pipeline')
  c.methods = comma_list(c.methods)
  c.replay_sources = comma_list(c.replay_sources)       # --config.replay_sources=umi,kinova
  field, values = parse_sweep(c)
  if not field:
    return _plan(c, workdir)
  parts = []
  for v in values:
    cv = ml_collections.ConfigDict(c.to_dict())
    cv.sweep = ''
    configs.apply_overrides(cv, {field: v})
    parts.append((point_label(field, v), _plan(cv, workdir)))
  base = parts[0][1]
  arms, world_models, pretrained, runs = [], {}, {}, []
  for m in base.chosen:
    dirs = lambda p: ([d for n, (_, d) in p.world_models.items() if n == m.name], [r[3] for r in p.runs if r[0] == m.name])
    same = all(dirs(p) == dirs(base) for _, p in parts)
    for label, p in parts[:1] if same else parts:
      arm = m.name if same else f'{m.name}@{label}'
      arms.append((arm, m, '' if same else label))
      if m.name in p.world_models:
        world_models[arm] = p.world_models[m.name]
      if m.name in p.pretrained:
        pretrained[arm] = p.pretrained[m.name]
      runs += [(arm, *r[1:]) for r in p.runs if r[0] == m.name]
  if all(label == '' for _, _, label in arms):
    raise configs.ConfigError(f'sweep field {field!r} changes nothing any of the methods {list(c.methods)} runs')
  return dataclasses.replace(base, arms=arms, world_models=world_models, pretrained=pretrained, runs=runs,
                             sweep=(field, values))


def _plan(c, workdir: str) -> Plan:
  """`plan` of one point (no sweep); `c`'s list fields already normalised."""
  try:
    chosen = [methods.get(m) for m in c.methods]        # unknown names fail here, listing the valid ones
  except ValueError as e:
    raise configs.ConfigError(str(e)) from None
  if len({m.name for m in chosen}) != len(chosen):
    raise configs.ConfigError(f'a method is named twice in methods={list(c.methods)}')
  c.backend = backends.resolve(c.backend)     # 'auto' -> the engine (config_rules refused unknown names)
  episodes = recipe_sources(c.episodes)
  try:
    given = store.imported(c.datasets)          # datasets given by path: read, never generated or written
    styles = heterogeneity.resolve(generate.SOURCES, c.heterogeneity, c.source_style)
    made = [s for s in episodes if s not in given]
    heterogeneity.check_measured(c.task, {s: c.heterogeneity for s in made}, c.backend, {s: styles[s] for s in made})
  except ValueError as e:
    raise configs.ConfigError(str(e)) from None
  episodes.update({s: read_meta(path)['num_episodes'] for s, path in given.items()})
  world_model_keys, policy_keys = view_keys(c, {s: styles[s] for s in episodes if s not in given})
  data_root = c.data_dir or os.path.join(workdir, 'data')
  generated = generate.recipe_configs(recipe_of(c), skip=given)
  paths = {s: given.get(s) or store.dataset_path(data_root, generated[s]) for s in episodes}
  data_dir = store.recipe_dir(data_root, c.task, paths)
  second_arm = ('second_arm',) if 'ur5e' in episodes else ()     # the third source joins every model's mixture

  def world_model_config(method):
    wc = configs.load('world_model', ','.join(p for p in (c.task, method.name, c.world_model_arg, *second_arm) if p))
    drop_missing_sources(wc, episodes)
    if world_model_keys:
      wc.image_keys = world_model_keys(wc.image_keys)
    configs.apply_overrides(wc, c.world_model, skip_missing=True)
    wc.data_dir = data_dir
    return wc

  # in every run directory's name: new data never meets an old run (an imported dataset by its path and size)
  data_key = config_hash(recipe_of(c), *([{s: [p, read_meta(p)['num_steps']] for s, p in given.items()}] if given else []))
  world_models = {}
  for m in chosen:
    if m.learner:
      wc = world_model_config(m)
      world_models[m.name] = (wc, os.path.join(workdir, 'world_models', f'{m.name}-{config_hash(wc, data_key)}'))

  def policy_config(method, seed, *options):
    pc = configs.load('policy', ','.join(p for p in (c.task, method.name, c.policy_arg, *options, *second_arm) if p))
    drop_missing_sources(pc, episodes)
    pc.data_dir, pc.seed = data_dir, seed
    pc.world_model_dir = world_models[method.name][1] if method.learner else ''
    if policy_keys:
      pc.image_keys = policy_keys(pc.image_keys)
    if method.pretrain and not options:
      pc.init_from = pretrained[method.name][1]
    configs.apply_overrides(pc, c.policy, skip_missing=True)
    return pc

  pretrained = {}
  for m in chosen:
    if m.pretrain:
      prc = policy_config(m, 0, 'pretrain')
      pretrained[m.name] = (prc, os.path.join(workdir, 'pretrained', f'{m.name}-{config_hash(prc, data_key)}'))

  runs = []
  for m in chosen:
    for s in c.seeds:
      pc = policy_config(m, s)
      runs.append((m.name, s, pc, os.path.join(workdir, 'policies', f'{m.name}-seed{s}-{config_hash(pc, data_key)}')))
  for stage in ('world_model', 'policy'):         # what no method's config has (set in code, not parsed)
    known = configs.set_fields(configs.override_skeleton(stage, c.task), keep_unset=True)
    overridden = configs.set_fields(c[stage])
    unknown = sorted(set(overridden) - set(known))
    if unknown:
      raise configs.ConfigError(f'unknown config field {stage}.{unknown[0]}: no method\'s {stage} config has it')
    fixed = sorted(set(overridden) & set(SET_BY_PLAN[stage]))
    if fixed:
      raise configs.ConfigError(f'{stage}.{fixed[0]} is set by the main job for each stage; set the pipeline\'s '
                                'task, methods, seeds or data_dir instead')
  for name, kind, config in [*((f'world model of {m}', 'world_model', wc) for m, (wc, _) in world_models.items()),
                             *((f'pre-training of {m}', 'policy', prc) for m, (prc, _) in pretrained.items()),
                             *((f'policy of {m}', 'policy', pc) for m, _, pc, _ in runs)]:
    config_rules.check_stage(config, kind, name, episodes)
    configs.check_image_size(config, c.image_size, name)
    try:
      sources.check_existing(config, name, paths)
    except ValueError as e:
      raise configs.ConfigError(str(e)) from None
  return Plan(chosen=chosen, episodes=episodes, data_dir=data_dir, data_key=data_key, data_root=data_root,
              generated=generated, paths=paths, world_models=world_models, pretrained=pretrained, runs=runs,
              arms=[(m.name, m, '') for m in chosen])


def runs_in_one_program(c) -> bool:
  """Whether the pipeline's `runs_in_one_program` ('auto': on an accelerator) trains together the runs that
  differ only in their seed or the swept value."""
  return c.runs_in_one_program == 'on' or (c.runs_in_one_program == 'auto' and jax.default_backend() != 'cpu')


def member_of(config, directory: str, field: str = '') -> sweep.Member:
  """The member of a program of stacked runs that reproduces the run of `config` in `directory` (`field`:
  the swept field relative to the stage config, '' when only seeds vary)."""
  return sweep.Member(os.path.basename(directory), int(config.seed), ((field, float(sweep.field_value(config, field))),)
                      if field else ())


def training_groups(items: list, stack: bool, field: str = '') -> list:
  """Runs [(name, config, directory)] (each directory once) in the groups trained together: with `stack`,
  those whose configs are the same but for the seed and the swept `field` (relative to the stage config);
  else one run each."""
  if not stack:
    return [[item] for item in items]
  def rest(config):
    c = json.loads(config.to_json())
    c.pop('seed', None)
    if field:
      node = c
      *parents, leaf = field.split('.')
      for part in parents:
        node = node[part]
      node.pop(leaf, None)
    return json.dumps(c, sort_keys=True)
  groups = {}
  for item in items:
    groups.setdefault(rest(item[1]), []).append(item)
  return list(groups.values())


def prepare_data(p: Plan, task: str, log=say) -> None:
  """The data stage: each generated source's keyed dataset found, adopted or made (waiting while another
  run makes it), then linked into the recipe's directory (glam_jax/demos/store.py)."""
  for cfg in p.generated.values():
    store.ensure(p.data_root, cfg, log)
  store.link_recipe(p.data_dir, task, p.paths)


def data_ready(p: Plan, task: str) -> bool:
  """Every source of the recipe readable through its directory (a pruned dataset makes the stage redo)."""
  return all(os.path.exists(os.path.join(p.data_dir, task, s, schema.META_FILE)) for s in p.paths)


def run(c, workdir: str, log=say) -> dict:
  """Runs (or resumes) the main job of pipeline config `c` in `workdir`; writes report.md, results.json,
  success.png and rollouts_<method>.gif there and returns the results. A second run in the same workdir
  while this one lives raises `file_lock.Busy` naming it."""
  p = plan(c, workdir)
  os.makedirs(workdir, exist_ok=True)
  with file_lock.exclusive(os.path.join(workdir, 'run.lock'), f'the workdir {workdir}', log):
    return _run(c, p, workdir, log, compile_cache.counts())


def _run(c, p: Plan, workdir: str, log, compiles: dict) -> dict:
  data_key, world_models, pretrained, runs = p.data_key, p.world_models, p.pretrained, p.runs
  with open(os.path.join(workdir, 'pipeline_config.json'), 'w') as f:
    f.write(c.to_json_best_effort(indent=1))
  stages = Stages(workdir, log)
  replay = c.replay_episodes > 0
  probing = c.probe_episodes > 0
  field = p.sweep[0]
  stage_field = lambda stage: field.partition('.')[2] if field.startswith(stage + '.') else ''
  stack = runs_in_one_program(c)
  # each world model once (the arms of a policy sweep share theirs), in the groups trained together
  first_arm, sharing = {}, {}
  for arm, (_, d) in world_models.items():
    first_arm.setdefault(d, arm)
    sharing[d] = sharing.get(d, 0) + 1
  # a world model's stages are named by its arm, or by its method where several arms share it
  wm_name = {d: arm.split('@')[0] if sharing[d] > 1 else arm for d, arm in first_arm.items()}
  wm_groups = training_groups([(arm, world_models[arm][0], d) for d, arm in first_arm.items()], stack,
                              stage_field('world_model'))
  run_groups = training_groups([(r[0], r[2], r[3]) for r in runs], stack, stage_field('policy'))
  total = (2 + len(wm_groups) + (1 + probing + replay) * len(first_arm) + len(pretrained) + len(run_groups)
           + len(runs))
  step = iter(range(1, total + 1))

  def train_together(kind: str, group: list, field: str):
    """Runs [(name, config, directory)] that differ only in their seed or `field` in one program, each in
    its own directory as if alone; a run already trained to the end is left as it is, and runs whose
    checkpoints were saved at different steps (made one by one earlier) are finished one by one."""
    build = (lambda config, d: stage1.build(config)) if kind == 'world_model' else stage2.prepare
    todo = [(config, d) for _, config, d in group
            if config.num_steps not in checkpoint.complete_steps(os.path.join(d, 'checkpoints'))]
    saved = {tuple(checkpoint.complete_steps(os.path.join(d, 'checkpoints'))) for _, d in todo}
    if len(todo) < 2 or len(saved) > 1:
      for config, d in todo:
        learner, train, held_out = build(config, d)
        loop.train(config, learner, train, d, held_out)
      return
    (config, first), members = todo[0], [(member_of(cfg, d, field), d) for cfg, d in todo]
    for (member, d), (other, _) in zip(members, todo):
      if json.loads(sweep.member_config(config, member).to_json()) != json.loads(other.to_json()):
        raise ValueError(f'{d}: its config differs from {first}\'s in more than the seed and the swept field; '
                         'train them apart (--config.runs_in_one_program=off)')
    learner, train, held_out = build(config, first)
    if kind == 'policy':                   # the same spec: the runs differ in their seed or optimiser alone
      for _, d in todo[1:]:
        os.makedirs(d, exist_ok=True)
        shutil.copyfile(os.path.join(first, stage2.SPEC_FILE), os.path.join(d, stage2.SPEC_FILE))
    group_dir = os.path.join(os.path.dirname(first), 'together-' + os.path.basename(first))
    loop.train(config, learner, train, group_dir, held_out, members=members)

  def train_stage(kind: str, prefix: str, group: list, field: str, name: str):
    """One stage per group: a run alone keeps its own stage name (`name`), runs together one stage."""
    configs_ = [config for _, config, _ in group]
    label = name if len(group) == 1 else f'{prefix}_{group[0][0].split("@")[0]}_x{len(group)}_{config_hash([d for *_, d in group])[:6]}'
    stages.run(label, config_hash(configs_ if len(group) > 1 else configs_[0], data_key),
               lambda: train_together(kind, group, field), next(step), total)

  def evaluate(arm, seed, run_dir):
    out = policy_eval.evaluate_policy(run_dir, c.trials, seed=c.eval_seed, chunk=c.eval_chunk, gifs=c.gifs,
                                      backend=c.backend)
    s = out['success']
    log(f'{arm} seed {seed}: {s["successes"]}/{s["trials"]} = {s["rate"]:.1%} '
        f'(95 % Wilson {s["wilson_low"]:.2f}-{s["wilson_high"]:.2f}); {out["seconds"]:.0f} s')

  if not data_ready(p, c.task):
    stages.forget('data')                 # a dataset was pruned since: find or make it again
  stages.run('data', data_key, lambda: prepare_data(p, c.task, log), next(step), total)
  for group in wm_groups:
    train_stage('world_model', 'world_models', group, stage_field('world_model'), f'world_model_{wm_name[group[0][2]]}')
  for wm_dir, arm in first_arm.items():
    wc, name = world_models[arm][0], wm_name[wm_dir]
    key = config_hash(wc, data_key)
    # labels live with the world model: one relabelling serves every seed (stage2.prepare relabels first)
    first = next(pc for m, _, pc, _ in runs if m == arm)
    stages.run(f'relabel_{name}', key, lambda pc=first: stage2.relabel_sources(pc), next(step), total)
    others = [source for source in p.episodes if source != policy_eval.TARGET]
    if probing:
      stages.run(f'alignment_{name}', config_hash(wc, data_key, others, c.probe_episodes),
                 lambda d=wm_dir, o=others: alignment.run(d, o, c.probe_episodes), next(step), total)
  # the data stage's batch of scripted attempts: its compiled collector serves the replay episodes too
  replay_cfg = latent_replay.ReplayConfig(sources=tuple(c.replay_sources), episodes=c.replay_episodes,
                                          batch=generate.GenerateConfig.batch, backend=c.backend,
                                          heterogeneity=c.heterogeneity, source_style=c.source_style)
  replay_dir = os.path.join(workdir, 'replay_episodes')     # the same unseen episodes for every method
  replay_compiled = {}
  for wm_dir, arm in first_arm.items():
    if replay:
      stages.run(f'replay_{wm_name[wm_dir]}', config_hash(world_models[arm][0], data_key, dataclasses.asdict(replay_cfg)),
                 lambda d=wm_dir: latent_replay.run(d, replay_cfg, episodes_dir=replay_dir, compiled=replay_compiled),
                 next(step), total)
  for name, (prc, pre_dir) in pretrained.items():
    train_stage('policy', 'pretrain', [(name, prc, pre_dir)], '', f'pretrain_{name}')
  for group in run_groups:
    seed = int(group[0][1].seed)
    train_stage('policy', 'train', group, stage_field('policy'), f'train_{group[0][0]}_seed{seed}')
  # 'episodes': evaluations keep each episode's outcome (one run without them is redone)
  eval_settings = {'trials': c.trials, 'eval_seed': c.eval_seed, 'backend': c.backend, 'record': 'episodes'}
  for arm, s, pc, d in runs:
    stages.run(f'evaluate_{arm}_seed{s}', config_hash(pc, data_key, eval_settings),
               lambda a=arm, s=s, d=d: evaluate(a, s, d), next(step), total)
  together = {d for g in (*wm_groups, *run_groups) if len(g) > 1 for *_, d in g}

  def write_report():
    results = {}
    for arm, m, label in p.arms:
      mine = [r for r in runs if r[0] == arm]
      per_seed = []
      for _, _, _, d in mine:
        with open(os.path.join(d, 'eval', 'results.json')) as f:
          per_seed.append(json.load(f))
      results[arm] = pooled(per_seed, [s for _, s, _, _ in mine])
      wm = world_models.get(arm)
      results[arm]['training'] = training_record(m, wm and wm[0], mine[0][2], pretrained.get(arm, (None,))[0])
      results[arm]['training']['runs_in_one_program'] = any(d in together for *_, d in mine) or bool(wm and wm[1] in together)
      if label:
        results[arm]['sweep_point'] = {field: float(label.split('=', 1)[1]), 'label': label}
      gif = os.path.join(mine[0][3], 'eval', 'rollouts.gif')
      if c.gifs and os.path.exists(gif):
        shutil.copyfile(gif, os.path.join(workdir, f'rollouts_{arm}.gif'))
      if probing and m.learner:
        with open(os.path.join(wm[1], 'alignment', 'results.json')) as f:
          probe = json.load(f)
        results[arm]['alignment'] = {k: probe[k] for k in ('truth', 'metric', 'episodes', 'results')}
      if replay and m.learner:
        with open(os.path.join(wm[1], 'latent_replay', 'results.json')) as f:
          results[arm]['replay'] = json.load(f)['results']
    out = {'task': c.task, 'methods': results, 'comparisons': comparisons(results, [a for a, _, _ in p.arms]),
           'world_models': {n: os.path.relpath(d, workdir) for n, (_, d) in world_models.items()},
           'machine': f'{platform.node()}: {os.cpu_count()} CPU cores, {jax.device_count()} x '
                      f'{jax.devices()[0].device_kind}', 'timings': stages.timings(),
           'compile_cache': compile_cache.since(compiles)}      # this run's (stages skipped compile nothing)
    if field:
      out['sweep'] = {'field': field, 'values': list(p.sweep[1])}
    write_json(os.path.join(workdir, 'results.json'), out)
    report.bar_chart(out, os.path.join(workdir, 'success.png'))
    write_text(os.path.join(workdir, 'report.md'), report.markdown(out))
    return out

  log(f'[{next(step)}/{total}] report')                 # always rewritten: it reads every stage
  return write_report()
