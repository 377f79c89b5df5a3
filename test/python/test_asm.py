"""The pretty assembly format of the `ref` ops (refhlo.compiler.dialect.asm).

What must hold, and why each test is here:

- generic -> pretty -> generic is the identity on the IR, and pretty ->
  generic -> pretty the identity on the text: over every .mlir file of the
  repository (chunk by chunk), over what ref-opt prints for each lit RUN
  line, over every op with every combination of indexer attributes, with
  discardable attributes and locations, inside nested regions;
- IR the grammar cannot express stays generic, and text that only mentions
  a ref op (strings, comments, name locations, attribute names) is untouched;
- `to_generic` keeps every line where it was and gives each rewritten op the
  location of its name; its syntax errors carry their line:col;
- ref-opt prints the pretty form (generic with --mlir-print-op-generic),
  parses both, and reports pretty syntax errors as MLIR diagnostics.
"""

from __future__ import annotations

import io
import itertools
import pathlib
import re
import shlex

import pytest
from hypothesis import given, settings, strategies as st
from jaxlib.mlir import ir

from refhlo.compiler.context import make_context
from refhlo.compiler.dialect import asm
from refhlo.compiler.dialect.types import DYNAMIC
from refhlo.compiler.tools import ref_opt

ROOT = pathlib.Path(__file__).resolve().parents[2]
MLIR_FILES = sorted(
    str(p.relative_to(ROOT)) for p in list((ROOT / "test").rglob("*.mlir"))
    + list((ROOT / "docs" / "examples").rglob("*.mlir"))
    if "Output" not in p.parts)
LIT_FILES = [f for f in MLIR_FILES if f.startswith("test/")]


def parse(text: str, ctx: ir.Context, filename: str = "t.mlir") -> ir.Operation:
  """As ref-opt parses: both forms, wrapped in a module if needed."""
  return ref_opt.parse_source(text, filename, ctx)[0]


def generic(op: ir.Operation, debug: bool = False) -> str:
  return op.get_asm(print_generic_op_form=True, enable_debug_info=debug)


def check_round_trip(printed: str, ctx: ir.Context, debug: bool = False) -> str:
  """`printed` is MLIR's text (ref ops generic): its pretty form parses to
  the same IR as it does, and prints back to the same pretty text."""
  pretty = asm.to_pretty(printed)
  want = generic(parse(printed, ctx), debug)
  back = parse(asm.to_generic(pretty, "t.mlir"), ctx)
  assert generic(back, debug) == want, pretty
  assert asm.to_pretty(back.get_asm(enable_debug_info=debug)) == pretty
  return pretty


def verifies(op: ir.Operation) -> bool:
  return not ref_opt.verify_parsed(op)


def test_grammar_covers_every_op():
  """asm.py is text-only; its op tables must agree with the OpViews."""
  from refhlo.compiler.dialect import ops
  assert set(asm.OP_NAMES) == set(ops.REF_OPS)
  assert set(asm.ACCESS_OPS) == set(ops.ACCESS_OPS)
  assert set(asm._WRITE_OPS) == {n for n, c in ops.REF_OPS.items() if c.HAS_VALUE_OPERAND}
  assert set(asm._CLAUSES) == set(ops.RefGetOp.ATTRIBUTES)
  assert asm.DYNAMIC == DYNAMIC


# --------------------------------------------------------------------------
# Every file, every lit output
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", MLIR_FILES)
def test_every_file_round_trips(path: str):
  text = (ROOT / path).read_text()
  parsed = 0
  for chunk in ref_opt.split_input(text, True):
    ctx = make_context()
    try:
      op = parse(chunk.text, ctx, path)
    except (ir.MLIRError, asm.AsmSyntaxError, asm.RewrittenParseError):
      continue  # a negative test of the parser
    parsed += 1
    for debug in (False, True):
      pretty = check_round_trip(op.get_asm(enable_debug_info=debug), ctx, debug)
      if verifies(op):  # valid IR always has a pretty form
        assert '"ref.' not in pretty, pretty
    # The source itself: rewritten on the same lines; a line changes only
    # if it holds a ref op or continues one.
    source = asm.to_generic(chunk.text, path)
    assert source.count("\n") == chunk.text.count("\n")
    previous_changed = False
    for old, new in zip(chunk.text.split("\n"), source.split("\n")):
      if old != new:
        assert re.search(r"\bref\.[a-z]+\b", old) or previous_changed, (old, new)
      if old.strip():
        previous_changed = old != new
  assert parsed or "error" in path


# RUN lines whose output is not MLIR text in the default printed form.
_NOT_PRINTED_IR = ("--mlir-print-op-generic", "--mlir-pretty-debuginfo", "--emit-bytecode",
                   "--show-dialects", "--list-passes", "--help", "--version",
                   "--run-reproducer", "-o")


