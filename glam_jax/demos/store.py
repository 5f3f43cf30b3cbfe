"""Generated datasets keyed by the settings that made them: one scheme for the main job and the suite, so
that a run with other settings makes its own dataset and never regenerates one another run reads.

Under a data root (the pipeline's `data_dir`):
  <root>/<task>/<source>-<episodes>-<key>/   a generated dataset; `key` hashes every setting that made it
                                            (`identity`: task, source, episodes, image size, stored views,
                                            depth, seed, physics, the source's style)
  <root>/recipes/<task>-<hash>/<task>/<source>   links to one recipe's datasets: the `data_dir` its model
                                            configs read (`<data_dir>/<task>/<source>`, data/sources.py)
  <root>/<task>/<source>/                   an unkeyed dataset: made before keys existed (adopted, by a link,
                                            when its meta says it was made with the same settings) or
                                            imported (given to the main job by path, `datasets`); never
                                            written or deleted by a run

A dataset is generated under a lock (`<dataset>.lock`): a second run that needs it waits and then finds it
complete. Nothing here deletes a dataset but `prune`, which is asked for by name (tools/datasets.py).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil

from glam_jax import file_lock
from glam_jax.data.reader import read_meta
from glam_jax.data.schema import DatasetError
from glam_jax.demos import generate as gen
from glam_jax.demos import heterogeneity
from glam_jax.sim import scene

RECIPES = 'recipes'
KEYED = re.compile(r'^(?P<source>[a-z0-9_]+)-(?P<episodes>\d+)-(?P<key>[0-9a-f]{10})$')


def identity(cfg: gen.GenerateConfig) -> dict:
  """Every setting that changes what a generated dataset holds (what `gen.dataset_complete` compares)."""
  return {'task': cfg.task, 'source': cfg.source, 'episodes': cfg.episodes, 'image_size': cfg.image_size,
          'views': list(gen.stored_views(cfg)), 'depth': cfg.depth, 'seed': cfg.seed, 'backend': cfg.backend,
          'style': heterogeneity.style_key(cfg.style), 'scene_version': scene.SCENE_VERSION}


def _hash(obj) -> str:
  return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def dataset_path(root: str, cfg: gen.GenerateConfig) -> str:
  return os.path.join(root, cfg.task, f'{cfg.source}-{cfg.episodes}-{_hash(identity(cfg))}')


def recipe_dir(root: str, task: str, paths: dict) -> str:
  """The directory of links a recipe's runs read, named by the datasets it links ({source: path})."""
  named = {s: os.path.relpath(os.path.abspath(p), os.path.abspath(root)) for s, p in paths.items()}
  return os.path.join(root, RECIPES, f'{task}-{_hash(named)}')


def _link(target: str, link: str) -> None:
  """`link` -> `target` (relative), replaced atomically; an existing right link is left alone."""
  rel = os.path.relpath(os.path.abspath(target), os.path.dirname(os.path.abspath(link)))
  if os.path.islink(link) and os.readlink(link) == rel:
    return
  os.makedirs(os.path.dirname(link), exist_ok=True)
  tmp = f'{link}.tmp-{os.getpid()}'
  os.symlink(rel, tmp)
  os.replace(tmp, link)


def ensure(root: str, cfg: gen.GenerateConfig, log=print, progress: bool = True) -> str:
  """The keyed dataset of `cfg` under `root`: found complete, adopted from an unkeyed dataset with the same
  settings (`<root>/<task>/<source>`, made before keys), or generated, under its lock. Returns its path."""
  path = dataset_path(root, cfg)
  with file_lock.waiting(path + '.lock', path, log):
    if gen.dataset_complete(path, cfg):
      log(f'{path}: complete, skipped')
      return path
    unkeyed = os.path.join(root, cfg.task, cfg.source)
    if not os.path.lexists(path) and os.path.isdir(unkeyed) and gen.dataset_complete(unkeyed, cfg):
      _link(unkeyed, path)
      log(f'{path}: adopted {unkeyed} (made with the same settings before datasets were keyed)')
      return path
    if os.path.islink(path):               # an adopted dataset that has gone: generate in its place
      os.remove(path)
    log(f'{path}: {gen.summary(gen.generate(dataclasses.replace(cfg, out=path, overwrite=True, progress=progress)))}')
  return path


