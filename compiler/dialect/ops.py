"""OpView classes for the `ref` dialect's operations, with builders.

The dialect is unregistered in C++ (MLIR prints and parses the ops only in
generic syntax; `asm.py` rewrites them to and from their pretty form); these
Python classes give the ops named accessors. Importing this module registers
them and the dialect search prefix `refhlo.compiler.dialect`, so walking a
module or iterating a block yields e.g. `RefGetOp` for a `"ref.get"` op.

| op | operands | results |
|---|---|---|
| ref.new | init | ref |
| ref.empty | - | ref |
| ref.get | ref, dyn offsets..., [indices] | value |
| ref.set | ref, value, dyn offsets..., [indices] | - |
| ref.swap | ref, value, dyn offsets..., [indices] | old value |
| ref.addupdate | ref, value, dyn offsets..., [indices] | - |
| ref.freeze | ref | value |
| ref.free | ref | - |
| ref.view | ref, dyn offsets... | sub-ref |

Each class declares its own (inherent) attributes in `ATTRIBUTES`: the
indexer for the access ops, none for the others. Any other attribute on a
`ref.*` op must be discardable (`is_discardable_attribute`); the verifier
reports the rest, so that a typo such as `static_offset` is an error instead
of silently indexing the whole ref.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxlib.mlir import ir
from jaxlib.mlir._mlir_libs import _mlir

from refhlo.compiler.dialect.indexer import ATTR_NAMES as INDEXER_ATTRIBUTES
from refhlo.compiler.dialect.indexer import Indexer
from refhlo.compiler.dialect.types import ref_type, ref_value_type

DIALECT_NAMESPACE = "ref"
_SEARCH_PREFIX = "refhlo.compiler.dialect"

if _SEARCH_PREFIX not in _mlir.globals.dialect_search_modules:
  _mlir.globals.append_dialect_search_prefix(_SEARCH_PREFIX)


@_mlir.register_dialect
class RefDialect(ir.Dialect):
  DIALECT_NAMESPACE = DIALECT_NAMESPACE


def _create(name: str, results: Sequence[ir.Type], operands: Sequence[ir.Value],
            attributes: dict[str, ir.Attribute] | None = None, *,
            loc: ir.Location | None = None,
            ip: ir.InsertionPoint | None = None) -> ir.OpView:
  op = ir.Operation.create(name, results=list(results), operands=list(operands),
                           attributes=attributes or {}, loc=loc, ip=ip)
  return op.opview


def is_discardable_attribute(name: str) -> bool:
  """Whether any op may carry attribute `name` besides its own ones.

  As in MLIR, discardable attributes are named `dialect.name` (`ref.donated`,
  `refhlo.ref_results`, `mhlo.sharding`, ...). The analyses' test modes also
  write `__name__` annotations (`__roots__`, `__effects__`, ...; the
  convention of One-Shot Bufferize's `__inplace_operands_attr__`), which must
  re-parse and verify too.
  """
  return "." in name or (len(name) > 4 and name.startswith("__")
                         and name.endswith("__"))


class _RefOp(ir.OpView):
  """Common accessors: every ref op but new/empty takes the ref first.

  Each op declares what it does once, here (its traits); every table the
  analyses, passes and the interpreter use is derived from them
  (`op_names`, `REF_OP_TRAITS` below). A new op sets them and gets a rule in
  each place `test_dialect.py::test_every_op_has_every_rule` checks."""
  _ODS_REGIONS = (0, True)
  ATTRIBUTES: tuple[str, ...] = ()
  """The op's own attributes; others must be discardable (see above)."""
  READS = False        # reads the ref's contents
  WRITES = False       # overwrites (part of) them
  ACCUMULATES = False  # adds to them
  HAS_VALUE_OPERAND = False  # operand 1 is the value written
  HAS_INDEXER = False  # takes an indexer (window / indexed dims)
  CREATES_ROOT = False  # makes a new location (the ref result)
  MAKES_VIEW = False   # its result aliases part of the ref operand
  ENDS_LIFE = False    # no use of the ref may follow (freeze, free)

  @property
  def ref(self) -> ir.Value:
    return self.operation.operands[0]


class _AccessOp(_RefOp):
  """get/set/swap/addupdate/view: ref, [value], dyn offsets..., [indices]."""
  HAS_INDEXER = True
  ATTRIBUTES = INDEXER_ATTRIBUTES

  @property
  def indexer(self) -> Indexer:
    return Indexer.from_op(self.operation)

  def _index_operands(self) -> list[ir.Value]:
    start = 2 if self.HAS_VALUE_OPERAND else 1
    ops = self.operation.operands
    return [ops[i] for i in range(start, len(ops))]

  @property
  def dynamic_offsets(self) -> list[ir.Value]:
    return self.indexer.split_operands(self._index_operands())[0]

  @property
  def indices(self) -> ir.Value | None:
    return self.indexer.split_operands(self._index_operands())[1]

  @classmethod
  def _operands(cls, ref: ir.Value, value: ir.Value | None,
                dynamic_offsets: Sequence[ir.Value],
                indices: ir.Value | None) -> list[ir.Value]:
    out = [ref]
    if value is not None:
      out.append(value)
    out.extend(dynamic_offsets)
    if indices is not None:
      out.append(indices)
    return out

  @staticmethod
  def _indexer_for(ref: ir.Value, indexer: Indexer | None,
                   indices: ir.Value | None) -> Indexer:
    if indexer is not None:
      return indexer
    return Indexer.whole(ref_value_type(ref.type).shape)

  @staticmethod
  def value_type_for(ref: ir.Value, indexer: Indexer) -> ir.RankedTensorType:
    """The tensor type an access with `indexer` moves."""
    elt = ref_value_type(ref.type).element_type
    return ir.RankedTensorType.get(list(indexer.value_shape), elt)


@_mlir.register_operation(RefDialect)
class RefNewOp(_RefOp):
  """`%r = "ref.new"(%init)`: a new location holding `init`."""
  OPERATION_NAME = "ref.new"
  CREATES_ROOT = True

  @property
  def init(self) -> ir.Value:
    return self.operation.operands[0]

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]

  @classmethod
  def build(cls, init: ir.Value, *, loc=None, ip=None) -> RefNewOp:
    return _create(cls.OPERATION_NAME, [ref_type(init.type)], [init], loc=loc, ip=ip)


