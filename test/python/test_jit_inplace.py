"""Through the frontend: writes to a large ref are done in place (no copy of
the ref's buffer in XLA's optimized HLO, small temp memory), stages are
inspectable, and compiled executables are cached by signature."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import refhlo

ROWS, COLS = 16384, 1024          # f32: 64 MiB
REF_BYTES = ROWS * COLS * 4


@pytest.fixture(scope="module")
def big_ref():
  return jax.new_ref(jnp.zeros((ROWS, COLS), jnp.float32))


def _row_write(buf, i, row):
  buf[i] = row


def _row_swap(buf, i, row):
  old = buf[i]
  buf[i] = row
  return old


def _swap_api(buf, i, row):
  return jax.ref.swap(buf, i, row)


def _two_rows(buf, i, j, row):
  buf[i] += row
  buf[j] = buf[i] * 2


@pytest.mark.parametrize("fn", [_row_write, _row_swap, _swap_api])
def test_row_write_is_in_place(big_ref, fn):
  f = refhlo.jit(fn)
  row = jnp.arange(COLS, dtype=jnp.float32)
  compiled = f.lower(big_ref, 7, row).compile()
  assert compiled.copy_report() == ""
  stats = compiled.memory_analysis()
  assert stats.temp_size_in_bytes < REF_BYTES // 64, stats
  assert stats.alias_size_in_bytes >= REF_BYTES, stats
  assert compiled.donated_bytes() == REF_BYTES
  before = np.asarray(big_ref[7])
  out = f(big_ref, 7, row)
  np.testing.assert_array_equal(np.asarray(big_ref[7]), np.asarray(row))
  if out is not None:
    np.testing.assert_array_equal(np.asarray(out), before)
  big_ref[7] = jnp.zeros(COLS)


def test_two_rows_dynamic_in_place(big_ref):
  f = refhlo.jit(_two_rows)
  row = jnp.ones(COLS, jnp.float32)
  compiled = f.lower(big_ref, 3, 9, row).compile()
  assert compiled.copy_report() == ""
  assert compiled.memory_analysis().temp_size_in_bytes < REF_BYTES // 64
  f(big_ref, 3, 9, row)
  np.testing.assert_array_equal(np.asarray(big_ref[9]), 2 * np.ones(COLS))


def test_returning_whole_old_value_reports_a_copy():
  # Returning the ref's old contents needs a copy of the donated buffer; the
  # report names the Python line of the write that forced it.
  r = jax.new_ref(jnp.zeros((256, 256)))

  def f(r):
    old = r[...]
    r[0, 0] = 1.0
    return old

  report = refhlo.jit(f).lower(r).compile().copy_report()
  assert report, "expected a copy"
  assert __file__ in report


def test_stages_text_and_locations():
  r = jax.new_ref(jnp.zeros(4))

  def f(r, x):
    r[1] = x
    return r[2]

  lowered = refhlo.jit(f).lower(r, 2.0)
  ref_text = lowered.as_text("ref")
  assert " ref.swap %" in ref_text and "!ref.ref<tensor<4xf32>>" in ref_text
  assert '"ref.swap"(' in lowered.as_text("ref", generic=True)
  assert "loc(" not in ref_text
  with_locs = lowered.as_text("ref", debug_info=True)
  assert f'"{__file__}"' in with_locs
  hlo = lowered.as_text("stablehlo")
  assert "ref." not in hlo and "tf.aliasing_output" in hlo
  assert "HloModule" in lowered.compile().as_text()


def test_cache_by_signature_and_alias_pattern():
  calls = []

  def f(a, b):
    calls.append(1)
    a[0] += 1.0
    b[0] += 1.0

  g = refhlo.jit(f)
  r, s = jax.new_ref(jnp.zeros(2)), jax.new_ref(jnp.zeros(2))
  g(r, s)
  g(s, r)                      # same signature: no retrace
  assert len(calls) == 1
  g(r, r)                      # aliased: a new executable, sequential
  assert len(calls) == 2
  np.testing.assert_array_equal(np.asarray(r[...]), [4.0, 0.0])
  g(jax.new_ref(jnp.zeros(3)), s)   # new shape
  assert len(calls) == 3


def test_dispatch_overhead_not_above_jax_jit():
  def f(r, x):
    r[1] += x
    return x

  r = jax.new_ref(jnp.zeros(3))
  x = jnp.float32(1)
  ours, theirs = refhlo.jit(f), jax.jit(f)

  def per_call(fn, n=300):
    fn(r, x)
    best = float("inf")
    for _ in range(3):
      t = time.perf_counter()
      for _ in range(n):
        fn(r, x)
      best = min(best, (time.perf_counter() - t) / n)
    jax.block_until_ready(r[...])
    return best

  t_jax, t_ours = per_call(theirs), per_call(ours)
  # "No higher than jax.jit", with a margin for noisy machines; measured
  # ~11 us (refhlo) vs ~40 us (jax.jit) per call on CPU.
  assert t_ours < 1.25 * t_jax, (t_ours, t_jax)
