"""The main job's recipe handling: sources without episodes leave every model's mixture, the UR5e joins
it when the recipe has it, and a recipe without target episodes or with an unknown source is refused."""
import ml_collections
import pytest

from glam_jax import configs
from glam_jax.experiments import task_pipeline


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
