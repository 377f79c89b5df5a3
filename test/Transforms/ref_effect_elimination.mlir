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
  %r = "ref.new"(%buf) : (tensor<8x4xf32>) -> !ref.ref<tensor<8x4xf32>>
  %old = "ref.swap"(%r, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  %final = "ref.freeze"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
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
  %r = "ref.new"(%a) : (tensor<4xi32>) -> !ref.ref<tensor<4xi32>>
  "ref.set"(%r, %a) : (!ref.ref<tensor<4xi32>>, tensor<4xi32>) -> ()
  "ref.set"(%r, %b) : (!ref.ref<tensor<4xi32>>, tensor<4xi32>) -> ()
  %v = "ref.get"(%r) : (!ref.ref<tensor<4xi32>>) -> tensor<4xi32>
  %e = "ref.empty"() : () -> !ref.ref<tensor<4xi32>>
  "ref.addupdate"(%e, %v) : (!ref.ref<tensor<4xi32>>, tensor<4xi32>) -> ()
  %w = "ref.freeze"(%e) : (!ref.ref<tensor<4xi32>>) -> tensor<4xi32>
  "ref.free"(%r) : (!ref.ref<tensor<4xi32>>) -> ()
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
  %r = "ref.new"(%a) : (tensor<8x6xf32>) -> !ref.ref<tensor<8x6xf32>>
  %v = "ref.get"(%r) {static_offsets = array<i64: 1, 2>, static_sizes = array<i64: 3, 1>, static_strides = array<i64: 3, 1>, squeezed_dims = array<i64: 1>} : (!ref.ref<tensor<8x6xf32>>) -> tensor<3xf32>
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
  %r = "ref.new"(%a) : (tensor<8x6xf32>) -> !ref.ref<tensor<8x6xf32>>
  "ref.set"(%r, %v, %i, %j) {static_offsets = array<i64: -9223372036854775808, -9223372036854775808>, static_sizes = array<i64: 2, 2>} : (!ref.ref<tensor<8x6xf32>>, tensor<2x2xf32>, tensor<i64>, tensor<i32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<8x6xf32>>) -> tensor<8x6xf32>
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
  %r = "ref.new"(%a) : (tensor<8x8xf32>) -> !ref.ref<tensor<8x8xf32>>
  %row = "ref.view"(%r) {static_offsets = array<i64: 3, 2>, static_sizes = array<i64: 1, 6>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x8xf32>>) -> !ref.ref<tensor<6xf32>>
  %win = "ref.view"(%row, %i) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 2>} : (!ref.ref<tensor<6xf32>>, tensor<i32>) -> !ref.ref<tensor<2xf32>>
  "ref.set"(%win, %v) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<8x8xf32>>) -> tensor<8x8xf32>
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
  %r = "ref.new"(%a) : (tensor<10x4xf32>) -> !ref.ref<tensor<10x4xf32>>
  %rows = "ref.get"(%r, %idx) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<10x4xf32>>, tensor<3x1xi32>) -> tensor<3x4xf32>
  "ref.addupdate"(%r, %g, %idx) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<10x4xf32>>, tensor<3x4xf32>, tensor<3x1xi32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<10x4xf32>>) -> tensor<10x4xf32>
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
  %r = "ref.new"(%a) : (tensor<5xi32>) -> !ref.ref<tensor<5xi32>>
  "ref.set"(%r, %v, %idx) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1>} : (!ref.ref<tensor<5xi32>>, tensor<2xi32>, tensor<2x1xi32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<5xi32>>) -> tensor<5xi32>
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
  %r = "ref.new"(%a) : (tensor<9xf32>) -> !ref.ref<tensor<9xf32>>
  %v = "ref.get"(%r, %i) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 3>, static_strides = array<i64: 3>} : (!ref.ref<tensor<9xf32>>, tensor<i32>) -> tensor<3xf32>
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
  %acc = "ref.new"(%a) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %xr = "ref.new"(%x) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %r = stablehlo.while(%it = %c0) : tensor<i32>
  cond {
    %n = stablehlo.constant dense<3> : tensor<i32>
    %p = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  } do {
    %v = "ref.get"(%xr) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
    "ref.addupdate"(%acc, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    %one = stablehlo.constant dense<1> : tensor<i32>
    %n2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %n2 : tensor<i32>
  }
  %f = "ref.freeze"(%acc) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}

// -----

// Nested control flow: case -> if -> while; written refs become extra results
// of every branch (a branch that does not write returns the value from above).
// The only writing branch is moved last (XLA updates in place only from the
// last branch): the if's predicate is negated and its branches swapped.

