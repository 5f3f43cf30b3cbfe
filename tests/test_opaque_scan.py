"""opaque_scan.scan computes what lax.scan computes, under jit and vmap, and its bound stays opaque."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax import opaque_scan


def step(c, x):
  c = c * 0.9 + x['a'].sum()
  return c, {'c': c, 'x2': x['a'] * 2, 'i': x['i']}


def test_matches_lax_scan_under_jit_and_vmap():
  xs = {'a': jnp.arange(24.0).reshape(2, 6, 2), 'i': jnp.tile(jnp.arange(6), (2, 1))}
  init = jnp.array([1.0, -1.0])
  ref = jax.vmap(lambda c, x: jax.lax.scan(step, c, x))(init, xs)
  got = jax.jit(jax.vmap(lambda c, x: opaque_scan.scan(step, c, x)))(init, xs)
  jax.tree.map(lambda r, g: np.testing.assert_allclose(r, g, rtol=1e-6), ref, got)


def test_length_only_and_bound_is_hidden():
  f = lambda c, _: (c + 1, c)
  c, ys = opaque_scan.scan(f, jnp.int32(0), length=5)
  assert int(c) == 5 and ys.tolist() == [0, 1, 2, 3, 4]
  hlo = jax.jit(lambda c: opaque_scan.scan(f, c, length=5)).lower(jnp.int32(0)).as_text()
  assert 'opt-barrier' in hlo or 'optimization_barrier' in hlo
  with pytest.raises(ValueError, match='xs or length'):
    opaque_scan.scan(f, 0)
  with pytest.raises(ValueError, match='leading sizes'):
    opaque_scan.scan(step, 0.0, {'a': jnp.zeros((3, 1)), 'i': jnp.zeros(4)})


def test_traces_its_step_once_and_reads_closed_over_values():
  calls = []

  def run(w, xs):
    def f(c, x):
      calls.append(1)
      return c * w + x, c
    return opaque_scan.scan(f, jnp.float32(1.0), xs)

  w, xs = jnp.float32(2.0), jnp.arange(3.0, dtype=jnp.float32)
  c, ys = jax.jit(jax.vmap(run, in_axes=(0, None)))(jnp.stack([w, w + 1]), xs)
  assert len(calls) == 1
  np.testing.assert_allclose(c, [((1 * 2 + 0) * 2 + 1) * 2 + 2, ((1 * 3 + 0) * 3 + 1) * 3 + 2])
  np.testing.assert_allclose(ys, [[1, 2, 5], [1, 3, 10]])
