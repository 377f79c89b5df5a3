"""refhlo.jit never lets a raw Python/JAX exception escape (issue 8): programs
that used to crash now run and agree with jax.jit, what cannot run raises a
located `RefhloError`; results keep jax.jit's weak types; jax_debug_nans /
jax_debug_infs are honoured; and a run that fails after buffers were handed
to XLA says, ref by ref, what happened to them (docs/faults.md)."""

from __future__ import annotations

import dataclasses
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.experimental import io_callback

import refhlo
from refhlo import _jax_private as jp
from refhlo.errors import (RefhloError, RefhloFloatingPointError,
                           RefhloOverflowError, RefhloRuntimeError,
                           RefhloTypeError)

HERE = __file__


def line_of(fn, needle):
  lines, start = inspect.getsourcelines(fn)
  for k, text in enumerate(lines):
    if needle in text:
      return start + k
  raise AssertionError(needle)


def at_line(e, fn, needle):
  """The error is an MLIR diagnostic at the line of `fn` holding `needle`."""
  line = line_of(fn, needle)
  assert str(e).startswith(f"{HERE}:{line}:"), str(e)
  assert ": error: " in str(e), str(e)


def assert_intact(ref, expected):
  buf = jp.ref_buffer(ref)
  assert not buf.is_deleted()
  np.testing.assert_array_equal(np.asarray(ref[...]), expected)


def fresh(factories):
  return [f() for f in factories]


def frozen(args):
  return [np.asarray(a[...]) for a in args if isinstance(a, jax.Ref)]


def assert_same(a, b):
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  assert ta == tb
  for x, y in zip(la, lb):
    x, y = jnp.asarray(x), jnp.asarray(y)
    assert x.dtype == y.dtype and x.shape == y.shape, (x, y)
    assert x.weak_type == y.weak_type, (x, y)
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def check_against_jax(fn, *factories, **jit_kwargs):
  """Runs `fn` under jax.jit and refhlo.jit on fresh arguments and compares
  the results (values, dtypes, weak types) and the refs' final contents."""
  want_args = fresh(factories)
  want = jax.jit(fn, **jit_kwargs)(*want_args)
  got_args = fresh(factories)
  got = refhlo.jit(fn, **jit_kwargs)(*got_args)
  assert_same(got, want)
  for g, w in zip(frozen(got_args), frozen(want_args)):
    np.testing.assert_array_equal(g, w)


def ref_of(x):
  return lambda: jax.new_ref(jnp.asarray(x))


# == A. Loops whose body creates a ref =========================================
# Root cause: JAX lowers `scan` (and `fori_loop` with static bounds) with
# `mlir.lower_fun(_scan_impl)`, which state-discharges the traced loop when
# its body creates refs: ref operands became extra results (the emitter's
# `safe_zip` crash) and every access to a local ref went through JAX's
# discharge rules (NotImplementedError on views of views, TypeError on
# zero-size strided slices). refhlo now lowers those loops itself, keeping
# refs as refs.

def _fori_new_ref_reads_outer(x_ref):
  def body(i, c):
    r = jax.new_ref(jnp.zeros(3))
    r[...] = x_ref[...] + c
    return c + r[0]
  return lax.fori_loop(0, 3, body, 0.0)


def _scan_new_ref_reads_outer(x_ref):
  def body(c, _):
    r = jax.new_ref(jnp.zeros(3))
    r[...] = x_ref[...] + c
    return c + r[0] + 1.0, r[1]
  return lax.scan(body, 0.0, None, length=3)


def _while_new_ref_reads_outer(x_ref):
  def body(c):
    r = jax.new_ref(jnp.zeros(3))
    r[...] = x_ref[...] + c
    return c + r[0] + 1.0
  return lax.while_loop(lambda c: c < 10.0, body, 0.0)


def _fori_dynamic_bounds(x_ref, n):
  def body(i, c):
    r = jax.new_ref(jnp.zeros(3))
    r[...] = x_ref[...] + c
    x_ref[i] = 1.0
    return c + r[0]
  return lax.fori_loop(0, n, body, 0.0)


def _scan_new_ref_writes_outer(x_ref):
  def body(c, _):
    r = jax.new_ref(jnp.ones(3))
    x_ref[...] += r[...]
    return c + x_ref[0], None
  return lax.scan(body, 0.0, None, length=3)


def _fori_unrolled(x_ref):
  def body(i, c):
    r = jax.new_ref(jnp.ones(3))
    x_ref[i] += r[i] + c
    return c + 1.0
  return lax.fori_loop(0, 3, body, 0.0, unroll=2)


def _scan_reverse_unrolled(x_ref, xs):
  def body(c, x):
    r = jax.new_ref(x)
    x_ref[...] += r[...]
    return c + r[0], r[1]
  return lax.scan(body, 0.0, xs, reverse=True, unroll=3)


