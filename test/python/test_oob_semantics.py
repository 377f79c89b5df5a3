"""Out-of-range indexing: refhlo agrees with jax.jit (docs/dialect.md, "Out of
range").

JAX 0.10.2 discharges a ref access in one of two ways, and they differ out of
range: an indexer with an integer array or a slice with a step > 1 is a
gather/scatter, element by element (reads clamp each index, writes drop the
element; negative indices count from the end per element); any other one is
a `lax.dynamic_slice`/`dynamic_update_slice` (the start, made non-negative
once, is clamped so the window fits, and the write happens). The frontend
marks the first kind with `mode = "elementwise"`.

* `test_jit_matches_jax`: every index form refhlo supports x {in range,
  crossing the end, fully out, negative} x {get, set, swap, addupdate}:
  refhlo.jit's results and final ref contents equal jax.jit's. Each (form, op)
  is compiled once and run for every variant's index values.
  `test_jit_views_match_jax`: the same through `ref.at[...]` views;
  `test_jax_jit_nested_dynamic_slice_fold`: where compiled jax.jit is wrong.
* `test_frontend_marks_elementwise_accesses`,
  `test_indexer_mode_round_trip_and_check`: the `mode` attribute.
* `test_pipeline_matches_interpreter`: ref-dialect accesses in both modes
  (on the ref itself and through views, so that both the native and the
  explicit clamp/drop lowerings run), offsets of several integer types:
  pipeline + XLA equals the NumPy interpreter.

The verifier's checks of `mode` are lit tests (test/Transforms/ref_verify.mlir),
its lowering too (test/Transforms/ref_effect_elimination_elementwise.mlir).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxlib.mlir import ir

import refhlo
from refhlo.compiler import xla
from refhlo.compiler.context import make_context
from refhlo.compiler.dialect.indexer import (ELEMENTWISE, Indexer,
                                             IndexerError)
from refhlo.compiler.interpreter import interpret
from refhlo.compiler.pipeline import run_pipeline

OPS = ("get", "set", "swap", "addupdate")
DYN = -9223372036854775808  # a dynamic offset in `static_offsets`


# -- refhlo.jit vs jax.jit -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Form:
  """`ref[index(*dyn)]` on a ref of `shape`; `variants`: label -> dyn values
  (Python ints become i32 scalars, lists i32 arrays)."""
  shape: tuple[int, ...]
  index: Callable[..., Any]
  variants: dict[str, tuple]


S2, S3 = (8, 6), (5, 6, 7)
ds = jax.ds
FORMS: dict[str, Form] = {
    "whole": Form(S2, lambda: ..., {"in": ()}),
    "static_slices": Form(S2, lambda: (slice(2, 5), slice(None, None, 2)), {"in": ()}),
    "static_negative_int": Form(S2, lambda: (-2,), {"neg": ()}),
    "static_negative_ds": Form(S2, lambda: (ds(-3, 3),), {"neg": ()}),
    "dynamic_int": Form(S2, lambda i: (i,), {
        "in": (3,), "end": (8,), "out": (100,), "neg": (-1,), "negout": (-9,)}),
    "dynamic_ints": Form(S2, lambda i, j: (i, j), {
        "in": (1, 2), "end": (8, 6), "neg": (-1, -7)}),
    "dynamic_int_slice": Form(S2, lambda i: (i, slice(1, 5)), {
        "in": (3,), "end": (8,), "neg": (-2,), "negout": (-9,)}),
    "ds": Form(S2, lambda i: (ds(i, 3), slice(1, 5)), {
        "in": (2,), "cross": (6,), "out": (20,), "neg": (-2,), "negout": (-20,)}),
    "ds_2d": Form(S2, lambda i, j: (ds(i, 3), ds(j, 4)), {
        "in": (2, 1), "cross": (6, 4), "neg": (-1, -2)}),
    "strided_static": Form(S2, lambda: (ds(1, 4, 2), slice(0, 6, 3)), {"in": ()}),
    # The known bug of issue 8: `r[i, ::2]` with i past the end.
    "int_then_strided": Form(S2, lambda i: (i, slice(None, None, 2)), {
        "in": (3,), "end": (8,), "out": (100,), "neg": (-1,), "negout": (-9,)}),
    "strided_ds": Form(S2, lambda i: (ds(i, 3, 2),), {
        "in": (1,), "cross": (5,), "out": (9,), "neg": (-3,), "negout": (-12,),
        # i + 2 * k wraps around in i32, as in JAX: elements 1, 2 are negative.
        "wrap": (2**31 - 1,), "wrap2": (2**31 - 3,), "min": (-2**31,)}),
    "ds_next_to_strided": Form(S2, lambda i: (ds(i, 3), slice(None, None, 2)), {
        "in": (2,), "cross": (6,), "out": (20,), "neg": (-2,), "wrap": (2**31 - 2,)}),
    "strided_static_negative_start": Form(S2, lambda: (ds(-1, 2, 2),), {"neg": ()}),
    "array": Form(S2, lambda a: (a,), {
        "in": ([1, 4, 6],), "cross": ([1, 8, 6],), "out": ([8, 12, 100],),
        "neg": ([-1, -8, 2],), "negout": ([-9, -20, 2],)}),
    "array_second_dim": Form(S2, lambda a: (slice(None), a), {
        "in": ([0, 5],), "cross": ([6, 5],), "neg": ([-1, -7],)}),
    "arrays_adjacent": Form(S3, lambda a, b: (a, b), {
        "in": ([0, 4, 2], [5, 1, 3]), "cross": ([0, 5, 2], [5, 1, 6]),
        "out": ([5, 9, 7], [6, 8, 6]), "neg": ([-1, 4, -6], [5, -6, -7])}),
    "arrays_adjacent_middle": Form(S3, lambda a, b: (slice(None), a, b), {
        "in": ([0, 4], [6, 1]), "cross": ([0, 6], [7, 1]), "neg": ([-1, -7], [-7, 0])}),
    "arrays_apart": Form(S3, lambda a, b: (a, slice(None), b), {
        "in": ([[0, 4], [2, 1]], [[6, 1], [3, 0]]),
        "cross": ([[0, 5], [2, 1]], [[6, 1], [7, 0]]),
        "neg": ([[-1, 4], [2, -6]], [[5, -1], [3, -8]])}),
    "array_int": Form(S2, lambda a, i: (a, i), {
        "in": ([1, 4], 2), "cross": ([1, 4], 6), "neg": ([1, 4], -1),
        "negout": ([1, 4], -7)}),
    "int_array": Form(S2, lambda i, a: (i, a), {
        "in": (2, [1, 4]), "cross": (8, [1, 4]), "neg": (-1, [1, -4])}),
    "array_static_int": Form(S2, lambda a: (a, -1), {
        "in": ([1, 4],), "cross": ([1, 9],), "neg": ([-1, -9],)}),
    "array_slice": Form(S2, lambda a: (a, slice(1, 4)), {
        "in": ([1, 4],), "cross": ([1, 9],), "neg": ([-2, 3],)}),
    "array_strided": Form(S2, lambda a: (a, slice(1, None, 2)), {
        "in": ([1, 4],), "cross": ([1, 9],)}),
    # The other known bug: `jax.ds` next to an integer array.
    "array_ds": Form(S2, lambda a, j: (a, ds(j, 3)), {
        "in": ([1, 4], 2), "cross": ([1, 4], 4), "out": ([1, 4], 9),
        "neg": ([1, 4], -2), "negout": ([1, 4], -9), "wrap": ([1, 4], 2**31 - 1)}),
    "ds_array": Form(S2, lambda i, a: (ds(i, 3), a), {
        "in": (2, [1, 4]), "cross": (6, [1, 4]), "neg": (-2, [1, 4])}),
    "array_strided_ds": Form(S2, lambda a, j: (a, ds(j, 2, 3)), {
        "in": ([1, 4], 1), "cross": ([1, 4], 4), "neg": ([1, 4], -4)}),
    # Constants made inside the function (`jnp.int32(5)`) are not checked by
    # JAX: known to the frontend, yet out of range.
    "array_constant_ds": Form(S2, lambda a: (a, ds(jnp.int32(5), 3)), {
        "cross": ([1, 4],)}),
    "constant_strided_ds": Form(S2, lambda: (ds(jnp.int32(7), 2, 2),), {"cross": ()}),
    "constant_int_then_strided": Form(S2, lambda: (jnp.int32(9), slice(None, None, 2)),
                                      {"out": ()}),
    "constant_ds": Form(S2, lambda: (ds(jnp.int32(7), 3),), {"cross": ()}),
}


# Forms whose get jax.jit refuses (static negative start: `lax.slice`).
JAX_GET_RAISES = ("static_negative_ds", "strided_static_negative_start")


def _arg(v: Any) -> Any:
  return jnp.asarray(v, jnp.int32)


def _program(form: Form, op: str) -> Callable:
  def f(r, v, *dyn):
    idx = form.index(*dyn)
    if op == "get":
      return r[idx]
    if op == "set":
      r[idx] = v
      return None
    if op == "swap":
      return jax.ref.swap(r, idx, v)
    jax.ref.addupdate(r, idx, v)
    return None
  return f


def _value_shape(form: Form, dyn: tuple) -> tuple[int, ...]:
  x = jnp.zeros(form.shape)
  return jax.eval_shape(lambda x, *d: x[form.index(*d)], x,
                        *[_arg(d) for d in dyn]).shape


def _run(fn: Callable, dyn: tuple, x: np.ndarray, v: np.ndarray | None):
  """Runs `fn(ref, [v], *dyn)` on a fresh ref holding x: (result, final ref)."""
  r = jax.new_ref(jnp.asarray(x))
  args = ([] if v is None else [jnp.asarray(v)]) + [_arg(d) for d in dyn]
  out = fn(r, *args)
  return (None if out is None else np.asarray(out)), np.asarray(r[...])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", list(FORMS))
def test_jit_matches_jax(name: str, op: str):
  form = FORMS[name]
  f = _program(form, op)
  want_fn, got_fn = jax.jit(f), refhlo.jit(f)
  if name in JAX_GET_RAISES and op == "get":
    # jax.jit rejects the get (a `lax.slice` with a negative start); refhlo
    # reads what the same index's swap reads.
    want_fn = jax.jit(_program(form, "swap"))
  x = (np.arange(np.prod(form.shape), dtype=np.float32) + 1).reshape(form.shape)
  for label, dyn in form.variants.items():
    vshape = _value_shape(form, dyn)
    v = -(np.arange(np.prod(vshape), dtype=np.float32) + 100).reshape(vshape)
    want = _run(want_fn, dyn, x, v)
    got = _run(got_fn, dyn, x, v)
    if name in JAX_GET_RAISES and op == "get":
      want = (want[0], x)
    what = f"{name}[{label}] {op} with {dyn}"
    if want[0] is not None:
      np.testing.assert_array_equal(got[0], want[0], err_msg=f"{what}: result")
    np.testing.assert_array_equal(got[1], want[1], err_msg=f"{what}: final ref")


VIEW_FORMS: dict[str, tuple[Callable, dict[str, tuple]]] = {
    # An access on a window view is relative to the view.
    "window_view_array": (lambda r, a: r.at[2:6].at[a], {
        "in": ([1, 3],), "cross": ([1, 5],), "neg": ([-1, -5],)}),
    "window_view_strided_int": (lambda r, i: r.at[1:7].at[i, ::2], {
        "in": (2,), "end": (6,), "neg": (-7,)}),
    "dynamic_view_array": (lambda r, i, a: r.at[ds(i, 3)].at[a], {
        "in": (1, [0, 2]), "cross": (6, [1, 5]), "neg": (-2, [-1, 3])}),
    # A strided view with a dynamic start, then a static index: one
    # elementwise access.
    "strided_view_whole": (lambda r, i: r.at[ds(i, 3, 2)].at[...], {
        "in": (1,), "cross": (5,), "out": (9,), "neg": (-3,)}),
    "strided_view_static_int": (lambda r, i: r.at[ds(i, 3, 2)].at[2], {
        "in": (1,), "cross": (5,), "neg": (-3,)}),
    "int_strided_view_static": (lambda r, i: r.at[i, ::2].at[1:3], {
        "in": (1,), "end": (8,), "neg": (-9,)}),
    # ... or a window index (clamped into the view first, as JAX does).
    "strided_view_dynamic_int": (lambda r, i, j: r.at[ds(i, 3, 2)].at[j], {
        "in": (1, 1), "cross": (5, 1), "out": (5, 2), "neg": (-3, -1),
        "inner_out": (1, 5)}),
    "strided_view_window_view_static": (
        lambda r, i, j: r.at[ds(i, 3, 2)].at[ds(j, 2)].at[:, 1], {
            "in": (1, 1), "cross": (5, 2), "neg": (-3, -1), "inner_out": (1, 7)}),
    # A static strided view, then a strided index checked element by element
    # against the view (a constant made in the function is not checked by JAX).
    "strided_view_constant_strided": (
        lambda r: r.at[0:1:3].at[ds(jnp.int32(1), 1, 2)], {"out": ()}),
    "strided_view_dynamic_strided": (lambda r, j: r.at[1:8:2].at[ds(j, 2, 2)], {
        "in": (1,), "cross": (3,), "neg": (-1,), "wrap": (2**31 - 1,)}),
    "constant_strided_view": (lambda r: r.at[ds(jnp.int32(7), 2, 2)].at[...],
                              {"cross": ()}),
    # A strided view with a traced (or unchecked constant) start, indexed
    # element by element again: gathered into a local ref and scattered back
    # (emit.py `_write_back`), checked against the view and against the ref.
    "strided_view_indexed_strided": (lambda r, i, j: r.at[ds(i, 3, 2)].at[j, ::2], {
        "in": (1, 1), "cross": (5, 2), "out": (9, 3), "neg": (-3, -1),
        "wrap": (2**31 - 1, 0)}),
    "constant_strided_view_indexed_strided": (
        lambda r, j: r.at[ds(jnp.int32(7), 2, 2)].at[j, ::2], {"in": (0,), "out": (5,)}),
    "strided_view_indexed_array": (lambda r, i, a: r.at[ds(i, 3, 2)].at[a], {
        "in": (1, [0, 2]), "cross": (5, [1, 2]), "neg": (-3, [-1, 0])}),
}


def _view_program(at: Callable, op: str, vshape: tuple[int, ...]) -> Callable:
  def f(r, v, *dyn):
    t = at(r, *dyn)
    if op == "get":
      return t[...]
    if op == "set":
      t[...] = v
      return None
    if op == "swap":
      return jax.ref.swap(t, ..., v)
    if op == "add_rmw":
      t[...] += v
      return None
    jax.ref.addupdate(t, ..., v)
    return None
  return f


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", list(VIEW_FORMS))
def test_jit_views_match_jax(name: str, op: str):
  at, variants = VIEW_FORMS[name]
  x = (np.arange(48, dtype=np.float32) + 1).reshape(S2)
  first = next(iter(variants.values()))
  vshape = jax.eval_shape(lambda r, *d: at(r, *d)[...], jax.new_ref(jnp.asarray(x)),
                          *[_arg(d) for d in first]).shape
  f = _view_program(at, op, vshape)
  want_fn, got_fn = jax.jit(f), refhlo.jit(f)
  if op == "addupdate":
    # jax.jit cannot discharge an addupdate through two indexers; `+=` (a get
    # and a swap) is the same update here (no duplicate elements).
    want_fn = jax.jit(_view_program(at, "add_rmw", vshape))
  v = -(np.arange(np.prod(vshape), dtype=np.float32) + 100).reshape(vshape)
  for label, dyn in variants.items():
    want = _run(want_fn, dyn, x, v)
    got = _run(got_fn, dyn, x, v)
    what = f"{name}[{label}] {op} with {dyn}"
    if want[0] is not None:
      np.testing.assert_array_equal(got[0], want[0], err_msg=f"{what}: result")
    np.testing.assert_array_equal(got[1], want[1], err_msg=f"{what}: final ref")


def test_jax_jit_nested_dynamic_slice_fold():
  """Canary of the one place refhlo deliberately differs from compiled jax.jit:
  an index out of a dynamic window view's range. JAX's StableHLO (a
  dynamic_slice of a dynamic_slice) clamps at the view; XLA's algebraic
  simplifier folds the two and clamps once at the root. refhlo gives what
  JAX's program says (jax.jit without that pass). When this fails, XLA is
  fixed: drop the fuzzer's `xla_bug` class and XLA_BUG_SEEDS."""
  if jax.default_backend() != "cpu":
    pytest.skip("seen on XLA:CPU")
  def f(r, i, j):
    return r.at[i, ds(0, 3)][j]
  x = jnp.arange(16.0).reshape(4, 4)
  args = (np.int32(1), np.int32(7))
  wrong = jax.jit(f)(jax.new_ref(x), *args)
  right = jax.jit(f, compiler_options={"xla_disable_hlo_passes": "algsimp"})(
      jax.new_ref(x), *args)
  ours = refhlo.jit(f)(jax.new_ref(x), *args)
  assert (float(wrong), float(right), float(ours)) == (7.0, 6.0, 6.0)


