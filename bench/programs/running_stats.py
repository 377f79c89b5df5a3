"""Running mean and variance (Welford) accumulated in refs inside `fori_loop`."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(mean_ref, m2_ref, xs):
  import jax

  def body(i, _):
    x = xs[i]
    delta = x - mean_ref[...]
    mean_ref[...] += delta / (i + 1).astype(x.dtype)
    m2_ref[...] += delta * (x - mean_ref[...])
    return None

  jax.lax.fori_loop(0, xs.shape[0], body, None)


def functional_fn(mean, m2, xs):
  import jax

  def body(i, carry):
    mean, m2 = carry
    x = xs[i]
    delta = x - mean
    mean = mean + delta / (i + 1).astype(x.dtype)
    return mean, m2 + delta * (x - mean)

  return jax.lax.fori_loop(0, xs.shape[0], body, (mean, m2)), ()


def make(small: bool) -> Setup:
  n, dim = (4, 8) if small else (16, 1 << 22)  # 16 MiB accumulators
  rng = np.random.default_rng(3)
  xs = rng.standard_normal((n, dim), dtype=np.float32)
  zeros = np.zeros(dim, np.float32)
  return Setup([zeros, zeros.copy()], [xs], ref_fn, functional_fn, rtol=1e-4,
               atol=1e-4, rounds=3 if small else 30)


PROGRAM = Program("running_stats", "running mean/variance in refs inside fori_loop", make)
