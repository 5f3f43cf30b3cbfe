"""MIP on lift (cpu sizes, seeds 0 and 1 x 100 trials): today's head, dropout and EMA with the earlier objective
(both steps weighed 1, the mean over the action dimension, no scale): which ingredient lowered MIP."""
import glob, os, shutil
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
from absl import flags
flags.FLAGS.mark_as_parsed()
import ml_collections
from glam_jax import compile_cache, configs
from glam_jax.experiments import task_pipeline
compile_cache.enable()
data = glob.glob('runs/measure_p2/data/*')
c = configs.load('pipeline', 'lift')
c.methods = ('mip',)
c.seeds = (0, 1)
c.gifs = 0
c.data_dir = data[0]
c.policy = ml_collections.ConfigDict({'loss.step_weights': 'equal', 'loss.dim_reduction': 'mean', 'loss.scale': 1.0},
                                     allow_dotted_keys=True)
out = task_pipeline.run(c, 'runs/measure_mip_v1')
print('MIP_V1', out['methods']['mip']['success'], out['methods']['mip']['seeds'], flush=True)
