// Some cases below hand the pass IR that breaks the ref dialect's rules (a
// ref passed to an unknown op), to check that it refuses it: the input is not
// verified after parsing.
// RUN: ref-opt %s --mlir-very-unsafe-disable-verifier-on-parsing --ref-buffer-donation --split-input-file --verify-diagnostics | FileCheck %s

// Written, read-only and unused ref arguments; attributes are kept and
// shardings copied onto the new results. The aliasing donates %w: its
// `jax.buffer_donor` is dropped (XLA rejects an argument that is both).
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[W:.*]]: tensor<4xf32> {mhlo.layout_mode = "default", mhlo.sharding = "{replicated}", tf.aliasing_output = 1 : i32},
// CHECK-SAME: %[[R:.*]]: tensor<4xf32> {mhlo.sharding = "{devices=[2]<=[2]}"},
// CHECK-SAME: %[[U:.*]]: tensor<2xi32>,
// CHECK-SAME: %[[X:.*]]: tensor<4xf32> {jax.arg_info = "x"},
// CHECK-SAME: %[[ACC:.*]]: tensor<4xf32> {mhlo.memory_kind = "device", mhlo.sharding = "{devices=[2]<=[2]}", tf.aliasing_output = 2 : i32})
// CHECK-SAME: -> (tensor<4xf32> {jax.result_info = "out"}, tensor<4xf32> {mhlo.layout_mode = "default", mhlo.sharding = "{replicated}"}, tensor<4xf32> {mhlo.memory_kind = "device", mhlo.sharding = "{devices=[2]<=[2]}"})
// CHECK-NEXT: %[[WR:.*]] = ref.new %[[W]] {ref.donated} : !ref.ref<tensor<4xf32>>
// CHECK-NEXT: %[[RR:.*]] = ref.new %[[R]] : !ref.ref<tensor<4xf32>>
// CHECK-NEXT: %[[AR:.*]] = ref.new %[[ACC]] {ref.donated} : !ref.ref<tensor<4xf32>>
// CHECK-NEXT: %[[V:.*]] = ref.get %[[RR]]
// CHECK-NEXT: ref.set %[[WR]], %[[X]]
// CHECK-NEXT: ref.addupdate %[[AR]], %[[V]]
// CHECK-NEXT: %[[FW:.*]] = ref.get %[[WR]] : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
// CHECK-NEXT: %[[FA:.*]] = ref.get %[[AR]] : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
// CHECK-NEXT: return %[[V]], %[[FW]], %[[FA]] : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
func.func @main(%w: !ref.ref<tensor<4xf32>> {jax.buffer_donor = true, mhlo.sharding = "{replicated}", mhlo.layout_mode = "default"},
                %r: !ref.ref<tensor<4xf32>> {mhlo.sharding = "{devices=[2]<=[2]}"},
                %u: !ref.ref<tensor<2xi32>>,
                %x: tensor<4xf32> {jax.arg_info = "x"},
                %acc: !ref.ref<tensor<4xf32>> {mhlo.sharding = "{devices=[2]<=[2]}", mhlo.memory_kind = "device"})
    -> (tensor<4xf32> {jax.result_info = "out"}) {
  %v = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  ref.set %w, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  ref.addupdate %acc, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return %v : tensor<4xf32>
}


// -----

