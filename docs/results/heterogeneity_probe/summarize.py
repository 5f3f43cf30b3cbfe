"""Gathers run.sh's world models into this record: results.json and report.md (probe and replay per method
and level).

  python docs/results/heterogeneity_probe/summarize.py [RUN_DIR] [--commit=SHA]
"""
import glob
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
METHODS = ('glam_o', 'clam_o_aux', 'clam_o', 'lapa_o')


def _load(path):
  with open(path) as f:
    return json.load(f)


def gather(run: str) -> dict:
  rows = {}
  for level in (0, 1):
    for m in METHODS:
      wm = os.path.join(run, f'wm_l{level}_{m}')
      probe, replay = (os.path.join(wm, 'alignment', 'results.json'), os.path.join(wm, 'latent_replay', 'results.json'))
      if not (os.path.exists(probe) and os.path.exists(replay)):
        continue
      p, r = _load(probe), _load(replay)
      cfg = _load(os.path.join(wm, 'config.json'))
      rows[f'{m}/level{level}'] = {'method': m, 'level': level, 'image_keys': cfg['image_keys'],
                                   'sources': list(cfg['sources']), 'probe': p['results'], 'truth': p['truth'],
                                   'probe_episodes': p['episodes'], 'replay': r['results']}
  return rows


def fmt(x, spec):
  return '–' if x is None else format(x, spec)


def markdown(rows: dict, command: str, commit: str) -> str:
  lines = ['# Alignment probe and latent replay across heterogeneity levels (lift)', '',
           f'Command: `{command}` at commit `{commit}`; machine: {platform.node()}, {os.cpu_count()} CPU cores.', '',
           'World models only (cpu preset, one seed each, MJX physics): GLAM-O, CLAM-O given the UMI data '
           '(clam_o_aux), CLAM-O on target data only (clam_o) and LAPA-O, on 100 Kinova + 400 UMI lift '
           'demonstrations with the UMI source at heterogeneity level 0 (as before) and 1 (UMI-like: human '
           'motion, 25 Hz, SLAM-like pose error, other light, wrist camera only; the target gains the wrist camera '
           'and the world models read the wrist masks, the view both sources store). Probe '
           '(glam_jax/eval/alignment.py): ridge map latent -> end-effector motion fitted on 80 target episodes; '
           'R² on 20 held-out target episodes and on 100 UMI episodes; reference: the same on the recorded pose '
           'change; phase distance 0 = aligned. Replay: 20 unseen episodes per source decoded into Kinova '
           'actions, success k/n and mean TCP error.', '',
           '| method | level | R² target (held out) | R² UMI | gap | reference R² UMI | margin UMI | phase distance '
           '| replay UMI k/n | TCP error UMI (m) | replay Kinova k/n |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  for key, r in rows.items():
    p, u = r['probe'], r['probe'].get('umi', {})
    ru, rk = r['replay'].get('umi->kinova', {}), r['replay'].get('kinova->kinova', {})
    lines.append(
        f"| {r['method']} | {r['level']} | {fmt(p['target_held_out']['r2'], '.3f')} | {fmt(u.get('r2'), '.3f')} | "
        f"{fmt(u.get('gap'), '+.3f')} | {fmt(u.get('reference_r2'), '.3f')} | {fmt(u.get('margin'), '+.3f')} | "
        f"{fmt((u.get('phase_distance') or {}).get('ratio'), '.2f')} | "
        f"{ru.get('successes', '–')}/{ru.get('trials', '–')} | {fmt(ru.get('tracking_error_m'), '.4f')} | "
        f"{rk.get('successes', '–')}/{rk.get('trials', '–')} |")
  return '\n'.join(lines) + '\n'


def main(argv):
  run = next((a for a in argv[1:] if not a.startswith('--')), 'runs/heterogeneity_probe')
  commit = next((a.split('=', 1)[1] for a in argv[1:] if a.startswith('--commit=')), '?')
  rows = gather(run)
  if not rows:
    sys.exit(f'error: no finished world model with probe and replay under {run}')
  with open(os.path.join(HERE, 'results.json'), 'w') as f:
    json.dump({'commit': commit, 'rows': rows}, f, indent=1)
  command = 'bash docs/results/heterogeneity_probe/run.sh'
  with open(os.path.join(HERE, 'report.md'), 'w') as f:
    f.write(markdown(rows, command, commit))
  print(f'wrote {HERE}/results.json and report.md ({len(rows)} world models)')


if __name__ == '__main__':
  main(sys.argv)
