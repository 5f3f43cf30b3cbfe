"""Batched MuJoCo MJX simulation: robots, objects, tasks, ray-cast cameras and the env API."""
from glam_jax.sim.env import Env, EnvConfig, State, make_env
from glam_jax.sim.scene import EMBODIMENTS
from glam_jax.sim.tasks import TASKS

__all__ = ['Env', 'EnvConfig', 'State', 'make_env', 'EMBODIMENTS', 'TASKS']