def _run_lines(path: str) -> list[list[str]]:
  """The ref-opt arguments of each `RUN: ref-opt %s ...` line (the first
  command of its pipeline) that prints IR."""
  out = []
  for m in re.finditer(r"//\s*RUN:\s*(?:not\s+)?ref-opt %s([^|\n]*)", (ROOT / path).read_text()):
    args = shlex.split(re.split(r"\s[0-9]?>", m.group(1))[0])
    if any(a.split("=")[0] in _NOT_PRINTED_IR for a in args):
      continue
    out.append([a for a in args if a != "--verify-diagnostics"])
  return out


def _ref_opt(argv: list[str]) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  try:
    rc = ref_opt.run(argv, out, err)
  except ref_opt.UsageError as e:
    return 1, "", str(e)
  return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("path", LIT_FILES)
def test_lit_outputs_round_trip(path: str):
  """What ref-opt prints for each RUN line (pretty) reparses to the IR it
  prints with --mlir-print-op-generic, and prints back the same."""
  for args in _run_lines(path):
    debug = "--mlir-print-debuginfo" in args
    rc, pretty, _ = _ref_opt([str(ROOT / path)] + args)
    rc2, plain, _ = _ref_opt([str(ROOT / path), "--mlir-print-op-generic"] + args)
    assert rc == rc2
    for p, g in zip(pretty.split("// -----\n"), plain.split("// -----\n"), strict=True):
      if not p:
        assert not g
        continue
      if '"ref.' not in g:  # nothing to rewrite (maybe dialects jaxlib cannot parse)
        assert asm.to_pretty(p) == p == asm.to_generic(p)
        continue
      ctx = make_context()
      back = parse(asm.to_generic(p), ctx)
      assert generic(back, debug) == generic(parse(g, ctx), debug), p
      assert asm.to_pretty(back.get_asm(enable_debug_info=debug)) == p


# --------------------------------------------------------------------------
# Every op, every attribute combination
# --------------------------------------------------------------------------

OFFSETS = {  # name -> (static_offsets or None, types of the dynamic operands)
    "none": (None, []),
    "static": ([1, 0], []),
    "dynamic": ([DYNAMIC, 0], ["tensor<i32>"]),
    "dynamic_i64": ([0, DYNAMIC], ["tensor<i64>"]),
    "both_dynamic": ([DYNAMIC, DYNAMIC], ["tensor<i64>", "tensor<i32>"]),
}
INDEXED = {"none": None, "empty": [], "dims": [0]}
MODES = {"none": None, "window": '"window"', "elementwise": '"elementwise"',
         "odd": '"not a mode, \\"quoted\\""'}
EXTRAS = {"none": [], "unit": ["ref.donated"],
          "several": ['refhlo.note = "x"', "__roots__ = [\"arg0\"]",
                      "mhlo.frontend_attributes = {a = \"b\"}", "zz.n = 3 : i64"]}


def _access_op(n: int, op: str, offsets: str, sizes: bool, strides: bool, squeezed: bool,
               indexed: str, mode: str, extras: str, loc: bool) -> str:
  attrs = []
  static, dyn_types = OFFSETS[offsets]
  if static is not None:
    attrs.append(f"static_offsets = array<i64: {', '.join(map(str, static))}>")
  if sizes:
    attrs.append("static_sizes = array<i64: 1, 4>")
  if strides:
    attrs.append("static_strides = array<i64: 1, 2>")
  if squeezed:
    attrs.append("squeezed_dims = array<i64: 0>")
  if INDEXED[indexed] is not None:
    attrs.append(f"indexed_dims = array<i64{': 0' if INDEXED[indexed] else ''}>")
  if MODES[mode] is not None:
    attrs.append(f"mode = {MODES[mode]}")
  attrs += EXTRAS[extras]
  operands, types = ["%r"], ["!ref.ref<tensor<8x4xf32>>"]
  if op in ("ref.set", "ref.swap", "ref.addupdate"):
    operands.append("%v")
    types.append("tensor<4xf32>")
  for t in dyn_types:
    operands.append("%i" if t == "tensor<i32>" else "%j")
    types.append(t)
  if INDEXED[indexed]:
    operands.append("%idx")
    types.append("tensor<3x1xi32>")
  result = {"ref.get": "tensor<4xf32>", "ref.swap": "tensor<4xf32>",
            "ref.view": "!ref.ref<tensor<4xf32>>"}.get(op)
  head = f"%x{n} = " if result else ""
  dict_ = " {" + ", ".join(attrs) + "}" if attrs else ""
  where = f' loc("gen.py":{len(attrs)}:7)' if loc else ""
  return (f'  {head}"{op}"({", ".join(operands)}){dict_} : ({", ".join(types)}) -> '
          f'{result or "()"}{where}\n')


