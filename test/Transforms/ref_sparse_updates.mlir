// RUN: ref-opt %s --ref-sparse-updates --split-input-file | FileCheck %s
// RUN: ref-opt %s --pass-pipeline='builtin.module(ref-sparse-updates{assume-finite-scale=true})' --split-input-file | FileCheck %s --check-prefix=FINITE

// The gradient of `table[idx]` added to a ref: one indexed addupdate.

// CHECK-LABEL: func.func @addupdate_dense
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK-NOT: stablehlo.scatter
// CHECK: ref.addupdate %[[T]] sizes [1, 4] indexed [0] by (%[[IDX]]: tensor<3x1xi32>), %[[G]]
// CHECK-NOT: stablehlo.scatter
// CHECK: return
func.func @addupdate_dense(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// JAX's form: zeros as a broadcast of a 0-d zero, 2-D batch of indices,
// combiner written `add(%b, %a)`.

// CHECK-LABEL: func.func @jax_form_batched
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x5x1xi32>, %[[G:.*]]: tensor<3x5x4xf32>)
// CHECK: ref.addupdate %[[T]] sizes [1, 4] indexed [0] by (%[[IDX]]: tensor<3x5x1xi32>), %[[G]] : !ref.ref<tensor<10x4xf32>>, tensor<3x5x4xf32>
func.func @jax_form_batched(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x5x1xi32>, %g: tensor<3x5x4xf32>) {
  %c0 = stablehlo.constant dense<0.0> : tensor<f32>
  %zero = stablehlo.broadcast_in_dim %c0, dims = [] : (tensor<f32>) -> tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [2], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 2>, unique_indices = false}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %b, %a : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x5x1xi32>, tensor<3x5x4xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// An SGD step `t[...] = t[...] - lr * dense`: the scale goes onto the updates.

// CHECK-LABEL: func.func @sgd_step
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK-NOT: {{ref.get|stablehlo.scatter}}
// CHECK: %[[LR:.*]] = stablehlo.constant dense<1.000000e-01> : tensor<f32>
// CHECK: %[[B:.*]] = stablehlo.broadcast_in_dim %[[LR]], dims = [] : (tensor<f32>) -> tensor<3x4xf32>
// CHECK: %[[M:.*]] = stablehlo.multiply %[[G]], %[[B]] : tensor<3x4xf32>
// CHECK: %[[N:.*]] = stablehlo.negate %[[M]] : tensor<3x4xf32>
// CHECK: ref.addupdate %[[T]] sizes [1, 4] indexed [0] by (%[[IDX]]: tensor<3x1xi32>), %[[N]]
// CHECK-NOT: ref.set
// CHECK-NOT: stablehlo.subtract
// CHECK: return
func.func @sgd_step(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %lr = stablehlo.constant dense<0.1> : tensor<10x4xf32>
  %step = stablehlo.multiply %lr, %dense : tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.subtract %old, %step : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// `%old + (-lr) * dense` with the scale a broadcast scalar on the right, and
// a read of the old value that is still used afterwards.

// CHECK-LABEL: func.func @plus_negative_scale
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK: %[[OLD:.*]] = ref.get %[[T]]
// CHECK: %[[LR:.*]] = stablehlo.constant dense<-5.000000e-01> : tensor<f32>
// CHECK: %[[B:.*]] = stablehlo.broadcast_in_dim %[[LR]], dims = [] : (tensor<f32>) -> tensor<3x4xf32>
// CHECK: %[[M:.*]] = stablehlo.multiply %[[G]], %[[B]] : tensor<3x4xf32>
// CHECK-NOT: stablehlo.negate
// CHECK: ref.addupdate %[[T]] {{.*}}by (%[[IDX]]: tensor<3x1xi32>), %[[M]]
// CHECK: return %[[OLD]]
func.func @plus_negative_scale(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) -> tensor<10x4xf32> {
  %c0 = stablehlo.constant dense<0.0> : tensor<f32>
  %zero = stablehlo.broadcast_in_dim %c0, dims = [] : (tensor<f32>) -> tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %c = stablehlo.constant dense<-0.5> : tensor<f32>
  %lr = stablehlo.broadcast_in_dim %c, dims = [] : (tensor<f32>) -> tensor<10x4xf32>
  %step = stablehlo.multiply %dense, %lr : tensor<10x4xf32>
  %new = stablehlo.add %old, %step : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return %old : tensor<10x4xf32>
}

// -----

// A negated dense addupdate; integers with a runtime scale are exact.

// CHECK-LABEL: func.func @negated_int_runtime_scale
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<8xi32>>, %[[IDX:.*]]: tensor<5x1xi32>, %[[G:.*]]: tensor<5xi32>, %[[K:.*]]: tensor<i32>)
// CHECK: %[[B:.*]] = stablehlo.broadcast_in_dim %[[K]], dims = [] : (tensor<i32>) -> tensor<5xi32>
// CHECK: %[[M:.*]] = stablehlo.multiply %[[G]], %[[B]] : tensor<5xi32>
// CHECK: %[[N:.*]] = stablehlo.negate %[[M]] : tensor<5xi32>
// CHECK: ref.addupdate %[[T]] sizes [1] indexed [0] by (%[[IDX]]: tensor<5x1xi32>), %[[N]]
func.func @negated_int_runtime_scale(%t: !ref.ref<tensor<8xi32>>, %idx: tensor<5x1xi32>, %g: tensor<5xi32>, %k: tensor<i32>) {
  %zero = stablehlo.constant dense<0> : tensor<8xi32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<i32>, %b: tensor<i32>):
    %s = stablehlo.add %a, %b : tensor<i32>
    stablehlo.return %s : tensor<i32>
  }) : (tensor<8xi32>, tensor<5x1xi32>, tensor<5xi32>) -> tensor<8xi32>
  %kb = stablehlo.broadcast_in_dim %k, dims = [] : (tensor<i32>) -> tensor<8xi32>
  %scaled = stablehlo.multiply %kb, %dense : tensor<8xi32>
  %neg = stablehlo.negate %scaled : tensor<8xi32>
  ref.addupdate %t, %neg : !ref.ref<tensor<8xi32>>, tensor<8xi32>
  return
}

