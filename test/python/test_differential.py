"""Differential test: the pipeline + XLA against the NumPy interpreter.

For each of `NUM_PROGRAMS` seeded random ref programs (`refgen.generate`),
the reference result comes from `refhlo.compiler.interpreter` run on the ref
program; the tested result from `ref-to-stablehlo` followed by an XLA CPU
compile (`refhlo.compiler.xla.compile_module`) and run. Both the returned
values and the final contents of every ref argument must agree (exactly for
integers, to a tight tolerance for floats; the generator keeps every value a
small integer, so floats are exact in practice).

After buffer donation, a written ref argument `i` carries
`tf.aliasing_output = k`: its final contents are result `k`. A read-only ref
argument becomes a plain tensor argument and keeps its value.

Run one seed by hand: `python test/python/test_differential.py SEED` prints
the program, the lowered module and both results.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from jaxlib.mlir import ir

sys.path.insert(0, os.path.dirname(__file__))

import refgen  # noqa: E402
from refhlo.compiler.context import make_context  # noqa: E402
from refhlo.compiler.interpreter import interpret  # noqa: E402
from refhlo.compiler.pipeline import run_pipeline  # noqa: E402

NUM_PROGRAMS = 200
SEEDS = range(NUM_PROGRAMS)


def _aliases(main: ir.Operation) -> dict[int, int]:
  out: dict[int, int] = {}
  if "arg_attrs" not in main.attributes:
    return out
  for i, attrs in enumerate(ir.ArrayAttr(main.attributes["arg_attrs"])):
    d = ir.DictAttr(attrs)
    if "tf.aliasing_output" in d:
      out[i] = ir.IntegerAttr(d["tf.aliasing_output"]).value
  return out


def _main(module: ir.Module) -> ir.Operation:
  for op in module.body.operations:
    if op.operation.name == "func.func" and \
        ir.StringAttr(op.attributes["sym_name"]).value == "main":
      return op.operation
  raise AssertionError("no @main after the pipeline")


Outcome = tuple[list[np.ndarray], list[np.ndarray]]  # (results, ref contents)


def _split(program: refgen.Program, main: ir.Operation, outs: list[np.ndarray]
           ) -> Outcome:
  """The lowered function's results as (original results, final ref contents)."""
  aliases = _aliases(main)
  args = program.arg_values()
  refs = []
  for i, a in enumerate(program.args):
    if a.is_ref:
      refs.append(outs[aliases[i]] if i in aliases else args[i])
  return outs[:len(outs) - len(aliases)], refs


def run_both(program: refgen.Program, *, verbose: bool = False,
             lowered_too: bool = False, xla_defaults: bool = True
             ) -> tuple[Outcome, Outcome] | tuple[Outcome, Outcome, Outcome]:
  """(interpreter on the ref program, XLA on the lowered program) outcomes.

  `lowered_too` adds the interpreter's outcome on the lowered program, which
  tells a pipeline bug (it differs too) from an XLA one (it does not).
  `xla_defaults=False` compiles without refhlo's XLA options.
  """
  from refhlo.compiler import xla

  with make_context():
    module = ir.Module.parse(program.text)
    want = interpret(module.operation, "main", program.arg_values())
    run_pipeline(module, "ref-to-stablehlo")
    if verbose:
      print(module)
    main = _main(module)
    compiled = xla.compile_module(module, default_options=xla_defaults)
    lowered = None
    if lowered_too:
      lowered = _split(program, main,
                       interpret(module.operation, "main", program.arg_values())[0])
    outs = [np.asarray(o) for o in compiled.execute(*program.arg_values())]
    got = _split(program, main, outs)
  return (want, got) if not lowered_too else (want, got, lowered)


def _same(a: Outcome, b: Outcome) -> bool:
  xs, ys = a[0] + a[1], b[0] + b[1]
  return len(a[0]) == len(b[0]) and all(
      x.shape == y.shape and x.dtype == y.dtype and
      np.allclose(x, y, rtol=1e-6, atol=1e-6) for x, y in zip(xs, ys))


def _check_equal(what: str, got: np.ndarray, want: np.ndarray) -> None:
  assert got.shape == want.shape and got.dtype == want.dtype, \
      f"{what}: got {got.dtype}{list(got.shape)}, want {want.dtype}{list(want.shape)}"
  if want.dtype.kind == "f":
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=what)
  else:
    np.testing.assert_array_equal(got, want, err_msg=what)


@pytest.mark.parametrize("seed", SEEDS)
def test_pipeline_matches_interpreter(seed: int):
  program = refgen.generate(seed)
  want, got = run_both(program)
  if not _same(want, got):
    _, _, lowered = run_both(program, lowered_too=True)
    if not _same(want, lowered):
      culprit = "the pipeline (the lowered program, interpreted, differs too)"
    else:
      culprit = "XLA (the lowered program, interpreted, is right)"
    print(f"seed {seed}: mismatch caused by {culprit}; rerun with "
          f"`python test/python/test_differential.py {seed}`")
  (want_res, want_refs), (got_res, got_refs) = want, got
  assert len(got_res) == len(want_res), "number of results"
  for k, (g, w) in enumerate(zip(got_res, want_res)):
    _check_equal(f"seed {seed}: result {k}", g, w)
  for k, (g, w) in enumerate(zip(got_refs, want_refs)):
    _check_equal(f"seed {seed}: final contents of ref argument {k}", g, w)