FUNC_HEAD = ("func.func @f(%r: !ref.ref<tensor<8x4xf32>>, %v: tensor<4xf32>, %i: tensor<i32>, "
             "%j: tensor<i64>, %idx: tensor<3x1xi32>, %t: tensor<4xf32>) {\n")


@pytest.mark.parametrize("op", asm.ACCESS_OPS)
def test_every_indexer_combination(op: str):
  ops = [_access_op(n, op, *combo) for n, combo in enumerate(itertools.product(
      OFFSETS, (False, True), (False, True), (False, True), INDEXED, MODES, EXTRAS,
      (False, True)))]
  text = FUNC_HEAD + "".join(ops) + "  return\n}\n"
  ctx = make_context()
  printed = parse(text, ctx).get_asm()
  for debug in (False, True):
    pretty = check_round_trip(parse(text, ctx).get_asm(enable_debug_info=debug), ctx, debug)
    assert '"ref.' not in pretty
    assert pretty.count(op + " ") == len(ops)
  assert "-9223372036854775808" not in asm.to_pretty(printed)


@pytest.mark.parametrize("generic_text,pretty_text", [
    ('%0 = "ref.new"(%arg0) : (tensor<4xf32>) -> !ref.ref<tensor<4xf32>>',
     "%0 = ref.new %arg0 : !ref.ref<tensor<4xf32>>"),
    ('%0 = "ref.empty"() {ref.donated} : () -> !ref.ref<tensor<2x3xi32>>',
     "%0 = ref.empty {ref.donated} : !ref.ref<tensor<2x3xi32>>"),
    ('%0 = "ref.freeze"(%arg1) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>',
     "%0 = ref.freeze %arg1 : !ref.ref<tensor<8x4xf32>>"),
    ('"ref.free"(%arg1) {refhlo.note = "x"} : (!ref.ref<tensor<8x4xf32>>) -> ()',
     'ref.free %arg1 {refhlo.note = "x"} : !ref.ref<tensor<8x4xf32>>'),
    ('%0 = "ref.get"(%arg1, %arg2) {squeezed_dims = array<i64: 0>, static_offsets = '
     'array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 4>} : '
     '(!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> tensor<4xf32>',
     "%0 = ref.get %arg1[%arg2, 0] sizes [1, 4] squeezed [0] : "
     "!ref.ref<tensor<8x4xf32>> -> tensor<4xf32>"),
    ('"ref.set"(%arg1, %arg0, %arg3) {mode = "elementwise", squeezed_dims = array<i64: 1>, '
     'static_offsets = array<i64: 0, -9223372036854775808>, static_sizes = array<i64: 4, 1>, '
     'static_strides = array<i64: 2, 1>} : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, '
     'tensor<i64>) -> ()',
     "ref.set %arg1[0, %arg3: tensor<i64>] sizes [4, 1] strides [2, 1] squeezed [1] "
     "mode elementwise, %arg0 : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>"),
    ('%0 = "ref.swap"(%arg1, %arg5, %arg4) {indexed_dims = array<i64: 0>, static_sizes = '
     'array<i64: 1, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x4xf32>, tensor<3x1xi32>) '
     '-> tensor<3x4xf32>',
     "%0 = ref.swap %arg1 sizes [1, 4] indexed [0] by (%arg4: tensor<3x1xi32>), %arg5 : "
     "!ref.ref<tensor<8x4xf32>>, tensor<3x4xf32> -> tensor<3x4xf32>"),
    ('"ref.addupdate"(%arg1, %arg5, %arg4) {indexed_dims = array<i64: 0>, static_sizes = '
     'array<i64: 1, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<3x4xf32>, tensor<3x1xi32>) -> ()',
     "ref.addupdate %arg1 sizes [1, 4] indexed [0] by (%arg4: tensor<3x1xi32>), %arg5 : "
     "!ref.ref<tensor<8x4xf32>>, tensor<3x4xf32>"),
    ('%0 = "ref.view"(%arg1, %arg2) {static_offsets = array<i64: -9223372036854775808, 0>, '
     'static_sizes = array<i64: 2, 4>} : (!ref.ref<tensor<8x4xf32>>, tensor<i32>) -> '
     '!ref.ref<tensor<2x4xf32>>',
     "%0 = ref.view %arg1[%arg2, 0] sizes [2, 4] : !ref.ref<tensor<8x4xf32>> -> "
     "!ref.ref<tensor<2x4xf32>>"),
    ('%0 = "ref.get"(%arg6) {static_offsets = array<i64>} : (!ref.ref<tensor<f32>>) -> '
     'tensor<f32>', "%0 = ref.get %arg6[] : !ref.ref<tensor<f32>> -> tensor<f32>"),
])
def test_printed_forms(generic_text: str, pretty_text: str):
  """Each op's pretty form, exactly; MLIR prints the generic one."""
  text = ("func.func @f(%arg0: tensor<4xf32>, %arg1: !ref.ref<tensor<8x4xf32>>, "
          "%arg2: tensor<i32>, %arg3: tensor<i64>, %arg4: tensor<3x1xi32>, "
          "%arg5: tensor<3x4xf32>, %arg6: !ref.ref<tensor<f32>>) {\n"
          f"  {pretty_text}\n  return\n}}\n")
  ctx = make_context()
  printed = parse(text, ctx).get_asm()
  assert f"    {generic_text}\n" in printed, printed
  assert f"    {pretty_text}\n" in asm.to_pretty(printed)
  check_round_trip(printed, ctx)


