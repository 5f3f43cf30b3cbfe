"""Importers of real-robot data into the project's dataset format, one module per source format:
`lerobot` (LeRobotDataset v2.x and v3.0), `robomimic` (HDF5), `umi_zarr` (UMI / diffusion-policy zarr replay
buffer). Each module's `open(path)` returns a reader (a context manager with `info` and `episodes(keys)`);
`common.write` does the rest. Format modules are imported on use: each needs its own package (pyarrow + av,
h5py, zarr).
"""
from __future__ import annotations

import importlib

from glam_jax.data.importers.common import Fields, ImportOptions, SourceError

FORMATS = ('lerobot', 'robomimic', 'umi_zarr')


def open_source(fmt: str, path: str):
  if fmt not in FORMATS:
    raise ValueError(f'unknown format {fmt!r}; valid: {", ".join(FORMATS)}')
  return importlib.import_module(f'glam_jax.data.importers.{fmt}').open(path)


def import_dataset(fmt: str, src: str, out: str, options: ImportOptions = ImportOptions()) -> dict:
  """Imports `src` (in format `fmt`) as a dataset at `out`; returns its meta.json. Nothing is left at `out`
  when it fails."""
  from glam_jax.data.importers import common
  with open_source(fmt, src) as reader:
    return common.write(reader, out, options)


__all__ = ['FORMATS', 'Fields', 'ImportOptions', 'SourceError', 'import_dataset', 'open_source']
