"""Window updates of a sharded buffer as masked elementwise updates (part of
`ref-prepare-for-xla`).

XLA's SPMD partitioner (GSPMD, jax 0.10.2) turns a `dynamic_update_slice`
with constant starts into a buffer tiled along a dimension the window only
partly covers into collectives: `r[1000:1064] += 1` on a `(8192, 256)` ref
sharded by rows over 8 devices all-gathers the whole ref (measured: 2
all-gathers and 5 collective-permutes under refhlo and `jax.jit` alike, 5.8
ms; bench/sharded.py `local_rows`). The same update written elementwise over
the whole buffer,

    select(lo <= iota < hi, f(buffer), buffer)

where `f` is the update's computation with every read of the window
replaced by the whole buffer (an operand that does not come from a window is
padded to the buffer's shape), is partitioned without any collective: each
device computes its own rows and leaves the others (0.3 ms). It touches the
whole shard instead of the window, which is cheaper than any collective of
the buffer.

Rewritten: in a public function, a `dynamic_update_slice` with constant
starts whose buffer is (a chain of updates of) an argument with a tiled
`mhlo.sharding`, when a dimension the window does not cover whole is tiled,
and the update value is built from window reads (`slice` of a buffer of the
same shape at the same window, with reshapes that only add or drop unit
dims), scalars broadcast to it, constants, and elementwise ops.
"""

from __future__ import annotations

from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler import builders as hb
from refhlo.compiler import irutil
from refhlo.compiler.sharding import ShardingError, parse_sharding

_ELEMENTWISE = frozenset({
    "stablehlo.add", "stablehlo.subtract", "stablehlo.multiply", "stablehlo.divide",
    "stablehlo.maximum", "stablehlo.minimum", "stablehlo.negate", "stablehlo.abs",
    "stablehlo.exponential", "stablehlo.log", "stablehlo.sqrt", "stablehlo.rsqrt",
    "stablehlo.tanh", "stablehlo.logistic", "stablehlo.and", "stablehlo.or",
    "stablehlo.xor", "stablehlo.not", "stablehlo.select", "stablehlo.compare",
    "stablehlo.clamp", "stablehlo.convert", "stablehlo.power", "stablehlo.remainder",
})


def mask_sharded_updates(f: ir.Operation) -> int:
  """Rewrites the window updates of `f`'s sharded arguments; returns how
  many."""
  if not irutil.is_public(f) or "arg_attrs" not in f.attributes or not f.regions[0].blocks:
    return 0
  tiled: dict[ir.Value, frozenset[int]] = {}
  args = f.regions[0].blocks[0].arguments
  for a, d in zip(args, ir.ArrayAttr(f.attributes["arg_attrs"])):
    d = ir.DictAttr(d)
    if "mhlo.sharding" in d and isinstance(d["mhlo.sharding"], ir.StringAttr):
      dims = _tiled_dims(ir.StringAttr(d["mhlo.sharding"]).value,
                         ir.RankedTensorType(a.type).rank)
      if dims:
        tiled[a] = dims
  if not tiled:
    return 0
  count = 0
  for op in irutil.walk_ops(f):  # a snapshot: rewriting on the way is safe
    if op.name != "stablehlo.dynamic_update_slice":
      continue
    dims = tiled.get(_buffer_root(op.operands[0]))
    if dims and _rewrite(op, dims):
      count += 1
  return count


def _tiled_dims(text: str, rank: int) -> frozenset[int]:
  try:
    s = parse_sharding(text)
  except ShardingError:
    return frozenset()
  if s.kind != "tiled":
    return frozenset()
  value_dims = s.tile_dims[:len(s.tile_dims) - s.subgroup_dims]
  return frozenset(d for d, n in enumerate(value_dims[:rank]) if n > 1)


def _buffer_root(v: ir.Value) -> ir.Value:
  """The value a chain of whole-buffer updates starts from."""
  while not isinstance(v.owner, ir.Block) and v.owner.operation.name in (
      "stablehlo.dynamic_update_slice", "stablehlo.select"):
    op = v.owner.operation
    v = op.operands[0] if op.name == "stablehlo.dynamic_update_slice" else op.operands[2]
  return v


def _const_int(v: ir.Value) -> int | None:
  if isinstance(v.owner, ir.Block) or v.owner.operation.name != "stablehlo.constant":
    return None
  attr = ir.DenseIntElementsAttr(v.owner.operation.attributes["value"])
  return int(ir.IntegerAttr(attr.get_splat_value()).value) if attr.is_splat else None