def _nested_scans(x_ref):
  def body(c, _):
    def inner(c2, _):
      r = jax.new_ref(jnp.ones(3))
      x_ref[...] += r[...]
      return c2 + 1.0, None
    c, _ = lax.scan(inner, c, None, length=2)
    return c, x_ref[0]
  return lax.scan(body, 0.0, None, length=2)


def _fori_empty_ref(x_ref):
  def body(i, c):
    r = jax.empty_ref(jax.typeof(jnp.ones(3)))
    r[...] = x_ref[...]
    return c + r[i]
  return lax.fori_loop(0, 3, body, 0.0)


def _scan_length_zero(x_ref):
  def body(c, _):
    r = jax.new_ref(jnp.ones(3))
    x_ref[...] += r[...]
    return c, None
  return lax.scan(body, 0.0, None, length=0)


def _cond_new_ref(x_ref, p):
  def yes(_):
    r = jax.new_ref(jnp.zeros(3))
    r[...] = x_ref[...] * 2
    x_ref[0] = 7.0
    return r[1]
  return lax.cond(p, yes, lambda _: x_ref[2], None)


def _switch_new_ref_strided(x_ref, k):
  def branch(j):
    def f(_):
      r = jax.new_ref(jnp.full(4, j, jnp.float32))
      x_ref[::2] = r[1::2] + x_ref[::2]
      return r[::3].sum()
    return f
  return lax.switch(k, [branch(0), branch(1), branch(2)], None)


def _scan_ordered_print(x_ref):
  def body(c, _):
    r = jax.new_ref(jnp.ones(3) * c)
    jax.debug.print("c={c} r={r}", c=c, r=r[...], ordered=True)
    x_ref[...] += r[...]
    return c + 1.0, r[0]
  return lax.scan(body, 0.0, None, length=3)


LOOPS_CREATING_REFS = {
    "scan_ordered_print": (_scan_ordered_print, [ref_of(jnp.zeros(3))]),
    "fori_reads_outer": (_fori_new_ref_reads_outer, [ref_of(jnp.arange(3.0))]),
    "scan_reads_outer": (_scan_new_ref_reads_outer, [ref_of(jnp.arange(3.0))]),
    "while_reads_outer": (_while_new_ref_reads_outer, [ref_of(jnp.arange(3.0))]),
    "fori_dynamic_bounds": (_fori_dynamic_bounds,
                            [ref_of(jnp.arange(3.0)), lambda: 3]),
    "scan_writes_outer": (_scan_new_ref_writes_outer, [ref_of(jnp.arange(3.0))]),
    "fori_unrolled": (_fori_unrolled, [ref_of(jnp.arange(3.0))]),
    "scan_reverse_unrolled": (_scan_reverse_unrolled,
                              [ref_of(jnp.arange(3.0)),
                               lambda: jnp.arange(12.0).reshape(4, 3)]),
    "nested_scans": (_nested_scans, [ref_of(jnp.arange(3.0))]),
    "fori_empty_ref": (_fori_empty_ref, [ref_of(jnp.arange(3.0))]),
    "scan_length_zero": (_scan_length_zero, [ref_of(jnp.arange(3.0))]),
    "cond_new_ref": (_cond_new_ref, [ref_of(jnp.arange(3.0)), lambda: True]),
    "switch_new_ref_strided": (_switch_new_ref_strided,
                               [ref_of(jnp.arange(4.0)), lambda: 2]),
}


@pytest.mark.parametrize("name", sorted(LOOPS_CREATING_REFS))
def test_loop_body_creating_a_ref_matches_jax(name):
  fn, factories = LOOPS_CREATING_REFS[name]
  check_against_jax(fn, *factories)


# -- strided accesses to a ref created in a loop body --------------------------

def _scan_strided_read(x):
  def body(c, xi):
    r = jax.new_ref(jnp.zeros(6))
    r[...] = xi
    return c + r[::2].sum(), r[1::2]
  return lax.scan(body, 0.0, x)


def _scan_strided_write(x):
  def body(c, xi):
    r = jax.new_ref(jnp.zeros(6))
    r[::2] = xi[:3]
    return c + r[...].sum(), r[1::2]
  return lax.scan(body, 0.0, x)


def _scan_strided_addupdate(x):
  def body(c, xi):
    r = jax.new_ref(xi)
    r[::2] += 1.0
    return c + r[...].sum(), r[::3]
  return lax.scan(body, 0.0, x)


def _scan_view_of_view(x):
  def body(c, xi):
    r = jax.new_ref(xi)
    r.at[::2][1:] += 1.0
    return c + r[...].sum(), r.at[1::2][::2][...]
  return lax.scan(body, 0.0, x)


