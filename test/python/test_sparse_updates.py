"""Differential test of `ref-sparse-updates`: the rewritten module computes
what the original does, checked with the NumPy interpreter
(`refhlo.compiler.interpreter`), on duplicate, negative and out-of-range
indices, every matched form (addupdate, set old +/- scaled dense), floats and
integers, one and two indexed dims."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from jaxlib.mlir import ir

from refhlo.compiler.context import make_context
from refhlo.compiler.interpreter import interpret
from refhlo.compiler.pipeline import run_pipeline


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  ref_shape: tuple[int, ...]
  k: int                    # number of indexed (leading) dims
  batch: tuple[int, ...]
  dtype: str                # MLIR element type
  form: str                 # how the dense scatter is applied to the ref
  implicit_ivd: bool = False


_NP = {"f32": np.float32, "i32": np.int32, "f64": np.float64}

# `form` -> the body after `%dense` is defined; `%s` is a 0-d scale argument.
_FORMS = {
    "addupdate": """
  "ref.addupdate"(%t, %dense) : ({RT}, {VT}) -> ()""",
    "addupdate_neg_scaled": """
  %c = stablehlo.constant dense<3> : {ST}
  %cb = stablehlo.broadcast_in_dim %c, dims = [] : ({ST}) -> {VT}
  %m = stablehlo.multiply %dense, %cb : {VT}
  %n = stablehlo.negate %m : {VT}
  "ref.addupdate"(%t, %n) : ({RT}, {VT}) -> ()""",
    "sgd": """
  %lr = stablehlo.constant dense<{LR}> : {VT}
  %step = stablehlo.multiply %lr, %dense : {VT}
  %old = "ref.get"(%t) : ({RT}) -> {VT}
  %new = stablehlo.subtract %old, %step : {VT}
  "ref.set"(%t, %new) : ({RT}, {VT}) -> ()""",
    "plus_neg_lr": """
  %old = "ref.get"(%t) : ({RT}) -> {VT}
  %c = stablehlo.constant dense<{NLR}> : {ST}
  %cb = stablehlo.broadcast_in_dim %c, dims = [] : ({ST}) -> {VT}
  %step = stablehlo.multiply %dense, %cb : {VT}
  %new = stablehlo.add %step, %old : {VT}
  "ref.set"(%t, %new) : ({RT}, {VT}) -> ()""",
    "runtime_int_scale": """
  %sb = stablehlo.broadcast_in_dim %s, dims = [] : ({ST}) -> {VT}
  %step = stablehlo.multiply %sb, %dense : {VT}
  %old = "ref.get"(%t) : ({RT}) -> {VT}
  %new = stablehlo.add %old, %step : {VT}
  "ref.set"(%t, %new) : ({RT}, {VT}) -> ()""",
}

CASES = [
    Case("rows_f32", (10, 4), 1, (6,), "f32", "addupdate"),
    Case("rows_batch2d", (10, 4), 1, (3, 5), "f32", "addupdate"),
    Case("rows_neg_scaled_i32", (9, 3), 1, (7,), "i32", "addupdate_neg_scaled"),
    Case("sgd_f32", (12, 5), 1, (8,), "f32", "sgd"),
    Case("sgd_f64_k2", (5, 6, 3), 2, (9,), "f64", "sgd"),
    Case("plus_neg_lr", (10, 4), 1, (4,), "f32", "plus_neg_lr"),
    Case("vector_ref", (16,), 1, (20,), "i32", "runtime_int_scale"),
    Case("implicit_ivd", (10, 4), 1, (6,), "f32", "addupdate", implicit_ivd=True),
]


def _tt(shape, elt):
  return f"tensor<{'x'.join(map(str, shape))}{'x' if shape else ''}{elt}>"


def _module(c: Case) -> str:
  r = len(c.ref_shape)
  vt = _tt(c.ref_shape, c.dtype)
  rt = f"!ref.ref<{vt}>"
  st = _tt((), c.dtype)
  window = c.ref_shape[c.k:]
  ut = _tt(c.batch + window, c.dtype)
  idx_shape = c.batch if c.implicit_ivd else c.batch + (c.k,)
  it = _tt(idx_shape, "i32")
  nb = len(c.batch)
  uwd = ", ".join(str(nb + i) for i in range(r - c.k))
  dims = ", ".join(str(i) for i in range(c.k))
  zero = "0.0" if c.dtype.startswith("f") else "0"
  body = _FORMS[c.form].format(RT=rt, VT=vt, ST=st, LR="0.25", NLR="-0.25")
  return f"""