@pytest.mark.parametrize("op", OPS)
def test_unsigned_indices_match_jax(op: str):
  # uint32 indices past int32's range: JAX wraps them to negative int32s and
  # does not count those from the end (reads clamp to 0, writes drop).
  f = _program(Form(S2, lambda a, i: (a, i), {}), op)
  x = (np.arange(48, dtype=np.float32) + 1).reshape(S2)
  v = jnp.array([-1.0, -2.0, -3.0])
  a = jnp.array([4294967295, 2**31, 2], jnp.uint32)
  for i in (jnp.uint32(3), jnp.uint32(2**32 - 2)):
    outs = []
    for jit in (jax.jit, refhlo.jit):
      r = jax.new_ref(jnp.asarray(x))
      out = jit(f)(r, v, a, i)
      outs.append((None if out is None else np.asarray(out), np.asarray(r[...])))
    if outs[0][0] is not None:
      np.testing.assert_array_equal(outs[1][0], outs[0][0])
    np.testing.assert_array_equal(outs[1][1], outs[0][1])


def test_frontend_marks_elementwise_accesses():
  def f(r, i, a):
    x = r[i, ::2]              # strided next to a traced int: elementwise
    y = r[ds(i, 3)]            # a window: lax.dynamic_slice semantics
    z = r[a, ds(i, 2)]         # an integer array: elementwise
    w = r[1, ::2]              # static, in range: no mode needed
    return x, y, z, w
  r = jax.new_ref(jnp.zeros(S2))
  text = refhlo.jit(f).lower(r, jnp.int32(1), jnp.array([0, 1])).as_text("ref")
  lines = [ln for ln in text.splitlines() if " ref.get " in ln]
  assert len(lines) == 4, text
  assert [" mode elementwise " in ln for ln in lines] == [True, False, True, False]
  assert "mode" not in text.replace(" mode elementwise ", ""), text


