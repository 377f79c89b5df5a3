"""Tests of the NumPy reference interpreter (`refhlo.compiler.interpreter`).

Ref programs are hand-written with their expected results computed in NumPy;
the StableHLO side is checked against XLA by interpreting what `jax.jit`
lowers (gather/scatter as JAX emits them, loops, conditionals, reductions).
"""

from __future__ import annotations

import numpy as np
import pytest

from refhlo.compiler.interpreter import (InterpreterError, RefCell, interpret,
                                         supported_ops)

DYN = -9223372036854775808


def ref(shape: str, elt: str = "f32") -> str:
  return f"!ref.ref<tensor<{shape}x{elt}>>" if shape else f"!ref.ref<tensor<{elt}>>"


def f32(*shape: int, start: float = 0.0) -> np.ndarray:
  n = int(np.prod(shape, dtype=np.int64))
  return (np.arange(n, dtype=np.float32) + start).reshape(shape)


# -- whole refs, static windows, strides -------------------------------------------


def test_whole_get_set_and_results():
  src = f"""
  func.func @main(%r: {ref('4x3')}, %v: tensor<4x3xf32>) -> tensor<4x3xf32> {{
    %old = "ref.get"(%r) : ({ref('4x3')}) -> tensor<4x3xf32>
    "ref.set"(%r, %v) : ({ref('4x3')}, tensor<4x3xf32>) -> ()
    return %old : tensor<4x3xf32>
  }}"""
  x, v = f32(4, 3), -f32(4, 3)
  (old,), (final,) = interpret(src, "main", [x, v])
  np.testing.assert_array_equal(old, x)
  np.testing.assert_array_equal(final, v)
  assert old.dtype == np.float32


def test_ref_cell_argument_is_updated_in_place():
  src = f"""
  func.func @main(%r: {ref('3', 'i32')}) {{
    %c = stablehlo.constant dense<[1, 2, 3]> : tensor<3xi32>
    "ref.addupdate"(%r, %c) : ({ref('3', 'i32')}, tensor<3xi32>) -> ()
    return
  }}"""
  cell = RefCell(np.array([10, 20, 30], np.int32))
  results, (final,) = interpret(src, "main", [cell])
  assert results == []
  np.testing.assert_array_equal(cell.array, [11, 22, 33])
  np.testing.assert_array_equal(final, [11, 22, 33])


def test_static_strided_window():
  src = f"""
  func.func @main(%r: {ref('6x5')}) -> tensor<2x3xf32> {{
    %v = "ref.get"(%r) {{static_offsets = array<i64: 1, 0>,
        static_sizes = array<i64: 2, 3>, static_strides = array<i64: 3, 2>}}
        : ({ref('6x5')}) -> tensor<2x3xf32>
    %n = stablehlo.negate %v : tensor<2x3xf32>
    "ref.set"(%r, %n) {{static_offsets = array<i64: 1, 0>,
        static_sizes = array<i64: 2, 3>, static_strides = array<i64: 3, 2>}}
        : ({ref('6x5')}, tensor<2x3xf32>) -> ()
    return %v : tensor<2x3xf32>
  }}"""
  x = f32(6, 5)
  (v,), (final,) = interpret(src, "main", [x])
  np.testing.assert_array_equal(v, x[1:5:3, 0:5:2])
  want = x.copy()
  want[1:5:3, 0:5:2] *= -1
  np.testing.assert_array_equal(final, want)


# -- dynamic offsets: clamped so the window fits ---------------------------------------


@pytest.mark.parametrize("i,j,want_i,want_j", [
    (1, 2, 1, 2), (100, 100, 4, 3), (-5, -1, 0, 0), (3, 4, 3, 3)])
def test_dynamic_offsets_clamp(i, j, want_i, want_j):
  src = f"""
  func.func @main(%r: {ref('6x5')}, %i: tensor<i32>, %j: tensor<i32>) -> tensor<2x2xf32> {{
    %v = "ref.get"(%r, %i, %j) {{static_offsets = array<i64: {DYN}, {DYN}>,
        static_sizes = array<i64: 2, 2>}} : ({ref('6x5')}, tensor<i32>, tensor<i32>) -> tensor<2x2xf32>
    %c = stablehlo.constant dense<-1.0> : tensor<2x2xf32>
    "ref.set"(%r, %c, %i, %j) {{static_offsets = array<i64: {DYN}, {DYN}>,
        static_sizes = array<i64: 2, 2>}} : ({ref('6x5')}, tensor<2x2xf32>, tensor<i32>, tensor<i32>) -> ()
    return %v : tensor<2x2xf32>
  }}"""
  x = f32(6, 5)
  (v,), (final,) = interpret(src, "main", [x, np.int32(i), np.int32(j)])
  np.testing.assert_array_equal(v, x[want_i:want_i + 2, want_j:want_j + 2])
  want = x.copy()
  want[want_i:want_i + 2, want_j:want_j + 2] = -1
  np.testing.assert_array_equal(final, want)


