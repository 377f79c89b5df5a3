"""The per-call fast path (`runtime.fast_path`, issue 13): after the second
call with one signature, `refhlo.jit` runs the last executable through a
guard instead of building the cache key. Every way a later call can differ
from the signature the guard was built for must miss it and give what the
general path (and `jax.jit`) gives; the guard must never run an executable
on arguments it was not compiled for.

Each test warms the fast path up (`_warm`), checks that it is installed, then
calls with a changed argument and compares with `jax.jit` on the same
program and inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refhlo
from refhlo import RefhloError, RefhloFloatingPointError, RefhloOverflowError


def _warm(g, *args, **kwargs):
  """Calls `g` until its fast path is installed (the second run builds it)."""
  for _ in range(3):
    g(*args, **kwargs)
  assert g._fast is not None


def _add(r, x):
  r[...] += x
  return r[0] * 2


def _pair(a, b):
  """Refhlo and jax.jit on equal refs: ((refhlo fn, ref), (jax fn, ref))."""
  return ((refhlo.jit(_add), jax.new_ref(jnp.asarray(a))),
          (jax.jit(_add), jax.new_ref(jnp.asarray(b))))


def _same(got, want):
  assert type(got) is type(want) or isinstance(got, jax.Array)
  assert got.dtype == want.dtype and got.shape == want.shape
  assert got.weak_type == want.weak_type
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_the_fast_path_is_taken_and_skips_the_general_path(monkeypatch):
  g = refhlo.jit(_add)
  r = jax.new_ref(jnp.zeros(3))
  _warm(g, r, jnp.float32(1.0))
  general = []
  real = type(g)._call
  monkeypatch.setattr(type(g), "_call",
                      lambda self, a, k: (general.append(1), real(self, a, k))[1])
  g(r, jnp.float32(1.0))
  g(r, jnp.float32(2.0))       # a new value, same signature
  assert general == []
  np.testing.assert_array_equal(np.asarray(r[...]), [6.0] * 3)
  g(r, jnp.ones(3))            # another signature: the general path
  assert general == [1]


@pytest.mark.parametrize("first,then", [
    (jnp.float32(1.0), jnp.ones(3, jnp.float32)),           # shape
    (jnp.float32(1.0), jnp.int32(2)),                        # dtype
    (jnp.float32(1.0), jnp.asarray(1.0)),                    # weak type
    (jnp.float32(1.0), jax.device_put(jnp.float32(2.0), jax.devices()[0])),  # committed
    (1.0, 2),                                                # Python float -> int
    (2, True),                                               # int -> bool
    (1.0, np.float32(3.0)),                                  # -> NumPy scalar
    (np.float32(3.0), np.float64(3.0)),                      # NumPy dtype
    (np.ones(3, np.float32), np.ones(1, np.float32)),        # NumPy shape
    (np.ones(3, np.float32), np.full(3, 7.0, np.float32)),   # NumPy values
], ids=["shape", "dtype", "weak_type", "committed", "float_int", "int_bool",
        "np_scalar", "np_dtype", "np_shape", "np_values"])
def test_a_changed_argument_misses_the_guard_and_matches_jax(first, then):
  (g, r), (j, s) = _pair(jnp.zeros(3), jnp.zeros(3))
  _warm(g, r, first)
  for _ in range(3):
    j(s, first)
  _same(g(r, then), j(s, then))
  np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))
  _same(g(r, first), j(s, first))  # and back to the first signature
  np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))


def test_a_ref_of_another_shape_or_dtype_misses_the_guard():
  g = refhlo.jit(_add)
  _warm(g, jax.new_ref(jnp.zeros(3)), 1.0)
  for x in (jnp.zeros(4), jnp.zeros(3, jnp.int32), jnp.zeros((3, 1))):
    r, s = jax.new_ref(x), jax.new_ref(x)
    _same(g(r, 1), jax.jit(_add)(s, 1))
    np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))


def test_a_ref_passed_twice_misses_the_guard():
  """The fast path is built for distinct refs: passing one ref twice is
  another alias pattern (XLA cannot take one buffer donated twice). jax.jit
  rejects aliased refs; refhlo runs the two writes in order."""
  def f(a, b):
    a[0] += 1.0
    b[0] += 1.0
  g = refhlo.jit(f)
  r, s = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.zeros(2))
  _warm(g, r, s)
  g(r, r)
  g(r, r)
  g(s, r)
  np.testing.assert_array_equal(np.asarray(r[...]), [8.0, 0.0])
  np.testing.assert_array_equal(np.asarray(s[...]), [4.0, 0.0])


def test_static_arguments_are_part_of_the_guard():
  def f(r, x, k):
    r[...] += x * k
  g = refhlo.jit(f, static_argnums=2)
  r = jax.new_ref(jnp.zeros(2))
  _warm(g, r, 1.0, 2)                      # 6
  g(r, 1.0, 3)                             # 9
  g(r, 1.0, k=3)                           # 12: static by name
  g(r, 1.0, 2)                             # 14
  np.testing.assert_array_equal(np.asarray(r[...]), [14.0, 14.0])
  with pytest.raises(RefhloError, match="hashable"):
    g(r, 1.0, [1])


def test_pytree_structure_and_keywords_are_part_of_the_guard():
  def f(r, d):
    r[...] += d["a"] + d.get("b", 0.0)
  g = refhlo.jit(f)
  r, s = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.zeros(2))
  _warm(g, r, {"a": 1.0})
  for _ in range(3):
    jax.jit(f)(s, {"a": 1.0})
  g(r, {"a": 1.0, "b": 10.0})
  jax.jit(f)(s, {"a": 1.0, "b": 10.0})
  g(r=r, d={"a": 1.0})
  jax.jit(f)(r=s, d={"a": 1.0})
  np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))


def test_under_an_enclosing_trace_the_call_is_staged_not_run():
  """Concrete arguments, but an enclosing trace: the guard misses, the call
  is staged (as jax.jit stages itself), and the ref is not touched."""
  g = refhlo.jit(_add)
  r = jax.new_ref(jnp.zeros(3))
  _warm(g, r, 1.0)
  before = np.asarray(r[...])
  jaxpr = jax.make_jaxpr(lambda: g(r, 1.0))()
  assert "jit" in str(jaxpr)
  np.testing.assert_array_equal(np.asarray(r[...]), before)


def test_debug_nans_turned_on_after_the_fast_path_is_installed():
  def f(r, y):
    r[0] = jnp.log(y)
  g = refhlo.jit(f)
  r = jax.new_ref(jnp.ones(2))
  _warm(g, r, 1.0)
  with jax.debug_nans(True):
    with pytest.raises(RefhloFloatingPointError):
      g(r, -1.0)
  np.testing.assert_array_equal(np.asarray(r[...]), [0.0, 1.0])


def test_a_deleted_ref_buffer_is_reported_after_the_fast_path_is_installed():
  g = refhlo.jit(_add)
  r = jax.new_ref(jnp.zeros(3))
  _warm(g, r, 1.0)
  r._refs._buf.delete()
  with pytest.raises(RefhloError, match="the ref 'r' .*deleted buffer"):
    g(r, 1.0)


def test_an_int_too_large_is_the_overflow_error_after_the_fast_path():
  g = refhlo.jit(_add)
  r = jax.new_ref(jnp.zeros(3, jnp.int32))
  _warm(g, r, 1)
  with pytest.raises(RefhloOverflowError, match="argument path is x"):
    g(r, 2**40)
  np.testing.assert_array_equal(np.asarray(r[...]), [3, 3, 3])


def test_clear_cache_drops_the_fast_path():
  calls = []
  def f(r):
    calls.append(1)
    r[...] += 1.0
  g = refhlo.jit(f)
  r = jax.new_ref(jnp.zeros(2))
  _warm(g, r)
  g.clear_cache()
  assert g._fast is None
  g(r)
  assert len(calls) == 2  # traced again
  np.testing.assert_array_equal(np.asarray(r[...]), [4.0, 4.0])


def test_closed_over_refs_and_host_callbacks_keep_the_general_path():
  """Executables that need a per-call check (closed-over refs' aliasing)
  or run on copies (host callbacks) get no fast path."""
  c = jax.new_ref(jnp.zeros(2))
  def f(r):
    r[...] += 1.0
    c[...] += r[...]
  def h(r):
    jax.debug.callback(lambda x: None, r[0])
    r[...] += 1.0
  for fn, arg in ((f, jax.new_ref(jnp.zeros(2))), (h, jax.new_ref(jnp.zeros(2)))):
    g = refhlo.jit(fn)
    for _ in range(3):
      g(arg)
    assert g._fast is None
  np.testing.assert_array_equal(np.asarray(c[...]), [6.0, 6.0])


@pytest.mark.parametrize("argnums", [2, -1])
def test_static_values_by_position_and_name_match_jax(argnums):
  def f(r, x, k):
    r[...] += x * k
    return k
  g, j = refhlo.jit(f, static_argnums=argnums), jax.jit(f, static_argnums=argnums)
  r, s = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.zeros(2))
  for k in (2, 2, 2, 3, 2.0, True, 2, (1, 2)[0]):
    for call in ((lambda h, t: h(t, 1.0, k)), (lambda h, t: h(t, 1.0, k=k))):
      got, want = call(g, r), call(j, s)
      assert got == want and type(got) is type(want)
      np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))


def test_reused_scalar_arrays_keep_the_sign_of_zero_and_the_type():
  """Python scalars are put once per value (`scalar_putter`'s cache): -0.0
  is not 0.0, True is not 1, and a NaN stays a NaN."""
  def f(r, x):
    r[0] = 1.0 / x
    r[1] = x * 1.0
  g, j = refhlo.jit(f), jax.jit(f)
  r, s = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.zeros(2))
  for x in (0.0, -0.0, 0.0, -0.0, 2.0, 2, True, 1, 1.0, float("nan"), -0.0):
    g(r, x)
    j(s, x)
    np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))
    assert np.signbit(np.asarray(r[...])).tolist() == np.signbit(np.asarray(s[...])).tolist()


def test_a_reused_scalar_array_deleted_by_the_user_is_put_again():
  def f(r, x):
    r[...] += x
  g = refhlo.jit(f)
  r = jax.new_ref(jnp.zeros(2))
  _warm(g, r, 0.5)
  for a in jax.live_arrays():
    if a.shape == () and float(a) == 0.5:
      a.delete()
  g(r, 0.5)
  np.testing.assert_array_equal(np.asarray(r[...]), [2.0, 2.0])


def test_closed_over_constants_are_passed_on_the_fast_path():
  """Closed-over non-ref values (a NumPy index array, a jnp array, a NumPy
  scalar) are arguments of the executable; the fast path passes them as
  the general path does (found by the fuzzer's repeated calls)."""
  idx = np.array([3, 0, 1], np.int32)
  scale = jnp.arange(3.0)
  bias = np.float32(0.5)
  def f(r):
    r[idx] = r[idx] * scale + bias
    return r[0]
  (g, r), (j, s) = (refhlo.jit(f), jax.new_ref(jnp.ones(4))), (jax.jit(f), jax.new_ref(jnp.ones(4)))
  for _ in range(4):
    _same(g(r), j(s))
    np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))
  assert g._fast is not None


def test_a_mutated_numpy_closure_is_the_traced_constant_as_in_jax():
  """A closed-over NumPy array is a constant of the trace (jax.jit's
  semantics): mutating it later changes neither the general path (calls 1
  and 2) nor the fast path (calls 3 on)."""
  c = np.array([1.0, 2.0, 3.0], np.float32)
  def f(r):
    r[...] += c
  g, j = refhlo.jit(f), jax.jit(f)
  r, s = jax.new_ref(jnp.zeros(3)), jax.new_ref(jnp.zeros(3))
  for _ in range(5):
    g(r)
    j(s)
    c[0] += 100.0
    np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))


def test_an_ahead_of_time_compiled_function_takes_the_fast_path_too():
  """`refhlo.jit(f).lower(...).compile()` runs through the same guard: its
  repeated calls match jax.jit's Compiled, and a call with other argument
  types is still the TypeError jax.jit's Compiled raises."""
  r, s = jax.new_ref(jnp.zeros(3)), jax.new_ref(jnp.zeros(3))
  c = refhlo.jit(_add).lower(r, 1.0).compile()
  cj = jax.jit(_add).lower(s, 1.0).compile()
  for x in (1.0, 2.0, 3.0, 0.5):
    _same(c(r, x), cj(s, x))
    np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))
  assert c._exe.fast
  with pytest.raises(TypeError):
    cj(s, jnp.ones(3))
  with pytest.raises(TypeError):
    c(r, jnp.ones(3))
  np.testing.assert_array_equal(np.asarray(r[...]), np.asarray(s[...]))
