"""`ref-check-lowered`: the final check that no `ref` op or `!ref.*` type is left.

The last element of `ref-to-stablehlo`: after effect elimination the module
must be plain StableHLO. Any `ref.*` op, any op with a `!ref.*` operand or
result, any block argument of a `!ref.*` type and any function whose type
mentions one is reported as an error at the offending op.
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler.dialect.types import is_ref_type
from refhlo.compiler.passes import Pass, PassError, PassFailure, emit_error


def _mentions_ref(t: ir.Type) -> bool:
  return is_ref_type(t) or "!ref." in str(t)


class _Checker:
  """`_mentions_ref`, memoised per type (types are uniqued: printing each
  operand's type was most of this pass's time)."""

  def __init__(self):
    self._seen: dict[ir.Type, bool] = {}

  def mentions_ref(self, t: ir.Type) -> bool:
    hit = self._seen.get(t)
    if hit is None:
      hit = self._seen[t] = _mentions_ref(t)
    return hit

  def problem(self, op: ir.Operation) -> str | None:
    name = op.name
    if name.startswith("ref."):
      return f"'{name}' was not lowered"
    mentions_ref = self.mentions_ref
    for v in op.operands:
      t = v.type
      if mentions_ref(t):
        return f"'{name}' still takes a ref operand of type {t}"
    for v in op.results:
      t = v.type
      if mentions_ref(t):
        return f"'{name}' still produces a ref of type {t}"
    for region in op.regions:
      for block in region.blocks:
        for a in block.arguments:
          if mentions_ref(a.type):
            return f"'{name}' still has a block argument of ref type {a.type}"
    if name == "func.func":
      ft = ir.TypeAttr(op.attributes["function_type"]).value
      if mentions_ref(ft):
        return f"function type {ft} still mentions a ref type"
    return None


  def clean(self, root: ir.Operation) -> bool:
    """A quick first scan: no ref op and no value (op result or block
    argument) or function type mentioning a ref. Every operand is such a
    value, so operands need no look; when this finds anything, `problem`
    runs on every op to report it where the full rules say."""
    mentions_ref = self.mentions_ref
    stack = [root]
    while stack:
      op = stack.pop()
      for region in op.regions:
        for block in region.blocks:
          for a in block.arguments:
            if mentions_ref(a.type):
              return False
          for inner in block.operations:
            inner = inner.operation
            name = inner.name
            if name.startswith("ref."):
              return False
            for r in inner.results:
              if mentions_ref(r.type):
                return False
            if name == "func.func" and mentions_ref(
                ir.TypeAttr(inner.attributes["function_type"]).value):
              return False
            if len(inner.regions):
              stack.append(inner)
    return True


@dataclasses.dataclass
class RefCheckLowered(Pass):
  """Fails on any ref op or ref type left in the module."""

  NAME = "ref-check-lowered"
  SUMMARY = "Check that no ref op or !ref type remains (the end of ref-to-stablehlo)"
  DESCRIPTION = """\
Reports every `ref.*` op, every op with a `!ref.*` operand, result or block
argument, and every function whose type mentions a ref, each as an error at
the op. The module is not changed. A lowered module passes:

```mlir
func.func @main(%buf: tensor<8xf32>, %v: tensor<f32>) -> tensor<8xf32> {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %0 = stablehlo.reshape %v : (tensor<f32>) -> tensor<1xf32>
  %1 = stablehlo.dynamic_update_slice %buf, %0, %c : (tensor<8xf32>, tensor<1xf32>, tensor<i32>) -> tensor<8xf32>
  return %1 : tensor<8xf32>
}
```

while one with a ref op left fails:

```mlir
func.func @main(%buf: tensor<8xf32>) -> tensor<8xf32> {
  // error: 'ref.new' was not lowered
  %r = "ref.new"(%buf) : (tensor<8xf32>) -> !ref.ref<tensor<8xf32>>
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>
  return %v : tensor<8xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    checker = _Checker()
    if checker.clean(module.operation):
      return
    failed = False
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
    if failed:
      raise PassFailure()


PASS = RefCheckLowered