def _rewrite(dus: ir.Operation, tiled: frozenset[int]) -> bool:
  buf, upd = dus.operands[0], dus.operands[1]
  shape = list(ir.RankedTensorType(buf.type).shape)
  sizes = list(ir.RankedTensorType(upd.type).shape)
  starts = [_const_int(s) for s in dus.operands[2:]]
  if any(s is None for s in starts):
    return False
  window = [(s, s + n) for s, n in zip(starts, sizes)]
  if any(lo < 0 or hi > d for (lo, hi), d in zip(window, shape)):
    return False
  partial = [d for d, ((lo, hi), n) in enumerate(zip(window, shape)) if lo > 0 or hi < n]
  if not any(d in tiled for d in partial):
    return False
  widened = _Widen(buf.type, window, sizes)
  with ir.InsertionPoint(dus), dus.location:
    full = widened.value(upd)
    if full is None:
      return False
    mask = None
    elt_i32 = hb.i32()
    for d in partial:
      lo, hi = window[d]
      iota = stablehlo.IotaOp(ir.RankedTensorType.get(shape, elt_i32),
                              ir.IntegerAttr.get(ir.IntegerType.get_signless(64), d)).result
      inside = stablehlo.AndOp(
          hb.compare(iota, hb.int_const(lo, elt_i32, shape), "GE"),
          hb.compare(iota, hb.int_const(hi, elt_i32, shape), "LT")).result
      mask = inside if mask is None else stablehlo.AndOp(mask, inside).result
    new = stablehlo.SelectOp(mask, full, buf).result
  dus.results[0].replace_all_uses_with(new)
  dus.erase()
  return True


class _Widen:
  """Maps a value of the window's shape (up to unit dims) to the value the
  same computation has over the whole buffer."""

  def __init__(self, full_type: ir.Type, window: list[tuple[int, int]], sizes: list[int]):
    self.full_type = ir.RankedTensorType(full_type)
    self.window = window
    self.sizes = sizes
    self.count = 1
    for n in sizes:
      self.count *= n
    self.memo: dict[ir.Value, ir.Value | None] = {}

  def _type(self, v: ir.Value) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(self.full_type.shape),
                                   ir.RankedTensorType(v.type).element_type)

  def _window_shaped(self, v: ir.Value) -> bool:
    t = ir.RankedTensorType(v.type)
    n = 1
    for d in t.shape:
      n *= d
    return n == self.count and [d for d in t.shape if d != 1] == [
        d for d in self.sizes if d != 1]

  def value(self, v: ir.Value) -> ir.Value | None:
    if v in self.memo:
      return self.memo[v]
    out = self._value(v)
    self.memo[v] = out
    return out

  def _value(self, v: ir.Value) -> ir.Value | None:
    if not self._window_shaped(v):
      return None
    op = None if isinstance(v.owner, ir.Block) else v.owner.operation
    name = op.name if op is not None else ""
    if name == "stablehlo.slice" and self._is_window_read(op):
      return op.operands[0]
    if name == "stablehlo.reshape":
      inner = self.value(op.operands[0])
      if inner is not None:
        return inner
    if name == "stablehlo.broadcast_in_dim" and ir.RankedTensorType(
        op.operands[0].type).rank == 0:
      return stablehlo.BroadcastInDimOp(self._type(v), op.operands[0], []).result
    if name == "stablehlo.constant":
      attr = ir.DenseElementsAttr(op.attributes["value"])
      if attr.is_splat:
        return stablehlo.ConstantOp(ir.DenseElementsAttr.get_splat(
            self._type(v), attr.get_splat_value())).result
    if name in _ELEMENTWISE and len(op.results) == 1 and all(
        self._window_shaped(o) for o in op.operands):
      operands = [self.value(o) for o in op.operands]
      if all(o is not None for o in operands):
        attrs = irutil.attrs_of(op)
        return ir.Operation.create(name, results=[self._type(v)], operands=operands,
                                   attributes=attrs).result
    return self._pad(v)

  def _is_window_read(self, op: ir.Operation) -> bool:
    src = ir.RankedTensorType(op.operands[0].type)
    if list(src.shape) != list(self.full_type.shape):
      return False
    starts = list(ir.DenseI64ArrayAttr(op.attributes["start_indices"]))
    limits = list(ir.DenseI64ArrayAttr(op.attributes["limit_indices"]))
    strides = list(ir.DenseI64ArrayAttr(op.attributes["strides"]))
    return (all(s == 1 for s in strides)
            and list(zip(starts, limits)) == [tuple(w) for w in self.window])

  def _pad(self, v: ir.Value) -> ir.Value:
    """A value computed elsewhere, put in place: pad(v, window) (the padding
    is never selected)."""
    elt = ir.RankedTensorType(v.type).element_type
    win_t = ir.RankedTensorType.get(self.sizes, elt)
    if ir.RankedTensorType(v.type).shape != self.sizes:
      v = stablehlo.ReshapeOp(win_t, v).result
    zero = hb.zeros(ir.RankedTensorType.get([], elt))
    shape = list(self.full_type.shape)
    low = [lo for lo, _ in self.window]
    high = [n - hi for (_, hi), n in zip(self.window, shape)]
    return stablehlo.PadOp(v, zero, low, high, [0] * len(shape)).result
