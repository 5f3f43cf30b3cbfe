"""A full disk while writing a checkpoint, a dataset or a report: a clear error naming what failed, and the
previous checkpoint, dataset or report intact (a size-limited tmpfs; needs root to mount, skipped otherwise)."""
import contextlib
import os
import subprocess

import numpy as np
import pytest

from glam_jax.data import DatasetWriter, open_dataset
from glam_jax.data.writer import DatasetWriteError
from glam_jax.experiments.stages import write_text
from glam_jax.stage1 import experiment
from glam_jax.train import loop
from glam_jax.train.checkpoint import CheckpointWriteError
from tests.data.helpers import write_synthetic
from tests.train.test_loop import _config, _losses


@contextlib.contextmanager
def small_fs(path, kib: int):
  os.makedirs(path, exist_ok=True)
  mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={kib}k', 'tmpfs', str(path)], capture_output=True)
  if mounted.returncode:
    pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.decode().strip()}')
  try:
    yield lambda size: subprocess.run(['mount', '-o', f'remount,size={size}k', str(path)], check=True)
  finally:
    subprocess.run(['umount', '--lazy', str(path)], check=True)


def test_full_disk_while_writing_a_dataset_or_a_report(tmp_path):
  with small_fs(tmp_path / 'fs', 300) as _:
    path = str(tmp_path / 'fs' / 'ds')
    write_synthetic(path, 0, [5, 5], size=16)
    with pytest.raises(DatasetWriteError, match=r'ds: writing the dataset failed: no space left on device.*intact'):
      with DatasetWriter(path, {'overhead/rgb': {'shape': (64, 64, 3), 'dtype': 'uint8'}},
                         {'ee_pose': {'dim': 9, 'dtype': 'float32'}}, overwrite=True) as w:
        rng = np.random.default_rng(0)
        for _ in range(20):      # incompressible frames: ~5 MB
          w.add_episode({'ee_pose': np.zeros((20, 9), np.float32)},
                        {'overhead/rgb': rng.integers(0, 255, (20, 64, 64, 3), np.uint8)})
        w.close(task='lift', source='umi', embodiment='umi', num_arms=1, has_actions=False, has_proprio=False,
                action_dim=0, proprio_dim=0, ctrl_dt=0.05, image_size=64, views=['overhead'], seed=0,
                scripted_success_rate=1.0, attempts=20)
    assert os.listdir(tmp_path / 'fs') == ['ds']              # no partial output left
    ds = open_dataset(path)
    assert ds.meta['episode_lengths'] == [5, 5] and ds.frame(1, 4)['overhead/rgb'][0, 0, 2] == 4
    ds.close()
    report = str(tmp_path / 'fs' / 'report.md')
    write_text(report, 'the old report\n')
    with pytest.raises(OSError, match='report.md: could not write .*the previous version, if any, is intact'):
      write_text(report, 'x' * 2_000_000)
    assert open(report).read() == 'the old report\n' and sorted(os.listdir(tmp_path / 'fs')) == ['ds', 'report.md']


def test_full_disk_while_checkpointing_keeps_the_last_checkpoint_and_resumes(tmp_path):
  root = tmp_path / 'data'
  write_synthetic(str(root / 'lift' / 'kinova'), 0, [6, 9, 5, 12, 7, 8], size=16)
  write_synthetic(str(root / 'lift' / 'umi'), 1, [7, 4, 10, 8, 6, 9], has_actions=False, name='umi', size=16)
  c = _config(str(root), checkpoint_every=4, eval_every=100)
  learner, train_data, _ = experiment.build(c)
  reference = str(tmp_path / 'reference')
  loop.train(c, learner, train_data, reference, progress=False)
  with small_fs(tmp_path / 'fs', 2500) as resize:       # one checkpoint of this model is ~1.7 MB
    run = str(tmp_path / 'fs' / 'run')
    with pytest.raises(CheckpointWriteError, match=r'writing checkpoint 8 failed: no space left on device; the '
                                                   r'last complete checkpoint, step 4 is intact'):
      loop.train(c, learner, train_data, run, progress=False)
    resize(20_000)
    loop.train(c, learner, train_data, run, progress=False)   # the same command, with room again
    assert sorted(os.listdir(os.path.join(run, 'checkpoints'))) == ['12', '4', '8']    # partial save removed
    ref, got = _losses(reference), _losses(run)
    assert sorted(got) == list(range(1, 13))
    np.testing.assert_allclose([got[s] for s in range(5, 13)], [ref[s] for s in range(5, 13)], rtol=1e-5)
