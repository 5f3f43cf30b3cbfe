"""Datasets keyed by their settings (glam_jax/demos/store.py) and the file locks that guard them
(glam_jax/file_lock.py): other settings make another dataset, an unkeyed dataset with the same settings is
adopted, nothing is regenerated in place, pruning deletes only what is named, a held lock names its holder and
a dead holder's lock is taken over."""
import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from glam_jax import file_lock
from glam_jax.data.reader import read_meta
from glam_jax.demos import generate, store

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = generate.GenerateConfig(task='lift', source='kinova', episodes=2, out='', image_size=16, batch=4,
                              backend='native', progress=False)


@pytest.fixture
def counted(monkeypatch):
  """Counts the datasets generated (store.ensure calls generate.generate for each)."""
  made = []
  real = generate.generate

  def generate_and_count(cfg):
    made.append((cfg.source, cfg.image_size))
    return real(cfg)
  monkeypatch.setattr(store.gen, 'generate', generate_and_count)
  return made


def test_keys_adoption_imports_and_prune(tmp_path, counted):
  root, log = str(tmp_path / 'data'), []
  # a dataset made before keys existed, at the unkeyed path, with the same settings: adopted, not remade
  unkeyed = os.path.join(root, 'lift', 'kinova')
  generate.generate(dataclasses.replace(CFG, out=unkeyed))
  before = os.stat(os.path.join(unkeyed, 'meta.json')).st_mtime_ns
  counted.clear()
  path = store.ensure(root, CFG, log.append)
  assert counted == [] and os.path.islink(path) and os.path.samefile(path, unkeyed) and 'adopted' in log[-1]
  assert store.ensure(root, CFG, log.append) == path and 'complete, skipped' in log[-1]
  # other settings: a dataset of their own; the first is never rewritten
  other = dataclasses.replace(CFG, image_size=8)
  other_path = store.ensure(root, other, log.append)
  assert counted == [('kinova', 8)] and other_path != path and read_meta(other_path)['image_size'] == 8
  assert os.stat(os.path.join(unkeyed, 'meta.json')).st_mtime_ns == before and read_meta(path)['image_size'] == 16
  # every setting of the identity changes the key
  for change in (dict(episodes=3), dict(seed=1), dict(backend='mjx'), dict(views=('front',)), dict(depth=True),
                 dict(source='umi'), dict(task='pick_place')):
    assert store.dataset_path(root, dataclasses.replace(CFG, **change)) != path, change
  # a recipe's directory links its datasets; listing shows each kind with the recipes that link it
  recipe = store.recipe_dir(root, 'lift', {'kinova': other_path})
  store.link_recipe(recipe, 'lift', {'kinova': other_path})
  assert read_meta(os.path.join(recipe, 'lift', 'kinova'))['image_size'] == 8
  entries = {e['name']: e for e in store.entries(root)}
  keyed, adopted = os.path.relpath(other_path, root), os.path.relpath(path, root)
  assert {n: e['kind'] for n, e in entries.items()} == {keyed: 'keyed', adopted: 'adopted', 'lift/kinova': 'unkeyed'}
  assert entries[keyed]['recipes'] == [os.path.basename(recipe)] and entries[keyed]['bytes'] > 0
  listing = subprocess.run([sys.executable, 'tools/datasets.py', f'--data_dir={root}'], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
  assert listing.returncode == 0 and keyed in listing.stdout and '3 datasets' in listing.stdout, listing.stderr
  # pruning: unknown names refused before anything goes; the adopted link goes, the dataset it names stays
  with pytest.raises(ValueError, match="no dataset 'lift/nothing'"):
    store.prune(root, [keyed, 'lift/nothing'], log.append)
  assert os.path.exists(other_path)
  store.prune(root, [adopted, keyed], log.append)
  assert not os.path.lexists(path) and not os.path.exists(other_path) and os.path.isdir(unkeyed)
  assert not os.path.lexists(os.path.join(recipe, 'lift', 'kinova'))
  assert [e['name'] for e in store.entries(root)] == ['lift/kinova']


def _hold(path, seconds):
  """A process holding the lock at `path` for `seconds`, started once it holds it."""
  script = (f'import time; from glam_jax import file_lock\nwith file_lock.exclusive({path!r}, "the test lock"):\n'
            f'  print("ready", flush=True); time.sleep({seconds})')
  p = subprocess.Popen([sys.executable, '-c', script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
  assert p.stdout.readline().strip() == 'ready'
  return p


def test_a_held_lock_names_its_holder_and_a_dead_holders_is_taken_over(tmp_path):
  path = str(tmp_path / 'run.lock')
  holder = _hold(path, 60)
  assert file_lock.is_held(path)
  with pytest.raises(file_lock.Busy, match=rf'the test lock is in use by pid {holder.pid} on '):
    with file_lock.exclusive(path, 'the test lock'):
      pass
  holder.send_signal(signal.SIGKILL)            # dies holding it: the kernel frees the lock, the file stays
  holder.wait()
  assert not file_lock.is_held(path) and file_lock.holder(path)['pid'] == holder.pid
  log = []
  with file_lock.exclusive(path, 'the test lock', log.append):
    assert file_lock.holder(path)['pid'] == os.getpid()
  assert f'a stale lock of pid {holder.pid}' in log[0]
  # waiting: a second taker waits for the first to let go
  holder = _hold(path, 1.5)
  t0, log = time.time(), []
  with file_lock.waiting(path, 'the test lock', log.append):
    assert time.time() - t0 > 0.5 and f'waiting for pid {holder.pid}' in log[0]
  holder.wait()
