"""IR helpers shared by the transforms: walking, symbols, rebuilding ops.

Small, dependency-free functions over jaxlib's MLIR bindings. Passes import
from here rather than keeping private copies, so that a fix (or a faster walk)
lands everywhere at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from jaxlib.mlir import ir


def walk_ops(op: ir.Operation) -> list[ir.Operation]:
  """Every op nested inside (not including) `op`, in pre-order: MLIR's own
  walk (`Operation.walk`, ~2x faster than iterating blocks from Python). A
  list, taken before the caller looks at any op: rewriting while iterating
  over it is safe."""
  out = _pre_order(op)
  del out[0]  # `op` itself
  return out


def walk_region_ops(region: ir.Region) -> list[ir.Operation]:
  """Every op inside `region`, in pre-order (a list, as `walk_ops`)."""
  out: list[ir.Operation] = []
  for block in region.blocks:
    for inner in block.operations:
      out += _pre_order(inner.operation)
  return out


def _pre_order(op: ir.Operation) -> list[ir.Operation]:
  """`op` and every op nested in it, in pre-order."""
  out: list[ir.Operation] = []
  append = out.append

  def visit(o: ir.Operation) -> ir.WalkResult:
    append(o)
    return _ADVANCE

  op.walk(visit, ir.WalkOrder.PRE_ORDER)
  return out


def any_nested_op(op: ir.Operation, pred: Callable[[ir.Operation], bool]) -> bool:
  """Whether `pred` holds for an op nested inside (not including) `op`; the
  walk stops at the first one."""
  found, root = False, True

  def visit(o: ir.Operation) -> ir.WalkResult:
    nonlocal found, root
    if root:  # pre-order: `op` itself comes first
      root = False
    elif pred(o):
      found = True
      return ir.WalkResult.INTERRUPT
    return _ADVANCE

  op.walk(visit, ir.WalkOrder.PRE_ORDER)
  return found


_ADVANCE = ir.WalkResult.ADVANCE


def attrs_of(op: ir.Operation) -> dict[str, ir.Attribute]:
  """The op's attributes as a plain dict (to re-create it)."""
  attrs = op.attributes
  return {(n if isinstance(n, str) else n.name): (attrs[n] if isinstance(n, str) else n.attr)
          for n in attrs}


def func_name(f: ir.Operation) -> str:
  return ir.StringAttr(f.attributes["sym_name"]).value


def callee_name(call: ir.Operation) -> str:
  return ir.FlatSymbolRefAttr(call.attributes["callee"]).value


def is_private(f: ir.Operation) -> bool:
  return ("sym_visibility" in f.attributes
          and ir.StringAttr(f.attributes["sym_visibility"]).value == "private")


def is_public(f: ir.Operation) -> bool:
  """No `sym_visibility`, or "public" (not "private", not "nested")."""
  attrs = f.attributes
  return ("sym_visibility" not in attrs
          or ir.StringAttr(attrs["sym_visibility"]).value == "public")


def module_functions(module: ir.Operation) -> list[ir.Operation]:
  """The `func.func` ops directly in the module's body, in order."""
  return [inner.operation for inner in module.operation.regions[0].blocks[0].operations
          if inner.operation.name == "func.func"]


def module_funcs(module: ir.Operation) -> dict[str, ir.Operation]:
  """The `func.func` ops of a module, by name (functions are not nested in
  functions, so bodies are not walked)."""
  funcs: dict[str, ir.Operation] = {}
  stack = [module]
  while stack:
    for region in stack.pop().regions:
      for block in region.blocks:
        for op in block.operations:
          op = op.operation
          if op.name == "func.func":
            funcs[func_name(op)] = op
          elif len(op.regions):
            stack.append(op)
  return funcs


def attr_dicts(attrs: ir.OpAttributeMap, name: str, n: int | None = None
               ) -> list[dict[str, ir.Attribute]]:
  """A function's `arg_attrs` / `res_attrs` as plain dicts: `n` of them
  (padded with empty ones, cut beyond), or as many as the array holds."""
  out: list[dict[str, ir.Attribute]] = []
  if name in attrs:
    for d in ir.ArrayAttr(attrs[name]):
      d = ir.DictAttr(d)
      out.append({d[j].name: d[j].attr for j in range(len(d))})
  if n is not None:
    out = out[:n] + [{} for _ in range(n - len(out))]
  return out


