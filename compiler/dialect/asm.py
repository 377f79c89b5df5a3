"""The pretty (custom) assembly format of the `ref` ops, in Python.

Why this module exists: the `ref` dialect is unregistered in jaxlib's C++
MLIR, so MLIR prints and parses its ops only in the generic form, where a
dynamic offset is the sentinel -9223372036854775808 (`kDynamic`) in
`static_offsets` and the offset operand sits elsewhere in the operand list:

    %3 = "ref.get"(%arg0, %2) {squeezed_dims = array<i64: 0>, static_offsets =
        array<i64: -9223372036854775808, 0>, static_sizes = array<i64: 1, 1024>}
        : (!ref.ref<tensor<65536x1024xf32>>, tensor<i32>) -> tensor<1024xf32>

A C++ custom format would need a registered dialect, which jaxlib cannot load;
so, as xDSL does for its dialects, the custom syntax lives on the Python side,
as two text-to-text rewrites around MLIR's printer and parser:

    %3 = ref.get %arg0[%2, 0] sizes [1, 1024] squeezed [0]
        : !ref.ref<tensor<65536x1024xf32>> -> tensor<1024xf32>

- `to_pretty(text)` takes MLIR text as jaxlib prints it and rewrites every
  generic `ref.*` op in the pretty form; everything else is copied byte for
  byte. An op the pretty grammar cannot express exactly (IR that breaks the
  dialect's rules: an operand count that does not match the indexer, an
  indexer attribute of the wrong kind, a `ref.new` whose result type is not
  `!ref.ref` of its operand's, ...) stays generic, so the rewrite never
  changes the IR: generic -> pretty -> generic is the identity on the IR.
- `to_generic(text, filename)` is the inverse, run on a user's file before
  `ir.Module.parse`: pretty ops become generic ones, generic ones are kept.
  Each rewritten op occupies as many lines as it did, so MLIR's diagnostics
  on the other ops keep their line numbers, and it gets an explicit
  `loc("filename":line:col)` of its op name (as MLIR would give it), unless
  it carries a `loc(...)` already. A syntax error raises `AsmSyntaxError`,
  located at the offending token (`file:line:col: error: ...`).
  `to_generic_with_positions` also returns a `PositionMap`, which locates
  MLIR's own parse errors in a rewritten op (a bad type, an undefined value;
  MLIR sees them at other columns of the generic text) in the input.

Both rewrites run a real tokenizer over the whole text (strings, comments,
`loc(...)` groups and dialect type bodies are skipped as units, so `"ref.get"`
in a string or a name location is never taken for an op) and a
recursive-descent parser for the op at hand: the generic op syntax (operands,
attribute dictionary, function type, trailing location) on the way to the
pretty form, the grammar below on the way back.

The grammar (docs/dialect.md, "Assembly format", has it with examples):

    new       ::= `%r =` `ref.new` %init attr-dict? `:` ref-type loc?
    empty     ::= `%r =` `ref.empty` attr-dict? `:` ref-type loc?
    freeze    ::= `%v =` `ref.freeze` %ref attr-dict? `:` ref-type loc?
    free      ::= `ref.free` %ref attr-dict? `:` ref-type loc?
    get       ::= `%v =` `ref.get` %ref indexer attr-dict? `:` ref-type `->` type loc?
    set       ::= `ref.set` %ref indexer `,` %value attr-dict? `:` ref-type `,` type loc?
    addupdate ::= `ref.addupdate` (as set)
    swap      ::= `%old =` `ref.swap` %ref indexer `,` %value attr-dict?
                  `:` ref-type `,` type `->` type loc?
    view      ::= `%s =` `ref.view` %ref indexer attr-dict? `:` ref-type `->` ref-type loc?

    indexer   ::= (`[` (offset (`,` offset)*)? `]`)?       static_offsets
                  (`sizes` int-list)?                       static_sizes
                  (`strides` int-list)?                     static_strides
                  (`squeezed` int-list)?                    squeezed_dims
                  (`indexed` int-list (`by` `(` %indices `:` type `)`)?)?
                                                            indexed_dims
                  (`mode` (bare-id | string))?              mode
    offset    ::= integer | %value (`:` type)?             the type defaults to tensor<i32>
    int-list  ::= `[` (integer (`,` integer)*)? `]`

Each indexer clause is there exactly when its attribute is (so `%r[0, 0]`
and `%r` are different IR, as `static_offsets = array<i64: 0, 0>` and no
attribute are), and `by (%indices: type)` exactly when `indexed` lists dims. The
clauses after the offsets may come in any order; the printer writes them in
the order above. Any other attribute (`ref.donated`, `refhlo.*`, `__roots__`,
a typo) stays in the attr-dict.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterator
from typing import NamedTuple

DYNAMIC = -9223372036854775808
"""MLIR's `ShapedType::kDynamic` (as `refhlo.compiler.dialect.types.DYNAMIC`;
repeated so that this text-only module imports nothing from jaxlib)."""

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1

DEFAULT_OFFSET_TYPE = "tensor<i32>"
"""The type of a dynamic offset operand written without one."""

ACCESS_OPS = ("ref.get", "ref.set", "ref.swap", "ref.addupdate", "ref.view")
_WRITE_OPS = ("ref.set", "ref.swap", "ref.addupdate")
OP_NAMES = ("ref.new", "ref.empty", "ref.freeze", "ref.free") + ACCESS_OPS
"""The ops with a pretty form (every op of `refhlo.compiler.dialect.ops`)."""
_ONE_RESULT = ("ref.new", "ref.empty", "ref.freeze", "ref.get", "ref.swap", "ref.view")

# Indexer attribute -> its clause keyword in the pretty form (None: `[...]`).
_CLAUSES = {"static_offsets": None, "static_sizes": "sizes",
            "static_strides": "strides", "squeezed_dims": "squeezed",
            "indexed_dims": "indexed", "mode": "mode"}
_KEYWORD_ATTR = {k: a for a, k in _CLAUSES.items() if k is not None}
_ARRAY_ATTRS = ("static_offsets", "static_sizes", "static_strides",
                "squeezed_dims", "indexed_dims")


class AsmSyntaxError(ValueError):
  """A syntax error in the pretty form, at `filename:line:col` (1-based; the
  column counts bytes, as MLIR's do)."""

  def __init__(self, filename: str, line: int, col: int, message: str):
    super().__init__(message)
    self.filename, self.line, self.col, self.message = filename, line, col, message

  def __str__(self) -> str:
    return f"{self.filename}:{self.line}:{self.col}: error: {self.message}"

  def diagnostic(self):
    """The error as a `refhlo.compiler.diagnostics.Diagnostic`."""
    from refhlo.compiler.diagnostics import Diagnostic, FileLoc
    return Diagnostic("error", self.message,
                      FileLoc(self.filename, self.line, self.col))


class RewrittenParseError(Exception):
  """MLIR could not parse `to_generic`'s output: its diagnostics
  (`refhlo.compiler.diagnostics.Diagnostic`), located in the input
  (`PositionMap.remap`)."""

  def __init__(self, diagnostics: list):
    super().__init__("; ".join(d.message for d in diagnostics))
    self.diagnostics = diagnostics


# --------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------


class Tok(NamedTuple):
  kind: str  # see _TOKEN_RE's group names; "eof" at the end
  start: int
  end: int


_TOKEN_RE = re.compile(r"""
   (?P<ws>\s+)
  |(?P<comment>//[^\n]*)
  |(?P<string>"(?:[^"\\\n]|\\.)*")
  |(?P<badstring>"[^\n]*)
  |(?P<ssa>%(?:[A-Za-z_$.\-][\w$.\-]*|\d+)(?:\#\d+)?)
  |(?P<block>\^[\w$.\-]+)
  |(?P<symbol>@(?:[A-Za-z_$.\-][\w$.\-]*|"(?:[^"\\\n]|\\.)*"))
  |(?P<hash>\#[\w$.\-]+)
  |(?P<bang>![\w$.\-]+)
  |(?P<float>\d+\.\d*(?:[eE][-+]?\d+)?)
  |(?P<int>0x[0-9a-fA-F]+|\d+)
  |(?P<ident>[A-Za-z_][\w$.]*)
  |(?P<arrow>->)
  |(?P<punct>.)
""", re.X | re.S)

# Inside a dialect or builtin type/attribute body `<...>`: strings, `->`
# (which does not close the body), angle brackets, anything else.
_BODY_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|->|<|>|[^"<>\-]+|[-"]', re.S)


def _body_end(text: str, pos: int) -> int:
  """The end of the balanced `<...>` starting at `pos`, or -1."""
  depth = 0
  for m in _BODY_RE.finditer(text, pos):
    t = m.group()
    if t == "<":
      depth += 1
    elif t == ">":
      depth -= 1
      if depth == 0:
        return m.end()
  return -1


def tokenize(text: str) -> list[Tok]:
  """The tokens of `text` (whitespace and comments dropped), then "eof".

  An identifier, `!type` or `#attr` followed at once by `<` takes the
  balanced body with it (`tensor<4xf32>`, `array<i64: 1, 2>`,
  `!ref.ref<tensor<8xf32>>`, `dense<[1, 2]>`): one token per type.
  """
  toks: list[Tok] = []
  append = toks.append
  match = _TOKEN_RE.match
  pos, n = 0, len(text)
  while pos < n:
    m = match(text, pos)
    kind = m.lastgroup
    end = m.end()
    if kind in ("ident", "bang", "hash") and end < n and text[end] == "<":
      body = _body_end(text, end)
      if body > 0:
        end = body
    if kind != "ws" and kind != "comment":
      append(Tok(kind, pos, end))
    pos = end
  append(Tok("eof", n, n))
  return toks


class _Source:
  """A text with its tokens, and offset -> line:col."""

  def __init__(self, text: str, filename: str = "-"):
    self.text = text
    self.filename = filename
    self.toks = tokenize(text)
    self._line_starts: list[int] | None = None

  def line_col(self, offset: int) -> tuple[int, int]:
    """1-based line and byte column of `offset`, as MLIR counts them."""
    if self._line_starts is None:
      self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
    i = bisect.bisect_right(self._line_starts, offset) - 1
    start = self._line_starts[i]
    return i + 1, len(self.text[start:offset].encode("utf-8")) + 1

  def tok_text(self, t: Tok) -> str:
    return self.text[t.start:t.end]

  def span_text(self, i: int, j: int) -> str:
    """Tokens i..j-1 with the whitespace between them, comments removed (so
    that the text can be moved onto another line safely)."""
    toks, text = self.toks, self.text
    parts = [text[toks[i].start:toks[i].end]]
    for k in range(i + 1, j):
      gap = text[toks[k - 1].end:toks[k].start]
      if "//" in gap:
        gap = re.sub(r"//[^\n]*", "", gap)
      parts.append(gap)
      parts.append(text[toks[k].start:toks[k].end])
    return "".join(parts)


# --------------------------------------------------------------------------
# The parser: a cursor over the tokens, shared by both directions
# --------------------------------------------------------------------------


class _Cursor:
  """A position in a `_Source`'s tokens, with the recursive-descent pieces
  of MLIR syntax both directions need; errors are `AsmSyntaxError`s located
  at the current (or a given) token."""

  def __init__(self, src: _Source, i: int):
    self.src = src
    self.i = i

  # -- primitives ----------------------------------------------------------

  def peek(self, k: int = 0) -> Tok:
    toks = self.src.toks
    return toks[min(self.i + k, len(toks) - 1)]

  def text(self, k: int = 0) -> str:
    return self.src.tok_text(self.peek(k))

  def is_punct(self, p: str, k: int = 0) -> bool:
    t = self.peek(k)
    return t.kind in ("punct", "arrow") and self.src.tok_text(t) == p

  def is_keyword(self, word: str) -> bool:
    return self.peek().kind == "ident" and self.text() == word

  def advance(self) -> Tok:
    t = self.peek()
    if t.kind != "eof":
      self.i += 1
    return t

  def error(self, message: str, tok: Tok | None = None) -> AsmSyntaxError:
    tok = self.peek() if tok is None else tok
    line, col = self.src.line_col(tok.start)
    return AsmSyntaxError(self.src.filename, line, col, message)

  def found(self) -> str:
    t = self.peek()
    if t.kind == "eof":
      return "end of input"
    if t.kind == "badstring":
      return "an unterminated string"
    return f"'{self.src.tok_text(t)}'"

  def expect(self, p: str, context: str) -> Tok:
    if not self.is_punct(p):
      raise self.error(f"expected '{p}' {context}, found {self.found()}")
    return self.advance()

  def items_until(self, close: str, item, context: str = "") -> list:
    """`item()` repeated, comma-separated, up to and including `close`
    (which may come at once: an empty list); `context` says what a missing
    ',' was expected in."""
    out: list = []
    if self.accept(close):
      return out
    while True:
      out.append(item())
      if self.accept(close):
        return out
      self.expect(",", context)

  def accept(self, p: str) -> bool:
    if self.is_punct(p):
      self.advance()
      return True
    return False

  # -- pieces of MLIR syntax ---------------------------------------------

  def ssa_use(self, what: str) -> str:
    t = self.peek()
    if t.kind != "ssa":
      raise self.error(f"expected {what} (an SSA value such as %x), found {self.found()}")
    self.advance()
    return self.src.tok_text(t)

  def integer(self, what: str) -> int:
    start = self.peek()
    neg = self.accept("-")
    t = self.peek()
    if t.kind != "int" or self.src.tok_text(t).startswith("0x"):
      raise self.error(f"expected an integer in {what}, found {self.found()}")
    self.advance()
    v = int(self.src.tok_text(t))
    v = -v if neg else v
    if not _I64_MIN <= v <= _I64_MAX:
      raise self.error(f"integer {v} in {what} does not fit in 64 bits", start)
    return v

  def type_(self, what: str) -> str:
    """A type written as one token: `tensor<...>`, `!ref.ref<...>`, `i32`."""
    t = self.peek()
    if t.kind in ("bang", "ident") and not (t.kind == "ident" and self.text() == "loc"):
      self.advance()
      return self.src.tok_text(t)
    raise self.error(f"expected {what}, found {self.found()}")

  def balanced(self) -> None:
    """Skips one token, or a whole (...), [...] or {...} group."""
    closing = {"(": ")", "[": "]", "{": "}"}
    t = self.advance()
    s = self.src.tok_text(t)
    if t.kind != "punct" or s not in closing:
      return
    stack = [closing[s]]
    while stack:
      t = self.advance()
      if t.kind == "eof":
        raise self.error(f"expected '{stack[-1]}', found end of input")
      s = self.src.tok_text(t)
      if t.kind == "punct":
        if s in closing:
          stack.append(closing[s])
        elif s == stack[-1]:
          stack.pop()
        elif s in ")]}":
          raise self.error(f"expected '{stack[-1]}', found '{s}'", t)

  def location(self) -> tuple[int, int] | None:
    """An optional trailing `loc(...)`: its token range."""
    if not (self.is_keyword("loc") and self.is_punct("(", 1)):
      return None
    i0 = self.i
    self.advance()
    self.balanced()
    return i0, self.i

  def attr_value(self) -> None:
    """Skips one attribute value (recursive descent over its structure)."""
    t = self.peek()
    s = self.text()
    if t.kind == "punct" and s == "[":
      self.advance()
      if not self.accept("]"):
        while True:
          self.attr_value()
          if self.accept("]"):
            break
          self.expect(",", "or ']' in an array attribute")
      return
    if t.kind == "punct" and s == "{":
      self.attr_dict()
      return
    if t.kind == "punct" and s == "(":  # a function type
      self.balanced()
      self.expect("->", "in a function type")
      if self.is_punct("("):
        self.balanced()
      else:
        self.type_("a type")
      return
    if t.kind == "punct" and s == "-" and self.peek(1).kind in ("int", "float"):
      self.advance()
      t = self.peek()
    if t.kind == "symbol":
      self.advance()
      while self.is_punct(":") and self.is_punct(":", 1) and self.peek(2).kind == "symbol":
        self.i += 3
      return
    if t.kind in ("string", "int", "float", "ident", "hash", "bang"):
      self.advance()
      if self.is_punct(":") and not self.is_punct(":", 1):
        self.advance()
        self.type_("a type after ':' in an attribute")
      return
    raise self.error(f"expected an attribute value, found {self.found()}")

  def attr_dict(self) -> list[tuple[str, tuple[int, int], tuple[int, int] | None]]:
    """`{name (= value)?, ...}`: (name, name token range, value token range)."""
    self.expect("{", "to start an attribute dictionary")
    out = []
    if self.accept("}"):
      return out
    while True:
      t = self.peek()
      if t.kind == "ident":
        name = self.src.tok_text(t)
      elif t.kind == "string":
        name = _unquote(self.src.tok_text(t))
      else:
        raise self.error(f"expected an attribute name, found {self.found()}")
      self.advance()
      key = (self.i - 1, self.i)
      value = None
      if self.accept("="):
        v0 = self.i
        self.attr_value()
        value = (v0, self.i)
      out.append((name, key, value))
      if self.accept("}"):
        return out
      self.expect(",", "or '}' in the attribute dictionary")


def _unquote(s: str) -> str:
  body = s[1:-1]
  if "\\" not in body:
    return body
  return re.sub(r'\\(["\\nt]|[0-9a-fA-F]{2})', lambda m: {
      '"': '"', "\\": "\\", "n": "\n", "t": "\t"}.get(m.group(1)) or
      chr(int(m.group(1), 16)), body)


def _results_before(src: _Source, k: int) -> tuple[int, list[Tok]]:
  """The op's result list before its name token k: (first token index,
  result tokens). A group `%a:2` gives one token `%a` and the `:2` stays
  in the span, so that callers can tell it is there."""
  toks = src.toks
  if k < 2 or src.tok_text(toks[k - 1]) != "=" or toks[k - 1].kind != "punct":
    return k, []
  j = k - 2
  results: list[Tok] = []
  while j >= 0:
    if (toks[j].kind == "int" and j >= 2 and src.tok_text(toks[j - 1]) == ":"
        and toks[j - 2].kind == "ssa"):
      j -= 2
    if toks[j].kind != "ssa":
      break
    results.append(toks[j])
    if j >= 1 and src.tok_text(toks[j - 1]) == "," and toks[j - 1].kind == "punct":
      j -= 2
      continue
    return j, results[::-1]
  return k, []


# --------------------------------------------------------------------------
# Generic -> pretty
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _GenericOp:
  """A generic `ref.*` op, as parsed; texts are verbatim."""
  name: str
  results: list[str]
  grouped_results: bool
  operands: list[str]
  attrs: list[tuple[str, str, str | None]]  # (name, name text, value text)
  operand_types: list[str]
  result_types: list[str]
  loc: str | None


def _parse_generic(src: _Source, k: int, results: list[str], grouped: bool
                   ) -> tuple[_GenericOp, int] | None:
  """The generic op whose name string is token k, and the index after it;
  None if it has parts the pretty form has no room for (regions,
  successors, properties, types that are not one token)."""
  c = _Cursor(src, k)
  name = _unquote(c.text())
  c.advance()
  c.expect("(", "")
  operands: list[str] = c.items_until(")", lambda: c.ssa_use("an operand"))
  attrs = []
  if c.is_punct("{"):
    for key, (n0, n1), value in c.attr_dict():
      attrs.append((key, src.span_text(n0, n1),
                    None if value is None else src.span_text(*value)))
  elif not c.is_punct(":"):
    return None  # successors, properties or regions
  c.expect(":", "")
  c.expect("(", "")
  operand_types: list[str] = c.items_until(")", lambda: c.type_("a type"))
  c.expect("->", "")
  result_types: list[str] = []
  if c.accept("("):
    result_types = c.items_until(")", lambda: c.type_("a type"))
  else:
    result_types.append(c.type_("a type"))
  loc = c.location()
  return _GenericOp(name, results, grouped, operands, attrs, operand_types,
                    result_types, None if loc is None else src.span_text(*loc)), c.i


_ARRAY_RE = re.compile(r"array<i64(?:\s*:\s*(-?\d+(?:\s*,\s*-?\d+)*))?\s*>\Z")
_BARE_MODE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _array(text: str | None) -> list[int] | None:
  if text is None:
    return None
  m = _ARRAY_RE.match(text)
  if not m:
    return None
  return [int(v) for v in m.group(1).split(",")] if m.group(1) else []


def _ints(values: list[int]) -> str:
  return "[" + ", ".join(map(str, values)) + "]"


def _ref_body(ref_type: str) -> str | None:
  """`T` of a `!ref.ref<T>` type text."""
  if ref_type.startswith("!ref.ref<") and ref_type.endswith(">"):
    return ref_type[len("!ref.ref<"):-1]
  return None


def _attr_dict_text(attrs: list[tuple[str, str | None]]) -> str:
  if not attrs:
    return ""
  return " {" + ", ".join(k if v is None else f"{k} = {v}" for k, v in attrs) + "}"


def _print_pretty(op: _GenericOp) -> str | None:
  """The pretty form of a generic op, or None if it has none that parses
  back to the same IR."""
  name = op.name
  if name not in OP_NAMES or op.grouped_results:
    return None
  ops, ots, rts = op.operands, op.operand_types, op.result_types
  if len(ops) != len(ots) or len(op.results) != len(rts):
    return None
  one_result = name in _ONE_RESULT
  if len(rts) != (1 if one_result else 0):
    return None
  head = f"{op.results[0]} = {name}" if one_result else name
  loc = f" {op.loc}" if op.loc else ""

  if name not in ACCESS_OPS:
    extras = [(text, value) for _, text, value in op.attrs]
    if name == "ref.empty":
      if ops:
        return None
      ref_t = rts[0]
    elif len(ops) != 1:
      return None
    elif name == "ref.new":
      ref_t = rts[0]
      if _ref_body(ref_t) != ots[0]:
        return None
    elif name == "ref.freeze":
      ref_t = ots[0]
      if _ref_body(ref_t) != rts[0]:
        return None
    else:  # ref.free
      ref_t = ots[0]
    operand = f" {ops[0]}" if ops else ""
    return f"{head}{operand}{_attr_dict_text(extras)} : {ref_t}{loc}"

  indexer: dict[str, str | None] = {}
  extras = []
  for key, text, value in op.attrs:
    if key in _CLAUSES:
      if key in indexer:
        return None  # a duplicate: leave it to MLIR to complain
      indexer[key] = value
    else:
      extras.append((text, value))
  arrays = {}
  for key in _ARRAY_ATTRS:
    if key in indexer:
      arrays[key] = _array(indexer[key])
      if arrays[key] is None:
        return None
  mode = None
  if "mode" in indexer:
    mode = indexer["mode"]
    if mode is None or not (mode.startswith('"') and mode.endswith('"')) or \
        not re.fullmatch(r'"(?:[^"\\\n]|\\.)*"', mode):
      return None
    if _BARE_MODE_RE.match(mode[1:-1]):
      mode = mode[1:-1]
  offsets = arrays.get("static_offsets")
  n_dyn = offsets.count(DYNAMIC) if offsets else 0
  indexed = arrays.get("indexed_dims")
  has_value = name in _WRITE_OPS
  n_fixed = 2 if has_value else 1
  if len(ops) != n_fixed + n_dyn + (1 if indexed else 0):
    return None
  parts = [f"{head} {ops[0]}"]
  dyn_ops = iter(zip(ops[n_fixed:n_fixed + n_dyn], ots[n_fixed:n_fixed + n_dyn]))
  if offsets is not None:
    entries = []
    for o in offsets:
      if o == DYNAMIC:
        v, t = next(dyn_ops)
        entries.append(v if t == DEFAULT_OFFSET_TYPE else f"{v}: {t}")
      else:
        entries.append(str(o))
    parts.append("[" + ", ".join(entries) + "]")
  for key in ("static_sizes", "static_strides", "squeezed_dims"):
    if key in arrays:
      parts.append(f" {_CLAUSES[key]} {_ints(arrays[key])}")
  if indexed is not None:
    parts.append(f" indexed {_ints(indexed)}")
    if indexed:
      parts.append(f" by ({ops[-1]}: {ots[-1]})")
  if mode is not None:
    parts.append(f" mode {mode}")
  if has_value:
    parts.append(f", {ops[1]}")
  parts.append(_attr_dict_text(extras))
  parts.append(f" : {ots[0]}")
  if has_value:
    parts.append(f", {ots[1]}")
  if rts:
    parts.append(f" -> {rts[0]}")
  parts.append(loc)
  return "".join(parts)


def _generic_op_names(src: _Source) -> Iterator[int]:
  """Indices of the name tokens of generic `ref.*` ops (`"ref.x"(`), outside
  `loc(...)` groups (a name location may be called "ref.get")."""
  toks, text = src.toks, src.text
  k, n = 0, len(toks) - 1
  while k < n:
    t = toks[k]
    if t.kind == "ident" and text[t.start:t.end] == "loc" and \
        text[toks[k + 1].start:toks[k + 1].end] == "(":
      c = _Cursor(src, k + 1)
      try:
        c.balanced()
      except AsmSyntaxError:
        return
      k = c.i
      continue
    if t.kind == "string" and text.startswith('"ref.', t.start) and \
        toks[k + 1].kind == "punct" and text[toks[k + 1].start] == "(":
      yield k
    k += 1


def to_pretty(text: str) -> str:
  """`text` (MLIR as jaxlib prints it) with every generic `ref.*` op that
  has a pretty form in it; everything else byte for byte."""
  if '"ref.' not in text:
    return text
  src = _Source(text)
  out: list[str] = []
  done = 0  # text[:done] is in out
  skip_to = 0
  for k in _generic_op_names(src):
    if k < skip_to:
      continue
    first, results = _results_before(src, k)
    grouped = any(src.tok_text(src.toks[j]) == ":" for j in range(first, k))
    try:
      parsed = _parse_generic(src, k, [src.tok_text(r) for r in results], grouped)
    except AsmSyntaxError:
      continue
    if parsed is None:
      continue
    op, end = parsed
    pretty = _print_pretty(op)
    if pretty is None:
      continue
    start = src.toks[first].start
    out.append(text[done:start])
    out.append(pretty)
    done = src.toks[end - 1].end
    skip_to = end
  out.append(text[done:])
  return "".join(out)


# --------------------------------------------------------------------------
# Pretty -> generic
# --------------------------------------------------------------------------


def _pretty_op_names(src: _Source) -> Iterator[int]:
  """Indices of the name tokens of pretty `ref.*` ops: one of `OP_NAMES` as
  a bare identifier that is not an attribute name (`{ref.free}`)."""
  toks, text = src.toks, src.text
  for k in range(len(toks) - 1):
    t = toks[k]
    if t.kind != "ident" or not text.startswith("ref.", t.start):
      continue
    if text[t.start:t.end] not in OP_NAMES:
      continue
    nxt = toks[k + 1]
    if nxt.kind == "punct" and text[nxt.start] in "=,})]>":
      continue
    if k >= 1 and toks[k - 1].kind == "punct" and text[toks[k - 1].start] == "=" \
        and not (k >= 2 and toks[k - 2].kind in ("ssa", "int")):
      continue  # `name = ref.get` in some attribute-like syntax
    yield k


class _Piece(NamedTuple):
  """A piece of the generic text: `text`, from the source at `src`;
  `exact`: the text is the source's there (else `src` is what it stands for)."""
  text: str
  src: int
  exact: bool = True


@dataclasses.dataclass
class _PrettyOp:
  """A pretty `ref.*` op, as parsed: its generic form's pieces, in order."""
  name: _Piece
  results: list[_Piece]
  operands: list[_Piece]
  operand_types: list[_Piece]
  result_types: list[_Piece]
  attrs: list[list[_Piece]]  # `name = value`, inherent ones first
  loc: _Piece | None


def _parse_pretty(src: _Source, k: int, first: int, results: list[Tok]
                  ) -> tuple[_PrettyOp, int]:
  """The pretty op whose name is token k (its results start at token
  `first`), and the index after it; raises AsmSyntaxError."""
  return _PrettyParser(src, k, first, results).parse()


class _PrettyParser:
  """Recursive descent over one pretty ref op: `parse` reads the op,
  `simple_op` the four ops without an indexer, `access_op` the five with
  one (`offsets`, `clauses` and the types after ':')."""

  def __init__(self, src: _Source, k: int, first: int, results: list[Tok]):
    self.src = src
    self.name_tok = src.toks[k]
    self.name = name = src.tok_text(self.name_tok)
    self.c = c = _Cursor(src, k + 1)
    self.one_result = name in _ONE_RESULT
    if any(src.tok_text(src.toks[j]) == ":" for j in range(first, k)):
      raise c.error(f"'{name}' has one result; a result group '%x:N' is not allowed",
                    src.toks[first])
    if self.one_result and len(results) > 1:
      raise c.error(f"'{name}' has one result, not {len(results)}", src.toks[first])
    if self.one_result and not results:
      raise c.error(f"'{name}' has one result: expected '%x = {name} ...'", self.name_tok)
    if not self.one_result and results:
      raise c.error(f"'{name}' has no results", src.toks[first])
    self.head = _Piece(name, self.name_tok.start)
    self.result_pieces = [_Piece(src.tok_text(r), r.start) for r in results]

  def parse(self) -> tuple[_PrettyOp, int]:
    return self.simple_op() if self.name not in ACCESS_OPS else self.access_op()

  # -- pieces ---------------------------------------------------------------------

  def piece(self, parse, *args) -> _Piece:
    """What `parse` (a cursor method) reads, with its position."""
    at = self.c.peek().start
    return _Piece(parse(*args), at)

  def extras(self, inherent: tuple[str, ...]) -> list[list[_Piece]]:
    """The trailing attribute dictionary (none of the `inherent` names)."""
    c, src = self.c, self.src
    if not c.is_punct("{"):
      return []
    out = []
    for key, (n0, n1), value in c.attr_dict():
      if key in inherent:
        kw = _CLAUSES[key]
        form = "the offsets '%ref[...]'" if kw is None else f"'{kw} ...'"
        raise c.error(f"'{key}' of '{self.name}' is written as {form} in the pretty "
                      "form, not in the attribute dictionary", src.toks[n0])
      attr = [_Piece(src.span_text(n0, n1), src.toks[n0].start)]
      if value is not None:
        v0 = src.toks[value[0]].start
        attr += [_Piece(" = ", v0, False), _Piece(src.span_text(*value), v0)]
      out.append(attr)
    return out

  def colon(self) -> None:
    self.c.expect(":", f"and the types of '{self.name}'")

  def ref_type(self) -> _Piece:
    return self.piece(self.c.type_,
                      f"the ref type of '{self.name}' (e.g. !ref.ref<tensor<4xf32>>)")

  def derived(self, t: _Piece) -> _Piece:
    """The tensor type inside a `!ref.ref<T>` piece."""
    body = _ref_body(t.text)
    if body is None:
      line, col = self.src.line_col(t.src)
      raise AsmSyntaxError(self.src.filename, line, col, "expected a '!ref.ref<T>' "
                           f"type for '{self.name}', found '{t.text}'")
    return _Piece(body, t.src + len("!ref.ref<"))

  def finish(self, operands, ots, rts, attrs) -> tuple[_PrettyOp, int]:
    c = self.c
    op = _PrettyOp(self.head, self.result_pieces, operands, ots, rts, attrs, None)
    if not op.result_types and c.is_punct("->"):
      raise c.error(f"'{self.name}' has no results: no '->' type")
    loc = c.location()
    if loc is not None:
      op.loc = _Piece(self.src.span_text(*loc), self.src.toks[loc[0]].start)
    return op, c.i

  # -- the ops ----------------------------------------------------------------------

  def simple_op(self) -> tuple[_PrettyOp, int]:
    """`ref.new`, `ref.empty`, `ref.freeze`, `ref.free`."""
    name, c = self.name, self.c
    operands = ([] if name == "ref.empty"
                else [self.piece(c.ssa_use, f"the operand of '{name}'")])
    attrs = self.extras(())
    self.colon()
    rt = self.ref_type()
    if name == "ref.new":
      ots, rts = [self.derived(rt)], [rt]
    elif name == "ref.empty":
      ots, rts = [], [rt]
    elif name == "ref.freeze":
      ots, rts = [rt], [self.derived(rt)]
    else:
      ots, rts = [rt], []
    return self.finish(operands, ots, rts, attrs)

  def access_op(self) -> tuple[_PrettyOp, int]:
    """`ref.get/set/swap/addupdate/view`: the ref, its offsets, the indexer
    clauses, the value operand, the attributes, then the types."""
    name, c = self.name, self.c
    ref = self.piece(c.ssa_use, f"the ref operand of '{name}'")
    inherent: list[list[_Piece]] = []
    dyn: list[tuple[_Piece, _Piece]] = []
    if c.is_punct("["):
      inherent.append([self.offsets(dyn)])
    clauses, indices = self.clauses()
    inherent += clauses
    value = None
    if name in _WRITE_OPS:
      c.expect(",", f"and the value operand of '{name}'")
      value = self.piece(c.ssa_use, f"the value operand of '{name}'")
    attrs = inherent + self.extras(tuple(_CLAUSES))
    self.colon()
    rt = self.ref_type()
    operands, ots = [ref], [rt]
    if value is not None:
      c.expect(",", f"and the type of the value written by '{name}'")
      operands.append(value)
      ots.append(self.piece(c.type_, f"the type of the value written by '{name}'"))
    rts = []
    if self.one_result:
      c.expect("->", f"and the result type of '{name}'")
      rts.append(self.piece(c.type_, f"the result type of '{name}'"))
    operands += [v for v, _ in dyn]
    ots += [t for _, t in dyn]
    if indices is not None:
      operands.append(indices[0])
      ots.append(indices[1])
    return self.finish(operands, ots, rts, attrs)

  def offsets(self, dyn: list[tuple[_Piece, _Piece]]) -> _Piece:
    """`[%i, 0, %j: tensor<i64>]`: `static_offsets`, each SSA value (with
    its type, default i32) appended to `dyn`."""
    c = self.c
    at = c.advance().start
    offsets = []
    if not c.accept("]"):
      while True:
        if c.peek().kind == "ssa":
          v = self.piece(c.ssa_use, "an offset")
          t = _Piece(DEFAULT_OFFSET_TYPE, v.src, False)
          if c.accept(":"):
            t = self.piece(c.type_, "the type of a dynamic offset")
          dyn.append((v, t))
          offsets.append(DYNAMIC)
        else:
          tok = c.peek()
          o = c.integer("the offsets")
          if o == DYNAMIC:
            raise c.error(f"offset {DYNAMIC} is MLIR's dynamic sentinel; write the "
                          "SSA value of a dynamic offset instead", tok)
          offsets.append(o)
        if c.accept("]"):
          break
        c.expect(",", "or ']' in the offsets")
    return _Piece(f"static_offsets = array<i64{_array_body(offsets)}>", at, False)

  def clauses(self) -> tuple[list[list[_Piece]], tuple[_Piece, _Piece] | None]:
    """`sizes [...]`, `strides [...]`, `squeezed [...]`, `indexed [...] by
    (%idx: T)`, `mode m`, each at most once, in any order; the attributes
    they stand for and the indices operand."""
    c, src, name = self.c, self.src, self.name
    out: list[list[_Piece]] = []
    indices = None
    seen: dict[str, Tok] = {}
    while c.peek().kind == "ident" and c.text() in _KEYWORD_ATTR:
      tok = c.advance()
      kw = src.tok_text(tok)
      if kw in seen:
        line, col = src.line_col(seen[kw].start)
        raise c.error(f"duplicate '{kw}' clause in '{name}' (the first is at "
                      f"{line}:{col})", tok)
      seen[kw] = tok
      if kw == "mode":
        out.append([self.mode()])
        continue
      c.expect("[", f"to start the list of '{kw}'")
      values = c.items_until("]", lambda kw=kw: c.integer(f"'{kw}'"),
                             f"or ']' in the list of '{kw}'")
      out.append([_Piece(f"{_KEYWORD_ATTR[kw]} = array<i64{_array_body(values)}>",
                         tok.start, False)])
      if kw == "indexed":
        indices = self.indices(values)
    if c.is_keyword("by"):
      raise c.error("'by (%indices: type)' must follow 'indexed [...]'")
    if c.peek().kind == "ident" and c.text() != "loc":
      raise c.error(f"expected one of 'sizes', 'strides', 'squeezed', 'indexed', 'mode', "
                    f"',', '{{' or ':' in '{name}', found {c.found()}")
    return out, indices

  def mode(self) -> _Piece:
    c, src = self.c, self.src
    t = c.peek()
    if t.kind == "string":
      mode = src.tok_text(t)
    elif t.kind == "ident":
      mode = '"' + src.tok_text(t) + '"'
    else:
      raise c.error(f"expected a mode ('window' or 'elementwise') after 'mode', "
                    f"found {c.found()}")
    c.advance()
    return _Piece(f"mode = {mode}", t.start, False)

  def indices(self, indexed: list[int]) -> tuple[_Piece, _Piece] | None:
    """`by (%indices: type)` after a non-empty `indexed [...]`."""
    c = self.c
    if not indexed:
      if c.is_keyword("by"):
        raise c.error("an empty 'indexed []' takes no indices operand")
      return None
    if not c.is_keyword("by"):
      raise c.error(f"expected 'by (%indices: type)' after 'indexed {_ints(indexed)}', "
                    f"found {c.found()}")
    c.advance()
    c.expect("(", "after 'by': the indices are written 'by (%indices: type)'")
    v = self.piece(c.ssa_use, "the indices operand")
    c.expect(":", "and the type of the indices operand")
    t = self.piece(c.type_, "the type of the indices operand")
    c.expect(")", "after the type of the indices operand")
    return v, t


def _array_body(values: list[int]) -> str:
  return (": " + ", ".join(map(str, values))) if values else ""


def _mlir_string(s: str) -> str:
  out = []
  for ch in s:
    if ch in '"\\':
      out.append("\\" + ch)
    elif ch < " " or ch == "\x7f":
      out.append(f"\\{ord(ch):02X}")
    else:
      out.append(ch)
  return '"' + "".join(out) + '"'


def _generic_pieces(op: _PrettyOp, loc: _Piece, lines: int) -> list[_Piece]:
  """The generic form of `op`, spread over `lines` lines."""
  at = op.name.src  # what the punctuation stands for

  def joined(items: list[_Piece], sep: str) -> list[_Piece]:
    out: list[_Piece] = []
    for n, item in enumerate(items):
      if n:
        out.append(_Piece(sep, item.src, False))
      out.append(item)
    return out

  head: list[_Piece] = []
  if op.results:
    head += [op.results[0], _Piece(" = ", at, False)]
  head += [_Piece(f'"{op.name.text}"(', at, False), *joined(op.operands, ", "),
           _Piece(")", at, False)]
  if op.attrs:
    head.append(_Piece(" {", at, False))
    for n, attr in enumerate(op.attrs):
      if n:
        head.append(_Piece(", ", attr[0].src, False))
      head += attr
    head.append(_Piece("}", at, False))
  rts = op.result_types
  tail = [_Piece(" : (", at, False), *joined(op.operand_types, ", "), _Piece(") -> ", at, False)]
  if len(rts) == 1:
    tail.append(rts[0])
  else:
    tail += [_Piece("(", at, False), *joined(rts, ", "), _Piece(")", at, False)]
  tail += [_Piece(" ", loc.src, False), loc]
  pad = lines - 1 - sum(p.text.count("\n") for p in head + tail)
  if pad < 0:  # only if a type spanned lines: spans have no comments left
    head = [p._replace(text=p.text.replace("\n", " ")) for p in head]
    tail = [p._replace(text=p.text.replace("\n", " ")) for p in tail]
    pad = lines - 1
  return head + [_Piece("\n" * pad, tail[0].src, False)] + tail


class PositionMap:
  """Where a position of `to_generic`'s output was in its input.

  MLIR reports a parse error inside a rewritten op at its position in the
  generic text, which is on the right line but not the right column; this
  maps it back: to the token it was copied from, or to what a synthesized
  piece stands for (the op's name, an indexer clause)."""

  def __init__(self, src: _Source, out: str, segments: list[tuple[int, _Piece]],
               given: set[tuple[int, int]] = frozenset()):
    self._src = src
    self._out = out
    self._given = given  # the `loc("filename":line:col)`s given to rewritten ops
    self._starts = [start for start, _ in segments]
    self._pieces = [p for _, p in segments]
    self._out_lines = [0] + [m.end() for m in re.finditer("\n", out)]

  @property
  def rewrote(self) -> bool:
    """Whether the input had pretty ops (else the output is the input)."""
    return bool(self._pieces)

  def source_position(self, line: int, col: int) -> tuple[int, int]:
    """The input's (line, byte column) of the output's (line, byte column)."""
    if not self._pieces or not 1 <= line <= len(self._out_lines):
      return line, col
    start = self._out_lines[line - 1]
    end = self._out.find("\n", start)
    row = self._out[start:] if end < 0 else self._out[start:end]
    offset = start + len(row.encode("utf-8")[:max(col - 1, 0)].decode("utf-8", "ignore"))
    i = bisect.bisect_right(self._starts, offset) - 1
    if i < 0:
      return line, col
    piece = self._pieces[i]
    delta = min(offset - self._starts[i], max(len(piece.text) - 1, 0))
    return self._src.line_col(piece.src + (delta if piece.exact else 0))

  def remap(self, diags: list, filename: str) -> list:
    """`diags` (refhlo.compiler.diagnostics.Diagnostic, from parsing the
    output as `filename`) located in the input. A diagnostic at the location
    a rewritten op was given (MLIR's verifier, run by its parser, reports
    there) is there already."""
    from refhlo.compiler.diagnostics import FileLoc
    out = []
    for d in diags:
      loc = d.loc
      if loc is not None and loc.file == filename and (loc.line, loc.col) not in self._given:
        loc = FileLoc(loc.file, *self.source_position(loc.line, loc.col))
      out.append(dataclasses.replace(d, loc=loc, notes=tuple(self.remap(list(d.notes),
                                                                        filename))))
    return out


def to_generic_with_positions(text: str, filename: str = "-") -> tuple[str, PositionMap]:
  """`to_generic`, and the map from its output's positions to `text`'s."""
  src = _Source(text, filename) if "ref." in text else None
  segments: list[tuple[int, _Piece]] = []
  out: list[str] = []
  size = 0

  def emit(p: _Piece) -> None:
    nonlocal size
    if p.text:
      segments.append((size, p))
      out.append(p.text)
      size += len(p.text)

  given: set[tuple[int, int]] = set()
  done = 0
  skip_to = 0
  for k in (_pretty_op_names(src) if src is not None else ()):
    if k < skip_to:
      continue
    first, results = _results_before(src, k)
    op, end = _parse_pretty(src, k, first, results)
    start = src.toks[first].start
    stop = src.toks[end - 1].end
    if op.loc is None:
      line, col = src.line_col(op.name.src)
      given.add((line, col))
      loc = _Piece(f"loc({_mlir_string(filename)}:{line}:{col})", op.name.src, False)
    else:
      loc = op.loc
    emit(_Piece(text[done:start], done))
    for p in _generic_pieces(op, loc, text.count("\n", start, stop) + 1):
      emit(p)
    done = stop
    skip_to = end
  if not segments:
    return text, PositionMap(src or _Source(""), text, [])
  emit(_Piece(text[done:], done))
  result = "".join(out)
  return result, PositionMap(src, result, segments, given)


def to_generic(text: str, filename: str = "-") -> str:
  """`text` with every pretty `ref.*` op in the generic form MLIR parses.

  Generic ops and everything else are kept byte for byte; each rewritten op
  spans the lines it did and carries `loc("filename":line:col)` of its name
  unless it has a `loc(...)`. Raises `AsmSyntaxError` for a malformed op.
  """
  return to_generic_with_positions(text, filename)[0]
