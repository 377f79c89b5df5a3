"""`ref-sparse-updates`: dense scatter-into-zeros ref updates -> indexed updates.

JAX differentiates a gather (`table[idx]`) into a dense zeros tensor plus a
scatter-add. Applied to a ref -- `ref[...] += g` or an optimizer step
`ref[...] = ref[...] - lr * g` -- that is a pass over the whole table (and a
table-sized temporary) for what is a handful of rows. This pass runs on
ref-dialect IR, before effect elimination, and turns such updates into one
indexed `ref.addupdate` of the (scaled) scatter updates, which effect
elimination lowers to an in-place scatter.

Matched (`%dense = stablehlo.scatter(zeros, %idx, %upd)`, add combiner, each
index naming whole slices of the leading/indexed ref dims):

    "ref.addupdate"(%r, S)
    "ref.set"(%r, %old + S)   /  (S + %old)  /  (%old - S)

(a `ref.swap` whose result is unused counts as a `ref.set`: that is what
`ref[...] = x` traces to in JAX)
where `%old = "ref.get"(%r)` reads the whole ref in the same block with no
possible ref write in between, and `S` is `%dense` under any number of
multiplications by splats (`lr * %dense`, `%dense * lr`) and negations. The
multiply is applied to the small `%upd`, not to the table.

Equivalence: the rewrite is exact in integer arithmetic; for floats it
reassociates the sum (as XLA's scatter already may for duplicate indices),
distributes the scale over it and may keep a `-0.0` in untouched entries.
A scale that is not a known finite constant could turn untouched entries into
NaN in the dense form (`inf * 0`); such updates are rewritten only with
`assume-finite-scale=true`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from jaxlib.mlir import ir
from jaxlib.mlir._mlir_libs._mlir import rewrite
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler import builders as hb
from refhlo.compiler.dialect.indexer import Indexer
from refhlo.compiler.dialect.ops import RefAddUpdateOp, op_names
from refhlo.compiler.dialect.types import RefTypeError, is_numeric, is_ref_type, ref_value_type
from refhlo.compiler.passes import Pass

_DESCRIPTION = """\
Rewrites ref updates whose value is a scatter-add into a splat-zero tensor
(what `jax.grad` makes of a gather), possibly scaled by splats and negated, into
an indexed `ref.addupdate` of the scaled scatter updates. Handles
`ref.addupdate(%r, S)` and `ref.set(%r, %old +/- S)` with `%old = ref.get(%r)`
(whole, same block, no ref write in between). Exact for integers; for floats
equal up to summation order. Scales that are not finite constants are only
rewritten with `assume-finite-scale=true` (`inf * 0` would differ).

Before:

```mlir
func.func @sgd(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers =
      #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0],
      scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %lr = stablehlo.constant dense<0.1> : tensor<10x4xf32>
  %step = stablehlo.multiply %lr, %dense : tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.subtract %old, %step : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}
```

After:

```mlir
func.func @sgd(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %lr = stablehlo.constant dense<1.000000e-01> : tensor<f32>
  %0 = stablehlo.broadcast_in_dim %lr, dims = [] : (tensor<f32>) -> tensor<3x4xf32>
  %1 = stablehlo.multiply %g, %0 : tensor<3x4xf32>
  %2 = stablehlo.negate %1 : tensor<3x4xf32>
  ref.addupdate %t sizes [1, 4] indexed [0] by (%idx: tensor<3x1xi32>), %2 : !ref.ref<tensor<10x4xf32>>, tensor<3x4xf32>
  return
}
```
"""

# Ops the pass may leave dead after a rewrite and then erases.
_PURE_OPS = frozenset({
    "stablehlo.constant", "stablehlo.broadcast_in_dim", "stablehlo.multiply",
    "stablehlo.negate", "stablehlo.add", "stablehlo.subtract",
    "stablehlo.scatter", "stablehlo.reshape", "ref.get",
})

# The whole-ref writes the pass rewrites (its patterns' roots).
_ROOTS = ("ref.addupdate", "ref.set", "ref.swap")

# Ref ops that cannot write any ref (between the read and the write of a set).
_NON_WRITING_REF_OPS = frozenset(op_names(changes=False, ends_life=False))


# -- matching -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Scalar:
  """A splat's element: a 0-d SSA value or a constant attribute."""
  value: ir.Value | None = None
  attr: ir.Attribute | None = None

  @property
  def known_finite(self) -> bool:
    if self.attr is None:
      return False
    if isinstance(self.attr, ir.FloatAttr):
      return math.isfinite(ir.FloatAttr(self.attr).value)
    return True