// CHECK-LABEL: func.func @nested
// CHECK-SAME: (%[[A:.*]]: tensor<f32>, %[[K:.*]]: tensor<i32>, %[[P:.*]]: tensor<i1>)
// CHECK: %[[C:.*]] = "stablehlo.case"(%[[K]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: %[[NP:.*]] = stablehlo.not %[[P]] : tensor<i1>
// CHECK: %[[IF:.*]] = "stablehlo.if"(%[[NP]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: %[[W:.*]]:2 = stablehlo.while(%{{.*}} = %{{.*}}, %[[V:.*]] = %[[A]])
// CHECK: stablehlo.return %[[W]]#1 : tensor<f32>
// CHECK: }) : (tensor<i1>) -> tensor<f32>
// CHECK: stablehlo.return %[[IF]] : tensor<f32>
// CHECK: }) : (tensor<i32>) -> tensor<f32>
// CHECK: return %[[C]]
func.func @nested(%a: tensor<f32>, %k: tensor<i32>, %p: tensor<i1>) -> tensor<f32> {
  %r = "ref.new"(%a) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  "stablehlo.case"(%k) ({
    stablehlo.return
  }, {
    "stablehlo.if"(%p) ({
      %c0 = stablehlo.constant dense<0> : tensor<i32>
      %w = stablehlo.while(%it = %c0) : tensor<i32>
      cond {
        %n = stablehlo.constant dense<3> : tensor<i32>
        %q = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
        stablehlo.return %q : tensor<i1>
      } do {
        %v = "ref.get"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
        %d = stablehlo.add %v, %v : tensor<f32>
        "ref.set"(%r, %d) : (!ref.ref<tensor<f32>>, tensor<f32>) -> ()
        %one = stablehlo.constant dense<1> : tensor<i32>
        %n2 = stablehlo.add %it, %one : tensor<i32>
        stablehlo.return %n2 : tensor<i32>
      }
      stablehlo.return
    }, {
      stablehlo.return
    }) : (tensor<i1>) -> ()
    stablehlo.return
  }) : (tensor<i32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
  return %f : tensor<f32>
}

// -----

// A case whose only writing branch is not last: it is swapped with the last
// branch and the index remapped (out-of-range indices select the last branch,
// so the index is normalised first).

// CHECK-LABEL: func.func @case_writer_moved_last
// CHECK-SAME: (%[[A:.*]]: tensor<f32>, %[[K:.*]]: tensor<i32>, %[[V:.*]]: tensor<f32>)
// CHECK: %[[E:.*]] = stablehlo.select %{{.*}}, %[[K]], %{{.*}}
// CHECK: %[[L:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %[[E]]
// CHECK: %[[IDX:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %[[L]]
// CHECK: %[[C:.*]] = "stablehlo.case"(%[[IDX]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: stablehlo.return %[[V]] : tensor<f32>
// CHECK: }) : (tensor<i32>) -> tensor<f32>
// CHECK: return %[[C]]
func.func @case_writer_moved_last(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  %r = "ref.new"(%a) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  "stablehlo.case"(%k) ({
    "ref.set"(%r, %v) : (!ref.ref<tensor<f32>>, tensor<f32>) -> ()
    stablehlo.return
  }, {
    stablehlo.return
  }, {
    stablehlo.return
  }) : (tensor<i32>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
  return %f : tensor<f32>
}

// -----

// func.call: the callee's ref parameters become trailing tensor parameters and
// each written one an extra trailing result; the caller passes current values
// (a view's window) and writes the results back.

// CHECK-LABEL: func.func private @bump
// CHECK-SAME: (%[[S:.*]]: tensor<f32>, %[[X:.*]]: tensor<2xf32>, %[[Y:.*]]: tensor<2xf32>) -> (tensor<f32>, tensor<2xf32>)
// CHECK: %[[N:.*]] = stablehlo.add %[[X]], %[[Y]]
// CHECK: return %[[S]], %[[N]] : tensor<f32>, tensor<2xf32>
func.func private @bump(%x: !ref.ref<tensor<2xf32>>, %y: !ref.ref<tensor<2xf32>>, %s: tensor<f32>) -> tensor<f32> {
  %v = "ref.get"(%y) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  "ref.addupdate"(%x, %v) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
  return %s : tensor<f32>
}

// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<2xf32>, %[[S:.*]]: tensor<f32>)
// CHECK: %[[SL:.*]] = stablehlo.slice %[[A]] [2:4]
// CHECK: %[[WIN:.*]] = stablehlo.optimization_barrier %[[SL]]
// CHECK: %[[RES:.*]]:2 = call @bump(%[[S]], %[[WIN]], %[[B]]) : (tensor<f32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<f32>, tensor<2xf32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[A]], %[[RES]]#1, %{{.*}}
// CHECK: return %[[RES]]#0, %[[NEW]]
func.func @caller(%a: tensor<4xf32>, %b: tensor<2xf32>, %s: tensor<f32>) -> (tensor<f32>, tensor<4xf32>) {
  %ra = "ref.new"(%a) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %rb = "ref.new"(%b) : (tensor<2xf32>) -> !ref.ref<tensor<2xf32>>
  %v = "ref.view"(%ra) {static_offsets = array<i64: 2>, static_sizes = array<i64: 2>} : (!ref.ref<tensor<4xf32>>) -> !ref.ref<tensor<2xf32>>
  %t = func.call @bump(%v, %rb, %s) : (!ref.ref<tensor<2xf32>>, !ref.ref<tensor<2xf32>>, tensor<f32>) -> tensor<f32>
  %f = "ref.freeze"(%ra) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %t, %f : tensor<f32>, tensor<4xf32>
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
  %v = "ref.get"(%y) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  "ref.addupdate"(%x, %v) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
  return
}
func.func @aliased(%a: tensor<2xf32>) -> tensor<2xf32> {
  %r = "ref.new"(%a) : (tensor<2xf32>) -> !ref.ref<tensor<2xf32>>
  func.call @acc(%r, %r) : (!ref.ref<tensor<2xf32>>, !ref.ref<tensor<2xf32>>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
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
  %r = "ref.new"(%a) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  func.call @odd(%r) : (!ref.ref<tensor<f32>>) -> ()
  return
}

// -----

func.func @write_in_cond(%a: tensor<f32>) {
  %r = "ref.new"(%a) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %w = stablehlo.while(%it = %c0) : tensor<i32>
  cond {
    // expected-error@+1 {{writing a ref in the condition of stablehlo.while is not supported}}
    "ref.set"(%r, %a) : (!ref.ref<tensor<f32>>, tensor<f32>) -> ()
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
  %r = "ref.new"(%z) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  // expected-error@+1 {{refs cannot be used inside 'stablehlo.reduce' (only inside stablehlo.while, stablehlo.case and stablehlo.if)}}
  %s = stablehlo.reduce(%a init: %z) across dimensions = [0] : (tensor<4xf32>, tensor<f32>) -> tensor<f32>
   reducer(%x: tensor<f32>, %y: tensor<f32>) {
    %v = "ref.get"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
    %t = stablehlo.add %x, %v : tensor<f32>
    stablehlo.return %t : tensor<f32>
  }
  return %s : tensor<f32>
}

// -----

// Argument and result attributes of a callee stay in step with its new
// signature: a ref parameter's attributes move with the tensor that replaces
// it, and each added result gets an empty dictionary.
// CHECK-LABEL: func.func private @attrs
// CHECK-SAME: (%{{.*}}: tensor<i32> {jax.token = true}, %{{.*}}: tensor<f32> {test.ref_param})
// CHECK-SAME: -> (tensor<i32> {jax.token = true}, tensor<f32>)
func.func private @attrs(%r: !ref.ref<tensor<f32>> {test.ref_param}, %t: tensor<i32> {jax.token = true}) -> (tensor<i32> {jax.token = true}) {
  %v = "ref.get"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
  %w = stablehlo.add %v, %v : tensor<f32>
  "ref.set"(%r, %w) : (!ref.ref<tensor<f32>>, tensor<f32>) -> ()
  return %t : tensor<i32>
}
func.func private @caller(%x: tensor<f32>, %t: tensor<i32>) -> tensor<f32> {
  %r = "ref.new"(%x) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  %t2 = func.call @attrs(%r, %t) : (!ref.ref<tensor<f32>>, tensor<i32>) -> tensor<i32>
  %y = "ref.get"(%r) : (!ref.ref<tensor<f32>>) -> tensor<f32>
  return %y : tensor<f32>
}

// -----

// Several branches write one row each (one a swap): the writes are hoisted.
// The branches return the row and its offsets (a branch that writes nothing
// returns the row at offset 0, unchanged) and one dynamic_update_slice after
// the case writes it, so XLA updates the buffer in place.

// CHECK-LABEL: func.func @case_writes_hoisted
// CHECK-SAME: (%[[A:.*]]: tensor<8x4xf32>, %[[K:.*]]: tensor<i32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[C:.*]]:4 = "stablehlo.case"(%[[K]]) ({
// CHECK: %[[OLD:.*]] = stablehlo.dynamic_slice %[[A]], %[[I]]
// CHECK: %[[OLDV:.*]] = stablehlo.reshape %[[OLD]]
// CHECK: %[[Z0:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[W0:.*]] = stablehlo.reshape %[[V]] : (tensor<4xf32>) -> tensor<1x4xf32>
// CHECK-NOT: dynamic_update_slice
// CHECK: stablehlo.return %[[OLDV]], %[[I]], %[[Z0]], %[[W0]] : tensor<4xf32>, tensor<i32>, tensor<i32>, tensor<1x4xf32>
// CHECK: }, {
// CHECK: %[[TWO:.*]] = stablehlo.constant dense<2> : tensor<i32>
// CHECK: %[[Z1:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[W1:.*]] = stablehlo.reshape %[[V]]
// CHECK-NOT: dynamic_update_slice
// CHECK: stablehlo.return %[[V]], %[[TWO]], %[[Z1]], %[[W1]]
// CHECK: }, {
// CHECK: %[[Z2:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[KEEP:.*]] = stablehlo.dynamic_slice %[[A]], %[[Z2]], %[[Z2]], sizes = [1, 4]
// CHECK: stablehlo.return %[[V]], %[[Z2]], %[[Z2]], %[[KEEP]]
// CHECK: }) : (tensor<i32>) -> (tensor<4xf32>, tensor<i32>, tensor<i32>, tensor<1x4xf32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[A]], %[[C]]#3, %[[C]]#1, %[[C]]#2
// CHECK: return %[[C]]#0, %[[NEW]]
func.func @case_writes_hoisted(%a: tensor<8x4xf32>, %k: tensor<i32>, %i: tensor<i32>, %v: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = "ref.new"(%a) : (tensor<8x4xf32>) -> !ref.ref<tensor<8x4xf32>>
  %o = "stablehlo.case"(%k) ({
    %old = "ref.swap"(%r, %v, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
    stablehlo.return %old : tensor<4xf32>
  }, {
    "ref.set"(%r, %v) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return %v : tensor<4xf32>
  }, {
    stablehlo.return %v : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %o, %f : tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Several writing branches that cannot be hoisted (branch 0 writes two rows):
// the case keeps the branch that writes nothing (the writers' slots return
// zeros) and each writer becomes a while loop that runs once if its branch is
// selected (the normalised index equals it), else never, carrying the buffer
// and the case's results. A root only read in a loop is read from the value
// after the previous loops.

// CHECK-LABEL: func.func @case_writers_as_loops
// CHECK-SAME: (%[[A:.*]]: tensor<8x4xf32>, %[[K:.*]]: tensor<i32>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[E:.*]] = stablehlo.select %{{.*}}, %[[K]], %{{.*}} : tensor<i1>, tensor<i32>
// CHECK: %[[C0:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[F0:.*]] = stablehlo.compare EQ, %[[E]], %[[C0]]
// CHECK: %[[C2:.*]] = stablehlo.constant dense<2> : tensor<i32>
// CHECK: %[[F2:.*]] = stablehlo.compare EQ, %[[E]], %[[C2]]
// CHECK: %[[ZERO:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: %[[CASE:.*]] = "stablehlo.case"(%[[K]]) ({
// CHECK-NEXT: stablehlo.return %[[ZERO]] : tensor<4xf32>
// CHECK-NEXT: }, {
// CHECK: stablehlo.slice %[[A]] [5:6, 0:4]
// CHECK: }, {
// CHECK-NEXT: stablehlo.return %[[ZERO]] : tensor<4xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4xf32>
// CHECK: %[[W0:.*]]:3 = stablehlo.while(%[[FL:.*]] = %[[F0]], %[[R0:.*]] = %[[CASE]], %[[B0:.*]] = %[[A]])
// CHECK: stablehlo.return %[[FL]] : tensor<i1>
// CHECK: %[[U0:.*]] = stablehlo.dynamic_update_slice %[[B0]]
// CHECK: %[[U1:.*]] = stablehlo.dynamic_update_slice %[[U0]]
// CHECK: %[[NO:.*]] = stablehlo.constant dense<false> : tensor<i1>
// CHECK: stablehlo.return %[[NO]], %[[V]], %[[U1]] : tensor<i1>, tensor<4xf32>, tensor<8x4xf32>
// CHECK: %[[W2:.*]]:3 = stablehlo.while(%{{.*}} = %[[F2]], %{{.*}} = %[[W0]]#1, %[[B2:.*]] = %[[W0]]#2)
// CHECK: stablehlo.slice %[[B2]] [2:3, 0:4]
// CHECK: stablehlo.dynamic_update_slice %[[B2]]
// CHECK: return %[[W2]]#1, %[[W2]]#2
func.func @case_writers_as_loops(%a: tensor<8x4xf32>, %k: tensor<i32>, %v: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = "ref.new"(%a) : (tensor<8x4xf32>) -> !ref.ref<tensor<8x4xf32>>
  %o = "stablehlo.case"(%k) ({
    "ref.set"(%r, %v) {static_offsets = array<i64: 0, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
    "ref.set"(%r, %v) {static_offsets = array<i64: 1, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return %v : tensor<4xf32>
  }, {
    %g = "ref.get"(%r) {static_offsets = array<i64: 5, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
    stablehlo.return %g : tensor<4xf32>
  }, {
    %old = "ref.swap"(%r, %v) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> tensor<4xf32>
    stablehlo.return %old : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %o, %f : tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Both branches of an if write the whole ref: loops, the second one on the
// negated predicate.

// CHECK-LABEL: func.func @if_both_write
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[P:.*]]: tensor<i1>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[NP:.*]] = stablehlo.not %[[P]]
// CHECK-NOT: stablehlo.if
// CHECK: %[[W0:.*]]:2 = stablehlo.while(%{{.*}} = %[[P]], %{{.*}} = %[[A]])
// CHECK: %[[W1:.*]]:2 = stablehlo.while(%{{.*}} = %[[NP]], %{{.*}} = %[[W0]]#1)
// CHECK: return %[[W1]]#1
func.func @if_both_write(%a: tensor<4xf32>, %p: tensor<i1>, %v: tensor<4xf32>) -> tensor<4xf32> {
  %r = "ref.new"(%a) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  "stablehlo.if"(%p) ({
    "ref.set"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return
  }, {
    "ref.addupdate"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return
  }) : (tensor<i1>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}

// -----

// Inside a while loop the writers are not turned into loops (a loop nested in
// a loop turns XLA's region analysis off for the whole module): the case
// returns the buffer from both branches (XLA copies it).

// CHECK-LABEL: func.func @case_in_loop_not_hoistable
// CHECK: stablehlo.while
// CHECK-NOT: stablehlo.while
// CHECK: %[[C:.*]] = "stablehlo.case"
// CHECK: }) : (tensor<i32>) -> tensor<4xf32>
func.func @case_in_loop_not_hoistable(%a: tensor<4xf32>, %n: tensor<i32>, %v: tensor<4xf32>) -> tensor<4xf32> {
  %r = "ref.new"(%a) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %z = stablehlo.constant dense<0> : tensor<i32>
  %one = stablehlo.constant dense<1> : tensor<i32>
  %w = stablehlo.while(%it = %z) : tensor<i32>
   cond {
    %lt = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    "stablehlo.case"(%it) ({
      "ref.set"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
      stablehlo.return
    }, {
      "ref.addupdate"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
      stablehlo.return
    }, {
      stablehlo.return
    }) : (tensor<i32>) -> ()
    %it2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %it2 : tensor<i32>
  }
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}

// -----

// A view passed to a callee that writes it: the window goes through an
// optimization_barrier (works around an XLA fold of dynamic_slice + scatter +
// dynamic_update_slice, see _barrier); a whole ref passed to the same callee
// does not.
// CHECK-LABEL: func.func private @pass_view
// CHECK: %[[W:.*]] = stablehlo.dynamic_slice
// CHECK: %[[B:.*]] = stablehlo.optimization_barrier %[[W]]
// CHECK: call @bump(%[[B]])
// CHECK-NOT: optimization_barrier
// CHECK: call @bump(
func.func private @bump(%p: !ref.ref<tensor<2xf32>>) {
  %v = "ref.get"(%p) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  "ref.set"(%p, %v) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
  return
}
func.func private @pass_view(%x: tensor<8xf32>, %y: tensor<2xf32>, %o: tensor<i32>) -> (tensor<8xf32>, tensor<2xf32>) {
  %r = "ref.new"(%x) : (tensor<8xf32>) -> !ref.ref<tensor<8xf32>>
  %w = "ref.view"(%r, %o) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 2>} : (!ref.ref<tensor<8xf32>>, tensor<i32>) -> !ref.ref<tensor<2xf32>>
  func.call @bump(%w) : (!ref.ref<tensor<2xf32>>) -> ()
  %s = "ref.new"(%y) : (tensor<2xf32>) -> !ref.ref<tensor<2xf32>>
  func.call @bump(%s) : (!ref.ref<tensor<2xf32>>) -> ()
  %a = "ref.get"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>
  %b = "ref.get"(%s) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  return %a, %b : tensor<8xf32>, tensor<2xf32>
}
