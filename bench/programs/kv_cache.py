"""A KV-cache decode step: write the new K and V rows at `pos`, then attend
over the whole cache."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def _attend(keys, values, q):
  import jax
  import jax.numpy as jnp
  p = jax.nn.softmax(keys @ q / jnp.sqrt(jnp.float32(q.shape[0])))
  return p @ values


def ref_fn(k_ref, v_ref, pos, q, k, v):
  k_ref[pos] = k
  v_ref[pos] = v
  return _attend(k_ref[...], v_ref[...], q)


def functional_fn(keys, values, pos, q, k, v):
  keys = keys.at[pos].set(k)
  values = values.at[pos].set(v)
  return (keys, values), _attend(keys, values, q)


def make(small: bool) -> Setup:
  length, dim = (16, 8) if small else (16384, 4096)  # 256 MiB each
  rng = np.random.default_rng(1)
  keys = rng.standard_normal((length, dim), dtype=np.float32) * 0.01
  values = rng.standard_normal((length, dim), dtype=np.float32)
  q, k, v = (rng.standard_normal(dim, dtype=np.float32) for _ in range(3))
  return Setup([keys, values], [np.int32(length // 2), q, k, v], ref_fn,
               functional_fn, rtol=1e-4, atol=1e-4, rounds=3 if small else 30)


PROGRAM = Program("kv_cache", "KV-cache decode step: write K/V rows, attend", make)