// -----

// Two indexed dims (K = 2) of a rank-3 ref, and an implicit index vector dim.

// CHECK-LABEL: func.func @two_indexed_dims
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<4x5x6xf32>>, %[[IDX:.*]]: tensor<7x2xi32>, %[[G:.*]]: tensor<7x6xf32>)
// CHECK: ref.addupdate %[[T]] sizes [1, 1, 6] indexed [0, 1] by (%[[IDX]]: tensor<7x2xi32>), %[[G]]
func.func @two_indexed_dims(%t: !ref.ref<tensor<4x5x6xf32>>, %idx: tensor<7x2xi32>, %g: tensor<7x6xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<4x5x6xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0, 1], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<4x5x6xf32>, tensor<7x2xi32>, tensor<7x6xf32>) -> tensor<4x5x6xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<4x5x6xf32>>, tensor<4x5x6xf32>
  return
}

// CHECK-LABEL: func.func @implicit_index_vector_dim
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK: %[[I:.*]] = stablehlo.reshape %[[IDX]] : (tensor<3xi32>) -> tensor<3x1xi32>
// CHECK: ref.addupdate %[[T]] sizes [1, 4] indexed [0] by (%[[I]]: tensor<3x1xi32>), %[[G]]
func.func @implicit_index_vector_dim(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// Must NOT be rewritten: the scatter's base is not zero.

// CHECK-LABEL: func.func @nonzero_base
// CHECK: stablehlo.scatter
// CHECK: ref.addupdate %{{.*}}, %{{.*}} :
func.func @nonzero_base(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %one = stablehlo.constant dense<1.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%one, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// Must NOT be rewritten: the combiner is not an add (a scatter that overwrites).

// CHECK-LABEL: func.func @overwrite_combiner
// CHECK: stablehlo.scatter
// CHECK: ref.addupdate %{{.*}}, %{{.*}} :
func.func @overwrite_combiner(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// Must NOT be rewritten: the scatter writes partial rows (window 2 of 4).

// CHECK-LABEL: func.func @partial_window
// CHECK: stablehlo.scatter
// CHECK: ref.addupdate %{{.*}}, %{{.*}} :
func.func @partial_window(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x2xi32>, %g: tensor<3x2xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0, 1], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x2xi32>, tensor<3x2xf32>) -> tensor<10x4xf32>
  ref.addupdate %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// Must NOT be rewritten: the ref may be written between the read and the set
// (a call handed the ref), or is overwritten rather than updated.

// CHECK-LABEL: func.func @write_in_between
// CHECK: stablehlo.scatter
// CHECK: ref.set %{{.*}}, %{{.*}} :
// CHECK-NOT: ref.addupdate
func.func @write_in_between(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  func.call @touch(%t) : (!ref.ref<tensor<10x4xf32>>) -> ()
  %new = stablehlo.add %old, %dense : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}
func.func private @touch(%t: !ref.ref<tensor<10x4xf32>>)

// CHECK-LABEL: func.func @plain_set
// CHECK: stablehlo.scatter
// CHECK: ref.set %{{.*}}, %{{.*}} :
// CHECK-NOT: ref.addupdate
func.func @plain_set(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  ref.set %t, %dense : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// CHECK-LABEL: func.func @dense_minus_old
// CHECK: ref.set %{{.*}}, %{{.*}} :
// CHECK-NOT: ref.addupdate
func.func @dense_minus_old(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.subtract %dense, %old : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// A float scale known only at run time: `inf * 0` would make the dense form
// write NaN everywhere, so it is rewritten only with assume-finite-scale.

// CHECK-LABEL: func.func @runtime_float_scale
// CHECK: stablehlo.scatter
// CHECK: ref.set
// FINITE-LABEL: func.func @runtime_float_scale
// FINITE-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>, %[[LR:.*]]: tensor<f32>)
// FINITE-NOT: stablehlo.scatter
// FINITE: %[[B:.*]] = stablehlo.broadcast_in_dim %[[LR]], dims = [] : (tensor<f32>) -> tensor<3x4xf32>
// FINITE: %[[M:.*]] = stablehlo.multiply %[[G]], %[[B]]
// FINITE: %[[N:.*]] = stablehlo.negate %[[M]]
// FINITE: ref.addupdate %[[T]] {{.*}}by (%[[IDX]]: tensor<3x1xi32>), %[[N]]
// FINITE-NOT: ref.set
func.func @runtime_float_scale(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>, %lr: tensor<f32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %lrb = stablehlo.broadcast_in_dim %lr, dims = [] : (tensor<f32>) -> tensor<10x4xf32>
  %step = stablehlo.multiply %dense, %lrb : tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.subtract %old, %step : tensor<10x4xf32>
  ref.set %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>
  return
}

// -----

// `ref[...] = x` as JAX traces it: a swap whose result is unused is a set.

// CHECK-LABEL: func.func @swap_as_set
// CHECK-SAME: (%[[T:.*]]: !ref.ref<tensor<10x4xf32>>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK-NOT: ref.swap
// CHECK: ref.addupdate %[[T]] {{.*}}indexed [0] by (%[[IDX]]: tensor<3x1xi32>), %{{.*}}
// CHECK-NOT: ref.swap
func.func @swap_as_set(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.add %old, %dense : tensor<10x4xf32>
  %unused = ref.swap %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32> -> tensor<10x4xf32>
  return
}

// CHECK-LABEL: func.func @swap_result_used
// CHECK: ref.swap
// CHECK-NOT: ref.addupdate
func.func @swap_result_used(%t: !ref.ref<tensor<10x4xf32>>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) -> tensor<10x4xf32> {
  %zero = stablehlo.constant dense<0.0> : tensor<10x4xf32>
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }) : (tensor<10x4xf32>, tensor<3x1xi32>, tensor<3x4xf32>) -> tensor<10x4xf32>
  %old = ref.get %t : !ref.ref<tensor<10x4xf32>> -> tensor<10x4xf32>
  %new = stablehlo.add %old, %dense : tensor<10x4xf32>
  %prev = ref.swap %t, %new : !ref.ref<tensor<10x4xf32>>, tensor<10x4xf32> -> tensor<10x4xf32>
  return %prev : tensor<10x4xf32>
}
