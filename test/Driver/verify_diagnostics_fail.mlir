// RUN: not ref-opt %s --split-input-file --verify-diagnostics 2>&1 | FileCheck %s

// Mismatches are reported in MLIR's words and the exit status is 1.

func.func @wrong_text() -> tensor<f32> {
  // CHECK: verify_diagnostics_fail.mlir:[[# @LINE + 3]]:3: error: unexpected error: 'func.return' op has 0 operands
  // CHECK: verify_diagnostics_fail.mlir:[[# @LINE + 1]]:6: error: expected error "no such message" was not produced
  // expected-error@+1 {{no such message}}
  return
}

// -----

func.func @never_emitted() {
  // CHECK: verify_diagnostics_fail.mlir:[[# @LINE + 1]]:6: error: expected warning "nothing" was not produced
  // expected-warning@+1 {{nothing}}
  return
}
