"""`ref-prepare-for-xla`: reshape lowered StableHLO into the forms that XLA
updates in place and compiles correctly.

`ref-effect-elimination` promotes refs to plain SSA values and knows nothing
about XLA. What XLA makes of the result depends on its form (measured on
jax 0.10.2, XLA:CPU, docs/inplace.md), so this pass, run right after it,
rewrites two patterns without changing what the program computes:

- **A case/if returning updated buffers.** XLA updates a buffer returned by a
  `stablehlo.case`/`stablehlo.if` in place only when the **last** branch is
  the one that modifies it; any other modifying branch costs a whole-buffer
  copy. Effect elimination marks the results that carry ref state with the
  discardable attribute `refhlo.ref_results` (their positions and the
  branches that change them); for those:
  - **hoisted**: a buffer modified by several branches, each with one
    `dynamic_update_slice` of the incoming value and one window shape: the
    branches return `(offsets..., window)` instead (a branch that does not
    write returns the window at offset 0, unchanged) and one
    `dynamic_update_slice` after the op writes it;
  - the single branch still modifying a returned buffer is moved **last**
    (the index is remapped);
  - **loops**: if two or more branches still modify returned buffers, each
    such branch becomes a `stablehlo.while` running 0 or 1 times (loop-carried
    buffers are updated in place), after a case that runs the other branches.
    Inside a loop (or where a writing branch has a loop of its own) this form
    is used only if no writing branch reads the buffer other than through its
    in-place update: measured, the nested 0/1-trip loop is then in place where
    the case copies, but it copies more than the case when a branch reads
    first.
- **Every dynamic start** of a `dynamic_slice`, `dynamic_update_slice` or
  `gather` gets its clamp made explicit (unless it is provably in range):
  XLA folds a chain of them (a slice of a slice, an update of an updated
  slice, a gather of a slice, also across calls it inlines) into one op and
  adds the starts unclamped.
- **A window update of a sharded argument** (a `dynamic_update_slice` with
  constant starts into a buffer tiled along a dimension the window only
  partly covers) becomes `select(window mask, f(buffer), buffer)`, `f` the
  update's elementwise computation over the whole buffer: GSPMD partitions
  it without collectives, where the update all-gathers the buffer
  (`_masked_updates.py`).
- **A scatter into a gathered (or sliced) local copy** (a strided view
  indexed again, written through a local copy and scattered back) gets an
  `optimization_barrier` on that copy: XLA folds the gather into the scatter
  and loses which elements the inner scatter drops.
- **A view's window passed to a callee that writes it** (`dynamic_slice` ->
  call -> `dynamic_update_slice` back into the same buffer) goes through a
  `stablehlo.optimization_barrier`: XLA (jax 0.10.2, also under plain
  `jax.jit`) otherwise folds a dropped out-of-bounds scatter in the callee
  into the outer slice/update and stores an element read from the wrong
  column (minimal case: `test_xla_window_scatter_fold` in
  test/python/test_differential.py). The barrier costs no copy.

Every form is semantics-preserving whatever the incoming values are; the
differential tests compare the pipeline with the NumPy interpreter.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler import builders as hb
from refhlo.compiler import irutil
from refhlo.compiler.analysis.callgraph import CallGraph
from refhlo.compiler.passes import Pass
from refhlo.compiler.transforms import _masked_updates

REF_RESULTS_ATTR = "refhlo.ref_results"
"""Discardable attribute that `ref-effect-elimination` puts on a case/if (and
this pass consumes): one `array<i64: p, k...>` per result `p` that carries ref
state, listing the branches `k` that change it. Every other branch returns
the value the ref had before the op."""

_BRANCH_OPS = ("stablehlo.case", "stablehlo.if")
_UPDATES = ("stablehlo.dynamic_update_slice", "stablehlo.scatter")
_WINDOWS = ("stablehlo.slice", "stablehlo.dynamic_slice", "stablehlo.gather")


@dataclasses.dataclass
class RefPrepareForXla(Pass):
  """Rewrites lowered StableHLO into the forms XLA keeps in place."""

  NAME = "ref-prepare-for-xla"
  SUMMARY = "Reshape lowered StableHLO into the forms XLA updates in place and compiles correctly"
  STATISTICS = {
      "branch-ops-reshaped": "Case/if ops returning ref state put in an in-place form",
      "branch-ops-as-loops": "Reshaped case/if ops whose writing branches became 0/1-trip loops",
      "starts-clamped": "Dynamic starts (or gather index tensors) clamped explicitly",
      "barriers-inserted": "Optimization barriers on windows passed to writing callees",
      "sharded-updates-masked": "Window updates of sharded arguments made masked elementwise updates",
  }
  DESCRIPTION = """\
