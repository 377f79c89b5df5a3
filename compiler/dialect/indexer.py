"""The indexer: which part of a ref an access reads or writes.

It is the attribute set of DESIGN.md (`static_offsets`, `static_sizes`,
`static_strides`, `squeezed_dims`, `indexed_dims`) as one frozen dataclass,
together with the ref shape and the batch shape of the `indices` operand, so
that the shape of the value an access moves can be computed without the op.

Operand layout of every access op (get/set/swap/addupdate/view):

    ref, [value], dynamic offsets (one per DYNAMIC entry, in dim order), [indices]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from jaxlib.mlir import ir

from refhlo.compiler.dialect.types import DYNAMIC

ATTR_NAMES = ("static_offsets", "static_sizes", "static_strides",
              "squeezed_dims", "indexed_dims")


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
  """

  ref_shape: tuple[int, ...]
  offsets: tuple[int, ...]
  sizes: tuple[int, ...]
  strides: tuple[int, ...]
  squeezed_dims: tuple[int, ...] = ()
  indexed_dims: tuple[int, ...] = ()
  batch_shape: tuple[int, ...] = ()

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

    def get(name: str) -> tuple[int, ...] | None:
      if name not in attrs:
        return None
      attr = attrs[name]
      if not isinstance(attr, ir.DenseI64ArrayAttr):
        try:
          attr = ir.DenseI64ArrayAttr(attr)
        except (ValueError, TypeError):
          raise IndexerError(
              f"'{name}' must be a dense i64 array (array<i64: ...>), got {attr}"
          ) from None
      return tuple(int(v) for v in attr)

    def per_dim(name: str, default: tuple[int, ...]) -> tuple[int, ...]:
      v = get(name)
      if v is None:
        return default
      if len(v) != rank:
        raise IndexerError(
            f"'{name}' has {len(v)} entries, expected one per ref dim ({rank})")
      return v

    offsets = per_dim("static_offsets", (0,) * rank)
    sizes = per_dim("static_sizes", shape)
    strides = per_dim("static_strides", (1,) * rank)
    squeezed = get("squeezed_dims") or ()
    indexed = get("indexed_dims") or ()
    batch: tuple[int, ...] = ()
    if indexed:
      if indices_shape is None:
        raise IndexerError("'indexed_dims' is set but there is no indices operand")
      if len(indices_shape) < 1:
        raise IndexerError("indices must have rank >= 1 (shape [B..., K])")
      batch = tuple(indices_shape[:-1])
    return cls(shape, offsets, sizes, strides, tuple(squeezed), tuple(indexed),
               batch)

  @classmethod
  def from_op(cls, op: ir.Operation | ir.OpView) -> Indexer:
    """The indexer of an access op (get/set/swap/addupdate/view)."""
    from refhlo.compiler.dialect.types import ref_shape
    op = op.operation
    attrs = op.attributes
    shape = ref_shape(op.operands[0].type)
    indices_shape = None
    if "indexed_dims" in attrs and len(op.operands) > 0:
      last = op.operands[len(op.operands) - 1].type
      if isinstance(last, ir.RankedTensorType):
        indices_shape = tuple(ir.RankedTensorType(last).shape)
    return cls.from_attributes(attrs, shape, indices_shape)

  # -- queries ---------------------------------------------------------------

  @property
  def rank(self) -> int:
    return len(self.ref_shape)

  @property
  def num_dynamic_offsets(self) -> int:
    return sum(1 for o in self.offsets if o == DYNAMIC)

  @property
  def dynamic_dims(self) -> tuple[int, ...]:
    """The dims whose offset is a dynamic operand, in operand order."""
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
    dropped = set(self.squeezed_dims) | set(self.indexed_dims)
    return tuple(d for d in range(self.rank) if d not in dropped)

  @property
  def value_shape(self) -> tuple[int, ...]:
    """The shape of the value read or written: `B...` then the kept sizes."""
    return self.batch_shape + tuple(self.sizes[d] for d in self.kept_dims)

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
    rank = self.rank
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
      extent = (size - 1) * stride + 1 if size > 0 else 0
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
    return out
