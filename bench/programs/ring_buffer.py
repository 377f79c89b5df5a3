"""A ring buffer push that returns the evicted row: `old = buf[i]; buf[i] = row`
(a swap). JAX's own ref lowering copies the whole buffer for this."""

from __future__ import annotations

import numpy as np

from bench.harness import Program, Setup


def ref_fn(buf_ref, i, row):
  old = buf_ref[i]
  buf_ref[i] = row
  return old


def functional_fn(buf, i, row):
  return (buf.at[i].set(row),), buf[i]


def make(small: bool) -> Setup:
  rows, width = (16, 8) if small else (65536, 1024)  # 256 MiB
  buf = np.arange(rows * width, dtype=np.float32).reshape(rows, width)
  return Setup([buf], [np.int32(rows // 3), np.full(width, -1.0, np.float32)],
               ref_fn, functional_fn, rounds=3 if small else 20)


PROGRAM = Program("ring_buffer", "ring-buffer push returning the evicted row (swap)", make)
