"""The indexer: which part of a ref an access reads or writes.

It is the attribute set of DESIGN.md (`static_offsets`, `static_sizes`,
`static_strides`, `squeezed_dims`, `indexed_dims`, and `mode`, the
out-of-range semantics of docs/dialect.md) as one frozen dataclass,
together with the ref shape and the batch shape of the `indices` operand, so
that the shape of the value an access moves can be computed without the op.

Operand layout of every access op (get/set/swap/addupdate/view):

    ref, [value], dynamic offsets (one per DYNAMIC entry, in dim order), [indices]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from jaxlib.mlir import ir

from refhlo.compiler.dialect import types as _types
from refhlo.compiler.dialect.types import DYNAMIC

ATTR_NAMES = ("static_offsets", "static_sizes", "static_strides",
              "squeezed_dims", "indexed_dims", "mode")

# Out-of-range semantics (the `mode` attribute; docs/dialect.md has the table).
WINDOW = "window"
"""Default: dynamic offsets are clamped so the window fits (dynamic_slice);
indexed dims: reads clamp each index, writes drop the element."""
ELEMENTWISE = "elementwise"
"""Every element on its own, as JAX's gather/scatter path: each index (offset +
k * stride, a squeezed offset, an `indices` entry), if negative, counts once
from the end of its dim; then reads clamp it into the dim and writes drop the
element if any of its indices is out of range."""
MODES = (WINDOW, ELEMENTWISE)


def window_extent(size: int, stride: int) -> int:
  """How many elements of a dim a window of `size` elements `stride` apart
  spans, first to last inclusive: `(size - 1) * stride + 1`, 0 when empty.
  The one definition: every clamp of a dynamic start (`0 <= start <=
  dim - extent`), every bounds check and every interval uses it."""
  return (size - 1) * stride + 1 if size > 0 else 0


class IndexerError(ValueError):
  """An indexer that breaks a rule of the dialect contract."""


@dataclasses.dataclass(frozen=True)
class Indexer:
  """A (possibly strided, squeezed, advanced-indexed) window into a ref.

  `offsets[d]` is a static offset or DYNAMIC; `sizes[d]` the extent of the
  window in dim d (counted in elements taken, i.e. after striding);
  `strides[d] >= 1`. Dims in `squeezed_dims` have size 1 and are dropped from
  the value; dims in `indexed_dims` are addressed by the `indices` operand of
  shape `batch_shape + (len(indexed_dims),)` and also have offset 0, size 1.
  `mode` (WINDOW or ELEMENTWISE) says what out-of-range offsets and indices
  do; it only matters with dynamic offsets or indexed dims.
  """

  ref_shape: tuple[int, ...]
  offsets: tuple[int, ...]
  sizes: tuple[int, ...]
  strides: tuple[int, ...]
  squeezed_dims: tuple[int, ...] = ()
  indexed_dims: tuple[int, ...] = ()
  batch_shape: tuple[int, ...] = ()
  mode: str = WINDOW

  # -- construction --------------------------------------------------------

  @classmethod
  def whole(cls, ref_shape: Sequence[int]) -> Indexer:
    """`ref[...]`: the whole ref."""
    shape = tuple(ref_shape)
    return cls(shape, (0,) * len(shape), shape, (1,) * len(shape))

  @classmethod
  def from_attributes(cls, attrs: Mapping[str, ir.Attribute] | ir.OpAttributeMap,
                      ref_shape: Sequence[int],
                      indices_shape: Sequence[int] | None = None) -> Indexer:
    """Reads the indexer attributes; missing ones take their defaults.

    Raises IndexerError for attributes of the wrong kind or length; call
    `check()` for the remaining rules (bounds, strides, dims).
    """
    shape = tuple(ref_shape)
    rank = len(shape)
    if not isinstance(attrs, dict):
      # One lookup per present attribute (each lookup crosses into C++).
      attrs = {n: attrs[n] for n in attrs if n in ATTR_NAMES}
    get = attrs.get
    offsets = _ints("static_offsets", get("static_offsets"), rank, (0,) * rank)
    sizes = _ints("static_sizes", get("static_sizes"), rank, shape)
    strides = _ints("static_strides", get("static_strides"), rank, (1,) * rank)
    squeezed = _ints("squeezed_dims", get("squeezed_dims"), None, ())
    indexed = _ints("indexed_dims", get("indexed_dims"), None, ())
    mode = _mode(get("mode"))
    batch: tuple[int, ...] = ()
    if indexed:
      if indices_shape is None:
        raise IndexerError("'indexed_dims' is set but there is no indices operand")
      if len(indices_shape) < 1:
        raise IndexerError("indices must have rank >= 1 (shape [B..., K])")
      batch = tuple(indices_shape[:-1])
    return cls(shape, offsets, sizes, strides, squeezed, indexed, batch, mode)

  @classmethod
  def from_op(cls, op: ir.Operation | ir.OpView) -> Indexer:
    """The indexer of an access op (get/set/swap/addupdate/view).

    Inside a `memoized()` scope the result (or the error) is memoised by the
    ref type, the op's attributes and the indices shape (see `memoized`).
    """
    op = op.operation
    attrs = op.attributes
    operands = op.operands
    memo = _types.active_memo()
    if memo is None:
      return cls._from_op(attrs, operands)
    names = tuple(attrs)
    ref_t = operands[0].type
    indices_shape = None
    if "indexed_dims" in names:
      indices_shape = _indices_shape(operands)
      if indices_shape is None:
        return cls._from_op(attrs, operands)  # odd IR: not worth memoising
    return memoized_from_attributes(memo, attrs, names, ref_t, indices_shape)

  @classmethod
  def _from_op(cls, attrs: ir.OpAttributeMap, operands) -> Indexer:
    shape = _types.ref_shape(operands[0].type)
    indices_shape = None
    if "indexed_dims" in attrs and len(operands) > 0:
      indices_shape = _indices_shape(operands)
    return cls.from_attributes(attrs, shape, indices_shape)

  # -- queries ---------------------------------------------------------------

  @property
  def rank(self) -> int:
    return len(self.ref_shape)

  # The queries below run once or more per access op in every pass: each has
  # a fast path for the common case (no dynamic, squeezed or indexed dims).

  @property
  def num_dynamic_offsets(self) -> int:
    return self.offsets.count(DYNAMIC)

  @property
  def dynamic_dims(self) -> tuple[int, ...]:
    """The dims whose offset is a dynamic operand, in operand order."""
    if DYNAMIC not in self.offsets:
      return ()
    return tuple(d for d, o in enumerate(self.offsets) if o == DYNAMIC)

  @property
  def has_indices(self) -> bool:
    return bool(self.indexed_dims)

  @property
  def is_whole(self) -> bool:
    """True when the access covers the whole ref with the ref's own shape."""
    return (not self.indexed_dims and not self.squeezed_dims
            and all(o == 0 for o in self.offsets)
            and self.sizes == self.ref_shape
            and all(s == 1 for s in self.strides))

  @property
  def is_strided(self) -> bool:
    return any(s != 1 for s in self.strides)

  @property
  def is_static(self) -> bool:
    return self.num_dynamic_offsets == 0 and not self.indexed_dims

  @property
  def kept_dims(self) -> tuple[int, ...]:
    """Dims that appear in the value (neither squeezed nor indexed), in order."""
    if not self.squeezed_dims and not self.indexed_dims:
      return tuple(range(len(self.ref_shape)))
    dropped = set(self.squeezed_dims) | set(self.indexed_dims)
    return tuple(d for d in range(self.rank) if d not in dropped)

  @property
  def value_shape(self) -> tuple[int, ...]:
    """The shape of the value read or written: `B...` then the kept sizes."""
    if not self.squeezed_dims and not self.indexed_dims:
      return self.batch_shape + self.sizes
    return self.batch_shape + tuple(self.sizes[d] for d in self.kept_dims)

  def extent(self, d: int) -> int:
    """The elements of ref dim `d` the window spans (`window_extent`)."""
    return window_extent(self.sizes[d], self.strides[d])

  @property
  def window_shape(self) -> tuple[int, ...]:
    """The window's extent per ref dim (squeezed and indexed dims: 1)."""
    return self.sizes

  def num_operands(self) -> int:
    """Dynamic offsets plus the indices operand, if any."""
    return self.num_dynamic_offsets + (1 if self.indexed_dims else 0)

  def split_operands(self, operands: Sequence[ir.Value]
                     ) -> tuple[list[ir.Value], ir.Value | None]:
    """Splits the operands after ref[/value] into (dynamic offsets, indices)."""
    n = self.num_dynamic_offsets
    dyn = list(operands[:n])
    idx = operands[n] if self.indexed_dims else None
    return dyn, idx

  # -- checking ----------------------------------------------------------------

  def check(self) -> None:
    """Raises IndexerError for a rule of the contract this indexer breaks."""
    # Memoised on the instance (indexers from `from_op` are shared).
    error = self.__dict__.get("_check_error", False)
    if error is False:
      try:
        self._check()
        error = None
      except IndexerError as e:
        error = str(e)
      self.__dict__["_check_error"] = error
    if error is not None:
      raise IndexerError(error)

  def _check(self) -> None:
    rank = self.rank
    if self.mode not in MODES:
      raise IndexerError(f"'mode' must be one of {', '.join(map(repr, MODES))}, "
                         f"got {self.mode!r}")
    for name, dims in (("squeezed_dims", self.squeezed_dims),
                       ("indexed_dims", self.indexed_dims)):
      for d in dims:
        if not 0 <= d < rank:
          raise IndexerError(f"'{name}' entry {d} is out of range for a rank-{rank} ref")
      if len(set(dims)) != len(dims):
        raise IndexerError(f"'{name}' has repeated dims")
      if list(dims) != sorted(dims):
        raise IndexerError(f"'{name}' must be sorted")
    both = set(self.squeezed_dims) & set(self.indexed_dims)
    if both:
      raise IndexerError(f"dim {min(both)} is both squeezed and indexed")
    for d in range(rank):
      stride, size, off = self.strides[d], self.sizes[d], self.offsets[d]
      if stride < 1:
        raise IndexerError(f"stride {stride} in dim {d} must be >= 1")
      if size < 0:
        raise IndexerError(f"size {size} in dim {d} must be >= 0")
      if off != DYNAMIC and off < 0:
        raise IndexerError(f"offset {off} in dim {d} must be >= 0")
      if d in self.squeezed_dims or d in self.indexed_dims:
        if size != 1:
          what = "squeezed" if d in self.squeezed_dims else "indexed"
          raise IndexerError(f"{what} dim {d} must have size 1, got {size}")
      if d in self.indexed_dims and off != 0:
        raise IndexerError(f"indexed dim {d} must have static offset 0")
      extent = window_extent(size, stride)
      if extent > self.ref_shape[d]:
        raise IndexerError(
            f"window of {size} elements with stride {stride} in dim {d} does not "
            f"fit in the ref's size {self.ref_shape[d]}")
      if off != DYNAMIC and off + extent > self.ref_shape[d]:
        raise IndexerError(
            f"window [{off}, {off + extent}) in dim {d} is out of bounds for "
            f"the ref's size {self.ref_shape[d]}")

  # -- conversion back to attributes -----------------------------------------

  def to_attributes(self, context: ir.Context | None = None
                    ) -> dict[str, ir.Attribute]:
    """The attributes that encode this indexer, omitting those at defaults."""
    out: dict[str, ir.Attribute] = {}

    def put(name: str, values: tuple[int, ...], default: tuple[int, ...]):
      if values != default:
        out[name] = ir.DenseI64ArrayAttr.get(list(values), context=context)

    rank = self.rank
    put("static_offsets", self.offsets, (0,) * rank)
    put("static_sizes", self.sizes, self.ref_shape)
    put("static_strides", self.strides, (1,) * rank)
    put("squeezed_dims", self.squeezed_dims, ())
    put("indexed_dims", self.indexed_dims, ())
    if self.mode != WINDOW:
      out["mode"] = ir.StringAttr.get(self.mode, context=context)
    return out