def _fori_dynamic_strided(x_ref):
  def body(i, c):
    r = jax.new_ref(jnp.arange(8.0))
    x_ref[...] += r[jax.ds(i, 3, 2)]
    return c + 1.0
  return lax.fori_loop(0, 3, body, 0.0)


def _fori_2d_strided(x_ref):
  def body(i, c):
    r = jax.new_ref(jnp.arange(24.0).reshape(4, 6))
    x_ref[...] += r[1:4:2, ::3].sum()
    r[2:3, ::2] = jnp.zeros((1, 3)) + c
    return c + r[2:3, ::2].sum() + r[1:4:2, 1::2].sum()
  return lax.fori_loop(0, 3, body, 0.0)


def _scan_addupdate_through_a_view(x):
  # JAX's discharge raised a bare NotImplementedError ("Only single indexer
  # is supported") for an addupdate through a view.
  def body(c, xi):
    r = jax.new_ref(xi)
    jax.ref.addupdate(r.at[::2], (slice(None), slice(None, None, 3)),
                      jnp.ones((2, 2)) * c)
    return c + 1.0, r[...].sum() + r.at[1::2][:, ::3].sum()
  return lax.scan(body, 1.0, x)


def _scan_static_row_strided(x):
  # JAX's discharge raised ValueError ("Invalid type of idxer") for a static
  # row index next to a strided slice.
  def body(c, xi):
    r = jax.new_ref(xi)
    r[1, ::2] = jnp.zeros(3) + c
    return c + r[1, ::2].sum(), r[2, 1::2]
  return lax.scan(body, 1.0, x)


def _numpy_addupdate_through_a_view(x):
  c, ys = 1.0, []
  for xi in x:
    a = xi.copy()
    a[::2][:, ::3] += c
    ys.append(a.sum() + a[1::2][:, ::3].sum())
    c += 1.0
  return c, np.stack(ys)


def _numpy_static_row_strided(x):
  c, ys = 1.0, []
  for xi in x:
    a = xi.copy()
    a[1, ::2] = c
    c = c + a[1, ::2].sum()
    ys.append(a[2, 1::2])
  return c, np.stack(ys)


@pytest.mark.parametrize("fn,numpy_fn", [
    (_scan_addupdate_through_a_view, _numpy_addupdate_through_a_view),
    (_scan_static_row_strided, _numpy_static_row_strided),
], ids=["addupdate_through_a_view", "static_row_strided"])
def test_accesses_jax_cannot_discharge_in_a_scan_body(fn, numpy_fn):
  x = np.arange(48.0, dtype=np.float32).reshape(2, 4, 6)
  c, ys = refhlo.jit(fn)(jnp.asarray(x))
  want_c, want_ys = numpy_fn(x)
  assert float(c) == want_c
  np.testing.assert_array_equal(np.asarray(ys), want_ys)


STRIDED_LOCAL = {
    "scan_read": (_scan_strided_read, [lambda: jnp.arange(12.0).reshape(2, 6)]),
    "scan_write": (_scan_strided_write, [lambda: jnp.arange(12.0).reshape(2, 6)]),
    "scan_addupdate": (_scan_strided_addupdate,
                       [lambda: jnp.arange(12.0).reshape(2, 6)]),
    "scan_view_of_view": (_scan_view_of_view,
                          [lambda: jnp.arange(12.0).reshape(2, 6)]),
    "fori_dynamic_strided": (_fori_dynamic_strided, [ref_of(jnp.arange(3.0))]),
    "fori_2d_strided": (_fori_2d_strided, [ref_of(jnp.arange(3.0))]),
}


@pytest.mark.parametrize("name", sorted(STRIDED_LOCAL))
def test_strided_access_to_a_loop_local_ref_matches_jax(name):
  fn, factories = STRIDED_LOCAL[name]
  check_against_jax(fn, *factories)


def test_dynamic_row_strided_write_to_a_loop_local_ref():
  # jax.jit raises ValueError here (its discharge cannot gather with a traced
  # scalar next to a strided slice); refhlo gives NumPy's answer.
  def f(x_ref):
    def body(i, c):
      r = jax.new_ref(jnp.arange(24.0).reshape(4, 6))
      x_ref[...] += r[1:4:2, ::3].sum()
      r[i, ::2] = jnp.zeros(3)
      return c + r[i, ::2].sum() + r[3, 1::2].sum() + r[i, 1::2].sum()
    return lax.fori_loop(0, 3, body, 0.0)

  x, c = np.arange(3.0), 0.0
  for i in range(3):
    a = np.arange(24.0).reshape(4, 6)
    x += a[1:4:2, ::3].sum()
    a[i, ::2] = 0
    c += a[i, ::2].sum() + a[3, 1::2].sum() + a[i, 1::2].sum()
  r = jax.new_ref(jnp.arange(3.0))
  assert float(refhlo.jit(f)(r)) == c
  np.testing.assert_array_equal(r[...], x)