def test_nested_regions_and_symbols():
  text = """
  module @m {
    func.func private @g(!ref.ref<tensor<4xf32>>)
    func.func @f(%r: !ref.ref<tensor<4xf32>>, %n: tensor<i32>, %p: tensor<i1>,
                 %x: tensor<4xf32>) -> tensor<4xf32> {
      %w = stablehlo.while(%it = %n) : tensor<i32>
      cond {
        %v = ref.get %r[%it] sizes [1] squeezed [0] : !ref.ref<tensor<4xf32>> -> tensor<f32>
        %c = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
        stablehlo.return %c : tensor<i1>
      } do {
        %o = "stablehlo.if"(%p) ({
          ref.addupdate %r, %x {refhlo.inner} : !ref.ref<tensor<4xf32>>, tensor<4xf32>
          stablehlo.return %it : tensor<i32>
        }, {
          %k = "stablehlo.case"(%it) ({
            %s = ref.view %r[%it] sizes [2] : !ref.ref<tensor<4xf32>> -> !ref.ref<tensor<2xf32>>
            stablehlo.return %it : tensor<i32>
          }) : (tensor<i32>) -> tensor<i32>
          stablehlo.return %k : tensor<i32>
        }) : (tensor<i1>) -> tensor<i32>
        stablehlo.return %o : tensor<i32>
      }
      func.call @g(%r) : (!ref.ref<tensor<4xf32>>) -> ()
      %f = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>
      return %f : tensor<4xf32>
    }
  }
  """
  ctx = make_context()
  op = parse(text, ctx)
  assert verifies(op)
  for debug in (False, True):
    pretty = check_round_trip(op.get_asm(enable_debug_info=debug), ctx, debug)
    assert '"ref.' not in pretty
    assert pretty.count(" ref.") == 4 and "stablehlo.while" in pretty
  assert "ref.view %arg4[%arg4] sizes [2]" not in pretty  # names are MLIR's own
  assert re.search(r"ref\.addupdate %arg0, %arg3 \{refhlo\.inner\} :", pretty), pretty


def test_op_spellings_that_stay_generic():
  """IR the pretty grammar cannot express exactly is printed generic (and
  re-parsed as it was): printing never changes the IR."""
  ops = [
      '%0 = "ref.get"(%r, %i) : (!ref.ref<tensor<8xf32>>, tensor<i32>) -> tensor<8xf32>',
      '"ref.set"(%r) : (!ref.ref<tensor<8xf32>>) -> ()',
      '%0 = "ref.get"(%r) {static_sizes = [8]} : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>',
      '%0 = "ref.get"(%r) {static_sizes = array<i32: 8>} : (!ref.ref<tensor<8xf32>>) '
      '-> tensor<8xf32>',
      '%0 = "ref.get"(%r) {mode = 1 : i64} : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>',
      '%0 = "ref.get"(%r) {indexed_dims = array<i64: 0>} : (!ref.ref<tensor<8xf32>>) '
      '-> tensor<8xf32>',
      '%0 = "ref.new"(%x) : (tensor<8xf32>) -> !ref.ref<tensor<8xf64>>',
      '%0 = "ref.new"(%x) : (tensor<8xf32>) -> tensor<8xf32>',
      '%0 = "ref.freeze"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xi32>',
      '%0 = "ref.free"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>',
      '"ref.get"(%r) : (!ref.ref<tensor<8xf32>>) -> ()',
      '%0:2 = "ref.get"(%r) : (!ref.ref<tensor<8xf32>>) -> (tensor<8xf32>, tensor<8xf32>)',
      '%0 = "ref.empty"(%x) : (tensor<8xf32>) -> !ref.ref<tensor<8xf32>>',
      '%0 = "ref.load"(%r) : (!ref.ref<tensor<8xf32>>) -> tensor<8xf32>',
      '"ref.free"(%r) ({\n  }) : (!ref.ref<tensor<8xf32>>) -> ()',
  ]
  for generic_op in ops:
    text = ("func.func @f(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>, %x: tensor<8xf32>) {\n"
            f"  {generic_op}\n  return\n}}\n")
    ctx = make_context()
    printed = parse(text, ctx).get_asm()
    assert asm.to_pretty(printed) == printed, generic_op
    check_round_trip(printed, ctx)


