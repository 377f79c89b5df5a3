// RUN: ref-opt %s --split-input-file --cse | FileCheck %s

// Each chunk is processed on its own; outputs are re-joined with the marker.

// CHECK-LABEL: func.func @first
// CHECK: %[[A:.*]] = stablehlo.add
// CHECK-NOT: stablehlo.add
// CHECK: return %[[A]], %[[A]]
// CHECK: // -----
func.func @first(%x: tensor<f32>) -> (tensor<f32>, tensor<f32>) {
  %0 = stablehlo.add %x, %x : tensor<f32>
  %1 = stablehlo.add %x, %x : tensor<f32>
  return %0, %1 : tensor<f32>, tensor<f32>
}

// -----

// The same symbol name in another chunk is fine: chunks are separate modules.
// CHECK: module
// CHECK-LABEL: func.func @first
// CHECK: return
func.func @first() {
  return
}
