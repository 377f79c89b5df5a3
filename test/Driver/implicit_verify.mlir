// With no pass at all, ref-opt verifies what it parsed, as mlir-opt does:
// MLIR's verifier and the ref dialect's rules (ref-verify), chunk by chunk.
// RUN: ref-opt %s --split-input-file --verify-diagnostics
// RUN: not ref-opt %s --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=ERR
// RUN: not ref-opt %s --split-input-file 2>/dev/null | FileCheck %s
// The ref dialect's rules can be skipped (MLIR's verifier always runs):
// RUN: not ref-opt %s --split-input-file --mlir-very-unsafe-disable-verifier-on-parsing 2>&1 >/dev/null | FileCheck %s --check-prefix=UNSAFE-ERR
// RUN: not ref-opt %s --split-input-file --mlir-very-unsafe-disable-verifier-on-parsing 2>/dev/null | FileCheck %s --check-prefix=UNSAFE

// ERR: implicit_verify.mlir:[[# @LINE + 6]]:8: error: 'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8
// ERR-NEXT: {{^}}  %v = ref.get %r[6] sizes [4]
// UNSAFE-LABEL: func.func @out_of_bounds
// UNSAFE: ref.get %{{.*}}[6] sizes [4]
func.func @out_of_bounds(%r: !ref.ref<tensor<8xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8}}
  %v = ref.get %r[6] sizes [4] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// ERR: implicit_verify.mlir:[[# @LINE + 4]]:8: error: 'ref.get' op has unknown attribute 'static_offset'; did you mean 'static_offsets'?
// UNSAFE: ref.get %{{.*}} sizes [4] {static_offset = array<i64: 2>}
func.func @typo(%r: !ref.ref<tensor<8xf32>>) -> tensor<4xf32> {
  // expected-error@+1 {{'ref.get' op has unknown attribute 'static_offset'; did you mean 'static_offsets'?}}
  %v = "ref.get"(%r) {static_offset = array<i64: 2>, static_sizes = array<i64: 4>} : (!ref.ref<tensor<8xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}

// -----

// ERR: implicit_verify.mlir:[[# @LINE + 3]]:21: error: 'func.func' op argument #0 has an invalid ref type: a ref must hold a statically shaped tensor, got tensor<?xf32>
// UNSAFE: func.func @bad_type(%{{.*}}: !ref.ref<tensor<?xf32>>)
// expected-error@+1 {{'func.func' op argument #0 has an invalid ref type}}
func.func @bad_type(%r: !ref.ref<tensor<?xf32>>) {
  return
}

// -----

// MLIR's own verifier (run by the parser).
// ERR: implicit_verify.mlir:[[# @LINE + 4]]:3: error: 'func.return' op has 0 operands, but enclosing function (@mlir_rule) returns 1
// UNSAFE-ERR: implicit_verify.mlir:[[# @LINE + 3]]:3: error: 'func.return' op has 0 operands
func.func @mlir_rule() -> tensor<f32> {
  // expected-error@+1 {{'func.return' op has 0 operands}}
  return
}

// -----

// Valid chunks are printed; test-mode annotations and discardable attributes verify.
// CHECK: // -----
// CHECK-LABEL: func.func @valid
// CHECK: ref.get %{{.*}} {__effects__ = ["read"], refhlo.note} :
func.func @valid(%r: !ref.ref<tensor<8xf32>>) -> tensor<8xf32> {
  %v = "ref.get"(%r) {refhlo.note, __effects__ = ["read"]} : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>
  return %v : tensor<8xf32>
}
