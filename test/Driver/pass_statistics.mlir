// --mlir-pass-statistics: each pass reports what it did, in MLIR's format,
// on stderr after the run; pipelines are expanded into their passes.
// RUN: ref-opt %s --ref-to-stablehlo --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s
// RUN: ref-opt %s --ref-to-stablehlo --mlir-pass-statistics --mlir-pass-statistics-display=list 2>&1 >/dev/null | FileCheck %s --check-prefix=LIST
// RUN: ref-opt %s --pass-pipeline='builtin.module(func.func(cse,canonicalize),ref-verify)' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=NESTED
// The output is unchanged:
// RUN: ref-opt %s --ref-to-stablehlo --mlir-pass-statistics 2>/dev/null | FileCheck %s --check-prefix=OUT
// Bad values:
// RUN: not ref-opt %s --mlir-pass-statistics --mlir-pass-statistics-display=tree 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not ref-opt %s --mlir-pass-statistics=yes 2>&1 | FileCheck %s --check-prefix=BAD-BOOL

// CHECK:      {{^}}===-------------------------------------------------------------------------==={{$}}
// CHECK-NEXT: {{^}}                         ... Pass statistics report ...{{$}}
// CHECK-NEXT: {{^}}===-------------------------------------------------------------------------==={{$}}
// CHECK-NEXT: {{^}}RefVerify{{$}}
// CHECK-NEXT: {{^}}  (S) 0 errors - Broken rules reported
// CHECK-NEXT: {{^}}  (S) 1 functions-verified - Functions verified
// CHECK-NEXT: {{^}}RefSparseUpdates{{$}}
// CHECK-NEXT: (S) 0 updates-rewritten
// CHECK-NEXT: (S) 0 writes-examined
// CHECK-NEXT: {{^}}RefBufferDonation{{$}}
// CHECK-NEXT: (S) 1 arguments-donated - Written ref arguments donated and aliased to a result
// CHECK-NEXT: (S) 0 arguments-read-only
// CHECK-NEXT: (S) 1 functions-rewritten
// CHECK-NEXT: {{^}}RefEffectElimination{{$}}
// CHECK-NEXT: (S) 3 accesses-lowered
// CHECK-NEXT: (S) 1 branches-carrying-refs
// CHECK-NEXT: (S) 0 calls-inlined
// CHECK-NEXT: (S) 0 calls-rewritten
// CHECK-NEXT: (S) 1 functions-rewritten
// CHECK-NEXT: (S) 1 loops-carrying-refs
// CHECK-NEXT: (S) 1 refs-promoted
// CHECK-NEXT: {{^}}RefPrepareForXla{{$}}
// CHECK-NEXT: (S) 0 barriers-inserted
// CHECK-NEXT: (S) 0 branch-ops-as-loops
// CHECK-NEXT: (S) 1 branch-ops-reshaped
// CHECK-NEXT: (S) 0 sharded-updates-masked
// CHECK-NEXT: (S) 3 starts-clamped
// CHECK-NEXT: {{^}}CanonicalizerPass{{$}}
// CHECK-NEXT: {{^}}CSEPass{{$}}
// CHECK-NEXT: {{^}}RefCheckLowered{{$}}
// CHECK-NEXT: (S) 1 functions-checked
// CHECK-NEXT: (S) 0 sharded-ops-checked

// Only passes with statistics, by name.
// LIST:      ... Pass statistics report ...
// LIST:      {{^}}RefBufferDonation{{$}}
// LIST:      {{^}}RefCheckLowered{{$}}
// LIST:      {{^}}RefEffectElimination{{$}}
// LIST:      {{^}}RefPrepareForXla{{$}}
// LIST:      {{^}}RefSparseUpdates{{$}}
// LIST:      {{^}}RefVerify{{$}}
// LIST-NOT:  CSEPass

// NESTED:      ... Pass statistics report ...
// NESTED:      {{^}}'func.func' Pipeline{{$}}
// NESTED-NEXT: {{^}}  CSEPass{{$}}
// NESTED-NEXT: {{^}}  CanonicalizerPass{{$}}
// NESTED-NEXT: {{^}}RefVerify{{$}}
// NESTED-NEXT: (S) 0 errors

// OUT: func.func @main
// OUT-NOT: statistics

// BAD: ref-opt: error: option '--mlir-pass-statistics-display' expects 'list' or 'pipeline', got 'tree'
// BAD-BOOL: ref-opt: error: option '--mlir-pass-statistics' takes no value, got 'yes'

func.func @main(%buf: !ref.ref<tensor<8xf32>>, %n: tensor<i32>, %v: tensor<f32>) {
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c1 = stablehlo.constant dense<1> : tensor<i32>
  %r = stablehlo.while(%i = %c0) : tensor<i32>
    cond {
      %p = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %p : tensor<i1>
    } do {
      "ref.set"(%buf, %v, %i) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 1>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8xf32>>, tensor<f32>, tensor<i32>) -> ()
      %j = stablehlo.add %i, %c1 : tensor<i32>
      stablehlo.return %j : tensor<i32>
    }
  %pred = stablehlo.compare GT, %n, %c0 : (tensor<i32>, tensor<i32>) -> tensor<i1>
  "stablehlo.if"(%pred) ({
    "ref.addupdate"(%buf, %v, %n) {static_offsets = array<i64: -9223372036854775808>, static_sizes = array<i64: 1>, squeezed_dims = array<i64: 0>} : (!ref.ref<tensor<8xf32>>, tensor<f32>, tensor<i32>) -> ()
    stablehlo.return
  }, {
    stablehlo.return
  }) : (tensor<i1>) -> ()
  return
}