def test_dynamic_offset_with_stride_clamps_to_extent():
  # 3 elements with stride 2 span 5 of the 7 rows: the offset clamps to 2.
  src = f"""
  func.func @main(%r: {ref('7')}, %i: tensor<i32>) -> tensor<3xf32> {{
    %v = "ref.get"(%r, %i) {{static_offsets = array<i64: {DYN}>,
        static_sizes = array<i64: 3>, static_strides = array<i64: 2>}}
        : ({ref('7')}, tensor<i32>) -> tensor<3xf32>
    return %v : tensor<3xf32>
  }}"""
  (v,), _ = interpret(src, "main", [f32(7), np.int32(6)])
  np.testing.assert_array_equal(v, [2, 4, 6])


def test_squeezed_dynamic_dims_swap():
  src = f"""
  func.func @main(%r: {ref('4x3x2')}, %i: tensor<i32>, %row: tensor<3xf32>) -> tensor<3xf32> {{
    %old = "ref.swap"(%r, %row, %i) {{static_offsets = array<i64: {DYN}, 0, 1>,
        static_sizes = array<i64: 1, 3, 1>, squeezed_dims = array<i64: 0, 2>}}
        : ({ref('4x3x2')}, tensor<3xf32>, tensor<i32>) -> tensor<3xf32>
    return %old : tensor<3xf32>
  }}"""
  x, row = f32(4, 3, 2), np.array([-1, -2, -3], np.float32)
  (old,), (final,) = interpret(src, "main", [x, np.int32(9), row])
  np.testing.assert_array_equal(old, x[3, :, 1])
  want = x.copy()
  want[3, :, 1] = row
  np.testing.assert_array_equal(final, want)


def test_fully_squeezed_scalar_access():
  src = f"""
  func.func @main(%r: {ref('2x2', 'i32')}) -> tensor<i32> {{
    %c = stablehlo.constant dense<7> : tensor<i32>
    "ref.addupdate"(%r, %c) {{static_offsets = array<i64: 1, 0>,
        static_sizes = array<i64: 1, 1>, squeezed_dims = array<i64: 0, 1>}}
        : ({ref('2x2', 'i32')}, tensor<i32>) -> ()
    %v = "ref.get"(%r) {{static_offsets = array<i64: 1, 0>,
        static_sizes = array<i64: 1, 1>, squeezed_dims = array<i64: 0, 1>}}
        : ({ref('2x2', 'i32')}) -> tensor<i32>
    return %v : tensor<i32>
  }}"""
  (v,), (final,) = interpret(src, "main", [np.array([[1, 2], [3, 4]], np.int32)])
  assert v.shape == () and int(v) == 10
  np.testing.assert_array_equal(final, [[1, 2], [10, 4]])


# -- indexed dims ---------------------------------------------------------------------


def _indexed(op: str, shape: str, idx_shape: str, val_shape: str, attrs: str,
             elt: str = "f32") -> str:
  r = ref(shape, elt)
  if op == "get":
    return f"""
    func.func @main(%r: {r}, %idx: tensor<{idx_shape}xi32>) -> tensor<{val_shape}x{elt}> {{
      %v = "ref.get"(%r, %idx) {{{attrs}}} : ({r}, tensor<{idx_shape}xi32>) -> tensor<{val_shape}x{elt}>
      return %v : tensor<{val_shape}x{elt}>
    }}"""
  return f"""
  func.func @main(%r: {r}, %v: tensor<{val_shape}x{elt}>, %idx: tensor<{idx_shape}xi32>) {{
    "ref.{op}"(%r, %v, %idx) {{{attrs}}} : ({r}, tensor<{val_shape}x{elt}>, tensor<{idx_shape}xi32>) -> ()
    return
  }}"""


