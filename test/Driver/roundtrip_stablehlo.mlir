// RUN: ref-opt %s | ref-opt | FileCheck %s
// RUN: ref-opt %s --mlir-print-op-generic | ref-opt | FileCheck %s

// A plain StableHLO module round-trips: printed, parsed again, unchanged.

// CHECK-LABEL: func.func @add
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK: %[[S:.*]] = stablehlo.add %[[A]], %[[B]] : tensor<4xf32>
// CHECK: return %[[S]] : tensor<4xf32>
func.func @add(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %a, %b : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// CHECK-LABEL: func.func @loop
// CHECK: stablehlo.while
// CHECK: stablehlo.compare LT
func.func @loop(%n: tensor<i32>) -> tensor<i32> {
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c1 = stablehlo.constant dense<1> : tensor<i32>
  %r = stablehlo.while(%i = %c0) : tensor<i32>
    cond {
      %p = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %p : tensor<i1>
    } do {
      %j = stablehlo.add %i, %c1 : tensor<i32>
      stablehlo.return %j : tensor<i32>
    }
  return %r : tensor<i32>
}
