"""Every user-facing error of refhlo.jit: a clear message at the user's source
line, raised before any buffer is donated, so every ref is intact after."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import refhlo
from refhlo.errors import RefhloError

HERE = __file__


def assert_intact(ref, expected):
  buf = ref._refs._buf  # the buffer must not have been donated
  assert not buf.is_deleted()
  np.testing.assert_array_equal(np.asarray(ref[...]), expected)


def line_of(fn, needle):
  lines, start = __import__("inspect").getsourcelines(fn)
  for k, text in enumerate(lines):
    if needle in text:
      return start + k
  raise AssertionError(needle)


def test_returning_a_ref_names_the_argument_and_line():
  r = jax.new_ref(jnp.arange(3.0))

  def returns_ref(x, r):
    r[0] = x
    return r

  with pytest.raises(RefhloError) as e:
    refhlo.jit(returns_ref)(1.0, r)
  msg = str(e.value)
  # The diagnostic points at the `return` statement.
  assert msg.startswith(f"{HERE}:{line_of(returns_ref, 'return r')}:5: error: "), msg
  assert "returned a mutable array reference" in msg
  assert "passed in as the argument r" in msg
  assert f"returns_ref at {HERE}:{line_of(returns_ref, 'def returns_ref')}" in msg
  assert_intact(r, [0.0, 1.0, 2.0])


def test_returning_an_internal_ref_in_a_pytree():
  def returns_new_ref(x):
    return {"a": x, "b": jax.new_ref(x)}

  with pytest.raises(RefhloError, match=r"at output\['b'\].*created inside"):
    refhlo.jit(returns_new_ref)(jnp.ones(2))


def test_use_after_freeze_points_at_the_write():
  r = jax.new_ref(jnp.arange(3.0))

  def use_after_freeze(r):
    v = jax.ref.freeze(r)
    r[0] = 1.0
    return v

  with pytest.raises(RefhloError) as e:
    refhlo.jit(use_after_freeze)(r)
  assert isinstance(e.value, ValueError)  # as jax.jit's error for this program
  line = line_of(use_after_freeze, "r[0] = 1.0")
  freeze_line = line_of(use_after_freeze, "v = jax.ref.freeze(r)")
  msg = str(e.value)
  assert msg.startswith(f"{HERE}:{line}:"), msg
  # In JAX's terms, with the freeze's location; no dialect op names or locs.
  assert "this write to a ref" in msg and "after its jax.ref.freeze at " \
      f"{HERE}:{freeze_line}:" in msg, msg
  assert "'ref." not in msg and "loc(" not in msg, msg
  assert_intact(r, [0.0, 1.0, 2.0])


def test_tracing_error_leaves_refs_intact():
  r = jax.new_ref(jnp.arange(3.0))

  def math_on_ref(r):
    r[0] = 5.0            # traced, never run: the call fails first
    return jnp.sin(r)     # TypeError: do math on r[...], not on r

  with pytest.raises(TypeError):
    refhlo.jit(math_on_ref)(r)
  assert_intact(r, [0.0, 1.0, 2.0])


def test_ref_as_loop_carry_is_refused():
  r = jax.new_ref(jnp.arange(3.0))

  def carry_ref(r):
    return lax.fori_loop(0, 3, lambda i, c: c, r)

  with pytest.raises(ValueError, match="mutable array reference"):
    refhlo.jit(carry_ref)(r)
  assert_intact(r, [0.0, 1.0, 2.0])


def test_unhashable_static_argument():
  r = jax.new_ref(jnp.zeros(2))

  def f(n, r):
    r[0] = float(len(n))

  with pytest.raises(ValueError, match="static arguments must be hashable") as e:
    refhlo.jit(f, static_argnums=0)([1, 2], r)  # the call: CALL-UNHASHABLE
  assert isinstance(e.value, RefhloError)
  assert str(e.value).startswith(
      f"{HERE}:{line_of(test_unhashable_static_argument, 'CALL-UNHASHABLE')}:"
      f"5: error: "), str(e.value)
  assert_intact(r, [0.0, 0.0])


def test_invalid_argument_type():
  r = jax.new_ref(jnp.zeros(2))

  def f(s, r):
    r[0] = 1.0

  with pytest.raises(TypeError, match="not a valid JAX type") as e:
    refhlo.jit(f)("a string", r)  # the call: CALL-BADTYPE
  assert isinstance(e.value, RefhloError)
  line = line_of(test_invalid_argument_type, "CALL-BADTYPE")
  assert str(e.value).startswith(f"{HERE}:{line}:5: error: "), str(e.value)
  assert_intact(r, [0.0, 0.0])


def test_deleted_ref_buffer():
  r = jax.new_ref(jnp.zeros(2))
  other = jax.new_ref(jnp.ones(2))

  def f(r, other):
    r[0] = 1.0
    other[1] = 5.0

  f_ = refhlo.jit(f)
  f_(r, other)
  r._refs._buf.delete()
  with pytest.raises(RefhloError, match="deleted buffer") as e:
    f_(other, r)  # the call: CALL-DELETED
  line = line_of(test_deleted_ref_buffer, "CALL-DELETED")
  assert str(e.value).startswith(f"{HERE}:{line}:5: error: "), str(e.value)
  # `other` comes first and is checked (and would be donated) first: intact.
  assert_intact(other, [1.0, 5.0])


def test_pipeline_failure_on_second_signature_leaves_refs_intact():
  # A first signature compiles and runs; a second one fails in the pipeline:
  # the refs keep the values the first call left.
  r = jax.new_ref(jnp.arange(3.0))

  def f(r, k):
    if k:
      v = jax.ref.freeze(r)
      r[1] = v[0]
    r[2] += 1.0

  f_ = refhlo.jit(f, static_argnums=1)
  f_(r, False)
  assert_intact(r, [0.0, 1.0, 3.0])
  with pytest.raises(RefhloError, match="error: this write to a ref .* uses a ref after"):
    f_(r, True)
  assert_intact(r, [0.0, 1.0, 3.0])


def test_lowered_as_text_unknown_dialect():
  def f(r):
    r[0] = 1.0
  lowered = refhlo.jit(f).lower(jax.new_ref(jnp.zeros(2)))
  # ("hlo" is a dialect since issue 9: as jax.jit's Lowered.as_text.)
  with pytest.raises(ValueError, match="unknown dialect 'tosa'"):
    lowered.as_text("tosa")


def test_static_argnames_by_position_and_name():
  r = jax.new_ref(jnp.zeros(4))

  def f(r, n):
    for k in range(n):   # needs a static n
      r[k] = float(k + 1)

  g = refhlo.jit(f, static_argnames="n")
  g(r, 2)
  g(r, n=3)
  np.testing.assert_array_equal(np.asarray(r[...]), [1.0, 2.0, 3.0, 0.0])


def test_returning_a_closed_over_ref_names_it():
  counter = jax.new_ref(jnp.zeros(2))

  def returns_global(x):
    counter[0] = x
    return {"out": counter}

  with pytest.raises(RefhloError) as e:
    refhlo.jit(returns_global)(3.0)
  msg = str(e.value)
  line = line_of(returns_global, "return {")
  assert msg.startswith(f"{HERE}:{line}:5: error: "), msg
  assert "at output['out']" in msg and "closed over as 'counter'" in msg
  assert_intact(counter, [0.0, 0.0])


def test_returning_a_ref_from_one_of_several_returns_lists_them():
  r = jax.new_ref(jnp.zeros(2))

  def two_returns(x, r):
    if x.ndim:
      return r
    return x

  with pytest.raises(RefhloError) as e:
    refhlo.jit(two_returns)(jnp.ones(2), r)
  msg = str(e.value)
  assert msg.startswith(f"{HERE}:{line_of(two_returns, 'def two_returns')}:1: "
                        "error: "), msg
  assert (f"returns at lines {line_of(two_returns, 'return r')}, "
          f"{line_of(two_returns, 'return x')}") in msg
  assert_intact(r, [0.0, 0.0])


def test_unsupported_ref_transform_is_an_emission_error_at_its_line():
  # jax.jit accepts `r.reshape(...)`; refhlo has no reshaped view (yet).
  r = jax.new_ref(jnp.arange(4.0))

  def reshaped(r):
    r[0] = 7.0
    return r.reshape(2, 2)[1, 1]

  with pytest.raises(RefhloError) as e:
    refhlo.jit(reshaped)(r)
  line = line_of(reshaped, "r.reshape")
  assert str(e.value).startswith(f"{HERE}:{line}:"), str(e.value)
  assert "unsupported ref transform ReshapeTransform" in str(e.value)
  assert_intact(r, [0.0, 1.0, 2.0, 3.0])


def test_ordered_effect_in_a_ref_loop_condition_is_refused_at_its_line():
  # jax.jit supports this; refhlo supports ordered effects in loop bodies only.
  r = jax.new_ref(jnp.zeros(3))

  def ordered_in_cond(r):
    def cond(i):
      jax.debug.print("i={i}", i=i, ordered=True)
      return i < 2
    def body(i):
      r[i] += 1.0
      return i + 1
    return lax.while_loop(cond, body, 0)

  with pytest.raises(RefhloError) as e:
    refhlo.jit(ordered_in_cond)(r)
  line = line_of(ordered_in_cond, "lax.while_loop")
  assert str(e.value).startswith(f"{HERE}:{line}:"), str(e.value)
  assert "ordered effects" in str(e.value)
  assert_intact(r, [0.0, 0.0, 0.0])


def test_pipeline_error_points_at_the_user_line_and_is_not_a_traceback():
  r = jax.new_ref(jnp.arange(3.0))

  def use_after_free(r):
    s = jax.new_ref(r[...])
    jax.free_ref(s)
    r[0] = s[1]

  with pytest.raises(RefhloError) as e:
    refhlo.jit(use_after_free)(r)
  msg = str(e.value)
  assert msg.startswith(f"{HERE}:{line_of(use_after_free, 'r[0] = s[1]')}:"), msg
  assert "Traceback" not in msg
  assert_intact(r, [0.0, 1.0, 2.0])


def test_errors_are_raised_before_donation_for_every_ref_of_the_call():
  # Two refs, the second makes the call fail at emission: neither is donated.
  a, b = jax.new_ref(jnp.ones(4)), jax.new_ref(jnp.arange(4.0).reshape(2, 2))

  def f(a, b):
    a[...] = a[...] * 5
    b.bitcast(jnp.int32)[0, 0] = 1

  with pytest.raises(RefhloError, match="unsupported ref transform"):
    refhlo.jit(f)(a, b)
  assert_intact(a, [1.0] * 4)
  assert_intact(b, [[0.0, 1.0], [2.0, 3.0]])


def _frames(e: BaseException) -> list[str]:
  import traceback
  return [f.filename for f in traceback.extract_tb(e.__traceback__)]


@pytest.mark.parametrize("filtering", ["auto", "off"])
def test_tracebacks_leave_out_refhlo_frames_as_jax_does(filtering: str):
  """An error raised through refhlo.jit shows the user's frames, not
  refhlo's (JAX's `jax_traceback_filtering`); "off" shows every frame."""
  import os
  pkg = os.path.dirname(refhlo.__file__)
  def f(r):
    r[...] = r[...] + jnp.ones(4)  # a shape error inside the user's function
  saved = jax.config.jax_traceback_filtering
  jax.config.update("jax_traceback_filtering", filtering)
  try:
    with pytest.raises(TypeError) as e:
      refhlo.jit(f)(jax.new_ref(jnp.zeros(3)))
    with pytest.raises(RefhloError) as e2:
      refhlo.jit(lambda r: r)(jax.new_ref(jnp.zeros(3)))
  finally:
    jax.config.update("jax_traceback_filtering", saved)
  frames = _frames(e.value)
  assert any(f.endswith("test_jit_errors.py") for f in frames)
  ours = [f for f in frames if f.startswith(pkg)]
  assert (ours == []) == (filtering == "auto"), frames
  assert type(e2.value).__module__ == "refhlo"
  assert ([f for f in _frames(e2.value) if f.startswith(pkg)] == []) == (
      filtering == "auto")


def test_float_scalar_index_is_truncated_as_jax_does():
  """`r[x]` with a float scalar: JAX truncates it to int32 (toward zero)."""
  x = jnp.arange(12.0).reshape(4, 3)
  for i in (1.5, -1.5, 2.9, 7.2, -0.5):
    want = jax.jit(lambda r, i: r[i])(jax.new_ref(x), i)
    got = refhlo.jit(lambda r, i: r[i])(jax.new_ref(x), i)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_window_too_large_is_a_type_error_as_in_jax():
  def f(r, i):
    return r[jax.ds(i, 9)]
  r = jax.new_ref(jnp.zeros((4, 3)))
  with pytest.raises(TypeError):
    jax.jit(f)(r, 0)
  with pytest.raises(TypeError, match="does not fit") as e:
    refhlo.jit(f)(r, 0)
  assert isinstance(e.value, RefhloError)


def test_tracing_errors_name_the_function_and_argument_as_jax_does():
  """JAX's own tracing errors (a traced value used as a Python bool) name the
  user's function and argument, as under jax.jit, never refhlo's wrapper."""
  def branchy(r, i):
    if i > 0:
      r[0] = 1.0
  msgs = {}
  for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
    with pytest.raises(jax.errors.TracerBoolConversionError) as e:
      jit(branchy)(jax.new_ref(jnp.zeros(3)), 1)
    msgs[name] = str(e.value)
  assert "the function branchy at" in msgs["refhlo"]
  assert "depends on the value of the argument i." in msgs["refhlo"]
  for internal in ("flat_fun", "uniq"):
    assert internal not in msgs["refhlo"]


def test_static_argnums_past_the_signature_raise_as_jax_does():
  with pytest.raises(ValueError, match="static_argnums=.5,., but only accepts 2"):
    jax.jit(lambda r, i: r[i], static_argnums=5)
  with pytest.raises(ValueError, match="static_argnums=.5,., but only accepts 2"):
    refhlo.jit(lambda r, i: r[i], static_argnums=5)
