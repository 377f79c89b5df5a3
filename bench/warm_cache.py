"""First call with a cold and a warm persistent compilation cache.

    python -m bench.warm_cache [--small] [--json PATH]
    python -m bench --only warm_cache

For each bench program and each of `refhlo.jit` and `jax.jit` (with refs), a
fresh process starts JAX's CPU backend (one tiny jax.jit call, untimed),
makes the program's refs and arguments and times the first call less the
second (the program's own run time): trace, lower, compile or load from the
cache; refhlo's one-time set-up in a process (its MLIR context, dialects,
compiler modules) is part of it. Each
runs twice on one temporary `jax_compilation_cache_dir` (thresholds at
zero, so every executable is stored): the first process compiles and fills
the cache (cold), the second loads (warm). Both jits honour the cache the
same way: tracing and lowering are paid in every process, XLA's compile
only in the first.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _first_call(name: str, variant: str, small: bool) -> float:
  """In this process (a fresh one): seconds of the first call of `variant`
  ("refhlo" or "jax_refs") on program `name`, less the second call's."""
  import jax

  from bench.harness import RefRunner, _ref_buffer, refhlo_jit
  from bench.programs import all_programs
  jax.block_until_ready(jax.jit(lambda x: x + 1)(1.0))  # the backend, untimed
  (program,) = [p for p in all_programs() if p.name == name]
  setup = program.make(small)
  runner = RefRunner(refhlo_jit() if variant == "refhlo" else jax.jit, setup)
  # The refs' and arguments' transfers to the device finish before the clock.
  jax.block_until_ready(([_ref_buffer(r) for r in runner.refs], runner.args))
  t = time.perf_counter()
  runner.run()
  first = time.perf_counter() - t
  t = time.perf_counter()
  runner.run()
  # The first call's cost beyond a run: tracing, lowering, compile or load.
  return first - (time.perf_counter() - t)


def _child(name: str, variant: str, small: bool, cache_dir: str) -> float:
  code = (
      "import sys, jax\n"
      "jax.config.update('jax_compilation_cache_dir', sys.argv[1])\n"
      "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)\n"
      "jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)\n"
      "from bench.warm_cache import _first_call\n"
      "print(_first_call(sys.argv[2], sys.argv[3], sys.argv[4] == '1'))\n")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  proc = subprocess.run(
      [sys.executable, "-c", code, cache_dir, name, variant, "1" if small else "0"],
      cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
  if proc.returncode != 0:
    raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
                       else f"exit status {proc.returncode}")
  return float(proc.stdout.strip().splitlines()[-1])


def run_warm_cache(small: bool = False, names: list[str] | None = None
                   ) -> list[dict[str, Any]]:
  """Per program: first-call seconds of refhlo.jit and jax.jit, cold and warm."""
  from bench.programs import all_programs
  rows = []
  for p in all_programs():
    if names and p.name not in names:
      continue
    row: dict[str, Any] = {"program": p.name}
    for variant, key in (("refhlo", "refhlo"), ("jax_refs", "jax")):
      with tempfile.TemporaryDirectory() as d:
        row[f"{key}_cold_s"] = _child(p.name, variant, small, d)
        row[f"{key}_warm_s"] = _child(p.name, variant, small, d)
    rows.append(row)
  return rows


def lines(rows: list[dict[str, Any]]) -> list[str]:
  out = []
  for r in rows:
    out.append(f"{r['program']:<20} refhlo {r['refhlo_cold_s'] * 1e3:8.1f} -> "
               f"{r['refhlo_warm_s'] * 1e3:7.1f} ms   jax.jit {r['jax_cold_s'] * 1e3:8.1f} -> "
               f"{r['jax_warm_s'] * 1e3:7.1f} ms")
  return out


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(prog="python -m bench.warm_cache",
                               description=__doc__.splitlines()[0])
  ap.add_argument("--small", action="store_true")
  ap.add_argument("--only", default=None, help="comma-separated program names")
  ap.add_argument("--json", default=None)
  a = ap.parse_args(argv)
  rows = run_warm_cache(a.small, a.only.split(",") if a.only else None)
  print("first call less the second, cold -> warm persistent cache (a fresh "
        "process each):")
  for line in lines(rows):
    print("  " + line)
  if a.json:
    pathlib.Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
