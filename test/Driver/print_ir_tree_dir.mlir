// --mlir-print-ir-tree-dir writes each IR dump to a file of its own instead
// of stderr, numbered in order, in a directory named after the module (its
// symbol name, or no-symbol-name), as mlir-opt lays them out.
// RUN: rm -rf %t
// RUN: ref-opt --mlir-print-ir-tree-dir=%t %s --split-input-file --cse --ref-verify --mlir-print-ir-before=cse --mlir-print-ir-after-all 2>%t.stderr | FileCheck %s --check-prefix=OUT
// RUN: FileCheck %s --check-prefix=BEFORE --input-file=%t/builtin_module_no-symbol-name/0_cse.mlir
// RUN: FileCheck %s --check-prefix=CSE --input-file=%t/builtin_module_no-symbol-name/1_cse.mlir
// RUN: FileCheck %s --check-prefix=VERIFY --input-file=%t/builtin_module_no-symbol-name/2_ref-verify.mlir
// The numbering goes on across chunks, so no dump overwrites another:
// RUN: FileCheck %s --check-prefix=NAMED --input-file=%t/builtin_module_named/4_cse.mlir
// RUN: ls %t/builtin_module_named | FileCheck %s --check-prefix=FILES
// Nothing on stderr:
// RUN: not grep . %t.stderr
// A path that cannot be a directory is an error before anything runs:
// RUN: not ref-opt --mlir-print-ir-tree-dir=%s/dumps %s --cse --mlir-print-ir-after-all 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not ref-opt --mlir-print-ir-tree-dir= %s --cse 2>&1 | FileCheck %s --check-prefix=EMPTY

// OUT: func.func @f
// OUT: func.func @g

// BEFORE:      // -----// IR Dump Before CSEPass (cse) //----- //
// BEFORE:      stablehlo.add
// BEFORE:      stablehlo.add
// CSE:         // -----// IR Dump After CSEPass (cse) //----- //
// CSE:         stablehlo.add
// CSE-NOT:     stablehlo.add
// VERIFY:      // -----// IR Dump After {{[A-Za-z]+}} (ref-verify) //----- //
// VERIFY-NEXT: module {
// NAMED:       // -----// IR Dump After CSEPass (cse) //----- //
// NAMED-NEXT:  module @named {
// FILES:       3_cse.mlir
// FILES-NEXT:  4_cse.mlir
// FILES-NEXT:  5_ref-verify.mlir

// BAD: ref-opt: error: could not create directory '{{.*}}print_ir_tree_dir.mlir/dumps' (--mlir-print-ir-tree-dir): Not a directory
// EMPTY: ref-opt: error: option '--mlir-print-ir-tree-dir' expects a path, got ''

func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %x, %x : tensor<4xf32>
  %1 = stablehlo.add %x, %x : tensor<4xf32>
  %2 = stablehlo.multiply %0, %1 : tensor<4xf32>
  return %2 : tensor<4xf32>
}

// -----

module @named {
  func.func @g(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
