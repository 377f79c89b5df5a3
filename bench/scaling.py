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


def _time_once(text: str, pass_times: dict[str, float] | None = None
               ) -> tuple[float, float]:
  """(parse seconds, pipeline seconds) of one run in a fresh context; each
  refhlo pass's seconds into `pass_times`, if given."""
  from jaxlib.mlir import ir

  from refhlo.compiler.context import make_context
  from refhlo.compiler.pipeline import run_pipeline

  gc.collect()
  with make_context():
    t0 = time.perf_counter()
    module = ir.Module.parse(text)
    t1 = time.perf_counter()
    run_pipeline(module, PIPELINE, pass_times=pass_times)
    t2 = time.perf_counter()
    if '"ref.' in str(module):
      raise RuntimeError("ref ops remain after ref-to-stablehlo")
    del module
  return t1 - t0, t2 - t1


def run_scaling(small: bool) -> list[dict]:
  """One row per size: median parse and pipeline seconds over the repetitions,
  both in microseconds per op (`us_per_op` is the pipeline's), the median
  microseconds per op of each refhlo pass (`passes_us_per_op`; the rest of the
  pipeline is MLIR's canonicalize, cse and verifier) and the pipeline's time
  over the parse's (`pipeline_over_parse`, issue 11's "within 5x of MLIR's
  parser")."""
  from refhlo.compiler import transforms

  if transforms.get_pass("ref-to-stablehlo") is None:
    raise RuntimeError("the ref-to-stablehlo pipeline is not registered yet")
  _time_once(straight_line_program(WARMUP_OPS))  # untimed: imports, first PassManager
  rows = []
  for n in SMALL_SIZES if small else SIZES:
    text = straight_line_program(n)
    reps = SMALL_REPEATS if small else REPEATS.get(n, 3)
    runs = []
    for _ in range(reps):
      times: dict[str, float] = {}
      runs.append(_time_once(text, times) + (times,))
    parse_s = statistics.median(r[0] for r in runs)
    pipeline_s = statistics.median(r[1] for r in runs)
    passes = {name: statistics.median(r[2][name] for r in runs) / n * 1e6
              for name in runs[0][2]}
    rows.append({"ops": n, "repeats": reps, "parse_s": parse_s, "pipeline_s": pipeline_s,
                 "parse_us_per_op": parse_s / n * 1e6,
                 "us_per_op": pipeline_s / n * 1e6,
                 "passes_us_per_op": passes,
                 "pipeline_over_parse": pipeline_s / parse_s,
                 "pipeline_s_all": [r[1] for r in runs]})
  return rows


def binding_costs(n_ops: int = 3000) -> dict[str, float]:
  """Microseconds per op of the cheapest trips a Python pass makes into
  MLIR's bindings, on the straight-line program: the floor under any pass
  that visits each op (docs/design-notes.md, "Pipeline speed against issue
  11's targets"). Each is the median of 3 timings."""
  from jaxlib.mlir import ir

  from refhlo.compiler.context import make_context

  def per_op(fn) -> float:
    ts = []
    for _ in range(3):
      t0 = time.perf_counter()
      fn()
      ts.append(time.perf_counter() - t0)
    return statistics.median(ts) / n_ops * 1e6

  with make_context(), ir.Location.unknown():
    module = ir.Module.parse(straight_line_program(n_ops))
    body = module.body.operations[0].regions[0].blocks[0]
    ops = [o.operation for o in body.operations][:-1]  # the accesses
    i32 = ir.IntegerType.get_signless(32)
    t = ir.RankedTensorType.get([], i32)
    attr = ir.DenseElementsAttr.get_splat(t, ir.IntegerAttr.get(i32, 0))
    advance = ir.WalkResult.ADVANCE
    scratch = ir.Module.create()

    def create():
      with ir.InsertionPoint(scratch.body):
        for _ in ops:
          ir.Operation.create("stablehlo.constant", results=[t], attributes={"value": attr})

    out = {
        "walk callback": per_op(lambda: module.operation.walk(lambda o: advance)),
        "op.name": per_op(lambda: [o.name for o in ops]),
        "operand list": per_op(lambda: [list(o.operands) for o in ops]),
        "operand type": per_op(lambda: [o.operands[0].type for o in ops]),
        "attribute": per_op(lambda: [o.attributes["static_offsets"] for o in ops]),
        "result types": per_op(lambda: [[r.type for r in o.results] for o in ops]),
        "Operation.create": per_op(create),
    }
    del module, scratch
  return out
