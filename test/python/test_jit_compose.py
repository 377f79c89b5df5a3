"""`refhlo.jit` composes with JAX like `jax.jit`: under an enclosing trace
(jit, grad, vmap, make_jaxpr, loop bodies, another refhlo.jit, ...) it is
staged into that trace, never run at trace time.

Each test runs the same program with `refhlo.jit` and with `jax.jit`, on fresh
refs, and compares values, final ref contents and (where it says something)
the effects `make_jaxpr` shows.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import refhlo

JITS = {"refhlo": refhlo.jit, "jax": jax.jit}


def _both(build):
  """Runs `build(jit)` for both jits; returns their results."""
  return {name: build(jit) for name, jit in JITS.items()}


def _assert_same(results):
  a, b = results["refhlo"], results["jax"]
  la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)


def _doubler(jit):
  @jit
  def f(x):
    r = jax.new_ref(x)
    r[...] = 2.0 * r[...]
    return r[...]
  return f


@pytest.mark.parametrize("transform", [
    "grad", "value_and_grad", "vmap", "jit", "refhlo_jit", "jvp", "linearize",
    "vjp", "checkpoint", "eval_shape", "jacrev"])
def test_under_transformations(transform):
  def build(jit):
    f = _doubler(jit)
    x = jnp.float32(3.0)
    if transform == "grad":
      return jax.grad(f)(x)
    if transform == "value_and_grad":
      return jax.value_and_grad(lambda z: f(z) ** 2)(x)
    if transform == "vmap":
      return jax.vmap(f)(jnp.arange(3.0))
    if transform == "jit":
      return jax.jit(lambda z: f(z) + 1.0)(x)
    if transform == "refhlo_jit":
      return refhlo.jit(lambda z: f(z) + 1.0)(x)
    if transform == "jvp":
      return jax.jvp(f, (x,), (jnp.float32(1.0),))
    if transform == "linearize":
      y, lin = jax.linearize(f, x)
      return y, lin(jnp.float32(2.0))
    if transform == "vjp":
      y, pull = jax.vjp(f, x)
      return y, pull(jnp.float32(1.0))
    if transform == "checkpoint":
      return jax.grad(jax.checkpoint(lambda z: f(z) * z))(x)
    if transform == "eval_shape":
      s = jax.eval_shape(f, x)
      return jnp.zeros(s.shape, s.dtype)
    return jax.jacrev(lambda z: f(z) ** 3)(x)
  _assert_same(_both(build))


def test_same_error_as_jax_jit_where_jax_fails():
  """`hessian` of a function creating a ref fails inside JAX (vmap of the ref
  effect); refhlo.jit raises the very same error, not a different one."""
  errors = {}
  for name, jit in JITS.items():
    f = _doubler(jit)
    with pytest.raises(Exception) as e:
      jax.hessian(lambda z: f(z) ** 3)(jnp.float32(3.0))
    errors[name] = (type(e.value), str(e.value).splitlines()[0])
  assert errors["refhlo"] == errors["jax"]


@pytest.mark.parametrize("where", ["scan", "fori_loop", "while_loop", "cond", "switch"])
def test_in_control_flow_bodies(where):
  def build(jit):
    f = _doubler(jit)
    if where == "scan":
      return lax.scan(lambda c, x: (c + f(x), f(x)), 0.0, jnp.arange(4.0))
    if where == "fori_loop":
      return lax.fori_loop(0, 3, lambda i, c: c + f(c), 1.0)
    if where == "while_loop":
      return lax.while_loop(lambda c: c < 50.0, lambda c: f(c) + 1.0, 1.0)
    if where == "cond":
      return lax.cond(True, f, lambda z: z, 2.0)
    return lax.switch(1, [lambda z: z, f], 2.0)
  _assert_same(_both(build))


def test_closed_over_ref_inner_jit_twice_runs_every_time():
  """The inner function writes a closed-over ref; the outer calls it. Run
  twice, the ref is bumped twice (the inner call is staged, not run at trace
  time)."""
  def build(jit):
    x = jax.new_ref(jnp.float32(0.0))
    inner = jit(lambda: x.__setitem__(..., x[...] + 1.0))
    outer = jit(lambda: inner())
    outer()
    outer()
    return x[...]
  res = _both(build)
  _assert_same(res)
  assert float(res["refhlo"]) == 2.0


def test_nested_refhlo_jit_with_ref_arguments():
  def build(jit):
    @jit
    def inner(r, v):
      old = r[1]
      r[1] = v
      return old

    @jit
    def outer(r, v):
      a = inner(r, v)
      b = inner(r, v + 1.0)
      return a + b

    r = jax.new_ref(jnp.arange(4.0))
    out = outer(r, jnp.float32(10.0))
    out2 = outer(r, jnp.float32(20.0))
    return out, out2, r[...]
  _assert_same(_both(build))


def test_make_jaxpr_stages_without_running():
  x = jax.new_ref(jnp.float32(0.0))
  inner = refhlo.jit(lambda: x.__setitem__(..., x[...] + 1.0))
  jaxpr = jax.make_jaxpr(inner)()
  assert float(x[...]) == 0.0  # not run
  assert jaxpr.effects, jaxpr  # the write is an effect of the staged call
  inner()
  assert float(x[...]) == 1.0


def test_jitted_twice_is_supported():
  f = refhlo.jit(refhlo.jit(_doubler(jax.jit).__wrapped__))
  assert float(f(jnp.float32(2.0))) == 4.0
  assert f.__wrapped__ is not None


def test_wrapper_keeps_name_and_doc_but_not_state():
  def g(x):
    """Doubles."""
    return 2 * x
  inner = refhlo.jit(g)
  outer = refhlo.jit(inner)
  assert outer.__name__ == "g" and outer.__doc__ == "Doubles."
  assert outer.__wrapped__ is inner
  assert outer._cache is not inner._cache  # pylint: disable=protected-access


def test_custom_vjp_calling_refhlo_jit():
  def build(jit):
    inner = _doubler(jit)

    @jax.custom_vjp
    def g(x):
      return inner(x)

    def fwd(x):
      return inner(x), x

    def bwd(x, ct):
      return (ct * 3.0,)

    g.defvjp(fwd, bwd)
    return g(2.0), jax.grad(g)(2.0)
  _assert_same(_both(build))


def test_run_state():
  from jax._src.state.discharge import run_state  # JAX's own API for refs

  def build(jit):
    @jit
    def bump(r):
      r[...] = r[...] + 1.0

    def body(refs):
      (r,) = refs
      bump(r)
      bump(r)
    return run_state(body)((jnp.float32(1.0),))
  _assert_same(_both(build))


def test_static_args_under_a_trace():
  def build(jit):
    f = functools.partial(jit, static_argnums=1)(lambda x, n: x * n)
    return jax.jit(lambda x: f(x, 3))(2.0), jax.grad(lambda x: f(x, 4))(1.0)
  _assert_same(_both(build))


# -- the jax.jit stages surface ------------------------------------------------


def test_trace_stage_gives_the_jaxpr_and_lowers():
  f = refhlo.jit(lambda r, x: r.__setitem__(..., r[...] + x))
  r = jax.new_ref(jnp.zeros(3))
  traced = f.trace(r, jnp.ones(3))
  assert "add" in str(traced.jaxpr)
  assert "ref.get" in traced.lower().as_text("ref")
  np.testing.assert_array_equal(np.asarray(r[...]), np.zeros(3))  # nothing ran


def test_lowered_as_hlo_text_and_compiler_ir():
  f = refhlo.jit(lambda x: x + 1)
  lowered = f.lower(jnp.arange(3.0))
  hlo = lowered.as_text("hlo")
  assert hlo.startswith("HloModule") and "add" in hlo
  assert lowered.compiler_ir().operation.name == "builtin.module"
  assert lowered.compiler_ir("hlo") == hlo
  with pytest.raises(ValueError, match="unknown dialect 'mhlo'"):
    lowered.as_text("mhlo")


def test_returning_a_ref_is_a_value_error_like_jax_jit():
  for jit in JITS.values():
    with pytest.raises(ValueError):
      jit(lambda: jax.new_ref(1.0))()
  with pytest.raises(refhlo.RefhloError):
    refhlo.jit(lambda: jax.new_ref(1.0))()


# -- jax.jit's keyword arguments -------------------------------------------------


def test_jit_keyword_arguments_are_accepted_and_results_match():
  def prog(r, x, y):
    r[0] = r[0] + x.sum()
    return x * 2.0 + y

  kw = dict(donate_argnums=(2,), keep_unused=True, inline=True,
            backend="cpu", compiler_options={"xla_cpu_enable_fast_math": False})
  outs = {}
  for name, jit in JITS.items():
    r = jax.new_ref(jnp.zeros(3))
    f = jit(prog, **kw)
    out = f(r, jnp.ones(3), jnp.full(3, 5.0))
    outs[name] = (out, r[...])
    # Staged into an enclosing jit too (compiler_options and backend are for
    # top-level calls only: jax.jit refuses them nested, and so does refhlo).
    g = jit(prog, donate_argnums=(2,), keep_unused=True, inline=True)
    outs[name + "_nested"] = jax.jit(lambda a, b: g(r, a, b))(jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="compiler_options"):
      jax.jit(lambda a, b: f(r, a, b))(jnp.ones(3), jnp.ones(3))
  _assert_same({"refhlo": outs["refhlo"], "jax": outs["jax"]})
  _assert_same({"refhlo": outs["refhlo_nested"], "jax": outs["jax_nested"]})


def test_compiler_options_reach_xla():
  f = refhlo.jit(lambda x: x + 1.0, compiler_options={"xla_no_such_option_zz": True})
  with pytest.raises(refhlo.RefhloError, match="No such compile option"):
    f(jnp.ones(2))


def test_device_argument_places_the_program():
  dev = jax.devices()[-1]
  f = refhlo.jit(lambda x: x * 3.0, device=dev)
  out = f(jnp.ones(2))
  assert out.devices() == {dev}
  np.testing.assert_array_equal(np.asarray(out), [3.0, 3.0])
  with pytest.raises(ValueError, match="can't specify both a device and a backend"):
    refhlo.jit(lambda x: x, device=dev, backend="cpu")


def test_shardings_at_top_level_on_one_device():
  """in_shardings/out_shardings at the top level are honoured (sharded ones
  in test_jit_sharded.py); under an enclosing jax.jit they are its business."""
  from jax.sharding import SingleDeviceSharding
  s = SingleDeviceSharding(jax.devices()[0])
  for kw in ({"in_shardings": s}, {"out_shardings": s}, {"in_shardings": (s, s), "out_shardings": s}):
    outs = []
    for jit in JITS.values():
      r = jax.new_ref(jnp.zeros(2))
      f = jit(lambda r, x: (r.__setitem__(..., r[...] + x), x + 1.0)[1], **kw)
      out = f(r, jnp.ones(2))
      outs.append((np.asarray(out), out.sharding, np.asarray(r[...])))
    (a, sa, ra), (b, sb, rb) = outs
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ra, rb)
    assert sa.is_equivalent_to(sb, 1), (sa, sb)
  f = refhlo.jit(lambda x: x + 1.0, in_shardings=s)
  np.testing.assert_array_equal(np.asarray(jax.jit(f)(jnp.ones(2))), [2.0, 2.0])


def test_non_callable_is_a_type_error_like_jax_jit():
  for jit in JITS.values():
    with pytest.raises(TypeError):
      jit(3)


# -- ahead-of-time stages -----------------------------------------------------------


def test_lower_abstract_refs_without_allocating():
  """A 1 GiB KV-cache update is lowered and compiled from abstract refs, and
  its copy report read, without allocating the cache."""
  from jax.ref import AbstractRef
  cache = AbstractRef(jax.core.ShapedArray((1 << 18, 1024), jnp.float32))  # 1 GiB

  def step(c, i, row):
    old = c[i]
    c[i] = row
    return old

  compiled = refhlo.jit(step).lower(cache, jnp.int32(0), jnp.zeros(1024)).compile()
  assert compiled.copy_report() == ""  # the swap is in place
  assert compiled.memory_analysis().temp_size_in_bytes < (1 << 20)
  assert compiled.cost_analysis()  # XLA's estimates, a non-empty dict


def test_compiled_rejects_other_signatures_like_jax():
  def f(r, x):
    r[0] = x
  for jit in JITS.values():
    compiled = jit(f).lower(jax.new_ref(jnp.zeros(4)), 1.0).compile()
    with pytest.raises(TypeError):
      compiled(jax.new_ref(jnp.zeros(5)), 1.0)
  r = jax.new_ref(jnp.zeros(4))
  refhlo.jit(f).lower(r, 1.0).compile()(r, 2.0)
  assert float(r[0]) == 2.0


def test_eval_shape_method():
  def f(r, x):
    r[0] = x
    return r[1:3] * 2, x.astype(jnp.int32)
  shapes = {name: jit(f).eval_shape(jax.new_ref(jnp.zeros(4)), 1.0)
            for name, jit in JITS.items()}
  assert shapes["refhlo"] == shapes["jax"]


def test_dead_inner_jit_with_internal_ref_is_removed_like_jax():
  """jax.jit DCEs the traced program before lowering; so does refhlo.jit (an
  unused inner jit whose only effects are on a ref it creates disappears)."""
  def f(x, y):
    @jax.jit
    def g(y):
      y_ref = jax.new_ref(y)
      y_ref[...] += 1
      return jax.freeze(y_ref)
    _ = g(y)
    return x
  for jit in JITS.values():
    assert "add" not in jit(f).lower(1, 2).as_text()
  assert int(refhlo.jit(f)(1, 2)) == 1


def test_dce_keeps_writes_to_outer_refs():
  r = jax.new_ref(jnp.zeros(2))

  def f(x):
    @jax.jit
    def g():
      r[0] = x
      return x
    _ = g()
    return x
  refhlo.jit(f)(3.0)
  assert float(r[0]) == 3.0