@_mlir.register_operation(RefDialect)
class RefEmptyOp(_RefOp):
  """`%r = "ref.empty"()`: a new location, undefined until written."""
  OPERATION_NAME = "ref.empty"
  CREATES_ROOT = True

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]

  @classmethod
  def build(cls, value_type: ir.Type, *, loc=None, ip=None) -> RefEmptyOp:
    return _create(cls.OPERATION_NAME, [ref_type(value_type)], [], loc=loc, ip=ip)


@_mlir.register_operation(RefDialect)
class RefGetOp(_AccessOp):
  """`%v = "ref.get"(%r, offsets..., [indices])`: read (part of) the ref."""
  OPERATION_NAME = "ref.get"
  READS = True

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]

  @classmethod
  def build(cls, ref: ir.Value, indexer: Indexer | None = None,
            dynamic_offsets: Sequence[ir.Value] = (),
            indices: ir.Value | None = None, *, loc=None, ip=None) -> RefGetOp:
    idx = cls._indexer_for(ref, indexer, indices)
    return _create(cls.OPERATION_NAME, [cls.value_type_for(ref, idx)],
                   cls._operands(ref, None, dynamic_offsets, indices),
                   idx.to_attributes(ref.context), loc=loc, ip=ip)


class _WriteOp(_AccessOp):
  HAS_VALUE_OPERAND = True
  HAS_RESULT = False

  @property
  def value(self) -> ir.Value:
    return self.operation.operands[1]

  @classmethod
  def build(cls, ref: ir.Value, value: ir.Value, indexer: Indexer | None = None,
            dynamic_offsets: Sequence[ir.Value] = (),
            indices: ir.Value | None = None, *, loc=None, ip=None):
    idx = cls._indexer_for(ref, indexer, indices)
    results = [value.type] if cls.HAS_RESULT else []
    return _create(cls.OPERATION_NAME, results,
                   cls._operands(ref, value, dynamic_offsets, indices),
                   idx.to_attributes(ref.context), loc=loc, ip=ip)


