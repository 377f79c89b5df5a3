"""Pipeline scaling: `ref-to-stablehlo` run in-process on generated
straight-line ref programs of 1k, 10k and 50k ref ops; the time per op should
stay flat."""

from __future__ import annotations

import time

SIZES = (1_000, 10_000, 50_000)
SMALL_SIZES = (100, 1_000)
PIPELINE = "builtin.module(ref-to-stablehlo)"


def straight_line_program(n_ops: int, length: int = 1024, width: int = 8) -> str:
  """`@main(%r, %x)`: `n_ops` gets/sets/addupdates of `width`-element slices."""
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


def run_scaling(small: bool) -> list[dict]:
  """One row per size: parse and pipeline seconds, microseconds per op."""
  from jaxlib.mlir import ir

  from refhlo.compiler import transforms
  from refhlo.compiler.context import make_context
  from refhlo.compiler.pipeline import run_pipeline

  if transforms.get_pass("ref-to-stablehlo") is None:
    raise RuntimeError("the ref-to-stablehlo pipeline is not registered yet")
  rows = []
  for n in SMALL_SIZES if small else SIZES:
    text = straight_line_program(n)
    with make_context():
      t0 = time.perf_counter()
      module = ir.Module.parse(text)
      t1 = time.perf_counter()
      run_pipeline(module, PIPELINE)
      t2 = time.perf_counter()
      if '"ref.' in str(module):
        raise RuntimeError("ref ops remain after ref-to-stablehlo")
    rows.append({"ops": n, "parse_s": t1 - t0, "pipeline_s": t2 - t1,
                 "us_per_op": (t2 - t1) / n * 1e6})
  return rows
