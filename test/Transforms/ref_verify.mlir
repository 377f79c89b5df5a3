// RUN: ref-opt %s --ref-verify --split-input-file --verify-diagnostics | FileCheck %s
// ref-opt checks these rules right after parsing; the pass itself, without that:
// RUN: ref-opt %s --mlir-very-unsafe-disable-verifier-on-parsing --ref-verify --split-input-file --verify-diagnostics | FileCheck %s

// Valid IR passes through unchanged (more valid forms: test/Dialect/ops.mlir).

// CHECK-LABEL: func.func @design_example
// CHECK-SAME: (%[[BUF:.*]]: !ref.ref<tensor<8x4xf32>>, %[[I:.*]]: tensor<i32>, %[[ROW:.*]]: tensor<4xf32>)
// CHECK: %[[OLD:.*]] = ref.swap %[[BUF]][%[[I]], 0] sizes [1, 4] squeezed [0], %[[ROW]]
// CHECK: return %[[OLD]]
func.func @design_example(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
          static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return %old : tensor<4xf32>
}

// -----

// Refs captured by the regions of stablehlo.while, passed to func.call, and
// frozen last; a freeze inside a region does not end the life of the ref
// outside that block.

// CHECK-LABEL: func.func @captured
// CHECK: stablehlo.while
// CHECK: ref.addupdate
// CHECK: call @callee
// CHECK: ref.freeze
func.func private @callee(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<4xf32>>)
func.func @captured(%r: !ref.ref<tensor<4xf32>>, %n: tensor<i32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.while(%it = %n) : tensor<i32>
  cond {
    %v = "ref.get"(%r) {static_offsets = array<i64: 0>, static_sizes = array<i64: 1>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<4xf32>>) -> tensor<f32>
    %c = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    "ref.addupdate"(%r, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return %it : tensor<i32>
  }
  func.call @callee(%r, %r) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>) -> ()
  %f = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %f : tensor<4xf32>
}

// -----

// ---------------------------------------------------------------------------
// The ref type
// ---------------------------------------------------------------------------

// expected-error@+1 {{'func.func' op argument #0 has an invalid ref type: a ref must hold a statically shaped tensor, got tensor<?xf32>}}
func.func @dynamic_shape(%r: !ref.ref<tensor<?xf32>>) {
  return
}

// -----

// expected-error@+1 {{a ref must hold a ranked tensor type, got f32}}
func.func @scalar_not_tensor(%r: !ref.ref<f32>) {
  return
}

// -----

// expected-error@+1 {{a ref must hold a ranked tensor type, got tensor<*xf32>}}
func.func @unranked(%r: !ref.ref<tensor<*xf32>>) {
  return
}

// -----

// expected-error@+1 {{unknown type '!ref.foo<tensor<4xf32>>' (expected !ref.ref<T>)}}
func.func @unknown_type(%r: !ref.foo<tensor<4xf32>>) {
  return
}

// -----

// expected-error@+1 {{'tensor<4xfoo>' in !ref.ref<tensor<4xfoo>> is not a valid type}}
func.func @unparsable_body(%r: !ref.ref<tensor<4xfoo>>) {
  return
}

// -----

// expected-error@+1 {{a ref must hold integer, float or i1 elements, got complex<f32>}}
func.func @complex_elements(%r: !ref.ref<tensor<4xcomplex<f32>>>) {
  return
}

// -----

// expected-error@+1 {{a ref must hold integer, float or i1 elements, got index}}
func.func @index_elements(%r: !ref.ref<tensor<4xindex>>) {
  return
}

// -----

// Refs are never stored in other refs.
// expected-error@+1 {{a ref must hold a ranked tensor type, got !ref.ref<tensor<4xf32>>}}
func.func @ref_of_ref(%r: !ref.ref<!ref.ref<tensor<4xf32>>>) {
  return
}

// -----

func.func @bad_result_type() {
  // expected-error@+1 {{'ref.empty' op result #0 has an invalid ref type: a ref must hold a statically shaped tensor, got tensor<?x4xf32>}}
  %r = "ref.empty"() : () -> !ref.ref<tensor<?x4xf32>>
  return
}

// -----

// expected-error@+1 {{'func.func' op argument #0 has an invalid ref type}}
func.func private @bad_declaration(!ref.ref<tensor<?xi32>>)

// -----

