// RUN: ref-opt %s | ref-opt | FileCheck %s
// RUN: ref-opt %s --ref-verify | ref-opt --ref-verify | FileCheck %s
// RUN: ref-opt %s --mlir-print-op-generic | ref-opt | FileCheck %s

// Ref ops (pretty syntax, opaque !ref.ref type) survive printing and parsing,
// also through the generic form.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[BUF:.*]]: !ref.ref<tensor<8x4xf32>>, %[[I:.*]]: tensor<i32>, %[[ROW:.*]]: tensor<4xf32>)
// CHECK: %[[OLD:.*]] = ref.swap %[[BUF]][%[[I]], 0]
// CHECK-SAME: sizes [1, 4] squeezed [0], %[[ROW]]
// CHECK-SAME: : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
// CHECK: return %[[OLD]]
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row
        : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}

// CHECK-LABEL: func.func @local
// CHECK: %[[R:.*]] = ref.new %{{.*}} : !ref.ref<tensor<2xi32>>
// CHECK: ref.addupdate %[[R]], %{{.*}} : !ref.ref<tensor<2xi32>>, tensor<2xi32>
// CHECK: ref.freeze %[[R]] : !ref.ref<tensor<2xi32>>
func.func @local(%x: tensor<2xi32>) -> tensor<2xi32> {
  %r = ref.new %x : !ref.ref<tensor<2xi32>>
  ref.addupdate %r, %x : !ref.ref<tensor<2xi32>>, tensor<2xi32>
  %v = ref.freeze %r : !ref.ref<tensor<2xi32>>
  return %v : tensor<2xi32>
}