@dataclasses.dataclass(frozen=True)
class SparseUpdate:
  """`sign * prod(factors) * scatter(zeros, indices, updates)` in the ref's layout."""
  scatter: ir.Operation
  indices: ir.Value
  updates: ir.Value
  indexed_dims: tuple[int, ...]
  implicit_index_dim: bool  # index_vector_dim == rank(indices): K = 1, no trailing dim
  factors: tuple[Scalar, ...]
  negated: bool


def _defining_op(v: ir.Value) -> ir.Operation | None:
  if not isinstance(v, ir.OpResult):
    return None
  return v.owner.operation


def _splat_scalar(v: ir.Value) -> Scalar | None:
  """The element of `v` when `v` is provably a splat, else None."""
  op = _defining_op(v)
  if op is None:
    return None
  if op.name == "stablehlo.constant":
    attr = op.attributes["value"]
    if isinstance(attr, ir.DenseElementsAttr) and ir.DenseElementsAttr(attr).is_splat:
      return Scalar(attr=ir.DenseElementsAttr(attr).get_splat_value())
    return None
  if op.name == "stablehlo.broadcast_in_dim":
    src = op.operands[0]
    if ir.RankedTensorType(src.type).rank == 0:
      inner = _splat_scalar(src)
      return inner if inner is not None else Scalar(value=src)
    return _splat_scalar(src)
  return None


def _is_zero(s: Scalar | None) -> bool:
  if s is None or s.attr is None:
    return False
  a = s.attr
  if isinstance(a, ir.FloatAttr):
    return ir.FloatAttr(a).value == 0.0
  if isinstance(a, ir.IntegerAttr):
    return ir.IntegerAttr(a).value == 0
  return False


def _is_add_combiner(region: ir.Region) -> bool:
  blocks = list(region.blocks)
  if len(blocks) != 1 or len(blocks[0].arguments) != 2:
    return False
  block = blocks[0]
  ops = list(block.operations)
  if len(ops) != 2 or ops[0].name != "stablehlo.add" or ops[1].name != "stablehlo.return":
    return False
  add, ret = ops[0].operation, ops[1].operation
  args = {block.arguments[0], block.arguments[1]}
  return ({add.operands[0], add.operands[1]} == args
          and add.operands[0] != add.operands[1]
          and len(ret.operands) == 1 and ret.operands[0] == add.results[0])


def _match_scatter(op: ir.Operation, ref_shape: tuple[int, ...]
                   ) -> SparseUpdate | None:
  """A scatter-add into zeros whose indices address whole slices of the ref."""
  if op.name != "stablehlo.scatter" or len(op.operands) != 3 or len(op.results) != 1:
    return None
  zeros, indices, updates = op.operands[0], op.operands[1], op.operands[2]
  if not _is_zero(_splat_scalar(zeros)):
    return None
  if not _is_add_combiner(op.regions[0]):
    return None
  dn = stablehlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
  if list(dn.input_batching_dims) or list(dn.scatter_indices_batching_dims):
    return None
  dims = tuple(int(d) for d in dn.scattered_dims_to_operand_dims)
  rank = len(ref_shape)
  if not dims or list(dims) != sorted(set(dims)) or dims[-1] >= rank:
    return None
  if tuple(int(d) for d in dn.inserted_window_dims) != dims:
    return None
  idx_type = ir.RankedTensorType(indices.type)
  if not isinstance(idx_type.element_type, ir.IntegerType):
    return None
  ivd = int(dn.index_vector_dim)
  idx_shape = tuple(idx_type.shape)
  if ivd == len(idx_shape) - 1 and idx_shape[-1] == len(dims):
    batch, implicit = idx_shape[:-1], False
  elif ivd == len(idx_shape) and len(dims) == 1:
    batch, implicit = idx_shape, True
  else:
    return None
  window = tuple(ref_shape[d] for d in range(rank) if d not in dims)
  upd_shape = tuple(ir.RankedTensorType(updates.type).shape)
  if upd_shape != batch + window:
    return None
  if tuple(int(d) for d in dn.update_window_dims) != tuple(
      range(len(batch), len(batch) + len(window))):
    return None
  return SparseUpdate(op, indices, updates, dims, implicit, (), False)


def _match_scaled(v: ir.Value, ref_shape: tuple[int, ...]) -> SparseUpdate | None:
  """`v` as (+/-) splat * ... * scatter-into-zeros."""
  op = _defining_op(v)
  if op is None:
    return None
  if op.name == "stablehlo.negate":
    inner = _match_scaled(op.operands[0], ref_shape)
    return None if inner is None else dataclasses.replace(inner, negated=not inner.negated)
  if op.name == "stablehlo.multiply":
    for dense, other in ((op.operands[1], op.operands[0]), (op.operands[0], op.operands[1])):
      scale = _splat_scalar(other)
      if scale is None:
        continue
      inner = _match_scaled(dense, ref_shape)
      if inner is not None:
        return dataclasses.replace(inner, factors=inner.factors + (scale,))
    return None
  return _match_scatter(op, ref_shape)


