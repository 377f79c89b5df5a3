"""The `ref` dialect's verifier: every rule of the v1 contract in DESIGN.md.

The dialect is unregistered in C++, so MLIR checks nothing about its ops; this
module does. `verify(op)` walks an op (usually the `builtin.module`) and
returns every broken rule as a `VerifyError(where, message)`, where `where`
is the offending op (or, for a malformed block argument type, the argument),
and the message reads like MLIR's op verifiers: `'ref.get' op ...`. It never
raises for bad IR, so callers without a PassManager (the frontend, effect
elimination's self-checks) can use it directly; the `ref-verify` pass emits the
errors as diagnostics.

Rules checked:

- every `!ref.ref<T>` type (op results, block arguments, function
  signatures) is well-formed: T a static ranked tensor of int/float/i1;
- each `ref.*` op is one of the v1 ops, has no regions or successors, the
  right number of operands and results, and operand/result types that match;
- each `ref.*` op carries only its own attributes (`ATTRIBUTES` of its
  OpView class in `ops`) and discardable ones (`dialect.name`, test-mode
  `__name__`); an unknown one is an error, with a "did you mean" hint;
- indexer attributes have the right kind and length and obey `Indexer.check`
  (strides, sizes, offsets, squeezed/indexed dims, static bounds, `mode`);
  a view's mode is 'window';
- refs appear only where allowed: function arguments, `func.call` operands
  and ref-op operands/results; never function results, `func.call` results,
  `stablehlo.while`/`case`/`if` operands/results/region arguments (refs are
  captured by those regions instead) or operands/results of any other op;
- no use of a ref (or of a view of it) after `ref.freeze`/`ref.free` in the
  same block, including uses nested in the regions of later ops.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

from jaxlib.mlir import ir

from refhlo.compiler.dialect import ops as ref_ops
from refhlo.compiler.dialect.indexer import (
    ATTR_NAMES,
    WINDOW,
    Indexer,
    IndexerError,
    memoized_from_attributes,
)
from refhlo.compiler.dialect.types import (
    RefTypeError,
    active_memo,
    is_numeric,
    is_ref_type,
    memoized,
    ref_value_type,
)

_CONTROL_FLOW = ("stablehlo.while", "stablehlo.case", "stablehlo.if")
# From the ops' traits (dialect/ops.py).
_KILLERS = ref_ops.op_names(ends_life=True)
_WRITES = ref_ops.op_names(changes=True)

_Dead = dict  # ir.Value -> the ref.freeze / ref.free op that ended its life


class VerifyError(NamedTuple):
  """One broken rule: `where` (an op, or a block argument) and the message."""

  where: ir.Operation | ir.Value
  message: str

  @property
  def location(self) -> ir.Location:
    return self.where.location


def verify(op: ir.Operation | ir.OpView | ir.Module) -> list[VerifyError]:
  """Every rule of the dialect contract that `op` (and all it contains) breaks."""
  if isinstance(op, ir.Module):
    op = op.operation
  v = _Verifier()
  with memoized():  # the pipeline's memo when run as a pass, else our own
    v.run(op.operation)
  return v.errors


verify_module = verify
"""Alias of `verify`, for callers holding a `builtin.module`."""


def emit_errors(errors: list[VerifyError]) -> None:
  """Emits each error as an MLIR diagnostic at its location."""
  for e in errors:
    e.location.emit_error(e.message)


def _plural(n: int, word: str) -> str:
  return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _is_ref_value_type(t: ir.Type) -> bool:
  """Static ranked tensor with int/float/i1 elements (what a ref holds)."""
  if not isinstance(t, ir.RankedTensorType):
    return False
  t = ir.RankedTensorType(t)
  return t.has_static_shape and isinstance(t.element_type,
                                           (ir.IntegerType, ir.FloatType))


def _is_int_tensor(t: ir.Type) -> bool:
  return isinstance(t, ir.RankedTensorType) and isinstance(
      ir.RankedTensorType(t).element_type, ir.IntegerType)


REF_SHARDING = "ref.sharding"
"""A ref argument's Shardy sharding (`#sdy.sharding<@mesh, [...]>`). Shardy's
own `sdy.sharding` cannot sit on a `!ref.ref` argument (Shardy verifies it
against a shaped type); `ref-buffer-donation` renames it to `sdy.sharding`
once the argument is a tensor, and copies it onto the donated result."""


class _Verifier:
  """One walk over the IR, collecting errors."""

  def __init__(self):
    self.errors: list[VerifyError] = []
    self._tensor_types: dict[tuple, ir.RankedTensorType] = {}
    # (op name, attribute names) -> what is wrong with them, or None.
    self._attribute_problems: dict[tuple[str, tuple[str, ...]], str | None] = {}

  # -- reporting ----------------------------------------------------------------

  def op_error(self, op: ir.Operation, message: str) -> None:
    self.errors.append(VerifyError(op, f"'{op.name}' op {message}"))

  # -- types ----------------------------------------------------------------------

  def ref_value(self, t: ir.Type) -> ir.RankedTensorType | str:
    """T of a well-formed `!ref.ref<T>`, else the reason it is malformed."""
    try:
      return ref_value_type(t)  # memoised by `verify`'s `memoized()` scope
    except RefTypeError as e:
      return str(e)

  def indexer(self, attrs: ir.OpAttributeMap, ref_t: ir.Type,
              indices_shape: tuple[int, ...]) -> Indexer:
    """`Indexer.from_attributes` for a well-formed `ref_t`, memoised
    (attributes are uniqued too) in `verify`'s `memoized()` scope."""
    return memoized_from_attributes(active_memo(), attrs, tuple(attrs), ref_t,
                                    indices_shape)

  def is_bad_ref(self, t: ir.Type) -> bool:
    return is_ref_type(t) and isinstance(self.ref_value(t), str)

  # -- the walk ---------------------------------------------------------------------

  def run(self, op: ir.Operation) -> None:
    self.visit_op(op, {})

  def visit_block(self, block: ir.Block, dead: _Dead) -> None:
    dead = dict(dead)
    for i, arg in enumerate(block.arguments):
      if is_ref_type(arg.type):
        why = self.ref_value(arg.type)
        if isinstance(why, str):
          owner = block.owner
          name = owner.operation.name if owner is not None else "block"
          self.errors.append(VerifyError(
              arg, f"'{name}' op argument #{i} has an invalid ref type: {why}"))
    for child in block.operations:
      child = child.operation
      self.check_uses(child, dead)
      self.visit_op(child, dead)
      if child.name in _KILLERS and len(child.operands) == 1 and \
          is_ref_type(child.operands[0].type):
        dead.setdefault(child.operands[0], child)

  def visit_op(self, op: ir.Operation, dead: _Dead) -> None:
    self.check_op(op)
    for region in op.regions:
      for block in region.blocks:
        self.visit_block(block, dead)

  # -- use after freeze/free ----------------------------------------------------------

  def check_uses(self, op: ir.Operation, dead: _Dead) -> None:
    """Errors for `op`'s operands that are refs in `dead` (or views of them).

    Uses nested in `op`'s regions are checked when their blocks are visited:
    they inherit `dead`.
    """
    if not dead:
      return
    for operand in op.operands:
      if not is_ref_type(operand.type):
        continue
      killer, via_view = self.killed_by(operand, dead)
      if killer is not None:
        what = "a view of a ref" if via_view else "a ref"
        self.op_error(op, f"uses {what} after its '{killer.name}' at "
                      f"{_short_loc(killer.location)}; no use of a ref may "
                      "follow its freeze or free")

  @staticmethod
  def killed_by(value: ir.Value, dead: _Dead
                ) -> tuple[ir.Operation | None, bool]:
    """The freeze/free that ended `value`'s life or a parent view's."""
    via_view = False
    seen = 0
    while True:
      killer = dead.get(value)
      if killer is not None:
        return killer, via_view
      owner = value.owner
      if isinstance(owner, ir.Block):
        return None, False
      owner = owner.operation
      if owner.name == ref_ops.RefViewOp.OPERATION_NAME and \
          len(owner.operands) >= 1 and seen < 10_000:
        value = owner.operands[0]
        via_view = True
        seen += 1
        continue
      return None, False

  # -- per-op rules -------------------------------------------------------------------

  def check_op(self, op: ir.Operation) -> None:
    name = op.name
    bad_result = False
    for i, r in enumerate(op.results):
      if is_ref_type(r.type):
        why = self.ref_value(r.type)
        if isinstance(why, str):
          self.op_error(op, f"result #{i} has an invalid ref type: {why}")
          bad_result = True
    if name.startswith("ref."):
      if name not in ref_ops.REF_OPS:
        known = ", ".join(sorted(ref_ops.REF_OPS))
        self.op_error(op, f"is not an op of the ref dialect (its ops are: {known})")
        return
      if len(op.regions) != 0:
        self.op_error(op, f"must have no regions, got {len(op.regions)}")
        return
      if len(op.successors) != 0:
        self.op_error(op, f"must have no successors, got {len(op.successors)}")
        return
      if not self.check_attributes(op):
        return
      if bad_result:
        return
      # A malformed ref operand type was reported where the value is defined.
      if any(self.is_bad_ref(v.type) for v in op.operands):
        return
      _OP_RULES[name](self, op)
      return
    if name == "func.func":
      self.check_func(op)
    self.check_placement(op)

  # -- functions and placement of refs --------------------------------------------

  def check_func(self, op: ir.Operation) -> None:
    """Declarations: argument types well-formed, no ref results; `ref.sharding`
    only on ref arguments, holding a Shardy sharding."""
    ftype_attr = op.attributes["function_type"] if "function_type" in \
        op.attributes else None
    if ftype_attr is None:
      return
    ftype = ir.FunctionType(ir.TypeAttr(ftype_attr).value)
    if "arg_attrs" in op.attributes:
      for i, d in enumerate(ir.ArrayAttr(op.attributes["arg_attrs"])):
        d = ir.DictAttr(d)
        if REF_SHARDING not in d or i >= len(ftype.inputs):
          continue
        if not is_ref_type(ftype.inputs[i]):
          self.op_error(op, f"argument #{i} has '{REF_SHARDING}' but is not a ref "
                        f"({ftype.inputs[i]}): a tensor argument takes "
                        "'sdy.sharding' itself")
        elif not str(d[REF_SHARDING]).startswith("#sdy.sharding<"):
          self.op_error(op, f"argument #{i}: '{REF_SHARDING}' must be a Shardy "
                        f"sharding (#sdy.sharding<@mesh, [...]>), got {d[REF_SHARDING]}")
    is_decl = len(op.regions) == 0 or len(op.regions[0].blocks) == 0
    if not is_decl:
      return  # arguments are block arguments; ref results are caught at return
    for i, t in enumerate(ftype.inputs):
      if is_ref_type(t):
        why = self.ref_value(t)
        if isinstance(why, str):
          self.op_error(op, f"argument #{i} has an invalid ref type: {why}")
    for i, t in enumerate(ftype.results):
      if is_ref_type(t):
        self.op_error(op, f"result #{i} has ref type {t}: functions never "
                      "return refs")

  def check_placement(self, op: ir.Operation) -> None:
    """Refs as operands/results/region arguments of a non-ref op: one error."""
    name = op.name
    if name == "func.func":
      return  # entry block arguments may be refs; results checked elsewhere
    for i, v in enumerate(op.operands):
      if not is_ref_type(v.type):
        continue
      if name == "func.call":
        continue
      if name == "func.return":
        self.op_error(op, f"operand #{i} is a ref ({v.type}): functions never "
                      "return refs")
      elif name in _CONTROL_FLOW:
        self.op_error(op, f"operand #{i} is a ref ({v.type}): refs are never "
                      f"operands of '{name}'; its regions capture them from "
                      "above instead")
      else:
        self.op_error(op, f"operand #{i} is a ref ({v.type}): only ref ops and "
                      "func.call take refs as operands")
      return
    for i, r in enumerate(op.results):
      if not is_ref_type(r.type):
        continue
      if name == "func.call":
        self.op_error(op, f"result #{i} is a ref ({r.type}): functions never "
                      "return refs")
      elif name in _CONTROL_FLOW:
        self.op_error(op, f"result #{i} is a ref ({r.type}): refs are never "
                      f"results of '{name}'")
      else:
        self.op_error(op, f"result #{i} is a ref ({r.type}): only ref.new, "
                      "ref.empty and ref.view create refs")
      return
    for region in op.regions:
      for block in region.blocks:
        for i, arg in enumerate(block.arguments):
          if is_ref_type(arg.type):
            self.op_error(op, f"region argument #{i} is a ref ({arg.type}): "
                          "refs are captured by regions, never passed in as "
                          "region arguments")
            return

  # -- the ops ----------------------------------------------------------------------------

  def expect_results(self, op: ir.Operation, n: int) -> bool:
    got = len(op.results)
    if got == n:
      return True
    want = "no results" if n == 0 else _plural(n, "result")
    self.op_error(op, f"must have {want}, got {got}")
    return False

  def expect_ref_operand(self, op: ir.Operation, i: int) -> ir.RankedTensorType | None:
    v = op.operands[i]
    if not is_ref_type(v.type):
      self.op_error(op, f"operand #{i} must be a ref (!ref.ref<T>), got {v.type}")
      return None
    return self.ref_value(v.type)

  def check_attributes(self, op: ir.Operation) -> bool:
    """Only the op's own attributes and discardable ones (one error)."""
    key = (op.name, tuple(op.attributes))
    if key not in self._attribute_problems:
      self._attribute_problems[key] = _attribute_problem(*key)
    problem = self._attribute_problems[key]
    if problem is not None:
      self.op_error(op, problem)
      return False
    return True

  def check_new(self, op: ir.Operation) -> None:
    if len(op.operands) != 1:
      self.op_error(op, f"expects 1 operand (init), got {len(op.operands)}")
      return
    if not self.expect_results(op, 1):
      return
    init_t = op.operands[0].type
    if not _is_ref_value_type(init_t):
      self.op_error(op, "init must be a statically shaped tensor of integers, "
                    f"floats or i1, got {init_t}")
      return
    res_t = op.results[0].type
    if not is_ref_type(res_t):
      self.op_error(op, f"result must be a ref, got {res_t}")
      return
    if self.ref_value(res_t) != init_t:
      self.op_error(op, f"result type {res_t} must be !ref.ref<{init_t}>, the "
                    "ref of the init's type")

  def check_empty(self, op: ir.Operation) -> None:
    if len(op.operands) != 0:
      self.op_error(op, f"takes no operands, got {len(op.operands)}")
      return
    if not self.expect_results(op, 1):
      return
    res_t = op.results[0].type
    if not is_ref_type(res_t):
      self.op_error(op, f"result must be a ref, got {res_t}")

  def check_freeze_free(self, op: ir.Operation) -> None:
    if len(op.operands) != 1:
      self.op_error(op, f"expects 1 operand (the ref), got {len(op.operands)}")
      return
    value_t = self.expect_ref_operand(op, 0)
    if value_t is None:
      return
    if op.name == ref_ops.RefFreeOp.OPERATION_NAME:
      self.expect_results(op, 0)
      return
    if not self.expect_results(op, 1):
      return
    res_t = op.results[0].type
    if res_t != value_t:
      self.op_error(op, f"result type {res_t} does not match the ref's value "
                    f"type {value_t}")

  def check_access(self, op: ir.Operation) -> None:
    """An access (get/set/swap/addupdate) or a view: its operands make a
    valid indexer of its ref, then its own result/value rule."""
    checked = self.access_indexer(op)
    if checked is None:
      return
    idx, elt = checked
    want_key = (idx.value_shape, elt)
    want_t = self._tensor_types.get(want_key)
    if want_t is None:
      want_t = self._tensor_types[want_key] = ir.RankedTensorType.get(
          list(idx.value_shape), elt, loc=op.location)
    _ACCESS_RESULT_RULES.get(op.name, _Verifier.check_write)(self, op, idx, want_t)

  def access_indexer(self, op: ir.Operation) -> tuple[Indexer, ir.Type] | None:
    """The op's Indexer (checked) and the ref's element type, or None after
    reporting what is wrong with its operands or attributes."""
    has_value = op.name in _WRITES
    fixed = 2 if has_value else 1
    operands = list(op.operands)
    if len(operands) < fixed:
      what = "a ref and a value operand" if has_value else "a ref operand"
      self.op_error(op, f"expects {what} first, got "
                    f"{_plural(len(operands), 'operand')}")
      return None
    value_t = self.expect_ref_operand(op, 0)
    if value_t is None:
      return None
    try:
      # A placeholder indices shape: only the attributes are read here.
      idx = self.indexer(op.attributes, operands[0].type, (1,))
    except IndexerError as e:
      self.op_error(op, str(e))
      return None
    rest = operands[fixed:]
    if not self.access_operand_count(op, idx, rest, has_value):
      return None
    bad = False
    for k, d in enumerate(idx.dynamic_dims):
      t = rest[k].type
      if not (_is_int_tensor(t) and ir.RankedTensorType(t).rank == 0):
        self.op_error(op, f"dynamic offset operand #{fixed + k} (for dim {d}) "
                      f"must be a 0-d integer tensor, got {t}")
        bad = True
    if idx.has_indices:
      t = rest[-1].type
      k = len(idx.indexed_dims)
      ok = _is_int_tensor(t) and ir.RankedTensorType(t).has_static_shape and \
          ir.RankedTensorType(t).rank >= 1 and ir.RankedTensorType(t).shape[-1] == k
      if not ok:
        self.op_error(op, f"indices operand #{len(operands) - 1} must be a "
                      f"static integer tensor of shape [B..., {k}] "
                      f"({k} = number of indexed_dims), got {t}")
        bad = True
      else:
        idx = self.indexer(op.attributes, operands[0].type,
                           tuple(ir.RankedTensorType(t).shape))
    if bad:
      return None
    try:
      idx.check()
    except IndexerError as e:
      self.op_error(op, str(e))
      return None
    return idx, value_t.element_type

  def access_operand_count(self, op: ir.Operation, idx: Indexer,
                           rest: list[ir.Value], has_value: bool) -> bool:
    """One operand per dynamic offset, then the indices if indexed."""
    ndyn = idx.num_dynamic_offsets
    expected = ndyn + (1 if idx.has_indices else 0)
    if len(rest) == expected:
      return True
    after = "the ref and value" if has_value else "the ref"
    if idx.has_indices and len(rest) == ndyn:
      self.op_error(op, "is missing the indices operand that 'indexed_dims' "
                    "requires")
    else:
      want = _plural(ndyn, "dynamic offset")
      if idx.has_indices:
        want += " and the indices"
      self.op_error(op, f"expects {_plural(expected, 'operand')} after {after} "
                    f"({want}, one dynamic offset per dynamic entry of "
                    f"'static_offsets'), got {len(rest)}")
    return False

  def check_view(self, op: ir.Operation, idx: Indexer, want_t: ir.Type) -> None:
    """`ref.view`: a window, whose result is the ref of the indexed window."""
    if idx.mode != WINDOW:
      self.op_error(op, f"cannot have mode '{idx.mode}': views are windows "
                    "(mode 'window')")
      return
    if not self.expect_results(op, 1):
      return
    res_t = op.results[0].type
    if not is_ref_type(res_t):
      self.op_error(op, f"result must be a ref, got {res_t}")
    elif self.ref_value(res_t) != want_t:
      self.op_error(op, f"result type {res_t} does not match "
                    f"!ref.ref<{want_t}>, the ref of the indexed window")

  def check_get(self, op: ir.Operation, idx: Indexer, want_t: ir.Type) -> None:
    """`ref.get`: one result of the indexer's value type."""
    if not self.expect_results(op, 1):
      return
    res_t = op.results[0].type
    if res_t != want_t:
      self.op_error(op, f"result type {res_t} does not match the indexer's "
                    f"value type {want_t}")

  def check_write(self, op: ir.Operation, idx: Indexer, want_t: ir.Type) -> None:
    """`ref.set` / `ref.swap` / `ref.addupdate`: the value operand has the
    indexer's value type; swap returns the old value, the others nothing."""
    name = op.name
    elt = want_t.element_type
    if name == ref_ops.RefAddUpdateOp.OPERATION_NAME and not is_numeric(elt):
      self.op_error(op, "requires a ref of numeric elements (integers other "
                    f"than i1, or floats), got {elt}")
      return
    val_t = op.operands[1].type
    if val_t != want_t:
      self.op_error(op, f"value type {val_t} does not match the indexer's value "
                    f"type {want_t}")
    if name == ref_ops.RefSwapOp.OPERATION_NAME:
      if not self.expect_results(op, 1):
        return
      res_t = op.results[0].type
      if res_t != val_t:
        self.op_error(op, f"result type {res_t} must equal the value type {val_t}")
    else:
      self.expect_results(op, 0)


