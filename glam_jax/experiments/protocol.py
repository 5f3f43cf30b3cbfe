"""What a suite record's numbers mean: its protocol version.

A cell's key hashes its pipeline config, the resolved world-model and policy configs of its method, and
`VERSION`; every cell record carries the version it was made under. A change to what a method does that no
config field shows bumps VERSION: `--merge` then refuses the older records (their cells would otherwise be
taken as done), and a report never pools cells of two versions. An older record stays readable on its own
(`run_suite --report_only` on its directory), labelled with its version and what it lacks.
"""
from __future__ import annotations

VERSION = 3

HISTORY = {
    1: 'up to commit 311b166: clam and clam_o trained both stages on target + UMI (what clam_aux and '
       'clam_o_aux do now) with CLAM action weight 1; the MIP objective weighed its two steps equally; the '
       'policy action decoder read the context beside the latent; no per-episode outcomes in the record',
    2: 'faithful baselines: clam/clam_o on target data only with the authors\' CLAM image weight and '
       'schedule; the MIP objective, residual head, dropout and parameter average of its public code; the '
       'policy decoder h(z); LAPA\'s tokens of 32 from the frame-feature difference, its probe reading the '
       'proprioception; LAWM pre-training over every latent of the chunk; per-episode outcomes',
    3: 'as 2, on scene version 2: the grippers\' servo force no longer limited, so C MuJoCo and MJX step '
       'grasps alike (docs/results/physics_agreement); every dataset made anew; physics `auto`: the CPU '
       'presets on native MuJoCo',
}

# What each older version's method names ran, in today's names (a report of an old record shows these).
NAMES_NOW = {1: {'clam': 'clam_aux', 'clam_o': 'clam_o_aux'}}

# The physics of a version's cells whose records do not name it (made before records named it).
PHYSICS_UNRECORDED = {1: 'mjx', 2: 'mjx',
                      3: 'auto, as resolved where each cell ran (native MuJoCo on a CPU, MJX on an accelerator)'}

# What a record of each version cannot support, said in its report.
LACKS = {1: 'per-episode outcomes (no paired comparison over placements)'}


def of_cell(record: dict) -> int:
  """The protocol version a cell record was made under (records before versions existed: 1)."""
  return int(record.get('protocol_version', 1))


def of_record(status: dict) -> set:
  """The versions of a record's finished cells."""
  return {of_cell(r) for r in status.values() if r.get('status') == 'done'}


def describe(version: int) -> str:
  return f'protocol version {version} ({HISTORY.get(version, "unknown to this code")})'