ROWS = "static_sizes = array<i64: 1, 5>, indexed_dims = array<i64: 0>"


def test_indexed_get_clamps_out_of_range_indices():
  src = _indexed("get", "6x5", "4x1", "4x5", ROWS)
  x = f32(6, 5)
  (v,), _ = interpret(src, "main", [x, np.array([[2], [-3], [99], [5]], np.int32)])
  np.testing.assert_array_equal(v, x[[2, 0, 5, 5]])


def test_indexed_set_drops_out_of_range_rows():
  src = _indexed("set", "6x5", "3x1", "3x5", ROWS)
  x, v = f32(6, 5), -f32(3, 5, start=1)
  _, (final,) = interpret(src, "main", [x, v, np.array([[4], [6], [-1]], np.int32)])
  want = x.copy()
  want[4] = v[0]
  np.testing.assert_array_equal(final, want)


def test_indexed_addupdate_sums_duplicates_and_drops_out_of_range():
  src = _indexed("addupdate", "6x5", "5x1", "5x5", ROWS, elt="i32")
  x = np.zeros((6, 5), np.int32)
  v = np.arange(25, dtype=np.int32).reshape(5, 5)
  _, (final,) = interpret(src, "main", [x, v, np.array([[1], [1], [7], [1], [-1]], np.int32)])
  want = np.zeros((6, 5), np.int32)
  want[1] = v[0] + v[1] + v[3]
  np.testing.assert_array_equal(final, want)


def test_indexed_middle_dim_puts_batch_dims_first():
  # ref[:, idx, 1:] with idx of shape (2, 3): value shape (2, 3, 4, 1).
  attrs = ("static_offsets = array<i64: 0, 0, 1>, static_sizes = array<i64: 4, 1, 1>, "
           "indexed_dims = array<i64: 1>")
  src = _indexed("get", "4x3x2", "2x3x1", "2x3x4x1", attrs)
  x = f32(4, 3, 2)
  idx = np.array([[0, 2, 1], [1, 1, 0]], np.int32)
  (v,), _ = interpret(src, "main", [x, idx[..., None]])
  want = np.moveaxis(x[:, idx, 1:], (1, 2), (0, 1))
  np.testing.assert_array_equal(v, want)


def test_two_indexed_dims_with_dynamic_squeezed_dim():
  # ref[i, idx0, idx1] on a 4x3x2 ref, i dynamic (clamped), K = 2.
  src = f"""
  func.func @main(%r: {ref('4x3x2')}, %i: tensor<i32>, %idx: tensor<3x2xi32>, %v: tensor<3xf32>) -> tensor<3xf32> {{
    %old = "ref.swap"(%r, %v, %i, %idx) {{static_offsets = array<i64: {DYN}, 0, 0>,
        static_sizes = array<i64: 1, 1, 1>, squeezed_dims = array<i64: 0>, indexed_dims = array<i64: 1, 2>}}
        : ({ref('4x3x2')}, tensor<3xf32>, tensor<i32>, tensor<3x2xi32>) -> tensor<3xf32>
    return %old : tensor<3xf32>
  }}"""
  x, v = f32(4, 3, 2), np.array([-1, -2, -3], np.float32)
  idx = np.array([[0, 1], [2, 0], [1, 1]], np.int32)
  (old,), (final,) = interpret(src, "main", [x, np.int32(-4), idx, v])
  np.testing.assert_array_equal(old, x[0, idx[:, 0], idx[:, 1]])
  want = x.copy()
  want[0, idx[:, 0], idx[:, 1]] = v
  np.testing.assert_array_equal(final, want)


# -- new / empty / freeze / free ------------------------------------------------------


def test_new_empty_freeze():
  src = f"""
  func.func @main(%x: tensor<3xi32>) -> (tensor<3xi32>, tensor<3xi32>, tensor<3xi32>) {{
    %a = "ref.new"(%x) : (tensor<3xi32>) -> {ref('3', 'i32')}
    %e = "ref.empty"() : () -> {ref('3', 'i32')}
    %z = "ref.get"(%e) : ({ref('3', 'i32')}) -> tensor<3xi32>
    "ref.addupdate"(%a, %x) : ({ref('3', 'i32')}, tensor<3xi32>) -> ()
    "ref.set"(%e, %x) : ({ref('3', 'i32')}, tensor<3xi32>) -> ()
    %fa = "ref.freeze"(%a) : ({ref('3', 'i32')}) -> tensor<3xi32>
    %fe = "ref.freeze"(%e) : ({ref('3', 'i32')}) -> tensor<3xi32>
    return %fa, %fe, %z : tensor<3xi32>, tensor<3xi32>, tensor<3xi32>
  }}"""
  x = np.array([1, -2, 3], np.int32)
  (fa, fe, z), refs = interpret(src, "main", [x])
  assert refs == []
  np.testing.assert_array_equal(fa, 2 * x)
  np.testing.assert_array_equal(fe, x)
  np.testing.assert_array_equal(z, [0, 0, 0])  # documented: empty is zeros
  np.testing.assert_array_equal(x, [1, -2, 3])  # ref.new copies its init


