"""Pipeline scaling: `ref-to-stablehlo` run in-process on generated
straight-line ref programs of 1k, 10k and 50k ref ops; the time per op should
stay flat.

One-time costs (lazy imports of the pass modules, the first PassManager, the
first context) are paid by an untimed warm-up run before measuring; each size
is then parsed and lowered several times in a fresh context and the median
parse and pipeline times are reported, with both per op."""

from __future__ import annotations

import gc
import statistics
import time

SIZES = (1_000, 10_000, 50_000)
SMALL_SIZES = (100, 1_000)
REPEATS = {1_000: 7, 10_000: 5, 50_000: 3}  # timed repetitions per size (median)
SMALL_REPEATS = 2
WARMUP_OPS = 300
PIPELINE = "builtin.module(ref-to-stablehlo)"


def straight_line_program(n_ops: int, length: int = 1 << 17, width: int = 8) -> str:
  """`@main(%r, %x)`: `n_ops` gets/sets/addupdates of `width`-element slices.

  Offsets are `37 k mod (length - width)`, all distinct for `k < length - width`
  (131,064 with the default length): with repeating offsets the larger programs
  would hit the compiler's per-run memo of parsed indexers more often and look
  cheaper per op than the small ones."""
  rt = f"!ref.ref<tensor<{length}xf32>>"
  vt = f"tensor<{width}xf32>"
  lines = [f"func.func @main(%r: {rt}, %x: {vt}) -> {vt} {{"]
  last = "%x"
  for k in range(n_ops):
    off = (k * 37) % (length - width)
    attrs = f"{{static_offsets = array<i64: {off}>, static_sizes = array<i64: {width}>}}"
    kind = k % 3
    if kind == 0:
      lines.append(f'  %v{k} = "ref.get"(%r) {attrs} : ({rt}) -> {vt}')
      last = f"%v{k}"
    elif kind == 1:
      lines.append(f'  "ref.set"(%r, {last}) {attrs} : ({rt}, {vt}) -> ()')
    else:
      lines.append(f'  "ref.addupdate"(%r, {last}) {attrs} : ({rt}, {vt}) -> ()')
  lines.append(f"  return {last} : {vt}")
  lines.append("}")
  return "\n".join(lines) + "\n"


def _time_once(text: str) -> tuple[float, float]:
  """(parse seconds, pipeline seconds) of one run in a fresh context."""
  from jaxlib.mlir import ir

  from refhlo.compiler.context import make_context
  from refhlo.compiler.pipeline import run_pipeline

  gc.collect()
  with make_context():
    t0 = time.perf_counter()
    module = ir.Module.parse(text)
    t1 = time.perf_counter()
    run_pipeline(module, PIPELINE)
    t2 = time.perf_counter()
    if '"ref.' in str(module):
      raise RuntimeError("ref ops remain after ref-to-stablehlo")
    del module
  return t1 - t0, t2 - t1


def run_scaling(small: bool) -> list[dict]:
  """One row per size: median parse and pipeline seconds over the repetitions,
  and both in microseconds per op (`us_per_op` is the pipeline's)."""
  from refhlo.compiler import transforms

  if transforms.get_pass("ref-to-stablehlo") is None:
    raise RuntimeError("the ref-to-stablehlo pipeline is not registered yet")
  _time_once(straight_line_program(WARMUP_OPS))  # untimed: imports, first PassManager
  rows = []
  for n in SMALL_SIZES if small else SIZES:
    text = straight_line_program(n)
    reps = SMALL_REPEATS if small else REPEATS.get(n, 3)
    parse, pipe = zip(*(_time_once(text) for _ in range(reps)))
    parse_s, pipeline_s = statistics.median(parse), statistics.median(pipe)
    rows.append({"ops": n, "repeats": reps, "parse_s": parse_s, "pipeline_s": pipeline_s,
                 "parse_us_per_op": parse_s / n * 1e6,
                 "us_per_op": pipeline_s / n * 1e6,
                 "pipeline_s_all": list(pipe)})
  return rows
