"""Decoder measurement on lift (cpu sizes, one policy seed x 100 trials): h(z) against h(z, c) for glam_o,
clam_o, lapa_o; world models shared by the two settings (one workdir)."""
import glob, json, os, shutil, sys
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
from absl import flags
flags.FLAGS.mark_as_parsed()
import ml_collections
from glam_jax import compile_cache, configs
from glam_jax.experiments import task_pipeline
compile_cache.enable()
data = glob.glob('runs/measure_p2/data/*')
assert len(data) == 1, data
work = 'runs/measure_decoder'
for ctx in (False, True):
  c = configs.load('pipeline', 'lift')
  c.methods = ('glam_o', 'clam_o', 'lapa_o')
  c.replay_episodes = 0
  c.gifs = 0
  c.data_dir = data[0]
  c.policy = ml_collections.ConfigDict({'model.decoder_context': ctx}, allow_dotted_keys=True)
  out = task_pipeline.run(c, work)
  shutil.copyfile(os.path.join(work, 'results.json'), os.path.join(work, f'results_context_{ctx}.json'))
  print('DECODER_CONTEXT', ctx, {m: r['success'] for m, r in out['methods'].items()}, flush=True)