def test_mentions_of_ref_ops_are_not_ops():
  text = '''
  // "ref.get"(%r) in a comment; ref.get %r too
  func.func @f(%r: !ref.ref<tensor<4xf32>>) -> tensor<4xf32>
      attributes {note = "ref.get(%r)", ref.free, ref.view = 1} {
    %v = "ref.get"(%r) {refhlo.s = "\\"ref.set\\"(%r)"} : (!ref.ref<tensor<4xf32>>)
        -> tensor<4xf32> loc("ref.get"("x.py":1:2))
    return %v : tensor<4xf32> loc(callsite("ref.set"("a.py":1:1) at "b.py":2:2))
  }
  func.func private @ref.get()
  '''
  ctx = make_context()
  parse(text, ctx)
  assert asm.to_generic(text, "t.mlir") == text  # nothing pretty to rewrite
  pretty = asm.to_pretty(text)
  assert pretty.count("= ref.get %r") == 1 and '\\"ref.set\\"(%r)' in pretty
  assert 'loc("ref.get"("x.py":1:2))' in pretty and "// \"ref.get\"(%r) in a comment" in pretty
  check_round_trip(parse(text, ctx).get_asm(enable_debug_info=True), ctx, True)


# --------------------------------------------------------------------------
# to_generic: lines and locations
# --------------------------------------------------------------------------


def test_lines_and_locations_are_kept():
  text = ("func.func @f(%r: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>) -> tensor<4xf32> {\n"
          "  %v = ref.get %r[%i, 0]   // the row\n"
          "         sizes [1, 4]\n"
          "\n"
          "         squeezed [0] : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>\n"
          "  %w = ref.get %r[%i, 0] sizes [1, 4] squeezed [0] : !ref.ref<tensor<8x4xf32>>"
          " -> tensor<4xf32> loc(\"given.py\":7:7)\n"
          "  %u = stablehlo.add %v, %w : tensor<4xf32>\n"
          "  return %u : tensor<4xf32>\n"
          "}\n")
  out = asm.to_generic(text, 'dir/"q".mlir')
  assert out.count("\n") == text.count("\n")
  assert out.split("\n")[6:] == text.split("\n")[6:]
  assert 'loc("dir/\\"q\\".mlir":2:8)' in out and out.count("loc(") == 2
  assert "// the row" not in out
  ctx = make_context()
  op = parse(out, ctx, 'dir/"q".mlir')
  locs = [str(o.location) for o in op.regions[0].blocks[0].operations[0]
          .regions[0].blocks[0].operations]
  assert locs[:3] == ['loc("dir/\\22q\\22.mlir":2:8)', 'loc("given.py":7:7)',
                      'loc("dir/\\22q\\22.mlir":7:8)']


def test_columns_count_bytes_as_mlir_does():
  text = ("func.func @f(%r: !ref.ref<tensor<4xf32>>) {\n"
          '  %a = "ref.get"(%r) {refhlo.n = "é"} : (!ref.ref<tensor<4xf32>>) -> tensor<4xf32>'
          ' %b = ref.get %r : !ref.ref<tensor<4xf32>> -> tensor<4xf32>\n'
          "  return\n}\n")
  op = parse(text, make_context())
  ops = list(op.regions[0].blocks[0].operations[0].regions[0].blocks[0].operations)
  byte_col = len(text.split("\n")[1].split("%b = ")[0].encode()) + len("%b = ") + 1
  assert str(ops[1].location) == f'loc("t.mlir":2:{byte_col})'