def link_recipe(directory: str, task: str, paths: dict) -> None:
  """Links each source's dataset into a recipe directory (`<directory>/<task>/<source>`)."""
  for source, path in paths.items():
    _link(path, os.path.join(directory, task, source))


def imported(spec: str) -> dict:
  """'SOURCE=PATH,...' (the pipeline's `datasets`) -> {source: path}; each must be a readable dataset.
  Raises ValueError naming the bad entry."""
  out = {}
  for item in (p.strip() for p in spec.split(',') if p.strip()):
    source, eq, path = item.partition('=')
    if not eq or not source or not path:
      raise ValueError(f'datasets entry {item!r}: expected SOURCE=PATH')
    gen.check_source(source)
    if source in out:
      raise ValueError(f'datasets names {source!r} twice')
    path = os.path.expanduser(path)
    try:
      read_meta(path)
    except DatasetError as e:
      raise ValueError(f'datasets {source}={path}: not a readable dataset ({e})') from None
    out[source] = path
  return out


def _size(path: str) -> int:
  total = 0
  for d, _, files in os.walk(path):
    total += sum(os.path.getsize(os.path.join(d, f)) for f in files if not os.path.islink(os.path.join(d, f)))
  return total


def entries(root: str) -> list:
  """Every dataset under `root` (keyed, adopted and unkeyed ones), with its settings, size on disk and the
  recipes that link it: dicts with name (`<task>/<dir>`), path, kind ('keyed', 'adopted' or 'unkeyed'),
  meta (None if unreadable), bytes, recipes, locked."""
  recipes = {}
  for r in sorted(os.listdir(os.path.join(root, RECIPES))) if os.path.isdir(os.path.join(root, RECIPES)) else []:
    for d, _, _ in os.walk(os.path.join(root, RECIPES, r)):
      for name in os.listdir(d):
        link = os.path.join(d, name)
        if os.path.islink(link):
          recipes.setdefault(os.path.realpath(link), []).append(r)
  out = []
  for task in sorted(os.listdir(root)) if os.path.isdir(root) else []:
    task_dir = os.path.join(root, task)
    if task == RECIPES or not os.path.isdir(task_dir):
      continue
    for name in sorted(os.listdir(task_dir)):
      path = os.path.join(task_dir, name)
      if name.endswith('.lock') or '.incomplete-' in name or not os.path.isdir(path):
        continue
      try:
        meta = read_meta(path)
      except DatasetError:
        meta = None
      kind = ('adopted' if os.path.islink(path) else 'keyed') if KEYED.match(name) else 'unkeyed'
      out.append({'name': f'{task}/{name}', 'path': path, 'kind': kind, 'meta': meta,
                  'bytes': 0 if kind == 'adopted' else _size(path),
                  'recipes': sorted(recipes.get(os.path.realpath(path), [])),
                  'locked': file_lock.is_held(path + '.lock')})
  return out


def prune(root: str, names, log=print) -> None:
  """Deletes the datasets named (`<task>/<dir>` as `entries` lists them) and the recipe links to them; an
  adopted entry's link goes, the unkeyed dataset it points to stays unless named too. Refuses a dataset
  being generated, and unknown names, before deleting anything."""
  known = {e['name']: e for e in entries(root)}
  unknown = [n for n in names if n not in known]
  if unknown:
    raise ValueError(f'no dataset {unknown[0]!r} under {root}; `tools/datasets.py --data_dir={root}` lists them')
  busy = [n for n in names if known[n]['locked']]
  if busy:
    raise ValueError(f'{busy[0]} is being generated by {file_lock.describe(file_lock.holder(known[busy[0]]["path"] + ".lock"))}')
  for n in names:
    e = known[n]
    real = os.path.realpath(e['path'])
    for r in e['recipes']:
      for d, _, files in os.walk(os.path.join(root, RECIPES, r)):
        for f in os.listdir(d):
          link = os.path.join(d, f)
          if os.path.islink(link) and os.path.realpath(link) == real:
            os.remove(link)
    if e['kind'] == 'adopted':
      os.remove(e['path'])
    else:
      shutil.rmtree(e['path'])
    if os.path.exists(e['path'] + '.lock'):
      os.remove(e['path'] + '.lock')
    log(f'removed {e["path"]}' + (f' (and its links in {", ".join(e["recipes"])})' if e['recipes'] else ''))