func.func @main(%t: {rt}, %idx: {it}, %g: {ut}, %s: {st}) {{
  %zero = stablehlo.constant dense<{zero}> : {vt}
  %dense = "stablehlo.scatter"(%zero, %idx, %g) <{{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [{uwd}], inserted_window_dims = [{dims}], scatter_dims_to_operand_dims = [{dims}], index_vector_dim = {len(idx_shape) if c.implicit_ivd else nb}>, unique_indices = false}}> ({{
  ^bb0(%a: {st}, %b: {st}):
    %sum = stablehlo.add %a, %b : {st}
    stablehlo.return %sum : {st}
  }}) : ({vt}, {it}, {ut}) -> {vt}{body}
  return
}}
"""


def _inputs(c: Case, rng: np.random.Generator):
  dt = _NP[c.dtype]
  table = rng.integers(-5, 5, c.ref_shape).astype(dt)
  idx_shape = c.batch if c.implicit_ivd else c.batch + (c.k,)
  # Duplicates on purpose (few distinct rows), plus -1 and past-the-end
  # indices, which both forms must drop.
  hi = np.array(c.ref_shape[:c.k]).reshape((1,) * (len(idx_shape) - 1) + (-1,))
  if c.implicit_ivd:
    hi = c.ref_shape[0]
  idx = rng.integers(-1, hi + 1, idx_shape).astype(np.int32)
  upd = rng.integers(-4, 5, c.batch + c.ref_shape[c.k:]).astype(dt)
  scale = np.asarray(3, dt)
  return table, idx, upd, scale


def _rewrite(text: str) -> str:
  with make_context():
    m = ir.Module.parse(text)
    run_pipeline(m, "builtin.module(ref-sparse-updates)")
    return str(m)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rewrite_matches_original(case: Case):
  original = _module(case)
  rewritten = _rewrite(original)
  assert "stablehlo.scatter" not in rewritten, rewritten
  assert "indexed_dims" in rewritten and '"ref.set"' not in rewritten, rewritten
  rng = np.random.default_rng(len(case.name))
  for _ in range(3):
    args = _inputs(case, rng)
    with make_context():
      _, (want,) = interpret(original, "main", args)
    with make_context():
      _, (got,) = interpret(rewritten, "main", args)
    if case.dtype.startswith("f"):
      np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    else:
      np.testing.assert_array_equal(got, want)
    assert not np.array_equal(want, args[0]), "the update must change the table"


def test_jax_gradient_is_rewritten():
  """The scatter JAX emits for `grad(lambda t: t[i].sum())`, applied as an SGD
  step to a ref, becomes an indexed addupdate with the same result."""
  import jax
  import jax.numpy as jnp

  table = np.arange(40, dtype=np.float32).reshape(10, 4)
  idx = np.array([1, 7, 1, -2], np.int32)
  lowered = jax.jit(lambda t, i: jax.grad(lambda t: (t[i] ** 2).sum())(t)).lower(
      jnp.asarray(table), jnp.asarray(idx)).as_text()
  lines = lowered.splitlines()
  start = next(i for i, l in enumerate(lines) if "func.func public @main" in l)
  end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("return"))
  grad = lines[end].split()[1]
  # Hand the gradient to an SGD step on a ref holding the table.
  text = (
      "func.func @main(%t: !ref.ref<tensor<10x4xf32>>, %arg1: tensor<4xi32>) {\n"
      '  %arg0 = "ref.get"(%t) : (!ref.ref<tensor<10x4xf32>>) -> tensor<10x4xf32>\n'
      + "\n".join(lines[start + 1:end]) + "\n")
  text += (
      "  %lr = stablehlo.constant dense<0.5> : tensor<10x4xf32>\n"
      f"  %step = stablehlo.multiply %lr, {grad} : tensor<10x4xf32>\n"
      '  %old = "ref.get"(%t) : (!ref.ref<tensor<10x4xf32>>) -> tensor<10x4xf32>\n'
      "  %new = stablehlo.subtract %old, %step : tensor<10x4xf32>\n"
      '  "ref.set"(%t, %new) : (!ref.ref<tensor<10x4xf32>>, tensor<10x4xf32>) -> ()\n'
      "  return\n}\n")
  rewritten = _rewrite(text)
  assert "stablehlo.scatter" not in rewritten and '"ref.set"' not in rewritten, rewritten
  with make_context():
    _, (got,) = interpret(rewritten, "main", [table, idx])
  want = table - 0.5 * np.asarray(jax.grad(lambda t: (t[idx] ** 2).sum())(table))
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_not_rewritten_when_base_is_not_zero():
  text = _module(CASES[0]).replace("dense<0.0>", "dense<1.0>")
  out = _rewrite(text)
  assert out.count('"stablehlo.scatter"(') == 1 and "indexed_dims" not in out, out
