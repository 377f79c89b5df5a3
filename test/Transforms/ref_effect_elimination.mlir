// RUN: ref-opt %s --ref-effect-elimination --split-input-file --verify-diagnostics | FileCheck %s

// Straight-line code: a row swap reads before it writes; the final value is
// the updated buffer (dynamic_update_slice of the original value).

// CHECK-LABEL: func.func @swap_row
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x4xf32>, %[[I:.*]]: tensor<i32>, %[[ROW:.*]]: tensor<4xf32>)
// CHECK: %[[Z:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[OLD:.*]] = stablehlo.dynamic_slice %[[BUF]], %[[I]], %[[Z]], sizes = [1, 4]
// CHECK: %[[OLD1:.*]] = stablehlo.reshape %[[OLD]] : (tensor<1x4xf32>) -> tensor<4xf32>
// CHECK: %[[R:.*]] = stablehlo.reshape %[[ROW]] : (tensor<4xf32>) -> tensor<1x4xf32>
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[BUF]], %[[R]], %[[I]], %{{.*}}
// CHECK-NOT: ref.
// CHECK: return %[[OLD1]], %[[NEW]]
func.func @swap_row(%buf: tensor<8x4xf32>, %i: tensor<i32>, %row: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = ref.new %buf : !ref.ref<tensor<8x4xf32>>
  %old = ref.swap %r[%i, 0] sizes [1, 4] squeezed [0], %row
      : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  %final = ref.freeze %r : !ref.ref<tensor<8x4xf32>>
  return %old, %final : tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Whole-ref accesses forward values: the read sees the last write; the first
// write is dead. ref.empty starts as zeros; addupdate adds.

// CHECK-LABEL: func.func @whole
// CHECK-SAME: (%[[A:.*]]: tensor<4xi32>, %[[B:.*]]: tensor<4xi32>)
// CHECK: %[[Z:.*]] = stablehlo.constant dense<0> : tensor<4xi32>
// CHECK: %[[S:.*]] = stablehlo.add %[[Z]], %[[B]] : tensor<4xi32>
// CHECK: return %[[B]], %[[S]]
func.func @whole(%a: tensor<4xi32>, %b: tensor<4xi32>) -> (tensor<4xi32>, tensor<4xi32>) {
  %r = ref.new %a : !ref.ref<tensor<4xi32>>
  ref.set %r, %a : !ref.ref<tensor<4xi32>>, tensor<4xi32>
  ref.set %r, %b : !ref.ref<tensor<4xi32>>, tensor<4xi32>
  %v = ref.get %r : !ref.ref<tensor<4xi32>> -> tensor<4xi32>
  %e = ref.empty : !ref.ref<tensor<4xi32>>
  ref.addupdate %e, %v : !ref.ref<tensor<4xi32>>, tensor<4xi32>
  %w = ref.freeze %e : !ref.ref<tensor<4xi32>>
  ref.free %r : !ref.ref<tensor<4xi32>>
  return %v, %w : tensor<4xi32>, tensor<4xi32>
}

// -----

// Fully static reads use stablehlo.slice, strides included.

// CHECK-LABEL: func.func @static_strided_read
// CHECK-SAME: (%[[A:.*]]: tensor<8x6xf32>)
// CHECK: %[[S:.*]] = stablehlo.slice %[[A]] [1:8:3, 2:3] : (tensor<8x6xf32>) -> tensor<3x1xf32>
// CHECK: %[[R:.*]] = stablehlo.reshape %[[S]] : (tensor<3x1xf32>) -> tensor<3xf32>
// CHECK: return %[[R]]
func.func @static_strided_read(%a: tensor<8x6xf32>) -> tensor<3xf32> {
  %r = ref.new %a : !ref.ref<tensor<8x6xf32>>
  %v = ref.get %r[1, 2] sizes [3, 1] strides [3, 1] squeezed [1]
      : !ref.ref<tensor<8x6xf32>> -> tensor<3xf32>
  return %v : tensor<3xf32>
}

// -----

// Offsets of different integer types are clamped in their own type, then
// converted to i32.

// CHECK-LABEL: func.func @mixed_offset_types
// CHECK-SAME: (%[[A:.*]]: tensor<8x6xf32>, %[[I:.*]]: tensor<i64>, %[[J:.*]]: tensor<i32>, %[[V:.*]]: tensor<2x2xf32>)
// CHECK-DAG: %[[HI:.*]] = stablehlo.constant dense<6> : tensor<i64>
// CHECK-DAG: %[[CI:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %[[HI]] : tensor<i64>
// CHECK-DAG: %[[I32:.*]] = stablehlo.convert %[[CI]] : (tensor<i64>) -> tensor<i32>
// CHECK-DAG: %[[CJ:.*]] = stablehlo.clamp %{{.*}}, %[[J]], %{{.*}} : tensor<i32>
// CHECK: stablehlo.dynamic_update_slice %[[A]], %[[V]], %[[I32]], %[[CJ]]
func.func @mixed_offset_types(%a: tensor<8x6xf32>, %i: tensor<i64>, %j: tensor<i32>, %v: tensor<2x2xf32>) -> tensor<8x6xf32> {
  %r = ref.new %a : !ref.ref<tensor<8x6xf32>>
  ref.set %r[%i: tensor<i64>, %j] sizes [2, 2], %v : !ref.ref<tensor<8x6xf32>>, tensor<2x2xf32>
  %f = ref.freeze %r : !ref.ref<tensor<8x6xf32>>
  return %f : tensor<8x6xf32>
}

// -----

// A view of a view: offsets compose (each clamped to its parent) and the
// access becomes one dynamic_update_slice of the root.

// CHECK-LABEL: func.func @view_of_view
// CHECK-SAME: (%[[A:.*]]: tensor<8x8xf32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<2xf32>)
// CHECK: %[[CI:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %{{.*}} : tensor<i32>
// CHECK: %[[OFF:.*]] = stablehlo.add %{{.*}}, %[[CI]] : tensor<i32>
// CHECK: %[[R:.*]] = stablehlo.reshape %[[V]] : (tensor<2xf32>) -> tensor<1x2xf32>
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[A]], %[[R]], %{{.*}}, %[[OFF]]
// CHECK: return %[[NEW]]
func.func @view_of_view(%a: tensor<8x8xf32>, %i: tensor<i32>, %v: tensor<2xf32>) -> tensor<8x8xf32> {
  %r = ref.new %a : !ref.ref<tensor<8x8xf32>>
  %row = ref.view %r[3, 2] sizes [1, 6] squeezed [0]
      : !ref.ref<tensor<8x8xf32>> -> !ref.ref<tensor<6xf32>>
  %win = ref.view %row[%i] sizes [2] : !ref.ref<tensor<6xf32>> -> !ref.ref<tensor<2xf32>>
  ref.set %win, %v : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  %f = ref.freeze %r : !ref.ref<tensor<8x8xf32>>
  return %f : tensor<8x8xf32>
}

