// RUN: ref-opt %s --ref-effect-elimination --split-input-file | FileCheck %s

// Out-of-range accesses in mode "elementwise" (docs/dialect.md): each element
// on its own, its index made non-negative once (`i < 0 ? i + n : i`); writes
// drop out-of-range elements, so they lower to a scatter of per-element
// indices, never to a (clamping) dynamic_update_slice.

// `r[i, ::2] = v` as JAX runs it: i past the end writes nothing. The offset
// is taken as it is (an element's index wraps around in the offset's type, as
// JAX's i32 arithmetic does), then made non-negative; the scatter drops an
// out-of-range row natively (direct dims).

// CHECK-LABEL: func.func @int_then_strided_set
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x6xf32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<3xf32>)
// CHECK-NOT: stablehlo.clamp
// CHECK: %[[NEG:.*]] = stablehlo.compare LT, %[[I]], %{{.*}}, SIGNED
// CHECK: %[[UP:.*]] = stablehlo.add %[[I]], %{{.*}} : tensor<i32>
// CHECK: %[[W:.*]] = stablehlo.select %[[NEG]], %[[UP]], %[[I]] : tensor<i1>, tensor<i32>
// CHECK: %[[ROWS:.*]] = stablehlo.broadcast_in_dim %[[W]], dims = [] : (tensor<i32>) -> tensor<3x1xi32>
// CHECK: %[[IO:.*]] = stablehlo.iota dim = 0 : tensor<3x1xi32>
// CHECK: %[[COLS:.*]] = stablehlo.multiply %[[IO]], %{{.*}} : tensor<3x1xi32>
// CHECK: %[[IDX:.*]] = stablehlo.concatenate %[[ROWS]], %[[COLS]], dim = 1
// CHECK-NOT: dynamic_update_slice
// CHECK: %[[NEW:.*]] = "stablehlo.scatter"(%[[BUF]], %[[IDX]], %[[V]])
// CHECK: return %[[NEW]]
func.func @int_then_strided_set(%buf: tensor<8x6xf32>, %i: tensor<i32>, %v: tensor<3xf32>) -> tensor<8x6xf32> {
  %r = ref.new %buf : !ref.ref<tensor<8x6xf32>>
  ref.set %r[%i, 0] sizes [1, 3] strides [1, 2] squeezed [0] mode elementwise, %v
      : !ref.ref<tensor<8x6xf32>>, tensor<3xf32>
  %final = ref.freeze %r : !ref.ref<tensor<8x6xf32>>
  return %final : tensor<8x6xf32>
}

// -----

// The same access in mode "window" (the default) clamps the row instead.

// CHECK-LABEL: func.func @int_then_strided_set_window
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x6xf32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<3xf32>)
// CHECK-DAG: %[[LO:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK-DAG: %[[HI:.*]] = stablehlo.constant dense<7> : tensor<i32>
// CHECK: stablehlo.clamp %[[LO]], %[[I]], %[[HI]] : tensor<i32>
// CHECK-NOT: stablehlo.select
// CHECK: "stablehlo.scatter"(%[[BUF]]
func.func @int_then_strided_set_window(%buf: tensor<8x6xf32>, %i: tensor<i32>, %v: tensor<3xf32>) -> tensor<8x6xf32> {
  %r = ref.new %buf : !ref.ref<tensor<8x6xf32>>
  ref.set %r[%i, 0] sizes [1, 3] strides [1, 2] squeezed [0], %v
      : !ref.ref<tensor<8x6xf32>>, tensor<3xf32>
  %final = ref.freeze %r : !ref.ref<tensor<8x6xf32>>
  return %final : tensor<8x6xf32>
}

// -----

// `r[idx, ds(j, 3)] += v`: the indices are wrapped, the dynamic window
// becomes per-element indices j + iota (i32 arithmetic as JAX's; wrapped too), and elements past the
// end are dropped by the scatter instead of shifting the window.

