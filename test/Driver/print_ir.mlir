// RUN: ref-opt %s --cse --canonicalize --mlir-print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER-ALL
// RUN: ref-opt %s --cse --canonicalize --mlir-print-ir-before=canonicalize 2>&1 >/dev/null | FileCheck %s --check-prefix=BEFORE
// RUN: ref-opt %s --pass-pipeline='builtin.module(cse,ref-verify)' --mlir-print-ir-after=ref-verify 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER-REF
// RUN: ref-opt %s --cse --mlir-print-ir-before-all --mlir-print-debuginfo 2>&1 >/dev/null | FileCheck %s --check-prefix=DEBUG

// AFTER-ALL: // -----// IR Dump After CSEPass (cse) //----- //
// AFTER-ALL-NEXT: module {
// AFTER-ALL: // -----// IR Dump After CanonicalizerPass (canonicalize) //----- //
// AFTER-ALL-NEXT: module {

// BEFORE-NOT: IR Dump After
// BEFORE-NOT: IR Dump Before CSEPass
// BEFORE: // -----// IR Dump Before CanonicalizerPass (canonicalize) //----- //
// BEFORE-NOT: IR Dump

// AFTER-REF-NOT: (cse)
// AFTER-REF: // -----// IR Dump After {{[A-Za-z]+}} (ref-verify) //----- //
// AFTER-REF: func.func @f

// DEBUG: // -----// IR Dump Before CSEPass (cse) //----- //
// DEBUG: loc("{{.*}}print_ir.mlir":[[# @LINE + 1]]:1)
func.func @f(%x: tensor<f32>) -> tensor<f32> {
  %0 = stablehlo.add %x, %x : tensor<f32>
  return %0 : tensor<f32>
}
