// RUN: not ref-opt %s --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=ERR
// RUN: not ref-opt %s --split-input-file 2>/dev/null | FileCheck %s

// An error in one chunk does not stop the others; line numbers stay absolute.

// ERR: split_input_file_errors.mlir:[[# @LINE + 3]]:3: error: 'func.return' op has 0 operands
// ERR-NEXT: {{^}}  return{{$}}
func.func @bad() -> tensor<f32> {
  return
}

// -----

// CHECK: // -----
// CHECK-LABEL: func.func @good
func.func @good() {
  return
}
