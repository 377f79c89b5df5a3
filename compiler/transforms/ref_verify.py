"""`ref-verify`: the `ref` dialect's verifier, as a pass.

MLIR does not know the (unregistered) `ref` dialect, so nothing checks its
ops but this pass. The rules live in `refhlo.compiler.dialect.verifier`; code
that wants them without a PassManager calls `verify_module(module)` (re-exported
here), which returns `[VerifyError(where, message), ...]`.
"""

from __future__ import annotations

import dataclasses

from jaxlib.mlir import ir

from refhlo.compiler.dialect.verifier import (  # noqa: F401
    VerifyError,
    emit_errors,
    verify,
    verify_module,
)
from refhlo.compiler.passes import Pass, PassFailure


@dataclasses.dataclass
class RefVerify(Pass):
  """Checks every rule of the ref dialect contract; changes nothing."""

  NAME = "ref-verify"
  SUMMARY = "Verify the ref dialect: types, indexers, operands, ref placement, use after free"
  STATISTICS = {
      "functions-verified": "Functions verified",
      "errors": "Broken rules reported",
  }
  DESCRIPTION = """\
The verifier of the `ref` dialect, which MLIR cannot verify itself (it is
unregistered in C++). It checks that every `!ref.ref<T>` holds a static ranked
tensor of integers, floats or i1; that each `ref.*` op is a v1 op with the
right operands, results and types; that indexer attributes are well-formed and
static windows lie inside the ref; that refs appear only as function
arguments, `func.call` operands and ref-op operands/results (captured, never
passed, by `stablehlo.while`/`case`/`if` regions, and never returned); and that
no ref, nor a view of it, is used after its `ref.freeze`/`ref.free` in the same
block. Every broken rule is reported at the offending op, and the pass fails.
Valid IR passes through unchanged:

```mlir
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}
```

while a broken rule is an error:

```mlir
func.func @bad(%buf: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  %v = ref.freeze %buf : !ref.ref<tensor<8x4xf32>>
  // error: 'ref.get' op uses a ref after its 'ref.freeze' at ...
  %w = ref.get %buf : !ref.ref<tensor<8x4xf32>> -> tensor<8x4xf32>
  return %w : tensor<8x4xf32>
}
```
"""

  def run(self, module: ir.Operation) -> None:
    errors = verify(module)
    self.stat("functions-verified").add(sum(
        1 for op in module.regions[0].blocks[0].operations
        if op.operation.name == "func.func"))
    self.stat("errors").add(len(errors))
    if errors:
      emit_errors(errors)
      raise PassFailure()


PASS = RefVerify
