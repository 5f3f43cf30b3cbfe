"""GLAM-O on lift with the paper's h(z) and delta actions (world model and policy), one seed x 100 trials."""
import glob, os, shutil
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
from absl import flags
flags.FLAGS.mark_as_parsed()
import ml_collections
from glam_jax import compile_cache, configs
from glam_jax.experiments import task_pipeline
compile_cache.enable()
c = configs.load('pipeline', 'lift')
c.methods = ('glam_o',)
c.replay_episodes = 0
c.gifs = 0
c.data_dir = glob.glob('runs/measure_p2/data/*')[0]
c.world_model = ml_collections.ConfigDict({'action_space': 'delta'})
c.policy = ml_collections.ConfigDict({'action_space': 'delta'})
out = task_pipeline.run(c, 'runs/measure_delta')
shutil.copyfile('runs/measure_delta/results.json', 'runs/measure_delta/results_delta_h_z.json')
print('DELTA_H_Z', out['methods']['glam_o']['success'], flush=True)