// -----

// Indexed rows: reads are a gather of whole rows (XLA clamps the indices),
// addupdate a scatter with an add combiner (out-of-range rows are dropped,
// duplicates sum).

// CHECK-LABEL: func.func @indexed_rows
// CHECK-SAME: (%[[A:.*]]: tensor<10x4xf32>, %[[IDX:.*]]: tensor<3x1xi32>, %[[G:.*]]: tensor<3x4xf32>)
// CHECK: %[[ROWS:.*]] = "stablehlo.gather"(%[[A]], %[[IDX]]) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 4>}>
// CHECK: %[[NEW:.*]] = "stablehlo.scatter"(%[[A]], %[[IDX]], %[[G]]) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1], inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}>
// CHECK: ^bb0(%[[X:.*]]: tensor<f32>, %[[Y:.*]]: tensor<f32>):
// CHECK: %[[S:.*]] = stablehlo.add %[[X]], %[[Y]]
// CHECK: stablehlo.return %[[S]]
// CHECK: return %[[ROWS]], %[[NEW]]
func.func @indexed_rows(%a: tensor<10x4xf32>, %idx: tensor<3x1xi32>, %g: tensor<3x4xf32>) -> (tensor<3x4xf32>, tensor<10x4xf32>) {
  %r = ref.new %a : !ref.ref<tensor<10x4xf32>>
  %rows = ref.get %r sizes [1, 4] indexed [0] by (%idx: tensor<3x1xi32>)
      : !ref.ref<tensor<10x4xf32>> -> tensor<3x4xf32>
  ref.addupdate %r sizes [1, 4] indexed [0] by (%idx: tensor<3x1xi32>), %g
      : !ref.ref<tensor<10x4xf32>>, tensor<3x4xf32>
  %f = ref.freeze %r : !ref.ref<tensor<10x4xf32>>
  return %rows, %f : tensor<3x4xf32>, tensor<10x4xf32>
}