@pytest.mark.parametrize("dtype", [jnp.int32, jnp.uint8, jnp.bool_,
                                   jnp.bfloat16, jnp.float16],
                         ids=lambda d: jnp.dtype(d).name)
def test_loop_local_ref_of_other_dtypes_matches_jax(dtype):
  def f(x_ref):
    def body(c, _):
      r = jax.new_ref(jnp.zeros(4, dtype))
      r[::2] = x_ref[::2]
      return c, r[...]
    return lax.scan(body, 0, None, length=2)
  check_against_jax(f, lambda: jax.new_ref(jnp.arange(4).astype(dtype)))


# -- zero-size strided reads ---------------------------------------------------
# jax.jit itself raises TypeError on these (its discharge computes a slice
# whose limit is below its start); refhlo gives NumPy's answer.

def test_zero_size_strided_read_of_fori_local_ref():
  def f(x):
    def body(i, c):
      r = jax.new_ref(jnp.zeros(6) + i)
      return c + r[5:2:2].sum() + r[0] + x
    return lax.fori_loop(0, 3, body, 0.0)
  out = refhlo.jit(f)(jnp.float32(1.0))
  assert float(out) == 0 + 1 + 2 + 3 * 1.0


def test_zero_size_strided_read_of_scan_local_ref():
  def f(x):
    def body(c, xi):
      r = jax.new_ref(xi)
      return c + r[4:4:2].sum() + r[0], (r[2:2:3], r[::2][2:2])
    return lax.scan(body, 0.0, x)
  x = np.arange(12.0, dtype=np.float32).reshape(2, 6)
  c, (a, b) = refhlo.jit(f)(jnp.asarray(x))
  assert float(c) == x[0, 0] + x[1, 0]
  assert a.shape == (2, 0) and b.shape == (2, 0)


def test_zero_size_strided_read_in_cond_branch():
  def f(x_ref, p):
    def yes(_):
      r = jax.new_ref(x_ref[...])
      return r[3:3:2].sum() + r[::2][2:2].sum() + r[1]
    return lax.cond(p, yes, lambda _: -1.0, None)
  r = jax.new_ref(jnp.arange(4.0))
  assert float(refhlo.jit(f)(r, True)) == 1.0
  assert_intact(r, np.arange(4.0))


# -- element types refhlo's refs cannot hold -----------------------------------

def test_complex_ref_argument_is_a_located_type_error():
  r = jax.new_ref(jnp.zeros(3, jnp.complex64))

  def f(x_ref):
    x_ref[0] = 1j

  with pytest.raises(RefhloTypeError) as e:
    refhlo.jit(f)(r)  # CALL-COMPLEX
  assert isinstance(e.value, TypeError)
  at_line(e.value, test_complex_ref_argument_is_a_located_type_error,
          "CALL-COMPLEX")
  assert "argument x_ref" in str(e.value) and "complex64" in str(e.value)
  assert_intact(r, np.zeros(3))


def test_closed_over_key_ref_is_a_located_type_error():
  key_ref = jax.new_ref(jax.random.key(0))

  def f(x):
    return jax.random.uniform(key_ref[...]) + x

  with pytest.raises(RefhloTypeError) as e:
    refhlo.jit(f)(1.0)  # CALL-KEY
  at_line(e.value, test_closed_over_key_ref_is_a_located_type_error, "CALL-KEY")
  assert "closed-over ref 'key_ref'" in str(e.value)


def test_complex_ref_created_in_a_scan_body_is_located_at_the_op():
  def f(x):
    def body(c, xi):
      r = jax.new_ref(xi.astype(jnp.complex64))  # NEW-COMPLEX
      return c, r[::2]
    return lax.scan(body, 0, x)

  with pytest.raises(RefhloError) as e:
    refhlo.jit(f)(jnp.ones((2, 4)))
  at_line(e.value, f, "NEW-COMPLEX")
  assert "complex64" in str(e.value)


def test_complex_empty_ref_in_a_loop_is_located_at_the_op():
  def f(x):
    def body(i, c):
      r = jax.empty_ref(jax.typeof(jnp.zeros(2, jnp.complex64)))  # EMPTY-C
      r[...] = jnp.zeros(2, jnp.complex64) + c
      return c + r[0].real
    return lax.fori_loop(0, 2, body, x)

  with pytest.raises(RefhloError) as e:
    refhlo.jit(f)(1.0)
  at_line(e.value, f, "EMPTY-C")
  assert "complex64" in str(e.value)


