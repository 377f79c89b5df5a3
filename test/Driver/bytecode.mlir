// --emit-bytecode writes MLIR bytecode; ref-opt reads bytecode input too
// (recognised by its magic number), so the two round-trip.
// RUN: ref-opt %s --emit-bytecode | ref-opt | FileCheck %s
// RUN: ref-opt %s --emit-bytecode | ref-opt --ref-to-stablehlo | FileCheck %s --check-prefix=LOWERED
// RUN: ref-opt %s --emit-bytecode -o %t.mlirbc
// RUN: ref-opt %t.mlirbc --ref-verify --emit-bytecode --emit-bytecode-version=1 | ref-opt | FileCheck %s
// Bad combinations and values:
// RUN: not ref-opt %s --emit-bytecode --split-input-file 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not ref-opt %t.mlirbc --split-input-file 2>&1 | FileCheck %s --check-prefix=SPLIT-IN
// RUN: not ref-opt %s --emit-bytecode --emit-bytecode-version=99 2>&1 | FileCheck %s --check-prefix=VERSION
// RUN: not ref-opt %s --emit-bytecode --emit-bytecode-version=-1 2>&1 | FileCheck %s --check-prefix=NEGATIVE
// RUN: not ref-opt %s --emit-bytecode-version=1 2>&1 | FileCheck %s --check-prefix=ALONE

// CHECK-LABEL: func.func @main
// CHECK: ref.swap
// CHECK: return

// LOWERED: func.func @main(%{{.*}}: tensor<8x4xf32> {tf.aliasing_output = 1 : i32}
// LOWERED: stablehlo.dynamic_update_slice

// SPLIT: ref-opt: error: '--emit-bytecode' cannot be used with '--split-input-file'
// SPLIT-IN: ref-opt: error: '--split-input-file' cannot split MLIR bytecode ('{{.*}}.mlirbc')
// VERSION: ref-opt: error: option '--emit-bytecode-version': unsupported version requested 99, must be in range [0, {{[0-9]+}}]
// NEGATIVE: ref-opt: error: option '--emit-bytecode-version' expects a version >= 0, got '-1'
// ALONE: ref-opt: error: '--emit-bytecode-version' needs '--emit-bytecode'

func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
          static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return %old : tensor<4xf32>
}
