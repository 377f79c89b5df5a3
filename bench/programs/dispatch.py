"""Dispatch overhead: a tiny function with one ref argument."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(x_ref):
  x_ref[...] += 1.0


def functional_fn(x):
  return (x + 1.0,), ()


def make(small: bool) -> Setup:
  return Setup([np.zeros(4, np.float32)], [], ref_fn, functional_fn,
               rounds=5 if small else 200)


PROGRAM = Program("dispatch", "dispatch overhead: tiny function, one ref", make)
