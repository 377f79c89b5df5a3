"""An embedding SGD step: `jax.grad` through a gather from a table held in a
ref, the step applied to the ref. JAX differentiates the gather into a dense
table-sized gradient; the careful functional user updates only the gathered
rows (`table.at[idx].add(-lr * g)`); refhlo's `ref-sparse-updates` pass makes
the ref program do the same."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup

LR = 0.05


def _loss_rows(rows, x, y):
  import jax.numpy as jnp
  return jnp.mean(((rows * x).sum(-1) - y) ** 2)


def ref_fn(table_ref, idx, x, y):
  import jax
  g = jax.grad(lambda t: _loss_rows(t[idx], x, y))(table_ref[...])
  table_ref[...] = table_ref[...] - LR * g


def functional_fn(table, idx, x, y):
  import jax
  g = jax.grad(_loss_rows)(table[idx], x, y)
  return (table.at[idx].add(-LR * g),), ()


def make(small: bool) -> Setup:
  rows, dim, batch = (32, 4, 8) if small else (1 << 20, 64, 1024)  # 256 MiB
  rng = np.random.default_rng(2)
  table = rng.standard_normal((rows, dim), dtype=np.float32)
  idx = rng.integers(0, rows, batch).astype(np.int32)
  idx[: batch // 4] = idx[0]  # duplicates, as in real batches
  x = rng.standard_normal((batch, dim), dtype=np.float32)
  y = rng.standard_normal(batch, dtype=np.float32)
  return Setup([table], [idx, x, y], ref_fn, functional_fn, rtol=1e-4, atol=1e-5,
               rounds=3 if small else 20)


PROGRAM = Program("embedding_sgd", "embedding SGD: grad through a gather, update a ref", make)
