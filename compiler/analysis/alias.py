"""Alias analysis for refs: which locations (roots) and which parts of them a
ref value or an access may denote, and whether two of them may overlap.

Every ref value is traced to its **roots**: the arguments of a function and
the `ref.new` / `ref.empty` ops that create locations. Tracing goes through

- `ref.view`: the view's window is composed with its parent's, so a ref value
  denotes `(root, window)` pairs where the `Window` is expressed in the root's
  coordinates (static offsets exactly, dynamic offsets as bounds);
- `func.call`: a callee's ref parameter denotes the union of what is passed at
  all its call sites, computed interprocedurally to a fixpoint (recursion
  terminates: the sets only grow, and windows per root are widened beyond
  `_MAX_WINDOWS`);
- region captures (`stablehlo.while` / `case` / `if`): a ref used inside a
  region is the same SSA value as outside, so it has the same roots.

A public function's ref arguments are roots of their own (the ABI donates a
distinct buffer for each), plus whatever internal call sites pass. A private
function's arguments are only what its call sites pass (a private function
with no call site falls back to its own argument roots).

API:

    aa = AliasAnalysis(module_op)
    aa.roots(value)            -> frozenset[Root]
    aa.windows(value)          -> frozenset[tuple[Root, Window]]
    aa.alias(a, b)             -> AliasResult.{NO, MAY, MUST}  (ref values)
    aa.footprint(access_op)    -> frozenset[tuple[Root, Window]]
    aa.access_alias(op1, op2)  -> AliasResult  (the parts two accesses touch)
    aa.functions               -> {name: FunctionInfo}

MUST means: both sides have the same single root (created once per call of
its function, i.e. not in a recursive cycle) and identical, fully static
windows. NO means: disjoint roots, or windows that are provably disjoint in
some dimension. Everything else is MAY.

The analysis is a snapshot: build a new one after changing the IR.
"""

from __future__ import annotations

import dataclasses
import enum
import math

from jaxlib.mlir import ir

from refhlo.compiler import irutil
from refhlo.compiler.analysis.callgraph import CallGraph
from refhlo.compiler.dialect.indexer import Indexer, window_extent
from refhlo.compiler.dialect.ops import op_names
from refhlo.compiler.dialect.types import DYNAMIC, is_ref_type, ref_shape
from refhlo.compiler.irutil import callee_name, func_name

_MAX_WINDOWS = 8
"""Windows of one root (and one set of kept dims) a value may denote before
they are widened to one unknown window."""

ACCESS_OP_NAMES = op_names(indexer=True, makes_view=False)  # from the ops' traits
"""Ops that read or write part of a ref through an indexer."""


class AliasResult(enum.Enum):
  NO = "no"
  MAY = "may"
  MUST = "must"


@dataclasses.dataclass(frozen=True, order=True)
class Root:
  """A location: argument `index` of `func`, or its `index`-th `ref.new` /
  `ref.empty` (counted separately, in program order)."""

  func: str
  kind: str  # "arg" | "new" | "empty"
  index: int

  @property
  def label(self) -> str:
    """`@f:arg0`, `@f:new1`, `@f:empty0`."""
    return f"@{self.func}:{self.kind}{self.index}"

  def __str__(self) -> str:
    return self.label


@dataclasses.dataclass(frozen=True)
class DimRange:
  """The elements of one root dimension a window covers.

  `[lo, hi)` always bounds them. When `offset` is known (not None) the window
  is exactly `offset, offset + stride, ...` (`size` elements). `size` and
  `stride` are None only after widening.
  """

  lo: int
  hi: int
  offset: int | None
  size: int | None
  stride: int | None

  @property
  def exact(self) -> bool:
    return self.offset is not None and self.size is not None \
        and self.stride is not None

  def __str__(self) -> str:
    if self.exact:
      if self.size == 1:
        return f"{self.offset}:{self.offset + 1}"
      if self.stride == 1:
        return f"{self.offset}:{self.offset + self.size}"
      return f"{self.offset}:{self.offset + window_extent(self.size, self.stride)}:{self.stride}"
    return f"?({self.lo}:{self.hi})"


