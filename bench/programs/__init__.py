"""The benchmark programs, one module each, each defining `PROGRAM`."""

from __future__ import annotations

import importlib

from bench.harness import Program

MODULES = ("train_loop", "ring_buffer", "kv_cache", "embedding_sgd",
           "running_stats", "histogram", "reduce_then_write", "dispatch")


def all_programs() -> list[Program]:
  """Each module's `PROGRAMS` (several variants) or its one `PROGRAM`."""
  out: list[Program] = []
  for m in MODULES:
    mod = importlib.import_module(f"{__name__}.{m}")
    out.extend(getattr(mod, "PROGRAMS", (mod.PROGRAM,)))
  return out