def _ints(name: str, attr: ir.Attribute | None, rank: int | None,
          default: tuple[int, ...]) -> tuple[int, ...]:
  """An indexer attribute as ints (`default` if absent); `rank`: length check."""
  if attr is None:
    return default
  if not isinstance(attr, ir.DenseI64ArrayAttr):
    try:
      attr = ir.DenseI64ArrayAttr(attr)
    except (ValueError, TypeError):
      raise IndexerError(
          f"'{name}' must be a dense i64 array (array<i64: ...>), got {attr}"
      ) from None
  # Indexing is ~6x faster than iterating the attribute in the bindings.
  n = len(attr)
  if rank is not None and n != rank:
    raise IndexerError(
        f"'{name}' has {n} entries, expected one per ref dim ({rank})")
  return tuple([attr[i] for i in range(n)])


def _mode(attr: ir.Attribute | None) -> str:
  """The `mode` attribute's value (WINDOW if absent)."""
  if attr is None:
    return WINDOW
  if not isinstance(attr, ir.StringAttr):
    try:
      attr = ir.StringAttr(attr)
    except (ValueError, TypeError):
      attr = None
  if attr is not None and attr.value in MODES:
    return attr.value
  raise IndexerError(f"'mode' must be one of {', '.join(map(repr, MODES))} "
                     f"(a string), got {attr}")


