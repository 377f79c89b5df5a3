// RUN: ref-opt %s --ref-effect-analysis --split-input-file | FileCheck %s

// get/freeze read, set writes, swap reads and writes, addupdate accumulates;
// an access through a view is an effect on the view's root.
// CHECK-LABEL: func.func @kinds
// CHECK-SAME: __arg_effects__ = ["read", "write", "read|write", "accumulate", "none", "none", "none"]
// CHECK-SAME: __effects__ = ["@kinds:arg0: read", "@kinds:arg1: write", "@kinds:arg2: read|write", "@kinds:arg3: accumulate", "@kinds:new0: read"]
// CHECK: ref.get %arg0 {__effects__ = ["@kinds:arg0: read"]}
// CHECK: %[[HI:.*]] = ref.view %arg1[2] sizes [2] :
// CHECK: ref.set %[[HI]], %arg6 {__effects__ = ["@kinds:arg1: write"]}
// CHECK: ref.swap %arg2, %arg5 {__effects__ = ["@kinds:arg2: read|write"]}
// CHECK: ref.addupdate %arg3, %arg5 {__effects__ = ["@kinds:arg3: accumulate"]}
// CHECK: %[[N:.*]] = ref.new %arg5 :
// CHECK: ref.freeze %[[N]] {__effects__ = ["@kinds:new0: read"]}
// CHECK: ref.free %arg4 :
func.func @kinds(%r: !ref.ref<tensor<4xf32>>, %w: !ref.ref<tensor<4xf32>>, %s: !ref.ref<tensor<4xf32>>, %acc: !ref.ref<tensor<4xf32>>, %none: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>, %y: tensor<2xf32>) {
  %0 = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  %hi = ref.view %w[2] sizes [2] : !ref.ref<tensor<4xf32>> -> !ref.ref<tensor<2xf32>>
  ref.set %hi, %y : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  %1 = ref.swap %s, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>
  ref.addupdate %acc, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %n = ref.new %x : !ref.ref<tensor<4xf32>>
  %2 = ref.freeze %n : !ref.ref<tensor<4xf32>>
  ref.free %none : !ref.ref<tensor<4xf32>>
  return
}


// -----

// Effects through nested calls are transitive; a call has its callee's
// effects on the refs it passes.
// CHECK-LABEL: func.func @nested_calls
// CHECK-SAME: __arg_effects__ = ["accumulate", "read", "none"]
// CHECK: call @outer(%arg0, %arg1, %arg2) {__effects__ = ["@nested_calls:arg0: accumulate", "@nested_calls:arg1: read"]}
// CHECK-LABEL: func.func private @outer
// CHECK-SAME: __arg_effects__ = ["accumulate", "read", "none"]
// CHECK: call @inner(%arg0, %arg2) {__effects__ = ["@nested_calls:arg0: accumulate"]}
// CHECK-LABEL: func.func private @inner
// CHECK-SAME: __arg_effects__ = ["accumulate", "none"]
func.func @nested_calls(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  call @outer(%a, %b, %x) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @outer(%p: !ref.ref<tensor<4xf32>>, %q: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  %v = ref.get %q : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  call @inner(%p, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @inner(%p: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  ref.addupdate %p, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}


// -----

// Ops with regions have the union of the effects nested in them.
// CHECK-LABEL: func.func @regions
// CHECK-SAME: __arg_effects__ = ["read|accumulate", "write", "none", "none", "none"]
// CHECK: stablehlo.while{{.*}}__effects__ = ["@regions:arg0: read|accumulate", "@regions:arg1: write"]
// CHECK: ref.get %arg0 {__effects__ = ["@regions:arg0: read"]}
// CHECK: "stablehlo.if"
// CHECK: ref.set %arg1, %arg4 {__effects__ = ["@regions:arg1: write"]}
// CHECK: ref.addupdate %arg0, %arg4 {__effects__ = ["@regions:arg0: accumulate"]}
// CHECK: }) {__effects__ = ["@regions:arg0: accumulate", "@regions:arg1: write"]} : (tensor<i1>) -> ()
func.func @regions(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %c: tensor<i1>, %n: tensor<i32>, %x: tensor<4xf32>) {
  %w = stablehlo.while(%it = %n) : tensor<i32>
  cond {
    %v = ref.get %a : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
    stablehlo.return %c : tensor<i1>
  } do {
    "stablehlo.if"(%c) ({
      ref.set %b, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
      stablehlo.return
    }, {
      ref.addupdate %a, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
      stablehlo.return
    }) : (tensor<i1>) -> ()
    stablehlo.return %it : tensor<i32>
  }
  return
}


// -----

// Recursion reaches a fixpoint; the same ref passed twice gets both effects.
// CHECK-LABEL: func.func @recursive
// CHECK-SAME: __arg_effects__ = ["read|write", "none"]
// CHECK-LABEL: func.func private @ping
// CHECK-SAME: __arg_effects__ = ["read|write", "read|write", "none"]
// CHECK-LABEL: func.func private @pong
// CHECK-SAME: __arg_effects__ = ["read|write", "read|write", "none"]
func.func @recursive(%a: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  call @ping(%a, %a, %x) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @ping(%p: !ref.ref<tensor<4xf32>>, %q: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  %v = ref.get %p : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  call @pong(%q, %p, %x) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}
func.func private @pong(%p: !ref.ref<tensor<4xf32>>, %q: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  ref.set %p, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  call @ping(%p, %q, %x) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}


// -----

// A ref handed to a function without a body may be read and written.
// CHECK-LABEL: func.func @external
// CHECK-SAME: __arg_effects__ = ["read|write|accumulate"]
// CHECK: call @ext(%arg0) {__effects__ = ["@external:arg0: read|write|accumulate"]}
func.func @external(%a: !ref.ref<tensor<4xf32>>) {
  call @ext(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}
func.func private @ext(!ref.ref<tensor<4xf32>>)