def test_indexer_mode_round_trip_and_check():
  with make_context():
    idx = Indexer((8,), (DYN,), (3,), (2,), mode=ELEMENTWISE)
    attrs = idx.to_attributes()
    assert str(attrs["mode"]) == '"elementwise"'
    assert Indexer.from_attributes(attrs, (8,)) == idx
    assert "mode" not in Indexer((8,), (DYN,), (3,), (2,)).to_attributes()
    with pytest.raises(IndexerError, match="'mode' must be one of"):
      Indexer.from_attributes({"mode": ir.StringAttr.get("clip")}, (8,))
    with pytest.raises(IndexerError, match="'mode' must be one of"):
      Indexer((8,), (0,), (8,), (1,), mode="clip").check()


# -- ref dialect: interpreter vs pipeline + XLA -----------------------------------

@dataclasses.dataclass(frozen=True)
class Snippet:
  """One access on `%r` (or on a view of it), in MLIR text."""
  shape: tuple[int, ...]             # the @main ref
  attrs: dict[str, Any]              # the access's indexer (on the view if any)
  dyn: tuple[str, ...] = ()          # element types of the dynamic offsets
  indices: tuple[int, ...] | None = None  # shape of the indices operand (i32)
  view: str | None = None            # a ref.view's attributes (offset: %o)