// A read-only ref argument keeps its `jax.buffer_donor` (donated, not aliased).
// CHECK-LABEL: func.func @read_only_donor
// CHECK-SAME: (%[[R:.*]]: tensor<4xf32> {jax.buffer_donor = true}) -> tensor<4xf32>
// CHECK-NEXT: %[[RR:.*]] = ref.new %[[R]] : !ref.ref<tensor<4xf32>>
func.func @read_only_donor(%r: !ref.ref<tensor<4xf32>> {jax.buffer_donor = true}) -> tensor<4xf32> {
  %v = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// A ref argument that already says which result it aliases.
// expected-error@+1 {{ref argument #0 of public function @user_alias already has 'tf.aliasing_output': which ref arguments alias which results is decided by buffer donation}}
func.func @user_alias(%r: !ref.ref<tensor<4xf32>> {tf.aliasing_output = 0 : i32}, %x: tensor<4xf32>) -> tensor<4xf32> {
  ref.set %r, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return %x : tensor<4xf32>
}

// -----

// A function without refs is unchanged.
// CHECK-LABEL: func.func @no_refs
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32> {mhlo.sharding = "{replicated}"}) -> tensor<4xf32> {
// CHECK-NEXT: return %[[X]] : tensor<4xf32>
func.func @no_refs(%x: tensor<4xf32> {mhlo.sharding = "{replicated}"}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}


// -----

// A write only through a view (of a view) donates the root argument.
// CHECK-LABEL: func.func @through_view
// CHECK-SAME: (%[[A:.*]]: tensor<8xf32> {tf.aliasing_output = 0 : i32}, %[[Y:.*]]: tensor<2xf32>) -> tensor<8xf32>
// CHECK-NEXT: %[[R:.*]] = ref.new %[[A]] {ref.donated}
// CHECK-NEXT: %[[LO:.*]] = ref.view %[[R]]
// CHECK-NEXT: %[[V:.*]] = ref.view %[[LO]]
// CHECK-NEXT: ref.swap %[[V]], %[[Y]]
// CHECK-NEXT: %[[F:.*]] = ref.get %[[R]] : !ref.ref<tensor<8xf32>> -> tensor<8xf32>
// CHECK-NEXT: return %[[F]] : tensor<8xf32>
func.func @through_view(%a: !ref.ref<tensor<8xf32>>, %y: tensor<2xf32>) {
  %lo = ref.view %a sizes [4] : !ref.ref<tensor<8xf32>> -> !ref.ref<tensor<4xf32>>
  %v = ref.view %lo[2] sizes [2] : !ref.ref<tensor<4xf32>> -> !ref.ref<tensor<2xf32>>
  %old = ref.swap %v, %y : !ref.ref<tensor<2xf32>>, tensor<2xf32> -> tensor<2xf32>
  return
}


// -----

// A write only inside a (nested) callee; private callees are left alone.
// CHECK-LABEL: func.func @through_call
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32> {tf.aliasing_output = 1 : i32}, %[[B:.*]]: tensor<4xf32>, %[[X:.*]]: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[AR:.*]] = ref.new %[[A]] {ref.donated}
// CHECK-NEXT: %[[BR:.*]] = ref.new %[[B]] :
// CHECK-NEXT: %[[C:.*]] = call @outer(%[[BR]], %[[AR]], %[[X]])
// CHECK-NEXT: %[[F:.*]] = ref.get %[[AR]]
// CHECK-NEXT: return %[[C]], %[[F]] : tensor<4xf32>, tensor<4xf32>
// CHECK-LABEL: func.func private @outer
// CHECK-SAME: (%{{.*}}: !ref.ref<tensor<4xf32>>, %{{.*}}: !ref.ref<tensor<4xf32>>, %{{.*}}: tensor<4xf32>) -> tensor<4xf32>
// CHECK-LABEL: func.func private @inner
// CHECK-SAME: (%{{.*}}: !ref.ref<tensor<4xf32>>, %{{.*}}: tensor<4xf32>) {
func.func @through_call(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %r = call @outer(%b, %a, %x) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
func.func private @outer(%p: !ref.ref<tensor<4xf32>>, %q: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) -> tensor<4xf32> {
  call @inner(%q, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  %v = ref.get %p : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
  return %v : tensor<4xf32>
}
func.func private @inner(%p: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  ref.addupdate %p, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}


// -----

// Refs captured by regions; every return gets the final values.
// CHECK-LABEL: func.func @captured
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32> {tf.aliasing_output = 0 : i32}, %{{.*}}: tensor<i1>, %[[X:.*]]: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: %[[R:.*]] = ref.new %[[A]] {ref.donated}
// CHECK: ref.set %[[R]], %[[X]]
// CHECK: %[[F:.*]] = ref.get %[[R]]
// CHECK-NEXT: return %[[F]] : tensor<4xf32>
func.func @captured(%a: !ref.ref<tensor<4xf32>>, %c: tensor<i1>, %x: tensor<4xf32>) {
  "stablehlo.if"(%c) ({
    ref.set %a, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    stablehlo.return
  }, {
    stablehlo.return
  }) : (tensor<i1>) -> ()
  return
}

// -----

// A top-level freeze gives the final value; a top-level free reads it first.
// CHECK-LABEL: func.func @frozen
// CHECK-SAME: -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NEXT: %[[A:.*]] = ref.new %arg0 {ref.donated}
// CHECK-NEXT: %[[B:.*]] = ref.new %arg1 {ref.donated}
// CHECK: %[[V:.*]] = ref.freeze %[[A]]
// CHECK-NEXT: %[[FB:.*]] = ref.get %[[B]]
// CHECK-NEXT: ref.free %[[B]]
// CHECK-NEXT: return %[[V]], %[[V]], %[[FB]]
func.func @frozen(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) -> tensor<4xf32> {
  ref.set %a, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  ref.addupdate %b, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  %v = ref.freeze %a : !ref.ref<tensor<4xf32>>
  ref.free %b : !ref.ref<tensor<4xf32>>
  return %v : tensor<4xf32>
}

// -----

// A ref reaching an op of unknown effect.
func.func @unknown_op(%a: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{cannot tell whether ref argument #0 of public function @unknown_op is written: a ref is an operand of 'foo.bar'}}
  "foo.bar"(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}

// -----

// ... also when it happens inside a callee.
func.func @unknown_in_callee(%x: tensor<i32>, %a: !ref.ref<tensor<4xf32>>) {
  call @helper(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}
func.func private @helper(%p: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{cannot tell whether ref argument #1 of public function @unknown_in_callee is written: a ref is an operand of 'foo.opaque'}}
  "foo.opaque"(%p) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}

// -----

// A ref passed to a function without a body.
func.func @no_body(%a: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{cannot tell whether ref argument #0 of public function @no_body is written: a ref is passed to @ext, which has no body}}
  call @ext(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}
func.func private @ext(!ref.ref<tensor<4xf32>>)

// -----

// A public function with refs that is also called inside the module.
func.func @caller(%a: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{public function @callee takes refs and is called inside the module; buffer donation would change its signature (make it private)}}
  call @callee(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}
func.func @callee(%a: !ref.ref<tensor<4xf32>>) {
  return
}

// -----

// A written argument freed inside a callee has no final value to return.
func.func @freed_in_callee(%a: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  ref.set %a, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  call @kill(%a) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}
func.func private @kill(%p: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{ref argument #0 of public function @freed_in_callee is written and may end its life here ('ref.free' inside a region or a callee): cannot return its final value}}
  ref.free %p : !ref.ref<tensor<4xf32>>
  return
}
