// RUN: ref-opt %s --ref-to-stablehlo --split-input-file --verify-diagnostics | FileCheck %s

// The design example: the written ref argument is donated (its final value
// returned as result 1, aliased to argument 0) and the swap is a dynamic_slice
// of the donated buffer followed by a dynamic_update_slice of it, both at the
// row index clamped into range explicitly (ref-prepare-for-xla).

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[BUF:.*]]: tensor<8x4xf32> {tf.aliasing_output = 1 : i32}, %[[I:.*]]: tensor<i32>, %[[ROW:.*]]: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>)
// CHECK: %[[Z:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[SEVEN:.*]] = stablehlo.constant dense<7> : tensor<i32>
// CHECK: %[[CI:.*]] = stablehlo.clamp %[[Z]], %[[I]], %[[SEVEN]] : tensor<i32>
// CHECK: %[[OLD:.*]] = stablehlo.dynamic_slice %[[BUF]], %[[CI]], %[[Z]], sizes = [1, 4]
// CHECK: %[[OLD1:.*]] = stablehlo.reshape %[[OLD]]
// CHECK: %[[R:.*]] = stablehlo.reshape %[[ROW]]
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[BUF]], %[[R]], %[[CI]], %[[Z]]
// CHECK: return %[[OLD1]], %[[NEW]] : tensor<4xf32>, tensor<8x4xf32>
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row
      : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}

// -----

// A counter in a loop through a private helper: after the pipeline nothing of
// the ref dialect is left; the helper returns the counter's new value and the
// loop carries it.

// CHECK-LABEL: func.func private @tick
// CHECK-SAME: (%[[C:.*]]: tensor<i32>) -> tensor<i32>
// CHECK: %[[N:.*]] = stablehlo.add %[[C]], %{{.*}}
// CHECK: return %[[N]]
// CHECK-LABEL: func.func @count
// CHECK-SAME: (%[[CNT:.*]]: tensor<i32> {tf.aliasing_output = 0 : i32}) -> tensor<i32>
// CHECK: %[[W:.*]]:2 = stablehlo.while(%{{.*}} = %{{.*}}, %[[V:.*]] = %[[CNT]])
// CHECK: %[[T:.*]] = func.call @tick(%[[V]])
// CHECK: stablehlo.return %{{.*}}, %[[T]]
// CHECK: return %[[W]]#1
// CHECK-NOT: ref.
func.func private @tick(%c: !ref.ref<tensor<i32>>) {
  %v = ref.get %c : !ref.ref<tensor<i32>> -> tensor<i32>
  %one = stablehlo.constant dense<1> : tensor<i32>
  %n = stablehlo.add %v, %one : tensor<i32>
  ref.set %c, %n : !ref.ref<tensor<i32>>, tensor<i32>
  return
}
func.func @count(%cnt: !ref.ref<tensor<i32>>) {
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %w = stablehlo.while(%it = %c0) : tensor<i32>
  cond {
    %n = stablehlo.constant dense<10> : tensor<i32>
    %p = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  } do {
    func.call @tick(%cnt) : (!ref.ref<tensor<i32>>) -> ()
    %one = stablehlo.constant dense<1> : tensor<i32>
    %n2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %n2 : tensor<i32>
  }
  return
}

// -----

// Invalid input is rejected with the verifier's diagnostic at the offending
// op (ref-opt verifies what it parsed; run on its own, the pipeline's first
// step, ref-verify, does the same); nothing is lowered.
func.func @bad_window(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4x4xf32> {
  // expected-error@+1 {{'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8}}
  %v = ref.get %r[6, 0] sizes [4, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<4x4xf32>
  return %v : tensor<4x4xf32>
}

// -----

// Recursion among functions that take refs cannot be threaded: an error at
// the recursive call, reported through the whole pipeline.
func.func @main(%r: !ref.ref<tensor<f32>>) {
  func.call @loop(%r) : (!ref.ref<tensor<f32>>) -> ()
  return
}
func.func private @loop(%r: !ref.ref<tensor<f32>>) {
  %v = ref.get %r : !ref.ref<tensor<f32>> -> tensor<f32>
  ref.set %r, %v : !ref.ref<tensor<f32>>, tensor<f32>
  // expected-error@+1 {{recursive call to @loop}}
  func.call @loop(%r) : (!ref.ref<tensor<f32>>) -> ()
  return
}

// -----

// The output is valid StableHLO, or the pipeline fails with a located error.

// A written ref argument is aliased with its result: a `jax.buffer_donor` of
// it is dropped (XLA rejects an argument that is both).
// CHECK-LABEL: func.func @donor
// CHECK-SAME: (%{{.*}}: tensor<4xf32> {tf.aliasing_output = 0 : i32}, %{{.*}}: tensor<4xf32>) -> tensor<4xf32>
func.func @donor(%r: !ref.ref<tensor<4xf32>> {jax.buffer_donor = true}, %x: tensor<4xf32>) {
  ref.set %r, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}

// -----

// expected-error@+1 {{argument #0 of @bad_sharding has a malformed 'mhlo.sharding' "{devices=[2,1]<=[2]}": it tiles 2 dimensions (tile assignment [2, 1]), but tensor<4xf32> has rank 1}}
func.func @bad_sharding(%r: !ref.ref<tensor<4xf32>> {mhlo.sharding = "{devices=[2,1]<=[2]}"}, %x: tensor<4xf32>) {
  ref.set %r, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}

// -----

// An op of an unregistered dialect is not StableHLO.
func.func @unregistered(%r: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32>) {
  // expected-error@+1 {{'foo.bar' is not a registered op (dialect 'foo' is unknown to MLIR)}}
  %y = "foo.bar"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  ref.set %r, %y : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}

// -----

// Shardy's `sdy.sharding` is checked by its registered dialect, when parsed.
sdy.mesh @mesh = <["x"=2]>
// expected-error@+1 {{'func.func' op arg 1 - sharding doesn't match tensor rank: 2 != 1}}
func.func @bad_sdy_sharding(%r: !ref.ref<tensor<4xf32>>, %x: tensor<4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>}) {
  ref.set %r, %x : !ref.ref<tensor<4xf32>>, tensor<4xf32>
  return
}