@dataclasses.dataclass(frozen=True)
class Window:
  """A part of a root: a `DimRange` per root dim, and the root dims that are
  the dims of the ref value (`kept`, in order; others were squeezed)."""

  dims: tuple[DimRange, ...]
  kept: tuple[int, ...]

  @classmethod
  def whole(cls, shape: tuple[int, ...]) -> Window:
    return cls(tuple(DimRange(0, n, 0, n, 1) for n in shape),
               tuple(range(len(shape))))

  @property
  def exact(self) -> bool:
    return all(d.exact for d in self.dims)

  def is_whole_of(self, shape: tuple[int, ...]) -> bool:
    return self == Window.whole(shape)

  def compose(self, idx: Indexer) -> Window:
    """The window that `idx` (an indexer on a ref denoting `self`) selects."""
    if idx.rank != len(self.kept):  # ill-formed IR: know nothing
      return self.widen()
    dims = list(self.dims)
    kept = []
    for j, r in enumerate(self.kept):
      p = self.dims[r]
      if j in idx.indexed_dims:
        dims[r] = DimRange(p.lo, p.hi, None, p.size, p.stride)
        continue
      if j not in idx.squeezed_dims:
        kept.append(r)
      o, s, t = idx.offsets[j], idx.sizes[j], idx.strides[j]
      stride = p.stride * t if p.stride is not None else None
      if o != DYNAMIC and p.offset is not None and p.stride is not None:
        off = p.offset + o * p.stride
        hi = off + window_extent(s, stride)
        dims[r] = DimRange(off, hi, off, s, stride)
      elif o != DYNAMIC and p.stride is not None and p.size is not None:
        # The parent's offset is unknown, but its size and stride are not.
        lo = p.lo + o * p.stride
        last = o + (s - 1) * t if s > 0 else o
        hi = p.hi - (p.size - 1 - last) * p.stride
        dims[r] = DimRange(lo, max(lo, hi), None, s, stride)
      else:
        dims[r] = DimRange(p.lo, p.hi, None, s, stride)
    return Window(tuple(dims), tuple(kept))

  def widen(self) -> Window:
    """An unknown window with the same bounds and kept dims."""
    return Window(tuple(DimRange(d.lo, d.hi, None, None, None) for d in self.dims),
                  self.kept)

  def format(self, root_shape: tuple[int, ...]) -> str:
    """`""` for the whole root, else `[2:4, 0:8]`; squeezed dims print as
    an index (`3`), unknown offsets as `?(lo:hi)` bounds."""
    if self.is_whole_of(root_shape):
      return ""
    parts = []
    for r, d in enumerate(self.dims):
      if r not in self.kept and d.exact and d.size == 1:
        parts.append(str(d.offset))
      else:
        parts.append(str(d))
    return "[" + ", ".join(parts) + "]"


def _dims_disjoint(a: DimRange, b: DimRange) -> bool:
  if a.hi <= b.lo or b.hi <= a.lo or a.lo >= a.hi or b.lo >= b.hi:
    return True
  if a.exact and b.exact:
    if a.size == 0 or b.size == 0:
      return True
    g = math.gcd(a.stride, b.stride)
    if (a.offset - b.offset) % g != 0:
      return True
  return False


def windows_alias(a: Window, b: Window) -> AliasResult:
  """NO if some dim is provably disjoint; MUST if both are exact and equal."""
  if any(_dims_disjoint(x, y) for x, y in zip(a.dims, b.dims)):
    return AliasResult.NO
  if a.exact and b.exact and a.dims == b.dims:
    return AliasResult.MUST
  return AliasResult.MAY


@dataclasses.dataclass(frozen=True)
class LocalOrigin:
  """Where a ref value comes from inside its function: a root of the function
  itself (argument or allocation) and the views applied since."""

  root: Root
  views: tuple[Indexer, ...] = ()


@dataclasses.dataclass
class FunctionInfo:
  """What the analysis gathered about one `func.func`."""

  name: str
  op: ir.Operation
  public: bool
  has_body: bool
  arg_types: list[ir.Type]
  alloc_ops: dict[Root, ir.Operation] = dataclasses.field(default_factory=dict)
  call_sites: list[ir.Operation] = dataclasses.field(default_factory=list)
  # Ops of this function (at any depth) in program order.
  ops: list[ir.Operation] = dataclasses.field(default_factory=list)

  @property
  def ref_args(self) -> list[int]:
    return [i for i, t in enumerate(self.arg_types) if is_ref_type(t)]


def _shape_or_none(t: ir.Type) -> tuple[int, ...] | None:
  try:
    return ref_shape(t)
  except ValueError:
    return None


