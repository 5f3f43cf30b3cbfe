"""Policy steps on lift (cpu sizes, policy seed 0 x 100 trials): GLAM-O with the paper's decoder h(ẑ) and MIP
trained 12,000 steps, then GLAM-O at the preset's 4,000 on the same world model, to see whether the faithful
MIP objective's loss at cpu sizes (README: "Whether more policy steps close the gap is not measured yet") is
one of training length. (The decoder measurement's world model is copied in, but its key had changed: the
first run trains its own.)"""
import glob, os, shutil
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
from absl import flags
flags.FLAGS.mark_as_parsed()
import ml_collections
from glam_jax import compile_cache, configs
from glam_jax.experiments import task_pipeline
compile_cache.enable()
data = glob.glob('runs/measure_p2/data/*')
assert len(data) == 1, data
work = 'runs/measure_policy_steps'
os.makedirs(os.path.join(work, 'world_models'), exist_ok=True)
for wm in glob.glob('runs/measure_decoder/world_models/glam_o-*'):
  dest = os.path.join(work, 'world_models', os.path.basename(wm))
  if not os.path.exists(dest):
    shutil.copytree(wm, dest)
for steps, chosen in ((12000, ('glam_o', 'mip')), (4000, ('glam_o',))):
  c = configs.load('pipeline', 'lift')
  c.methods = chosen
  c.replay_episodes = 0
  c.gifs = 0
  c.data_dir = data[0]
  if steps != 4000:
    c.policy = ml_collections.ConfigDict({'num_steps': steps}, allow_dotted_keys=True)
  out = task_pipeline.run(c, work)
  shutil.copyfile(os.path.join(work, 'results.json'), os.path.join(work, f'results_{steps}.json'))
  print('POLICY_STEPS', steps, {m: r['success'] for m, r in out['methods'].items()}, flush=True)