def _attr_text(attrs: dict[str, Any]) -> str:
  parts = []
  for k, v in attrs.items():
    if isinstance(v, str):
      parts.append(f'{k} = "{v}"')
    else:
      parts.append(f"{k} = array<i64: {', '.join(map(str, v))}>")
  return "{" + ", ".join(parts) + "}"


def _tensor(shape: tuple[int, ...], elt: str) -> str:
  return f"tensor<{'x'.join(map(str, shape))}{'x' if shape else ''}{elt}>"


def _module(s: Snippet, op: str, view_shape: tuple[int, ...], vshape: tuple[int, ...]
            ) -> str:
  ref_t = f"!ref.ref<{_tensor(s.shape, 'f32')}>"
  acc_ref_t = f"!ref.ref<{_tensor(view_shape, 'f32')}>"
  val_t = _tensor(vshape, "f32")
  params = [f"%r: {ref_t}", f"%v: {val_t}", "%o: tensor<i32>"]
  dyn_names = []
  for k, elt in enumerate(s.dyn):
    params.append(f"%d{k}: tensor<{elt}>")
    dyn_names.append((f"%d{k}", f"tensor<{elt}>"))
  if s.indices is not None:
    params.append(f"%idx: {_tensor(s.indices, 'i32')}")
  body = []
  target = "%r"
  if s.view is not None:
    if "-9223372036854775808" in s.view:
      body.append(f'  %w = "ref.view"(%r, %o) {s.view} : ({ref_t}, tensor<i32>) -> '
                  f'{acc_ref_t}')
    else:
      body.append(f'  %w = "ref.view"(%r) {s.view} : ({ref_t}) -> {acc_ref_t}')
    target = "%w"
  rest = [n for n, _ in dyn_names] + (["%idx"] if s.indices is not None else [])
  rest_t = [t for _, t in dyn_names] + ([_tensor(s.indices, "i32")]
                                         if s.indices is not None else [])
  attrs = _attr_text(s.attrs)
  ret_t, ret = "", "return"
  if op == "get":
    ops = ", ".join([target] + rest)
    types = ", ".join([acc_ref_t] + rest_t)
    body.append(f'  %x = "ref.get"({ops}) {attrs} : ({types}) -> {val_t}')
    ret_t, ret = val_t, f"return %x : {val_t}"
  else:
    ops = ", ".join([target, "%v"] + rest)
    types = ", ".join([acc_ref_t, val_t] + rest_t)
    if op == "swap":
      body.append(f'  %x = "ref.swap"({ops}) {attrs} : ({types}) -> {val_t}')
      ret_t, ret = val_t, f"return %x : {val_t}"
    else:
      body.append(f'  "ref.{op}"({ops}) {attrs} : ({types}) -> ()')
  sig = ", ".join(params)
  return (f"func.func @main({sig}) -> ({ret_t}) {{\n" + "\n".join(body)
          + f"\n  {ret}\n}}\n")


