"""Checking `mhlo.sharding` attributes before XLA sees them.

An `mhlo.sharding` is a string in XLA's HLO sharding syntax
(`"{devices=[2,1]<=[2]}"`, `"{replicated}"`, ...). MLIR does not look inside
it; XLA parses it only when it converts the module to HLO, and then a
malformed one is silently dropped (`"garbage"`), fails deep inside XLA without
a useful location (`"{devices=[2]<=[3]}"`), or aborts the process (XLA's
parser CHECK-fails on `last_tile_dim_replicate` together with
`last_tile_dims`). `sharding_problem(attr, type)` says what is wrong first:

1. a strict parse of the syntax XLA prints (`HloSharding::ToString`) and the
   rules XLA checks when it parses a sharding or validates it against a
   shape: tile dimensions >= 1, as many distinct devices as tiles (listed, or
   an iota `<=[dims]` with `T(permutation)` when it has several dims), at most
   one of `last_tile_dim_replicate` and `last_tile_dims`, as many tiled
   dimensions as the value has (besides the subgroup ones), a device >= 0
   for `maximal`, no tuple sharding on a tensor;
2. then XLA's own parser (`jaxlib._hlo.HloSharding.from_string`), on strings
   that passed step 1 only, so that what XLA cannot read is reported too and
   nothing that makes it abort reaches it. `jaxlib._hlo` is imported lazily,
   the first time a sharding is checked; it does not import `jax`.
"""

from __future__ import annotations

import dataclasses
import math
import re

from jaxlib.mlir import ir

_TOKEN_RE = re.compile(r'\s*(?:(<=)|([{}\[\](),=])|(-?\d+)|([A-Za-z_][A-Za-z0-9_]*)|("(?:[^"\\]|\\.)*"))')
_SUBGROUP_TYPES = ("replicated", "manual", "unreduced")
_SIMPLE = ("replicated", "manual", "unknown", "unreduced")


class ShardingError(ValueError):
  """A malformed sharding string; `column` is 1-based (or None)."""

  def __init__(self, message: str, column: int | None = None):
    super().__init__(message)
    self.column = column


@dataclasses.dataclass(frozen=True)
class Sharding:
  """One parsed HLO sharding (a tuple one has `elements`)."""
  kind: str  # "tiled", "maximal", "tuple", or one of _SIMPLE
  tile_dims: tuple[int, ...] = ()
  subgroup_dims: int = 0  # trailing tile dims that are not the value's dims
  elements: tuple[Sharding, ...] = ()