# -- Python ints too large for their JAX type ------------------------------------

def _jax_error(fn, *args, **kwargs):
  with pytest.raises(Exception) as e:
    jax.jit(fn)(*args, **kwargs)
  return e.value


@pytest.mark.parametrize("n", [2**40, -(2**31) - 1, 2**70])
def test_int_argument_overflow_names_the_parameter(n):
  r = jax.new_ref(jnp.zeros(2))

  def f(x_ref, n):
    x_ref[0] = n

  want = _jax_error(f, jax.new_ref(jnp.zeros(2)), n)
  assert isinstance(want, OverflowError)
  assert "argument path is n." in str(want)
  with pytest.raises(RefhloOverflowError) as e:
    refhlo.jit(f)(r, n)  # CALL-OVERFLOW
  assert isinstance(e.value, OverflowError)
  at_line(e.value, test_int_argument_overflow_names_the_parameter,
          "CALL-OVERFLOW")
  assert "argument path is n." in str(e.value)
  assert f"value {n}" in str(e.value)
  assert_intact(r, [0.0, 0.0])


def test_int_overflow_in_a_pytree_and_a_keyword_names_the_path():
  def g(x, p):
    return x + p["n"]

  def h(x, *, n, m):
    return x + n + m

  with pytest.raises(RefhloOverflowError, match=r"argument path is p\['n'\]\."):
    refhlo.jit(g)(1.0, {"n": 2**40})
  assert "argument path is p['n']." in str(_jax_error(g, 1.0, {"n": 2**40}))
  # Keyword leaves are flattened in sorted key order; the name must follow.
  with pytest.raises(RefhloOverflowError, match=r"argument path is m\."):
    refhlo.jit(h)(1.0, n=1, m=2**40)
  assert "argument path is m." in str(_jax_error(h, 1.0, n=1, m=2**40))


def test_int_overflow_on_a_cached_signature():
  f = refhlo.jit(lambda x, n: x + n)
  assert float(f(1.0, 2**31 - 1)) == float(jax.jit(lambda x, n: x + n)(
      1.0, 2**31 - 1))
  with pytest.raises(RefhloOverflowError, match="argument path is n"):
    f(1.0, 2**31)


# == B. Weak types, jax_debug_nans / jax_debug_infs ==============================

def _weak_outputs(x_ref, y):
  x_ref[...] = x_ref[...] + 1.0
  return (2.0 * y, y, 3.0, x_ref[...], jnp.int32(3) + 1, 1 + 0,
          {"k": y * x_ref[0]})


def _weak_ref_reads(w_ref, y):
  before = w_ref[...] * 1.0        # the passed-in (weak) value: weak
  w_ref[...] = w_ref[...] + y      # stored values take the ref's strong type
  return before, w_ref[...], w_ref[...] + 1.0


WEAK = {
    "python_scalars": (_weak_outputs, [ref_of(jnp.zeros(3)), lambda: 1.5]),
    "strong_scalar": (_weak_outputs, [ref_of(jnp.zeros(3)),
                                      lambda: jnp.float32(1.5)]),
    "weak_ref": (_weak_ref_reads, [lambda: jax.new_ref(1.0), lambda: 2.0]),
    "loop": (lambda x_ref, y: lax.fori_loop(0, 3, lambda i, c: c + y, 0.0),
             [ref_of(jnp.zeros(2)), lambda: 0.5]),
}


@pytest.mark.parametrize("name", sorted(WEAK))
def test_results_keep_jax_jit_weak_types(name):
  fn, factories = WEAK[name]
  check_against_jax(fn, *factories)


def test_weak_type_of_a_python_float_result():
  out = refhlo.jit(lambda x: x * 2.0)(1.0)
  assert out.weak_type and out.weak_type == jax.jit(lambda x: x * 2.0)(1.0).weak_type
  out = refhlo.jit(lambda x: x * 2.0)(jnp.float32(1.0))
  assert not out.weak_type


def _nan_result(x_ref, y):
  x_ref[...] = x_ref[...] + 1.0
  return jnp.log(y)


def _nan_in_ref(x_ref, y):
  x_ref[...] = jnp.log(y) * jnp.ones(3)
  return 0.0


def _nan_in_loop(x_ref, y):
  def body(i, c):
    x_ref[i] = jnp.log(y - i)
    return c
  return lax.fori_loop(0, 3, body, 0.0)