// ---------------------------------------------------------------------------
// Indexer attributes
// ---------------------------------------------------------------------------

func.func @offsets_not_i64_array(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op 'static_offsets' must be a dense i64 array (array<i64: ...>)}}
  %v = "ref.get"(%r) {static_offsets = [0, 0]} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @sizes_i32_array(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op 'static_sizes' must be a dense i64 array}}
  %v = "ref.get"(%r) {static_sizes = array<i32: 8, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @squeezed_not_array(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op 'squeezed_dims' must be a dense i64 array}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 1, 4>, squeezed_dims = 0 : i64} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @sizes_wrong_length(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8xf32> {
  // expected-error@+1 {{'ref.get' op 'static_sizes' has 1 entries, expected one per ref dim (2)}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 8>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8xf32>
  return %v : tensor<8xf32>
}

// -----

func.func @strides_wrong_length(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op 'static_strides' has 3 entries, expected one per ref dim (2)}}
  %v = "ref.get"(%r) {static_strides = array<i64: 1, 1, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @stride_zero(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op stride 0 in dim 1 must be >= 1}}
  %v = "ref.get"(%r) {static_strides = array<i64: 1, 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @negative_size(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<8x4xf32>) {
  // expected-error@+1 {{'ref.set' op size -1 in dim 0 must be >= 0}}
  "ref.set"(%r, %v) {static_sizes = array<i64: -1, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xf32>) -> ()
  return
}

// -----

func.func @negative_offset(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<2x4xf32> {
  // expected-error@+1 {{'ref.get' op offset -2 in dim 0 must be >= 0}}
  %v = "ref.get"(%r) {static_offsets = array<i64: -2, 0>, static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<2x4xf32>
  return %v : tensor<2x4xf32>
}

// -----

func.func @window_out_of_bounds(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4x4xf32> {
  // expected-error@+1 {{'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8}}
  %v = "ref.get"(%r) {static_offsets = array<i64: 6, 0>, static_sizes = array<i64: 4, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4x4xf32>
  return %v : tensor<4x4xf32>
}

// -----

func.func @strided_window_too_big(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<5x4xf32> {
  // expected-error@+1 {{'ref.get' op window of 5 elements with stride 2 in dim 0 does not fit in the ref's size 8}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 5, 4>, static_strides = array<i64: 2, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<5x4xf32>
  return %v : tensor<5x4xf32>
}

// -----

func.func @strided_window_out_of_bounds(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4x4xf32>) {
  // expected-error@+1 {{'ref.addupdate' op window [2, 9) in dim 0 is out of bounds for the ref's size 8}}
  "ref.addupdate"(%r, %v) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 4, 4>, static_strides = array<i64: 2, 1>} : (!ref.ref<tensor<8x4xf32>>, tensor<4x4xf32>) -> ()
  return
}

// -----

func.func @view_out_of_bounds(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error@+1 {{'ref.view' op window of 5 elements with stride 1 in dim 1 does not fit in the ref's size 4}}
  %s = "ref.view"(%r) {static_sizes = array<i64: 8, 5>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<8x5xf32>>
  return
}

// -----

// ---------------------------------------------------------------------------
// Operand counts and types
// ---------------------------------------------------------------------------

func.func @too_few_dynamic_offsets(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op expects 1 operand after the ref (1 dynamic offset, one dynamic offset per dynamic entry of 'static_offsets'), got 0}}
  %v = "ref.get"(%r) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @too_many_dynamic_offsets(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) -> tensor<1x1xf32> {
  // expected-error@+1 {{'ref.get' op expects 1 operand after the ref (1 dynamic offset, one dynamic offset per dynamic entry of 'static_offsets'), got 2}}
  %v = "ref.get"(%r, %i, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 1>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>, tensor<i32>) -> tensor<1x1xf32>
  return %v : tensor<1x1xf32>
}

// -----

func.func @extra_operand(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op expects 0 operands after the ref (0 dynamic offsets, one dynamic offset per dynamic entry of 'static_offsets'), got 1}}
  %v = "ref.get"(%r, %i) : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @set_missing_value(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error@+1 {{'ref.set' op expects a ref and a value operand first, got 1 operand}}
  "ref.set"(%r) : (!ref.ref<tensor<8x4xf32>>) -> ()
  return
}

// -----

func.func @swap_missing_value_with_offset(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.swap' op expects 1 operand after the ref and value}}
  %o = "ref.swap"(%r, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<4xf32>
  return %o : tensor<4xf32>
}

// -----

func.func @missing_indices(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op is missing the indices operand that 'indexed_dims' requires}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @get_no_ref(%x: tensor<8x4xf32>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op operand #0 must be a ref (!ref.ref<T>), got tensor<8x4xf32>}}
  %v = "ref.get"(%x) : (tensor<8x4xf32>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @get_no_operands() -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op expects a ref operand first, got 0 operands}}
  %v = "ref.get"() : () -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @freeze_extra_operand(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.freeze' op expects 1 operand (the ref), got 2}}
  %v = "ref.freeze"(%r, %r) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @free_no_operand() {
  // expected-error@+1 {{'ref.free' op expects 1 operand (the ref), got 0}}
  "ref.free"() : () -> ()
  return
}

// -----

func.func @empty_with_operand(%x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.empty' op takes no operands, got 1}}
  %r = "ref.empty"(%x) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  return
}

// -----

func.func @new_two_operands(%x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.new' op expects 1 operand (init), got 2}}
  %r = "ref.new"(%x, %x) : (tensor<4xf32>, tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  return
}

// -----

func.func @dynamic_offset_not_scalar(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<1xi32>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op dynamic offset operand #1 (for dim 0) must be a 0-d integer tensor, got tensor<1xi32>}}
  %v = "ref.get"(%r, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<1xi32>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @dynamic_offset_float(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<8x1xf32>, %i: tensor<f32>) {
  // expected-error@+1 {{'ref.set' op dynamic offset operand #2 (for dim 1) must be a 0-d integer tensor, got tensor<f32>}}
  "ref.set"(%r, %v, %i) {static_offsets = array<i64: 0, -9223372036854775808>, static_sizes = array<i64: 8, 1>} : (!ref.ref<tensor<8x4xf32>>, tensor<8x1xf32>, tensor<f32>) -> ()
  return
}

// -----

func.func @indices_float(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xf32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{'ref.get' op indices operand #1 must be a static integer tensor of shape [B..., 1] (1 = number of indexed_dims), got tensor<3x1xf32>}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xf32>) -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

func.func @indices_wrong_k(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x2xi32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{'ref.get' op indices operand #1 must be a static integer tensor of shape [B..., 1]}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x2xi32>) -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

func.func @indices_scalar(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<i32>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op indices operand #1 must be a static integer tensor of shape [B..., 1]}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// ---------------------------------------------------------------------------
// Squeezed and indexed dims
// ---------------------------------------------------------------------------

func.func @squeezed_out_of_range(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
  // expected-error@+1 {{'ref.get' op 'squeezed_dims' entry 2 is out of range for a rank-2 ref}}
  %v = "ref.get"(%r) {squeezed_dims = array<i64: 2>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return %v : tensor<8x4xf32>
}

// -----

func.func @indexed_out_of_range(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) -> tensor<3x8x4xf32> {
  // expected-error@+1 {{'ref.get' op 'indexed_dims' entry -1 is out of range for a rank-2 ref}}
  %v = "ref.get"(%r, %idx) {indexed_dims = array<i64: -1>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xi32>) -> tensor<3x8x4xf32>
  return %v : tensor<3x8x4xf32>
}

// -----

func.func @squeezed_unsorted(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<f32> {
  // expected-error@+1 {{'ref.get' op 'squeezed_dims' must be sorted}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 1, 1>, squeezed_dims = array<i64: 1, 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<f32>
  return %v : tensor<f32>
}

// -----

func.func @squeezed_repeated(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op 'squeezed_dims' has repeated dims}}
  %v = "ref.get"(%r) {static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0, 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @squeezed_and_indexed(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{'ref.get' op dim 0 is both squeezed and indexed}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xi32>) -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

func.func @squeezed_size_not_one(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op squeezed dim 0 must have size 1, got 8}}
  %v = "ref.get"(%r) {squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @indexed_size_not_one(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{'ref.get' op indexed dim 0 must have size 1, got 2}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 2, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xi32>) -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

func.func @indexed_offset_not_zero(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{'ref.get' op indexed dim 0 must have static offset 0}}
  %v = "ref.get"(%r, %idx) {static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xi32>) -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

// ---------------------------------------------------------------------------
// Value and result types
// ---------------------------------------------------------------------------

func.func @get_result_shape(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) -> tensor<1x4xf32> {
  // expected-error@+1 {{'ref.get' op result type tensor<1x4xf32> does not match the indexer's value type tensor<4xf32>}}
  %v = "ref.get"(%r, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<1x4xf32>
  return %v : tensor<1x4xf32>
}

// -----

func.func @get_result_element_type(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf16> {
  // expected-error@+1 {{'ref.get' op result type tensor<8x4xf16> does not match the indexer's value type tensor<8x4xf32>}}
  %v = "ref.get"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf16>
  return %v : tensor<8x4xf16>
}

// -----

func.func @get_result_indexed_batch(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<2x3x1xi32>) -> tensor<3x2x4xf32> {
  // expected-error@+1 {{'ref.get' op result type tensor<3x2x4xf32> does not match the indexer's value type tensor<2x3x4xf32>}}
  %v = "ref.get"(%r, %idx) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<2x3x1xi32>) -> tensor<3x2x4xf32>
  return %v : tensor<3x2x4xf32>
}

// -----

func.func @set_value_type(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4x8xf32>) {
  // expected-error@+1 {{'ref.set' op value type tensor<4x8xf32> does not match the indexer's value type tensor<8x4xf32>}}
  "ref.set"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<4x8xf32>) -> ()
  return
}

// -----

func.func @swap_value_type(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<8x4xi32>) -> tensor<8x4xi32> {
  // expected-error@+1 {{'ref.swap' op value type tensor<8x4xi32> does not match the indexer's value type tensor<8x4xf32>}}
  %o = "ref.swap"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xi32>) -> tensor<8x4xi32>
  return %o : tensor<8x4xi32>
}

// -----

func.func @swap_result_type(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<8x4xf32>) -> tensor<4x8xf32> {
  // expected-error@+1 {{'ref.swap' op result type tensor<4x8xf32> must equal the value type tensor<8x4xf32>}}
  %o = "ref.swap"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xf32>) -> tensor<4x8xf32>
  return %o : tensor<4x8xf32>
}

// -----

func.func @swap_no_result(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<8x4xf32>) {
  // expected-error@+1 {{'ref.swap' op must have 1 result, got 0}}
  "ref.swap"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xf32>) -> ()
  return
}

// -----

func.func @addupdate_value_type(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'ref.addupdate' op value type tensor<4xf32> does not match the indexer's value type tensor<8x4xf32>}}
  "ref.addupdate"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
  return
}

// -----

func.func @addupdate_i1(%r: !ref.ref<tensor<4xi1>>, %v: tensor<4xi1>) {
  // expected-error@+1 {{'ref.addupdate' op requires a ref of numeric elements (integers other than i1, or floats), got i1}}
  "ref.addupdate"(%r, %v) : (!ref.ref<tensor<4xi1>>, tensor<4xi1>) -> ()
  return
}

// -----

func.func @addupdate_result(%r: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'ref.addupdate' op must have no results, got 1}}
  %x = "ref.addupdate"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @set_result(%r: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'ref.set' op must have no results, got 1}}
  %x = "ref.set"(%r, %v) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @get_no_result(%r: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{'ref.get' op must have 1 result, got 0}}
  "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}

// -----

func.func @new_result_type(%x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.new' op result type !ref.ref<tensor<4xf64>> must be !ref.ref<tensor<4xf32>>, the ref of the init's type}}
  %r = "ref.new"(%x) : (tensor<4xf32>) -> !ref.ref<tensor<4xf64>>
  return
}

// -----

func.func @new_of_ref(%q: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{'ref.new' op init must be a statically shaped tensor of integers, floats or i1, got !ref.ref<tensor<4xf32>>}}
  %r = "ref.new"(%q) : (!ref.ref<tensor<4xf32>>) -> !ref.ref<tensor<4xf32>>
  return
}

// -----

func.func @new_result_not_ref(%x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.new' op result must be a ref, got tensor<4xf32>}}
  %r = "ref.new"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @empty_result_not_ref() {
  // expected-error@+1 {{'ref.empty' op result must be a ref, got tensor<4xf32>}}
  %r = "ref.empty"() : () -> tensor<4xf32>
  return
}

// -----

func.func @freeze_result_type(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xi32> {
  // expected-error@+1 {{'ref.freeze' op result type tensor<4xi32> does not match the ref's value type tensor<4xf32>}}
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xi32>
  return %v : tensor<4xi32>
}

// -----

func.func @freeze_not_ref(%x: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.freeze' op operand #0 must be a ref (!ref.ref<T>), got tensor<4xf32>}}
  %v = "ref.freeze"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @free_result(%r: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{'ref.free' op must have no results, got 1}}
  %v = "ref.free"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return
}

// -----

func.func @freeze_with_indexer(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.freeze' op takes no indexer, but has attribute 'static_offsets'}}
  %v = "ref.freeze"(%r) {static_offsets = array<i64: 0>} : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// ---------------------------------------------------------------------------
// Attributes: an op's own, and discardable ones (`dialect.name`, `__name__`)
// ---------------------------------------------------------------------------

// A typo would otherwise be ignored and read the whole ref.
func.func @misspelled_indexer(%r: !ref.ref<tensor<8x4xf32>>) -> tensor<2x4xf32> {
  // expected-error@+1 {{'ref.get' op has unknown attribute 'static_offset'; did you mean 'static_offsets'?}}
  %v = "ref.get"(%r) {static_offset = array<i64: 2, 0>, static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<2x4xf32>
  return %v : tensor<2x4xf32>
}

// -----

func.func @misspelled_on_a_write(%r: !ref.ref<tensor<8x4xf32>>, %x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.set' op has unknown attribute 'squeezed_dim'; did you mean 'squeezed_dims'?}}
  "ref.set"(%r, %x) {static_sizes = array<i64: 1, 4>, squeezed_dim = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
  return
}

// -----

func.func @unknown_attribute(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error-re@+1 {{'ref.view' op has unknown attribute 'layout' (its attributes: static_offsets, static_sizes, static_strides, squeezed_dims{{.*}}); a discardable attribute is named 'dialect.name', e.g. 'refhlo.layout'}}
  %s = "ref.view"(%r) {layout = 1 : i64} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<8x4xf32>>
  return
}

// -----

func.func @attribute_on_new(%x: tensor<4xf32>) {
  // expected-error@+1 {{'ref.new' op has unknown attribute 'donated' (it takes no attributes); a discardable attribute is named 'dialect.name', e.g. 'refhlo.donated'}}
  %r = "ref.new"(%x) {donated} : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  return
}

// -----

// Discardable attributes are fine on any ref op.
// CHECK-LABEL: func.func @discardable_attributes
// CHECK: ref.new %{{.*}} {ref.donated}
// CHECK: ref.get %{{.*}} sizes [2] {__roots__ = ["arg0"], refhlo.note = "x"}
func.func @discardable_attributes(%x: tensor<4xf32>) -> tensor<2xf32> {
  %r = "ref.new"(%x) {ref.donated} : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  %v = "ref.get"(%r) {static_sizes = array<i64: 2>, refhlo.note = "x", __roots__ = ["arg0"]} : (!ref.ref<tensor<4xf32>>) -> tensor<2xf32>
  "ref.free"(%r) {mhlo.frontend_attributes = {a = "b"}} : (!ref.ref<tensor<4xf32>>) -> ()
  return %v : tensor<2xf32>
}

// -----

// ---------------------------------------------------------------------------
// ref.view
// ---------------------------------------------------------------------------

func.func @view_indexed(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) {
  // expected-error@+1 {{'ref.view' op cannot have 'indexed_dims': views are slices only}}
  %s = "ref.view"(%r, %idx) {static_sizes = array<i64: 1, 4>, indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x1xi32>) -> !ref.ref<tensor<3x4xf32>>
  return
}

// -----

func.func @view_result_shape(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error@+1 {{'ref.view' op result type !ref.ref<tensor<4x2xf32>> does not match !ref.ref<tensor<2x4xf32>>, the ref of the indexed window}}
  %s = "ref.view"(%r) {static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<4x2xf32>>
  return
}

// -----

func.func @view_result_element_type(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error@+1 {{'ref.view' op result type !ref.ref<tensor<2x4xi32>> does not match !ref.ref<tensor<2x4xf32>>}}
  %s = "ref.view"(%r) {static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<2x4xi32>>
  return
}

// -----

func.func @view_result_not_ref(%r: !ref.ref<tensor<8x4xf32>>) {
  // expected-error@+1 {{'ref.view' op result must be a ref, got tensor<2x4xf32>}}
  %s = "ref.view"(%r) {static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<2x4xf32>
  return
}

// -----

// ---------------------------------------------------------------------------
// Where refs may appear
// ---------------------------------------------------------------------------

func.func @return_ref(%r: !ref.ref<tensor<4xf32>>) -> !ref.ref<tensor<4xf32>> {
  // expected-error@+1 {{'func.return' op operand #0 is a ref (!ref.ref<tensor<4xf32>>): functions never return refs}}
  return %r : !ref.ref<tensor<4xf32>>
}

// -----

// expected-error@+1 {{'func.func' op result #0 has ref type !ref.ref<tensor<4xf32>>: functions never return refs}}
func.func private @declared_ref_result() -> !ref.ref<tensor<4xf32>>

// -----

// expected-error@+1 {{'func.func' op result #0 has ref type}}
func.func private @make() -> !ref.ref<tensor<4xf32>>
func.func @call_ref_result() {
  // expected-error@+1 {{'func.call' op result #0 is a ref (!ref.ref<tensor<4xf32>>): functions never return refs}}
  %r = func.call @make() : () -> !ref.ref<tensor<4xf32>>
  return
}

// -----

func.func @cast_of_ref(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'builtin.unrealized_conversion_cast' op operand #0 is a ref (!ref.ref<tensor<4xf32>>): only ref ops and func.call take refs as operands}}
  %x = builtin.unrealized_conversion_cast %r : !ref.ref<tensor<4xf32>> to tensor<4xf32>
  return %x : tensor<4xf32>
}

// -----

func.func @other_op_makes_ref() {
  // expected-error@+1 {{'test.make' op result #0 is a ref (!ref.ref<tensor<4xf32>>): only ref.new, ref.empty and ref.view create refs}}
  %r = "test.make"() : () -> !ref.ref<tensor<4xf32>>
  return
}

// -----

func.func @region_argument_ref(%x: tensor<4xf32>) {
  // expected-error@+1 {{'test.region' op region argument #0 is a ref (!ref.ref<tensor<4xf32>>): refs are captured by regions, never passed in as region arguments}}
  "test.region"() ({
  ^bb0(%r: !ref.ref<tensor<4xf32>>):
    "test.end"() : () -> ()
  }) : () -> ()
  return
}

// -----

// ---------------------------------------------------------------------------
// No use after ref.freeze / ref.free
// ---------------------------------------------------------------------------

func.func @get_after_freeze(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  // expected-error@+1 {{'ref.get' op uses a ref after its 'ref.freeze' at}}
  %w = "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

func.func @set_after_free(%x: tensor<4xf32>) {
  %r = "ref.new"(%x) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
  "ref.free"(%r) : (!ref.ref<tensor<4xf32>>) -> ()
  // expected-error@+1 {{'ref.set' op uses a ref after its 'ref.free' at}}
  "ref.set"(%r, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
  return
}

// -----

func.func @freeze_twice(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  // expected-error@+1 {{'ref.freeze' op uses a ref after its 'ref.freeze' at}}
  %w = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %w : tensor<4xf32>
}

// -----

func.func @use_in_later_region(%r: !ref.ref<tensor<4xf32>>, %n: tensor<i32>, %x: tensor<4xf32>) -> tensor<4xf32> {
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  %0 = stablehlo.while(%it = %n) : tensor<i32>
  cond {
    %c = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    // expected-error@+1 {{'ref.addupdate' op uses a ref after its 'ref.freeze' at}}
    "ref.addupdate"(%r, %x) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
    stablehlo.return %it : tensor<i32>
  }
  return %v : tensor<4xf32>
}

// -----

func.func @use_through_view(%r: !ref.ref<tensor<8x4xf32>>, %row: tensor<1x4xf32>) -> tensor<2x4xf32> {
  %s = "ref.view"(%r) {static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<2x4xf32>>
  %t = "ref.view"(%s) {static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<2x4xf32>>) -> !ref.ref<tensor<1x4xf32>>
  "ref.free"(%r) : (!ref.ref<tensor<8x4xf32>>) -> ()
  // expected-error@+1 {{'ref.get' op uses a view of a ref after its 'ref.free' at}}
  %v = "ref.get"(%s) : (!ref.ref<tensor<2x4xf32>>) -> tensor<2x4xf32>
  // expected-error@+1 {{'ref.set' op uses a view of a ref after its 'ref.free' at}}
  "ref.set"(%t, %row) : (!ref.ref<tensor<1x4xf32>>, tensor<1x4xf32>) -> ()
  return %v : tensor<2x4xf32>
}

// -----

func.func @view_after_free(%r: !ref.ref<tensor<8x4xf32>>) {
  "ref.free"(%r) : (!ref.ref<tensor<8x4xf32>>) -> ()
  // expected-error@+1 {{'ref.view' op uses a ref after its 'ref.free' at}}
  %s = "ref.view"(%r) {static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>) -> !ref.ref<tensor<2x4xf32>>
  return
}

// -----

func.func private @consume(%a: !ref.ref<tensor<4xf32>>)
func.func @call_after_freeze(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  // expected-error@+1 {{'func.call' op uses a ref after its 'ref.freeze' at}}
  func.call @consume(%r) : (!ref.ref<tensor<4xf32>>) -> ()
  return %v : tensor<4xf32>
}

// -----

// ---------------------------------------------------------------------------
// Op names, regions, successors
// ---------------------------------------------------------------------------

func.func @unknown_op(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.load' op is not an op of the ref dialect (its ops are: ref.addupdate, ref.empty, ref.free, ref.freeze, ref.get, ref.new, ref.set, ref.swap, ref.view)}}
  %v = "ref.load"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @op_with_region(%r: !ref.ref<tensor<4xf32>>) {
  // expected-error@+1 {{'ref.free' op must have no regions, got 1}}
  "ref.free"(%r) ({
    "test.end"() : () -> ()
  }) : (!ref.ref<tensor<4xf32>>) -> ()
  return
}

// -----

func.func @op_with_successor(%r: !ref.ref<tensor<4xf32>>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'ref.set' op must have no successors, got 1}}
  "ref.set"(%r, %v)[^bb1] : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> ()
^bb1:
  return
}

// -----

// Every error in a function is reported, not just the first.
func.func @several_errors(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4xf32>) {
  // expected-error@+1 {{'ref.set' op value type tensor<4xf32> does not match}}
  "ref.set"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
  // expected-error@+1 {{'ref.get' op stride 0 in dim 0 must be >= 1}}
  %x = "ref.get"(%r) {static_strides = array<i64: 0, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
  return
}

// -----

// Out-of-range semantics: `mode = "elementwise"` (docs/dialect.md) is valid
// on the accesses; "window" is the default and may be spelled out.

// CHECK-LABEL: func.func @elementwise_mode
// CHECK: ref.get {{.*}} mode elementwise :
// CHECK: ref.set {{.*}} mode window,
func.func @elementwise_mode(%r: !ref.ref<tensor<8x6xf32>>, %i: tensor<i32>, %v: tensor<3xf32>) -> tensor<3xf32> {
  %x = "ref.get"(%r, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 3>, static_strides = array<i64: 1, 2>, squeezed_dims = array<i64: 0>, mode = "elementwise"} : (!ref.ref<tensor<8x6xf32>>, tensor<i32>) -> tensor<3xf32>
  "ref.set"(%r, %v, %i) {static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 3>, squeezed_dims = array<i64: 0>, mode = "window"} : (!ref.ref<tensor<8x6xf32>>, tensor<3xf32>, tensor<i32>) -> ()
  return %x : tensor<3xf32>
}

// -----

func.func @unknown_mode(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>) -> tensor<2xf32> {
  // expected-error@+1 {{'ref.get' op 'mode' must be one of 'window', 'elementwise' (a string), got "clamp"}}
  %x = "ref.get"(%r, %i) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 2>, mode = "clamp"} : (!ref.ref<tensor<8xf32>>, tensor<i32>) -> tensor<2xf32>
  return %x : tensor<2xf32>
}

// -----

func.func @elementwise_view(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>) {
  // expected-error@+1 {{'ref.view' op cannot have mode 'elementwise': views are windows (mode 'window')}}
  %w = "ref.view"(%r, %i) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 3>, static_strides = array<i64: 2>, mode = "elementwise"} : (!ref.ref<tensor<8xf32>>, tensor<i32>) -> !ref.ref<tensor<3xf32>>
  return
}