SYNTAX_ERRORS = [
    # (op line, column, message)
    ("%v = ref.get %r[%i, 0) : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>", 24,
     "expected ',' or ']' in the offsets, found ')'"),
    ("%v = ref.get %r[%i, 0] sizes [1, 4 : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>", 38,
     "expected ',' or ']' in the list of 'sizes', found ':'"),
    ("%v = ref.get %r size [1, 4] : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>", 19,
     "expected one of 'sizes', 'strides', 'squeezed', 'indexed', 'mode', ',', '{' or ':' "
     "in 'ref.get', found 'size'"),
    ("%v = ref.get %r : !ref.ref<tensor<8x4xf32>> tensor<4xf32>", 47,
     "expected '->' and the result type of 'ref.get', found 'tensor<4xf32>'"),
    ("ref.get %r : !ref.ref<tensor<8x4xf32>> -> tensor<8x4xf32>", 3,
     "'ref.get' has one result: expected '%x = ref.get ...'"),
    ("%a, %b = ref.get %r : !ref.ref<tensor<8x4xf32>> -> tensor<8x4xf32>", 3,
     "'ref.get' has one result, not 2"),
    ("%a:2 = ref.get %r : !ref.ref<tensor<8x4xf32>> -> tensor<8x4xf32>", 3,
     "'ref.get' has one result; a result group '%x:N' is not allowed"),
    ("%x = ref.set %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>", 3,
     "'ref.set' has no results"),
    ("ref.set %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32> -> tensor<4xf32>", 59,
     "'ref.set' has no results: no '->' type"),
    ("ref.set %r %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>", 14,
     "expected ',' and the value operand of 'ref.set', found '%v'"),
    ("ref.addupdate %r, %v : !ref.ref<tensor<4xf32>> : tensor<4xf32>", 50,
     "expected ',' and the type of the value written by 'ref.addupdate', found ':'"),
    ("%v = ref.get %r sizes [1, 4] indexed [0] : !ref.ref<tensor<8x4xf32>> -> tensor<3x4xf32>",
     44, "expected 'by (%indices: type)' after 'indexed [0]', found ':'"),
    ("%v = ref.get %r sizes [1, 4] indexed [0] by %idx : !ref.ref<tensor<8x4xf32>> -> "
     "tensor<3x4xf32>", 47,
     "expected '(' after 'by': the indices are written 'by (%indices: type)', found '%idx'"),
    ("%v = ref.get %r sizes [1, 4] indexed [0] by (%idx) : !ref.ref<tensor<8x4xf32>> -> "
     "tensor<3x4xf32>", 52, "expected ':' and the type of the indices operand, found ')'"),
    ("%v = ref.get %r indexed [] by (%i: tensor<i32>) : !ref.ref<tensor<8xf32>> -> tensor<8xf32>",
     30, "an empty 'indexed []' takes no indices operand"),
    ("%v = ref.get %r by (%i: tensor<i32>) : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 19,
     "'by (%indices: type)' must follow 'indexed [...]'"),
    ("%v = ref.get %r sizes [4] strides [1] sizes [4] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>",
     41, "duplicate 'sizes' clause in 'ref.get' (the first is at 2:19)"),
    ("%v = ref.get %r {mode = \"window\"} : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 20,
     "'mode' of 'ref.get' is written as 'mode ...' in the pretty form, not in the attribute "
     "dictionary"),
    ("%v = ref.get %r {static_offsets = array<i64: 0>} : !ref.ref<tensor<8xf32>> -> "
     "tensor<8xf32>", 20, "'static_offsets' of 'ref.get' is written as the offsets "
     "'%ref[...]' in the pretty form"),
    ("%v = ref.get %r[-9223372036854775808] : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 19,
     "offset -9223372036854775808 is MLIR's dynamic sentinel; write the SSA value of a "
     "dynamic offset instead"),
    ("%v = ref.get %r[99999999999999999999] : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 19,
     "integer 99999999999999999999 in the offsets does not fit in 64 bits"),
    ("%v = ref.get %r[0x10] : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 19,
     "expected an integer in the offsets, found '0x10'"),
    ("%v = ref.get %r[%i: ] : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 23,
     "expected the type of a dynamic offset, found ']'"),
    ("%v = ref.get %r mode : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 24,
     "expected a mode ('window' or 'elementwise') after 'mode', found ':'"),
    ("%v = ref.get 3 : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 16,
     "expected the ref operand of 'ref.get' (an SSA value such as %x), found '3'"),
    ("%v = ref.get %r {a = } : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 24,
     "expected an attribute value, found '}'"),
    ("%v = ref.get %r {a = \"x} : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 24,
     "expected an attribute value, found an unterminated string"),
    ("%v = ref.get %r {a = [1, 2} : !ref.ref<tensor<8xf32>> -> tensor<8xf32>", 29,
     "expected ',' or ']' in an array attribute, found '}'"),
    ("%v = ref.get %r : -> tensor<8xf32>", 21,
     "expected the ref type of 'ref.get' (e.g. !ref.ref<tensor<4xf32>>), found '->'"),
    ("%r = ref.new %x : tensor<4xf32>", 21,
     "expected a '!ref.ref<T>' type for 'ref.new', found 'tensor<4xf32>'"),
    ("%v = ref.freeze %r : tensor<4xf32>", 24,
     "expected a '!ref.ref<T>' type for 'ref.freeze', found 'tensor<4xf32>'"),
    ("%e = ref.empty %x : !ref.ref<tensor<4xf32>>", 18,
     "expected ':' and the types of 'ref.empty', found '%x'"),
    ("ref.free : !ref.ref<tensor<4xf32>>", 12,
     "expected the operand of 'ref.free' (an SSA value such as %x), found ':'"),
    ("%v = ref.get %r", 1, "expected ':' and the types of 'ref.get', found '}'"),
]


