// Swap one row of a buffer: the example of docs/dialect.md.
// ref-opt docs/examples/swap_row.mlir --ref-to-stablehlo
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
          static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return %old : tensor<4xf32>
}
