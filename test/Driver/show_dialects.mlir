// --show-dialects lists the dialects ref-opt's context knows (MLIR's, and
// `ref`, which only refhlo's Python side knows), sorted, then exits without
// reading any input.
// RUN: ref-opt --show-dialects | FileCheck %s
// RUN: not ref-opt --show-dialects=maybe 2>&1 | FileCheck %s --check-prefix=BAD

// CHECK: {{^}}Available Dialects: {{.*}}builtin,{{.*}}chlo,{{.*}}func,{{.*}},ref,{{.*}}sdy,{{.*}}stablehlo,{{[a-z_,]*$}}
// CHECK-NOT: {{.}}

// BAD: ref-opt: error: option '--show-dialects' takes no value, got 'maybe'
