// RUN: ref-opt %s --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file | ref-opt --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file --mlir-print-op-generic | ref-opt --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file --ref-verify | FileCheck %s

// Round trip of every op of the ref dialect and every indexer form, in the
// pretty form (docs/dialect.md, "Assembly format"; the last case is in the
// generic form, which parses too); each case is also valid under ref-verify.

// CHECK-LABEL: func.func @new_empty_freeze_free
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK: %[[A:.*]] = ref.new %[[X]] : !ref.ref<tensor<4xf32>>
// CHECK: %[[B:.*]] = ref.empty : !ref.ref<tensor<2x3xi32>>
// CHECK: ref.free %[[B]] : !ref.ref<tensor<2x3xi32>>
// CHECK: %[[V:.*]] = ref.freeze %[[A]] : !ref.ref<tensor<4xf32>>
// CHECK: return %[[V]]
func.func @new_empty_freeze_free(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = ref.new %x : !ref.ref<tensor<4xf32>>
  %b = ref.empty : !ref.ref<tensor<2x3xi32>>
  ref.free %b : !ref.ref<tensor<2x3xi32>>
  %v = ref.freeze %a : !ref.ref<tensor<4xf32>>
  return %v : tensor<4xf32>
}

// -----

// Element types: i1, integers, floats; rank 0.
// CHECK-LABEL: func.func @element_types
// CHECK-SAME: !ref.ref<tensor<4xi1>>
// CHECK-SAME: !ref.ref<tensor<2x2xbf16>>
// CHECK-SAME: !ref.ref<tensor<ui8>>
// CHECK-SAME: !ref.ref<tensor<0x3xf64>>
// CHECK: ref.get %{{.*}} : !ref.ref<tensor<4xi1>> -> tensor<4xi1>
// CHECK: ref.addupdate %{{.*}}, %{{.*}} : !ref.ref<tensor<2x2xbf16>>, tensor<2x2xbf16>
// CHECK: ref.set %{{.*}}, %{{.*}} : !ref.ref<tensor<ui8>>, tensor<ui8>
// CHECK: ref.get %{{.*}} : !ref.ref<tensor<0x3xf64>> -> tensor<0x3xf64>
func.func @element_types(%p: !ref.ref<tensor<4xi1>>, %q: !ref.ref<tensor<2x2xbf16>>,
                         %s: !ref.ref<tensor<ui8>>, %e: !ref.ref<tensor<0x3xf64>>,
                         %h: tensor<2x2xbf16>, %u: tensor<ui8>) -> tensor<4xi1> {
  %0 = ref.get %p : !ref.ref<tensor<4xi1>> -> tensor<4xi1>
  ref.addupdate %q, %h : !ref.ref<tensor<2x2xbf16>>, tensor<2x2xbf16>
  ref.set %s, %u : !ref.ref<tensor<ui8>>, tensor<ui8>
  %1 = ref.get %e : !ref.ref<tensor<0x3xf64>> -> tensor<0x3xf64>
  return %0 : tensor<4xi1>
}

// -----

