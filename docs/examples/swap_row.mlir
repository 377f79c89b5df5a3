// Swap one row of a buffer: the example of docs/dialect.md.
// ref-opt docs/examples/swap_row.mlir --ref-to-stablehlo
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row
      : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}
