// --mlir-print-ir-after-change prints the IR after a pass only if the pass
// changed it: the first cse merges the two adds, the second finds nothing.
// RUN: ref-opt %s --cse --cse --mlir-print-ir-after-all --mlir-print-ir-after-change 2>&1 >/dev/null | FileCheck %s
// Alone, it selects every pass; with --mlir-print-ir-after, the named ones.
// RUN: ref-opt %s --cse --cse --mlir-print-ir-after-change 2>&1 >/dev/null | FileCheck %s
// RUN: ref-opt %s --cse --ref-verify --mlir-print-ir-before=cse --mlir-print-ir-after=ref-verify --mlir-print-ir-after-change 2>&1 >/dev/null | FileCheck %s --check-prefix=NAMED
// RUN: ref-opt %s --cse --ref-verify --mlir-print-ir-after=cse --mlir-print-ir-after-change 2>&1 >/dev/null | FileCheck %s --check-prefix=NAMED-CSE
// RUN: not ref-opt %s --cse --mlir-print-ir-after-change=often 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK:      // -----// IR Dump After CSEPass (cse) //----- //
// CHECK-NEXT: module {
// CHECK:      stablehlo.multiply %[[A:.*]], %[[A]]
// CHECK-NOT:  IR Dump

// ref-verify changes nothing: only the dump before cse.
// NAMED:     IR Dump Before CSEPass (cse)
// NAMED-NOT: IR Dump After

// NAMED-CSE:     IR Dump After CSEPass (cse)
// NAMED-CSE-NOT: IR Dump

// BAD: ref-opt: error: option '--mlir-print-ir-after-change' takes no value, got 'often'

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %x, %x : tensor<4xf32>
  %1 = stablehlo.add %x, %x : tensor<4xf32>
  %2 = stablehlo.multiply %0, %1 : tensor<4xf32>
  return %2 : tensor<4xf32>
}
