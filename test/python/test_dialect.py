"""The `ref` dialect's Python API: types, the Indexer, op builders and
accessors, and the verifier as a plain function (`verify_module`).

The lit tests (test/Dialect, test/Transforms/ref_verify.mlir) cover the
textual IR; these cover what only Python can reach: Indexer arithmetic,
builders, and IR the parser would reject but a frontend could build.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import func

from refhlo.compiler.context import make_context
from refhlo.compiler.dialect import (
    DYNAMIC,
    Indexer,
    IndexerError,
    RefAddUpdateOp,
    RefEmptyOp,
    RefFreeOp,
    RefFreezeOp,
    RefGetOp,
    RefNewOp,
    RefSetOp,
    RefSwapOp,
    RefViewOp,
    is_ref_type,
    ref_type,
    ref_value_type,
)
from refhlo.compiler.dialect.indexer import window_extent
from refhlo.compiler.dialect.types import RefTypeError, is_numeric
from refhlo.compiler.pipeline import PipelineFailure, run_pipeline
from refhlo.compiler.transforms.ref_verify import VerifyError, verify_module


@pytest.fixture
def ctx():
  context = make_context()
  with context, ir.Location.unknown():
    yield context


def tensor(shape, elt="f32"):
  return ir.RankedTensorType.get(list(shape), ir.Type.parse(elt))


def parse(text: str, name: str = "t.mlir") -> ir.Operation:
  return ir.Operation.parse(text, source_name=name)


def messages(errors: list[VerifyError]) -> list[str]:
  return [e.message for e in errors]


# -- types ----------------------------------------------------------------------


def test_ref_type_round_trip(ctx):
  t = ref_type(tensor((8, 4)))
  assert str(t) == "!ref.ref<tensor<8x4xf32>>"
  assert is_ref_type(t)
  assert ref_value_type(t) == tensor((8, 4))
  assert ir.Type.parse("!ref.ref<tensor<8x4xf32>>") == t
  assert not is_ref_type(tensor((8, 4)))


@pytest.mark.parametrize("text, why", [
    ("!ref.ref<tensor<?xf32>>", "statically shaped"),
    ("!ref.ref<tensor<*xf32>>", "ranked tensor"),
    ("!ref.ref<f32>", "ranked tensor"),
    ("!ref.ref<tensor<4xindex>>", "integer, float or i1"),
    ("!ref.ref<tensor<4xcomplex<f32>>>", "integer, float or i1"),
    ("!ref.foo<tensor<4xf32>>", "unknown type"),
    ("!ref.ref<tensor<4xfoo>>", "not a valid type"),
])
def test_malformed_ref_types(ctx, text, why):
  t = ir.Type.parse(text)
  assert is_ref_type(t)
  with pytest.raises(RefTypeError, match=why):
    ref_value_type(t)


def test_is_numeric(ctx):
  assert is_numeric(ir.Type.parse("f32")) and is_numeric(ir.Type.parse("i8"))
  assert is_numeric(ir.Type.parse("bf16")) and is_numeric(ir.Type.parse("ui32"))
  assert not is_numeric(ir.Type.parse("i1"))


# -- Indexer arithmetic -----------------------------------------------------------


def test_whole():
  idx = Indexer.whole((8, 4))
  assert idx.is_whole and idx.is_static and not idx.is_strided
  assert idx.value_shape == (8, 4)
  assert idx.num_operands() == 0
  idx.check()


def test_value_shape_squeezed_strided_dynamic():
  idx = Indexer((8, 4, 6), (DYNAMIC, 1, 0), (1, 2, 3), (1, 2, 2),
                squeezed_dims=(0,))
  idx.check()
  assert idx.value_shape == (2, 3)
  assert idx.kept_dims == (1, 2)
  assert idx.dynamic_dims == (0,) and idx.num_dynamic_offsets == 1
  assert idx.is_strided and not idx.is_static and not idx.is_whole
  assert idx.num_operands() == 1


def test_value_shape_indexed_batch_first():
  # ref[idx[..., 0], :, idx[..., 1]] with idx: [2, 3, 2] -> value [2, 3, 4].
  idx = Indexer((8, 4, 6), (0, 0, 0), (1, 4, 1), (1, 1, 1),
                indexed_dims=(0, 2), batch_shape=(2, 3))
  idx.check()
  assert idx.value_shape == (2, 3, 4)
  assert idx.has_indices and idx.num_operands() == 1


def test_value_shape_indexed_squeezed_and_dynamic():
  idx = Indexer((8, 4, 6), (0, DYNAMIC, 0), (1, 1, 1), (1, 1, 1),
                squeezed_dims=(1,), indexed_dims=(0, 2), batch_shape=(5,))
  idx.check()
  assert idx.value_shape == (5,)
  assert idx.num_operands() == 2


def test_window_extent():
  # First to last element inclusive; an empty window spans nothing, at any
  # stride (a stride-3 window of 0 elements must not span -2).
  idx = Indexer((8, 9, 5), (0, 1, 5), (4, 3, 0), (1, 3, 3))
  idx.check()
  assert [idx.extent(d) for d in range(3)] == [4, 7, 0]
  assert window_extent(1, 5) == 1 and window_extent(0, 3) == 0
  with pytest.raises(IndexerError, match="does not fit"):
    Indexer((8, 6), (0, 0), (1, 3), (1, 3)).check()  # spans 7 of 6


def test_empty_window_is_valid():
  idx = Indexer((8, 4), (8, 0), (0, 4), (1, 1))
  idx.check()
  assert idx.value_shape == (0, 4)


def test_attributes_round_trip(ctx):
  idx = Indexer((8, 4, 6), (DYNAMIC, 1, 0), (1, 2, 3), (1, 2, 1),
                squeezed_dims=(0,))
  attrs = idx.to_attributes()
  assert set(attrs) == {"static_offsets", "static_sizes", "static_strides",
                        "squeezed_dims"}
  assert list(ir.DenseI64ArrayAttr(attrs["static_offsets"])) == [DYNAMIC, 1, 0]
  assert Indexer.from_attributes(attrs, (8, 4, 6)) == idx


def test_attributes_round_trip_indexed(ctx):
  idx = Indexer((8, 4), (0, 0), (1, 4), (1, 1), indexed_dims=(0,),
                batch_shape=(2, 3))
  attrs = idx.to_attributes()
  assert set(attrs) == {"static_sizes", "indexed_dims"}
  assert Indexer.from_attributes(attrs, (8, 4), (2, 3, 1)) == idx


def test_defaults_are_omitted(ctx):
  assert Indexer.whole((3, 5)).to_attributes() == {}
  assert Indexer.from_attributes({}, (3, 5)) == Indexer.whole((3, 5))


@st.composite
def indexers(draw):
  rank = draw(st.integers(1, 4))
  shape = tuple(draw(st.lists(st.integers(1, 9), min_size=rank, max_size=rank)))
  offsets, sizes, strides, squeezed, indexed = [], [], [], [], []
  for d, n in enumerate(shape):
    kind = draw(st.sampled_from(["slice", "squeeze", "index"]))
    if kind == "index":
      indexed.append(d)
      offsets.append(0), sizes.append(1), strides.append(1)
      continue
    stride = draw(st.integers(1, 3))
    size = 1 if kind == "squeeze" else draw(st.integers(0, (n - 1) // stride + 1))
    extent = (size - 1) * stride + 1 if size else 0
    off = draw(st.sampled_from([DYNAMIC, draw(st.integers(0, n - extent))]))
    if kind == "squeeze":
      squeezed.append(d)
    offsets.append(off), sizes.append(size), strides.append(stride)
  batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if indexed else ()
  return Indexer(shape, tuple(offsets), tuple(sizes), tuple(strides),
                 tuple(squeezed), tuple(indexed), batch)


@settings(max_examples=60, deadline=None)
@given(idx=indexers())
def test_round_trip_and_value_shape_property(idx):
  with make_context():
    idx.check()
    indices_shape = idx.batch_shape + (len(idx.indexed_dims),) \
        if idx.indexed_dims else None
    back = Indexer.from_attributes(idx.to_attributes(), idx.ref_shape,
                                   indices_shape)
    assert back == idx
    dropped = len(idx.squeezed_dims) + len(idx.indexed_dims)
    assert len(idx.value_shape) == len(idx.batch_shape) + idx.rank - dropped


@pytest.mark.parametrize("changes, message", [
    (dict(strides=(0, 1)), "stride 0 in dim 0 must be >= 1"),
    (dict(sizes=(-1, 4)), "size -1 in dim 0 must be >= 0"),
    (dict(offsets=(-3, 0)), "offset -3 in dim 0 must be >= 0"),
    (dict(offsets=(6, 0), sizes=(4, 4)), r"window \[6, 10\) in dim 0"),
    (dict(sizes=(5, 4), strides=(2, 1)), "does not fit"),
    (dict(offsets=(DYNAMIC, 0), sizes=(9, 4)), "does not fit"),
    (dict(squeezed_dims=(2,)), "out of range"),
    (dict(squeezed_dims=(1, 0), sizes=(1, 1)), "must be sorted"),
    (dict(squeezed_dims=(0, 0), sizes=(1, 4)), "repeated"),
    (dict(squeezed_dims=(0,)), "squeezed dim 0 must have size 1, got 8"),
    (dict(indexed_dims=(0,)), "indexed dim 0 must have size 1, got 8"),
    (dict(indexed_dims=(0,), offsets=(1, 0), sizes=(1, 4)), "static offset 0"),
    (dict(indexed_dims=(0,), squeezed_dims=(0,), sizes=(1, 4)),
     "both squeezed and indexed"),
])
def test_check_failures(changes, message):
  idx = dataclasses.replace(Indexer.whole((8, 4)), **changes)
  with pytest.raises(IndexerError, match=message):
    idx.check()


def test_from_attributes_failures(ctx):
  i64 = lambda *v: ir.DenseI64ArrayAttr.get(list(v))
  with pytest.raises(IndexerError, match="has 1 entries"):
    Indexer.from_attributes({"static_sizes": i64(8)}, (8, 4))
  with pytest.raises(IndexerError, match="dense i64 array"):
    Indexer.from_attributes({"static_offsets": ir.Attribute.parse("[0, 0]")},
                            (8, 4))
  with pytest.raises(IndexerError, match="dense i64 array"):
    Indexer.from_attributes(
        {"static_offsets": ir.Attribute.parse("array<i32: 0, 0>")}, (8, 4))
  with pytest.raises(IndexerError, match="no indices operand"):
    Indexer.from_attributes({"indexed_dims": i64(0)}, (8, 4))
  with pytest.raises(IndexerError, match="rank >= 1"):
    Indexer.from_attributes({"indexed_dims": i64(0)}, (8, 4), ())


def test_split_operands(ctx):
  m = parse("""
  func.func @f(%i: tensor<i32>, %j: tensor<i32>, %idx: tensor<3x1xi32>) {
    return
  }""")
  i, j, idx_v = m.regions[0].blocks[0].arguments
  idx = Indexer((8, 4, 6), (DYNAMIC, 0, DYNAMIC), (1, 1, 6), (1, 1, 1),
                squeezed_dims=(0,), indexed_dims=(1,), batch_shape=(3,))
  dyn, indices = idx.split_operands([i, j, idx_v])
  assert dyn == [i, j] and indices == idx_v
  dyn, indices = Indexer.whole((8,)).split_operands([])
  assert dyn == [] and indices is None


# -- builders and accessors -----------------------------------------------------


def _function(arg_types):
  module = ir.Module.create()
  with ir.InsertionPoint(module.body):
    f = func.FuncOp("f", ir.FunctionType.get(arg_types, []))
  block = f.add_entry_block()
  return module, block


def test_builders_and_accessors(ctx):
  r_t = ref_type(tensor((8, 4)))
  module, block = _function([r_t, tensor(()), tensor((4,)), tensor((3, 1), "i32"),
                             tensor((), "i32")])
  r, x, row, idx_v, i = block.arguments
  with ir.InsertionPoint(block):
    new = RefNewOp.build(row)
    empty = RefEmptyOp.build(tensor((2, 3), "i32"))
    whole = RefGetOp.build(r)
    dyn_idx = Indexer((8, 4), (DYNAMIC, 0), (1, 4), (1, 1), squeezed_dims=(0,))
    get = RefGetOp.build(r, dyn_idx, [i])
    swap = RefSwapOp.build(r, row, dyn_idx, [i])
    setop = RefSetOp.build(r, get.result, dyn_idx, [i])
    gather_idx = Indexer((8, 4), (0, 0), (1, 4), (1, 1), indexed_dims=(0,),
                         batch_shape=(3,))
    gathered = RefGetOp.build(r, gather_idx, indices=idx_v)
    add = RefAddUpdateOp.build(r, gathered.result, gather_idx, indices=idx_v)
    view = RefViewOp.build(r, Indexer((8, 4), (2, 0), (4, 4), (1, 1)))
    vget = RefGetOp.build(view.result)
    freeze = RefFreezeOp.build(new.result)
    free = RefFreeOp.build(empty.result)
    func.ReturnOp([])

  assert str(new.result.type) == "!ref.ref<tensor<4xf32>>" and new.init == row
  assert str(empty.result.type) == "!ref.ref<tensor<2x3xi32>>"
  assert whole.result.type == tensor((8, 4)) and whole.indexer.is_whole
  assert whole.dynamic_offsets == [] and whole.indices is None
  assert get.result.type == tensor((4,))
  assert get.ref == r and get.dynamic_offsets == [i] and get.indices is None
  assert get.indexer == dyn_idx
  assert swap.result.type == tensor((4,)) and swap.value == row
  assert swap.dynamic_offsets == [i]
  assert len(setop.operation.results) == 0 and setop.value == get.result
  assert gathered.result.type == tensor((3, 4)) and gathered.indices == idx_v
  assert gathered.indexer == gather_idx
  assert add.indices == idx_v and add.dynamic_offsets == []
  assert str(view.result.type) == "!ref.ref<tensor<4x4xf32>>"
  assert view.indexer.offsets == (2, 0) and view.dynamic_offsets == []
  assert vget.result.type == tensor((4, 4))
  assert freeze.result.type == tensor((4,)) and freeze.ref == new.result
  assert free.ref == empty.result and len(free.operation.results) == 0

  # Walking the module yields the OpView classes, and the built IR verifies.
  kinds = [type(op).__name__ for op in block.operations]
  assert kinds[:3] == ["RefNewOp", "RefEmptyOp", "RefGetOp"]
  assert "RefViewOp" in kinds and "RefFreeOp" in kinds
  assert module.operation.verify()
  assert verify_module(module.operation) == []
  run_pipeline(module, "ref-verify")


def test_opviews_from_parsed_ir(ctx):
  m = parse("""
  func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
    %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
            static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
          : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
    return %old : tensor<4xf32>
  }""")
  buf, i, row = m.regions[0].blocks[0].arguments
  swap = list(m.regions[0].blocks[0].operations)[0]
  assert isinstance(swap, RefSwapOp)
  assert swap.ref == buf and swap.value == row and swap.dynamic_offsets == [i]
  assert swap.indexer.value_shape == (4,)
  assert verify_module(m) == []


# -- the verifier as a function ----------------------------------------------------


def test_verify_module_reports_all_errors_at_their_ops(ctx):
  m = parse("""
  module {
    func.func @f(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4xf32>) {
      "ref.set"(%r, %v) : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>) -> ()
      %x = "ref.get"(%r) {static_strides = array<i64: 0, 1>} : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
      "ref.free"(%r) : (!ref.ref<tensor<8x4xf32>>) -> ()
      %y = "ref.get"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
      return
    }
  }""", name="errs.mlir")
  errors = verify_module(m)
  assert [str(e.location) for e in errors] == [
      'loc("errs.mlir":4:7)', 'loc("errs.mlir":5:12)', 'loc("errs.mlir":7:12)']
  msgs = messages(errors)
  assert msgs[0].startswith("'ref.set' op value type tensor<4xf32>")
  assert msgs[1] == "'ref.get' op stride 0 in dim 0 must be >= 1"
  assert msgs[2].startswith("'ref.get' op uses a ref after its 'ref.free' at errs.mlir:6:7")
  op, message = errors[0]  # a (where, message) pair
  assert op.name == "ref.set" and message == msgs[0]

  with pytest.raises(PipelineFailure) as info:
    run_pipeline(m, "ref-verify")
  diags = info.value.diagnostics
  assert [(d.loc.line, d.message) for d in diags] == [
      (4, msgs[0]), (5, msgs[1]), (7, msgs[2])]


def test_freeze_in_nested_block_does_not_kill_outer_ref(ctx):
  m = parse("""
  func.func @f(%r: !ref.ref<tensor<4xf32>>, %p: tensor<i1>) -> tensor<4xf32> {
    %0 = "stablehlo.if"(%p) ({
      %v = "ref.freeze"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
      stablehlo.return %v : tensor<4xf32>
    }, {
      %w = "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
      stablehlo.return %w : tensor<4xf32>
    }) : (tensor<i1>) -> tensor<4xf32>
    %u = "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>
    return %u : tensor<4xf32>
  }""")
  assert verify_module(m) == []


def _with_control_flow(kind: str):
  """A function whose `kind` op takes a ref operand or result, built without
  the parser (StableHLO's own verifier would reject it while parsing)."""
  m = parse("""
  func.func @f(%r: !ref.ref<tensor<4xf32>>, %p: tensor<i1>, %k: tensor<i32>) {
    return
  }""")
  block = m.regions[0].blocks[0]
  r, p, k = block.arguments
  ret = list(block.operations)[-1]
  with ir.InsertionPoint(ret):
    if kind == "stablehlo.while":
      op = ir.Operation.create(kind, results=[r.type], operands=[r], regions=2)
      for region in op.regions:
        b = region.blocks.append(r.type)
        with ir.InsertionPoint(b):
          ir.Operation.create("stablehlo.return", operands=[b.arguments[0]])
    else:
      sel = p if kind == "stablehlo.if" else k
      op = ir.Operation.create(kind, results=[r.type], operands=[sel], regions=2)
      for region in op.regions:
        b = region.blocks.append()
        with ir.InsertionPoint(b):
          ir.Operation.create("stablehlo.return", operands=[r])
  return m


@pytest.mark.parametrize("kind, message", [
    ("stablehlo.while", "'stablehlo.while' op operand #0 is a ref "
     "(!ref.ref<tensor<4xf32>>): refs are never operands of 'stablehlo.while'"),
    ("stablehlo.if", "'stablehlo.if' op result #0 is a ref "
     "(!ref.ref<tensor<4xf32>>): refs are never results of 'stablehlo.if'"),
    ("stablehlo.case", "'stablehlo.case' op result #0 is a ref "
     "(!ref.ref<tensor<4xf32>>): refs are never results of 'stablehlo.case'"),
])
def test_refs_never_pass_through_control_flow(ctx, kind, message):
  m = _with_control_flow(kind)
  msgs = messages(verify_module(m))
  assert any(s.startswith(message) for s in msgs), msgs
  # The region terminators that yield the ref are reported too.
  assert any(s.startswith("'stablehlo.return' op operand #0 is a ref") for s in msgs)


def test_region_argument_of_while_is_one_error_per_op(ctx):
  m = _with_control_flow("stablehlo.while")
  msgs = [s for s in messages(verify_module(m)) if s.startswith("'stablehlo.while'")]
  assert len(msgs) == 1


def test_verify_accepts_module_object_and_funcs(ctx):
  m = parse("""
  func.func @f(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xi32> {
    %v = "ref.get"(%r) : (!ref.ref<tensor<4xf32>>) -> tensor<4xi32>
    return %v : tensor<4xi32>
  }""")
  assert len(verify_module(m)) == 1
  module = ir.Module.create()
  module.body.append(m)
  assert len(verify_module(module)) == 1  # an ir.Module
  assert len(verify_module(module.operation)) == 1


def test_each_op_declares_its_attributes():
  from refhlo.compiler.dialect import ACCESS_OPS, REF_OPS
  from refhlo.compiler.dialect.indexer import ATTR_NAMES
  for name, cls in REF_OPS.items():
    assert set(cls.ATTRIBUTES) <= set(ATTR_NAMES), name
    assert bool(cls.ATTRIBUTES) == (name in ACCESS_OPS), name
  assert "indexed_dims" not in RefViewOp.ATTRIBUTES
  assert RefGetOp.ATTRIBUTES == ATTR_NAMES


@pytest.mark.parametrize("name,ok", [
    ("ref.donated", True), ("refhlo.ref_results", True), ("mhlo.sharding", True),
    ("__roots__", True), ("__inplace_operands_attr__", True), ("static_offset", False),
    ("foo", False), ("__", False), ("____", False), ("_x_", False)])
def test_discardable_attribute_names(name, ok):
  from refhlo.compiler.dialect import is_discardable_attribute
  assert is_discardable_attribute(name) == ok


def test_unknown_attribute_on_a_built_op(ctx):
  """A frontend that sets a misspelled attribute gets the verifier's error."""
  m = parse("""
  func.func @f(%r: !ref.ref<tensor<8xf32>>) {
    return
  }""")
  fn = m.regions[0].blocks[0].operations[0] if m.name == "builtin.module" else m
  block = fn.regions[0].blocks[0]
  with ir.InsertionPoint.at_block_begin(block):
    get = RefGetOp.build(block.arguments[0]).operation
  assert verify_module(m) == []
  get.attributes["static_offset"] = ir.DenseI64ArrayAttr.get([2])
  get.attributes["refhlo.fine"] = ir.UnitAttr.get()
  assert messages(verify_module(m)) == [
      "'ref.get' op has unknown attribute 'static_offset'; did you mean 'static_offsets'?"]


def test_analysis_annotations_verify(tmp_path):
  """The analyses' test-mode output (`__roots__`, `__effects__`, ...) can be
  read back: ref-opt verifies what it parses."""
  import pathlib
  import subprocess
  import sys
  ops = pathlib.Path(__file__).resolve().parents[1] / "Dialect" / "ops.mlir"
  cmd = [sys.executable, "-m", "refhlo.compiler.tools.ref_opt"]
  for flag in ("--ref-alias-analysis", "--ref-effect-analysis"):
    first = subprocess.run(cmd + [str(ops), "--split-input-file", flag],
                           capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr.decode()
    assert b"__" in first.stdout
    again = subprocess.run(cmd + ["--split-input-file", "--ref-verify"], input=first.stdout,
                           capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr.decode()


def test_verifier_is_fast_on_large_modules(ctx):
  body = "\n".join(
      f'    %v{k} = "ref.get"(%r, %i) {{static_offsets = array<i64: -9223372036854775808, 0>, '
      'static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} '
      f': (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<4xf32>\n'
      f'    "ref.set"(%r, %v{k}, %i) {{static_offsets = array<i64: -9223372036854775808, 0>, '
      'static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>} '
      ': (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> ()'
      for k in range(2000))
  m = parse("func.func @f(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) {\n"
            f"{body}\n    return\n}}")
  import time
  t0 = time.perf_counter()
  assert verify_module(m) == []
  assert time.perf_counter() - t0 < 5.0


def test_every_op_has_every_rule():
  """Each ref op declares its traits once (dialect/ops.py); every place that
  gives an op a meaning has a rule for each op, and the derived tables agree
  with the traits, so that a new op cannot be half-added."""
  from refhlo.compiler import interpreter
  from refhlo.compiler.analysis.effects import REF_OP_EFFECTS, Effect
  from refhlo.compiler.dialect import ops
  from refhlo.compiler.transforms import ref_effect_elimination as ee
  names = set(ops.REF_OPS)
  assert names == {n for n in interpreter._RULES if n.startswith("ref.")}
  assert names == set(REF_OP_EFFECTS)
  assert names == set(ee._PROMOTION_RULES)
  for name, c in ops.REF_OPS.items():
    e = REF_OP_EFFECTS[name]
    assert (Effect.READ in e) == c.READS and (Effect.WRITE in e) == c.WRITES
    assert (Effect.ACCUMULATE in e) == c.ACCUMULATES
    # A value operand is what a write or an accumulation writes.
    assert c.HAS_VALUE_OPERAND == (c.WRITES or c.ACCUMULATES), name
    # Every op but the creators takes a ref first; views and creators make one.
    assert not (c.CREATES_ROOT and (c.READS or c.WRITES or c.HAS_INDEXER)), name
    assert not (c.ENDS_LIFE and (c.HAS_INDEXER or c.WRITES)), name
  assert ee._WRITE_OPS == ("ref.set", "ref.swap", "ref.addupdate")
  assert set(ops.ACCESS_OPS) == {"ref.get", "ref.set", "ref.swap", "ref.addupdate",
                                 "ref.view"}
