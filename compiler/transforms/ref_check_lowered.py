"""`ref-check-lowered`: the final check that the module is valid StableHLO.

The last element of `ref-to-stablehlo`: after effect elimination the module
must be plain StableHLO that MLIR (without unregistered dialects) and XLA
accept. Reported as errors, each at the offending op or function argument:

- refs left over: any `ref.*` op, any op with a `!ref.*` operand or result,
  any block argument of a `!ref.*` type and any function whose type mentions
  one;
- anything of an unregistered dialect: an op (`"foo.bar"(...)`), a type
  (`!foo.t`, also nested in tensor, function and tuple types) or an attribute
  value (`#foo.a<...>`, also nested in arrays and dictionaries) of a function
  or in a discardable (`dialect.name`) attribute of any op;
- function arguments XLA rejects: `tf.aliasing_output` together with
  `jax.buffer_donor`, an aliasing output that is not an integer naming a
  result of the argument's type, two arguments aliasing one result;
- malformed `mhlo.sharding` strings, on function arguments and results and on
  ops (see `refhlo.compiler.sharding`). `sdy.sharding` attributes are checked
  by the registered Shardy dialect's own verifier.
"""

from __future__ import annotations

import dataclasses
import re

from jaxlib.mlir import ir

from refhlo.compiler import irutil
from refhlo.compiler.dialect.types import is_ref_type
from refhlo.compiler.passes import Pass, PassFailure, emit_error
from refhlo.compiler.sharding import sharding_problem
from refhlo.compiler.transforms.ref_buffer_donation import (ALIASING_OUTPUT,
                                                            BUFFER_DONOR)

MHLO_SHARDING = "mhlo.sharding"

_REF = "ref"  # a type_kind: mentions a ref type
_NAMESPACE_RE = re.compile(r"[!#]([A-Za-z_][A-Za-z0-9_$]*)[.<]")


