// --mlir-print-ir-after-failure prints the IR after the pass that failed, as
// it was then, and nothing after the passes that succeeded.
// RUN: not ref-opt %s --mlir-very-unsafe-disable-verifier-on-parsing --cse --ref-verify --canonicalize --mlir-print-ir-after-failure 2>&1 >/dev/null | FileCheck %s
// With --mlir-print-ir-after, only if the failing pass is one of those named.
// RUN: not ref-opt %s --mlir-very-unsafe-disable-verifier-on-parsing --cse --ref-verify --mlir-print-ir-after=cse --mlir-print-ir-after-failure 2>&1 >/dev/null | FileCheck %s --check-prefix=OTHER

// CHECK-NOT:  IR Dump After CSEPass
// CHECK:      // -----// IR Dump After RefVerify Failed (ref-verify) //----- //
// CHECK-NEXT: module {
// CHECK:      func.func @out_of_bounds
// CHECK:      print_ir_after_failure.mlir:[[# @LINE + 6]]:8: error: 'ref.get' op window [6, 10) in dim 0 is out of bounds for the ref's size 8
// CHECK-NOT:  IR Dump

// OTHER-NOT: IR Dump
// OTHER:     error: 'ref.get' op window [6, 10)
func.func @out_of_bounds(%r: !ref.ref<tensor<8xf32>>) -> tensor<4xf32> {
  %v = "ref.get"(%r) {static_offsets = array<i64: 6>, static_sizes = array<i64: 4>} : (!ref.ref<tensor<8xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}