def _may_write(op: ir.Operation) -> bool:
  """True when `op` or an op nested in it may write a ref."""
  found = False

  def visit(op: ir.Operation) -> ir.WalkResult:
    nonlocal found
    name = op.name
    if name.startswith("ref.") and name not in _NON_WRITING_REF_OPS:
      found = True
    elif not name.startswith("ref.") and any(is_ref_type(o.type) for o in op.operands):
      found = True  # a call (or unknown op) handed a ref may write it
    return ir.WalkResult.INTERRUPT if found else ir.WalkResult.ADVANCE

  op.walk(visit)
  return found


class _Writers:
  """Per block, its ops that may write a ref (`_may_write`), in program
  order: gathered once per block, so that `between` costs a binary
  search instead of a scan of the block (which made the pass quadratic)."""

  def __init__(self):
    self._blocks: dict[ir.Block, list[ir.Operation]] = {}

  def of(self, block: ir.Block) -> list[ir.Operation]:
    ws = self._blocks.get(block)
    if ws is None:
      ws = self._blocks[block] = [o.operation for o in block.operations
                                  if _may_write(o.operation)]
    return ws

  @staticmethod
  def _first_after(ws: list[ir.Operation], op: ir.Operation) -> int:
    """The index of the first op of `ws` after `op` (`op` in the same block)."""
    lo, hi = 0, len(ws)
    while lo < hi:
      mid = (lo + hi) // 2
      w = ws[mid]
      if w == op or w.is_before_in_block(op):
        lo = mid + 1
      else:
        hi = mid
    return lo

  def between(self, first: ir.Operation, last: ir.Operation) -> bool:
    """True when an op strictly between `first` and `last` (same block) may
    write a ref, or when `last` is not after `first`."""
    if first == last or not first.is_before_in_block(last):
      return True  # `last` not after `first` in this block: not provably safe
    ws = self.of(first.block)
    i = self._first_after(ws, first)
    return i < len(ws) and ws[i] != last and ws[i].is_before_in_block(last)

  def replace(self, old: ir.Operation, new: ir.Operation) -> None:
    """`new` (a writer, just before `old` in its block) takes `old`'s place."""
    ws = self._blocks.get(old.block)
    if ws is None:
      return
    i = self._first_after(ws, new)
    if i < len(ws) and ws[i] == old:
      ws[i] = new
    else:  # not where expected: forget the block, gather it again if needed
      del self._blocks[old.block]


def _match_old_plus(value: ir.Value, ref: ir.Value, write: ir.Operation,
                    ref_shape: tuple[int, ...], writers: _Writers
                    ) -> SparseUpdate | None:
  """`%old + S`, `S + %old` or `%old - S` with `%old` a whole read of `ref`."""
  op = _defining_op(value)
  if op is None or op.name not in ("stablehlo.add", "stablehlo.subtract"):
    return None
  lhs, rhs = op.operands[0], op.operands[1]
  candidates = [(lhs, rhs, False)]
  if op.name == "stablehlo.add":
    candidates.append((rhs, lhs, False))
  else:
    candidates = [(lhs, rhs, True)]
  for old, scaled, negate in candidates:
    get = _defining_op(old)
    if get is None or get.name != "ref.get" or get.operands[0] != ref:
      continue
    if len(get.operands) != 1 or not Indexer.from_op(get).is_whole:
      continue
    if get.block != write.block or writers.between(get, write):
      continue
    m = _match_scaled(scaled, ref_shape)
    if m is not None:
      return dataclasses.replace(m, negated=m.negated != negate)
  return None


# -- rewriting --------------------------------------------------------------------


def _scalar_value(s: Scalar, elt: ir.Type) -> ir.Value:
  if s.value is not None:
    return s.value
  t = ir.RankedTensorType.get([], elt)
  attr = ir.DenseElementsAttr.get_splat(t, s.attr)
  return hb.build("stablehlo.constant", t, [], {"value": attr})


