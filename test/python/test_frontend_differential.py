"""Differential test of the frontend: refhlo.jit against jax.jit.

For seeded random JAX programs using refs (`jaxgen.generate`: reads, writes,
`+=`, swaps, addupdates with every index form, views, refs created inside
loop / scan / cond bodies, out-of-range dynamic indices, fori / scan / while
/ cond / switch, nested loops, nested jax.jit, host callbacks), each side
runs on its own fresh refs, three times (the third call, with every scalar
argument one higher, takes refhlo.jit's per-call fast path); the returned values, the contents of every ref
(arguments and closed-over globals) and the host-callback logs after the
first and the third call must agree, and the first call's outputs must
survive the later calls. Where they apply, the program is also run by refhlo.jit without
refhlo's XLA options, and its emitted ref module by the NumPy interpreter.
An exception from refhlo.jit must be a `RefhloError` or of the type jax.jit
raises. The checking is `tools/fuzz.py` (`JaxChecker`), as in `make fuzz`.

Known-bug seeds are not marked xfail: a failure here is a bug to fix (or to
report). Reproduce one seed with `python tools/fuzz.py --kind jax --show
SEED` (add `--reduce` to shrink it); `python test/python/jaxgen.py SEED`
prints a standalone script comparing jax.jit with refhlo.jit.
"""

from __future__ import annotations

import collections
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))

import fuzz  # noqa: E402
import jaxgen  # noqa: E402

NUM_PROGRAMS = 130
NUM_LOOP_FREE = 30  # cond / switch only: compiled with XLA region analysis on

# Seeds where compiled jax.jit is wrong by an XLA bug and refhlo is right:
# XLA's algebraic simplifier folds JAX's dynamic_slice of a dynamic_slice (an
# out-of-range index through a dynamic window view) and drops the inner clamp.
# The checker re-runs jax.jit without that pass (`xla_disable_hlo_passes=
# algsimp`), which then agrees with refhlo and its interpreter. When XLA is
# fixed these become "ok" and the assertion below says so.
XLA_BUG_SEEDS = {30}
LOOP_FREE_XLA_BUG_SEEDS = {13}
# Seeds past the sample that once failed, kept as regressions: 821889, a
# write through a strided view indexed again, scattered into its gathered
# local copy, which XLA folded wrongly (ref-prepare-for-xla's barrier).
# 836651, a float32 sum of 8 copies of -5e8 logged by a host callback, whose
# last bits depend on the reduction order (compared as arrays are now).
REGRESSION_SEEDS = [821889, 836651]
SEEDS = list(range(NUM_PROGRAMS)) + REGRESSION_SEEDS
LOOP_FREE_SEEDS = list(range(NUM_LOOP_FREE))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # jax's int32 index overflow
@pytest.mark.parametrize("seed", SEEDS)
def test_refhlo_jit_matches_jax_jit(seed: int):
  res = fuzz.check("jax", seed)
  assert (res.status == "xla_bug") == (seed in XLA_BUG_SEEDS), res.klass
  assert not res.failed, (
      f"seed {seed}: {res.status}: {res.klass}\n  {res.detail}\n"
      f"  patterns: {', '.join(res.patterns)}\n  reproduce: {res.repro()}")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", LOOP_FREE_SEEDS)
def test_loop_free_refhlo_jit_matches_jax_jit(seed: int):
  res = fuzz.check("jax", seed, loop_free=True)
  assert (res.status == "xla_bug") == (seed in LOOP_FREE_XLA_BUG_SEEDS), res.klass
  assert not res.failed, (
      f"loop-free seed {seed}: {res.status}: {res.klass}\n  {res.detail}\n"
      f"  patterns: {', '.join(res.patterns)}\n  reproduce: {res.repro()} --no-loops")


def test_generator_is_deterministic_and_varied():
  a, b = jaxgen.generate(3), jaxgen.generate(3)
  assert a.source == b.source and a.patterns == b.patterns
  assert [s.value for s in a.scalars] == [s.value for s in b.scalars]
  sources = [jaxgen.generate(s).source for s in range(40)]
  assert len(set(sources)) == 40
  joined = "\n".join(sources)
  for needle in ("jax.new_ref(", "jax.ref.swap(", "jax.ref.addupdate(", "+= ",
                 ".at[", "jax.ds(", "lax.fori_loop(", "lax.scan(",
                 "lax.while_loop(", "lax.cond(", "lax.switch(", "jax.ref.freeze(",
                 "jax.debug.callback(", "jnp.array(["):
    assert needle in joined, needle


def test_patterns_are_common():
  """Every pattern the generator aims at shows up in the CI sample."""
  counts = collections.Counter(p for s in range(NUM_PROGRAMS) for p in jaxgen.generate(s).patterns)
  for pattern in ("readonly_fori_then_write", "readonly_scan_then_write",
                  "readonly_while_then_write", "readonly_cond_then_write",
                  "readonly_switch_then_write", "readonly_nested_then_write",
                  "swap_in_loop", "nested_loop", "nested_loop_write", "oob_dynamic",
                  "local_ref_in_fori", "local_ref_in_scan", "local_ref_reads_outer",
                  "strided_local_ref", "int_array_index", "dynamic_next_to_int_array",
                  "dynamic_strided_ds", "view", "debug_callback",
                  "debug_callback_ordered", "closed_over_ref", "while_cond_reads_ref",
                  "zero_size"):
    assert counts[pattern] >= 3, (pattern, counts[pattern])


def test_instances_are_independent():
  """Each side gets fresh refs: running one instance leaves another intact."""
  import numpy as np
  prog = jaxgen.generate(5)
  a, b = prog.instantiate(), prog.instantiate()
  before = [np.asarray(r[...]) for r in b.watch]
  for r in a.watch:
    r[...] = r[...] * 0 + 1
  for x, r in zip(before, b.watch):
    np.testing.assert_array_equal(np.asarray(r[...]), x)