class _Parser:
  """Recursive descent over the tokens of one sharding string."""

  def __init__(self, text: str):
    self.text = text
    self.tokens: list[tuple[str, int]] = []  # (token, 1-based column)
    pos = 0
    while pos < len(text):
      if text[pos:].strip() == "":
        break
      m = _TOKEN_RE.match(text, pos)
      if not m:
        raise ShardingError(f"unexpected character '{text[pos:].lstrip()[0]}'",
                            len(text) - len(text[pos:].lstrip()) + 1)
      tok = next(g for g in m.groups() if g is not None)
      self.tokens.append((tok, m.start(m.lastindex) + 1))
      pos = m.end()
    self.i = 0

  def peek(self) -> str | None:
    return self.tokens[self.i][0] if self.i < len(self.tokens) else None

  def column(self) -> int:
    if self.i < len(self.tokens):
      return self.tokens[self.i][1]
    return len(self.text) + 1

  def next(self) -> str:
    tok = self.peek()
    if tok is None:
      raise ShardingError("unexpected end of the sharding", self.column())
    self.i += 1
    return tok

  def expect(self, tok: str, what: str) -> None:
    col = self.column()
    got = self.next()
    if got != tok:
      raise ShardingError(f"expected {what}, got '{got}'", col)

  def integer(self, what: str) -> int:
    col = self.column()
    tok = self.next()
    if not re.fullmatch(r"-?\d+", tok):
      raise ShardingError(f"expected {what} (an integer), got '{tok}'", col)
    return int(tok)

  def int_list(self, what: str) -> list[int]:
    """`[a, b, ...]`, at least one entry."""
    self.expect("[", f"'[' to start the {what}")
    out = [self.integer(what)]
    while self.peek() == ",":
      self.next()
      out.append(self.integer(what))
    self.expect("]", f"']' to end the {what}")
    return out

  # -- grammar ---------------------------------------------------------------

  def sharding(self) -> Sharding:
    self.expect("{", "'{' to start the sharding")
    if self.peek() in ("{", "}"):  # a tuple: {} or {{...}, {...}}
      elements = []
      if self.peek() == "{":
        elements.append(self.sharding())
        while self.peek() == ",":
          self.next()
          elements.append(self.sharding())
      self.expect("}", "'}' to end the tuple sharding")
      return Sharding("tuple", elements=tuple(elements))
    start = self.column()
    head = self.next()
    if head in _SIMPLE:
      result = Sharding(head)
    elif head == "maximal":
      col = self.column()
      if self.next() != "device":
        raise ShardingError("expected 'device=N' after 'maximal'", col)
      self.expect("=", "'=' after 'device'")
      col = self.column()
      if self.integer("device") < 0:
        raise ShardingError("the device of a maximal sharding must be >= 0", col)
      result = Sharding("maximal")
    elif head == "devices":
      result = self.tiled()
    else:
      raise ShardingError(f"expected 'replicated', 'manual', 'maximal', 'devices=' "
                          f"or a tuple, got '{head}'", start)
    self.trailers()
    self.expect("}", "'}' to end the sharding")
    return result

  def tiled(self) -> Sharding:
    self.expect("=", "'=' after 'devices'")
    col = self.column()
    dims = self.int_list("tile assignment dimensions")
    for k, d in enumerate(dims):
      if d < 1:
        raise ShardingError(f"tile assignment dimension #{k} is {d}; it must be >= 1", col)
    tiles = math.prod(dims)
    col = self.column()
    if self.peek() == "<=":  # iota: <=[reshape dims] T(perm)
      self.next()
      reshape = self.int_list("iota dimensions")
      if any(r < 1 for r in reshape) or math.prod(reshape) != tiles:
        raise ShardingError(f"the iota dimensions {reshape} hold {math.prod(reshape)} "
                            f"devices, but the tile assignment {dims} has {tiles} "
                            "tiles", col)
      if len(reshape) > 1 and self.peek() != "T":
        raise ShardingError(f"expected 'T(...)' after the {len(reshape)} iota "
                            "dimensions", self.column())
      if self.peek() == "T":
        col = self.column()
        if len(reshape) == 1:
          raise ShardingError("no 'T(...)' after a single iota dimension", col)
        self.next()
        self.expect("(", "'(' after 'T'")
        perm = [self.integer("permutation entry")]
        while self.peek() == ",":
          self.next()
          perm.append(self.integer("permutation entry"))
        self.expect(")", "')' to end the permutation")
        if sorted(perm) != list(range(len(reshape))):
          raise ShardingError(f"T{tuple(perm)} is not a permutation of the "
                              f"{len(reshape)} iota dimensions", col)
    else:
      devices = [self.integer("device")]
      while self.peek() == ",":
        self.next()
        devices.append(self.integer("device"))
      if len(devices) == 1:
        raise ShardingError("a tile assignment lists more than one device (one "
                            "device: use '{maximal device=N}')", col)
      if len(devices) != tiles:
        raise ShardingError(f"{len(devices)} devices listed, but the tile "
                            f"assignment {dims} has {tiles} tiles", col)
      if min(devices) < 0:
        raise ShardingError(f"device {min(devices)} is negative", col)
      if len(set(devices)) != len(devices):
        dup = next(d for d in devices if devices.count(d) > 1)
        raise ShardingError(f"device {dup} appears twice in the tile assignment", col)
    subgroups = 0
    if self.peek() == "last_tile_dim_replicate":
      subgroups = 1
      self.next()
    if self.peek() == "last_tile_dims":
      col = self.column()
      if subgroups:
        raise ShardingError("'last_tile_dim_replicate' and 'last_tile_dims' "
                            "cannot be combined", col)
      self.next()
      self.expect("=", "'=' after 'last_tile_dims'")
      self.expect("{", "'{' to start 'last_tile_dims'")
      while True:
        col = self.column()
        kind = self.next()
        if kind not in _SUBGROUP_TYPES:
          raise ShardingError(f"expected one of {', '.join(_SUBGROUP_TYPES)} in "
                              f"'last_tile_dims', got '{kind}'", col)
        subgroups += 1
        if self.peek() != ",":
          break
        self.next()
      self.expect("}", "'}' to end 'last_tile_dims'")
    if subgroups > len(dims):
      raise ShardingError(f"{subgroups} subgroup dimensions, but only {len(dims)} "
                          "tile assignment dimensions")
    return Sharding("tiled", tuple(dims), subgroups)

  def trailers(self) -> None:
    """`metadata={...}`, `shard_as N`, `shard_like N` (checked by XLA)."""
    while self.peek() in ("metadata", "shard_as", "shard_like"):
      tok = self.next()
      if tok == "metadata":
        self.expect("=", "'=' after 'metadata'")
        self.expect("{", "'{' to start the metadata")
        depth = 1
        while depth:
          t = self.next()
          depth += {"{": 1, "}": -1}.get(t, 0)
      else:
        self.integer(f"'{tok}' group id")

  def parse(self) -> Sharding:
    result = self.sharding()
    if self.peek() is not None:
      raise ShardingError(f"unexpected '{self.peek()}' after the sharding", self.column())
    return result


