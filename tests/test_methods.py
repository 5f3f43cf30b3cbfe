"""Each method's data sources, from the registry through the main job's plan to the pipelines its world
model, relabelling and policy read (DESIGN.md §2: CLAM on target data only; `*_aux` given every source)."""
import os

import pytest

from glam_jax import configs, methods
from glam_jax.data import sources
from glam_jax.experiments import task_pipeline

EXPECTED = {   # method -> (world-model sources, policy/relabelled sources); None: no world model
    'glam_o': ({'kinova', 'umi'}, {'kinova', 'umi'}), 'glam': ({'kinova', 'umi'}, {'kinova', 'umi'}),
    'glam_o_symmetric': ({'kinova', 'umi'}, {'kinova', 'umi'}),
    'glam_o_action_on_idm': ({'kinova', 'umi'}, {'kinova', 'umi'}),
    'clam': ({'kinova'}, {'kinova'}), 'clam_o': ({'kinova'}, {'kinova'}),
    'clam_aux': ({'kinova', 'umi'}, {'kinova', 'umi'}), 'clam_o_aux': ({'kinova', 'umi'}, {'kinova', 'umi'}),
    'lapa': ({'kinova', 'umi'}, {'kinova', 'umi'}), 'lapa_o': ({'kinova', 'umi'}, {'kinova', 'umi'}),
    'lawm': (None, {'kinova'}), 'mip': (None, {'kinova'}),
}


def test_every_method_reads_the_sources_the_paper_gives_it(tmp_path):
  assert set(EXPECTED) == set(methods.METHODS)
  c = configs.load('pipeline', 'lift,smoke')
  c.methods = tuple(methods.METHODS)
  c.data_dir = str(tmp_path)
  plan = task_pipeline.plan(c, str(tmp_path))
  for name, (wm_sources, policy_sources) in EXPECTED.items():
    method = methods.get(name)
    if wm_sources is None:
      assert name not in plan.world_models and not method.learner
    else:
      wc = plan.world_models[name][0]
      train, held_out = sources.pipeline_configs(wc)
      assert {os.path.basename(s.path) for s in train.sources} == wm_sources, name
      assert {os.path.basename(s.path) for s in held_out.sources} == wm_sources, name
      assert [s.target for s in train.sources if os.path.basename(s.path) == 'kinova'] == [True]
    # the policy config's sources are what relabelling labels and the policy trains on
    pcs = [pc for m, _, pc, _ in plan.runs if m == name]
    assert pcs and all(set(pc.sources) == policy_sources for pc in pcs), name
    assert {os.path.basename(s.path) for s in sources.pipeline_configs(pcs[0], stage=2)[0].sources} == policy_sources
  for name, (prc, _) in plan.pretrained.items():       # LAWM's pre-training reads every source
    assert set(prc.sources) == {'kinova', 'umi'} and name == 'lawm'


def test_a_method_names_its_sources_and_label_in_the_record():
  m = methods.get('clam_o')
  wc = configs.load('world_model', 'lift,clam_o')
  pc = configs.load('policy', 'lift,clam_o')
  rec = task_pipeline.training_record(m, wc, pc)
  assert rec['world_model_sources'] == rec['policy_sources'] == ['kinova'] and rec['label'] == 'latents'
  assert rec['world_model_steps'] == wc.num_steps and rec['policy_batch'] == pc.batch_size
  with pytest.raises(ValueError, match='source set'):
    methods.Method('x', 'x', learner='clam', world_model_sources='umi')


def test_roles_name_the_papers_baselines_and_ablations():
  # DESIGN.md §2: the paper's baselines, its two ablations; CLAM given the UMI data is not the paper's CLAM
  assert set(methods.with_role('baseline')) == {'mip', 'clam', 'clam_o', 'lapa', 'lapa_o', 'lawm'}
  assert set(methods.with_role('ablation')) == {'glam_o_symmetric', 'glam_o_action_on_idm'}
  assert set(methods.with_role('method')) == {'glam', 'glam_o'}
  assert set(methods.with_role('stronger_baseline')) == {'clam_aux', 'clam_o_aux'}
  with pytest.raises(ValueError, match='role'):
    methods.Method('x', 'x', policy_label='actions', role='favourite')
