"""`ref-to-stablehlo`: the whole lowering from the `ref` dialect to StableHLO.

A registered pipeline: verify the input, donate written ref arguments of
public functions, promote refs to SSA values, clean up, and check that no ref
is left.
"""

from __future__ import annotations

from refhlo.compiler.passes import PassPipeline

PASS = PassPipeline(
    NAME="ref-to-stablehlo",
    SUMMARY="Lower ref programs to plain StableHLO with donated, in-place updated buffers",
    DESCRIPTION="""\
The whole lowering, from a ref program to plain StableHLO whose ref
buffers XLA updates in place: its elements (`ELEMENTS`; the pass reference
lists them with their summaries, `ref-opt --dump-pass-pipeline` prints them)
run in order, and each can be run alone with its own flag.

Before:

```mlir
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}
```

After:

```mlir
func.func @main(%arg0: tensor<8x4xf32> {tf.aliasing_output = 1 : i32}, %arg1: tensor<i32>, %arg2: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %c = stablehlo.constant dense<0> : tensor<i32>
  %c_0 = stablehlo.constant dense<7> : tensor<i32>
  %0 = stablehlo.clamp %c, %arg1, %c_0 : tensor<i32>
  %1 = stablehlo.dynamic_slice %arg0, %0, %c, sizes = [1, 4] : (tensor<8x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
  %2 = stablehlo.reshape %1 : (tensor<1x4xf32>) -> tensor<4xf32>
  %3 = stablehlo.reshape %arg2 : (tensor<4xf32>) -> tensor<1x4xf32>
  %4 = stablehlo.dynamic_update_slice %arg0, %3, %0, %c : (tensor<8x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<8x4xf32>
  return %2, %4 : tensor<4xf32>, tensor<8x4xf32>
}
```
""",
    ELEMENTS=("ref-verify", "ref-sparse-updates", "ref-buffer-donation", "ref-effect-elimination",
              "ref-prepare-for-xla", "canonicalize", "cse", "ref-check-lowered"),
)