@dataclasses.dataclass
class Signature:
  """A `func.func`'s signature as plain Python, to rewrite and write back:
  argument and result types, and their attribute dicts (one per argument /
  result). The one signature rewriter: passes that change a function's
  arguments or results edit a `Signature` and `apply` it."""
  inputs: list[ir.Type]
  results: list[ir.Type]
  arg_attrs: list[dict[str, ir.Attribute]]
  res_attrs: list[dict[str, ir.Attribute]]
  had_arg_attrs: bool
  had_res_attrs: bool

  @classmethod
  def of(cls, f: ir.Operation) -> Signature:
    attrs = f.attributes
    ftype = ir.FunctionType(ir.TypeAttr(attrs["function_type"]).value)
    inputs, results = list(ftype.inputs), list(ftype.results)
    return cls(inputs, results, attr_dicts(attrs, "arg_attrs", len(inputs)),
               attr_dicts(attrs, "res_attrs", len(results)),
               "arg_attrs" in attrs, "res_attrs" in attrs)

  def apply(self, f: ir.Operation) -> None:
    """Writes `function_type` and the attribute arrays (padded with empty
    dicts to the new arity); an array is written when it was there before
    or holds something, so a function without one keeps none."""
    attrs = f.attributes
    attrs["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(self.inputs, self.results))
    for name, dicts, n, had in (("arg_attrs", self.arg_attrs, len(self.inputs), self.had_arg_attrs),
                                ("res_attrs", self.res_attrs, len(self.results), self.had_res_attrs)):
      dicts = dicts[:n] + [{} for _ in range(n - len(dicts))]
      if had or any(dicts):
        attrs[name] = ir.ArrayAttr.get([ir.DictAttr.get(d) for d in dicts])


def terminator_of(region: ir.Region) -> ir.Operation:
  """The terminator of a single-block region."""
  ops = region.blocks[0].operations
  return ops[len(ops) - 1].operation


def replace_terminator(ret: ir.Operation, operands: list[ir.Value]) -> ir.Operation:
  """Re-creates terminator `ret` with new operands; returns the new one."""
  with ir.InsertionPoint(ret), ret.location:
    new = ir.Operation.create(ret.name, results=[], operands=operands,
                              attributes=attrs_of(ret))
  ret.erase()
  return new


def replace_in(ops: list[ir.Operation], old: ir.Value, new: ir.Value) -> None:
  """Replaces `old` by `new` in `ops` and everything nested in them."""

  def visit(o: ir.Operation) -> ir.WalkResult:
    o.replace_uses_of_with(old, new)
    return ir.WalkResult.ADVANCE

  for o in ops:
    o.walk(visit)


def rebuild(op: ir.Operation, operands: list[ir.Value], results: list[ir.Type],
            order: list[int] | None = None) -> ir.Operation:
  """A copy of `op` with new operands/results, its regions' ops moved over
  (new region i takes old region order[i]); uses of the old results are
  replaced by the new ones (pairwise, as far as both go) and `op` is erased."""
  with ir.InsertionPoint(op), op.location:
    new = ir.Operation.create(op.name, results=results, operands=operands,
                              attributes=attrs_of(op),
                              regions=len(op.regions))
  order = order if order is not None else list(range(len(op.regions)))
  for old_r, new_r in zip([op.regions[i] for i in order], new.regions):
    for old_b in old_r.blocks:
      args = list(old_b.arguments)
      nb = ir.Block.create_at_start(new_r, [a.type for a in args],
                                    [a.location for a in args])
      for a, na in zip(args, nb.arguments):
        a.replace_all_uses_with(na)
      for inner in list(old_b.operations):
        nb.append(inner.operation)
  for old, nv in zip(op.results, new.results):
    old.replace_all_uses_with(nv)
  op.erase()
  return new


def enclosing(op: ir.Operation, names: tuple[str, ...]) -> ir.Operation | None:
  """The closest ancestor of `op` (below its `func.func`) named in `names`."""
  p = op.parent
  while p is not None and p.name != "func.func":
    if p.name in names:
      return p
    p = p.parent
  return None


def defined_inside(v: ir.Value, op: ir.Operation) -> bool:
  """Whether `v` is defined in one of `op`'s regions (at any depth)."""
  owner = v.owner
  p = (owner.owner if isinstance(owner, ir.Block) else owner).operation
  op = op.operation
  while p is not None:
    p = p.operation
    if p == op:
      return True
    if p.name == "func.func":
      return False
    p = p.parent
  return False


def clone_module(module: ir.Module) -> ir.Module:
  """A deep copy of `module` in its context, with its attributes and
  locations: cheaper than printing and re-parsing it (no text, no verifier)."""
  op = module.operation
  copy = ir.Module.create(loc=op.location)
  for a in op.attributes:
    copy.operation.attributes[a.name] = a.attr
  ip = ir.InsertionPoint(copy.body)
  for child in module.body.operations:
    child.operation.clone(ip=ip)
  return copy


# -- NumPy dtypes of MLIR types (the interpreter, XLA's results) ------------------


def _float_dtype(name: str) -> np.dtype:
  simple = {"f16": np.float16, "f32": np.float32, "f64": np.float64}
  if name in simple:
    return np.dtype(simple[name])
  import ml_dtypes  # a NumPy extension (no jax import)
  extra = {"bf16": ml_dtypes.bfloat16, "f8E4M3FN": ml_dtypes.float8_e4m3fn,
           "f8E5M2": ml_dtypes.float8_e5m2}
  if name in extra:
    return np.dtype(extra[name])
  raise NotImplementedError(f"element type {name}")


_DTYPE_CACHE: dict[str, np.dtype] = {}


def element_dtype(t: ir.Type) -> np.dtype:
  """The NumPy dtype of an MLIR element type (i1 -> bool)."""
  key = str(t)
  dt = _DTYPE_CACHE.get(key)
  if dt is not None:
    return dt
  if isinstance(t, ir.IntegerType):
    it = ir.IntegerType(t)
    if it.width == 1:
      dt = np.dtype(np.bool_)
    else:
      dt = np.dtype(f"{'u' if it.is_unsigned else ''}int{it.width}")
  elif isinstance(t, ir.IndexType):
    dt = np.dtype(np.int64)
  else:
    dt = _float_dtype(key)
  _DTYPE_CACHE[key] = dt
  return dt


def tensor_dtype(t: ir.Type) -> np.dtype:
  return element_dtype(ir.RankedTensorType(t).element_type)