def _indices_shape(operands) -> tuple[int, ...] | None:
  last = operands[len(operands) - 1].type
  if isinstance(last, ir.RankedTensorType):
    return tuple(ir.RankedTensorType(last).shape)
  return None


def memoized_from_attributes(memo: _types.Memo, attrs: ir.OpAttributeMap,
                             names: tuple[str, ...], ref_t: ir.Type,
                             indices_shape: tuple[int, ...] | None) -> Indexer:
  """`Indexer.from_attributes(attrs, shape of ref_t, indices_shape)`, memoised in
  `memo` (shared by the verifier and `from_op`). `names` is `tuple(attrs)`;
  `indices_shape` only matters (and is only part of the key) with indexed dims.
  Raises IndexerError, or RefTypeError for a malformed `ref_t`."""
  if "indexed_dims" not in names:
    indices_shape = None
  key = (ref_t, names, tuple([attrs[n] for n in names]), indices_shape)
  hit = memo.indexers.get(key)
  if hit is None:
    try:
      shape = _types.ref_shape(ref_t)
      hit = Indexer.from_attributes(dict(zip(names, key[2])), shape, indices_shape)
    except (IndexerError, _types.RefTypeError) as e:
      hit = e
    memo.indexers[key] = hit
  if isinstance(hit, Exception):
    raise type(hit)(*hit.args)
  return hit
