"""The main job's recipe handling: sources without episodes leave every model's mixture, the UR5e joins
it when the recipe has it, and a recipe without target episodes or with an unknown source is refused;
configs that cannot work are refused before anything is written; datasets given by path are read in place."""
import os

import ml_collections
import pytest

from glam_jax import configs
from glam_jax.data import sources
from glam_jax.demos import store
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
  with pytest.raises(configs.ConfigError, match="backend: unknown physics backend 'bullet'; valid physics backends: auto, mjx, native"):
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


def test_datasets_given_by_path_are_read_in_place_and_never_written(tmp_path, monkeypatch):
  imported = str(tmp_path / 'imported' / 'umi')
  write_synthetic(imported, 1, [4, 4], has_actions=False, name='umi')
  before = {f: os.stat(os.path.join(imported, f)).st_mtime_ns for f in os.listdir(imported)}
  c = configs.load('pipeline', 'lift,smoke')
  c.datasets = f'umi={imported}'
  c.data_dir = str(tmp_path / 'data')
  p = task_pipeline.plan(c, str(tmp_path / 'run'))
  assert p.paths['umi'] == imported and set(p.generated) == {'kinova'} and p.episodes['umi'] == 2
  made = []
  monkeypatch.setattr(store, 'ensure', lambda root, cfg, log=print: made.append(cfg.source))
  task_pipeline.prepare_data(p, 'lift')
  assert made == ['kinova']                                    # only the generated source is made
  link = os.path.join(p.data_dir, 'lift', 'umi')
  assert os.path.islink(link) and os.path.samefile(link, imported)
  assert {f: os.stat(os.path.join(imported, f)).st_mtime_ns for f in os.listdir(imported)} == before
  other = configs.load('pipeline', 'lift,smoke')
  other.data_dir = c.data_dir
  assert task_pipeline.plan(other, str(tmp_path / 'run')).data_key != p.data_key     # other data, other runs
