// RUN: ref-opt %s --ref-check-lowered --split-input-file --verify-diagnostics | FileCheck %s

// Plain StableHLO passes unchanged.

// CHECK-LABEL: func.func @lowered
// CHECK-SAME: (%[[BUF:.*]]: tensor<8xf32>, %[[V:.*]]: tensor<1xf32>, %[[I:.*]]: tensor<i32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[BUF]], %[[V]], %[[I]]
// CHECK: return %[[NEW]]
func.func @lowered(%buf: tensor<8xf32>, %v: tensor<1xf32>, %i: tensor<i32>) -> tensor<8xf32> {
  %0 = stablehlo.dynamic_update_slice %buf, %v, %i : (tensor<8xf32>, tensor<1xf32>, tensor<i32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @leftover_op(%buf: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{'ref.new' was not lowered}}
  %r = "ref.new"(%buf) : (tensor<8xf32>) -> !ref.ref<tensor<8xf32>>
  // expected-error@+1 {{'ref.freeze' was not lowered}}
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>
  return %v : tensor<8xf32>
}

// -----

// expected-error@+1 {{'func.func' still has a block argument of ref type !ref.ref<tensor<8xf32>>}}
func.func @ref_argument(%r: !ref.ref<tensor<8xf32>>) {
  return
}

// -----

// expected-error@+1 {{function type (tensor<f32>) -> !ref.ref<tensor<f32>> still mentions a ref type}}
func.func private @ref_result(%x: tensor<f32>) -> !ref.ref<tensor<f32>>

// -----

func.func @ref_in_region(%p: tensor<i1>, %r: tensor<f32>) -> tensor<f32> {
  %0 = "stablehlo.if"(%p) ({
    // expected-error@+1 {{'test.make' still produces a ref of type !ref.ref<tensor<f32>>}}
    %m = "test.make"() : () -> !ref.ref<tensor<f32>>
    // expected-error@+1 {{'test.use' still takes a ref operand of type !ref.ref<tensor<f32>>}}
    "test.use"(%m) : (!ref.ref<tensor<f32>>) -> ()
    stablehlo.return %r : tensor<f32>
  }, {
    stablehlo.return %r : tensor<f32>
  }) : (tensor<i1>) -> tensor<f32>
  return %0 : tensor<f32>
}
