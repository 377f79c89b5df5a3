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


def _problem(op: ir.Operation) -> str | None:
  if op.name.startswith("ref."):
    return f"'{op.name}' was not lowered"
  for v in op.operands:
    if _mentions_ref(v.type):
      return f"'{op.name}' still takes a ref operand of type {v.type}"
  for v in op.results:
    if _mentions_ref(v.type):
      return f"'{op.name}' still produces a ref of type {v.type}"
  for region in op.regions:
    for block in region.blocks:
      for a in block.arguments:
        if _mentions_ref(a.type):
          return f"'{op.name}' still has a block argument of ref type {a.type}"
  if op.name == "func.func":
    ft = ir.TypeAttr(op.attributes["function_type"]).value
    if _mentions_ref(ft):
      return f"function type {ft} still mentions a ref type"
  return None


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
    failed = False

    def visit(op: ir.Operation) -> None:
      nonlocal failed
      for region in op.regions:
        for block in region.blocks:
          for inner in block.operations:
            inner = inner.operation
            msg = _problem(inner)
            if msg is not None:
              emit_error(inner, msg)
              failed = True
            visit(inner)

    visit(module.operation)
    if failed:
      raise PassFailure()


PASS = RefCheckLowered