class _Checker:
  """The checks, memoised per type, op name and dialect (types are uniqued:
  printing each operand's type was most of this pass's time)."""

  def __init__(self, context: ir.Context):
    self._context = context
    self._types: dict[ir.Type, str | None] = {}
    self._ops: dict[str, bool] = {}
    self._dialects: dict[str, bool] = {}

  # -- registered or not ---------------------------------------------------

  def dialect_known(self, namespace: str) -> bool:
    hit = self._dialects.get(namespace)
    if hit is None:
      try:
        self._context.dialects[namespace]
        hit = True
      except (IndexError, KeyError, ValueError):
        hit = False
      self._dialects[namespace] = hit
    return hit

  def op_known(self, name: str) -> bool:
    hit = self._ops.get(name)
    if hit is None:
      hit = self._ops[name] = self._context.is_registered_operation(name)
    return hit

  def type_kind(self, t: ir.Type) -> str | None:
    """`_REF` for a type mentioning a ref, the namespace of an unregistered
    dialect it mentions, else None."""
    if t in self._types:
      return self._types[t]
    text = str(t)
    kind = None
    if is_ref_type(t) or "!ref." in text:
      kind = _REF
    else:
      for ns in _NAMESPACE_RE.findall(text):
        if not self.dialect_known(ns):
          kind = ns
          break
    self._types[t] = kind
    return kind

  def attr_kind(self, a: ir.Attribute) -> str | None:
    """Like `type_kind`, for an attribute value (recursing into arrays,
    dictionaries and type attributes)."""
    if isinstance(a, ir.OpaqueAttr):
      return ir.OpaqueAttr(a).dialect_namespace
    if isinstance(a, ir.TypeAttr):
      return self.type_kind(ir.TypeAttr(a).value)
    if isinstance(a, ir.ArrayAttr):
      for e in ir.ArrayAttr(a):
        k = self.attr_kind(e)
        if k is not None:
          return k
    elif isinstance(a, ir.DictAttr):
      d = ir.DictAttr(a)
      for i in range(len(d)):
        k = self.attr_kind(d[i].attr)
        if k is not None:
          return k
    return None

  # -- one op ----------------------------------------------------------------

  def problem(self, op: ir.Operation) -> str | None:
    """What is wrong with `op` itself (the first thing found), or None."""
    name = op.name
    if name.startswith("ref."):
      return f"'{name}' was not lowered"
    kinds = []  # (kind, what) of every type `op` touches, in order
    for v in op.operands:
      t = v.type
      k = self.type_kind(t)
      if k == _REF:
        return f"'{name}' still takes a ref operand of type {t}"
      kinds.append((k, f"takes an operand of type {t}"))
    for v in op.results:
      t = v.type
      k = self.type_kind(t)
      if k == _REF:
        return f"'{name}' still produces a ref of type {t}"
      kinds.append((k, f"produces a value of type {t}"))
    for region in op.regions:
      for block in region.blocks:
        for a in block.arguments:
          t = a.type
          k = self.type_kind(t)
          if k == _REF:
            return f"'{name}' still has a block argument of ref type {t}"
          kinds.append((k, f"has a block argument of type {t}"))
    if name == "func.func":
      ft = ir.TypeAttr(op.attributes["function_type"]).value
      k = self.type_kind(ft)
      if k == _REF:
        return f"function type {ft} still mentions a ref type"
      kinds.append((k, f"has function type {ft}"))
    if not self.op_known(name):
      return (f"'{name}' is not a registered op (dialect "
              f"'{name.split('.', 1)[0]}' is unknown to MLIR): the lowered "
              "module must be plain StableHLO")
    for k, what in kinds:
      if k is not None:
        return f"'{name}' {what}, of the unregistered dialect '{k}'"
    attrs = op.attributes
    for i in range(len(attrs)):
      named = attrs[i]
      k = self.attr_kind(named.attr)
      if k is not None:
        return (f"'{name}' has attribute '{named.name}' = {named.attr} of the "
                f"unregistered dialect '{k}'")
    return None

  # -- the quick scan --------------------------------------------------------

  def scan(self, root: ir.Operation
           ) -> tuple[bool, list[ir.Operation], list[ir.Operation]]:
    """One walk: (whether no op can have a `problem`, the `func.func` ops, the
    other ops with an `mhlo.sharding`). Every operand is an op result or a
    block argument, so operands need no look; when anything is found,
    `problem` runs on every op to report it where the full rules say."""
    type_kind, attr_kind, op_known = self.type_kind, self.attr_kind, self.op_known
    clean = True
    funcs: list[ir.Operation] = []
    sharded: list[ir.Operation] = []
    stack = [root]
    while stack:
      op = stack.pop()
      for region in op.regions:
        for block in region.blocks:
          if clean:
            for a in block.arguments:
              if type_kind(a.type) is not None:
                clean = False
          for inner in block.operations:
            inner = inner.operation
            name = inner.name
            if name == "func.func":
              funcs.append(inner)
            # Attribute values: a function's, and every op's discardable
            # (`dialect.name`) ones; the inherent attributes of a registered
            # op are typed by its dialect (`problem` looks at all of them).
            attrs = inner.attributes
            is_func = name == "func.func"
            for a in attrs:
              if is_func or "." in a:
                if a == MHLO_SHARDING and not is_func:
                  sharded.append(inner)
                if clean and attr_kind(attrs[a]) is not None:
                  clean = False
            if clean:
              if not op_known(name):
                clean = False
              else:
                for r in inner.results:
                  if type_kind(r.type) is not None:
                    clean = False
                    break
            if len(inner.regions):
              stack.append(inner)
    return clean, funcs, sharded

  # -- function signatures ---------------------------------------------------

  def function_problems(self, fop: ir.Operation
                        ) -> list[tuple[ir.Operation | ir.Value, str]]:
    """Argument and result attributes that XLA rejects, each with where."""
    attrs = fop.attributes
    name = irutil.func_name(fop)
    ftype = ir.FunctionType(ir.TypeAttr(attrs["function_type"]).value)
    inputs, results = list(ftype.inputs), list(ftype.results)
    has_body = len(fop.regions) and len(fop.regions[0].blocks)
    args = list(fop.regions[0].blocks[0].arguments) if has_body else []
    out: list[tuple[ir.Operation | ir.Value, str]] = []

    def at(i: int) -> ir.Operation | ir.Value:
      return args[i] if i < len(args) else fop

    aliased: dict[int, int] = {}  # result -> argument
    bad_shardings: set[str] = set()
    for i, d in enumerate(irutil.attr_dicts(attrs, "arg_attrs")):
      what = f"argument #{i} of @{name}"
      alias = d.get(ALIASING_OUTPUT)
      if alias is not None:
        k = ir.IntegerAttr(alias).value if isinstance(alias, ir.IntegerAttr) else None
        if BUFFER_DONOR in d:  # whatever its value (XLA looks at its presence)
          out.append((at(i), f"{what} has both '{ALIASING_OUTPUT}' and "
                      f"'{BUFFER_DONOR}': XLA rejects an argument that is "
                      "aliased with an output and also a buffer donor"))
        elif k is None or not 0 <= k < len(results):
          out.append((at(i), f"{what} has '{ALIASING_OUTPUT}' = {alias}, which "
                      f"is not the index of one of its {len(results)} results"))
        elif k in aliased:
          out.append((at(i), f"{what} aliases result #{k}, as argument "
                      f"#{aliased[k]} does"))
        elif i < len(inputs) and inputs[i] != results[k]:
          out.append((at(i), f"{what} of type {inputs[i]} aliases result #{k} "
                      f"of type {results[k]}"))
        else:
          aliased[k] = i
      if MHLO_SHARDING in d:
        t = inputs[i] if i < len(inputs) else None
        why = sharding_problem(d[MHLO_SHARDING], t)
        if why is not None:
          bad_shardings.add(str(d[MHLO_SHARDING]))
          out.append((at(i), f"{what} has a malformed '{MHLO_SHARDING}' "
                      f"{d[MHLO_SHARDING]}: {why}"))
    for k, d in enumerate(irutil.attr_dicts(attrs, "res_attrs")):
      # A sharding copied from an argument (buffer donation) was reported there.
      if MHLO_SHARDING not in d or str(d[MHLO_SHARDING]) in bad_shardings:
        continue
      t = results[k] if k < len(results) else None
      why = sharding_problem(d[MHLO_SHARDING], t)
      if why is not None:
        out.append((fop, f"result #{k} of @{name} has a malformed "
                    f"'{MHLO_SHARDING}' {d[MHLO_SHARDING]}: {why}"))
    return out

  def op_sharding_problem(self, op: ir.Operation) -> str | None:
    """A malformed `mhlo.sharding` on an op (shape checked for one result)."""
    attr = op.attributes[MHLO_SHARDING]
    t = op.results[0].type if len(op.results) == 1 else None
    why = sharding_problem(attr, t)
    if why is None:
      return None
    return f"'{op.name}' has a malformed '{MHLO_SHARDING}' {attr}: {why}"