def _emit_update(m: SparseUpdate, ref: ir.Value, write: ir.Operation
                 ) -> ir.Operation:
  """Emits the indexed update before `write`; returns the new `ref.addupdate`."""
  ref_t = ref_value_type(ref.type)
  shape = tuple(ref_t.shape)
  upd = m.updates
  upd_t = ir.RankedTensorType(upd.type)
  with ir.InsertionPoint(write), write.location:
    for f in m.factors:
      s = _scalar_value(f, upd_t.element_type)
      b = hb.build("stablehlo.broadcast_in_dim", upd_t, [s],
                   {"broadcast_dimensions": ir.DenseI64ArrayAttr.get([])})
      upd = hb.build("stablehlo.multiply", upd_t, [upd, b])
    if m.negated:
      upd = hb.build("stablehlo.negate", upd_t, [upd])
    idx = m.indices
    idx_t = ir.RankedTensorType(idx.type)
    if m.implicit_index_dim:
      idx = hb.reshape(idx, list(idx_t.shape) + [1])
    batch = tuple(ir.RankedTensorType(idx.type).shape)[:-1]
    indexer = Indexer(
        ref_shape=shape, offsets=(0,) * len(shape),
        sizes=tuple(1 if d in m.indexed_dims else n for d, n in enumerate(shape)),
        strides=(1,) * len(shape), indexed_dims=m.indexed_dims, batch_shape=batch)
    return RefAddUpdateOp.build(ref, upd, indexer, (), idx).operation


def _erase_if_dead(values: Sequence[ir.Value], rewriter: rewrite.PatternRewriter) -> None:
  """Erases the pure ops (`_PURE_OPS`) defining `values` that are left
  without uses, and then theirs: all are defined before the rewritten write."""
  work = list(values)
  while work:
    op = _defining_op(work.pop())
    if op is None or op.name not in _PURE_OPS:
      continue
    if any(True for r in op.results for _ in r.uses):
      continue
    operands = list(op.operands)
    rewriter.erase_op(op)
    work.extend(operands)


@dataclasses.dataclass
class RefSparseUpdates(Pass):
  """Dense scatter-into-zeros ref updates -> indexed `ref.addupdate`."""

  NAME = "ref-sparse-updates"
  SUMMARY = "Rewrite ref updates by scatter-into-zeros (gather gradients) into indexed addupdates"
  STATISTICS = {
      "writes-examined": "Whole-ref set/addupdate/swap ops examined",
      "updates-rewritten": "Updates rewritten into indexed addupdates",
  }
  DESCRIPTION = _DESCRIPTION

  assume_finite_scale: bool = False

  def run(self, module: ir.Operation) -> None:
    # One pattern per root op, applied by MLIR's walk driver: it visits each
    # op once (post-order), calls into Python only for the roots, does not
    # visit the ops a rewrite creates and neither folds nor erases anything
    # by itself (so the IR is exactly what the rewrite builds). A rewrite
    # erases only its root and ops defined before it, which the walk has
    # already passed.
    writers = _Writers()
    patterns = rewrite.RewritePatternSet(module.context)
    for root in _ROOTS:
      patterns.add(root, lambda op, rewriter: not self._match_and_rewrite(
          op, rewriter, writers))
    rewrite.walk_and_apply_patterns(module, patterns.freeze())

  def _match_and_rewrite(self, op: ir.Operation, rewriter: rewrite.PatternRewriter,
                         writers: _Writers) -> bool:
    """Rewrites a whole-ref write whose value is a (scaled) sparse update;
    True when it did (the pattern then reports success to the driver)."""
    op = op.operation  # the driver hands the root's OpView
    if len(op.operands) != 2:
      return False
    if op.name == "ref.swap" and any(True for _ in op.results[0].uses):
      return False  # only `ref[...] = x` as JAX traces it: a swap, result unused
    self.stat("writes-examined").add()
    if not self._rewrite(op, rewriter, writers):
      return False
    self.stat("updates-rewritten").add()
    return True

  def _rewrite(self, write: ir.Operation, rewriter: rewrite.PatternRewriter,
               writers: _Writers) -> bool:
    ref, value = write.operands[0], write.operands[1]
    try:
      ref_t = ref_value_type(ref.type)
    except RefTypeError:
      return False  # ref-verify reports it
    if not is_numeric(ref_t.element_type) or value.type != ref_t:
      return False
    if write.attributes and not Indexer.from_op(write).is_whole:
      return False
    shape = tuple(ref_t.shape)
    if write.name == "ref.addupdate":
      m = _match_scaled(value, shape)
    else:
      m = _match_old_plus(value, ref, write, shape, writers)
    if m is None:
      return False
    if not self.assume_finite_scale and not all(f.known_finite for f in m.factors):
      if isinstance(ref_t.element_type, ir.FloatType):
        return False
    new = _emit_update(m, ref, write)
    writers.replace(write, new)
    operands = list(write.operands)
    rewriter.erase_op(write)
    _erase_if_dead(operands, rewriter)
    return True


PASS = RefSparseUpdates
