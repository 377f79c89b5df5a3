"""refhlo.jit features checked beyond value equivalence: copy reports that
name the user's write, source locations in the emitted module (also through
`ref-opt --mlir-print-debuginfo`), `jax.debug.print` output, and the cache
keyed by how arguments alias closed-over refs."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import refhlo
from refhlo.compiler import xla as xla_lib
from refhlo.errors import RefhloError

HERE = __file__
REF_OPT = os.path.join(os.path.dirname(sys.executable), "ref-opt")


def line_of(fn, needle):
  lines, start = inspect.getsourcelines(fn)
  for k, text in enumerate(lines):
    if needle in text:
      return start + k
  raise AssertionError(needle)


# -- the seeds' examples verbatim, at module level, with `@refhlo.jit` -------------

mutable_value = jax.ref.new_ref(jax.numpy.array([0]))


@refhlo.jit
def f():
  old_val = jax.ref.get(mutable_value)
  mutable_value[0] += 100  # in-place mutation!
  return old_val


def test_seed_global_mutable_value():
  np.testing.assert_array_equal(np.asarray(mutable_value[...]), [0])
  np.testing.assert_array_equal(np.asarray(f()), [0])
  np.testing.assert_array_equal(np.asarray(mutable_value[...]), [100])
  np.testing.assert_array_equal(np.asarray(f()), [100])
  np.testing.assert_array_equal(np.asarray(mutable_value[...]), [200])


def mse(w, x, y):
  pred = x @ w
  return jnp.mean((pred - y) ** 2)


steps = 5
lr = 0.1


@refhlo.jit
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


def test_seed_train_with_refs_module_level():
  w0 = jnp.array([0.3, -0.7])
  x = jnp.arange(8.0).reshape(4, 2) / 8
  y = jnp.array([1.0, -1.0, 0.5, 0.0])
  losses_ref = jax.new_ref(jnp.zeros((steps,)))
  w_final = train_with_refs(w0, x, y, losses_ref)
  losses = losses_ref[...]
  jax_losses = jax.new_ref(jnp.zeros((steps,)))
  w_jax = jax.jit(train_with_refs.__wrapped__)(w0, x, y, jax_losses)
  np.testing.assert_allclose(np.asarray(w_final), np.asarray(w_jax), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(losses), np.asarray(jax_losses[...]),
                             rtol=1e-5)
  assert np.all(np.diff(np.asarray(losses)) < 0)   # training makes progress


# -- copy_report ------------------------------------------------------------------

def _switch_writers(k, r, row):
  def b0():
    r[0] = row                 # WRITE-A
    r[2] = row                 # WRITE-B
  def b1():
    r[1] = row * 2             # WRITE-C
    r[3] = row                 # WRITE-D
  def b2():
    pass
  # Branches writing two rows each cannot return just the written window, and
  # inside a loop they are not made loops themselves: the case keeps the buffer.
  lax.fori_loop(0, 2, lambda i, c: lax.switch(k, [b0, b1, b2]), None)


def test_copy_report_names_the_write_that_forced_a_copy():
  # Several `case` branches writing one ref in a form effect elimination
  # cannot make in place (docs/inplace.md, rule 3) make XLA:CPU copy the
  # buffer: the report names the line of a write.
  r = jax.new_ref(jnp.zeros((512, 256)))
  compiled = refhlo.jit(_switch_writers).lower(1, r, jnp.ones(256)).compile()
  report = compiled.copy_report()
  assert report, "expected XLA to copy the ref buffer"
  lines = report.splitlines()
  assert all("copy of 524288 bytes" in ln for ln in lines), report
  writes = {line_of(_switch_writers, f"WRITE-{m}") for m in "ABCD"}
  named = {int(m) for m in re.findall(rf"from {re.escape(HERE)}:(\d+)", report)}
  assert named & writes, report
  # ... and the program still runs correctly.
  refhlo.jit(_switch_writers)(1, r, jnp.ones(256))
  np.testing.assert_array_equal(np.asarray(r[1]), 2 * np.ones(256))
  np.testing.assert_array_equal(np.asarray(r[3]), np.ones(256))
  np.testing.assert_array_equal(np.asarray(r[0]), np.zeros(256))
  np.testing.assert_array_equal(np.asarray(r[2]), np.zeros(256))


def test_copy_report_names_the_write_when_in_place_is_disabled(monkeypatch):
  # Without region analysis XLA:CPU copies the buffer of a swap; the report
  # points at the swap's line.
  r = jax.new_ref(jnp.zeros((256, 256)))

  def swap_row(r, i, row):
    return jax.ref.swap(r, i, row)   # THE-SWAP

  real = xla_lib.compile_module
  monkeypatch.setattr(xla_lib, "compile_module",
                      lambda m, **kw: real(m, default_options=False, **kw))
  report = refhlo.jit(swap_row).lower(r, 3, jnp.ones(256)).compile().copy_report()
  assert f"{HERE}:{line_of(swap_row, 'THE-SWAP')}" in report, report
  monkeypatch.undo()
  assert refhlo.jit(swap_row).lower(r, 3, jnp.ones(256)).compile().copy_report() == ""


def test_copy_report_says_which_ref_why_and_what_avoids_it():
  # A loop that reads a ref, then a swap of it: region-based copy removal is
  # off for programs with loops, so XLA:CPU copies the buffer (twice).
  table = jax.new_ref(jnp.ones((512, 256)))
  other = jax.new_ref(jnp.zeros(8))

  def f(table, other, row):
    s = lax.fori_loop(0, 3, lambda k, c: c + table[k, 0], 0.0)  # THE-LOOP
    old = table[0]
    table[0] = row                                               # THE-WRITE
    other[0] = s
    return old

  report = refhlo.jit(f).lower(table, other, jnp.ones(256)).compile().copy_report()
  lines = report.splitlines()
  assert lines, "expected XLA to copy the buffer"
  for line in lines:
    assert line.startswith("ref 'table': copy of 524288 bytes from "), line
    assert "the program has a loop" in line and f"{HERE}:{line_of(f, 'THE-LOOP')}" in line
    assert "to avoid it: keep the loop that reads the ref and the write in two" in line
    assert "(HLO: %copy" in line
  assert any(f"{HERE}:{line_of(f, 'THE-WRITE')}" in ln for ln in lines), report


# -- locations ----------------------------------------------------------------------

def _located(r, x):
  r[1] = x                     # LOC-SET
  return r[2] * 2              # LOC-GET


def test_locations_in_the_ref_module_and_through_ref_opt(tmp_path):
  lowered = refhlo.jit(_located).lower(jax.new_ref(jnp.zeros(4)), 1.0)
  text = lowered.as_text("ref", debug_info=True)
  set_line = line_of(_located, "LOC-SET")
  get_line = line_of(_located, "LOC-GET")
  assert re.search(rf'ref\.swap %.*loc\("{re.escape(HERE)}":{set_line}:\d+\)', text) \
      or f'"{HERE}":{set_line}:' in text, text
  assert f'"{HERE}":{get_line}:' in text, text
  path = tmp_path / "located.mlir"
  path.write_text(text)
  out = subprocess.run([REF_OPT, str(path), "--ref-verify",
                        "--mlir-print-debuginfo"],
                       capture_output=True, text=True, check=True).stdout
  assert f'"{HERE}":{set_line}:' in out and f'"{HERE}":{get_line}:' in out, out
  # The lowered StableHLO keeps them too.
  hlo = lowered.as_text("stablehlo", debug_info=True)
  assert f'"{HERE}":{set_line}:' in hlo, hlo


# -- jax.debug.print -----------------------------------------------------------------

def test_debug_print_prints_the_values_in_order(capfd):
  r = jax.new_ref(jnp.zeros(3))

  def f(r, x):
    jax.debug.print("before {v}", v=r[0])
    def body(i, c):
      r[i] += x
      jax.debug.print("step {i} {v}", i=i, v=r[i])
      return c
    lax.fori_loop(0, 3, body, 0)
    jax.debug.print("after {v}", v=r[...].sum())

  refhlo.jit(f)(r, jnp.float32(2.0))
  jax.effects_barrier()
  out = capfd.readouterr().out.split("\n")
  out = [ln for ln in out if ln]
  assert out == ["before 0.0", "step 0 2.0", "step 1 2.0", "step 2 2.0",
                 "after 6.0"], out


def test_ordered_debug_print_in_a_ref_loop(capfd):
  r = jax.new_ref(jnp.zeros(3))

  def f(r, x):
    jax.debug.print("start {x}", x=x, ordered=True)
    def body(i, c):
      jax.debug.print("i={i} c={c}", i=i, c=c, ordered=True)
      r[i] += c
      return c * 2
    out = lax.fori_loop(0, 3, body, x)
    jax.debug.print("end {r}", r=r[...], ordered=True)
    return out

  out = refhlo.jit(f)(r, jnp.float32(1.0))
  jax.effects_barrier()
  assert float(out) == 8.0
  np.testing.assert_array_equal(np.asarray(r[...]), [1.0, 2.0, 4.0])
  lines = [ln for ln in capfd.readouterr().out.split("\n") if ln]
  assert lines == ["start 1.0", "i=0 c=1.0", "i=1 c=2.0", "i=2 c=4.0",
                   "end [1. 2. 4.]"], lines


# -- cache -------------------------------------------------------------------------

def test_closed_over_ref_passed_or_not_gets_its_own_executable():
  g = jax.new_ref(jnp.zeros(2))
  traces = []

  def f(r):
    traces.append(1)
    g[0] += 1.0
    r[1] += 10.0

  F = refhlo.jit(f)
  h = jax.new_ref(jnp.zeros(2))
  F(h)                                  # g and r distinct
  F(g)                                  # r is g: sequential, one buffer
  F(h)                                  # distinct again: cached
  F(g)                                  # cached
  assert len(traces) == 2
  np.testing.assert_array_equal(np.asarray(g[...]), [4.0, 20.0])
  np.testing.assert_array_equal(np.asarray(h[...]), [0.0, 20.0])

  G = refhlo.jit(f)                     # the other order of first calls
  G(g)
  G(h)
  np.testing.assert_array_equal(np.asarray(g[...]), [6.0, 30.0])
  np.testing.assert_array_equal(np.asarray(h[...]), [0.0, 30.0])


def test_new_static_value_and_dtype_recompile():
  traces = []

  def f(r, n):
    traces.append(n)
    r[...] += n

  F = refhlo.jit(f, static_argnums=1)
  r = jax.new_ref(jnp.zeros(2))
  F(r, 1)
  F(r, 1)
  F(r, 2)
  assert traces == [1, 2]
  F(jax.new_ref(jnp.zeros(2, jnp.int32)), 2)
  assert traces == [1, 2, 2]
  np.testing.assert_array_equal(np.asarray(r[...]), [4.0, 4.0])


def test_lower_then_call_reuses_the_executable():
  traces = []

  def f(r):
    traces.append(1)
    r[0] += 1.0

  F = refhlo.jit(f)
  r = jax.new_ref(jnp.zeros(2))
  compiled = F.lower(r).compile()
  compiled(r)
  F(r)
  assert len(traces) == 1               # lower traces; the calls do not
  np.testing.assert_array_equal(np.asarray(r[...]), [2.0, 0.0])


def test_xla_compile_failure_leaves_refs_intact(monkeypatch):
  r = jax.new_ref(jnp.arange(3.0))

  def f(r):
    r[0] = 9.0

  def fail(module, **kw):
    raise xla_lib.XlaCompileError("error: XLA could not compile the module: boom")

  monkeypatch.setattr(xla_lib, "compile_module", fail)
  with pytest.raises(RefhloError) as e:
    refhlo.jit(f)(r)
  assert str(e.value).startswith(f"{HERE}:{line_of(f, 'def f')}:1: error: XLA"), \
      str(e.value)
  assert not r._refs._buf.is_deleted()
  np.testing.assert_array_equal(np.asarray(r[...]), [0.0, 1.0, 2.0])