def test_use_after_free_is_an_error():
  src = f"""
  func.func @main(%x: tensor<3xi32>) -> tensor<3xi32> {{
    %a = "ref.new"(%x) : (tensor<3xi32>) -> {ref('3', 'i32')}
    "ref.free"(%a) : ({ref('3', 'i32')}) -> ()
    %v = "ref.get"(%a) : ({ref('3', 'i32')}) -> tensor<3xi32>
    return %v : tensor<3xi32>
  }}"""
  with pytest.raises(InterpreterError, match="after freeze/free"):
    interpret(src, "main", [np.zeros(3, np.int32)])


# -- views alias their parent ------------------------------------------------------------


def test_views_alias_parent_both_ways():
  src = f"""
  func.func @main(%r: {ref('6x5')}, %i: tensor<i32>) -> (tensor<2x2xf32>, tensor<2xf32>) {{
    %v = "ref.view"(%r, %i) {{static_offsets = array<i64: {DYN}, 1>,
        static_sizes = array<i64: 3, 4>}} : ({ref('6x5')}, tensor<i32>) -> {ref('3x4')}
    %w = "ref.view"(%v) {{static_offsets = array<i64: 1, 0>, static_sizes = array<i64: 2, 2>,
        static_strides = array<i64: 1, 3>}} : ({ref('3x4')}) -> {ref('2x2')}
    %c = stablehlo.constant dense<100.0> : tensor<2x2xf32>
    "ref.addupdate"(%w, %c) : ({ref('2x2')}, tensor<2x2xf32>) -> ()
    %z = stablehlo.constant dense<0.0> : tensor<5xf32>
    "ref.set"(%r, %z) {{static_offsets = array<i64: 4, 0>, static_sizes = array<i64: 1, 5>,
        squeezed_dims = array<i64: 0>}} : ({ref('6x5')}, tensor<5xf32>) -> ()
    %seen = "ref.get"(%w) : ({ref('2x2')}) -> tensor<2x2xf32>
    %row = "ref.view"(%v) {{static_offsets = array<i64: 2, 0>, static_sizes = array<i64: 1, 2>,
        squeezed_dims = array<i64: 0>}} : ({ref('3x4')}) -> {ref('2')}
    %rv = "ref.get"(%row) : ({ref('2')}) -> tensor<2xf32>
    return %seen, %rv : tensor<2x2xf32>, tensor<2xf32>
  }}"""
  x = f32(6, 5)
  # offset 9 clamps to 3: v = rows 3..5, cols 1..4; w = v[1:3, 0:4:3] = rows 4..5, cols 1, 4.
  (seen, rv), (final,) = interpret(src, "main", [x, np.int32(9)])
  want = x.copy()
  want[4:6, 1:5:3] += 100
  want[4] = 0
  np.testing.assert_array_equal(final, want)
  np.testing.assert_array_equal(seen, want[4:6, 1:5:3])
  np.testing.assert_array_equal(rv, want[5, 1:3])


# -- calls ------------------------------------------------------------------------------