E = "elementwise"
# (attrs without mode, dyn offset types, indices shape): run in both modes.
ACCESSES: dict[str, tuple[dict[str, Any], tuple[str, ...], tuple[int, ...] | None]] = {
    "int": ({"static_offsets": [DYN, 0], "static_sizes": [1, 6],
             "squeezed_dims": [0]}, ("i32",), None),
    "int_strided": ({"static_offsets": [DYN, 1], "static_sizes": [1, 3],
                     "static_strides": [1, 2], "squeezed_dims": [0]}, ("i32",), None),
    "ds": ({"static_offsets": [DYN, 1], "static_sizes": [3, 4]}, ("i32",), None),
    "strided_ds": ({"static_offsets": [DYN, 0], "static_sizes": [3, 6],
                    "static_strides": [2, 1]}, ("i32",), None),
    "two_dynamic": ({"static_offsets": [DYN, DYN], "static_sizes": [3, 2],
                     "static_strides": [2, 1]}, ("i32", "i32"), None),
    "array": ({"static_sizes": [1, 6], "indexed_dims": [0]}, (), (3, 1)),
    "array_ds": ({"static_offsets": [0, DYN], "static_sizes": [1, 3],
                  "indexed_dims": [0]}, ("i32",), (2, 1)),
    "array_int": ({"static_offsets": [0, DYN], "static_sizes": [1, 1],
                   "squeezed_dims": [1], "indexed_dims": [0]}, ("i32",), (2, 1)),
    "arrays": ({"static_sizes": [1, 1], "indexed_dims": [0, 1]}, (), (3, 2)),
    # Odd offset types: the clamp/wrap must not overflow or truncate.
    "ds_i64": ({"static_offsets": [DYN, 1], "static_sizes": [3, 4]}, ("i64",), None),
    "strided_ds_i8": ({"static_offsets": [DYN, 0], "static_sizes": [3, 6],
                       "static_strides": [2, 1]}, ("i8",), None),
    "strided_ds_ui32": ({"static_offsets": [DYN, 0], "static_sizes": [3, 6],
                         "static_strides": [2, 1]}, ("ui32",), None),
}
# The accesses are on an 8x6 ref: the root itself, or a view of a 16x12 root
# (a non-direct lens: explicit clamps and drops in the lowering).
VIEWS = {
    "direct": (None, (8, 6)),
    "static_view": ("{static_offsets = array<i64: 3, 2>, "
                    "static_sizes = array<i64: 8, 6>}", (16, 12)),
    # Every other row and column from a dynamic row offset (%o).
    "dynamic_strided_view": ("{static_offsets = array<i64: -9223372036854775808, 1>, "
                             "static_sizes = array<i64: 8, 6>, "
                             "static_strides = array<i64: 2, 2>}", (16, 12)),
}
# In range, crossing the end, out, negative, and the extremes of the types.
OFFSETS = (0, 1, 2, 3, 5, 6, 7, 8, 9, 100, -1, -2, -3, -6, -7, -8, -9, -13, -100,
           2**31 - 1, -2**31, 2**40)