def parse_sharding(text: str) -> Sharding:
  """Parses and checks an HLO sharding string; raises ShardingError."""
  return _Parser(text).parse()


def _check_against(s: Sharding, t: ir.Type | None) -> str | None:
  """Whether sharding `s` fits a value of type `t` (None: unknown)."""
  if t is None or not isinstance(t, ir.RankedTensorType):
    return None
  if s.kind == "tuple":
    return f"a tuple sharding cannot shard a value of type {t}"
  if s.kind == "tiled":
    rank = ir.RankedTensorType(t).rank
    tiled = len(s.tile_dims) - s.subgroup_dims
    if tiled != rank:
      return (f"it tiles {tiled} dimension{'s' if tiled != 1 else ''} (tile "
              f"assignment {list(s.tile_dims)}"
              + (f", {s.subgroup_dims} of them subgroups" if s.subgroup_dims else "")
              + f"), but {t} has rank {rank}")
  return None


_XLA_VERDICTS: dict[str, str | None] = {}


def _xla_problem(text: str) -> str | None:
  """What XLA's own parser says about `text` (None: accepted), memoised."""
  if text not in _XLA_VERDICTS:
    try:
      from jaxlib import _hlo
    except ImportError:  # pragma: no cover - a jaxlib without it
      _XLA_VERDICTS[text] = None
      return None
    try:
      _hlo.HloSharding.from_string(text)
      _XLA_VERDICTS[text] = None
    except Exception as e:  # XLA's status error: keep its "error: ..." line
      msg = str(e)
      m = re.search(r"(\d+):(\d+): error: (.*)", msg)
      why = f"{m.group(3).strip()} (column {int(m.group(2)) + 1})" if m else msg.strip()
      _XLA_VERDICTS[text] = f"XLA cannot parse it: {why}"
  return _XLA_VERDICTS[text]


def sharding_problem(attr: ir.Attribute, value_type: ir.Type | None = None) -> str | None:
  """Why `attr` is not a valid `mhlo.sharding` for a value of `value_type`
  (None when it is valid; `value_type` None skips the shape checks)."""
  if not isinstance(attr, ir.StringAttr):
    return f"must be a string in HLO sharding syntax (e.g. \"{{replicated}}\"), got {attr}"
  text = ir.StringAttr(attr).value
  try:
    parsed = parse_sharding(text)
  except ShardingError as e:
    where = f" (column {e.column})" if e.column is not None else ""
    return f"{e}{where}"
  return _check_against(parsed, value_type) or _xla_problem(text)
