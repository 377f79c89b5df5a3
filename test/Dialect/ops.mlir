// RUN: ref-opt %s --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file | ref-opt --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file --ref-verify | FileCheck %s

// Round trip of every op of the ref dialect and every indexer form; each case
// is also valid under ref-verify.

// CHECK-LABEL: func.func @new_empty_freeze_free
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK: %[[A:.*]] = "ref.new"(%[[X]]) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
// CHECK: %[[B:.*]] = "ref.empty"() : () -> !ref.ref<tensor<2x3xi32>>
// CHECK: "ref.free"(%[[B]]) : (!ref.ref<tensor<2x3xi32>>) -> ()
// CHECK: %[[V:.*]] = "ref.freeze"(%[[A]]) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
// CHECK: return %[[V]]
func.func @new_empty_freeze_free(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = "ref.new"(%x) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %b = "ref.empty"() : () -> !ref.ref<tensor<2x3xi32>>
  "ref.free"(%b) : (!ref.ref<tensor<2x3xi32>>) -> ()
  %v = "ref.freeze"(%a) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// Element types: i1, integers, floats; rank 0.
// CHECK-LABEL: func.func @element_types
// CHECK-SAME: !ref.ref<tensor<4xi1>>
// CHECK-SAME: !ref.ref<tensor<2x2xbf16>>
// CHECK-SAME: !ref.ref<tensor<ui8>>
// CHECK-SAME: !ref.ref<tensor<0x3xf64>>
// CHECK: "ref.get"(%{{.*}}) : (!ref.ref<tensor<4xi1>>) -> tensor<4xi1>
// CHECK: "ref.addupdate"(%{{.*}}, %{{.*}}) : (!ref.ref<tensor<2x2xbf16>>, tensor<2x2xbf16>) -> ()
// CHECK: "ref.set"(%{{.*}}, %{{.*}}) : (!ref.ref<tensor<ui8>>, tensor<ui8>) -> ()
// CHECK: "ref.get"(%{{.*}}) : (!ref.ref<tensor<0x3xf64>>) -> tensor<0x3xf64>
func.func @element_types(%p: !ref.ref<tensor<4xi1>>, %q: !ref.ref<tensor<2x2xbf16>>,
                         %s: !ref.ref<tensor<ui8>>, %e: !ref.ref<tensor<0x3xf64>>,
                         %h: tensor<2x2xbf16>, %u: tensor<ui8>) -> tensor<4xi1> {
  %0 = "ref.get"(%p) : (!ref.ref<tensor<4xi1>>) -> tensor<4xi1>
  "ref.addupdate"(%q, %h) : (!ref.ref<tensor<2x2xbf16>>, tensor<2x2xbf16>) -> ()
  "ref.set"(%s, %u) : (!ref.ref<tensor<ui8>>, tensor<ui8>) -> ()
  %1 = "ref.get"(%e) : (!ref.ref<tensor<0x3xf64>>) -> tensor<0x3xf64>
  return %0 : tensor<4xi1>
}

// -----

// Static slices: offsets, sizes, strides, squeezed dims, empty windows.
// CHECK-LABEL: func.func @static_slices
// CHECK: "ref.get"(%[[R:.*]]) {static_offsets = array<i64: 2, 1>, static_sizes = array<i64: 3, 2>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<3x2xf32>
// CHECK: "ref.get"(%[[R]]) {static_offsets = array<i64: 1, 0>, static_sizes = array<i64: 4, 2>, static_strides = array<i64: 2, 3>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4x2xf32>
// CHECK: "ref.get"(%[[R]]) {squeezed_dims = array<i64: 0, 1>, static_offsets = array<i64: 7, 3>, static_sizes = array<i64: 1, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<f32>
// CHECK: "ref.get"(%[[R]]) {static_offsets = array<i64: 8, 0>, static_sizes = array<i64: 0, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<0x4xf32>
func.func @static_slices(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<f32> {
  %0 = "ref.get"(%r) {static_offsets = array<i64: 2, 1>, static_sizes = array<i64: 3, 2>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<3x2xf32>
  %1 = "ref.get"(%r) {static_offsets = array<i64: 1, 0>, static_sizes = array<i64: 4, 2>, static_strides = array<i64: 2, 3>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4x2xf32>
  %2 = "ref.get"(%r) {squeezed_dims = array<i64: 0, 1>, static_offsets = array<i64: 7, 3>, static_sizes = array<i64: 1, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<f32>
  %3 = "ref.get"(%r) {static_offsets = array<i64: 8, 0>, static_sizes = array<i64: 0, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<0x4xf32>
  return %2 : tensor<f32>
}

// -----

// Dynamic offsets (i32 and i64), one per dynamic entry, in dim order.
// CHECK-LABEL: func.func @dynamic_offsets
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4x6xf32>>, %[[I:.*]]: tensor<i32>, %[[J:.*]]: tensor<i64>, %[[V:.*]]: tensor<2x3xf32>)
// CHECK: %[[OLD:.*]] = "ref.swap"(%[[R]], %[[V]], %[[I]], %[[J]]) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: -9223372036854775808, 1, -9223372036854775808>, static_sizes = array<i64: 1, 2, 3>}
// CHECK: "ref.set"(%[[R]], %[[OLD]], %[[J]])
// CHECK: "ref.addupdate"(%[[R]], %[[OLD]], %[[I]], %[[J]])
func.func @dynamic_offsets(%r: !ref.ref<tensor<8x4x6xf32>>, %i: tensor<i32>, %j: tensor<i64>, %v: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %old = "ref.swap"(%r, %v, %i, %j) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: -9223372036854775808, 1, -9223372036854775808>, static_sizes = array<i64: 1, 2, 3>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>, tensor<i32>, tensor<i64>) -> tensor<2x3xf32>
  "ref.set"(%r, %old, %j) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: 5, 0, -9223372036854775808>, static_sizes = array<i64: 1, 2, 3>, static_strides = array<i64: 1, 2, 1>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>, tensor<i64>) -> ()
  "ref.addupdate"(%r, %old, %i, %j) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: 0, -9223372036854775808, -9223372036854775808>, static_sizes = array<i64: 1, 2, 3>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>, tensor<i32>, tensor<i64>) -> ()
  return %old : tensor<2x3xf32>
}

// -----

// Advanced indexing: indices [B..., K] last, after the dynamic offsets; the
// value is B... followed by the kept dims.
// CHECK-LABEL: func.func @indexed
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4x6xf32>>, %[[IDX:.*]]: tensor<5x1xi32>, %[[IDX2:.*]]: tensor<2x3x2xi64>, %[[I:.*]]: tensor<i32>
// CHECK: %[[G:.*]] = "ref.get"(%[[R]], %[[IDX]]) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1, 4, 6>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<5x1xi32>) -> tensor<5x4x6xf32>
// CHECK: "ref.addupdate"(%[[R]], %{{.*}}, %[[I]], %[[IDX2]]) {indexed_dims = array<i64: 0, 2>, squeezed_dims = array<i64: 1>, static_offsets = array<i64: 0, -9223372036854775808, 0>, static_sizes = array<i64: 1, 1, 1>}
// CHECK: "ref.set"(%[[R]], %[[G]], %[[IDX]])
// CHECK: "ref.swap"(%[[R]], %{{.*}}, %[[IDX]])
func.func @indexed(%r: !ref.ref<tensor<8x4x6xf32>>, %idx: tensor<5x1xi32>, %idx2: tensor<2x3x2xi64>, %i: tensor<i32>, %u: tensor<2x3xf32>, %w: tensor<5x2x6xf32>) -> tensor<5x4x6xf32> {
  %g = "ref.get"(%r, %idx) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1, 4, 6>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<5x1xi32>) -> tensor<5x4x6xf32>
  "ref.addupdate"(%r, %u, %i, %idx2) {indexed_dims = array<i64: 0, 2>, squeezed_dims = array<i64: 1>, static_offsets = array<i64: 0, -9223372036854775808, 0>, static_sizes = array<i64: 1, 1, 1>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>, tensor<i32>, tensor<2x3x2xi64>) -> ()
  "ref.set"(%r, %g, %idx) {indexed_dims = array<i64: 0>, static_sizes = array<i64: 1, 4, 6>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<5x4x6xf32>, tensor<5x1xi32>) -> ()
  %s = "ref.swap"(%r, %w, %idx) {indexed_dims = array<i64: 0>, static_offsets = array<i64: 0, 1, 0>, static_sizes = array<i64: 1, 2, 6>, static_strides = array<i64: 1, 2, 1>} : (!ref.ref<tensor<8x4x6xf32>>, tensor<5x2x6xf32>, tensor<5x1xi32>) -> tensor<5x2x6xf32>
  return %g : tensor<5x4x6xf32>
}

// -----

// Views: static, strided, squeezed and dynamic; views of views.
// CHECK-LABEL: func.func @views
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4xf32>>, %[[I:.*]]: tensor<i32>
// CHECK: %[[S:.*]] = "ref.view"(%[[R]]) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 4, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<4x4xf32>>
// CHECK: %[[T:.*]] = "ref.view"(%[[S]], %[[I]]) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<4x4xf32>>, tensor<i32>) -> !ref.ref<tensor<4xf32>>
// CHECK: "ref.view"(%[[R]]) {static_sizes = array<i64: 4, 2>, static_strides = array<i64: 2, 2>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<4x2xf32>>
// CHECK: "ref.set"(%[[T]], %{{.*}}) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
func.func @views(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) {
  %s = "ref.view"(%r) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 4, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<4x4xf32>>
  %t = "ref.view"(%s, %i) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<4x4xf32>>, tensor<i32>) -> !ref.ref<tensor<4xf32>>
  %u = "ref.view"(%r) {static_sizes = array<i64: 4, 2>, static_strides = array<i64: 2, 2>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<4x2xf32>>
  "ref.set"(%t, %row) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}

// -----

// Refs captured by stablehlo.case / stablehlo.if regions; passed to calls
// (aliased twice is fine).
// CHECK-LABEL: func.func @regions_and_calls
// CHECK: "stablehlo.case"
// CHECK: "ref.set"
// CHECK: "ref.get"
// CHECK: "stablehlo.if"
// CHECK: "ref.swap"
// CHECK: call @g(%{{.*}}, %{{.*}})
func.func private @g(!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>)
func.func @regions_and_calls(%r: !ref.ref<tensor<4xf32>>, %k: tensor<i32>, %p: tensor<i1>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "stablehlo.case"(%k) ({
    "ref.set"(%r, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return %x : tensor<4xf32>
  }, {
    %v = "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
    stablehlo.return %v : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %1 = "stablehlo.if"(%p) ({
    %o = "ref.swap"(%r, %0) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
    stablehlo.return %o : tensor<4xf32>
  }, {
    stablehlo.return %x : tensor<4xf32>
  }) : (tensor<i1>) -> tensor<4xf32>
  func.call @g(%r, %r) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>) -> ()
  return %1 : tensor<4xf32>
}
