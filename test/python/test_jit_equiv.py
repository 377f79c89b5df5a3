"""refhlo.jit agrees with jax.jit: returned values and final ref contents, for
every program of test_jit_programs.PROGRAMS (the seeds' examples among them),
run end to end (trace, emit, ref-to-stablehlo, XLA, donation, rebinding)."""

from __future__ import annotations

import numpy as np
import pytest

import refhlo
from test_jit_programs import PROGRAMS, assert_trees_close, run_jax


def run_refhlo(case, calls: int = 1):
  f = refhlo.jit(case.fn, static_argnums=case.static_argnums)
  for _ in range(calls):
    out = f(*case.args, **case.kwargs)
  return out, [np.asarray(r[...]) for r in case.watch]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_matches_jax(name):
  expected = run_jax(PROGRAMS[name]())
  got = run_refhlo(PROGRAMS[name]())
  assert_trees_close(got, expected)


@pytest.mark.parametrize("name", ["seed_loss_logging", "seed_global_counter",
                                  "scan_accumulate_into_ref",
                                  "closed_over_and_argument_refs"])
def test_repeated_calls_match_jax(name):
  # The second call hits the cache and sees the buffers the first rebound.
  case = PROGRAMS[name]()
  if case.expected is not None:
    pytest.fail("needs a jax.jit reference")
  jf = __import__("jax").jit(case.fn, static_argnums=case.static_argnums)
  jf(*case.args, **case.kwargs)
  expected = (jf(*case.args, **case.kwargs),
              [np.asarray(r[...]) for r in case.watch])
  got = run_refhlo(PROGRAMS[name](), calls=2)
  assert_trees_close(got, expected)