def test_call_with_aliased_arguments():
  src = f"""
  func.func private @bump(%a: {ref('4', 'i32')}, %b: {ref('4', 'i32')}) -> tensor<4xi32> {{
    %c = stablehlo.constant dense<1> : tensor<4xi32>
    "ref.addupdate"(%a, %c) : ({ref('4', 'i32')}, tensor<4xi32>) -> ()
    %v = "ref.get"(%b) : ({ref('4', 'i32')}) -> tensor<4xi32>
    "ref.addupdate"(%b, %v) : ({ref('4', 'i32')}, tensor<4xi32>) -> ()
    return %v : tensor<4xi32>
  }}
  func.func private @half(%p: {ref('4', 'i32')}, %h: {ref('2', 'i32')}) {{
    %c = stablehlo.constant dense<-5> : tensor<2xi32>
    "ref.set"(%h, %c) : ({ref('2', 'i32')}, tensor<2xi32>) -> ()
    %c1 = stablehlo.constant dense<1000> : tensor<4xi32>
    "ref.addupdate"(%p, %c1) : ({ref('4', 'i32')}, tensor<4xi32>) -> ()
    return
  }}
  func.func @main(%r: {ref('4', 'i32')}) -> tensor<4xi32> {{
    %v = func.call @bump(%r, %r) : ({ref('4', 'i32')}, {ref('4', 'i32')}) -> tensor<4xi32>
    %h = "ref.view"(%r) {{static_offsets = array<i64: 2>, static_sizes = array<i64: 2>}}
        : ({ref('4', 'i32')}) -> {ref('2', 'i32')}
    func.call @half(%r, %h) : ({ref('4', 'i32')}, {ref('2', 'i32')}) -> ()
    return %v : tensor<4xi32>
  }}"""
  x = np.array([1, 2, 3, 4], np.int32)
  (v,), (final,) = interpret(src, "main", [x])
  np.testing.assert_array_equal(v, x + 1)
  np.testing.assert_array_equal(final, [1004, 1006, 995, 995])


# -- control flow with captured refs ------------------------------------------------------


def test_while_with_captured_ref():
  src = f"""
  func.func @main(%r: {ref('5', 'i32')}) -> tensor<i32> {{
    %zero = stablehlo.constant dense<0> : tensor<i32>
    %n = stablehlo.constant dense<5> : tensor<i32>
    %one = stablehlo.constant dense<1> : tensor<i32>
    %out = stablehlo.while(%i = %zero) : tensor<i32>
      cond {{
        %first = "ref.get"(%r) {{static_sizes = array<i64: 1>, squeezed_dims = array<i64: 0>}}
            : ({ref('5', 'i32')}) -> tensor<i32>
        %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
        stablehlo.return %lt : tensor<i1>
      }} do {{
        "ref.addupdate"(%r, %i, %i) {{static_offsets = array<i64: {DYN}>, static_sizes = array<i64: 1>,
            squeezed_dims = array<i64: 0>}} : ({ref('5', 'i32')}, tensor<i32>, tensor<i32>) -> ()
        %next = stablehlo.add %i, %one : tensor<i32>
        stablehlo.return %next : tensor<i32>
      }}
    return %out : tensor<i32>
  }}"""
  (out,), (final,) = interpret(src, "main", [np.full(5, 10, np.int32)])
  assert int(out) == 5
  np.testing.assert_array_equal(final, [10, 11, 12, 13, 14])


@pytest.mark.parametrize("k,want", [(0, [1, 0]), (1, [0, 2]), (7, [0, 2]), (-1, [0, 2])])
def test_case_writes_ref_in_a_branch(k, want):
  src = f"""
  func.func @main(%r: {ref('2', 'i32')}, %k: tensor<i32>) -> tensor<i32> {{
    %res = "stablehlo.case"(%k) ({{
      %c = stablehlo.constant dense<1> : tensor<i32>
      "ref.set"(%r, %c) {{static_offsets = array<i64: 0>, static_sizes = array<i64: 1>,
          squeezed_dims = array<i64: 0>}} : ({ref('2', 'i32')}, tensor<i32>) -> ()
      stablehlo.return %c : tensor<i32>
    }}, {{
      %c = stablehlo.constant dense<2> : tensor<i32>
      "ref.set"(%r, %c) {{static_offsets = array<i64: 1>, static_sizes = array<i64: 1>,
          squeezed_dims = array<i64: 0>}} : ({ref('2', 'i32')}, tensor<i32>) -> ()
      stablehlo.return %c : tensor<i32>
    }}) : (tensor<i32>) -> tensor<i32>
    return %res : tensor<i32>
  }}"""
  (res,), (final,) = interpret(src, "main", [np.zeros(2, np.int32), np.int32(k)])
  assert int(res) == max(want)
  np.testing.assert_array_equal(final, want)


# -- errors -------------------------------------------------------------------------------


