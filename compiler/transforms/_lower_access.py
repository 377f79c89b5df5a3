"""Lowering one ref access to StableHLO, given the current value of its root.

Used by `ref-effect-elimination`. A ref value is described by a `Lens`: which
root (a `ref.new`/`ref.empty` result or a ref parameter) it aliases and how
each of the root's dims maps to the ref's own dims (views compose into lenses:
offset `base + mult * i`, dims squeezed by a view fixed at `base`). An access
(an `Indexer` plus its operands) on a lens becomes a `RootAccess`: one entry
per root dim. `read` and `write` emit the StableHLO for it:

| access at root level | read | write |
|---|---|---|
| whole root | the value itself | the new value itself |
| static window (any strides) | `slice` | `dynamic_update_slice` (stride 1) |
| dynamic window, stride 1 | `dynamic_slice` | `dynamic_update_slice` |
| strided (dynamic), indexed or elementwise | `gather` | `scatter` |

plus a `reshape` for squeezed/indexed dims. Semantics (docs/dialect.md,
matching JAX): in mode "window" dynamic offsets are clamped so the window fits
(dynamic_slice and dynamic_update_slice clamp natively; elsewhere we clamp
explicitly); indexed reads clamp each index into the ref's dim; indexed writes
drop elements whose index is out of range (scatter skips out-of-bounds
windows); `addupdate` uses an add combiner, so duplicate indices sum. In mode
"elementwise" a dim with a dynamic offset becomes a `Checked` dim, addressed
element by element like an indexed one (an iota of offsets), and every
element index, indexed ones included, first gets the dim's size added if
negative.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler.builders import (build, clamp_range, clamp_to, compare, convert,
                                      elt_of, i32, int_const, is_native_index, max_of,
                                      reshape, scalar_type, wrap_negative)
from refhlo.compiler.dialect.indexer import ELEMENTWISE, Indexer, window_extent
from refhlo.compiler.dialect.types import DYNAMIC

def _cached(fn):
  """A read-only property of a frozen dataclass, computed once per instance
  (`functools.cached_property` takes a lock on every access in Python 3.11)."""
  name = fn.__name__

  def get(self):
    d = self.__dict__
    v = d.get(name, d)
    if v is d:
      v = d[name] = fn(self)
    return v

  return property(get, doc=fn.__doc__)


# -- offsets -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raw:
  """A dynamic offset operand as written: any 0-d integer tensor, not yet
  clamped. Only used where the clamp bound equals the native one of
  dynamic_slice/dynamic_update_slice (the window within the root)."""
  value: ir.Value


@dataclasses.dataclass(frozen=True)
class Clamped:
  """A 0-d i32 tensor known to be in range."""
  value: ir.Value


Offset = int | Raw | Clamped


@dataclasses.dataclass(frozen=True)
class Mapped:
  """A root dim seen through a lens as ref dim `dim`: root index = base + mult * i."""
  dim: int
  base: int | Clamped
  mult: int


@dataclasses.dataclass(frozen=True)
class Fixed:
  """A root dim squeezed away by a view, at offset `base`."""
  base: int | Clamped


@dataclasses.dataclass(frozen=True)
class Lens:
  """How a ref value sees its root."""
  root: ir.Value
  root_type: ir.RankedTensorType
  dims: tuple[Mapped | Fixed, ...]
  shape: tuple[int, ...]  # the ref's own shape

  @classmethod
  def identity(cls, root: ir.Value, root_type: ir.RankedTensorType) -> Lens:
    shape = tuple(root_type.shape)
    return cls(root, root_type, tuple(Mapped(d, 0, 1) for d in range(len(shape))),
               shape)

  @_cached
  def root_shape(self) -> tuple[int, ...]:
    return tuple(self.root_type.shape)

  @property
  def value_type(self) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(self.shape), self.root_type.element_type)

  def is_direct(self, r: int) -> bool:
    """True when root dim r is seen unchanged (offset 0, stride 1, full size)."""
    m = self.dims[r]
    return (isinstance(m, Mapped) and m.base == 0 and m.mult == 1
            and self.shape[m.dim] == self.root_shape[r])


@dataclasses.dataclass(frozen=True)
class Window:
  """Root dim accessed as `size` elements from `offset` every `stride`."""
  offset: Offset
  size: int
  stride: int
  squeezed: bool = False


@dataclasses.dataclass(frozen=True)
class Indexed:
  """Root dim addressed by column `k` of the indices: base + mult * idx, idx in
  [0, bound) (`direct`: the bound and the mapping are the root's own).
  `wrap`: mode "elementwise", a negative idx first gets `bound` added."""
  k: int
  base: int | Clamped
  mult: int
  bound: int
  direct: bool
  wrap: bool = False


@dataclasses.dataclass(frozen=True)
class Checked:
  """Mode "elementwise": a root dim whose ref dim has the dynamic offset `offset`
  (a raw operand). Element k has index e = offset + k * stride in the ref dim
  (k = 0 only, if `squeezed`); a negative e first gets `bound` added; reads
  clamp e into [0, bound), writes drop the element if e is outside; the root
  index is base + mult * e (`direct`: the ref dim is the root dim itself)."""
  offset: ir.Value
  size: int
  stride: int
  squeezed: bool
  base: int | Clamped
  mult: int
  bound: int
  direct: bool


@dataclasses.dataclass(frozen=True)
class RootAccess:
  lens: Lens
  dims: tuple[Window | Indexed | Checked, ...]
  indices: ir.Value | None
  batch_shape: tuple[int, ...]
  value_shape: tuple[int, ...]

  @_cached
  def elt(self) -> ir.Type:
    return self.lens.root_type.element_type

  @property
  def value_type(self) -> ir.RankedTensorType:
    return ir.RankedTensorType.get(list(self.value_shape), self.elt)

  @property
  def has_indices(self) -> bool:
    return any(isinstance(d, Indexed) for d in self.dims)

  @_cached
  def is_whole(self) -> bool:
    shape = self.lens.root_shape
    return all(isinstance(d, Window) and not d.squeezed and d.offset == 0
               and d.size == shape[r] and (d.stride == 1 or d.size <= 1)
               for r, d in enumerate(self.dims))

  @_cached
  def is_static(self) -> bool:
    return all(isinstance(d, Window) and isinstance(d.offset, int) for d in self.dims)

  @_cached
  def unit_strides(self) -> bool:
    return all(isinstance(d, Window) and (d.stride == 1 or d.size <= 1)
               for d in self.dims)

  @_cached
  def window_shape(self) -> tuple[int, ...]:
    return tuple(d.size if isinstance(d, Window) else 1 for d in self.dims)


# -- small builders ---------------------------------------------------------------

def offset_value(o: int | Clamped, elt: ir.Type) -> ir.Value:
  """A 0-d tensor of type `elt` for an in-range offset."""
  if isinstance(o, int):
    return int_const(o, elt)
  return convert(o.value, elt)


def affine(base: int | Clamped, mult: int, o: int | Clamped) -> int | Clamped:
  """base + mult * o (i32 arithmetic when dynamic)."""
  if isinstance(base, int) and isinstance(o, int):
    return base + mult * o
  if o == 0:
    return base
  t = i32()
  ov = offset_value(o, t)
  if mult != 1:
    ov = stablehlo.MulOp(ov, int_const(mult, t)).result
  if base == 0:
    return Clamped(ov)
  return Clamped(stablehlo.AddOp(offset_value(base, t), ov).result)


# -- composing indexers with lenses -------------------------------------------------


def _view_offsets(lens: Lens, idx: Indexer, dyn: Sequence[ir.Value],
                  raw_ok: bool) -> list[int | Raw | Clamped]:
  """Per ref dim: the access's offset, clamped so its window fits the ref."""
  out: list[int | Raw | Clamped] = []
  it = iter(dyn)
  for j in range(idx.rank):
    o = idx.offsets[j]
    if o != DYNAMIC:
      out.append(o)
      continue
    v = next(it)
    hi = lens.shape[j] - idx.extent(j)
    if raw_ok:
      out.append(Raw(v))
    else:
      out.append(Clamped(clamp_to(v, hi)))
  return out


def compose_view(lens: Lens, idx: Indexer, dyn: Sequence[ir.Value]) -> Lens:
  """The lens of `ref.view(ref, dyn)` with indexer `idx`, `ref` seen by `lens`."""
  offs = _view_offsets(lens, idx, dyn, raw_ok=False)
  new_dim = {}
  for j in range(idx.rank):
    if j not in idx.squeezed_dims:
      new_dim[j] = len(new_dim)
  dims: list[Mapped | Fixed] = []
  for m in lens.dims:
    if isinstance(m, Fixed):
      dims.append(m)
      continue
    j = m.dim
    base = affine(m.base, m.mult, offs[j])  # type: ignore[arg-type]
    if j in idx.squeezed_dims:
      dims.append(Fixed(base))
    else:
      dims.append(Mapped(new_dim[j], base, m.mult * idx.strides[j]))
  shape = tuple(idx.sizes[j] for j in range(idx.rank) if j not in idx.squeezed_dims)
  return Lens(lens.root, lens.root_type, tuple(dims), shape)


def root_access(lens: Lens, idx: Indexer, dyn: Sequence[ir.Value],
                indices: ir.Value | None) -> RootAccess:
  """The access `idx` (with operands) on a ref seen through `lens`, at root level."""
  elementwise = idx.mode == ELEMENTWISE
  offs: list[int | Raw | Clamped] = []
  it = iter(dyn)
  for j in range(idx.rank):
    o = idx.offsets[j]
    if o == DYNAMIC:
      v = next(it)
      if elementwise:
        offs.append(Raw(v))  # checked element by element: a `Checked` dim
        continue
      # Raw offsets are fine where the ref dim is the root dim itself.
      r = next((r for r, m in enumerate(lens.dims)
                if isinstance(m, Mapped) and m.dim == j), None)
      if r is not None and lens.is_direct(r):
        offs.append(Raw(v))
      else:
        hi = lens.shape[j] - idx.extent(j)
        offs.append(Clamped(clamp_to(v, hi)))
    else:
      offs.append(o)
  dims: list[Window | Indexed | Checked] = []
  for r, m in enumerate(lens.dims):
    if isinstance(m, Fixed):
      dims.append(Window(m.base, 1, 1, squeezed=True))
      continue
    j = m.dim
    if j in idx.indexed_dims:
      dims.append(Indexed(idx.indexed_dims.index(j), m.base, m.mult, lens.shape[j],
                          lens.is_direct(r), wrap=elementwise))
      continue
    o = offs[j]
    if elementwise and isinstance(o, Raw):
      dims.append(Checked(o.value, idx.sizes[j], idx.strides[j],
                          j in idx.squeezed_dims, m.base, m.mult, lens.shape[j],
                          lens.is_direct(r)))
      continue
    if isinstance(o, Raw):
      off: Offset = o
    else:
      off = affine(m.base, m.mult, o)
    dims.append(Window(off, idx.sizes[j], m.mult * idx.strides[j],
                       squeezed=j in idx.squeezed_dims))
  return RootAccess(lens, tuple(dims), indices, idx.batch_shape, idx.value_shape)


def whole(lens: Lens) -> RootAccess:
  """Reading or writing everything the lens sees."""
  return root_access(lens, Indexer.whole(lens.shape), (), None)


# -- emission -----------------------------------------------------------------------


def _slice_offsets(acc: RootAccess) -> list[ir.Value]:
  """The offsets of a stride-1 window access, as 0-d tensors of one type."""
  raws = [d.offset.value for d in acc.dims if isinstance(d.offset, Raw)]
  others = [d for d in acc.dims if isinstance(d.offset, Clamped)]
  types = {str(elt_of(v)) for v in raws}
  if raws and not others and len(types) == 1 and is_native_index(elt_of(raws[0])):
    elt = elt_of(raws[0])
    return [d.offset.value if isinstance(d.offset, Raw)
            else int_const(d.offset, elt) for d in acc.dims]
  shape = acc.lens.root_shape
  out = []
  for r, d in enumerate(acc.dims):
    if isinstance(d.offset, Raw):
      out.append(clamp_to(d.offset.value, shape[r] - d.size))
    else:
      out.append(offset_value(d.offset, i32()))
  return out


def _clamped_offset(acc: RootAccess, r: int, elt: ir.Type) -> ir.Value:
  d = acc.dims[r]
  assert isinstance(d, Window)
  if isinstance(d.offset, Raw):
    return clamp_to(d.offset.value, acc.lens.root_shape[r] - window_extent(d.size, d.stride), elt)
  return offset_value(d.offset, elt)


def read(cur: ir.Value, acc: RootAccess) -> ir.Value:
  """The value `acc` reads from a root whose current value is `cur`."""
  if acc.is_whole:
    return reshape(cur, acc.value_shape)
  if acc.is_static:
    # A zero-size window may start at the end of a view that ends at the end
    # of its root: keep such a start inside the root (the slice is empty).
    root = acc.lens.root_shape
    starts = [d.offset if d.size > 0 else min(d.offset, root[r])
              for r, d in enumerate(acc.dims)]
    limits = [d.offset + window_extent(d.size, d.stride) if d.size > 0 else starts[r]
              for r, d in enumerate(acc.dims)]
    strides = [d.stride if d.size > 1 else 1 for d in acc.dims]
    t = ir.RankedTensorType.get(list(acc.window_shape), acc.elt)
    v = build("stablehlo.slice", t, [cur], {
        "start_indices": ir.DenseI64ArrayAttr.get(starts),
        "limit_indices": ir.DenseI64ArrayAttr.get(limits),
        "strides": ir.DenseI64ArrayAttr.get(strides)})
    return reshape(v, acc.value_shape)
  if acc.unit_strides:
    t = ir.RankedTensorType.get(list(acc.window_shape), acc.elt)
    v = build("stablehlo.dynamic_slice", t, [cur] + _slice_offsets(acc),
            {"slice_sizes": ir.DenseI64ArrayAttr.get(list(acc.window_shape))})
    return reshape(v, acc.value_shape)
  return _gather(cur, acc)


def write(cur: ir.Value, acc: RootAccess, value: ir.Value, add: bool = False
          ) -> ir.Value:
  """The root's new value after `acc` writes (or adds, if `add`) `value`."""
  if acc.is_whole:
    v = reshape(value, acc.value_shape)
    return stablehlo.AddOp(cur, v).result if add else v
  if acc.unit_strides:
    offsets = _slice_offsets(acc)
    upd = reshape(value, acc.window_shape)
    if add:
      old = reshape(read(cur, acc), acc.window_shape)
      upd = build("stablehlo.add", old.type, [old, upd])  # both of the window's type
    return build("stablehlo.dynamic_update_slice", cur.type, [cur, upd] + offsets)
  return _scatter(cur, acc, value, add)


# -- gather / scatter -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _GatherPlan:
  indices: ir.Value
  offset_dims: list[int]  # positions in the value of windowed dims
  collapsed: list[int]
  index_map: list[int]
  index_vector_dim: int
  slice_sizes: list[int]


def _plan(acc: RootAccess, for_write: bool) -> _GatherPlan:
  """An index array and dimension numbers for gather/scatter of `acc`.

  Root dims with a stride > 1 and `Checked` dims become pointwise (batch)
  dims of the index array, computed with iota; other windows are gather
  windows. Indexed dims read their column of the indices (clamped for reads,
  out-of-range ones moved out of bounds for writes); `Checked` dims likewise.
  """
  shape = acc.lens.root_shape
  nb = len(acc.batch_shape)
  # Classify root dims; `kept` are the windows not squeezed, in order.
  kept = [r for r, d in enumerate(acc.dims)
          if not isinstance(d, Indexed) and not d.squeezed]
  pointwise = [r for r in kept if isinstance(acc.dims[r], Checked)
               or (acc.dims[r].stride != 1 and acc.dims[r].size > 1)]
  windowed = [r for r in kept if r not in pointwise]
  pos_in_value = {r: nb + i for i, r in enumerate(kept)}
  index_shape = list(acc.batch_shape) + [acc.dims[r].size for r in pointwise]
  n = len(index_shape)

  # The indices operand is used as it is when every indexed dim is direct
  # and its type is one slicing ops take; otherwise components are i32.
  direct_idx = None
  if acc.indices is not None and is_native_index(elt_of(acc.indices)) and all(
      d.direct for d in acc.dims if isinstance(d, Indexed)):
    direct_idx = elt_of(acc.indices)
  idx_elt = direct_idx if direct_idx is not None else i32()

  columns: dict[int, ir.Value] = {}
  components, index_map = _index_components(acc, for_write, pointwise, index_shape,
                                            idx_elt, direct_idx is not None, columns)
  k_count = 0 if acc.indices is None else ir.RankedTensorType(acc.indices.type).shape[-1]
  if (direct_idx is not None and n == nb and len(components) == k_count
      and all(components[k] is columns.get(k) for k in range(k_count))):
    indices = acc.indices  # the indices operand as it is: `ref[idx]`
  elif len(components) == 1:
    indices = components[0]
  else:
    t = ir.RankedTensorType.get(index_shape + [len(components)], idx_elt)
    indices = stablehlo.ConcatenateOp(components, n, results=[t]).result
  offset_dims = [pos_in_value[r] for r in windowed]
  collapsed = [r for r in range(len(shape)) if r not in windowed]
  slice_sizes = [acc.dims[r].size if r in windowed else 1 for r in range(len(shape))]
  return _GatherPlan(indices, offset_dims, collapsed, index_map, n, slice_sizes)


def _index_components(acc: RootAccess, for_write: bool, pointwise: list[int],
                      index_shape: list[int], idx_elt: ir.Type, direct: bool,
                      columns: dict[int, ir.Value]
                      ) -> tuple[list[ir.Value], list[int]]:
  """One `index_shape + [1]` component of the index array per root dim that
  needs one (indexed, checked, pointwise, or a window at a non-zero offset),
  and the root dims they index. `columns` receives the indices' columns
  sliced on the way (`indices[..., k:k+1]`, by k)."""
  shape = acc.lens.root_shape
  nb, n = len(acc.batch_shape), len(index_shape)
  comp_t = ir.RankedTensorType.get(index_shape + [1], idx_elt)

  def bcast_scalar(s: ir.Value) -> ir.Value:
    return stablehlo.BroadcastInDimOp(comp_t, s, []).result

  def column(k: int) -> ir.Value:
    if k not in columns:
      it = ir.RankedTensorType(acc.indices.type)
      b = list(it.shape[:-1])
      t = ir.RankedTensorType.get(b + [1], it.element_type)
      columns[k] = stablehlo.SliceOp(
          acc.indices, [0] * len(b) + [k], b + [k + 1], [1] * (len(b) + 1),
          results=[t]).result
    return columns[k]

  components: list[ir.Value] = []
  index_map: list[int] = []
  for r, d in enumerate(acc.dims):
    if isinstance(d, Checked):
      axis = nb + pointwise.index(r) if r in pointwise else None
      c = _checked_component(d, for_write, shape[r], index_shape, axis)
      components.append(convert(c, idx_elt))
    elif isinstance(d, Indexed):
      col = column(d.k)
      if d.wrap:
        col = wrap_negative(col, d.bound)
      c = col if direct else _indexed_root_index(col, d, for_write, shape[r])
      if n != nb:
        c = stablehlo.BroadcastInDimOp(comp_t, c, list(range(nb)) + [n]).result
      components.append(c)
    elif r in pointwise:
      off = _clamped_offset(acc, r, idx_elt)
      io = stablehlo.IotaOp(comp_t, nb + pointwise.index(r)).result
      if d.stride != 1:
        io = stablehlo.MulOp(io, int_const(d.stride, idx_elt, index_shape + [1])).result
      if d.offset != 0:
        io = stablehlo.AddOp(io, bcast_scalar(off)).result
      components.append(io)
    elif d.offset != 0:
      components.append(bcast_scalar(_clamped_offset(acc, r, idx_elt)))
    else:
      continue
    index_map.append(r)
  return components, index_map


def _indexed_root_index(col: ir.Value, d: Indexed, for_write: bool,
                        root_size: int) -> ir.Value:
  """The i32 root index of an indexed dim from its column of the indices
  (`base + mult * clamp(col)`); for a write, an index outside `[0, bound)`
  becomes `root_size`, out of bounds, so that the scatter drops it."""
  col_shape = list(ir.RankedTensorType(col.type).shape)
  c = clamp_to(col, d.bound - 1)
  if d.mult != 1:
    c = stablehlo.MulOp(c, int_const(d.mult, i32(), col_shape)).result
  if d.base != 0:
    base = stablehlo.BroadcastInDimOp(
        ir.RankedTensorType.get(col_shape, i32()), offset_value(d.base, i32()),
        []).result
    c = stablehlo.AddOp(c, base).result
  if for_write:
    ct = elt_of(col)
    ok = compare(col, int_const(0, ct, col_shape), "GE")
    if d.bound <= max_of(ct):  # else every value of the type is below it
      hi_ok = compare(col, int_const(d.bound, ct, col_shape), "LT")
      ok = stablehlo.AndOp(ok, hi_ok).result
    c = stablehlo.SelectOp(ok, c, int_const(root_size, i32(), col_shape)).result
  return c


def _checked_component(d: Checked, for_write: bool, root_size: int,
                       index_shape: list[int], axis: int | None) -> ir.Value:
  """The i32 root indices of a `Checked` dim, of shape `index_shape + [1]`:
  element k (along `axis`; none if squeezed) at e = offset + k * stride,
  computed in the offset's own type with two's-complement wraparound (JAX's
  discharge computes `iota * stride + start` in i32 the same way), plus
  `bound` if negative; reads clamp e into the dim, writes send an element with
  e out of range to `root_size` (out of bounds: scatter drops it)."""
  t = i32()
  v = d.offset
  tt = elt_of(v)
  full = index_shape + [1]
  if d.squeezed:
    e, shape = v, []
  else:
    io = stablehlo.IotaOp(ir.RankedTensorType.get(full, tt), axis).result
    if d.stride != 1:
      io = stablehlo.MulOp(io, int_const(d.stride, tt, full)).result
    e = stablehlo.AddOp(io, stablehlo.BroadcastInDimOp(
        ir.RankedTensorType.get(full, tt), v, []).result).result
    shape = full
  e = wrap_negative(e, d.bound)
  if elt_of(e) != t:
    # Into i32 without changing which side of [0, bound) an element is on.
    e = convert(clamp_range(e, -1, d.bound), t)
  if d.direct:
    c = e  # gather clamps and scatter drops out-of-bounds indices natively
  else:
    c = clamp_to(e, d.bound - 1)
    if d.mult != 1:
      c = stablehlo.MulOp(c, int_const(d.mult, t, shape)).result
    if d.base != 0:
      base = offset_value(d.base, t)
      if shape:
        base = stablehlo.BroadcastInDimOp(ir.RankedTensorType.get(shape, t), base,
                                          []).result
      c = stablehlo.AddOp(c, base).result
    if for_write:
      ok = stablehlo.AndOp(compare(e, int_const(0, t, shape), "GE"),
                           compare(e, int_const(d.bound, t, shape), "LT")).result
      c = stablehlo.SelectOp(ok, c, int_const(root_size, t, shape)).result
  if d.squeezed:
    c = stablehlo.BroadcastInDimOp(ir.RankedTensorType.get(full, t), c, []).result
  return c


def _gather(cur: ir.Value, acc: RootAccess) -> ir.Value:
  p = _plan(acc, for_write=False)
  dn = stablehlo.GatherDimensionNumbers.get(
      offset_dims=p.offset_dims, collapsed_slice_dims=p.collapsed,
      operand_batching_dims=[], start_indices_batching_dims=[],
      start_index_map=p.index_map, index_vector_dim=p.index_vector_dim)
  return stablehlo.gather(cur, p.indices, dn, p.slice_sizes,
                          indices_are_sorted=False, results=[acc.value_type])


def _scatter(cur: ir.Value, acc: RootAccess, value: ir.Value, add: bool) -> ir.Value:
  p = _plan(acc, for_write=True)
  dn = stablehlo.ScatterDimensionNumbers.get(
      update_window_dims=p.offset_dims, inserted_window_dims=p.collapsed,
      input_batching_dims=[], scatter_indices_batching_dims=[],
      scattered_dims_to_operand_dims=p.index_map, index_vector_dim=p.index_vector_dim)
  op = stablehlo.ScatterOp([cur.type], [cur], p.indices, [reshape(value, acc.value_shape)],
                           dn, indices_are_sorted=False, unique_indices=False)
  st = scalar_type(acc.elt)
  block = ir.Block.create_at_start(op.update_computation, [st, st],
                                   [ir.Location.unknown()] * 2)
  with ir.InsertionPoint(block):
    a, b = block.arguments
    r = stablehlo.AddOp(a, b).result if add else b
    stablehlo.ReturnOp([r])
  return op.results[0]
