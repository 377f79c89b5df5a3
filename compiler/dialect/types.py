"""The ref type `!ref.ref<T>`: build it, recognise it, take it apart.

The dialect is unregistered in C++, so the type is MLIR's opaque type with
dialect namespace `ref` and data `ref<T>`, `T` a statically shaped ranked
tensor type.
"""

from __future__ import annotations

from jaxlib.mlir import ir

DYNAMIC = -9223372036854775808
"""MLIR's `ShapedType::kDynamic`: in `static_offsets`, "take the next dynamic
offset operand"."""

_PREFIX = "ref<"


class RefTypeError(ValueError):
  """A `!ref.ref<...>` type that is not well-formed."""


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
  return tuple(ref_value_type(t).shape)


def ref_element_type(t: ir.Type) -> ir.Type:
  return ref_value_type(t).element_type


def is_numeric(elt: ir.Type) -> bool:
  """Element types that `ref.addupdate` accepts: every int and float but i1."""
  if isinstance(elt, ir.IntegerType):
    return ir.IntegerType(elt).width != 1
  return isinstance(elt, ir.FloatType)