def test_unsupported_op_names_itself():
  src = """
  func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> {
    %y = stablehlo.cbrt %x : tensor<3xf32>
    return %y : tensor<3xf32>
  }"""
  with pytest.raises(NotImplementedError, match="stablehlo.cbrt"):
    interpret(src, "main", [np.zeros(3, np.float32)])


def test_bad_arguments_are_reported():
  src = "func.func @main(%x: tensor<3xf32>) -> tensor<3xf32> { return %x : tensor<3xf32> }"
  with pytest.raises(InterpreterError, match="takes 1 arguments"):
    interpret(src, "main", [])
  with pytest.raises(InterpreterError, match="shape"):
    interpret(src, "main", [np.zeros(4, np.float32)])
  with pytest.raises(InterpreterError, match="no function @nope"):
    interpret(src, "nope", [])


def test_the_interpreter_does_not_import_jax_or_transforms():
  import subprocess
  import sys
  code = ("import sys; import refhlo.compiler.interpreter; "
          "bad = [m for m in sys.modules if m == 'jax' or "
          "m.startswith('refhlo.compiler.transforms.')]; print(bad); "
          "sys.exit(1 if bad else 0)")
  subprocess.run([sys.executable, "-c", code], check=True)


# -- StableHLO ops, checked against XLA via JAX's own lowering ----------------------------


def _jax_cases():
  import jax
  import jax.numpy as jnp
  from jax import lax

  x = np.random.RandomState(0).randn(4, 3).astype(np.float32)
  xi = np.arange(24, dtype=np.int32).reshape(4, 3, 2) - 7
  idx = np.array([0, 3, -1, 7, 3, -9], np.int32)
  idx2 = np.array([[0, 2], [3, 1], [5, -1]], np.int32)

  def loops(a):
    def body(i, c):
      return c * 0.5 + a[i % 4]
    s = lax.fori_loop(0, 5, body, jnp.zeros(3, a.dtype))
    w = lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 3, c[1] * 2),
                       (jnp.int32(0), a))
    return s, w

  def branches(a, k):
    return lax.switch(k, [lambda v: v + 1, lambda v: v * 2, lambda v: -v], a), \
        lax.cond(k > 0, lambda v: v.sum(), lambda v: v.max(), a)

  return {
      "gather_rows": (lambda a, i: a[i], (x, idx)),
      "gather_points": (lambda a, i: a[i[:, 0], i[:, 1]], (x, idx2)),
      "gather_3d_mixed": (lambda a, i: a[1:, i[:, 0]], (xi, idx2)),
      "scatter_add": (lambda a, i: a.at[i].add(1.5), (x, idx)),
      "scatter_set_points": (lambda a, i: a.at[i[:, 0], i[:, 1]].set(-1.0), (x, idx2)),
      "scatter_mul_int": (lambda a, i: a.at[:, i[:, 0]].mul(3), (xi, idx2)),
      "vmap_gather": (jax.vmap(lambda r, j: r[j]), (x, np.array([2, 0, 1, 5], np.int32))),
      "vmap_scatter": (jax.vmap(lambda r, j: r.at[j].add(10.0)),
                       (x, np.array([2, 0, 1, 5], np.int32))),
      "reductions": (lambda a: (a.sum(0), a.max(1), a.min(), jnp.argmax(a, 1),
                                jnp.prod(a[:2], 0), jnp.any(a > 1)), (x,)),
      "int_arith": (lambda a: (a // 3, a % 3, jnp.abs(a), -a, a * a - 4, jnp.sign(a),
                               lax.div(a, jnp.int32(4)), lax.rem(a, jnp.int32(4))), (xi,)),
      "float_arith": (lambda a: (a / 3, jnp.maximum(a, 0.1), jnp.exp(a), jnp.tanh(a),
                                 jnp.clip(a, -0.5, 0.5), jnp.floor(a), a.astype(jnp.int32),
                                 (a > 0).astype(jnp.float32)), (x,)),
      "shapes": (lambda a: (a.T, a.reshape(2, 6), jnp.concatenate([a, a * 2], 1),
                            jnp.broadcast_to(a[:, None, :], (4, 2, 3)), a[1:4:2, ::2],
                            jnp.pad(a, ((1, 2), (0, 1))), jnp.arange(5) * 2,
                            lax.broadcasted_iota(jnp.int32, (2, 3), 1)), (x,)),
      "dynamic_slices": (lambda a, k: (lax.dynamic_slice(a, (k, k), (2, 2)),
                                       lax.dynamic_update_slice(a, jnp.ones((2, 2)), (k, 0)),
                                       lax.dynamic_index_in_dim(a, k, 0, False)),
                         (x, np.int32(7))),
      "dots": (lambda a, b: (a @ a.T, jnp.einsum("ijk,ijl->ikl", b, b),
                             jnp.dot(a[0], a[1])), (x, xi.astype(np.float32))),
      "loops": (loops, (x,)),
      "branches_0": (branches, (x, np.int32(0))),
      "branches_2": (branches, (x, np.int32(2))),
      "branches_oob": (branches, (x, np.int32(9))),
      "select_where": (lambda a: jnp.where(a > 0, a, a * 10), (x,)),
  }