@_mlir.register_operation(RefDialect)
class RefSetOp(_WriteOp):
  """`"ref.set"(%r, %v, offsets..., [indices])`: write."""
  OPERATION_NAME = "ref.set"
  WRITES = True


@_mlir.register_operation(RefDialect)
class RefSwapOp(_WriteOp):
  """`%old = "ref.swap"(%r, %v, offsets..., [indices])`: write, return old value."""
  OPERATION_NAME = "ref.swap"
  READS = WRITES = True
  HAS_RESULT = True

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]


@_mlir.register_operation(RefDialect)
class RefAddUpdateOp(_WriteOp):
  """`"ref.addupdate"(%r, %v, offsets..., [indices])`: `ref[idx] += v`."""
  OPERATION_NAME = "ref.addupdate"
  ACCUMULATES = True


@_mlir.register_operation(RefDialect)
class RefFreezeOp(_RefOp):
  """`%v = "ref.freeze"(%r)`: final read; no use of the ref afterwards."""
  OPERATION_NAME = "ref.freeze"
  READS = ENDS_LIFE = True

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]

  @classmethod
  def build(cls, ref: ir.Value, *, loc=None, ip=None) -> RefFreezeOp:
    return _create(cls.OPERATION_NAME, [ref_value_type(ref.type)], [ref],
                   loc=loc, ip=ip)


@_mlir.register_operation(RefDialect)
class RefFreeOp(_RefOp):
  """`"ref.free"(%r)`: end of life; no use of the ref afterwards."""
  OPERATION_NAME = "ref.free"
  ENDS_LIFE = True

  @classmethod
  def build(cls, ref: ir.Value, *, loc=None, ip=None) -> RefFreeOp:
    return _create(cls.OPERATION_NAME, [], [ref], loc=loc, ip=ip)


@_mlir.register_operation(RefDialect)
class RefViewOp(_AccessOp):
  """`%s = "ref.view"(%r, offsets...)`: a sub-ref aliasing a window of `%r`."""
  OPERATION_NAME = "ref.view"
  MAKES_VIEW = True
  ATTRIBUTES = tuple(a for a in INDEXER_ATTRIBUTES if a != "indexed_dims")
  """Views are slices only: no `indexed_dims`."""

  @property
  def result(self) -> ir.Value:
    return self.operation.results[0]

  @classmethod
  def build(cls, ref: ir.Value, indexer: Indexer,
            dynamic_offsets: Sequence[ir.Value] = (), *, loc=None, ip=None
            ) -> RefViewOp:
    result = ref_type(cls.value_type_for(ref, indexer))
    return _create(cls.OPERATION_NAME, [result],
                   cls._operands(ref, None, dynamic_offsets, None),
                   indexer.to_attributes(ref.context), loc=loc, ip=ip)


REF_OPS = {c.OPERATION_NAME: c for c in (
    RefNewOp, RefEmptyOp, RefGetOp, RefSetOp, RefSwapOp, RefAddUpdateOp,
    RefFreezeOp, RefFreeOp, RefViewOp)}
"""Every v1 op, by name."""

ACCESS_OPS = {n: c for n, c in REF_OPS.items() if c.HAS_INDEXER}
"""The ops that take an indexer."""


def op_names(*, reads: bool | None = None, writes: bool | None = None,
             changes: bool | None = None, indexer: bool | None = None,
             creates_root: bool | None = None, makes_view: bool | None = None,
             ends_life: bool | None = None) -> tuple[str, ...]:
  """The names of the ops with the given traits (None: either), in
  `REF_OPS` order. `changes`: writes or accumulates."""
  want = (("READS", reads), ("WRITES", writes), ("HAS_INDEXER", indexer),
          ("CREATES_ROOT", creates_root), ("MAKES_VIEW", makes_view),
          ("ENDS_LIFE", ends_life))
  out = []
  for name, c in REF_OPS.items():
    if any(v is not None and getattr(c, t) != v for t, v in want):
      continue
    if changes is not None and (c.WRITES or c.ACCUMULATES) != changes:
      continue
    out.append(name)
  return tuple(out)
