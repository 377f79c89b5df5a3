"""The ref programs refhlo.jit must agree with jax.jit on, and a first check
of their emission: the emitted `ref` module, run by the NumPy interpreter
(`refhlo.compiler.interpreter`, no passes), gives jax.jit's results and final
ref contents. `test_jit_equiv.py` runs the same programs end to end.

Each program is `build() -> Case`: a fresh function (closing over fresh refs
where it closes over any), its arguments (fresh refs) and the refs whose final
contents are compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from refhlo import runtime


@dataclasses.dataclass
class Case:
  fn: Callable
  args: tuple
  kwargs: dict = dataclasses.field(default_factory=dict)
  watch: list = dataclasses.field(default_factory=list)   # refs to compare
  static_argnums: tuple = ()
  # (results, final watched contents) when jax.jit cannot be the reference
  # (it refuses the program, or gets it wrong: see while_reads_ref_in_cond).
  expected: Any = None
  # False for programs the NumPy interpreter cannot run (host callbacks:
  # jax.debug.print lowers to a custom_call); test_jit_equiv still runs them.
  interpret: bool = True


PROGRAMS: dict[str, Callable[[], Case]] = {}


def program(fn):
  PROGRAMS[fn.__name__] = fn
  return fn


def refs_in(*trees):
  return [x for x in jax.tree_util.tree_leaves(trees) if isinstance(x, jax.Ref)]


# -- the seeds' examples (unchanged but for the decorator) ---------------------

steps = 5
lr = 0.1


def mse(w, x, y):
  pred = x @ w
  return jnp.mean((pred - y) ** 2)


@program
def seed_loss_logging():
  def train_with_refs(w, x, y, losses_ref):
    def body(w, t):
      loss, grad = jax.value_and_grad(mse)(w, x, y)
      w = w - lr * grad
      # The loss is diagnostic data, not optimization state.
      losses_ref[t] = jax.lax.stop_gradient(loss)
      return w, None
    w, _ = jax.lax.scan(
        body,
        w,
        jnp.arange(steps),
    )
    return w
  w0 = jnp.array([0.5, -0.25, 1.0])
  x = jnp.arange(12.0).reshape(4, 3) / 10
  y = jnp.array([1.0, 0.0, -1.0, 2.0])
  losses_ref = jax.new_ref(jnp.zeros((steps,)))
  return Case(train_with_refs, (w0, x, y, losses_ref), watch=[losses_ref])


@program
def seed_global_counter():
  mutable_value = jax.ref.new_ref(jax.numpy.array([0]))

  def f():
    old_val = jax.ref.get(mutable_value)
    mutable_value[0] += 100  # in-place mutation!
    return old_val
  return Case(f, (), watch=[mutable_value])


@program
def seed_slice_update():
  def f(x_ref, i, delta):
    x_ref[1] += 10
    x_ref[i] += delta
    return jnp.sin(x_ref[...])
  x_ref = jax.new_ref(jnp.array([1., 2., 3.]))
  return Case(f, (x_ref, 2, 0.5), watch=[x_ref])


@program
def seed_refs_in_cond():
  def f(p, r):
    def yes():
      r[0] += 1.0
    def no():
      r[1] -= 1.0
    lax.cond(p > 0, yes, no)
    lax.cond(p < 0, yes, no)
    return r[...] * 2
  r = jax.new_ref(jnp.zeros(3))
  return Case(f, (jnp.float32(1.0), r), watch=[r])


@program
def seed_refs_in_while():
  def f(n, r):
    def cond(i):
      return i < n
    def body(i):
      r[0] += i
      r[1 + i % 3] = i.astype(jnp.float32)
      return i + 1
    return lax.while_loop(cond, body, 0)
  r = jax.new_ref(jnp.zeros(4))
  return Case(f, (20, r), watch=[r])


@program
def seed_refs_in_fori():
  def f(r):
    def body(i, acc):
      r[i] = (i * i).astype(r.dtype)
      return acc + r[i]
    return lax.fori_loop(0, r.shape[0], body, 0.0)
  r = jax.new_ref(jnp.zeros(6))
  return Case(f, (r,), watch=[r])


@program
def seed_grad_internal_ref():
  def loss(w, x):
    acc = jax.new_ref(jnp.zeros_like(w))
    for k in range(3):
      acc[...] += jnp.tanh(w * x[k])
    return jnp.sum(jax.ref.freeze(acc) ** 2)

  def f(w, x):
    return jax.value_and_grad(loss)(w, x)
  w = jnp.array([0.1, -0.2, 0.3])
  x = jnp.arange(9.0).reshape(3, 3) / 5
  return Case(f, (w, x))


@program
def seed_vjp_with_refs_embedding():
  def lookup(table, ids):
    return jnp.tanh(table[ids]).sum(axis=-1)

  def f(table, ids, ct, grad_ref):
    _, f_vjp = jax.vjp(lambda t: lookup(t, ids), table)
    f_vjp.with_refs(grad_ref)(ct)
    f_vjp.with_refs(grad_ref)(ct * 2)
  table = jnp.arange(24.0).reshape(8, 3) / 24
  ids = jnp.array([1, 5, 1, 7])
  ct = jnp.array([1.0, 2.0, 3.0, 4.0])
  grad_ref = jax.new_ref(jnp.ones((8, 3)))
  return Case(f, (table, ids, ct, grad_ref), watch=[grad_ref])


# -- indexing --------------------------------------------------------------------

@program
def index_negative_ints():
  def f(r, v):
    r[-1] = v
    r[-2, -1] = 7.0
    return r[-3]
  r = jax.new_ref(jnp.arange(20.0).reshape(5, 4))
  return Case(f, (r, jnp.ones(4)), watch=[r])


@program
def index_strided_slices():
  def f(r):
    r[1:7:2] = r[0:3] * 10
    r[::3] += 1.0
    return r[2::4]
  r = jax.new_ref(jnp.arange(10.0))
  return Case(f, (r,), watch=[r])


@program
def index_ellipsis():
  def f(r, v):
    r[..., 0] = v
    r[1, ...] += 1.0
    return r[...], r[..., -1]
  r = jax.new_ref(jnp.arange(12.0).reshape(3, 4))
  return Case(f, (r, jnp.array([9.0, 8.0, 7.0])), watch=[r])


@program
def index_traced_scalars():
  def f(r, i, j):
    old = r[i, j]
    r[i, j] = old + 100.0
    r[i] += 1.0
    r[:, j] = r[:, j] * 2
    return old, r[-i - 1]
  r = jax.new_ref(jnp.arange(12.0).reshape(3, 4))
  return Case(f, (r, 1, jnp.int32(-2)), watch=[r])


@program
def index_dynamic_slice():
  def f(r, i):
    r[jax.ds(i, 3)] = jnp.array([1.0, 2.0, 3.0])
    r[jax.ds(i + 4, 2)] += 10.0
    return r[jax.ds(i, 2)]
  r = jax.new_ref(jnp.zeros(10))
  return Case(f, (r, 2), watch=[r])


@program
def index_dynamic_slice_clamped():
  def f(r, i):
    r[jax.ds(i, 3)] = jnp.array([1.0, 2.0, 3.0])
    return r[jax.ds(i, 4)]
  r = jax.new_ref(jnp.zeros(10))
  return Case(f, (r, 9), watch=[r])


@program
def index_int_array_get_set():
  def f(r, idx, vals):
    got = r[idx]
    r[idx] = vals
    return got
  r = jax.new_ref(jnp.arange(10.0))
  return Case(f, (r, jnp.array([3, -1, 0]), jnp.array([30.0, 90.0, 0.5])),
              watch=[r])


@program
def index_int_array_addupdate_duplicates():
  def f(r, idx):
    r[idx] += jnp.ones(idx.shape)
    jax.ref.addupdate(r, idx, 2 * jnp.ones(idx.shape))
  r = jax.new_ref(jnp.zeros(6))
  return Case(f, (r, jnp.array([1, 1, 4, 1])), watch=[r])


@program
def index_advanced_middle_dim():
  def f(r, idx):
    got = r[:, idx, :]          # (2, 3, 4): advanced dims stay in place
    r[:, idx, 1:3] = got[..., :2] + 100.0
    return got
  r = jax.new_ref(jnp.arange(40.0).reshape(2, 5, 4))
  return Case(f, (r, jnp.array([4, 0, 2])), watch=[r])


@program
def index_advanced_2d_arrays():
  def f(r, rows, cols):
    got = r[rows, cols]
    r[rows, cols] = -got
    return got, r[1:3, cols]
  r = jax.new_ref(jnp.arange(20.0).reshape(4, 5))
  return Case(f, (r, jnp.array([[0], [3]]), jnp.array([1, 4])), watch=[r])


@program
def index_advanced_noncontiguous():
  def f(r, a, b):
    got = r[a, :, b]            # separated advanced dims: batch dims first
    r[a, 1:3, b] = got[:, 1:3] * 0
    return got
  r = jax.new_ref(jnp.arange(60.0).reshape(3, 4, 5))
  return Case(f, (r, jnp.array([2, 0]), jnp.array([1, 4])), watch=[r])


@program
def index_swap():
  def f(r, i, row):
    old = jax.ref.swap(r, i, row)
    r[i], prev = old * 2, r[i]
    return old, prev
  r = jax.new_ref(jnp.arange(12.0).reshape(4, 3))
  return Case(f, (r, 2, jnp.array([7.0, 8.0, 9.0])), watch=[r])


@program
def index_pallas_ds_with_stride():
  from jax.experimental import pallas as pl

  def f(r, i):
    r[pl.ds(i, 3, 2)] = jnp.array([1.0, 2.0, 3.0])
    r[jax.ds(i + 1, 2, 3)] += 10.0
    return r[pl.ds(i, 4)], r[pl.ds(0, 3, 4)]
  r = jax.new_ref(jnp.zeros(12))
  return Case(f, (r, 2), watch=[r])


@program
def index_adjacent_advanced_after_slice():
  def f(r, a, b):
    got = r[:, a, b]            # adjacent advanced dims in the middle: in place
    r[1:, a, b] = got[1:] * -1
    r[:, a, b] += 0.5
    return got
  r = jax.new_ref(jnp.arange(60.0).reshape(3, 4, 5))
  return Case(f, (r, jnp.array([[0, 3], [2, 1]]), jnp.array([4, 0])),
              watch=[r])


@program
def index_int_with_array_and_slice():
  def f(r, idx, i):
    got = r[1, idx, 1:3]        # int + array adjacent: both advanced
    r[i, idx, :] = jnp.zeros((idx.shape[0], 4))
    sep = r[idx, 2:4, -1]       # array, slice, int: separated, batch first
    r[idx, 0, 0] += 1.0
    return got, sep
  r = jax.new_ref(jnp.arange(48.0).reshape(3, 4, 4))
  return Case(f, (r, jnp.array([2, 0, 3]), 2), watch=[r])


@program
def index_traced_scalar_with_array_swap():
  def f(r, i, idx, vals):
    old = jax.ref.swap(r, (i, idx), vals)
    old2 = jax.ref.swap(r, (slice(None), idx[:1]), jnp.ones((3, 1)))
    jax.ref.addupdate(r, (i, slice(0, 4, 3)), jnp.array([5.0, 6.0]))
    return old, old2, jax.ref.get(r, (idx[0], slice(None)))
  r = jax.new_ref(jnp.arange(15.0).reshape(3, 5))
  return Case(f, (r, jnp.int32(-1), jnp.array([4, 1]), jnp.array([8.0, 9.0])),
              watch=[r])


@program
def index_view_then_index():
  def f(r, i):
    v = r.at[1:3]
    v[0, i] = 42.0
    v.at[:, 1:][1] += 1.0
    return v[...], r.at[i][::2]
  r = jax.new_ref(jnp.arange(16.0).reshape(4, 4))
  return Case(f, (r, 1), watch=[r])


@program
def debug_print_with_refs():
  def f(r, x):
    jax.debug.print("x={x} r={r}", x=x, r=r[0])

    def body(i, c):
      jax.debug.print("i={i}", i=i)
      r[i] += c
      return c + x
    out = lax.fori_loop(0, 3, body, x)
    jax.debug.print("after: {r}", r=r[...])
    return out
  r = jax.new_ref(jnp.zeros(3))
  return Case(f, (r, jnp.float32(1.5)), watch=[r], interpret=False)


@program
def value_and_grad_with_ref_argument_logging():
  def f(w, x, log, step):
    def loss(w):
      l = jnp.mean((x @ w) ** 2)
      log[step] = lax.stop_gradient(l)
      return l
    val, g = jax.value_and_grad(loss)(w)
    _, vjp = jax.vjp(loss, w)
    (g2,) = vjp(jnp.float32(2.0))
    return val, g, g2
  log = jax.new_ref(jnp.zeros(4))
  return Case(f, (jnp.array([0.5, -1.0]), jnp.arange(6.0).reshape(3, 2) / 6,
                  log, 2), watch=[log])


@program
def cond_inside_scan_inside_while():
  def f(n, r):
    def body(k):
      def sbody(c, x):
        lax.cond(x > 1.0, lambda: r.__setitem__(0, r[0] + x), lambda: None)
        r[1] += 1.0
        return c + x, r[0]
      c, ys = lax.scan(sbody, 0.0, jnp.arange(4.0))
      r[2] = c + ys.sum()
      return k + 1
    return lax.while_loop(lambda k: k < n, body, 0)
  r = jax.new_ref(jnp.zeros(3))
  return Case(f, (3, r), watch=[r])


# -- refs created inside ---------------------------------------------------------

@program
def internal_new_ref_freeze():
  def f(x):
    s = jax.new_ref(jnp.zeros_like(x))
    for k in range(3):
      s[k] = x[k] * k
    s[...] += 1.0
    return jax.ref.freeze(s)
  return Case(f, (jnp.arange(4.0),))


@program
def internal_empty_ref_free():
  def f(x):
    s = jax.empty_ref(jax.ShapeDtypeStruct((4,), jnp.float32))
    s[...] = x * 3
    y = s[1:3].sum()
    jax.free_ref(s)
    return y
  return Case(f, (jnp.arange(4.0),))


# -- control flow, nesting, transformations ---------------------------------------

@program
def switch_with_refs():
  def f(k, r):
    def b0():
      r[0] = 10.0
    def b1():
      r[1] += r[0]
    def b2():
      r[...] = -r[...]
    lax.switch(k, [b0, b1, b2])
    lax.switch(k + 1, [b0, b1, b2])
    return r[2]
  r = jax.new_ref(jnp.array([1.0, 2.0, 3.0]))
  return Case(f, (1, r), watch=[r])


@program
def nested_jit_with_refs():
  @jax.jit
  def inner(r, x):
    r[...] += x
    return r[0]

  def f(r, x):
    a = inner(r, x)
    b = inner(r, 2 * x)
    return a + b
  r = jax.new_ref(jnp.zeros(3))
  return Case(f, (r, jnp.array([1.0, 2.0, 3.0])), watch=[r])


@program
def nested_jit_pure():
  inner = jax.jit(lambda x: jnp.cos(x) * 2)

  def f(r, x):
    r[...] = inner(x) + inner(r[...])
  r = jax.new_ref(jnp.ones(3))
  return Case(f, (r, jnp.arange(3.0)), watch=[r])


@program
def scan_accumulate_into_ref():
  def f(xs, acc):
    def body(c, x):
      acc[...] += x
      acc[0] += c
      return c + 1.0, acc[1]
    return lax.scan(body, 0.0, xs)
  acc = jax.new_ref(jnp.zeros(3))
  return Case(f, (jnp.arange(12.0).reshape(4, 3), acc), watch=[acc])


@program
def vmap_over_refs():
  def f(r, xs):
    def one(row_ref, x):
      row_ref[...] += x
      row_ref[0] = x.sum()
    jax.vmap(one)(r, xs)
    return r[...].sum()
  r = jax.new_ref(jnp.zeros((4, 3)))
  return Case(f, (r, jnp.arange(12.0).reshape(4, 3)), watch=[r])


@program
def grad_logging_forward_value():
  def f(w, log):
    def loss(w):
      l = jnp.sum(jnp.sin(w) ** 2)
      log[0] = lax.stop_gradient(l)
      return l
    g = jax.grad(loss)(w)
    log[1] = g.sum()
    return g
  log = jax.new_ref(jnp.zeros(2))
  return Case(f, (jnp.array([0.3, 0.6, 0.9]), log), watch=[log])


@program
def pytree_args_and_kwargs():
  def f(state, x, *, scale):
    state["count"][...] += 1
    state["hist"][state["count"][...] % 4] = x * scale
    return {"c": state["count"][...], "x": (x, x * 2)}
  state = {"count": jax.new_ref(jnp.int32(2)), "hist": jax.new_ref(jnp.zeros(4))}
  return Case(f, (state, 3.0), {"scale": jnp.float32(0.5)},
              watch=refs_in(state))


@program
def static_argnums_unrolled():
  def f(n, r):
    for k in range(n):
      r[k] = float(k * k)
    return r[...]
  r = jax.new_ref(jnp.zeros(5))
  return Case(f, (4, r), watch=[r], static_argnums=(0,))


@program
def multiple_refs_and_dtypes():
  def f(a, b, c):
    a[0] = b[...].sum()
    b[...] = b[...] * 2
    c[1] = a[0] > 3
    return a[...], c[...]
  a = jax.new_ref(jnp.zeros(2, jnp.int32))
  b = jax.new_ref(jnp.arange(4, dtype=jnp.int32))
  c = jax.new_ref(jnp.zeros(3, jnp.bool_))
  return Case(f, (a, b, c), watch=[a, b, c])


@program
def read_only_ref():
  def f(table, i):
    return table[i] * 2
  table = jax.new_ref(jnp.arange(12.0).reshape(4, 3))
  return Case(f, (table, 3), watch=[table])


@program
def closed_over_and_argument_refs():
  counter = jax.new_ref(jnp.int32(0))

  def f(buf, x):
    counter[...] += 1
    buf[counter[...] % 3] = x
    return counter[...]
  buf = jax.new_ref(jnp.zeros((3, 2)))
  return Case(f, (buf, jnp.array([1.0, 2.0])), watch=[counter, buf])


@program
def while_reads_ref_in_cond():
  # jax.jit 0.10.2 reads refs in a while_loop's cond once, before the loop
  # (the cond's ref operands become loop-invariant constants when discharged),
  # so it would loop forever here; refhlo re-reads them every iteration.
  def f(r):
    def cond(_):
      return r[0] < 100.0
    def body(k):
      r[0] = r[0] * 2 + 1
      r[k % 2 + 1] += 1.0
      return k + 1
    return lax.while_loop(cond, body, 0)
  r = jax.new_ref(jnp.array([1.0, 0.0, 0.0]))
  # 1 -> 3 -> 7 -> 15 -> 31 -> 63 -> 127: six iterations.
  return Case(f, (r,), watch=[r],
              expected=(np.int32(6), [np.array([127.0, 3.0, 3.0], np.float32)]))


@program
def same_ref_passed_twice():
  # jax.jit refuses aliased ref arguments; refhlo runs them sequentially.
  def f(a, b, x):
    a[0] = x
    b[0] += 1.0
    a[1] = b[0] * 10
    return a[...] + b[...]
  r = jax.new_ref(jnp.zeros(3))
  return Case(f, (r, r, 5.0), watch=[r],
              expected=(np.array([12.0, 120.0, 0.0], np.float32),
                        [np.array([6.0, 60.0, 0.0], np.float32)]))


@program
def ref_passed_and_closed_over():
  g = jax.new_ref(jnp.zeros(2))

  def f(r):
    g[0] = 4.0
    r[1] = r[0] + g[0]
    return g[...]
  return Case(f, (g,), watch=[g],
              expected=(np.array([4.0, 8.0], np.float32),
                        [np.array([4.0, 8.0], np.float32)]))


# -- running ------------------------------------------------------------------------

def run_jax(case: Case):
  """jax.jit's results and final contents of the watched refs."""
  if case.expected is not None:
    return case.expected
  out = jax.jit(case.fn, static_argnums=case.static_argnums)(
      *case.args, **case.kwargs)
  return out, [np.asarray(r[...]) for r in case.watch]


def assert_trees_close(a, b):
  la, ta = jax.tree_util.tree_flatten(a)
  lb, tb = jax.tree_util.tree_flatten(b)
  assert ta == tb, (ta, tb)
  for x, y in zip(la, lb):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape and x.dtype == y.dtype, (x, y)
    np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)


def run_interpreter(case: Case):
  """Emits `case` and runs the emitted module in the NumPy interpreter."""
  out, cells = runtime.interpret_call(case.fn, case.args, case.kwargs,
                                      case.static_argnums)
  final = [cells[id(r)].value() if id(r) in cells else np.asarray(r[...])
           for r in case.watch]
  return out, final


@pytest.mark.parametrize(
    "name", sorted(n for n in PROGRAMS if PROGRAMS[n]().interpret))
def test_emission_matches_jax(name):
  expected = run_jax(PROGRAMS[name]())
  case = PROGRAMS[name]()
  got = run_interpreter(case)
  assert_trees_close(got, expected)


def test_enough_programs():
  assert len(PROGRAMS) >= 30
