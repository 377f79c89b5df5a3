"""The benchmark programs, one module each, each defining `PROGRAM`."""

from __future__ import annotations

import importlib

from bench.harness import Program

MODULES = ("train_loop", "ring_buffer", "kv_cache", "embedding_sgd",
           "running_stats", "histogram", "reduce_then_write", "dispatch")


def all_programs() -> list[Program]:
  return [importlib.import_module(f"{__name__}.{m}").PROGRAM for m in MODULES]
