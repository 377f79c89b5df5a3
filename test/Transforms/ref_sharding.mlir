// RUN: ref-opt %s --ref-to-stablehlo --split-input-file --verify-diagnostics | FileCheck %s

// A ref argument's Shardy sharding is written `ref.sharding` (Shardy verifies
// `sdy.sharding` against a tensor type, and `!ref.ref` is not one). Once the
// argument is a tensor it becomes its `sdy.sharding`, and the donated result
// gets it too; a plain tensor argument keeps its own `sdy.sharding`, and a
// read-only ref argument gets its sharding without being donated.

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>, tf.aliasing_output = 1 : i32},
// CHECK-SAME: %{{.*}}: tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{}, {"y"}]>},
// CHECK-SAME: %{{.*}}: tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>})
// CHECK-SAME: -> (tensor<f32>, tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>})
// CHECK-NOT: ref.sharding
sdy.mesh @mesh = <["x"=4, "y"=2]>
func.func @main(%r: !ref.ref<tensor<8x4xf32>> {ref.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>},
                %ro: !ref.ref<tensor<8x4xf32>> {ref.sharding = #sdy.sharding<@mesh, [{}, {"y"}]>},
                %v: tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {}]>}) -> tensor<f32> {
  %o = "ref.get"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  %s = stablehlo.add %o, %v : tensor<8x4xf32>
  "ref.set"(%r, %s) : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xf32>) -> ()
  %g = "ref.get"(%ro) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %t = stablehlo.reduce(%g init: %z) applies stablehlo.add across dimensions = [0, 1] : (tensor<8x4xf32>, tensor<f32>) -> tensor<f32>
  return %t : tensor<f32>
}

// -----

// `ref.sharding` belongs on ref arguments only.

sdy.mesh @mesh = <["x"=4]>
// expected-error @+1 {{argument #0 has 'ref.sharding' but is not a ref (tensor<8xf32>): a tensor argument takes 'sdy.sharding' itself}}
func.func @on_tensor(%x: tensor<8xf32> {ref.sharding = #sdy.sharding<@mesh, [{"x"}]>}) {
  return
}

// -----

// expected-error @+1 {{argument #0: 'ref.sharding' must be a Shardy sharding (#sdy.sharding<@mesh, [...]>), got "{replicated}"}}
func.func @not_shardy(%r: !ref.ref<tensor<8xf32>> {ref.sharding = "{replicated}"}) {
  return
}
