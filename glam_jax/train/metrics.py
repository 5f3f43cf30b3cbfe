"""Metrics of a run: JSON lines (`metrics.jsonl`, one object per logged step) and TensorBoard event files.

Only process 0 writes. A resumed run appends to the same files, after dropping lines of steps that the
restored checkpoint will run again, so each step appears once.
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np


def read_jsonl(path: str) -> list:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


class MetricWriter:
  def __init__(self, workdir: str, resume_step: int = 0, tensorboard: bool = True):
    self.active = jax.process_index() == 0
    self.path = os.path.join(workdir, 'metrics.jsonl')
    self._tb = None
    if not self.active:
      return
    os.makedirs(workdir, exist_ok=True)
    kept = [r for r in read_jsonl(self.path) if r['step'] <= resume_step]
    with open(self.path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in kept)
    if tensorboard:
      from tensorboardX import SummaryWriter   # imported here: only process 0 needs it
      self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'), purge_step=resume_step + 1)

  def write(self, step: int, scalars: dict, prefix: str = '') -> None:
    if not self.active:
      return
    row = {'step': int(step), **{prefix + k: float(np.asarray(v)) for k, v in scalars.items()}}
    with open(self.path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    if self._tb is not None:
      for k, v in row.items():
        if k != 'step':
          self._tb.add_scalar(k, v, step)
      self._tb.flush()

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