// -----

// set through indices keeps one write per element: a scatter whose combiner
// returns the update.

// CHECK-LABEL: func.func @indexed_set
// CHECK: "stablehlo.scatter"
// CHECK: ^bb0(%{{.*}}: tensor<i32>, %[[Y:.*]]: tensor<i32>):
// CHECK-NEXT: stablehlo.return %[[Y]]
func.func @indexed_set(%a: tensor<5xi32>, %idx: tensor<2x1xi32>, %v: tensor<2xi32>) -> tensor<5xi32> {
  %r = ref.new %a : !ref.ref<tensor<5xi32>>
  ref.set %r sizes [1] indexed [0] by (%idx: tensor<2x1xi32>), %v
      : !ref.ref<tensor<5xi32>>, tensor<2xi32>
  %f = ref.freeze %r : !ref.ref<tensor<5xi32>>
  return %f : tensor<5xi32>
}

// -----

// A dynamic strided window becomes an element-wise gather whose indices are
// `offset + stride * iota` (the offset clamped so the window fits).

// CHECK-LABEL: func.func @dynamic_strided
// CHECK-SAME: (%[[A:.*]]: tensor<9xf32>, %[[I:.*]]: tensor<i32>)
// CHECK: %[[CI:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %{{.*}} : tensor<i32>
// CHECK: %[[IOTA:.*]] = stablehlo.iota dim = 0 : tensor<3x1xi32>
// CHECK: %[[M:.*]] = stablehlo.multiply %[[IOTA]], %{{.*}} : tensor<3x1xi32>
// CHECK: %[[B:.*]] = stablehlo.broadcast_in_dim %[[CI]], dims = [] : (tensor<i32>) -> tensor<3x1xi32>
// CHECK: %[[IDX:.*]] = stablehlo.add %[[M]], %[[B]]
// CHECK: "stablehlo.gather"(%[[A]], %[[IDX]])
func.func @dynamic_strided(%a: tensor<9xf32>, %i: tensor<i32>) -> tensor<3xf32> {
  %r = ref.new %a : !ref.ref<tensor<9xf32>>
  %v = ref.get %r[%i] sizes [3] strides [3] : !ref.ref<tensor<9xf32>> -> tensor<3xf32>
  return %v : tensor<3xf32>
}

// -----

// stablehlo.while: a ref written in the body becomes a loop-carried value (an
// extra operand, block argument and result); one only read is captured.

