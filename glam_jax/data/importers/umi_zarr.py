"""A UMI / diffusion-policy zarr replay buffer (`data/<key>` arrays concatenated over episodes,
`meta/episode_ends`), as a directory or a `.zarr.zip`, as a source.

Per-step keys are the numeric `data` arrays of one or two dimensions; image keys the uint8 (N, H, W[, C])
ones. UMI compresses its images with the JPEG XL codec of `imagecodecs` (codec id `imagecodecs_jpegxl`):
with that package installed its codecs are registered and read; without it an image key is unavailable,
with an error naming the codec. Defaults follow UMI's names: views `cameraN_rgb` -> `cameraN`; per arm N
the pose from `robotN_eef_pos` + `robotN_eef_rot_axis_angle`, the gripper `robotN_gripper_width`; `action`
where present (UMI stores none: an auxiliary source). The rate is UMI's GoPro frame rate, 59.94 Hz (one
row per video frame, `scripts_slam_pipeline/06_generate_dataset_plan.py`); `--stride` subsamples it.
"""
from __future__ import annotations

import os
import re
import zipfile

import numcodecs.errors
import numpy as np
import zarr

from glam_jax.data.importers.common import Fields, RawEpisode, SourceError, SourceInfo, abspath

UMI_FPS = 59.94
BLOCK = 64


def open(path: str) -> UmiZarrReader:  # noqa: A001 -- every importer module has open(path)
  return UmiZarrReader(path)


def _register_imagecodecs() -> bool:
  """Registers imagecodecs' numcodecs codecs (JPEG XL, ...) when that package is installed."""
  try:
    from imagecodecs.numcodecs import register_codecs
  except ImportError:
    return False
  register_codecs()
  return True


class UmiZarrReader:
  def __init__(self, path: str):
    self.path = abspath(path)
    self._store = None
    if os.path.isfile(self.path) and zipfile.is_zipfile(self.path):
      self._store = zarr.storage.ZipStore(self.path, mode='r')
      store = self._store
    elif os.path.isdir(self.path):
      store = self.path
    else:
      raise SourceError(f'{self.path}: no such zarr replay buffer (a directory or a .zarr.zip)')
    try:
      self.root = zarr.open_group(store, mode='r')
      self.info = self._describe()
    except BaseException:
      self.close()
      raise

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def close(self):
    if self._store is not None:
      self._store.close()
      self._store = None

  def _open_array(self, key: str):
    try:
      return self.root['data'][key], None
    except numcodecs.errors.UnknownCodecError as e:
      if _register_imagecodecs():
        try:
          return self.root['data'][key], None
        except numcodecs.errors.UnknownCodecError as e2:
          e = e2
      codec = str(e).split(':', 1)[-1].strip().strip('\'"')
      return None, (f'data/{key} is compressed with codec {codec!r}, not available here; pip install imagecodecs '
                    '(UMI compresses images with its JPEG XL codec) or save the images uncompressed')

  def _data_keys(self) -> list:
    """The arrays under data/, from the store's listing: zarr's own listing parses every array's metadata,
    which fails for a codec that is not installed."""
    meta_files = ('.zarray', 'zarr.json')
    if self._store is not None:
      with zipfile.ZipFile(self.path) as z:
        parts = [n.split('/') for n in z.namelist()]
      return sorted({p[1] for p in parts if len(p) == 3 and p[0] == 'data' and p[2] in meta_files})
    data = os.path.join(self.path, 'data')
    return sorted(k for k in os.listdir(data) if any(os.path.exists(os.path.join(data, k, m)) for m in meta_files))

  def _describe(self) -> SourceInfo:
    for group in ('data', 'meta'):
      if group not in self.root:
        raise SourceError(f'{self.path}: no group "{group}"; not a replay buffer')
    if 'episode_ends' not in self.root['meta']:
      raise SourceError(f'{self.path}: no meta/episode_ends; not a replay buffer')
    ends = np.asarray(self.root['meta']['episode_ends'][:], np.int64)
    if len(ends) == 0 or ends[0] < 0 or np.any(np.diff(ends) < 0):
      raise SourceError(f'{self.path}: meta/episode_ends must be non-empty and non-decreasing, '
                        f'got {ends[:10].tolist()}')
    self.starts, self.ends = np.concatenate([[0], ends[:-1]]), ends
    self.arrays, lowdim, images, unavailable = {}, {}, {}, {}
    for key in self._data_keys():
      arr, why = self._open_array(key)
      if arr is None:
        unavailable[key] = why
        continue
      if arr.shape[0] != ends[-1]:
        raise SourceError(f'{self.path}: data/{key} has {arr.shape[0]} rows, meta/episode_ends ends at {ends[-1]}')
      self.arrays[key] = arr
      if arr.dtype == np.uint8 and arr.ndim >= 3:
        images[key] = tuple(arr.shape[1:])
      elif arr.ndim in (1, 2) and (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        lowdim[key] = arr.shape[1] if arr.ndim == 2 else 1
    arms = [i for i in range(8) if f'robot{i}_eef_pos' in lowdim]
    cams = sorted(k for k in set(images) | set(unavailable) if re.fullmatch(r'camera\d+_rgb', k))
    f = Fields(views=tuple((k, k[:-len('_rgb')]) for k in cams),
               ee_pos=tuple(f'robot{i}_eef_pos' for i in arms),
               ee_rot=tuple(f'robot{i}_eef_rot_axis_angle' for i in arms), rot='axis_angle',
               gripper=tuple(f'robot{i}_gripper_width' for i in arms if f'robot{i}_gripper_width' in lowdim),
               action=('action',) if 'action' in lowdim else ())
    name = os.path.basename(self.path).split('.')[0]
    return SourceInfo(path=self.path, format='umi_zarr', lowdim=lowdim, images=images, num_episodes=len(ends),
                      fields=f, fps=UMI_FPS, embodiment='umi', task=name, unavailable=unavailable)

  def episodes(self, keys):
    for e, (s, t) in enumerate(zip(self.starts, self.ends)):
      lowdim = {k: np.asarray(self.arrays[k][s:t]).reshape(t - s, -1) for k in keys}
      yield RawEpisode(f'{self.path}: episode {e} (rows {s}:{t})', int(t - s), lowdim,
                       lambda key, s=s, t=t: self._frames(key, s, t))

  def _frames(self, key: str, start: int, stop: int):
    arr = self.arrays[key]
    for i in range(start, stop, BLOCK):
      yield from np.asarray(arr[i:min(i + BLOCK, stop)])
