// The inputs stand for the output of earlier passes, with refs left where the
// ref dialect's rules forbid them: the input is not verified after parsing.
// RUN: ref-opt %s --mlir-very-unsafe-disable-verifier-on-parsing --ref-check-lowered --split-input-file --verify-diagnostics | FileCheck %s

// Plain StableHLO passes unchanged.

// CHECK-LABEL: func.func @lowered
// CHECK-SAME: (%[[BUF:.*]]: tensor<8xf32>, %[[V:.*]]: tensor<1xf32>, %[[I:.*]]: tensor<i32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[BUF]], %[[V]], %[[I]]
// CHECK: return %[[NEW]]
func.func @lowered(%buf: tensor<8xf32>, %v: tensor<1xf32>, %i: tensor<i32>) -> tensor<8xf32> {
  %0 = stablehlo.dynamic_update_slice %buf, %v, %i : (tensor<8xf32>, tensor<1xf32>, tensor<i32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @leftover_op(%buf: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{'ref.new' was not lowered}}
  %r = ref.new %buf : !ref.ref<tensor<8xf32>>
  // expected-error@+1 {{'ref.freeze' was not lowered}}
  %v = ref.freeze %r : !ref.ref<tensor<8xf32>>
  return %v : tensor<8xf32>
}

// -----

// expected-error@+1 {{'func.func' still has a block argument of ref type !ref.ref<tensor<8xf32>>}}
func.func @ref_argument(%r: !ref.ref<tensor<8xf32>>) {
  return
}

// -----

// expected-error@+1 {{function type (tensor<f32>) -> !ref.ref<tensor<f32>> still mentions a ref type}}
func.func private @ref_result(%x: tensor<f32>) -> !ref.ref<tensor<f32>>

// -----

func.func @ref_in_region(%p: tensor<i1>, %r: tensor<f32>) -> tensor<f32> {
  %0 = "stablehlo.if"(%p) ({
    // expected-error@+1 {{'test.make' still produces a ref of type !ref.ref<tensor<f32>>}}
    %m = "test.make"() : () -> !ref.ref<tensor<f32>>
    // expected-error@+1 {{'test.use' still takes a ref operand of type !ref.ref<tensor<f32>>}}
    "test.use"(%m) : (!ref.ref<tensor<f32>>) -> ()
    stablehlo.return %r : tensor<f32>
  }, {
    stablehlo.return %r : tensor<f32>
  }) : (tensor<i1>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Well-formed donation and shardings pass.

// CHECK-LABEL: func.func @donated
// CHECK-SAME: tf.aliasing_output = 1 : i32
func.func @donated(%x: tensor<4xf32> {jax.buffer_donor = true, mhlo.sharding = "{replicated}"},
                   %buf: tensor<8x2xf32> {tf.aliasing_output = 1 : i32, mhlo.sharding = "{devices=[2,1]<=[2]}"})
    -> (tensor<4xf32>, tensor<8x2xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}"}) {
  %0 = stablehlo.custom_call @Sharding(%x) {mhlo.sharding = "{devices=[2,2]<=[4] last_tile_dim_replicate}"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0, %buf : tensor<4xf32>, tensor<8x2xf32>
}

// -----

// Nothing of an unregistered dialect may be left: ops, types, attribute values.

func.func @unregistered_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'foo.bar' is not a registered op (dialect 'foo' is unknown to MLIR): the lowered module must be plain StableHLO}}
  %0 = "foo.bar"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error@+1 {{'func.func' has function type (tensor<4xf32>) -> tensor<2x!foo.elt>, of the unregistered dialect 'foo'}}
func.func private @make(tensor<4xf32>) -> tensor<2x!foo.elt>
// expected-error@+1 {{'func.func' has function type (tensor<2x!foo.elt>) -> tensor<4xf32>, of the unregistered dialect 'foo'}}
func.func private @use(tensor<2x!foo.elt>) -> tensor<4xf32>
func.func @unregistered_type(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'func.call' produces a value of type tensor<2x!foo.elt>, of the unregistered dialect 'foo'}}
  %0 = call @make(%x) : (tensor<4xf32>) -> tensor<2x!foo.elt>
  // expected-error@+1 {{'func.call' takes an operand of type tensor<2x!foo.elt>, of the unregistered dialect 'foo'}}
  %1 = call @use(%0) : (tensor<2x!foo.elt>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

func.func @unregistered_attribute(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'stablehlo.add' has attribute 'refhlo.note' = #foo.note<"x"> of the unregistered dialect 'foo'}}
  %0 = stablehlo.add %x, %x {refhlo.note = #foo.note<"x">} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error@+1 {{'func.func' has attribute 'arg_attrs' = [{foo.a = #foo<"y">}] of the unregistered dialect 'foo'}}
func.func @unregistered_argument_attribute(%x: tensor<4xf32> {foo.a = #foo<"y">}) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// Donation XLA rejects.

// expected-error@+1 {{argument #0 of @donor_and_alias has both 'tf.aliasing_output' and 'jax.buffer_donor': XLA rejects an argument that is aliased with an output and also a buffer donor}}
func.func @donor_and_alias(%buf: tensor<4xf32> {jax.buffer_donor = true, tf.aliasing_output = 0 : i32}) -> tensor<4xf32> {
  return %buf : tensor<4xf32>
}

// -----

// expected-error@+1 {{argument #0 of @alias_out_of_range has 'tf.aliasing_output' = 1 : i32, which is not the index of one of its 1 results}}
func.func @alias_out_of_range(%buf: tensor<4xf32> {tf.aliasing_output = 1 : i32}) -> tensor<4xf32> {
  return %buf : tensor<4xf32>
}

// -----

// expected-error@+2 {{argument #1 of @alias_twice aliases result #0, as argument #0 does}}
func.func @alias_twice(%a: tensor<4xf32> {tf.aliasing_output = 0 : i32},
                       %b: tensor<4xf32> {tf.aliasing_output = 0 : i32}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// expected-error@+1 {{argument #0 of @alias_type of type tensor<4xf32> aliases result #0 of type tensor<4xi32>}}
func.func @alias_type(%a: tensor<4xf32> {tf.aliasing_output = 0 : i32}, %b: tensor<4xi32>) -> tensor<4xi32> {
  return %b : tensor<4xi32>
}

// -----

// Malformed mhlo.sharding, on arguments, results and ops.

// expected-error@+1 {{argument #0 of @bad_syntax has a malformed 'mhlo.sharding' "replicated": expected '{' to start the sharding, got 'replicated' (column 1)}}
func.func @bad_syntax(%a: tensor<4xf32> {mhlo.sharding = "replicated"}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// expected-error@+1 {{argument #0 of @not_a_string has a malformed 'mhlo.sharding' 2 : i64: must be a string in HLO sharding syntax}}
func.func @not_a_string(%a: tensor<4xf32> {mhlo.sharding = 2}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// expected-error@+1 {{argument #0 of @tiles_and_devices has a malformed 'mhlo.sharding' "{devices=[2]<=[3]}": the iota dimensions [3] hold 3 devices, but the tile assignment [2] has 2 tiles (column 13)}}
func.func @tiles_and_devices(%a: tensor<4xf32> {mhlo.sharding = "{devices=[2]<=[3]}"}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// The sharding copied onto a donated buffer's result is reported once, at the argument.
// expected-error@+1 {{argument #0 of @rank has a malformed 'mhlo.sharding' "{devices=[2,1]<=[2]}": it tiles 2 dimensions (tile assignment [2, 1]), but tensor<4xf32> has rank 1}}
func.func @rank(%a: tensor<4xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}", tf.aliasing_output = 0 : i32})
    -> (tensor<4xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}"}) {
  return %a : tensor<4xf32>
}

// -----

// expected-error@+1 {{result #0 of @result_sharding has a malformed 'mhlo.sharding' "{devices=[2]0,0}": device 0 appears twice in the tile assignment (column 13)}}
func.func @result_sharding(%a: tensor<4xf32>) -> (tensor<4xf32> {mhlo.sharding = "{devices=[2]0,0}"}) {
  return %a : tensor<4xf32>
}

// -----

// XLA's own parser aborts on this one; it never gets to see it.
func.func @op_sharding(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'stablehlo.custom_call' has a malformed 'mhlo.sharding' "{devices=[2,2]<=[4] last_tile_dim_replicate last_tile_dims={manual}}": 'last_tile_dim_replicate' and 'last_tile_dims' cannot be combined (column 45)}}
  %0 = stablehlo.custom_call @Sharding(%a) {mhlo.sharding = "{devices=[2,2]<=[4] last_tile_dim_replicate last_tile_dims={manual}}"} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// What only XLA's parser rejects is reported too (here: metadata it does not know).
// expected-error@+1 {{argument #0 of @xla_rejects has a malformed 'mhlo.sharding' "{devices=[2]<=[2] metadata={op_nme=\22x\22}}": XLA cannot parse it: unexpected attribute "op_nme"}}
func.func @xla_rejects(%a: tensor<4xf32> {mhlo.sharding = "{devices=[2]<=[2] metadata={op_nme=\"x\"}}"}) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}