// CHECK-LABEL: func.func @while_loop
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[X:.*]]: tensor<4xf32>)
// CHECK: %[[W:.*]]:2 = stablehlo.while(%[[IT:.*]] = %{{.*}}, %[[ACC:.*]] = %[[A]]) : tensor<i32>, tensor<4xf32>
// CHECK: cond
// CHECK: } do {
// CHECK: %[[S:.*]] = stablehlo.add %[[ACC]], %[[X]]
// CHECK: stablehlo.return %{{.*}}, %[[S]] : tensor<i32>, tensor<4xf32>
// CHECK: return %[[W]]#1
func.func @while_loop(%a: tensor<4xf32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %acc = ref.new %a : !ref.ref<tensor<4xf32>>
  %xr = ref.new %x : !ref.ref<tensor<4xf32>>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %r = stablehlo.while(%it = %c0) : tensor<i32>
  cond {
    %n = stablehlo.constant dense<3> : tensor<i32>
    %p = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  } do {
    %v = ref.get %xr : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
    ref.addupdate %acc, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    %one = stablehlo.constant dense<1> : tensor<i32>
    %n2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %n2 : tensor<i32>
  }
  %f = ref.freeze %acc : !ref.ref<tensor<4xf32>>
  return %f : tensor<4xf32>
}

// -----

// The same ref passed twice: the call is inlined so that the two parameters
// see each other's writes (x += y with x == y doubles the value).

// CHECK-LABEL: func.func @aliased
// CHECK-SAME: (%[[A:.*]]: tensor<2xf32>)
// CHECK-NOT: call
// CHECK: %[[D:.*]] = stablehlo.add %[[A]], %[[A]]
// CHECK: return %[[D]]
func.func private @acc(%x: !ref.ref<tensor<2xf32>>, %y: !ref.ref<tensor<2xf32>>) {
  %v = ref.get %y : !ref.ref<tensor<2xf32>> -> tensor<2xf32>
  ref.addupdate %x, %v : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  return
}
func.func @aliased(%a: tensor<2xf32>) -> tensor<2xf32> {
  %r = ref.new %a : !ref.ref<tensor<2xf32>>
  func.call @acc(%r, %r) : (!ref.ref<tensor<2xf32>>, !ref.ref<tensor<2xf32>>) -> ()
  %f = ref.freeze %r : !ref.ref<tensor<2xf32>>
  return %f : tensor<2xf32>
}

// -----

func.func private @even(%x: !ref.ref<tensor<f32>>) {
  func.call @odd(%x) : (!ref.ref<tensor<f32>>) -> ()
  return
}
func.func private @odd(%x: !ref.ref<tensor<f32>>) {
  // expected-error@+1 {{recursive call to @even in a cycle of functions using refs (@even -> @odd -> @even) is not supported}}
  func.call @even(%x) : (!ref.ref<tensor<f32>>) -> ()
  return
}
func.func @mutual(%a: tensor<f32>) {
  %r = ref.new %a : !ref.ref<tensor<f32>>
  func.call @odd(%r) : (!ref.ref<tensor<f32>>) -> ()
  return
}

// -----

func.func @write_in_cond(%a: tensor<f32>) {
  %r = ref.new %a : !ref.ref<tensor<f32>>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %w = stablehlo.while(%it = %c0) : tensor<i32>
  cond {
    // expected-error@+1 {{writing a ref in the condition of stablehlo.while is not supported}}
    ref.set %r, %a : !ref.ref<tensor<f32>>, tensor<f32>
    %p = stablehlo.compare LT, %it, %c0 : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  } do {
    stablehlo.return %it : tensor<i32>
  }
  return
}

// -----

// expected-error@+1 {{public function @public_ref has ref arguments; run ref-buffer-donation first}}
func.func @public_ref(%r: !ref.ref<tensor<f32>>) {
  return
}

// -----

func.func @ref_in_reduce(%a: tensor<4xf32>, %z: tensor<f32>) -> tensor<f32> {
  %r = ref.new %z : !ref.ref<tensor<f32>>
  // expected-error@+1 {{refs cannot be used inside 'stablehlo.reduce' (only inside stablehlo.while, stablehlo.case and stablehlo.if)}}
  %s = stablehlo.reduce(%a init: %z) across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
   reducer(%x: tensor<f32>, %y: tensor<f32>) {
    %v = ref.get %r : !ref.ref<tensor<f32>> -> tensor<f32>
    %t = stablehlo.add %x, %v : tensor<f32>
    stablehlo.return %t : tensor<f32>
  }
  return %s : tensor<f32>
}
