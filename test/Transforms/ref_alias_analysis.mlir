// RUN: ref-opt %s --ref-alias-analysis --split-input-file | FileCheck %s

// Views of views compose into windows of the root; squeezed dims print as an index.
// CHECK-LABEL: func.func @views_of_views
// CHECK-SAME: __arg_roots__ = {{\[}}["@views_of_views:arg0"], [], []]
// CHECK: %[[ROWS:.*]] = ref.view %arg0[2, 0] sizes [4, 4] {__roots__ = ["@views_of_views:arg0[2:6, 0:4]"]
// CHECK: %[[SUB:.*]] = ref.view %[[ROWS]][1, 0] sizes [2, 4] {__roots__ = ["@views_of_views:arg0[3:5, 0:4]"]
// CHECK: %[[ROW:.*]] = ref.view %[[ROWS]][3, 0] sizes [1, 4] squeezed [0] {__roots__ = ["@views_of_views:arg0[5, 0:4]"]
// CHECK: ref.set %[[SUB]], %arg1 {__access__ = "a0", __may_alias__ = ["a3"], __must_alias__ = ["a2"], __roots__ = ["@views_of_views:arg0[3:5, 0:4]"]}
// CHECK: ref.set %[[ROW]], %arg2 {__access__ = "a1", __roots__ = ["@views_of_views:arg0[5, 0:4]"]}
// CHECK: ref.get %arg0[3, 0] sizes [2, 4] {__access__ = "a2", __may_alias__ = ["a3"], __must_alias__ = ["a0"], __roots__ = ["@views_of_views:arg0[3:5, 0:4]"]
// CHECK: ref.get %arg0[4, 0] sizes [1, 4] {__access__ = "a3", __may_alias__ = ["a0", "a2"], __roots__ = ["@views_of_views:arg0[4:5, 0:4]"]
func.func @views_of_views(%a: !ref.ref<tensor<8x4xf32>>, %v: tensor<2x4xf32>, %w: tensor<4xf32>) {
  %rows = ref.view %a[2, 0] sizes [4, 4] : !ref.ref<tensor<8x4xf32>> -> !ref.ref<tensor<4x4xf32>>
  %sub = ref.view %rows[1, 0] sizes [2, 4] : !ref.ref<tensor<4x4xf32>> -> !ref.ref<tensor<2x4xf32>>
  %row = ref.view %rows[3, 0] sizes [1, 4] squeezed [0]
      : !ref.ref<tensor<4x4xf32>> -> !ref.ref<tensor<4xf32>>
  ref.set %sub, %v : !ref.ref<tensor<2x4xf32>>, tensor<2x4xf32>
  ref.set %row, %w : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %x = ref.get %a[3, 0] sizes [2, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<2x4xf32>
  %y = ref.get %a[4, 0] sizes [1, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<1x4xf32>
  return
}


// -----

// Dynamic offsets are unknown but bounded by the enclosing window; strided
// windows with different phases are disjoint.
// CHECK-LABEL: func.func @dynamic_views
// CHECK: %[[LO:.*]] = ref.view %arg0 sizes [4] {__roots__ = ["@dynamic_views:arg0[0:4]"]
// CHECK: %[[D:.*]] = ref.view %[[LO]][%arg1] sizes [2] {__roots__ = ["@dynamic_views:arg0[?(0:4)]"]
// CHECK: ref.set %[[D]], %arg2 {__access__ = "a0", __may_alias__ = ["a2", "a3", "a4"], __roots__ = ["@dynamic_views:arg0[?(0:4)]"]}
// CHECK: ref.get %arg0[4] sizes [4] {__access__ = "a1", __may_alias__ = ["a2", "a3", "a4"], __roots__ = ["@dynamic_views:arg0[4:8]"]
// CHECK: ref.get %arg0[%arg1] sizes [1] squeezed [0] {__access__ = "a2", __may_alias__ = ["a0", "a1", "a3", "a4"], __roots__ = ["@dynamic_views:arg0[?(0:8)]"]
// CHECK: ref.get %arg0 sizes [4] strides [2] {__access__ = "a3", __may_alias__ = ["a0", "a1", "a2"], __roots__ = ["@dynamic_views:arg0[0:7:2]"]
// CHECK: ref.get %arg0[1] sizes [4] strides [2] {__access__ = "a4", __may_alias__ = ["a0", "a1", "a2"], __roots__ = ["@dynamic_views:arg0[1:8:2]"]
func.func @dynamic_views(%a: !ref.ref<tensor<8xf32>>, %i: tensor<i32>, %v: tensor<2xf32>, %s: tensor<f32>) {
  %lo = ref.view %a sizes [4] : !ref.ref<tensor<8xf32>> -> !ref.ref<tensor<4xf32>>
  %d = ref.view %lo[%i] sizes [2] : !ref.ref<tensor<4xf32>> -> !ref.ref<tensor<2xf32>>
  ref.set %d, %v : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  %hi = ref.get %a[4] sizes [4] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>
  %any = ref.get %a[%i] sizes [1] squeezed [0] : !ref.ref<tensor<8xf32>> -> tensor<f32>
  %even = ref.get %a sizes [4] strides [2] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>
  %odd = ref.get %a[1] sizes [4] strides [2] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>
  return
}


// -----

// The same ref passed twice: both parameters are bound to it.
// CHECK-LABEL: func.func @same_ref_twice
// CHECK-LABEL: func.func private @twice
// CHECK-SAME: __arg_roots__ = {{\[}}["@same_ref_twice:arg0"], ["@same_ref_twice:arg0"], []]
// CHECK: ref.set %arg0, %arg2 {__access__ = "a0", __must_alias__ = ["a1"], __roots__ = ["@same_ref_twice:arg0"]}
// CHECK: ref.get %arg1 {__access__ = "a1", __must_alias__ = ["a0"], __roots__ = ["@same_ref_twice:arg0"]}
func.func @same_ref_twice(%a: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  call @twice(%a, %a, %v) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @twice(%p: !ref.ref<tensor<4xf32>>, %q: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  ref.set %p, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %x = ref.get %q : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return
}


// -----

// A callee called with different refs: its parameter may be either; the
// caller's distinct arguments do not alias.
// CHECK-LABEL: func.func @different_refs
// CHECK-SAME: __arg_roots__ = {{\[}}["@different_refs:arg0"], ["@different_refs:arg1"], []]
// CHECK: ref.set %arg0, %arg2 {__access__ = "a0", __roots__ = ["@different_refs:arg0"]}
// CHECK: ref.get %arg1 {__access__ = "a1", __roots__ = ["@different_refs:arg1"]}
// CHECK-LABEL: func.func private @callee
// CHECK-SAME: __arg_roots__ = {{\[}}["@different_refs:arg0", "@different_refs:arg1"], []]
// CHECK: ref.set %arg0, %arg1 {__access__ = "a0", __roots__ = ["@different_refs:arg0", "@different_refs:arg1"]}
func.func @different_refs(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  call @callee(%a, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  call @callee(%b, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  ref.set %a, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %x = ref.get %b : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return
}
func.func private @callee(%p: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  ref.set %p, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}


// -----

// Refs captured by while / if / case regions keep their roots.
// CHECK-LABEL: func.func @captures
// CHECK: %[[R:.*]] = ref.new %arg0 {__roots__ = ["@captures:new0"]}
// CHECK: %[[E:.*]] = ref.empty {__roots__ = ["@captures:empty0"]}
// CHECK: stablehlo.while
// CHECK: ref.get %[[R]] {__access__ = "a0", __must_alias__ = ["a1", "a3"], __roots__ = ["@captures:new0"]}
// CHECK: ref.set %[[R]], %arg0 {__access__ = "a1", __must_alias__ = ["a0", "a3"], __roots__ = ["@captures:new0"]}
// CHECK: "stablehlo.if"
// CHECK: ref.set %[[E]], %arg0 {__access__ = "a2", __roots__ = ["@captures:empty0"]}
// CHECK: "stablehlo.case"
// CHECK: ref.get %[[R]] {__access__ = "a3", __must_alias__ = ["a0", "a1"], __roots__ = ["@captures:new0"]}
func.func @captures(%init: tensor<4xf32>, %c: tensor<i1>, %n: tensor<i32>) {
  %r = ref.new %init : !ref.ref<tensor<4xf32>>
  %e = ref.empty : !ref.ref<tensor<4xf32>>
  %w = stablehlo.while(%it = %n) : tensor<i32>
  cond {
    %x = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
    stablehlo.return %c : tensor<i1>
  } do {
    ref.set %r, %init : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    stablehlo.return %it : tensor<i32>
  }
  "stablehlo.if"(%c) ({
    ref.set %e, %init : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    stablehlo.return
  }, {
    stablehlo.return
  }) : (tensor<i1>) -> ()
  "stablehlo.case"(%n) ({
    %y = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
    stablehlo.return
  }) : (tensor<i32>) -> ()
  return
}


// -----

// Recursion terminates; an allocation of a recursive function stands for
// several locations, so it never MUST-aliases through a parameter.
// CHECK-LABEL: func.func @recursion
// CHECK-LABEL: func.func private @rec
// CHECK-SAME: __arg_roots__ = {{\[}}["@rec:new0", "@recursion:arg0"], []]
// CHECK: %[[R:.*]] = ref.new %arg1 {__roots__ = ["@rec:new0"]}
// CHECK: ref.set %arg0, %arg1 {__access__ = "a0", __may_alias__ = ["a1"], __roots__ = ["@rec:new0", "@recursion:arg0"]}
// CHECK: ref.get %[[R]] {__access__ = "a1", __may_alias__ = ["a0"], __roots__ = ["@rec:new0"]}
func.func @recursion(%a: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  call @rec(%a, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @rec(%p: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  %r = ref.new %v : !ref.ref<tensor<4xf32>>
  call @rec(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  call @rec(%p, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  ref.set %p, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %x = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return
}