Runs after `ref-effect-elimination`. A `stablehlo.case`/`stablehlo.if` whose
results carry ref state (`refhlo.ref_results`) is rewritten so that XLA
updates the buffers in place: writes of one window per branch are hoisted
after the op (the branches return the window and its offsets), a single
writing branch is moved last (XLA only updates the last branch's result in
place), and several writing branches become while loops running 0 or 1 times.
A view's window passed to a callee that writes it goes through an
`optimization_barrier`; a window update of an argument sharded along a
dimension the window only partly covers becomes a masked elementwise update
(no collectives under GSPMD); every dynamic start of a dynamic_slice,
dynamic_update_slice or gather gets its clamp made explicit (both work around
XLA miscompiles: XLA folds chains of slices and adds the starts unclamped).
Results are unchanged.

Before:

```mlir
func.func @f(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  %0 = "stablehlo.case"(%k) ({
    stablehlo.return %v : tensor<f32>
  }, {
    stablehlo.return %a : tensor<f32>
  }) {refhlo.ref_results = [array<i64: 0, 0>]} : (tensor<i32>) -> tensor<f32>
  return %0 : tensor<f32>
}
```

After (the writer is last; the index is normalised and swapped):

```mlir
func.func @f(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  ...
  %5 = stablehlo.select %3, %c_0, %4 : tensor<i1>, tensor<i32>
  %6 = "stablehlo.case"(%5) ({
    stablehlo.return %a : tensor<f32>
  }, {
    stablehlo.return %v : tensor<f32>
  }) : (tensor<i32>) -> tensor<f32>
  return %6 : tensor<f32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    with ir.Location.unknown():
      graph = CallGraph.of(module)
      graph.in_loops()  # taken before any branch op becomes a loop (memoised)
      for f in graph.funcs.values():
        self.stat("sharded-updates-masked").add(_masked_updates.mask_sharded_updates(f))
        ops = irutil.walk_ops(f)
        for op in ops:
          if op.name == "func.call":
            self.stat("barriers-inserted").add(_barrier_windows(op))
          elif op.name == "stablehlo.scatter":
            self.stat("barriers-inserted").add(_barrier_gathered_operand(op))
          elif op.name in _SLICING:
            self.stat("starts-clamped").add(_clamp_starts(op))
        # Inner branch ops first: reversed pre-order puts children before
        # their parents.
        for op in reversed(ops):
          if op.name in _BRANCH_OPS and REF_RESULTS_ATTR in op.attributes:
            as_loops = _shape_branch_op(op, graph, irutil.func_name(f))
            self.stat("branch-ops-reshaped").add()
            self.stat("branch-ops-as-loops").add(int(as_loops))


PASS = RefPrepareForXla


# -- windows passed to writing callees --------------------------------------------


def _strip_reshape(v: ir.Value) -> ir.Value:
  while not isinstance(v.owner, ir.Block) and v.owner.operation.name == "stablehlo.reshape":
    v = v.owner.operation.operands[0]
  return v


def _barrier_gathered_operand(scatter: ir.Operation) -> int:
  """Puts an optimization_barrier on a scatter's operand that is itself
  gathered or sliced out of another buffer (the local copy a strided view
  indexed again is written through, `emit._split_transforms`): XLA:CPU's
  algebraic simplifier (jax 0.10.2) folds the gather into the scatter and
  loses which of the inner scatter's elements are out of range (JAX seed
  821889: a write through `r.at[2:4, ds(k, 1, 2)][ds(4, 1, 2), -1::3]` was
  dropped; canary `test_xla_scatter_into_gathered_fold`). The barrier is on
  the local copy, so it costs no copy of the buffer. Returns 1 if one was
  put."""
  v = scatter.operands[0]
  if isinstance(v.owner, ir.Block) or v.owner.operation.name not in (
      "stablehlo.gather", "stablehlo.dynamic_slice", "stablehlo.slice"):
    return 0
  _put_barrier(scatter, 0)
  return 1


def _put_barrier(op: ir.Operation, i: int) -> None:
  """Routes operand `i` of `op` through a `stablehlo.optimization_barrier`
  made just before `op`."""
  v = op.operands[i]
  with ir.InsertionPoint(op), op.location:
    op.operands[i] = ir.Operation.create("stablehlo.optimization_barrier",
                                         results=[v.type], operands=[v]).result


def _barrier_windows(call: ir.Operation) -> int:
  """Puts an optimization_barrier on each operand of `call` that is a window of
  a buffer into which one of the call's results is written back; returns how
  many."""
  written_into: set[ir.Value] = set()
  for r in call.results:
    for use in r.uses:
      user = use.owner.operation
      while user.name == "stablehlo.reshape" and len(user.results) == 1:
        uses = list(user.results[0].uses)
        if len(uses) != 1:
          break
        user = uses[0].owner.operation
      if user.name in _UPDATES:
        written_into.add(user.operands[0])
  if not written_into:
    return 0
  barriers = 0
  for i, v in enumerate(call.operands):
    w = _strip_reshape(v)
    if isinstance(w.owner, ir.Block):
      continue
    src = w.owner.operation
    if src.name in _WINDOWS and src.operands[0] in written_into:
      _put_barrier(call, i)
      barriers += 1
  return barriers


# -- explicit start clamps ---------------------------------------------------------

_SLICING = ("stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice", "stablehlo.gather")


def _clamp_starts(op: ir.Operation) -> int:
  """Makes the implicit clamp of a slicing op's starts explicit, where the
  starts are not already known to be in range.

  `dynamic_slice`, `dynamic_update_slice` and `gather` clamp each start into
  `[0, dim - size]`. XLA's algebraic simplifier (jax 0.10.2, XLA:CPU, also
  under plain `jax.jit`) folds a chain of them, a slice of a slice or an
  update of an updated slice, into one op on the outer buffer whose start
  is the **unclamped** sum of both starts: `ds(ds(x, 1000, 5), 3, 1)` reads
  `x[7]`, not `x[6]`; `gather(ds(x, 1000, 7), [-1])` reads `x[0]`, not `x[1]`;
  `dus(x, dus(ds(x, j), v, i), j)` writes at `clamp(j + i)`. The chain need not
  be visible here: a callee's slice of its argument folds with the caller's
  slice once XLA inlines the call (ref seed 739871). With every start
  explicitly in range the fold's sum is exact, so each op gets its clamp
  (scalar ops; a gather's index tensor is clamped elementwise). Canaries:
  `test_xla_nested_dynamic_slice_fold` and its neighbours in
  test/python/test_xla_helper.py. Returns how many starts it clamped."""
  if op.name == "stablehlo.gather":
    return _clamp_gather_indices(op)
  operand_shape = ir.RankedTensorType(op.operands[0].type).shape
  if op.name == "stablehlo.dynamic_slice":
    sizes, first = list(ir.DenseI64ArrayAttr(op.attributes["slice_sizes"])), 1
  else:
    sizes, first = ir.RankedTensorType(op.operands[1].type).shape, 2
  clamped = 0
  with ir.InsertionPoint(op), op.location:
    for k, (n, size) in enumerate(zip(operand_shape, sizes)):
      start = op.operands[first + k]
      if not _within(start, n - size):
        op.operands[first + k] = hb.clamp_range(start, 0, n - size)
        clamped += 1
  return clamped


def _clamp_gather_indices(op: ir.Operation) -> int:
  dn = stablehlo.GatherDimensionNumbers(op.attributes["dimension_numbers"])
  if len(dn.operand_batching_dims):
    return 0  # refhlo never emits batched gathers
  operand_shape = ir.RankedTensorType(op.operands[0].type).shape
  sizes = list(ir.DenseI64ArrayAttr(op.attributes["slice_sizes"]))
  his = [operand_shape[d] - sizes[d] for d in dn.start_index_map]
  indices = op.operands[1]
  if _within(indices, min(his)):
    return 0
  itype = ir.RankedTensorType(indices.type)
  elt, shape = itype.element_type, list(itype.shape)
  his = [min(h, hb.max_of(elt)) for h in his]
  with ir.InsertionPoint(op), op.location:
    lo = hb.int_const(0, elt, shape)
    if len(set(his)) == 1:
      hi = hb.int_const(his[0], elt, shape)
    else:  # one bound per index component, along the index vector dim
      vec = ir.RankedTensorType.get([len(his)], elt)
      attr = ir.DenseElementsAttr.get(np.array(his, _np_int(elt)), type=vec)
      hi = stablehlo.BroadcastInDimOp(itype, stablehlo.ConstantOp(attr).result,
                                      [dn.index_vector_dim]).result
    op.operands[1] = stablehlo.ClampOp(lo, indices, hi).result
  return 1


def _np_int(elt: ir.Type) -> type:
  width = ir.IntegerType(elt).width
  return np.dtype(("u" if hb.is_unsigned(elt) else "i") + str(max(width, 8) // 8))


def _within(v: ir.Value, hi: int, depth: int = 8) -> bool:
  """Whether every element of the integer value `v` is provably in [0, hi]:
  a constant, a clamp with constant bounds, an iota, or those through
  broadcasts, reshapes, concatenations and integer widenings."""
  if hi < 0 or depth == 0 or isinstance(v.owner, ir.Block):
    return False
  op = v.owner.operation
  if op.name == "stablehlo.constant":
    vals = _int_values(op.attributes["value"])
    return vals is not None and min(vals) >= 0 and max(vals) <= hi
  if op.name == "stablehlo.clamp":
    lo_v, hi_v = (_int_values(o.owner.operation.attributes["value"])
                  if not isinstance(o.owner, ir.Block)
                  and o.owner.operation.name == "stablehlo.constant" else None
                  for o in (op.operands[0], op.operands[2]))
    return (lo_v is not None and hi_v is not None and min(lo_v) >= 0
            and max(hi_v) <= hi)
  if op.name == "stablehlo.iota":
    t = ir.RankedTensorType(v.type)
    return t.shape[ir.IntegerAttr(op.attributes["iota_dimension"]).value] - 1 <= hi
  if op.name in ("stablehlo.broadcast_in_dim", "stablehlo.reshape", "stablehlo.convert"):
    if op.name == "stablehlo.convert" and not _widens(op.operands[0], v):
      return False
    return _within(op.operands[0], hi, depth - 1)
  if op.name == "stablehlo.concatenate":
    return all(_within(o, hi, depth - 1) for o in op.operands)
  return False


def _widens(src: ir.Value, dst: ir.Value) -> bool:
  a, b = hb.elt_of(src), hb.elt_of(dst)
  return (isinstance(a, ir.IntegerType) and isinstance(b, ir.IntegerType)
          and hb.is_unsigned(a) == hb.is_unsigned(b)
          and ir.IntegerType(a).width <= ir.IntegerType(b).width)


def _int_values(attr: ir.Attribute) -> list[int] | None:
  if not isinstance(attr, ir.DenseIntElementsAttr):
    return None
  a = ir.DenseIntElementsAttr(attr)
  if a.is_splat:
    return [ir.IntegerAttr(a.get_splat_value()).value]
  return [int(x) for x in np.array(a).ravel()]


# -- case / if with ref state -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Hoist:
  """A buffer whose writes are hoisted out of the branches."""
  j: int                                      # position among the buffers
  updates: tuple[ir.Operation | None, ...]    # per branch: its update (None: none)
  window: ir.RankedTensorType
  offset_type: ir.Type                        # element type of the offsets


@dataclasses.dataclass(frozen=True)
class _BranchPlan:
  hoisted: tuple[_Hoist, ...]
  writers: list[int]   # branches modifying a buffer returned whole
  loops: bool = False  # one 0/1-trip while loop per writer


def _update_root(v: ir.Value, op: ir.Operation) -> ir.Value | None:
  """The value outside `op` that `v` updates in place (through
  dynamic_update_slice / scatter chains), if any."""
  while irutil.defined_inside(v, op):
    if isinstance(v.owner, ir.Block):
      return None
    u = v.owner.operation
    if u.name not in _UPDATES:
      return None
    v = u.operands[0]
  return v


def _incoming(op: ir.Operation, vals: list[ir.Value], changes: set[int]
              ) -> ir.Value | None:
  """The value a buffer had before `op`: what a branch that does not change it
  returns. When every branch changes it (exactly one runs, so the forms below
  are correct with any value here), the best guess for in-place updates: the
  value they all update in place, else the first value of the same type from
  outside `op` that a branch reads; None if there is none."""
  same = [v for k, v in enumerate(vals) if k not in changes]
  if same:
    return same[0]
  roots = {_update_root(v, op) for v in vals}
  if len(roots) == 1 and None not in roots:
    return roots.pop()
  t = vals[0].type
  for region in op.regions:
    for inner in irutil.walk_region_ops(region):
      if inner.name == "stablehlo.return":
        continue
      for o in inner.operands:
        if o.type == t and not irutil.defined_inside(o, op):
          return o
  return None


def _shape_branch_op(op: ir.Operation, graph: CallGraph, fname: str) -> bool:
  """Reshapes a marked case/if; returns whether writing branches became loops."""
  marks = [list(ir.DenseI64ArrayAttr(a)) for a in ir.ArrayAttr(op.attributes[REF_RESULTS_ATTR])]
  del op.attributes[REF_RESULTS_ATTR]
  rets = [irutil.terminator_of(r) for r in op.regions]
  positions = [m[0] for m in marks]
  changes = [set(m[1:]) for m in marks]
  vals = [[ret.operands[p] for ret in rets] for p in positions]
  cur = [_incoming(op, vs, ch) for vs, ch in zip(vals, changes)]
  keep = [p for p in range(len(op.results)) if p not in positions]
  with ir.InsertionPoint(op), op.location:
    cur = [c if c is not None else hb.zeros(ir.RankedTensorType(vs[0].type))
           for c, vs in zip(cur, vals)]
  # The shaping below works on an op whose results are the `keep` ones, with
  # the buffers as extra trailing terminator operands.
  new, old = _split_results(op, keep, positions)
  n = len(keep)
  rets = [irutil.terminator_of(r) for r in new.regions]
  vals = [[ret.operands[n + j] for ret in rets] for j in range(len(positions))]
  modifies = [[k in ch for k in range(len(rets))] for ch in changes]
  plan = _plan_branches(vals, cur, modifies, [ret.block for ret in rets])
  if plan.loops and not _loops_allowed(new, plan.writers, cur, graph, fname):
    plan = _BranchPlan((), plan.writers)  # the case form: copies
  if plan.loops:
    out = _branches_as_loops(new, n, cur, modifies)
  else:
    out = _branches_hoisted(new, n, cur, plan)
  for p, v in zip(positions, out):
    old.results[p].replace_all_uses_with(v)
  old.erase()
  return bool(plan.loops)


def _split_results(op: ir.Operation, keep: list[int], moved: list[int]
                   ) -> tuple[ir.Operation, ir.Operation]:
  """A copy of `op` with only the `keep` results; each terminator returns the
  `keep` values, then the `moved` ones. The old op stays (empty, its `moved`
  results still used) until the caller replaces and erases it."""
  for region in op.regions:
    ret = irutil.terminator_of(region)
    ops = list(ret.operands)
    irutil.replace_terminator(ret, [ops[p] for p in keep] + [ops[p] for p in moved])
  with ir.InsertionPoint(op), op.location:
    new = ir.Operation.create(op.name, results=[op.results[p].type for p in keep],
                              operands=list(op.operands),
                              attributes=irutil.attrs_of(op), regions=len(op.regions))
  for old_r, new_r in zip(op.regions, new.regions):
    for old_b in old_r.blocks:
      nb = ir.Block.create_at_start(new_r, [])
      for inner in list(old_b.operations):
        nb.append(inner.operation)
  for k, p in enumerate(keep):
    op.results[p].replace_all_uses_with(new.results[k])
  return new, op


def _loops_allowed(op: ir.Operation, writers: list[int], cur: list[ir.Value],
                   graph: CallGraph, fname: str) -> bool:
  """Whether the writing branches of `op` may become 0/1-trip while loops."""
  if not all(_zeroable(r.type) for r in op.results):
    return False
  nested = (fname in graph.in_loops() or irutil.enclosing(op, ("stablehlo.while",)) is not None
            or any(graph.runs_loop(op.regions[k]) for k in writers))
  if not nested:
    return True
  # Nested: only if no writer reads a buffer except through its update.
  bufs = set(cur)
  for k in writers:
    for inner in irutil.walk_region_ops(op.regions[k]):
      if inner.name == "stablehlo.return":
        continue
      for i, o in enumerate(inner.operands):
        if o in bufs and not (inner.name in _UPDATES and i == 0):
          return False
  return True


def _zeroable(t: ir.Type) -> bool:
  if not isinstance(t, ir.RankedTensorType):
    return False
  elt = ir.RankedTensorType(t).element_type
  return isinstance(elt, (ir.IntegerType, ir.FloatType))


def _permuted_index(name: str, index: ir.Value, k: int, last: int) -> ir.Value:
  """The selector of a case/if whose branches `k` and `last` were swapped."""
  if name == "stablehlo.if":  # two branches: negate the predicate
    return stablehlo.NotOp(index).result
  t = index.type
  elt = ir.RankedTensorType(t).element_type

  def c(v: int) -> ir.Value:
    return hb.int_const(v, elt)

  # Out-of-range indices select the last branch: normalise first.
  in_range = stablehlo.AndOp(hb.compare(index, c(0), "GE"),
                             hb.compare(index, c(last + 1), "LT")).result
  e = stablehlo.SelectOp(in_range, index, c(last)).result
  was_last = stablehlo.SelectOp(hb.compare(e, c(last), "EQ"), c(k), e).result
  return stablehlo.SelectOp(hb.compare(e, c(k), "EQ"), c(last), was_last).result


def _hoist_of(j: int, vals: list[ir.Value], cur: ir.Value, modifies: list[bool],
              block_of: list[ir.Block]) -> _Hoist | None:
  updates: list[ir.Operation | None] = []
  window, elts = None, set()
  for v, changed, block in zip(vals, modifies, block_of):
    if not changed:
      updates.append(None)
      continue
    if isinstance(v.owner, ir.Block):
      return None
    dus = v.owner.operation
    if (dus.name != "stablehlo.dynamic_update_slice" or dus.operands[0] != cur
        or dus.block != block or len(list(v.uses)) != 1):
      return None
    t = dus.operands[1].type
    if window is not None and t != window:
      return None
    window = t
    elts.update(str(hb.elt_of(o)) for o in list(dus.operands)[2:])
    updates.append(dus)
  if window is None:
    return None
  if len(elts) == 1:
    elt = hb.elt_of(next(d for d in updates if d is not None).operands[2])
  elif elts <= {"i32", "i64"}:
    elt = ir.IntegerType.get_signless(64)  # i32 offsets widen exactly
  else:
    return None
  return _Hoist(j, tuple(updates), ir.RankedTensorType(window), elt)


def _plan_branches(vals: list[list[ir.Value]], cur: list[ir.Value],
                   modifies: list[list[bool]], block_of: list[ir.Block]) -> _BranchPlan:
  hoists = {j: _hoist_of(j, vals[j], cur[j], modifies[j], block_of)
            for j in range(len(vals)) if any(modifies[j])}

  def whole_writers(hoisted: set[int]) -> list[int]:
    return sorted({k for j, m in enumerate(modifies) if j not in hoisted
                   for k, w in enumerate(m) if w})

  # Hoist buffers with several writers; then, if that is not enough, all.
  chosen = {j for j, h in hoists.items() if h is not None and sum(modifies[j]) >= 2}
  writers = whole_writers(chosen)
  if len(writers) >= 2:
    chosen = {j for j, h in hoists.items() if h is not None}
    writers = whole_writers(chosen)
  if len(writers) >= 2:
    return _BranchPlan((), whole_writers(set()), loops=True)
  return _BranchPlan(tuple(hoists[j] for j in sorted(chosen)), writers)


def _branches_hoisted(op: ir.Operation, n: int, cur: list[ir.Value],
                      plan: _BranchPlan) -> list[ir.Value]:
  """Rebuilds the case/if `op` in the hoisted form (see above); the new values
  of the buffers."""
  hoisted = {h.j for h in plan.hoisted}
  whole_js = [j for j in range(len(cur)) if j not in hoisted]
  for k, region in enumerate(op.regions):
    ret = irutil.terminator_of(region)
    operands = list(ret.operands)
    new_ops = operands[:n] + [operands[n + j] for j in whole_js]
    with ir.InsertionPoint(ret), ret.location:
      for h in plan.hoisted:
        dus = h.updates[k]
        if dus is None:  # the window at offset 0, unchanged
          offs = [hb.int_const(0, h.offset_type)] * len(h.window.shape)
          window = hb.build("stablehlo.dynamic_slice", h.window, [cur[h.j]] + offs,
                            {"slice_sizes": ir.DenseI64ArrayAttr.get(list(h.window.shape))})
        else:
          offs = [hb.convert(o, h.offset_type) for o in list(dus.operands)[2:]]
          window = dus.operands[1]
        new_ops += offs + [window]
    irutil.replace_terminator(ret, new_ops)
    for h in plan.hoisted:
      if h.updates[k] is not None:
        h.updates[k].erase()
  operands, order = list(op.operands), list(range(len(op.regions)))
  last = len(order) - 1
  if len(plan.writers) == 1 and plan.writers[0] != last:
    # Only the last branch's result is updated in place: move the writer there.
    k = plan.writers[0]
    order[k], order[last] = last, k
    with ir.InsertionPoint(op), op.location:
      operands[0] = _permuted_index(op.name, operands[0], k, last)
  types = [r.type for r in op.results] + [cur[j].type for j in whole_js]
  for h in plan.hoisted:
    types += [hb.scalar_type(h.offset_type)] * len(h.window.shape) + [h.window]
  loc = op.location
  new = irutil.rebuild(op, operands, types, order)
  out = list(cur)
  for pos, j in enumerate(whole_js):
    out[j] = new.results[n + pos]
  at = n + len(whole_js)
  with ir.InsertionPoint.after(new), loc:
    for h in plan.hoisted:
      rank = len(h.window.shape)
      parts = [new.results[at + i] for i in range(rank + 1)]
      at += rank + 1
      out[h.j] = hb.build("stablehlo.dynamic_update_slice", cur[h.j].type,
                          [cur[h.j], parts[rank]] + parts[:rank])
  return out


def _branches_as_loops(op: ir.Operation, n: int, cur: list[ir.Value],
                       modifies: list[list[bool]]) -> list[ir.Value]:
  """Rebuilds the case/if `op` in the loop form (see above); the new values of
  the buffers."""
  num = len(op.regions)
  modified = [[j for j in range(len(cur)) if modifies[j][k]] for k in range(num)]
  writers = [k for k in range(num) if modified[k]]
  res_types = [r.type for r in op.results]
  loc = op.location
  index = op.operands[0]
  i1 = ir.IntegerType.get_signless(1)
  with ir.InsertionPoint(op), loc:
    if op.name == "stablehlo.if":
      flags = {0: index, 1: stablehlo.NotOp(index).result}
    else:
      elt = hb.elt_of(index)
      last = hb.int_const(num - 1, elt)
      in_range = stablehlo.AndOp(hb.compare(index, hb.int_const(0, elt), "GE"),
                                 hb.compare(index, hb.int_const(num, elt), "LT")).result
      e = stablehlo.SelectOp(in_range, index, last).result
      flags = {k: hb.compare(e, hb.int_const(k, elt), "EQ") for k in writers}
    zeros = [hb.zeros(ir.RankedTensorType(t)) for t in res_types]
  case = irutil.rebuild(op, [index], res_types)
  for k in range(num):
    if k not in writers:
      ret = irutil.terminator_of(case.regions[k])
      irutil.replace_terminator(ret, list(ret.operands)[:n])
  results, out, ip, first = list(case.results), list(cur), ir.InsertionPoint.after(case), None
  for k in writers:
    block = case.regions[k].blocks[0]
    ret = irutil.terminator_of(case.regions[k])
    js = modified[k]
    types = [ir.RankedTensorType.get([], i1)] + res_types + [cur[j].type for j in js]
    with ip, loc:
      w = ir.Operation.create("stablehlo.while", results=types,
                              operands=[flags[k]] + results + [out[j] for j in js],
                              regions=2)
    if first is None:
      first = w
    cond = ir.Block.create_at_start(w.regions[0], types, [loc] * len(types))
    body = ir.Block.create_at_start(w.regions[1], types, [loc] * len(types))
    with ir.InsertionPoint(cond), loc:
      ir.Operation.create("stablehlo.return", results=[], operands=[cond.arguments[0]])
    ops = [o.operation for o in block.operations]
    for inner in ops[:-1]:
      body.append(inner)
    # Inside the loop each buffer is its carried value, or (not written here)
    # its value after the previous loops: the same value, as at most one loop
    # runs, but reading it there keeps the in-place chain intact.
    for j in range(len(cur)):
      v = body.arguments[1 + n + js.index(j)] if j in js else out[j]
      if v != cur[j]:
        irutil.replace_in(ops, cur[j], v)
    ret_ops = list(ret.operands)
    with ir.InsertionPoint(body), ret.location:
      done = hb.int_const(0, i1)
      ir.Operation.create("stablehlo.return", results=[],
                          operands=[done] + ret_ops[:n] + [ret_ops[n + j] for j in js])
    ret_loc = ret.location
    ret.erase()
    with ir.InsertionPoint(block), ret_loc:  # the writer's slot in the case
      ir.Operation.create("stablehlo.return", results=[], operands=zeros)
    results = list(w.results[1:1 + n])
    for pos, j in enumerate(js):
      out[j] = w.results[1 + n + pos]
    ip = ir.InsertionPoint.after(w)
  for old, new in zip(case.results, results):
    old.replace_all_uses_except(new, first)
  if n == 0 and all(len(r.blocks[0].operations) == 1 for r in case.regions):
    case.erase()  # nothing left to run
  return out
