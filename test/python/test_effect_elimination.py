"""End-to-end tests of `ref-effect-elimination` through `ref-to-stablehlo` and XLA.

Each test lowers a ref program with the `ref-to-stablehlo` pipeline, compiles
the StableHLO with XLA:CPU (refhlo.compiler.xla) and checks the results and the
final contents of the (donated) ref arguments against values computed by hand
with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from jaxlib.mlir import ir

from refhlo.compiler import xla
from refhlo.compiler.context import make_context
from refhlo.compiler.pipeline import PipelineFailure, run_pipeline

DYN = "-9223372036854775808"


def lower(text: str) -> str:
  with make_context():
    m = ir.Module.parse(text)
    run_pipeline(m, "builtin.module(ref-to-stablehlo)")
    return str(m)


def run(text: str, *args) -> list[np.ndarray]:
  """Lowers and runs @main; returns its results (then the written refs)."""
  lowered = lower(text)
  assert "ref." not in lowered
  compiled = xla.compile_module(lowered)
  return [np.asarray(r) for r in compiled.execute(*[np.asarray(a) for a in args])]


def row_attrs(n: int) -> str:
  return (f"{{static_offsets = array<i64: {DYN}, 0>, static_sizes = array<i64: 1, {n}>, "
          "squeezed_dims = array<i64: 0>}")


SWAP_ADD = f"""
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>)
    -> tensor<4xf32> {{
  %old = "ref.swap"(%buf, %row, %i) {row_attrs(4)}
      : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  "ref.addupdate"(%buf, %old, %i) {row_attrs(4)}
      : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> ()
  return %old : tensor<4xf32>
}}"""


@pytest.mark.parametrize("i", [0, 3, 7, 8, 100, -1])
def test_swap_then_addupdate_clamps_the_row(i):
  buf = np.arange(32, dtype=np.float32).reshape(8, 4)
  row = np.full(4, 100, np.float32)
  old, final = run(SWAP_ADD, buf, np.int32(i), row)
  k = min(max(i, 0), 7)
  expected = buf.copy()
  expected[k] = row + buf[k]
  np.testing.assert_array_equal(old, buf[k])
  np.testing.assert_array_equal(final, expected)


VIEWS = f"""
func.func @main(%buf: !ref.ref<tensor<8x6xf32>>, %i: tensor<i32>, %j: tensor<i32>,
                %idx: tensor<3x1xi32>, %u: tensor<3x2xf32>)
    -> (tensor<3x2xf32>, tensor<2x3xf32>) {{
  %v = "ref.view"(%buf, %i) {{static_offsets = array<i64: 1, {DYN}>,
      static_sizes = array<i64: 5, 4>}}
      : (!ref.ref<tensor<8x6xf32>>, tensor<i32>) -> !ref.ref<tensor<5x4xf32>>
  %w = "ref.view"(%v, %j) {{static_offsets = array<i64: {DYN}, 0>,
      static_sizes = array<i64: 3, 2>, static_strides = array<i64: 1, 2>}}
      : (!ref.ref<tensor<5x4xf32>>, tensor<i32>) -> !ref.ref<tensor<3x2xf32>>
  %g = "ref.get"(%w, %idx) {{static_sizes = array<i64: 1, 2>, indexed_dims = array<i64: 0>}}
      : (!ref.ref<tensor<3x2xf32>>, tensor<3x1xi32>) -> tensor<3x2xf32>
  "ref.addupdate"(%w, %u, %idx) {{static_sizes = array<i64: 1, 2>,
      indexed_dims = array<i64: 0>}}
      : (!ref.ref<tensor<3x2xf32>>, tensor<3x2xf32>, tensor<3x1xi32>) -> ()
  %s = "ref.get"(%v, %i) {{static_offsets = array<i64: 0, {DYN}>,
      static_sizes = array<i64: 2, 3>, static_strides = array<i64: 3, 1>}}
      : (!ref.ref<tensor<5x4xf32>>, tensor<i32>) -> tensor<2x3xf32>
  return %g, %s : tensor<3x2xf32>, tensor<2x3xf32>
}}"""


@pytest.mark.parametrize("i,j,idx", [(0, 0, [0, 1, 2]), (1, 1, [2, 2, 0]),
                                     (5, 9, [-1, 3, 1]), (-3, -1, [5, 0, 0])])
def test_views_of_views_strides_and_indices(i, j, idx):
  buf = np.arange(48, dtype=np.float32).reshape(8, 6)
  u = np.arange(6, dtype=np.float32).reshape(3, 2) * 100
  idx = np.array(idx, np.int32)
  g, s, final = run(VIEWS, buf, np.int32(i), np.int32(j), idx.reshape(3, 1), u)
  # By hand: v = buf[1:6, ci:ci+4]; w = v[cj:cj+3, 0:4:2].
  ci = min(max(i, 0), 2)
  cj = min(max(j, 0), 2)
  exp = buf.copy()
  w_rows = 1 + cj + np.arange(3)
  w_cols = ci + np.array([0, 2])
  w = exp[np.ix_(w_rows, w_cols)]
  np.testing.assert_array_equal(g, w[np.clip(idx, 0, 2)])
  for k, r in enumerate(idx):
    if 0 <= r < 3:  # out-of-range writes are dropped; duplicates sum
      exp[w_rows[r], w_cols] += u[k]
  ci2 = min(max(i, 0), 1)
  np.testing.assert_array_equal(s, exp[np.ix_(1 + np.array([0, 3]), ci + ci2 + np.arange(3))])
  np.testing.assert_array_equal(final, exp)


SCATTER_SET = """
func.func @main(%buf: !ref.ref<tensor<6x2xi32>>, %idx: tensor<4x1xi32>, %u: tensor<4x2xi32>)
    -> tensor<2x2xi32> {
  "ref.set"(%buf, %u, %idx) {static_sizes = array<i64: 1, 2>, indexed_dims = array<i64: 0>}
      : (!ref.ref<tensor<6x2xi32>>, tensor<4x2xi32>, tensor<4x1xi32>) -> ()
  %s = "ref.get"(%buf) {static_offsets = array<i64: 1, 0>, static_sizes = array<i64: 2, 2>,
      static_strides = array<i64: 3, 1>} : (!ref.ref<tensor<6x2xi32>>) -> tensor<2x2xi32>
  return %s : tensor<2x2xi32>
}"""


def test_indexed_set_drops_out_of_range_and_static_strided_read():
  buf = np.zeros((6, 2), np.int32)
  idx = np.array([[1], [4], [6], [-1]], np.int32)
  u = np.arange(8, dtype=np.int32).reshape(4, 2) + 1
  s, final = run(SCATTER_SET, buf, idx, u)
  exp = buf.copy()
  exp[1], exp[4] = u[0], u[1]
  np.testing.assert_array_equal(final, exp)
  np.testing.assert_array_equal(s, exp[1::3])


LOOP = f"""
func.func @main(%acc: !ref.ref<tensor<8xf32>>, %x: tensor<8xf32>) -> tensor<f32> {{
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %s = "ref.new"(%z) : (tensor<f32>) -> !ref.ref<tensor<f32>>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %res = stablehlo.while(%it = %c0) : tensor<i32>
  cond {{
    %n = stablehlo.constant dense<8> : tensor<i32>
    %p = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %p : tensor<i1>
  }} do {{
    %xi = stablehlo.dynamic_slice %x, %it, sizes = [1] : (tensor<8xf32>, tensor<i32>) -> tensor<1xf32>
    %xs = stablehlo.reshape %xi : (tensor<1xf32>) -> tensor<f32>
    "ref.addupdate"(%acc, %xs, %it) {{static_offsets = array<i64: {DYN}>,
        static_sizes = array<i64: 1>, squeezed_dims = array<i64: 0>}}
        : (!ref.ref<tensor<8xf32>>, tensor<f32>, tensor<i32>) -> ()
    %old = "ref.get"(%s) : (!ref.ref<tensor<f32>>) -> tensor<f32>
    %new = stablehlo.add %old, %xs : tensor<f32>
    "ref.set"(%s, %new) : (!ref.ref<tensor<f32>>, tensor<f32>) -> ()
    %one = stablehlo.constant dense<1> : tensor<i32>
    %n2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %n2 : tensor<i32>
  }}
  %g = "ref.freeze"(%s) : (!ref.ref<tensor<f32>>) -> tensor<f32>
  return %g : tensor<f32>
}}"""


def test_while_carries_written_refs():
  acc = np.arange(8, dtype=np.float32)
  x = np.arange(8, dtype=np.float32) * 10
  total, final = run(LOOP, acc, x)
  np.testing.assert_allclose(total, x.sum())
  np.testing.assert_allclose(final, acc + x)


BRANCHES = """
func.func @main(%r: !ref.ref<tensor<4xi32>>, %k: tensor<i32>, %p: tensor<i1>) -> tensor<2xi32> {
  %e = "ref.empty"() : () -> !ref.ref<tensor<2xi32>>
  %out = "stablehlo.case"(%k) ({
    %c = stablehlo.constant dense<7> : tensor<2xi32>
    "ref.set"(%r, %c) {static_offsets = array<i64: 1>, static_sizes = array<i64: 2>}
        : (!ref.ref<tensor<4xi32>>, tensor<2xi32>) -> ()
    "ref.set"(%e, %c) : (!ref.ref<tensor<2xi32>>, tensor<2xi32>) -> ()
    stablehlo.return %c : tensor<2xi32>
  }, {
    %v = "ref.get"(%r) {static_offsets = array<i64: 2>, static_sizes = array<i64: 2>}
        : (!ref.ref<tensor<4xi32>>) -> tensor<2xi32>
    "stablehlo.if"(%p) ({
      "ref.addupdate"(%r, %v) {static_sizes = array<i64: 2>}
          : (!ref.ref<tensor<4xi32>>, tensor<2xi32>) -> ()
      "ref.set"(%e, %v) : (!ref.ref<tensor<2xi32>>, tensor<2xi32>) -> ()
      stablehlo.return
    }, {
      stablehlo.return
    }) : (tensor<i1>) -> ()
    stablehlo.return %v : tensor<2xi32>
  }) : (tensor<i32>) -> tensor<2xi32>
  %x = "ref.freeze"(%e) : (!ref.ref<tensor<2xi32>>) -> tensor<2xi32>
  %y = stablehlo.add %out, %x : tensor<2xi32>
  return %y : tensor<2xi32>
}"""


@pytest.mark.parametrize("k,p", [(0, True), (1, True), (1, False), (5, False)])
def test_case_and_if_return_written_refs(k, p):
  buf = np.array([1, 2, 3, 4], np.int32)
  y, final = run(BRANCHES, buf, np.int32(k), np.bool_(p))
  exp, e = buf.copy(), np.zeros(2, np.int32)  # ref.empty lowers to zeros
  if k == 0:
    exp[1:3] = 7
    e[:] = 7
    out = np.array([7, 7])
  else:  # out-of-range case indices run the last branch
    out = buf[2:4].copy()
    if p:
      exp[0:2] += out
      e[:] = out
  np.testing.assert_array_equal(final, exp)
  np.testing.assert_array_equal(y, out + e)


CALLS = """
func.func private @inc(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<2xf32>>) {
  %v = "ref.get"(%b) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  "ref.addupdate"(%a, %v) {static_sizes = array<i64: 2>}
      : (!ref.ref<tensor<4xf32>>, tensor<2xf32>) -> ()
  %w = "ref.get"(%a) {static_offsets = array<i64: 1>, static_sizes = array<i64: 2>}
      : (!ref.ref<tensor<4xf32>>) -> tensor<2xf32>
  %two = stablehlo.constant dense<2.0> : tensor<2xf32>
  %w2 = stablehlo.multiply %w, %two : tensor<2xf32>
  "ref.set"(%b, %w2) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
  return
}
func.func @main(%a: !ref.ref<tensor<4xf32>>, %b: !ref.ref<tensor<2xf32>>) {
  func.call @inc(%a, %b) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<2xf32>>) -> ()
  %v = "ref.view"(%a) {static_offsets = array<i64: 1>, static_sizes = array<i64: 2>}
      : (!ref.ref<tensor<4xf32>>) -> !ref.ref<tensor<2xf32>>
  func.call @inc(%a, %v) : (!ref.ref<tensor<4xf32>>, !ref.ref<tensor<2xf32>>) -> ()
  return
}"""


def _inc(a: np.ndarray, b: np.ndarray) -> None:
  """@inc on NumPy arrays (views alias like the refs do)."""
  a[0:2] += b
  b[:] = a[1:3] * 2


def test_calls_with_distinct_and_aliasing_refs():
  a = np.array([1, 2, 3, 4], np.float32)
  b = np.array([10, 20], np.float32)
  fa, fb = run(CALLS, a, b)
  ea, eb = a.copy(), b.copy()
  _inc(ea, eb)
  _inc(ea, ea[1:3])  # sequential semantics with the view aliasing its parent
  np.testing.assert_array_equal(fa, ea)
  np.testing.assert_array_equal(fb, eb)


RECURSIVE = """
func.func private @f(%a: !ref.ref<tensor<2xf32>>) {
  func.call @f(%a) : (!ref.ref<tensor<2xf32>>) -> ()
  return
}
func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  %a = "ref.new"(%x) : (tensor<2xf32>) -> !ref.ref<tensor<2xf32>>
  func.call @f(%a) : (!ref.ref<tensor<2xf32>>) -> ()
  %y = "ref.freeze"(%a) : (!ref.ref<tensor<2xf32>>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}"""


def test_recursion_is_a_clear_error():
  with pytest.raises(PipelineFailure) as e:
    lower(RECURSIVE)
  assert "recursive call to @f" in str(e.value)


NARROW = """
func.func @main(%buf: !ref.ref<tensor<300x2xf32>>, %idx: tensor<3x1xi8>, %u: tensor<3x2xf32>,
                %j: tensor<i32>) -> tensor<3x2xf32> {
  %g = "ref.get"(%buf, %idx) {static_sizes = array<i64: 1, 2>, indexed_dims = array<i64: 0>}
      : (!ref.ref<tensor<300x2xf32>>, tensor<3x1xi8>) -> tensor<3x2xf32>
  "ref.addupdate"(%buf, %u, %idx) {static_sizes = array<i64: 1, 2>, indexed_dims = array<i64: 0>}
      : (!ref.ref<tensor<300x2xf32>>, tensor<3x2xf32>, tensor<3x1xi8>) -> ()
  %v = "ref.view"(%buf, %j) {static_offsets = array<i64: -9223372036854775808, 0>,
      static_sizes = array<i64: 100, 2>}
      : (!ref.ref<tensor<300x2xf32>>, tensor<i32>) -> !ref.ref<tensor<100x2xf32>>
  "ref.set"(%v, %u, %idx) {static_sizes = array<i64: 1, 2>, indexed_dims = array<i64: 0>}
      : (!ref.ref<tensor<100x2xf32>>, tensor<3x2xf32>, tensor<3x1xi8>) -> ()
  return %g : tensor<3x2xf32>
}"""


@pytest.mark.parametrize("idx,j", [([1, 127, -3], 50), ([99, 100, 0], 250)])
def test_narrow_indices_through_a_view(idx, j):
  buf = np.arange(600, dtype=np.float32).reshape(300, 2)
  u = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
  g, final = run(NARROW, buf, np.array(idx, np.int8).reshape(3, 1), u, np.int32(j))
  exp = buf.copy()
  np.testing.assert_array_equal(g, buf[np.clip(idx, 0, 299)])
  for k, r in enumerate(idx):
    if 0 <= r < 300:
      exp[r] += u[k]
  cj = min(max(j, 0), 200)
  for k, r in enumerate(idx):
    if 0 <= r < 100:  # out of the view's range: dropped, even if inside the root
      exp[cj + r] = u[k]
  np.testing.assert_array_equal(final, exp)


def test_empty_window_at_the_end_of_a_strided_view():
  """A zero-size read at offset 1 of a 1-element strided view (root element 5,
  step 4): the root-level slice must start inside the root (was `limit index
  9 is larger than dimension size 8`; fuzzer seeds 301296, 302453, 302636)."""
  text = """
func.func @main(%a: tensor<8xi32>) -> (tensor<0xi32>, tensor<1xi32>) {
  %r = "ref.new"(%a) : (tensor<8xi32>) -> !ref.ref<tensor<8xi32>>
  %w = "ref.view"(%r) {static_offsets = array<i64: 1>, static_sizes = array<i64: 4>, static_strides = array<i64: 2>} : (!ref.ref<tensor<8xi32>>) -> !ref.ref<tensor<4xi32>>
  %v = "ref.view"(%w) {static_offsets = array<i64: 2>, static_sizes = array<i64: 1>, static_strides = array<i64: 2>} : (!ref.ref<tensor<4xi32>>) -> !ref.ref<tensor<1xi32>>
  %e = "ref.get"(%v) {static_offsets = array<i64: 1>, static_sizes = array<i64: 0>} : (!ref.ref<tensor<1xi32>>) -> tensor<0xi32>
  %l = "ref.get"(%v) : (!ref.ref<tensor<1xi32>>) -> tensor<1xi32>
  return %e, %l : tensor<0xi32>, tensor<1xi32>
}"""
  e, last = run(text, np.arange(8, dtype=np.int32))
  assert e.shape == (0,)
  np.testing.assert_array_equal(last, [5])