@pytest.mark.parametrize("fn,y,where", [
    (_nan_result, -1.0, "found in the result"),
    (_nan_in_ref, -1.0, "found in the new value of ref 'x_ref'"),
    (_nan_in_loop, 1.5, "found in the new value of ref 'x_ref'"),
])
def test_debug_nans_raises_and_leaves_refs_intact(fn, y, where):
  r = jax.new_ref(jnp.arange(3.0))
  with jax.debug_nans(True):
    with pytest.raises(RefhloFloatingPointError) as e:
      refhlo.jit(fn)(r, y)  # CALL-NAN
    # jax.jit's error for the same computation without refs.
    with pytest.raises(FloatingPointError) as want:
      jax.jit(lambda y: jnp.log(y))(-1.0)
  assert isinstance(e.value, FloatingPointError)
  at_line(e.value, test_debug_nans_raises_and_leaves_refs_intact, "CALL-NAN")
  assert "invalid value (nan) encountered in" in str(e.value)
  assert str(want.value) in str(e.value) or fn is _nan_in_loop
  assert where in str(e.value)
  assert "jax_debug_nans" in str(e.value)
  assert_intact(r, np.arange(3.0))


def test_debug_nans_checks_bfloat16_refs():
  r = jax.new_ref(jnp.arange(3.0, dtype=jnp.bfloat16))

  def f(x_ref, y):
    x_ref[1] = jnp.log(y).astype(jnp.bfloat16)

  with jax.debug_nans(True):
    with pytest.raises(RefhloFloatingPointError, match="'x_ref'"):
      refhlo.jit(f)(r, -1.0)
  assert_intact(r, np.arange(3.0))


def test_debug_nans_when_the_deoptimized_rerun_fails(monkeypatch):
  def broken(*_args, **_kwargs):
    raise NotImplementedError("no eager rule (simulated)")

  monkeypatch.setattr(jp, "eval_jaxpr", broken)
  r = jax.new_ref(jnp.arange(3.0))
  with jax.debug_nans(True):
    with pytest.raises(RefhloFloatingPointError) as e:
      refhlo.jit(_nan_in_ref)(r, -1.0)
  assert "re-run de-optimized (op by op, as jax.jit does) failed " \
         "(NotImplementedError)" in str(e.value)
  assert isinstance(e.value.__cause__, NotImplementedError)
  assert_intact(r, np.arange(3.0))


def test_debug_infs_raises_and_leaves_refs_intact():
  r = jax.new_ref(jnp.arange(3.0))
  with jax.debug_infs(True):
    with pytest.raises(RefhloFloatingPointError,
                       match=r"invalid value \(inf\) encountered in log") as e:
      refhlo.jit(_nan_in_ref)(r, 0.0)
    with pytest.raises(FloatingPointError, match=r"\(inf\) encountered in log"):
      jax.jit(lambda y: jnp.log(y))(0.0)
  assert "jax_debug_infs" in str(e.value) and "'x_ref'" in str(e.value)
  assert_intact(r, np.arange(3.0))


def test_debug_nans_off_or_clean_runs_normally():
  r = jax.new_ref(jnp.arange(3.0))
  out = refhlo.jit(_nan_result)(r, -1.0)  # flag off: the NaN is returned
  assert np.isnan(out)
  np.testing.assert_array_equal(r[...], np.arange(3.0) + 1)
  with jax.debug_nans(True), jax.debug_infs(True):
    out = refhlo.jit(_nan_result)(r, 1.0)
    assert float(out) == 0.0
  np.testing.assert_array_equal(r[...], np.arange(3.0) + 2)


def test_debug_nans_passed_in_nan_is_reported_without_a_primitive():
  # As jax.jit: the de-optimized re-run finds no primitive producing it.
  r = jax.new_ref(jnp.zeros(2))

  def f(x_ref, y):
    x_ref[0] = 1.0
    return y

  nan = jnp.float32(np.nan)
  with jax.debug_nans(True):
    with pytest.raises(RefhloFloatingPointError,
                       match="did not produce it") as e:
      refhlo.jit(f)(r, nan)
    with pytest.raises(FloatingPointError, match="did not produce invalid"):
      jax.jit(lambda y: y)(nan)
  assert "found in the result" in str(e.value)
  assert_intact(r, [0.0, 0.0])


# == C. Faults after buffers were handed to XLA ====================================

class Boom(Exception):
  pass


def _raise_boom(*_):
  raise Boom("boom from the callback")


