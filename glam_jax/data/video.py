"""MP4 video in and out through PyAV, for LeRobot datasets: the importer reads the frames shown at given
timestamps (LeRobot matches parquet rows to video frames by time, not by count), the exporter appends
episodes one after another to one file (LeRobot v3.0 concatenates episodes per file).
"""
from __future__ import annotations

import os
from typing import Iterator

import av
import numpy as np

from glam_jax.data.schema import DatasetError

os.environ.setdefault('SVT_LOG', '1')    # libsvtav1 prints its whole configuration at its default level

PIX_FMT = 'yuv420p'                       # LeRobot's default; needs even widths and heights


def codec_options(codec: str, crf: int, gop: int) -> dict:
  """Encoder options as LeRobot sets them (keyframe every `gop` frames for fast random access)."""
  opts = {'g': str(gop)}
  if codec in ('libsvtav1', 'h264', 'libx264', 'hevc', 'libx265', 'libaom-av1'):
    opts['crf'] = str(crf)
  if codec == 'libsvtav1':
    opts['preset'] = '12'
  return opts


class VideoWriter:
  """Appends (H, W, 3) uint8 frames to one MP4 at `fps`; `frames` counts them, so frame i is shown at i / fps."""

  def __init__(self, path: str, fps: int, width: int, height: int, codec: str = 'libsvtav1', crf: int = 30,
               gop: int = 2):
    if width % 2 or height % 2:
      raise ValueError(f'{path}: {PIX_FMT} video needs even sizes, got {width}x{height}')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    self.path, self.frames = path, 0
    self._container = av.open(path, 'w')
    self._stream = self._container.add_stream(codec, rate=fps, options=codec_options(codec, crf, gop))
    self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, PIX_FMT

  def write(self, frame: np.ndarray) -> None:
    f = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, np.uint8), format='rgb24')
    f.pts = self.frames
    for packet in self._stream.encode(f):
      self._container.mux(packet)
    self.frames += 1

  def close(self) -> None:
    for packet in self._stream.encode():
      self._container.mux(packet)
    self._container.close()


def probe(path: str) -> dict:
  """The `video.*` fields LeRobot's info.json records for a video feature."""
  with av.open(path) as c:
    s = c.streams.video[0]
    return {'video.height': s.height, 'video.width': s.width, 'video.codec': s.codec.canonical_name,
            'video.pix_fmt': s.pix_fmt, 'video.is_depth_map': False, 'video.fps': int(s.base_rate),
            'video.channels': 3, 'has_audio': bool(c.streams.audio)}


def read_frames(path: str, timestamps, tolerance: float, where: str) -> Iterator[np.ndarray]:
  """The (H, W, 3) uint8 frames shown at `timestamps` (seconds, increasing), each decoded frame within
  `tolerance` of its timestamp; a missing, short or damaged video is a DatasetError naming the file."""
  ts = np.asarray(timestamps, np.float64)
  if not os.path.exists(path):
    raise DatasetError(f'{path}: missing video ({where})')
  i = 0
  try:
    with av.open(path) as container:
      stream = container.streams.video[0]
      if ts[0] > tolerance:       # v3.0 files hold many episodes: start at the keyframe before this one
        container.seek(int((ts[0] - tolerance) / stream.time_base), stream=stream, backward=True, any_frame=False)
      for frame in container.decode(stream):
        if frame.pts is None:
          continue
        t = float(frame.pts * stream.time_base)
        if t < ts[i] - tolerance:
          continue
        if t > ts[i] + tolerance:
          raise DatasetError(f'{path}: no frame at {ts[i]:.4f} s ({where}); expected one every frame period, '
                             f'found the next at {t:.4f} s')
        yield frame.to_ndarray(format='rgb24')
        i += 1
        if i == len(ts):
          return
  except av.error.FFmpegError as e:
    raise DatasetError(f'{path}: cannot decode ({e}) ({where})') from e
  raise DatasetError(f'{path}: the video ends before {ts[i]:.4f} s ({where}): expected {len(ts)} frames from '
                     f'{ts[0]:.4f} s, found {i}')
