"""StableHLO op builders shared by the transforms.

Each returns the new op's result (`ir.Value`) at the current insertion point
and location. The hot ones create ops with `ir.Operation.create` and explicit
result types: the generated `stablehlo.*Op` builders cost 1-4 us more per op
(attribute builders, result inference) for the same IR. Constant attributes
are memoised in the pipeline run's memo (`dialect.types.memoized`).

Transforms build StableHLO through here (or the generated builders, for ops
off the hot path); none keeps a private copy of a builder.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler.dialect.types import active_memo


def i32() -> ir.Type:
  return ir.IntegerType.get_signless(32)


def scalar_type(t: ir.Type) -> ir.RankedTensorType:
  return ir.RankedTensorType.get([], t)


def build(name: str, result: ir.Type, operands: list[ir.Value],
        attributes: dict[str, ir.Attribute] | None = None) -> ir.Value:
  return ir.Operation.create(name, results=[result], operands=operands,
                             attributes=attributes).results[0]


def int_const(v: int, elt: ir.Type, shape: Sequence[int] = ()) -> ir.Value:
  memo = active_memo()
  key = (v, elt, tuple(shape))
  table = memo.tables.get("int_const") if memo is not None else None
  attr = None if table is None else table.get(key)
  if attr is None:
    t = ir.RankedTensorType.get(list(shape), elt)
    attr = ir.DenseElementsAttr.get_splat(t, ir.IntegerAttr.get(elt, v))
    if memo is not None:
      memo.table("int_const")[key] = attr
  return build("stablehlo.constant", attr.type, [], {"value": attr})


def zeros(t: ir.RankedTensorType) -> ir.Value:
  elt = t.element_type
  if isinstance(elt, ir.FloatType):
    a = ir.FloatAttr.get(elt, 0.0)
  else:
    a = ir.IntegerAttr.get(elt, 0)
  return stablehlo.ConstantOp(ir.DenseElementsAttr.get_splat(t, a)).result


def elt_of(v: ir.Value) -> ir.Type:
  return ir.RankedTensorType(v.type).element_type


def is_unsigned(t: ir.Type) -> bool:
  return isinstance(t, ir.IntegerType) and ir.IntegerType(t).is_unsigned


def is_native_index(t: ir.Type) -> bool:
  """Index element types we feed to slicing ops as they are (i32, i64)."""
  return (isinstance(t, ir.IntegerType) and not ir.IntegerType(t).is_unsigned
          and ir.IntegerType(t).width in (32, 64))


def convert(v: ir.Value, elt: ir.Type) -> ir.Value:
  t = ir.RankedTensorType(v.type)
  if t.element_type == elt:
    return v
  return stablehlo.ConvertOp(ir.RankedTensorType.get(list(t.shape), elt), v).result


def clamp_to(v: ir.Value, hi: int, out: ir.Type | None = None) -> ir.Value:
  """clamp(0, v, hi) in v's own type, then converted to `out` (default i32)."""
  elt = elt_of(v)
  shape = ir.RankedTensorType(v.type).shape
  hi = max(hi, 0)
  if isinstance(elt, ir.IntegerType):
    hi = min(hi, max_of(elt))
  lo_c = int_const(0, elt, shape)
  hi_c = int_const(hi, elt, shape)
  c = stablehlo.ClampOp(lo_c, v, hi_c).result
  return convert(c, out or i32())


def clamp_range(v: ir.Value, lo: int, hi: int) -> ir.Value:
  """clamp(lo, v, hi) in v's own type (bounds cut to what the type holds)."""
  elt = elt_of(v)
  shape = ir.RankedTensorType(v.type).shape
  tmin, tmax = min_of(elt), max_of(elt)
  lo, hi = max(lo, tmin), min(hi, tmax)
  if lo <= tmin and hi >= tmax:
    return v
  return stablehlo.ClampOp(int_const(lo, elt, shape), v, int_const(hi, elt, shape)).result


def wrap_negative(v: ir.Value, bound: int) -> ir.Value:
  """NumPy's negative index: `v < 0 ? v + bound : v`, elementwise (in v's type,
  or i32 if that cannot hold `bound`; unsigned values are never negative)."""
  elt = elt_of(v)
  if is_unsigned(elt):
    return v
  if bound > max_of(elt):
    v = convert(v, i32())
    elt = i32()
  shape = ir.RankedTensorType(v.type).shape
  neg = compare(v, int_const(0, elt, shape), "LT")
  return stablehlo.SelectOp(neg, stablehlo.AddOp(v, int_const(bound, elt, shape)).result,
                            v).result


def compare(a: ir.Value, b: ir.Value, direction: str) -> ir.Value:
  ctype = "UNSIGNED" if is_unsigned(elt_of(a)) else "SIGNED"
  return stablehlo.compare(a, b, stablehlo.ComparisonDirectionAttr.get(direction),
                           compare_type=stablehlo.ComparisonTypeAttr.get(ctype))


def reshape(v: ir.Value, shape: Sequence[int]) -> ir.Value:
  t = ir.RankedTensorType(v.type)
  if tuple(t.shape) == tuple(shape):
    return v
  return build("stablehlo.reshape",
               ir.RankedTensorType.get(list(shape), t.element_type), [v])


def max_of(t: ir.Type) -> int:
  """The largest value of integer type `t`."""
  w = ir.IntegerType(t).width
  return (1 << (w if is_unsigned(t) else w - 1)) - 1


def min_of(t: ir.Type) -> int:
  """The smallest value of integer type `t`."""
  return 0 if is_unsigned(t) else -(1 << (ir.IntegerType(t).width - 1))