@pytest.mark.parametrize("line,col,message", SYNTAX_ERRORS,
                         ids=[m[:40] for _, _, m in SYNTAX_ERRORS])
def test_syntax_errors(line: str, col: int, message: str):
  text = "func.func @f() {\n  " + line + "\n}\n"
  with pytest.raises(asm.AsmSyntaxError) as info:
    asm.to_generic(text, "f.mlir")
  e = info.value
  where = (3, 1) if message.endswith("found '}'") and "attribute" not in message else (2, col)
  assert (e.line, e.col) == where and message in e.message, str(e)
  assert str(e) == f"f.mlir:{e.line}:{e.col}: error: {e.message}"
  d = e.diagnostic()
  assert (d.severity, d.message, d.loc.file, d.loc.line, d.loc.col) == (
      "error", e.message, "f.mlir", e.line, e.col)


def test_syntax_errors_on_later_lines_of_an_op():
  text = ("func.func @f(%r: !ref.ref<tensor<8xf32>>) {\n"
          "  %v = ref.get %r[0]\n"
          "         sizes [4]\n"
          "         strides [1 2] : !ref.ref<tensor<8xf32>> -> tensor<4xf32>\n"
          "  return\n}\n")
  with pytest.raises(asm.AsmSyntaxError) as info:
    asm.to_generic(text, "f.mlir")
  assert (info.value.line, info.value.col) == (4, 21)


# --------------------------------------------------------------------------
# ref-opt and the Python API
# --------------------------------------------------------------------------

PRETTY_FUNC = """\
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0], %row
      : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
  return %old : tensor<4xf32>
}
"""


def test_ref_opt_prints_pretty_and_generic(tmp_path):
  f = tmp_path / "in.mlir"
  f.write_text(PRETTY_FUNC)
  rc, out, err = _ref_opt([str(f)])
  assert rc == 0, err
  assert ("%0 = ref.swap %arg0[%arg1, 0] sizes [1, 4] squeezed [0], %arg2 : "
          "!ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>") in out
  rc, gen, err = _ref_opt([str(f), "--mlir-print-op-generic"])
  assert rc == 0 and '"ref.swap"(%arg0, %arg2, %arg1)' in gen and "ref.swap %" not in gen
  assert '"func.func"' in gen
  rc, dumps, err = _ref_opt([str(f), "--ref-verify", "--mlir-print-ir-after-all", "-o",
                             str(tmp_path / "o.mlir")])
  assert rc == 0 and "IR Dump After" in err and "ref.swap %arg0[%arg1, 0]" in err, err
  rc, dbg, err = _ref_opt([str(f), "--mlir-print-debuginfo"])
  assert re.search(r'#loc\d* = loc\(".*in\.mlir":2:10\)', dbg), dbg
  assert "--mlir-print-op-generic" in ref_opt.HELP and "pretty form" in ref_opt.HELP


def test_ref_opt_reports_syntax_errors(tmp_path):
  f = tmp_path / "bad.mlir"
  f.write_text(PRETTY_FUNC.replace("squeezed [0]", "squeezed [0"))
  rc, out, err = _ref_opt([str(f)])
  assert rc == 1 and out == ""
  assert err.splitlines() == [
      f"{f}:2:57: error: expected an integer in 'squeezed', found '%row'",
      "  %old = ref.swap %buf[%i, 0] sizes [1, 4] squeezed [0, %row",
      " " * 56 + "^"]
  # --verify-diagnostics matches it like any other error.
  g = tmp_path / "expected.mlir"
  g.write_text("// expected-error@+2 {{expected an integer in 'squeezed'}}\n"
               + PRETTY_FUNC.replace("squeezed [0]", "squeezed [0"))
  rc, out, err = _ref_opt([str(g), "--verify-diagnostics"])
  assert rc == 0, err