def test_host_callback_raising_leaves_refs_intact():
  r = jax.new_ref(jnp.arange(3.0))
  calls = []

  def cb(y):
    calls.append(float(y))
    if y < 0:
      raise Boom("boom from the callback")

  def f(x_ref, y):
    x_ref[...] = x_ref[...] + 1.0
    jax.debug.callback(cb, y)
    x_ref[0] = y
    return y * 2

  g = refhlo.jit(f)
  with pytest.raises(RefhloRuntimeError) as e:
    g(r, -1.0)  # CALL-CB
  assert isinstance(e.value, RuntimeError)
  at_line(e.value, test_host_callback_raising_leaves_refs_intact, "CALL-CB")
  assert "'x_ref' keeps its pre-call contents" in str(e.value)
  assert "Boom: boom from the callback" in str(e.value)
  assert isinstance(e.value.__cause__, jax.errors.JaxRuntimeError)
  assert_intact(r, np.arange(3.0))
  # The next (succeeding) call runs normally and matches jax.jit.
  assert float(g(r, 5.0)) == 10.0
  np.testing.assert_array_equal(r[...], [5.0, 2.0, 3.0])
  assert calls == [-1.0, 5.0]


def test_host_callback_raising_names_closed_over_and_pytree_refs():
  log = jax.new_ref(jnp.zeros(4))

  def f(state, y):
    state["buf"][...] += 1.0
    log[0] = y
    io_callback(_raise_boom, None, y, ordered=True)
    return y

  state = {"buf": jax.new_ref(jnp.ones(2))}
  with pytest.raises(RefhloRuntimeError) as e:
    refhlo.jit(f)(state, 3.0)
  msg = str(e.value)
  assert "'state['buf']' keeps its pre-call contents" in msg
  assert "'log' (closed over) keeps its pre-call contents" in msg
  assert_intact(state["buf"], [1.0, 1.0])
  assert_intact(log, np.zeros(4))


def test_keyboard_interrupt_in_a_callback_leaves_refs_intact():
  r = jax.new_ref(jnp.arange(2.0))

  def interrupt(_):
    raise KeyboardInterrupt

  def f(x_ref, y):
    x_ref[...] = x_ref[...] * y
    jax.debug.callback(interrupt, y)
    return y

  # JAX turns any exception of a callback into a runtime error of the run.
  with pytest.raises(RefhloRuntimeError, match="KeyboardInterrupt"):
    refhlo.jit(f)(r, 3.0)
  assert_intact(r, [0.0, 1.0])


def test_pure_callback_program_updates_refs_like_jax():
  def f(x_ref, y):
    v = jax.pure_callback(lambda a: np.asarray(a) * 2, jax.typeof(y), y)
    x_ref[1] += v
    return v + x_ref[0]

  check_against_jax(f, ref_of(jnp.arange(3.0)), lambda: jnp.float32(4.0))


# -- the fast path: no host callback, buffers donated ---------------------------

def _only_executable(fn):
  (entries,) = fn._cache.values()
  (exe,) = entries
  return exe


def _with_executable(exe, wrapper):
  exe.xla = dataclasses.replace(exe.xla, executable=wrapper)


class _Failing:
  """Stands in for XLA's executable: optionally consumes the donated inputs
  (as a real run does once it has started), then raises."""

  def __init__(self, donated, exc):
    self.donated, self.exc = donated, exc

  def execute_sharded(self, inputs):
    for i in self.donated:
      inputs[i].delete()
    raise self.exc


def _write_both(a, b, y):
  a[0] = y
  b[1] = y
  return y + 1.0


def test_run_failure_before_donation_leaves_refs_intact():
  a, b = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.ones(2))
  f = refhlo.jit(_write_both)
  f(a, b, 1.0)
  exe = _only_executable(f)
  _with_executable(exe, _Failing((), jax.errors.JaxRuntimeError(
      "RESOURCE_EXHAUSTED: out of memory (simulated)")))
  with pytest.raises(RefhloRuntimeError) as e:
    f(a, b, 2.0)  # CALL-OOM
  at_line(e.value, test_run_failure_before_donation_leaves_refs_intact,
          "CALL-OOM")
  msg = str(e.value)
  assert "RESOURCE_EXHAUSTED: out of memory (simulated)" in msg
  assert "'a' keeps its pre-call contents" in msg
  assert "'b' keeps its pre-call contents" in msg
  assert_intact(a, [1.0, 0.0])
  assert_intact(b, [1.0, 1.0])


def test_run_failure_after_donation_says_the_ref_is_lost():
  a, b = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.ones(2))
  f = refhlo.jit(_write_both)
  f(a, b, 1.0)
  exe = _only_executable(f)
  real = exe.xla.executable
  a_arg = next(i for i, src in enumerate(exe.arg_sources) if src == ("arg", 0))
  _with_executable(exe, _Failing((a_arg,), jax.errors.JaxRuntimeError(
      "INTERNAL: device failure (simulated)")))
  with pytest.raises(RefhloRuntimeError) as e:
    f(a, b, 2.0)
  msg = str(e.value)
  assert "'a' lost its contents" in msg and "deleted" in msg
  assert "'b' keeps its pre-call contents" in msg
  assert jp.ref_buffer(a).is_deleted()  # never garbage: reading raises
  with pytest.raises(RuntimeError, match="deleted"):
    a[...]
  assert_intact(b, [1.0, 1.0])
  _with_executable(exe, real)
  with pytest.raises(RefhloError, match="the ref 'a' .*deleted buffer") as e:
    f(a, b, 3.0)  # CALL-LOST
  at_line(e.value, test_run_failure_after_donation_says_the_ref_is_lost,
          "CALL-LOST")
  with pytest.raises(RuntimeError, match="deleted"):
    a[...] = jnp.zeros(2)
  a = jax.new_ref(jnp.zeros(2))  # the way on: a new ref
  f(a, b, 3.0)
  np.testing.assert_array_equal(a[...], [3.0, 0.0])
  np.testing.assert_array_equal(b[...], [1.0, 3.0])


