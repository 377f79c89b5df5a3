// RUN: ref-opt %s --split-input-file --verify-diagnostics

// Each designator form matches its diagnostic.

func.func @same_line() -> tensor<f32> {
  return // expected-error {{'func.return' op has 0 operands}}
}

// -----

func.func @plus() -> tensor<f32> {
  // expected-error@+1 {{has 0 operands, but enclosing function}}
  return
}

// -----

func.func @minus() -> tensor<f32> {
  return
  // expected-error@-1 {{'func.return' op}}
}

// -----

func.func @below() -> tensor<f32> {
  // expected-error@below {{has 0 operands}}
  return
}

// -----

func.func @above() -> tensor<f32> {
  return
  // expected-error@above {{enclosing function (@above) returns 1}}
}

// -----

func.func @regex() -> tensor<f32> {
  // expected-error-re@+1 {{has {{[0-9]+}} operands, but enclosing function (@{{[a-z]+}})}}
  return
}

// -----

// A chunk with no diagnostics and no expectations passes.
func.func @fine() {
  return
}