# The result rule of each access op after its indexer checks out (the
# writing ops: `_Verifier.check_write`).
_ACCESS_RESULT_RULES = {
    ref_ops.RefViewOp.OPERATION_NAME: _Verifier.check_view,
    ref_ops.RefGetOp.OPERATION_NAME: _Verifier.check_get,
}


def _attribute_problem(op_name: str, names: tuple[str, ...]) -> str | None:
  """Why a `ref.*` op named `op_name` may not carry attributes `names`."""
  own = ref_ops.REF_OPS[op_name].ATTRIBUTES
  for a in names:
    if a in own or ref_ops.is_discardable_attribute(a):
      continue
    if a in ATTR_NAMES:  # an indexer attribute on an op that takes none
      if a == "indexed_dims" and own:
        return "cannot have 'indexed_dims': views are slices only"
      return f"takes no indexer, but has attribute '{a}'"
    msg = f"has unknown attribute '{a}'"
    close = difflib.get_close_matches(a, own, n=1, cutoff=0.6)
    if close:
      return f"{msg}; did you mean '{close[0]}'?"
    if own:
      msg += f" (its attributes: {', '.join(own)})"
    else:
      msg += " (it takes no attributes)"
    return (msg + "; a discardable attribute is named 'dialect.name', e.g. "
            f"'refhlo.{a}'")
  return None


def _short_loc(loc: ir.Location) -> str:
  if isinstance(loc, ir.FileLineColLoc):
    return f"{loc.filename}:{loc.start_line}:{loc.start_col}"
  return str(loc)


_OP_RULES = {
    ref_ops.RefNewOp.OPERATION_NAME: _Verifier.check_new,
    ref_ops.RefEmptyOp.OPERATION_NAME: _Verifier.check_empty,
    ref_ops.RefFreezeOp.OPERATION_NAME: _Verifier.check_freeze_free,
    ref_ops.RefFreeOp.OPERATION_NAME: _Verifier.check_freeze_free,
    ref_ops.RefGetOp.OPERATION_NAME: _Verifier.check_access,
    ref_ops.RefSetOp.OPERATION_NAME: _Verifier.check_access,
    ref_ops.RefSwapOp.OPERATION_NAME: _Verifier.check_access,
    ref_ops.RefAddUpdateOp.OPERATION_NAME: _Verifier.check_access,
    ref_ops.RefViewOp.OPERATION_NAME: _Verifier.check_access,
}
