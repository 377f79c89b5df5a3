// The upstream StableHLO passes jaxlib registers from Python are flags too.
// One that runs only on func.func is nested under it, as mlir-opt's implicit
// nesting does; in --pass-pipeline the nesting is written out.
// RUN: ref-opt %s --chlo-legalize-to-stablehlo | FileCheck %s
// RUN: ref-opt %s --chlo-legalize-to-stablehlo --dump-pass-pipeline 2>&1 >/dev/null | FileCheck %s --check-prefix=PIPELINE
// RUN: ref-opt %s --pass-pipeline='builtin.module(func.func(chlo-legalize-to-stablehlo),cse)' | FileCheck %s
// RUN: ref-opt %s --chlo-legalize-to-stablehlo --stablehlo-legalize-to-linalg | FileCheck %s --check-prefix=LINALG
// RUN: ref-opt --list-passes | FileCheck %s --check-prefix=LIST
// RUN: not ref-opt %s --pass-pipeline='builtin.module(chlo-legalize-to-stablehlo)' 2>&1 | FileCheck %s --check-prefix=NEST
// RUN: not ref-opt %s --chlo-legalize-to-stablehlo=bogus=1 2>&1 | FileCheck %s --check-prefix=OPTION
// RUN: not ref-opt %s --chlo-legalise-to-stablehlo 2>&1 | FileCheck %s --check-prefix=TYPO

// CHECK-LABEL: func.func @erf
// CHECK-NOT:   chlo.erf
// CHECK:       stablehlo.clamp
// CHECK:       return

// PIPELINE: builtin.module(func.func(chlo-legalize-to-stablehlo))

// LINALG: linalg.generic

// LIST: Upstream StableHLO passes
// LIST: --stablehlo-legalize-to-linalg
// LIST: --chlo-legalize-to-stablehlo

// NEST: ref-opt: error: invalid pass pipeline 'builtin.module(chlo-legalize-to-stablehlo)': {{.*}}restricted to 'func.func'{{.*}}did you intend to nest?
// OPTION: ref-opt: error: invalid pass pipeline {{.*}}no such option bogus
// TYPO: ref-opt: error: unknown command line option or pass '--chlo-legalise-to-stablehlo'; did you mean '--chlo-legalize-to-stablehlo'?

func.func @erf(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = chlo.erf %a : tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
