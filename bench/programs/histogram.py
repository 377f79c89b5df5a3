"""A histogram: `addupdate` of ones at sample indices, duplicates included."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(bins_ref, idx):
  import jax
  import jax.numpy as jnp
  jax.ref.addupdate(bins_ref, idx, jnp.ones(idx.shape, bins_ref.dtype))


def functional_fn(bins, idx):
  return (bins.at[idx].add(1),), ()


def make(small: bool) -> Setup:
  nbins, samples = (64, 256) if small else (1 << 26, 1 << 20)  # 256 MiB of bins
  rng = np.random.default_rng(4)
  idx = rng.integers(0, nbins, samples).astype(np.int32)
  idx[::7] = 5  # many duplicates
  return Setup([np.zeros(nbins, np.int32)], [idx], ref_fn, functional_fn,
               rounds=3 if small else 20)


PROGRAM = Program("histogram", "histogram: addupdate with duplicate indices", make)