@dataclasses.dataclass
class RefCheckLowered(Pass):
  """Fails on anything left in the module that is not valid StableHLO."""

  NAME = "ref-check-lowered"
  SUMMARY = "Check the output is valid StableHLO: no ref or unregistered op/type, sound donation, shardings"
  STATISTICS = {
      "functions-checked": "Functions checked (signature, donation, shardings)",
      "sharded-ops-checked": "Ops with an mhlo.sharding checked",
  }
  DESCRIPTION = """\
Reports every `ref.*` op, every op with a `!ref.*` operand, result or block
argument, and every function whose type mentions a ref; every op, type or
attribute value of an unregistered dialect (MLIR without unregistered
dialects could not read the output back); every function argument that has
both `tf.aliasing_output` and `jax.buffer_donor` or an aliasing output that
does not name a result of its type (XLA rejects them); and every malformed
`mhlo.sharding` (checked with a strict parse and XLA's own sharding parser,
and against the shape of its value). Each is an error at the op or argument.
The module is not changed. A lowered module passes:

```mlir
func.func @main(%buf: tensor<8xf32> {mhlo.sharding = "{devices=[2]<=[2]}", tf.aliasing_output = 0 : i32}, %v: tensor<f32>) -> tensor<8xf32> {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0 = stablehlo.reshape %v : (tensor<f32>) -> tensor<1xf32>
  %1 = stablehlo.dynamic_update_slice %buf, %0, %c : (tensor<8xf32>, tensor<1xf32>, tensor<i32>) -> tensor<8xf32>
  return %1 : tensor<8xf32>
}
```

while one with a ref op left fails, as does a malformed sharding:

```mlir
func.func @main(%buf: tensor<8xf32>) -> tensor<8xf32> {
  // error: 'ref.new' was not lowered
  %r = ref.new %buf : !ref.ref<tensor<8xf32>>
  %v = ref.freeze %r : !ref.ref<tensor<8xf32>>
  return %v : tensor<8xf32>
}
// error: argument #0 of @f has a malformed 'mhlo.sharding' "{devices=[2]<=[3]}": the iota
// dimensions [3] hold 3 devices, but the tile assignment [2] has 2 tiles (column 13)
func.func @f(%x: tensor<8xf32> {mhlo.sharding = "{devices=[2]<=[3]}"}) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    checker = _Checker(module.context)
    clean, funcs, sharded = checker.scan(module.operation)
    self.stat("functions-checked").add(len(funcs))
    self.stat("sharded-ops-checked").add(len(sharded))
    failed = False
    if not clean:
      problem = checker.problem

      def visit(op: ir.Operation) -> None:
        nonlocal failed
        for region in op.regions:
          for block in region.blocks:
            for inner in block.operations:
              inner = inner.operation
              msg = problem(inner)
              if msg is not None:
                emit_error(inner, msg)
                failed = True
              visit(inner)

      visit(module.operation)
    for fop in funcs:
      for where, msg in checker.function_problems(fop):
        emit_error(where, msg)
        failed = True
    for op in sharded:
      msg = checker.op_sharding_problem(op)
      if msg is not None:
        emit_error(op, msg)
        failed = True
    if failed:
      raise PassFailure()


PASS = RefCheckLowered
