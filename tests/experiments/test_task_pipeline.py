"""The main job's recipe handling: sources without episodes leave every model's mixture, the UR5e joins
it when the recipe has it, and a recipe without target episodes or with an unknown source is refused;
configs that cannot work are refused before anything is written."""
import ml_collections
import pytest

from glam_jax import configs
from glam_jax.data import sources
from glam_jax.experiments import task_pipeline
from tests.data.helpers import write_synthetic


def test_recipe_sources_and_mixtures():
  episodes = task_pipeline.recipe_sources(ml_collections.ConfigDict({'kinova': 6, 'umi': 0}))
  assert episodes == {'kinova': 6}
  wc = configs.load('world_model', 'lift,glam_o,tiny')
  task_pipeline.drop_missing_sources(wc, episodes)
  assert dict(wc.sources) == {'kinova': 1.0}
  with_arm = task_pipeline.recipe_sources({'kinova': 6, 'umi': 6, 'ur5e': 3})
  pc = configs.load('policy', 'lift,glam_o,tiny,second_arm')
  task_pipeline.drop_missing_sources(pc, with_arm)
  assert dict(pc.sources) == {'kinova': 1.0, 'umi': 1.0, 'ur5e': 0.5}
  mip = configs.load('policy', 'lift,mip,tiny,second_arm')            # target-only methods stay so
  assert dict(mip.sources) == {'kinova': 1.0}
  with pytest.raises(ValueError, match="needs episodes of the target 'kinova'"):
    task_pipeline.recipe_sources({'kinova': 0, 'umi': 6})
  with pytest.raises(ValueError, match=r"unknown source\(s\) \['franka'\] in episodes; valid sources: kinova, umi, ur5e"):
    task_pipeline.recipe_sources({'kinova': 6, 'franka': 6})
  assert task_pipeline.comma_list(('glam_o,mip', 'lawm')) == ('glam_o', 'mip', 'lawm')


def test_configs_that_cannot_work_fail_before_any_work(tmp_path):
  c = configs.load('pipeline', 'lift,smoke')
  c.image_size = 40
  with pytest.raises(configs.ConfigError, match=r'world model of glam_o: image size 40 is not divisible by 2\*\*4'):
    task_pipeline.plan(c, str(tmp_path / 'run'))
  c.image_size = 32
  c.methods = ('glam_o,glam_q',)
  with pytest.raises(configs.ConfigError, match="unknown method 'glam_q'"):
    task_pipeline.plan(c, str(tmp_path / 'run'))
  c.methods = ('glam_o', 'mip')
  c.backend = 'bullet'
  with pytest.raises(configs.ConfigError, match="backend: unknown physics backend 'bullet'; valid physics backends: mjx, native"):
    task_pipeline.plan(c, str(tmp_path / 'run'))
  c.backend = 'native'
  c.world_model = ml_collections.ConfigDict({'num_stepz': 3})
  with pytest.raises(configs.ConfigError, match="unknown config field world_model.num_stepz"):
    task_pipeline.plan(c, str(tmp_path / 'run'))
  c.world_model = ml_collections.ConfigDict()
  # data already on disk (e.g. imported) with none of the views GLAM-O reads (a source may lack some: they
  # are masked)
  write_synthetic(str(tmp_path / 'data' / 'lift' / 'umi'), 1, [4, 4], has_actions=False, name='umi', views=('wrist',))
  c.datasets = f'umi={tmp_path}/data/lift/umi'
  with pytest.raises(configs.ConfigError, match=r"world model of glam_o: .*lift/umi has no 'overhead/mask'"):
    task_pipeline.plan(c, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()             # nothing written
  for spec, message in [('umi', "datasets entry 'umi': expected SOURCE=PATH"),
                        (f'ufo={tmp_path}', "unknown source 'ufo'"),
                        (f'umi={tmp_path}/nothing', 'datasets umi=.*nothing: not a readable dataset')]:
    c.datasets = spec
    with pytest.raises(configs.ConfigError, match=message):
      task_pipeline.plan(c, str(tmp_path / 'run'))


def test_existing_target_without_actions_is_refused(tmp_path):
  write_synthetic(str(tmp_path / 'lift' / 'kinova'), 0, [4, 4], has_actions=False)
  config = ml_collections.ConfigDict(dict(data_dir=str(tmp_path), task='lift', sources={'kinova': 1.0},
                                          target='kinova', image_keys=('overhead/rgb',)))
  with pytest.raises(ValueError, match='the target .*kinova has no actions or no proprioception'):
    sources.check_existing(config, 'policy of mip')
  config.target = 'umi'                             # an auxiliary source without actions is fine
  sources.check_existing(config, 'policy of mip')
