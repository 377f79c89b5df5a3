"""`lax.scan` over refs: a `jax.Ref` among the scanned-over `xs` gives the
body `ref.at[i]` (JAX's semantics), which refhlo lowers without copying the
ref (emit.py `_scan_ref_xs`). Compared with jax.jit, and with NumPy where
compiled jax.jit is wrong.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refhlo

JITS = {"refhlo": refhlo.jit, "jax": jax.jit}


def _body(c, ix):
  i, x, y = ix
  x[...] += i * c
  y[0] = y[1] + c
  return c + x[0], (x[...], y[2])


@pytest.mark.parametrize("reverse,unroll", [(False, 1), (True, 1), (False, 2),
                                           (True, 5)])
def test_scan_over_refs_matches_jax(reverse: bool, unroll: int):
  def f(a, b):
    return jax.lax.scan(_body, jnp.float32(1), (jnp.arange(5.0), a, b),
                        reverse=reverse, unroll=unroll)
  got = {}
  for name, jit in JITS.items():
    a = jax.new_ref(jnp.arange(10.0).reshape(5, 2))
    b = jax.new_ref(jnp.ones((5, 3)))
    out = jit(f)(a, b)
    got[name] = [np.asarray(v) for v in jax.tree_util.tree_leaves(out)] + [
        np.asarray(a[...]), np.asarray(b[...])]
  for x, y in zip(got["refhlo"], got["jax"], strict=True):
    np.testing.assert_array_equal(x, y)


def test_scan_over_a_ref_both_closed_over_raises_as_jax():
  """JAX refuses a ref both scanned over and closed over; so does refhlo.jit
  (JAX's own error, at trace time)."""
  def f(r):
    def body(c, row):
      row[...] = row[...] + r[0]
      return c, ()
    jax.lax.scan(body, 0, r)
  for jit in JITS.values():
    with pytest.raises(ValueError, match="both closed over and passed"):
      jit(f)(jax.new_ref(jnp.zeros((4, 3))))


def test_scan_over_ref_overlapping_shift():
  """`y[1:] = y[:-1] * 2` on each scanned row, the row also returned: refhlo
  equals NumPy. Compiled jax.jit gets it wrong on XLA:CPU (its StableHLO is
  right; XLA's fusion updates the row in place while still reading it:
  without the `fusion` pass it is right). When the jax.jit assertion fails,
  XLA is fixed."""
  def f(r):
    def body(c, y):
      y[1:] = y[:-1] * 2
      return c, y[...]
    return jax.lax.scan(body, 0.0, r)[1]
  x = np.ones((2, 5), np.float32)
  x[:, 0] = 3
  want = x.copy()
  want[:, 1:] = x[:, :-1] * 2
  r = jax.new_ref(jnp.asarray(x))
  ys = refhlo.jit(f)(r)
  np.testing.assert_array_equal(np.asarray(ys), want)
  np.testing.assert_array_equal(np.asarray(r[...]), want)
  if jax.default_backend() == "cpu":
    r = jax.new_ref(jnp.asarray(x))
    assert not np.array_equal(np.asarray(jax.jit(f)(r)), want)


def test_scanned_ref_passed_on_is_refused():
  """The per-iteration ref used other than by reading and writing it (here
  passed to a nested function) is refused with a located RefhloError,
  before anything runs."""
  def inner(y):
    y[0] = 1.0
  def f(r):
    def body(c, y):
      jax.jit(inner)(y)
      return c, ()
    jax.lax.scan(body, 0.0, r)
  x = np.zeros((3, 2), np.float32)
  r = jax.new_ref(jnp.asarray(x))
  with pytest.raises(refhlo.RefhloError, match="scanned over by lax.scan") as e:
    refhlo.jit(f)(r)
  assert "test_scan_ref_xs.py" in str(e.value)
  np.testing.assert_array_equal(np.asarray(r[...]), x)