// CHECK-LABEL: func.func @array_ds_add
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x6xf32>, %[[IDX:.*]]: tensor<2x1xi32>, %[[J:.*]]: tensor<i32>, %[[V:.*]]: tensor<2x3xf32>)
// CHECK: %[[COL:.*]] = stablehlo.slice %[[IDX]] [0:2, 0:1]
// CHECK: %[[NEG:.*]] = stablehlo.compare LT, %[[COL]], %{{.*}}, SIGNED
// CHECK: %[[UP:.*]] = stablehlo.add %[[COL]], %{{.*}} : tensor<2x1xi32>
// CHECK: %[[ROWS:.*]] = stablehlo.select %[[NEG]], %[[UP]], %[[COL]]
// CHECK: %[[ROWS3:.*]] = stablehlo.broadcast_in_dim %[[ROWS]], dims = [0, 2] : (tensor<2x1xi32>) -> tensor<2x3x1xi32>
// CHECK-NOT: stablehlo.clamp
// CHECK: %[[IO:.*]] = stablehlo.iota dim = 1 : tensor<2x3x1xi32>
// CHECK: %[[JB:.*]] = stablehlo.broadcast_in_dim %[[J]], dims = []
// CHECK: %[[E:.*]] = stablehlo.add %[[IO]], %[[JB]] : tensor<2x3x1xi32>
// CHECK: %[[ENEG:.*]] = stablehlo.compare LT, %[[E]], %{{.*}}, SIGNED
// CHECK: %[[EUP:.*]] = stablehlo.add %[[E]], %{{.*}} : tensor<2x3x1xi32>
// CHECK: %[[COLS:.*]] = stablehlo.select %[[ENEG]], %[[EUP]], %[[E]]
// CHECK: %[[ALL:.*]] = stablehlo.concatenate %[[ROWS3]], %[[COLS]], dim = 2
// CHECK-NOT: dynamic_update_slice
// CHECK: %[[NEW:.*]] = "stablehlo.scatter"(%[[BUF]], %[[ALL]], %[[V]])
// CHECK: stablehlo.add
// CHECK: return %[[NEW]]
func.func @array_ds_add(%buf: tensor<8x6xf32>, %idx: tensor<2x1xi32>, %j: tensor<i32>, %v: tensor<2x3xf32>) -> tensor<8x6xf32> {
  %r = ref.new %buf : !ref.ref<tensor<8x6xf32>>
  ref.addupdate %r[0, %j] sizes [1, 3] indexed [0] by (%idx: tensor<2x1xi32>) mode elementwise, %v
      : !ref.ref<tensor<8x6xf32>>, tensor<2x3xf32>
  %final = ref.freeze %r : !ref.ref<tensor<8x6xf32>>
  return %final : tensor<8x6xf32>
}

// -----

// Through a view (rows 4..11 of 16) the bounds are the view's: the row index
// is checked against [0, 8) explicitly and an out-of-range row is sent to
// row 16, out of the root's bounds, where the scatter drops it.

// CHECK-LABEL: func.func @view_int_set
// CHECK-SAME: (%[[BUF:.*]]: tensor<16x6xf32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<6xf32>)
// CHECK: %[[W:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %{{.*}} : tensor<i1>, tensor<i32>
// CHECK: %[[ROW:.*]] = stablehlo.clamp %{{.*}}, %[[W]], %{{.*}} : tensor<i32>
// CHECK: %[[SHIFTED:.*]] = stablehlo.add %[[ROW]], %{{.*}} : tensor<i32>
// CHECK: %[[GE:.*]] = stablehlo.compare GE, %[[W]], %{{.*}}, SIGNED
// CHECK: %[[LT:.*]] = stablehlo.compare LT, %[[W]], %{{.*}}, SIGNED
// CHECK: %[[OK:.*]] = stablehlo.and %[[GE]], %[[LT]]
// CHECK: %[[OOB:.*]] = stablehlo.constant dense<16> : tensor<i32>
// CHECK: %[[SEL:.*]] = stablehlo.select %[[OK]], %[[SHIFTED]], %[[OOB]]
// CHECK: %[[IDX:.*]] = stablehlo.broadcast_in_dim %[[SEL]], dims = [] : (tensor<i32>) -> tensor<1xi32>
// CHECK: "stablehlo.scatter"(%[[BUF]], %[[IDX]], %[[V]])
func.func @view_int_set(%buf: tensor<16x6xf32>, %i: tensor<i32>, %v: tensor<6xf32>) -> tensor<16x6xf32> {
  %r = ref.new %buf : !ref.ref<tensor<16x6xf32>>
  %w = ref.view %r[4, 0] sizes [8, 6] : !ref.ref<tensor<16x6xf32>> -> !ref.ref<tensor<8x6xf32>>
  ref.set %w[%i, 0] sizes [1, 6] squeezed [0] mode elementwise, %v
      : !ref.ref<tensor<8x6xf32>>, tensor<6xf32>
  %final = ref.freeze %r : !ref.ref<tensor<16x6xf32>>
  return %final : tensor<16x6xf32>
}

// -----

// A read in mode "elementwise" gathers: an out-of-range index is clamped by
// the gather itself (direct dims), after the wrap.

// CHECK-LABEL: func.func @strided_ds_get
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x6xf32>, %[[I:.*]]: tensor<i32>)
// CHECK: stablehlo.iota dim = 0 : tensor<3x1xi32>
// CHECK: stablehlo.select
// CHECK-NOT: stablehlo.clamp
// CHECK: %[[G:.*]] = "stablehlo.gather"(%[[BUF]]
// CHECK-SAME: -> tensor<3x6xf32>
// CHECK: return %[[G]]
func.func @strided_ds_get(%buf: tensor<8x6xf32>, %i: tensor<i32>) -> tensor<3x6xf32> {
  %r = ref.new %buf : !ref.ref<tensor<8x6xf32>>
  %x = ref.get %r[%i, 0] sizes [3, 6] strides [2, 1] mode elementwise
      : !ref.ref<tensor<8x6xf32>> -> tensor<3x6xf32>
  ref.free %r : !ref.ref<tensor<8x6xf32>>
  return %x : tensor<3x6xf32>
}