// Static slices: offsets, sizes, strides, squeezed dims, empty windows; a
// rank-0 ref with its (empty) offsets written out.
// CHECK-LABEL: func.func @static_slices
// CHECK: ref.get %[[R:.*]][2, 1] sizes [3, 2] : !ref.ref<tensor<8x4xf32>> -> tensor<3x2xf32>
// CHECK: ref.get %[[R]][1, 0] sizes [4, 2] strides [2, 3] : !ref.ref<tensor<8x4xf32>> -> tensor<4x2xf32>
// CHECK: ref.get %[[R]][7, 3] sizes [1, 1] squeezed [0, 1] : !ref.ref<tensor<8x4xf32>> -> tensor<f32>
// CHECK: ref.get %[[R]][8, 0] sizes [0, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<0x4xf32>
// CHECK: ref.get %{{.*}}[] sizes [] : !ref.ref<tensor<f32>> -> tensor<f32>
func.func @static_slices(%r: !ref.ref<tensor<8x4xf32>>, %z: !ref.ref<tensor<f32>>) -> tensor<f32> {
  %0 = ref.get %r[2, 1] sizes [3, 2] : !ref.ref<tensor<8x4xf32>> -> tensor<3x2xf32>
  %1 = ref.get %r[1, 0] sizes [4, 2] strides [2, 3] : !ref.ref<tensor<8x4xf32>> -> tensor<4x2xf32>
  %2 = ref.get %r[7, 3] sizes [1, 1] squeezed [0, 1] : !ref.ref<tensor<8x4xf32>> -> tensor<f32>
  %3 = ref.get %r[8, 0] sizes [0, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<0x4xf32>
  %4 = ref.get %z[] sizes [] : !ref.ref<tensor<f32>> -> tensor<f32>
  return %2 : tensor<f32>
}

// -----

// Dynamic offsets (i32 and i64), SSA values in the offsets, in dim order; an
// offset that is not a tensor<i32> carries its type.
// CHECK-LABEL: func.func @dynamic_offsets
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4x6xf32>>, %[[I:.*]]: tensor<i32>, %[[J:.*]]: tensor<i64>, %[[V:.*]]: tensor<2x3xf32>)
// CHECK: %[[OLD:.*]] = ref.swap %[[R]][%[[I]], 1, %[[J]]: tensor<i64>] sizes [1, 2, 3] squeezed [0], %[[V]] : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32> -> tensor<2x3xf32>
// CHECK: ref.set %[[R]][5, 0, %[[J]]: tensor<i64>] sizes [1, 2, 3] strides [1, 2, 1] squeezed [0], %[[OLD]]
// CHECK: ref.addupdate %[[R]][0, %[[I]], %[[J]]: tensor<i64>] sizes [1, 2, 3] squeezed [0], %[[OLD]]
func.func @dynamic_offsets(%r: !ref.ref<tensor<8x4x6xf32>>, %i: tensor<i32>, %j: tensor<i64>, %v: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %old = ref.swap %r[%i, 1, %j: tensor<i64>] sizes [1, 2, 3] squeezed [0], %v
      : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32> -> tensor<2x3xf32>
  ref.set %r[5, 0, %j: tensor<i64>] sizes [1, 2, 3] strides [1, 2, 1] squeezed [0], %old
      : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>
  ref.addupdate %r[0, %i, %j: tensor<i64>] sizes [1, 2, 3] squeezed [0], %old
      : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>
  return %old : tensor<2x3xf32>
}

// -----

// Advanced indexing: `indexed [dims] by (%indices: [B..., K])`; the value is
// B... followed by the kept dims. Both out-of-range modes.
// CHECK-LABEL: func.func @indexed
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4x6xf32>>, %[[IDX:.*]]: tensor<5x1xi32>, %[[IDX2:.*]]: tensor<2x3x2xi64>, %[[I:.*]]: tensor<i32>
// CHECK: %[[G:.*]] = ref.get %[[R]] sizes [1, 4, 6] indexed [0] by (%[[IDX]]: tensor<5x1xi32>) : !ref.ref<tensor<8x4x6xf32>> -> tensor<5x4x6xf32>
// CHECK: ref.addupdate %[[R]][0, %[[I]], 0] sizes [1, 1, 1] squeezed [1] indexed [0, 2] by (%[[IDX2]]: tensor<2x3x2xi64>) mode elementwise, %{{.*}} : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>
// CHECK: ref.set %[[R]] sizes [1, 4, 6] indexed [0] by (%[[IDX]]: tensor<5x1xi32>) mode window, %[[G]]
// CHECK: ref.swap %[[R]][0, 1, 0] sizes [1, 2, 6] strides [1, 2, 1] indexed [0] by (%[[IDX]]: tensor<5x1xi32>), %{{.*}}
func.func @indexed(%r: !ref.ref<tensor<8x4x6xf32>>, %idx: tensor<5x1xi32>, %idx2: tensor<2x3x2xi64>, %i: tensor<i32>, %u: tensor<2x3xf32>, %w: tensor<5x2x6xf32>) -> tensor<5x4x6xf32> {
  %g = ref.get %r sizes [1, 4, 6] indexed [0] by (%idx: tensor<5x1xi32>)
      : !ref.ref<tensor<8x4x6xf32>> -> tensor<5x4x6xf32>
  ref.addupdate %r[0, %i, 0] sizes [1, 1, 1] squeezed [1] indexed [0, 2] by (%idx2: tensor<2x3x2xi64>)
      mode elementwise, %u : !ref.ref<tensor<8x4x6xf32>>, tensor<2x3xf32>
  ref.set %r sizes [1, 4, 6] indexed [0] by (%idx: tensor<5x1xi32>) mode window, %g
      : !ref.ref<tensor<8x4x6xf32>>, tensor<5x4x6xf32>
  %s = ref.swap %r[0, 1, 0] sizes [1, 2, 6] strides [1, 2, 1] indexed [0] by (%idx: tensor<5x1xi32>), %w
      : !ref.ref<tensor<8x4x6xf32>>, tensor<5x2x6xf32> -> tensor<5x2x6xf32>
  return %g : tensor<5x4x6xf32>
}