@pytest.mark.parametrize("op,col,message", [
    ("%w = ref.get %r[%i] sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xq32>", 71,
     "expected non-function type"),
    ("%w = ref.get %r[%r] sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>", 19,
     "use of value '%r' expects different type than prior uses"),
    ("%w = ref.get %r[%nope] sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>", 19,
     "use of undeclared SSA value name"),
    ('ref.set %r[1] sizes [2], %v {refhlo.x = dense<[1> : tensor<1xi32>}\n'
     "      : !ref.ref<tensor<8xf32>>, tensor<2xf32>", 0, "expected ']'"),
])
def test_mlir_parse_errors_point_into_pretty_ops(tmp_path, op: str, col: int, message: str):
  """MLIR parses the generic text; its errors inside a rewritten op are
  mapped back to the pretty source (PositionMap)."""
  f = tmp_path / "e.mlir"
  text = ("func.func @f(%r: !ref.ref<tensor<8xf32>>, %i: tensor<i32>, %v: tensor<2xf32>) {\n"
          f"  {op}\n  return\n}}\n")
  f.write_text(text)
  rc, out, err = _ref_opt([str(f)])
  first = err.splitlines()[0]
  if not col:  # at the `>` closing the bad dense attribute
    col = text.split("\n")[1].index("> : tensor<1xi32>") + 1
  assert rc == 1 and first.startswith(f"{f}:2:{col}: error: {message}"), err
  assert err.splitlines()[1] == "  " + op.split("\n")[0]


def test_verifier_errors_while_parsing_stay_at_the_ops(tmp_path):
  """MLIR's verifier runs in its parser and reports at the locations the
  rewritten ops were given, which are in the source already."""
  f = tmp_path / "e.mlir"
  f.write_text("func.func @f(%r: !ref.ref<tensor<8xf32>>) {\n"
               "    ref.set %r sizes [2], %v : !ref.ref<tensor<8xf32>>, tensor<2xf32>\n"
               "  %v = ref.get %r sizes [2] : !ref.ref<tensor<8xf32>> -> tensor<2xf32>\n"
               "  return\n}\n")
  rc, out, err = _ref_opt([str(f)])
  assert rc == 1 and f"{f}:2:5: error: operand #1 does not dominate this use" in err, err
  assert f"{f}:3:8: note: operand defined here" in err, err


def test_ref_opt_locations_on_an_implicit_module_line_one(tmp_path):
  """Without a module, line 1 is parsed after `module {`: the ops there get
  MLIR's shifted columns, which the driver shifts back."""
  f = tmp_path / "one.mlir"
  f.write_text('func.func @f(%r: !ref.ref<tensor<8xf32>>) { %v = ref.get %r[6] sizes [4] '
               ': !ref.ref<tensor<8xf32>> -> tensor<4xf32>\n return }\n'
               'func.func @g() { return }\n')
  rc, out, err = _ref_opt([str(f)])
  assert rc == 1 and f"{f}:1:50: error: 'ref.get' op window [6, 10)" in err, err


def test_lowered_as_text_is_pretty():
  jax = pytest.importorskip("jax")
  import jax.numpy as jnp

  import refhlo

  def f(r, i, x):
    r[i] = x  # a swap, whose old value is dropped
    return r[0]

  lowered = refhlo.jit(f).lower(jax.new_ref(jnp.zeros((8, 4))), jnp.int32(1), jnp.ones(4))
  pretty = lowered.as_text("ref")
  plain = lowered.as_text("ref", generic=True)
  assert re.search(r"ref\.swap %\w+\[%\w+, 0\] sizes \[1, 4\] squeezed \[0\], %\w+ :",
                   pretty), pretty
  assert '"ref.swap"' not in pretty and '"ref.swap"' in plain
  assert asm.to_pretty(plain) == pretty
  with_locs = lowered.as_text("ref", debug_info=True)
  assert "ref.swap %" in with_locs and "loc(" in with_locs
  assert lowered.as_text("ref", debug_info=True, generic=True).count('"ref.') >= 2


FRAGMENTS = ["%v", "=", "ref.get", "ref.set", "ref.new", "ref.view", '"ref.get"', "%r", "[", "]",
             "(", ")", "{", "}", ",", ":", "->", "0", "-", "7", "sizes", "strides", "squeezed",
             "indexed", "by", "mode", "window", '"x', '"s"', "!ref.ref<tensor<4xf32>>",
             "tensor<i32>", "loc(", '"f":1:2', "\n", "// c\n", "<", ">", "#loc1", "@f", "0x1"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_rewrites_never_crash(parts: list[str]):
  """Any text: to_generic returns text or raises AsmSyntaxError, to_pretty
  returns text; neither fails in another way (ref-opt would report an
  internal error)."""
  text = " ".join(parts)
  try:
    out = asm.to_generic(text, "f.mlir")
    assert out.count("\n") == text.count("\n")
  except asm.AsmSyntaxError as e:
    assert e.line >= 1 and e.col >= 1
  asm.to_pretty(text)
