"""A whole-buffer reduction whose result is returned, and a row write that
does not depend on it: `s = buf[...].sum(); buf[i] = row; return s`.

The read of the whole buffer and the write are independent, so XLA may order
them either way; JAX's own ref lowering protects the read by copying the
buffer (2 ref-sized copies and a 256 MiB temporary), while refhlo's emission
lets XLA schedule the reduction before the in-place write."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(buf_ref, i, row):
  s = buf_ref[...].sum()
  buf_ref[i] = row
  return s


def functional_fn(buf, i, row):
  s = buf.sum()
  return (buf.at[i].set(row),), s


def make(small: bool) -> Setup:
  rows, width = (16, 8) if small else (65536, 1024)  # 256 MiB
  rng = np.random.default_rng(5)
  buf = rng.random((rows, width), dtype=np.float32)
  row = np.full(width, 0.5, np.float32)
  return Setup([buf], [np.int32(rows - 1), row], ref_fn, functional_fn, rtol=1e-4,
               atol=1e-3, rounds=3 if small else 20)


PROGRAM = Program("reduce_then_write",
                  "whole-buffer reduction returned, independent row write", make)
