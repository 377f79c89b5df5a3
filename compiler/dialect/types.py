"""The ref type `!ref.ref<T>`: build it, recognise it, take it apart.

The dialect is unregistered in C++, so the type is MLIR's opaque type with
dialect namespace `ref` and data `ref<T>`, `T` a statically shaped ranked
tensor type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jaxlib.mlir import ir

DYNAMIC = -9223372036854775808
"""MLIR's `ShapedType::kDynamic`: in `static_offsets`, "take the next dynamic
offset operand"."""

_PREFIX = "ref<"


class RefTypeError(ValueError):
  """A `!ref.ref<...>` type that is not well-formed."""


# -- memo tables ----------------------------------------------------------------
#
# MLIR uniques types and attributes per context, and the Python objects wrapping
# them hash and compare by that identity, so facts derived from them (the value
# type of a ref type, an op's indexer) can be memoised by the objects
# themselves. The tables hold those objects, and with them their context; to
# keep contexts from living forever the tables exist only inside a `memoized()`
# scope (`run_pipeline` opens one per run, and the pass callback one per pass
# run; nested scopes share the outer one). Outside one, nothing is cached.
# Keys hold their contexts alive, so entries stay exact even if two modules'
# runs (e.g. in two threads) happen to share a scope.


class Memo:
  """The memo tables of one `memoized()` scope (see `active_memo`)."""

  __slots__ = ("value_types", "indexers", "tables")

  def __init__(self):
    # ref type -> its value type, or the RefTypeError message.
    self.value_types: dict[ir.Type, ir.RankedTensorType | str] = {}
    # (ref type, attribute names, attributes, indices shape) -> Indexer or error.
    self.indexers: dict[tuple, object] = {}
    # Other modules' tables, by name (see `table`).
    self.tables: dict[str, dict] = {}

  def table(self, name: str) -> dict:
    """A named table for other modules' memoised facts."""
    t = self.tables.get(name)
    if t is None:
      t = self.tables[name] = {}
    return t


_ACTIVE: Memo | None = None


@contextlib.contextmanager
def memoized() -> Iterator[Memo]:
  """Memoises type and indexer queries while active (re-entrant)."""
  global _ACTIVE
  if _ACTIVE is not None:
    yield _ACTIVE
    return
  _ACTIVE = Memo()
  try:
    yield _ACTIVE
  finally:
    _ACTIVE = None


def active_memo() -> Memo | None:
  """The memo tables of the current `memoized()` scope, or None."""
  return _ACTIVE


def ref_type(value_type: ir.Type) -> ir.Type:
  """`!ref.ref<value_type>`, in the current (or `value_type`'s) context."""
  return ir.OpaqueType.get("ref", f"{_PREFIX}{value_type}>",
                           context=value_type.context)


def is_ref_type(t: ir.Type) -> bool:
  """True for any type of the `ref` dialect (well-formed or not)."""
  return isinstance(t, ir.OpaqueType) and t.dialect_namespace == "ref"


def _body(t: ir.Type) -> str:
  if not is_ref_type(t):
    raise RefTypeError(f"expected a !ref.ref type, got {t}")
  data = t.data
  if not (data.startswith(_PREFIX) and data.endswith(">")):
    raise RefTypeError(f"unknown type '!ref.{data}' (expected !ref.ref<T>)")
  return data[len(_PREFIX):-1]


def ref_value_type(t: ir.Type) -> ir.RankedTensorType:
  """`T` of `!ref.ref<T>`; raises RefTypeError unless T is a static ranked tensor."""
  memo = _ACTIVE
  if memo is None:
    return _parse_value_type(t)
  hit = memo.value_types.get(t)
  if hit is None:
    try:
      hit = _parse_value_type(t)
    except RefTypeError as e:
      hit = str(e)
    memo.value_types[t] = hit
  if isinstance(hit, str):
    raise RefTypeError(hit)
  return hit


def _parse_value_type(t: ir.Type) -> ir.RankedTensorType:
  body = _body(t)
  try:
    inner = ir.Type.parse(body, context=t.context)
  except ir.MLIRError:
    raise RefTypeError(f"'{body}' in {t} is not a valid type") from None
  except ValueError:
    raise RefTypeError(f"'{body}' in {t} is not a valid type") from None
  if not isinstance(inner, ir.RankedTensorType):
    raise RefTypeError(f"a ref must hold a ranked tensor type, got {body}")
  inner = ir.RankedTensorType(inner)
  if not inner.has_static_shape:
    raise RefTypeError(f"a ref must hold a statically shaped tensor, got {body}")
  elt = inner.element_type
  if not (isinstance(elt, (ir.IntegerType, ir.FloatType))):
    raise RefTypeError(
        f"a ref must hold integer, float or i1 elements, got {elt}")
  return inner


def ref_shape(t: ir.Type) -> tuple[int, ...]:
  memo = _ACTIVE
  if memo is None:
    return tuple(ref_value_type(t).shape)
  shapes = memo.table("ref_shape")
  shape = shapes.get(t)
  if shape is None:
    shape = shapes[t] = tuple(ref_value_type(t).shape)
  return shape


def ref_element_type(t: ir.Type) -> ir.Type:
  return ref_value_type(t).element_type


def is_numeric(elt: ir.Type) -> bool:
  """Element types that `ref.addupdate` accepts: every int and float but i1."""
  if isinstance(elt, ir.IntegerType):
    return ir.IntegerType(elt).width != 1
  return isinstance(elt, ir.FloatType)
