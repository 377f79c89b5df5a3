"""Alias and effect analysis through their Python API, and buffer donation's
output checked by MLIR's verifier."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxlib.mlir import ir

from refhlo.compiler.analysis.alias import (
    AliasAnalysis,
    AliasResult,
    Root,
    Window,
    windows_alias,
)
from refhlo.compiler.analysis.effects import Effect, analyze_effects
from refhlo.compiler.context import make_context
from refhlo.compiler.dialect.indexer import Indexer
from refhlo.compiler.dialect.types import DYNAMIC
from refhlo.compiler.pipeline import PipelineFailure, run_pipeline

R4 = "!ref.ref<tensor<4xf32>>"
R8 = "!ref.ref<tensor<8xf32>>"


def parse(text: str) -> ir.Module:
  return ir.Module.parse(text)


@pytest.fixture(autouse=True)
def context():
  with make_context(), ir.Location.unknown():
    yield


def func_ops(module: ir.Module, name: str) -> list[ir.Operation]:
  aa = AliasAnalysis(module.operation)
  return aa.functions[name].ops


def test_views_parents_and_siblings():
  m = parse(f"""
  func.func @f(%a: {R8}, %b: {R8}, %i: tensor<i32>) {{
    %lo = "ref.view"(%a) {{static_sizes = array<i64: 4>}} : ({R8}) -> {R4}
    %hi = "ref.view"(%a) {{static_offsets = array<i64: 4>, static_sizes = array<i64: 4>}} : ({R8}) -> {R4}
    %lo2 = "ref.view"(%a) {{static_sizes = array<i64: 4>}} : ({R8}) -> {R4}
    %d = "ref.view"(%a, %i) {{static_offsets = array<i64: {DYNAMIC}>, static_sizes = array<i64: 4>}} : ({R8}, tensor<i32>) -> {R4}
    return
  }}""")
  aa = AliasAnalysis(m.operation)
  info = aa.functions["f"]
  a, b = (info.op.regions[0].blocks[0].arguments[i] for i in range(2))
  lo, hi, lo2, d = (op.results[0] for op in info.ops[:4])
  assert aa.roots(lo) == {Root("f", "arg", 0)}
  assert aa.alias(a, a) is AliasResult.MUST
  assert aa.alias(a, b) is AliasResult.NO  # distinct public arguments
  assert aa.alias(lo, hi) is AliasResult.NO
  assert aa.alias(lo, lo2) is AliasResult.MUST
  assert aa.alias(lo, a) is AliasResult.MAY
  assert aa.alias(d, hi) is AliasResult.MAY
  assert aa.alias(d, b) is AliasResult.NO


def test_call_sites_bind_parameters():
  m = parse(f"""
  func.func @main(%a: {R4}, %b: {R4}) {{
    call @g(%a, %a) : ({R4}, {R4}) -> ()
    call @h(%a, %b) : ({R4}, {R4}) -> ()
    call @h(%b, %b) : ({R4}, {R4}) -> ()
    return
  }}
  func.func private @g(%p: {R4}, %q: {R4}) {{ return }}
  func.func private @h(%p: {R4}, %q: {R4}) {{ return }}
  func.func private @dead(%p: {R4}, %q: {R4}) {{ return }}
  """)
  aa = AliasAnalysis(m.operation)

  def args(name):
    return list(aa.functions[name].op.regions[0].blocks[0].arguments)

  gp, gq = args("g")
  hp, hq = args("h")
  dp, dq = args("dead")
  assert aa.alias(gp, gq) is AliasResult.MUST
  assert aa.roots(hp) == {Root("main", "arg", 0), Root("main", "arg", 1)}
  assert aa.alias(hp, hq) is AliasResult.MAY
  # A private function without call sites falls back to its own arguments.
  assert aa.roots(dp) == {Root("dead", "arg", 0)}
  assert aa.alias(dp, dq) is AliasResult.NO


def test_recursion_terminates_and_never_must_aliases_fresh_locations():
  m = parse(f"""
  func.func @main(%x: tensor<4xf32>) {{
    %r = "ref.new"(%x) : (tensor<4xf32>) -> {R4}
    call @rec(%r, %x) : ({R4}, tensor<4xf32>) -> ()
    return
  }}
  func.func private @rec(%p: {R4}, %x: tensor<4xf32>) {{
    %n = "ref.new"(%x) : (tensor<4xf32>) -> {R4}
    call @rec(%n, %x) : ({R4}, tensor<4xf32>) -> ()
    call @rec(%p, %x) : ({R4}, tensor<4xf32>) -> ()
    return
  }}
  """)
  aa = AliasAnalysis(m.operation)
  rec = aa.functions["rec"]
  p = rec.op.regions[0].blocks[0].arguments[0]
  n = rec.ops[0].results[0]
  assert aa.roots(p) == {Root("main", "new", 0), Root("rec", "new", 0)}
  assert aa.alias(p, n) is AliasResult.MAY
  assert not aa.is_unique(Root("rec", "new", 0))
  assert aa.is_unique(Root("main", "new", 0))


def test_effects_api():
  m = parse(f"""
  func.func @main(%a: {R4}, %b: {R4}, %c: {R4}, %x: tensor<4xf32>, %k: tensor<i1>) {{
    "stablehlo.if"(%k) ({{
      call @acc(%b, %x) : ({R4}, tensor<4xf32>) -> ()
      stablehlo.return
    }}, {{
      %v = "ref.get"(%a) : ({R4}) -> tensor<4xf32>
      stablehlo.return
    }}) : (tensor<i1>) -> ()
    return
  }}
  func.func private @acc(%p: {R4}, %x: tensor<4xf32>) {{
    %hi = "ref.view"(%p) {{static_offsets = array<i64: 2>, static_sizes = array<i64: 2>}} : ({R4}) -> !ref.ref<tensor<2xf32>>
    %y = "stablehlo.slice"(%x) {{start_indices = array<i64: 0>, limit_indices = array<i64: 2>, strides = array<i64: 1>}} : (tensor<4xf32>) -> tensor<2xf32>
    "ref.addupdate"(%hi, %y) : (!ref.ref<tensor<2xf32>>, tensor<2xf32>) -> ()
    return
  }}
  """)
  me = analyze_effects(m.operation)
  assert me.function_arg_effects("main") == [
      Effect.READ, Effect.ACCUMULATE, Effect.NONE, Effect.NONE, Effect.NONE]
  assert me.function_arg_effects("acc") == [Effect.ACCUMULATE, Effect.NONE]
  a, b, c = (Root("main", "arg", i) for i in range(3))
  if_op = me.alias.functions["main"].ops[0]
  assert if_op.name == "stablehlo.if"
  assert me.op_effects(if_op) == {a: Effect.READ, b: Effect.ACCUMULATE}
  assert me.writes(b) and not me.writes(a) and me.reads(a)
  assert me.root_effects(c) == Effect.NONE
  assert me.unresolved_arg("main", 0) is None
  with pytest.raises(KeyError):
    me.function_arg_effects("nope")


def test_effect_format():
  assert Effect.NONE.format() == "none"
  assert (Effect.READ | Effect.ACCUMULATE).format() == "read|accumulate"
  assert Effect.ACCUMULATE.writes and not Effect.READ.writes


def test_unresolved_use_is_reported_at_the_op():
  m = parse(f"""
  func.func @main(%a: {R4}) {{
    "foo.bar"(%a) : ({R4}) -> ()
    return
  }}""")
  me = analyze_effects(m.operation)
  assert me.function_arg_effects("main") == [Effect.READ | Effect.WRITE | Effect.ACCUMULATE]
  why = me.unresolved_arg("main", 0)
  assert why is not None and why.op.name == "foo.bar"


def test_donation_output_verifies_and_keeps_private_functions():
  m = parse(f"""
  func.func @main(%a: {R4} {{mhlo.sharding = "{{replicated}}"}}, %b: {R4}, %x: tensor<4xf32>) -> tensor<4xf32> {{
    call @set(%a, %x) : ({R4}, tensor<4xf32>) -> ()
    %v = "ref.get"(%b) : ({R4}) -> tensor<4xf32>
    return %v : tensor<4xf32>
  }}
  func.func private @set(%p: {R4}, %x: tensor<4xf32>) {{
    "ref.set"(%p, %x) : ({R4}, tensor<4xf32>) -> ()
    return
  }}""")
  run_pipeline(m, "builtin.module(ref-buffer-donation)")
  assert m.operation.verify()
  main = AliasAnalysis(m.operation).functions["main"]
  ftype = ir.FunctionType(ir.TypeAttr(main.op.attributes["function_type"]).value)
  assert [str(t) for t in ftype.inputs] == ["tensor<4xf32>"] * 3
  assert [str(t) for t in ftype.results] == ["tensor<4xf32>"] * 2
  arg_attrs = ir.ArrayAttr(main.op.attributes["arg_attrs"])
  assert "tf.aliasing_output = 1 : i32" in str(arg_attrs[0])
  assert "tf.aliasing_output" not in str(arg_attrs[1])
  assert 'mhlo.sharding = "{replicated}"' in str(ir.ArrayAttr(main.op.attributes["res_attrs"])[1])
  assert "!ref.ref" in str(AliasAnalysis(m.operation).functions["set"].arg_types[0])
  # Running it again changes nothing: no ref arguments are left.
  before = str(m)
  run_pipeline(m, "builtin.module(ref-buffer-donation)")
  assert str(m) == before


def test_donation_error_is_a_diagnostic():
  m = parse(f"""
  func.func @main(%a: {R4}) {{
    call @ext(%a) : ({R4}) -> ()
    return
  }}
  func.func private @ext({R4})""")
  with pytest.raises(PipelineFailure) as e:
    run_pipeline(m, "builtin.module(ref-buffer-donation)")
  assert "@ext, which has no body" in str(e.value)


# -- windows against brute force ------------------------------------------------

@st.composite
def view_chain(draw, shape=(12, 6)):
  """A chain of views on a root of `shape`: (indexer, concrete offsets)."""
  chain = []
  cur = tuple(shape)
  for _ in range(draw(st.integers(1, 3))):
    if not cur:
      break
    offsets, sizes, strides, concrete, squeezed = [], [], [], [], []
    for d, n in enumerate(cur):
      stride = draw(st.integers(1, 3))
      size = draw(st.integers(1, max(1, (n - 1) // stride + 1)))
      extent = (size - 1) * stride + 1
      off = draw(st.integers(0, n - extent))
      dynamic = draw(st.booleans())
      offsets.append(DYNAMIC if dynamic else off)
      concrete.append(off)
      sizes.append(size)
      strides.append(stride)
      if size == 1 and draw(st.booleans()):
        squeezed.append(d)
    idx = Indexer(cur, tuple(offsets), tuple(sizes), tuple(strides), tuple(squeezed))
    chain.append((idx, concrete))
    cur = idx.value_shape
  return chain


def brute(shape, chain) -> set[int]:
  arr = np.arange(int(np.prod(shape))).reshape(shape)
  for idx, concrete in chain:
    sl = tuple(slice(o, o + (idx.sizes[d] - 1) * idx.strides[d] + 1, idx.strides[d])
               for d, o in enumerate(concrete))
    arr = arr[sl]
    arr = arr.reshape(idx.value_shape)
  return set(arr.ravel().tolist())


def window(shape, chain) -> Window:
  w = Window.whole(shape)
  for idx, _ in chain:
    w = w.compose(idx)
  return w


def window_elements(shape, w: Window) -> set[int]:
  ranges = [range(d.offset, d.offset + d.size * d.stride, d.stride) for d in w.dims]
  arr = np.arange(int(np.prod(shape))).reshape(shape)
  return set(arr[np.ix_(*ranges)].ravel().tolist())


@settings(max_examples=150, deadline=None)
@given(view_chain(), view_chain())
def test_window_alias_is_sound(c1, c2):
  shape = (12, 6)
  e1, e2 = brute(shape, c1), brute(shape, c2)
  w1, w2 = window(shape, c1), window(shape, c2)
  for w, e in ((w1, e1), (w2, e2)):
    # Bounds hold; exact windows are exactly the elements.
    coords = np.array(np.unravel_index(sorted(e), shape)).T
    for r, d in enumerate(w.dims):
      assert d.lo <= coords[:, r].min() and coords[:, r].max() < d.hi
    if w.exact:
      assert window_elements(shape, w) == e
  res = windows_alias(w1, w2)
  if res is AliasResult.NO:
    assert not e1 & e2
  elif res is AliasResult.MUST:
    assert e1 == e2


# -- call graph ---------------------------------------------------------------


_CALLS = """
func.func @main(%x: tensor<i32>) -> tensor<i32> {
  %r = stablehlo.while(%i = %x) : tensor<i32>
   cond {
    %c = func.call @cond(%i) : (tensor<i32>) -> tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    %n = func.call @body(%i) : (tensor<i32>) -> tensor<i32>
    stablehlo.return %n : tensor<i32>
  }
  %s = func.call @loops(%r) : (tensor<i32>) -> tensor<i32>
  return %s : tensor<i32>
}
func.func private @cond(%x: tensor<i32>) -> tensor<i1> {
  %c = stablehlo.constant dense<true> : tensor<i1>
  return %c : tensor<i1>
}
func.func private @body(%x: tensor<i32>) -> tensor<i32> {
  %y = func.call @leaf(%x) : (tensor<i32>) -> tensor<i32>
  return %y : tensor<i32>
}
func.func private @leaf(%x: tensor<i32>) -> tensor<i32> {
  return %x : tensor<i32>
}
func.func private @loops(%x: tensor<i32>) -> tensor<i32> {
  %y = func.call @inner(%x) : (tensor<i32>) -> tensor<i32>
  return %y : tensor<i32>
}
func.func private @inner(%x: tensor<i32>) -> tensor<i32> {
  %r = stablehlo.while(%i = %x) : tensor<i32>
   cond {
    %c = stablehlo.constant dense<false> : tensor<i1>
    stablehlo.return %c : tensor<i1>
  } do {
    stablehlo.return %i : tensor<i32>
  }
  return %r : tensor<i32>
}
func.func private @ping(%x: tensor<i32>) -> tensor<i32> {
  %y = func.call @pong(%x) : (tensor<i32>) -> tensor<i32>
  return %y : tensor<i32>
}
func.func private @pong(%x: tensor<i32>) -> tensor<i32> {
  %y = func.call @ping(%x) : (tensor<i32>) -> tensor<i32>
  return %y : tensor<i32>
}
"""


def test_call_graph():
  from refhlo.compiler.analysis.callgraph import CallGraph
  m = parse(_CALLS)
  g = CallGraph.of(m.operation)
  assert g.callees("main") == ["cond", "body", "loops"]
  # Called from a loop's condition or body, or from a function that is.
  assert g.in_loops() == {"cond", "body", "leaf"}
  assert g.recursive() == {"ping", "pong"}
  assert g.called() == {"cond", "body", "leaf", "loops", "inner", "ping", "pong"}
  assert g.call_sites()["leaf"].name == "func.call"
  # A loop runs in @loops only through its callee; none in @body's calls.
  assert g.runs_loop(g.funcs["loops"]) and g.runs_loop(g.funcs["main"])
  assert not g.runs_loop(g.funcs["body"]) and not g.runs_loop(g.funcs["ping"])
  # Alias analysis builds the same graph from its own walk.
  aa = AliasAnalysis(m)
  assert aa.call_graph.recursive() == {"ping", "pong"}
  assert set(aa.call_graph.call_sites()) == g.called()