// -----

// Views: static, strided, squeezed and dynamic; views of views.
// CHECK-LABEL: func.func @views
// CHECK-SAME: (%[[R:.*]]: !ref.ref<tensor<8x4xf32>>, %[[I:.*]]: tensor<i32>
// CHECK: %[[S:.*]] = ref.view %[[R]][2, 0] sizes [4, 4] : !ref.ref<tensor<8x4xf32>> -> !ref.ref<tensor<4x4xf32>>
// CHECK: %[[T:.*]] = ref.view %[[S]][%[[I]], 0] sizes [1, 4] squeezed [0] : !ref.ref<tensor<4x4xf32>> -> !ref.ref<tensor<4xf32>>
// CHECK: ref.view %[[R]] sizes [4, 2] strides [2, 2] : !ref.ref<tensor<8x4xf32>> -> !ref.ref<tensor<4x2xf32>>
// CHECK: ref.set %[[T]], %{{.*}} : !ref.ref<tensor<4xf32>>, tensor<4xf32>
func.func @views(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) {
  %s = ref.view %r[2, 0] sizes [4, 4] : !ref.ref<tensor<8x4xf32>> -> !ref.ref<tensor<4x4xf32>>
  %t = ref.view %s[%i, 0] sizes [1, 4] squeezed [0] : !ref.ref<tensor<4x4xf32>> -> !ref.ref<tensor<4xf32>>
  %u = ref.view %r sizes [4, 2] strides [2, 2] : !ref.ref<tensor<8x4xf32>> -> !ref.ref<tensor<4x2xf32>>
  ref.set %t, %row : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}

// -----

// Discardable attributes stay in a trailing attribute dictionary.
// CHECK-LABEL: func.func @discardable_attributes
// CHECK: %[[R:.*]] = ref.new %{{.*}} {ref.donated} : !ref.ref<tensor<4xf32>>
// CHECK: ref.get %[[R]][1] sizes [2] {refhlo.note = "x", refhlo.tags = [1, 2]} : !ref.ref<tensor<4xf32>> -> tensor<2xf32>
func.func @discardable_attributes(%x: tensor<4xf32>) -> tensor<2xf32> {
  %r = ref.new %x {ref.donated} : !ref.ref<tensor<4xf32>>
  %v = ref.get %r[1] sizes [2] {refhlo.note = "x", refhlo.tags = [1, 2]} : !ref.ref<tensor<4xf32>> -> tensor<2xf32>
  return %v : tensor<2xf32>
}

// -----

// Refs captured by stablehlo.case / stablehlo.if regions; passed to calls
// (aliased twice is fine). This case is in the generic form, which parses
// too (and prints in the pretty one).
// CHECK-LABEL: func.func @regions_and_calls
// CHECK: "stablehlo.case"
// CHECK: ref.set %{{.*}}, %{{.*}} : !ref.ref<tensor<4xf32>>, tensor<4xf32>
// CHECK: ref.get %{{.*}} : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
// CHECK: "stablehlo.if"
// CHECK: ref.swap %{{.*}}, %{{.*}} : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>
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
