"""Policy steps on lift (cpu sizes, policy seed 0 x 100 trials): GLAM-O with the paper's decoder h(ẑ) and MIP
trained 12,000 steps instead of the preset's 4,000, to see whether the faithful MIP objective's loss at cpu
sizes (README: "Whether more policy steps close the gap is not measured yet") is one of training length.
GLAM-O's world model is the decoder measurement's (copied, reused when its key still matches)."""
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
c = configs.load('pipeline', 'lift')
c.methods = ('glam_o', 'mip')
c.replay_episodes = 0
c.gifs = 0
c.data_dir = data[0]
c.policy = ml_collections.ConfigDict({'num_steps': 12000}, allow_dotted_keys=True)
out = task_pipeline.run(c, work)
print('POLICY_STEPS 12000', {m: r['success'] for m, r in out['methods'].items()}, flush=True)