def _np_int(v: int, elt: str) -> np.ndarray:
  """v in type `elt`, saturated."""
  dtype = {"i32": np.int32, "i64": np.int64, "i8": np.int8, "ui32": np.uint32}[elt]
  info = np.iinfo(dtype)
  return np.asarray(min(max(v, info.min), info.max), dtype)


def _indices(rng: np.random.Generator, shape: tuple[int, ...], dims: list[int],
             mode: str, unique: bool) -> np.ndarray:
  """Random indices for the 8x6 ref, in and out of range. `unique`: no two
  rows address the same element (set/swap keep an unspecified one of
  duplicates), after the wrap of negative ones in mode "elementwise"."""
  while True:
    ind = rng.choice(np.array(OFFSETS[:19]), size=shape).astype(np.int32)
    if not unique:
      return ind
    cols = [np.where((c < 0) & (mode == E), c + (8, 6)[d], c)
            for c, d in zip(np.moveaxis(ind, -1, 0), dims)]
    rows = list(zip(*[c.ravel().tolist() for c in cols]))
    if len(set(rows)) == len(rows):
      return ind


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("mode", ["window", E])
@pytest.mark.parametrize("name", list(ACCESSES))
def test_pipeline_matches_interpreter(name: str, mode: str, view: str):
  attrs, dyn_types, ind_shape = ACCESSES[name]
  view_attrs, root_shape = VIEWS[view]
  attrs = dict(attrs)
  if mode == E:
    attrs["mode"] = E
  # Value shape: batch dims then the kept sizes.
  sizes = attrs["static_sizes"]
  dropped = set(attrs.get("squeezed_dims", [])) | set(attrs.get("indexed_dims", []))
  vshape = (tuple(ind_shape[:-1]) if ind_shape else ()) + tuple(
      n for d, n in enumerate(sizes) if d not in dropped)
  s = Snippet(root_shape, attrs, dyn_types, ind_shape, view_attrs)
  seed = sum(map(ord, f"{name}/{mode}/{view}"))
  rng = np.random.default_rng(seed)
  with make_context():
    for op in OPS:
      text = _module(s, op, (8, 6), vshape)
      module = ir.Module.parse(text)
      run_pipeline(module, "ref-to-stablehlo")
      compiled = xla.compile_module(module)
      for _ in range(6):
        dyn = [_np_int(int(rng.choice(OFFSETS)), t) for t in dyn_types]
        args = [(np.arange(np.prod(root_shape), dtype=np.float32) + 1).reshape(root_shape),
                -(np.arange(np.prod(vshape), dtype=np.float32) + 100).reshape(vshape),
                _np_int(int(rng.choice(OFFSETS)), "i32")]
        args += dyn
        if ind_shape is not None:
          args.append(_indices(rng, ind_shape, attrs["indexed_dims"], mode,
                               unique=op in ("set", "swap")))
        want = interpret(ir.Module.parse(text).operation, "main",
                         [np.array(a, copy=True) for a in args])
        with jax.enable_x64(True):  # i64 offsets stay i64 on the device
          outs = [np.asarray(o) for o in compiled.execute(
              *[np.array(a, copy=True) for a in args])]
        want_results, want_cells = want
        what = f"{name} {mode} {view} {op} args={[a.tolist() for a in args[2:]]}"
        n_res = len(want_results)
        for w, g in zip(want_results, outs[:n_res]):
          np.testing.assert_array_equal(g, w, err_msg=f"{what}: result")
        if op != "get":
          np.testing.assert_array_equal(outs[n_res], want_cells[0],
                                        err_msg=f"{what}: final ref")
