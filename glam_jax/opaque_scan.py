"""`lax.scan` with a trip count XLA cannot see, for loops around an MJX step.

XLA CPU compiles a loop of known trip count around the MJX step into a program about twice as slow to
compile and twice as large as the step itself (measured with jax 0.6.2 on the pick_place env, 4 envs
vmapped: a scan of 8 steps took 152 s and 4.1 GB to compile, of 64 steps 168 s and 4.1 GB, a single
step 70 s and 2.7 GB); nested in a second such loop it grew past 8 GB. The same loop with its bound hidden
behind an optimization barrier compiles like one step (74 s, 2.1 GB), and runs the same computation.

`f` is traced once, to a jaxpr that the loop body runs: tracing an MJX step takes seconds (the vmapped
Kinova lift step 5 s on the 2-core CPU), and finding the outputs' shapes with `eval_shape` before tracing
the body would trace it twice.
"""
from __future__ import annotations

import jax
import jax.extend as jex
import jax.numpy as jnp


def scan(f, init, xs=None, length: int | None = None):
  """Same contract as `jax.lax.scan(f, init, xs, length)` (outputs stacked on a new leading axis); a
  `fori_loop` writing each step's output into preallocated buffers, its bound opaque to the compiler.
  Forward only (not reverse-differentiable)."""
  if xs is None:
    if length is None:
      raise ValueError('give xs or length')
  else:
    lengths = {int(x.shape[0]) for x in jax.tree.leaves(xs)}
    if len(lengths) != 1 or (length is not None and lengths != {length}):
      raise ValueError(f'xs leaves have leading sizes {sorted(lengths)}; length is {length}')
    length = lengths.pop()
  x_at = (lambda i: None) if xs is None else (lambda i: jax.tree.map(lambda x: x[i], xs))
  closed, (_, y_shapes) = jax.make_jaxpr(f, return_shape=True)(init, x_at(0))
  f_once = jex.core.jaxpr_as_fun(closed)
  out_tree = jax.tree.structure((init, y_shapes))
  ys = jax.tree.map(lambda s: jnp.zeros((length,) + s.shape, s.dtype), y_shapes)

  def body(i, c):
    carry, ys = c
    carry, y = jax.tree.unflatten(out_tree, f_once(*jax.tree.leaves((carry, x_at(i)))))
    return carry, jax.tree.map(lambda b, v: jax.lax.dynamic_update_index_in_dim(b, v, i, 0), ys, y)

  return jax.lax.fori_loop(0, jax.lax.optimization_barrier(jnp.int32(length)), body, (init, ys))
