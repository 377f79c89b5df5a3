// RUN: ref-opt %s --split-input-file --verify-diagnostics | FileCheck %s
// RUN: ref-opt %s --split-input-file --verify-diagnostics | ref-opt --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file --verify-diagnostics --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: ref-opt %s --split-input-file --verify-diagnostics --mlir-print-op-generic | ref-opt --split-input-file | FileCheck %s
// RUN: ref-opt %s --split-input-file --verify-diagnostics --mlir-print-debuginfo | FileCheck %s --check-prefix=LOC
// RUN: not ref-opt %s --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=ERR

// The pretty form of the ref ops (docs/dialect.md, "Assembly format") parses,
// mixed with the generic form, and prints back in the pretty form;
// --mlir-print-op-generic prints the generic form. Each op keeps the location
// of its name, also when it spans several lines; syntax errors are located.

// CHECK-LABEL: func.func @pretty
// CHECK-NEXT: %[[R:.*]] = ref.new %arg2 {ref.donated} : !ref.ref<tensor<4xf32>>
// CHECK-NEXT: %[[V:.*]] = ref.get %arg0[%arg1, 0] sizes [1, 4] squeezed [0] : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>
// CHECK-NEXT: %[[OLD:.*]] = ref.swap %[[R]], %[[V]] : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>
// CHECK-NEXT: ref.set %arg0[7, 0] sizes [1, 4] squeezed [0], %[[OLD]] : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>
// CHECK-NEXT: %[[F:.*]] = ref.freeze %[[R]] : !ref.ref<tensor<4xf32>>
// CHECK-NEXT: return %[[F]]

// GENERIC-LABEL: "func.func"
// GENERIC: %[[R:.*]] = "ref.new"(%arg2) {ref.donated} : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>
// GENERIC-NEXT: %[[V:.*]] = "ref.get"(%arg0, %arg1) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<4xf32>
// GENERIC-NEXT: %[[OLD:.*]] = "ref.swap"(%[[R]], %[[V]]) : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
// GENERIC-NEXT: "ref.set"(%arg0, %[[OLD]]) {squeezed_dims = array<i64: 0>, static_offsets = array<i64: 7, 0>, static_sizes = array<i64: 1, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()

// LOC-LABEL: func.func @pretty
// LOC: ref.get {{.*}} loc(#[[GET:loc[0-9]*]])
// LOC: ref.swap {{.*}} loc(#[[SWAP:loc[0-9]*]])
// LOC: ref.set {{.*}} loc(#[[SET:loc[0-9]*]])
// LOC-DAG: #[[GET]] = loc("{{.*}}pretty_roundtrip.mlir":[[# @LINE + 6]]:8)
// LOC-DAG: #[[SWAP]] = loc("{{.*}}pretty_roundtrip.mlir":[[# @LINE + 8]]:10)
// LOC-DAG: #[[SET]] = loc("{{.*}}pretty_roundtrip.mlir":[[# @LINE + 9]]:3)
func.func @pretty(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>,
                  %x: tensor<4xf32>) -> tensor<4xf32> {
  %r = ref.new %x {ref.donated} : !ref.ref<tensor<4xf32>>
  %v = ref.get %buf[%i, 0]
         sizes [1, 4]
         squeezed [0] : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>
  %old = "ref.swap"(%r, %v)
       : (!ref.ref<tensor<4xf32>>, tensor<4xf32>) -> tensor<4xf32>
  ref.set %buf[7, 0] sizes [1, 4] squeezed [0], %old // a comment inside the op
      : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>
  %f = ref.freeze %r : !ref.ref<tensor<4xf32>>
  return %f : tensor<4xf32>
}

// -----

// A location written on an op is kept.
// LOC-LABEL: func.func @explicit_location
// LOC: ref.get {{.*}} loc(#[[L:loc[0-9]*]])
// LOC: #[[L]] = loc("model.py":12:5)
func.func @explicit_location(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32> {
  %v = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32> loc("model.py":12:5)
  return %v : tensor<4xf32>
}

// -----

// Diagnostics point at the source: the verifier's at a pretty op's name, MLIR's
// at the line of an op after a pretty op spanning several lines.

func.func @verifier_error(%r: !ref.ref<tensor<8xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8}}
  %v = ref.get %r[6] sizes [4] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

func.func @later_error(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>) -> tensor<2xf32> {
  %v = ref.get %r[%i]
         sizes [2]
         : !ref.ref<tensor<8xf32>> -> tensor<2xf32>
  // expected-error@+1 {{'func.return' op has 0 operands, but enclosing function (@later_error) returns 1}}
  return
}

// -----

// MLIR's own parse errors inside a pretty op point at the source too (MLIR
// parses the generic text, whose columns differ).
// ERR: pretty_roundtrip.mlir:[[# @LINE + 3]]:19: error: use of undeclared SSA value name
func.func @undeclared(%r: !ref.ref<tensor<8xf32>>) -> tensor<2xf32> {
  // expected-error@+1 {{use of undeclared SSA value name}}
  %v = ref.get %r[%nope] sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>
  return %v : tensor<2xf32>
}

// -----

// Syntax errors in the pretty form.

// ERR: pretty_roundtrip.mlir:[[# @LINE + 5]]:21: error: expected ',' or ']' in the offsets, found ')'
// ERR-NEXT: {{^}}  %v = ref.get %r[%i) sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>{{$}}
// ERR-NEXT: {{^}}                    ^{{$}}
func.func @bad_offsets(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>) -> tensor<2xf32> {
  // expected-error@+1 {{expected ',' or ']' in the offsets, found ')'}}
  %v = ref.get %r[%i) sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>
  return %v : tensor<2xf32>
}

// -----

// ERR: pretty_roundtrip.mlir:[[# @LINE + 4]]:10: error: expected one of 'sizes', 'strides', 'squeezed', 'indexed', 'mode', ',', '{' or ':' in 'ref.get', found 'size'
func.func @unknown_clause(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>) -> tensor<2xf32> {
  %v = ref.get %r[%i]
         // expected-error@+1 {{expected one of 'sizes', 'strides', 'squeezed', 'indexed', 'mode', ',', '{' or ':' in 'ref.get', found 'size'}}
         size [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>
  return %v : tensor<2xf32>
}

// -----

func.func @indices_without_type(%r: !ref.ref<tensor<8x4xf32>>, %idx: tensor<3x1xi32>) -> tensor<3x4xf32> {
  // expected-error@+1 {{expected ':' and the type of the indices operand, found ')'}}
  %v = ref.get %r sizes [1, 4] indexed [0] by (%idx) : !ref.ref<tensor<8x4xf32>> -> tensor<3x4xf32>
  return %v : tensor<3x4xf32>
}

// -----

func.func @attribute_as_clause(%r: !ref.ref<tensor<8xf32>>) -> tensor<2xf32> {
  // expected-error@+1 {{'static_sizes' of 'ref.get' is written as 'sizes ...' in the pretty form, not in the attribute dictionary}}
  %v = ref.get %r {static_sizes = array<i64: 2>} : !ref.ref<tensor<8xf32>> -> tensor<2xf32>
  return %v : tensor<2xf32>
}

// -----

func.func @missing_result(%r: !ref.ref<tensor<8xf32>>) {
  // expected-error@+1 {{'ref.get' has one result: expected '%x = ref.get ...'}}
  ref.get %r : !ref.ref<tensor<8xf32>> -> tensor<8xf32>
  return
}