_CASES = None


def _cases():
  global _CASES
  if _CASES is None:
    _CASES = _jax_cases()
  return _CASES


@pytest.mark.parametrize("name", [
    "gather_rows", "gather_points", "gather_3d_mixed", "scatter_add",
    "scatter_set_points", "scatter_mul_int", "vmap_gather", "vmap_scatter",
    "reductions", "int_arith", "float_arith", "shapes", "dynamic_slices", "dots",
    "loops", "branches_0", "branches_2", "branches_oob", "select_where"])
def test_stablehlo_matches_xla(name):
  import jax
  fn, args = _cases()[name]
  jitted = jax.jit(fn)
  text = jitted.lower(*args).as_text()
  got, refs = interpret(text, "main", list(args))
  assert refs == []
  want = jax.tree_util.tree_leaves(jitted(*args))
  assert len(got) == len(want)
  for g, w in zip(got, want):
    w = np.asarray(w)
    assert g.dtype == w.dtype and g.shape == w.shape
    if w.dtype.kind == "f":
      np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    else:
      np.testing.assert_array_equal(g, w)


def test_rule_table_covers_the_required_ops():
  required = {
      "ref.new", "ref.empty", "ref.get", "ref.set", "ref.swap", "ref.addupdate",
      "ref.freeze", "ref.free", "ref.view", "func.call", "stablehlo.constant",
      "stablehlo.add", "stablehlo.subtract", "stablehlo.multiply", "stablehlo.divide",
      "stablehlo.negate", "stablehlo.maximum", "stablehlo.minimum", "stablehlo.compare",
      "stablehlo.select", "stablehlo.convert", "stablehlo.broadcast_in_dim",
      "stablehlo.reshape", "stablehlo.transpose", "stablehlo.slice",
      "stablehlo.dynamic_slice", "stablehlo.dynamic_update_slice",
      "stablehlo.concatenate", "stablehlo.iota", "stablehlo.reduce",
      "stablehlo.dot_general", "stablehlo.while", "stablehlo.case", "stablehlo.if",
      "stablehlo.gather", "stablehlo.scatter"}
  assert required <= set(supported_ops())


def test_constants_of_every_element_type():
  src = """
  func.func @main() -> (tensor<3xbf16>, tensor<bf16>, tensor<2xi1>, tensor<2xui8>, tensor<2xf16>, tensor<2xbf16>) {
    %a = stablehlo.constant dense<[1.5, 2.0, -3.0]> : tensor<3xbf16>
    %b = stablehlo.constant dense<0.25> : tensor<bf16>
    %c = stablehlo.constant dense<[true, false]> : tensor<2xi1>
    %d = stablehlo.constant dense<[255, 7]> : tensor<2xui8>
    %e = stablehlo.constant dense<[0.5, 1.0]> : tensor<2xf16>
    %f = stablehlo.constant dense<[0xFF80, 0x3F80]> : tensor<2xbf16>
    return %a, %b, %c, %d, %e, %f : tensor<3xbf16>, tensor<bf16>, tensor<2xi1>, tensor<2xui8>, tensor<2xf16>, tensor<2xbf16>
  }"""
  a, b, c, d, e, f = interpret(src, "main", [])[0]
  assert a.dtype.name == "bfloat16" and a.astype(np.float32).tolist() == [1.5, 2.0, -3.0]
  assert b.shape == () and float(b) == 0.25
  assert c.dtype == np.bool_ and c.tolist() == [True, False]
  assert d.dtype == np.uint8 and d.tolist() == [255, 7]
  assert e.dtype == np.float16 and e.tolist() == [0.5, 1.0]
  assert f.astype(np.float32).tolist() == [-np.inf, 1.0]