class _InterruptedResults:
  """XLA's results, with a KeyboardInterrupt arriving as they are taken."""

  def __init__(self, real):
    self.real, self.calls = real, 0

  def disassemble_into_single_device_arrays(self):
    self.calls += 1
    if self.calls == 1:
      raise KeyboardInterrupt
    return self.real.disassemble_into_single_device_arrays()

  def consume_with_handlers(self, handlers):  # the per-call path's way
    self.calls += 1
    if self.calls == 1:
      raise KeyboardInterrupt
    return self.real.consume_with_handlers(handlers)


class _Interrupting:
  def __init__(self, real, before):
    self.real, self.before = real, before

  def execute_sharded(self, inputs):
    if self.before:
      raise KeyboardInterrupt
    return _InterruptedResults(self.real.execute_sharded(inputs))


@pytest.mark.skipif(not hasattr(BaseException, "add_note"),
                    reason="exception notes need Python >= 3.11")
@pytest.mark.parametrize("before", [True, False])
def test_keyboard_interrupt_stays_an_interrupt_and_refs_stay_valid(before):
  a, b = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.ones(2))
  f = refhlo.jit(_write_both)
  f(a, b, 1.0)
  exe = _only_executable(f)
  _with_executable(exe, _Interrupting(exe.xla.executable, before))
  with pytest.raises(KeyboardInterrupt) as e:
    f(a, b, 2.0)
  notes = "\n".join(getattr(e.value, "__notes__", []))
  if before:
    assert "'a' keeps its pre-call contents" in notes
    assert_intact(a, [1.0, 0.0])
    assert_intact(b, [1.0, 1.0])
  else:  # the run had finished: its results are kept
    assert "'a' was updated (the run had finished)" in notes
    assert_intact(a, [2.0, 0.0])
    assert_intact(b, [1.0, 2.0])


def test_fast_path_donates_and_copies_nothing(monkeypatch):
  """The fault handling costs nothing without host callbacks: no copy, the
  ref buffers are donated (consumed) as before."""
  copies = []
  real_copy = jp.copy_array
  monkeypatch.setattr(jp, "copy_array",
                      lambda x: copies.append(x) or real_copy(x))
  r = jax.new_ref(jnp.zeros(3))
  f = refhlo.jit(lambda x_ref, y: x_ref.__setitem__(0, y))
  f(r, 1.0)
  old = jp.ref_buffer(r)
  f(r, 2.0)
  assert old.is_deleted() and copies == []
  # With a host callback the run works on a copy: the old buffer survives.
  g = refhlo.jit(lambda x_ref, y: (x_ref.__setitem__(0, y),
                                   jax.debug.callback(lambda v: None, y)))
  old = jp.ref_buffer(r)
  g(r, 3.0)
  assert not old.is_deleted() and len(copies) == 1
  np.testing.assert_array_equal(r[...], [3.0, 0.0, 0.0])


def test_ordered_callback_after_a_cond_without_one():
  """A cond with no ordered effect, then one with an ordered callback: refhlo
  lowers conds inline, where JAX's rule used to drop the running token set
  (KeyError: OrderedDebugEffect; found by tools/fuzz.py)."""
  seen = []

  def f(r, x):
    y = lax.cond(x > 0, lambda: x, lambda: -x)
    r[0] = y
    def with_cb():
      jax.debug.callback(lambda v: seen.append(float(v)), y, ordered=True)
      return x
    z = lax.cond(x > 0, with_cb, lambda: -x)
    return z + r[0]

  outs = {}
  for name, jit in (("refhlo", refhlo.jit), ("jax", jax.jit)):
    seen.clear()
    r = jax.new_ref(jnp.zeros(2))
    out = float(jit(f)(r, 2.0))
    jax.effects_barrier()
    outs[name] = (out, np.asarray(r[...]).tolist(), list(seen))
  assert outs["refhlo"] == outs["jax"] == (4.0, [2.0, 0.0], [2.0]), outs