class AliasAnalysis:
  """Roots and windows of every ref value in a module (see the module doc)."""

  def __init__(self, module_op: ir.Operation | ir.Module):
    self.module_op = module_op.operation
    self.functions: dict[str, FunctionInfo] = {}
    self._origin: dict[ir.Value, LocalOrigin] = {}
    self._value_func: dict[ir.Value, str] = {}
    self._root_shape: dict[Root, tuple[int, ...]] = {}
    self._param: dict[Root, frozenset[tuple[Root, Window]]] = {}
    self._collect()
    # The call graph from the calls `_collect` gathered (no second walk).
    self.call_graph = CallGraph({n: i.op for n, i in self.functions.items()},
                                {n: i.call_sites for n, i in self.functions.items()})
    self._solve()
    self._recursive = self.call_graph.recursive()

  # -- gathering -------------------------------------------------------------

  def _collect(self) -> None:
    for fop in irutil.module_functions(self.module_op):
      name = func_name(fop)
      ftype = ir.FunctionType(ir.TypeAttr(fop.attributes["function_type"]).value)
      has_body = len(fop.regions[0].blocks) > 0
      info = FunctionInfo(name, fop, irutil.is_public(fop), has_body, list(ftype.inputs))
      self.functions[name] = info
      if not has_body:
        continue
      entry = fop.regions[0].blocks[0]
      for i, arg in enumerate(entry.arguments):
        if is_ref_type(arg.type):
          root = Root(name, "arg", i)
          self._origin[arg] = LocalOrigin(root)
          self._value_func[arg] = name
          self._root_shape[root] = _shape_or_none(arg.type)
      counts = {"new": 0, "empty": 0}
      for op in irutil.walk_ops(fop):
        info.ops.append(op)
        opname = op.name
        if opname in ("ref.new", "ref.empty"):
          kind = opname[4:]
          root = Root(name, kind, counts[kind])
          counts[kind] += 1
          info.alloc_ops[root] = op
          res = op.results[0]
          self._origin[res] = LocalOrigin(root)
          self._value_func[res] = name
          self._root_shape[root] = _shape_or_none(res.type)
        elif opname == "ref.view":
          parent = self._origin.get(op.operands[0])
          if parent is None:
            continue
          try:
            idx = Indexer.from_op(op)
          except ValueError:
            continue
          res = op.results[0]
          self._origin[res] = LocalOrigin(parent.root, parent.views + (idx,))
          self._value_func[res] = name
        elif opname == "func.call":
          info.call_sites.append(op)

  def _local_windows(self, origin: LocalOrigin) -> frozenset[tuple[Root, Window]]:
    """`(root, window)` pairs in global roots for a local origin."""
    if origin.root.kind == "arg":
      base = self._param.get(origin.root, frozenset())
    else:
      shape = self._root_shape.get(origin.root)
      if shape is None:
        return frozenset()
      base = frozenset({(origin.root, Window.whole(shape))})
    if not origin.views:
      return base
    out = set()
    for root, w in base:
      for idx in origin.views:
        w = w.compose(idx)
      out.add((root, w))
    return frozenset(out)

  def _solve(self) -> None:
    """Binds every parameter to what its call sites pass, to a fixpoint."""
    called = self.call_graph.called()
    for name, info in self.functions.items():
      if not info.has_body:
        continue
      own = info.public or name not in called
      for i in info.ref_args:
        root = Root(name, "arg", i)
        shape = self._root_shape.get(root)
        if own and shape is not None:
          self._param[root] = frozenset({(root, Window.whole(shape))})
        else:
          self._param[root] = frozenset()
    changed = True
    while changed:
      changed = False
      for info in self.functions.values():
        for call in info.call_sites:
          callee = self.functions.get(callee_name(call))
          if callee is None or not callee.has_body:
            continue
          for j, operand in enumerate(call.operands):
            origin = self._origin.get(operand)
            if origin is None:
              continue
            root = Root(callee.name, "arg", j)
            if root not in self._param:
              continue
            old = self._param[root]
            new = _widen(old | self._local_windows(origin))
            if new != old:
              self._param[root] = new
              changed = True

  # -- queries -------------------------------------------------------------

  def is_traced(self, value: ir.Value) -> bool:
    """True for a ref value whose origin the analysis knows."""
    return value in self._origin

  def origin(self, value: ir.Value) -> LocalOrigin | None:
    """The value's root inside its own function and the views applied since."""
    return self._origin.get(value)

  def function_of(self, value: ir.Value) -> str | None:
    return self._value_func.get(value)

  def root_shape(self, root: Root) -> tuple[int, ...] | None:
    return self._root_shape.get(root)

  def alloc_op(self, root: Root) -> ir.Operation | None:
    """The `ref.new` / `ref.empty` op of an allocation root."""
    info = self.functions.get(root.func)
    return info.alloc_ops.get(root) if info else None

  def windows(self, value: ir.Value) -> frozenset[tuple[Root, Window]]:
    """The `(root, window)` pairs the ref value may denote."""
    origin = self._origin.get(value)
    if origin is None:
      return frozenset()
    return self._local_windows(origin)

  def roots(self, value: ir.Value) -> frozenset[Root]:
    """The roots the ref value may denote."""
    return frozenset(r for r, _ in self.windows(value))

  def param_windows(self, func: str, index: int) -> frozenset[tuple[Root, Window]]:
    """What argument `index` of `func` may be bound to."""
    return self._param.get(Root(func, "arg", index), frozenset())

  def is_unique(self, root: Root) -> bool:
    """True unless the root may stand for several live locations at once
    (an allocation in a recursive function)."""
    return root.kind == "arg" or root.func not in self._recursive

  def footprint(self, op: ir.Operation | ir.OpView
                ) -> frozenset[tuple[Root, Window]]:
    """The parts of roots an op accesses: for get/set/swap/addupdate the
    window its indexer selects, for the other ref ops their ref's windows."""
    op = op.operation
    if not len(op.operands):
      return frozenset()
    base = self.windows(op.operands[0])
    if op.name not in ACCESS_OP_NAMES:
      return base
    try:
      idx = Indexer.from_op(op)
    except ValueError:
      return frozenset((r, w.widen()) for r, w in base)
    return frozenset((r, w.compose(idx)) for r, w in base)

  def _alias_sets(self, a: frozenset[tuple[Root, Window]],
                  b: frozenset[tuple[Root, Window]]) -> AliasResult:
    if not a or not b:
      return AliasResult.MAY  # unknown
    if len(a) == 1 and len(b) == 1:
      (ra, wa), = a
      (rb, wb), = b
      if ra != rb:
        return AliasResult.NO
      res = windows_alias(wa, wb)
      if res is AliasResult.MUST and not self.is_unique(ra):
        return AliasResult.MAY
      return res
    for ra, wa in a:
      for rb, wb in b:
        if ra == rb and windows_alias(wa, wb) is not AliasResult.NO:
          return AliasResult.MAY
    return AliasResult.NO

  def alias(self, a: ir.Value, b: ir.Value) -> AliasResult:
    """Whether two ref values may denote overlapping locations."""
    if a == b:
      return AliasResult.MUST
    return self._alias_sets(self.windows(a), self.windows(b))

  def access_alias(self, a: ir.Operation | ir.OpView,
                   b: ir.Operation | ir.OpView) -> AliasResult:
    """Whether the parts of refs two ref ops touch may overlap."""
    return self._alias_sets(self.footprint(a), self.footprint(b))

  def format_windows(self, pairs: frozenset[tuple[Root, Window]]) -> list[str]:
    """Sorted labels `@f:arg0[2:4, 0:8]` for `(root, window)` pairs."""
    out = set()
    for root, w in pairs:
      shape = self._root_shape.get(root) or ()
      out.add(root.label + w.format(shape))
    return sorted(out)


def _widen(pairs: frozenset[tuple[Root, Window]]
           ) -> frozenset[tuple[Root, Window]]:
  """Bounds the windows per (root, kept dims), so fixpoints terminate."""
  groups: dict[tuple[Root, tuple[int, ...]], list[Window]] = {}
  for root, w in pairs:
    groups.setdefault((root, w.kept), []).append(w)
  if all(len(ws) <= _MAX_WINDOWS for ws in groups.values()):
    return pairs
  out = set()
  for (root, _), ws in groups.items():
    if len(ws) <= _MAX_WINDOWS:
      out.update((root, w) for w in ws)
      continue
    dims = []
    for r in range(len(ws[0].dims)):
      lo = min(w.dims[r].lo for w in ws)
      hi = max(w.dims[r].hi for w in ws)
      dims.append(DimRange(lo, hi, None, None, None))
    out.add((root, Window(tuple(dims), ws[0].kept)))
  return frozenset(out)
