// RUN: ref-opt %s | ref-opt | FileCheck %s
// RUN: ref-opt %s --ref-verify | ref-opt --ref-verify | FileCheck %s

// Ref ops (generic syntax, opaque !ref.ref type) survive printing and parsing.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[BUF:.*]]: !ref.ref<tensor<8x4xf32>>, %[[I:.*]]: tensor<i32>, %[[ROW:.*]]: tensor<4xf32>)
// CHECK: %[[OLD:.*]] = "ref.swap"(%[[BUF]], %[[ROW]], %[[I]])
// CHECK-SAME: squeezed_dims = array<i64: 0>
// CHECK-SAME: static_offsets = array<i64: -9223372036854775808, 0>
// CHECK-SAME: (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
// CHECK: return %[[OLD]]
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
          static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return %old : tensor<4xf32>
}

// CHECK-LABEL: func.func @local
// CHECK: %[[R:.*]] = "ref.new"(%{{.*}}) : (tensor<2xi32>) -> !ref.ref<tensor<2xi32>>
// CHECK: "ref.addupdate"(%[[R]], %{{.*}}) : (!ref.ref<tensor<2xi32>>, tensor<2xi32>) -> ()
// CHECK: "ref.freeze"(%[[R]]) : (!ref.ref<tensor<2xi32>>) -> tensor<2xi32>
func.func @local(%x: tensor<2xi32>) -> tensor<2xi32> {
  %r = "ref.new"(%x) : (tensor<2xi32>) -> !ref.ref<tensor<2xi32>>
  "ref.addupdate"(%r, %x) : (!ref.ref<tensor<2xi32>>, tensor<2xi32>) -> ()
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<2xi32>>) -> tensor<2xi32>
  return %v : tensor<2xi32>
}
