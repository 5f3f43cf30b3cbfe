"""Imported real-data formats train: a robomimic target and a UMI auxiliary source, imported with colour masks
onto one shared view, drive a few world-model steps through the normal config, pipeline and loop.

The model, batch and schedule match tests/train/test_loop.py's (16 px RGB + mask of one view, 8-dim
proprioception and actions, 12 steps), so the compiled step is shared through the persistent cache."""
import json
import math
import os

from glam_jax import configs
from glam_jax.data.importers import ImportOptions, import_dataset
from glam_jax.stage1 import experiment
from glam_jax.train import loop
from tests.data import import_helpers as H

RED = 'hsv:340,20,0.6,1,0.5,1'


def test_world_model_trains_on_imported_sources(tmp_path):
  data = tmp_path / 'data'
  H.write_robomimic(str(tmp_path / 'demo.hdf5'), [8, 9, 10], size=32, action_dim=8)
  H.write_umi(str(tmp_path / 'umi.zarr'), [9, 8, 10], size=32)
  common = dict(image_size=16, masks=RED, task='lift', progress=False)
  import_dataset('robomimic', str(tmp_path / 'demo.hdf5'), str(data / 'lift' / 'kinova'),
                 ImportOptions(fields={'views': (('agentview_image', 'overhead'),)}, source='kinova', **common))
  import_dataset('umi_zarr', str(tmp_path / 'umi.zarr'), str(data / 'lift' / 'umi'),
                 ImportOptions(fields={'views': (('camera0_rgb', 'overhead'),)}, source='umi', **common))
  c = configs.load('world_model', 'lift,tiny')
  c.data_dir = str(data)
  c.image_keys = ('overhead/rgb', 'overhead/mask')
  c.action_space = 'delta'          # imported actions are the source's own; no joint targets recorded
  c.model.conv_features = (8, 16)
  c.update(dict(batch_size=8, num_steps=12, log_every=1, checkpoint_every=100))
  learner, train_data, _ = experiment.build(c)
  out = loop.train(c, learner, train_data, str(tmp_path / 'run'), progress=False)      # no held-out evaluation
  assert out['step'] == 12
  rows = [json.loads(line) for line in open(os.path.join(tmp_path, 'run', 'metrics.jsonl'))]
  losses = [r['train/loss'] for r in rows if 'train/loss' in r]
  assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