# Found by this test (seeds 218, 509, 1381 of the generator): a minimal,
# ref-free StableHLO program that XLA:CPU miscompiles when
# `xla_cpu_copy_insertion_use_region_analysis=true` (refhlo's CPU default in
# compiler/xla.py): an inner while whose body writes a broadcast of the outer
# loop's carried `%acc` into its own carried buffer, and runs more than once.
# Right answer: [16, 16] (acc is 8, then 16); with region analysis XLA returns
# [32, 32], i.e. the *next* iteration's acc. Effect elimination emits exactly
# this shape for a ref written in a nested loop from an outer loop value.
NESTED_WHILE_CAPTURE = """
module {
  func.func @main(%buf: tensor<2xf32>, %x: tensor<f32>) -> tensor<2xf32> {
    %c0 = stablehlo.constant dense<0> : tensor<i32>
    %c1 = stablehlo.constant dense<1> : tensor<i32>
    %c2 = stablehlo.constant dense<2> : tensor<i32>
    %w:3 = stablehlo.while(%i = %c0, %acc = %x, %b = %buf) : tensor<i32>, tensor<f32>, tensor<2xf32>
    cond {
      %p = stablehlo.compare LT, %i, %c2 : (tensor<i32>, tensor<i32>) -> tensor<i1>
      stablehlo.return %p : tensor<i1>
    } do {
      %in:2 = stablehlo.while(%j = %c0, %ib = %b) : tensor<i32>, tensor<2xf32>
      cond {
        %p = stablehlo.compare LT, %j, %c2 : (tensor<i32>, tensor<i32>) -> tensor<i1>
        stablehlo.return %p : tensor<i1>
      } do {
        %bb = stablehlo.broadcast_in_dim %acc, dims = [] : (tensor<f32>) -> tensor<2xf32>
        %j1 = stablehlo.add %j, %c1 : tensor<i32>
        stablehlo.return %j1, %bb : tensor<i32>, tensor<2xf32>
      }
      %i1 = stablehlo.add %i, %c1 : tensor<i32>
      %a2 = stablehlo.add %acc, %acc : tensor<f32>
      stablehlo.return %i1, %a2, %in#1 : tensor<i32>, tensor<f32>, tensor<2xf32>
    }
    return %w#2 : tensor<2xf32>
  }
}
"""


def test_xla_nested_while_capture():
  from refhlo.compiler import xla

  args = [np.zeros(2, np.float32), np.float32(8)]
  (want,), _ = interpret(NESTED_WHILE_CAPTURE, "main", args)
  np.testing.assert_array_equal(want, [16, 16])
  # refhlo's defaults leave region analysis out of modules with nested loops.
  compiled = xla.compile_module(NESTED_WHILE_CAPTURE)
  assert not xla.REGION_ANALYSIS_OPTIONS & set(compiled.xla_options)
  (got,) = [np.asarray(o) for o in compiled.execute(*args)]
  np.testing.assert_array_equal(got, want)
  # Canary for the XLA bug behind that guard: forced on, the option still
  # miscompiles. When a JAX/XLA upgrade fixes it, this fails: then drop the
  # guard in compile_module (and this check).
  forced = xla.compile_module(
      NESTED_WHILE_CAPTURE,
      options={"xla_cpu_copy_insertion_use_region_analysis": True})
  (bad,) = [np.asarray(o) for o in forced.execute(*args)]
  np.testing.assert_array_equal(bad, [32, 32])


def test_generator_is_deterministic_and_varied():
  a, b = refgen.generate(7), refgen.generate(7)
  assert a.text == b.text
  assert all(np.array_equal(x.value, y.value) for x, y in zip(a.args, b.args))
  texts = [refgen.generate(s).text for s in range(40)]
  assert len(set(texts)) == 40
  joined = "\n".join(texts)
  for needle in ('"ref.get"', '"ref.set"', '"ref.swap"', '"ref.addupdate"',
                 '"ref.view"', '"ref.new"', '"ref.empty"', '"ref.freeze"',
                 '"ref.free"', "stablehlo.while", '"stablehlo.case"',
                 '"stablehlo.if"', "func.call", "indexed_dims", "squeezed_dims",
                 "static_strides", str(refgen.DYN)):
    assert needle in joined, needle


if __name__ == "__main__":
  program = refgen.generate(int(sys.argv[1]))
  print(program.text)
  for a in program.args:
    print(a.name, "=", a.value.tolist())
  want, got, lowered = run_both(program, verbose=True, lowered_too=True)
  print("interpreter:         ", want)
  print("xla:                 ", got)
  print("interpreter, lowered:", lowered)
