"""A reduction over the whole buffer, then a write of one row."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(buf_ref, i):
  import jax.numpy as jnp
  s = buf_ref[...].sum()
  buf_ref[i] = jnp.full(buf_ref.shape[1:], s / buf_ref.size, buf_ref.dtype)
  return s


def functional_fn(buf, i):
  import jax.numpy as jnp
  s = buf.sum()
  return (buf.at[i].set(jnp.full(buf.shape[1:], s / buf.size, buf.dtype)),), s


def make(small: bool) -> Setup:
  rows, width = (16, 8) if small else (65536, 1024)  # 256 MiB
  rng = np.random.default_rng(5)
  buf = rng.random((rows, width), dtype=np.float32)
  return Setup([buf], [np.int32(rows - 1)], ref_fn, functional_fn, rtol=1e-4,
               atol=1e-3, rounds=3 if small else 20)


PROGRAM = Program("reduce_then_write", "reduce the whole buffer, then write a row", make)
