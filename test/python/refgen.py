"""A seeded generator of random, valid ref-dialect programs (MLIR text).

`generate(seed)` returns a `Program`: the module text (entry `@main`) and the
argument values to run it with. Programs take ref arguments of small shapes
(f32 and i32) and scalar i32 arguments (used as dynamic offsets, loop bounds
and case selectors, with out-of-range values), and mix:

* get / set / swap / addupdate with every indexer form: the whole ref, static
  windows, dynamic offsets (out of range too, to exercise clamping), strides,
  squeezed dims and indexed dims (duplicate and out-of-range indices for get
  and addupdate; unique in-range indices for set and swap, whose order on
  duplicates is unspecified);
* `ref.new`, `ref.empty` (fully written before it is read), `ref.freeze`,
  `ref.free`, and views (static, dynamic, views of views);
* `stablehlo.while` loops with small trip counts whose cond and body capture
  refs, `stablehlo.case` and `stablehlo.if` with refs written in some branches;
* `func.call`s of private callees taking refs, including the same ref passed
  twice and a view together with its parent.

Every value stays a small integer (f32 values too), so results are exact and
the differential test can compare floats tightly.

Two profiles. `classic` is the original mix above (kept bit for bit, so old
seeds still name the same programs). `adversarial` (the default) aims at what
the compiler and XLA special-case, weighted toward the shapes of every bug
found so far:

* read-only loops, nested read-only loops, read-only branches and read-only
  callees followed by a write / swap / addupdate of the same ref (or of a
  view / the parent of what was read), whose results escape: XLA's
  `copy_insertion_use_region_analysis` once moved such writes before the reads;
* swaps inside loops (old value carried), nested loops writing from outer
  carried values;
* out-of-range dynamic offsets with every index form (far values up to the
  i32 limits, next to strides, squeezed and indexed dims), zero-size windows;
* refs created inside loop bodies, branches and callees (initialized from
  outer refs, accessed strided, through views, frozen or freed or left alive);
* loop-free programs (35%, or all with `loop_free=True`): refhlo compiles a
  module without `stablehlo.while` with XLA region analysis on, so there the
  read-only branches / callees followed by writes are the live risk.

Per program, a second random stream (so the classic sequence is untouched)
draws the knobs: the share of far dynamic offsets (0, 25% or 50%; far i32
arguments too: never loop bounds, but they may flow into values, where i32
arithmetic wraps), zero-size windows (0 or 5%), one more
nesting level (30%) and loop-freedom (35%).

`Program.patterns` names the patterns a program contains (for per-pattern
counts in tools/fuzz.py).
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from collections.abc import Callable, Sequence

import numpy as np

DYN = -9223372036854775808

REF_SHAPES: tuple[tuple[int, ...], ...] = ((6, 5), (7,), (4, 3, 2), (3, 4), (8,), (2, 3, 2))
DTYPES = ("f32", "i32")
PROFILES = ("adversarial", "classic")
# Far dynamic offsets: clamped by the contract, and adding the window extent to
# the i32 extremes overflows anything that computes `off + extent` naively.
FAR_OFFSETS = (-2**31, -2**31 + 1, -1000, -9, -1, 2**31 - 1, 2**31 - 2, 1000)


@dataclasses.dataclass(frozen=True)
class Arg:
  """A `@main` argument: a ref (`is_ref`) or a plain tensor, with its value."""
  name: str
  shape: tuple[int, ...]
  dtype: str
  is_ref: bool
  value: np.ndarray = dataclasses.field(compare=False)


@dataclasses.dataclass(frozen=True)
class Program:
  seed: int
  text: str
  args: tuple[Arg, ...]
  patterns: frozenset[str] = frozenset()
  profile: str = "adversarial"

  def arg_values(self) -> list[np.ndarray]:
    """Fresh copies of the argument values, in order."""
    return [np.array(a.value, copy=True) for a in self.args]


# -- text helpers ------------------------------------------------------------------------


def tensor_type(shape: Sequence[int], dtype: str) -> str:
  return f"tensor<{''.join(f'{d}x' for d in shape)}{dtype}>"


def ref_type(shape: Sequence[int], dtype: str) -> str:
  return f"!ref.ref<{tensor_type(shape, dtype)}>"


def _np_dtype(dtype: str) -> type:
  return {"f32": np.float32, "i32": np.int32}[dtype]


def _elem(v, dtype: str) -> str:
  return f"{float(v):.1f}" if dtype == "f32" else str(int(v))


def dense(arr: np.ndarray, dtype: str) -> str:
  arr = np.asarray(arr)
  if arr.size == 0:
    return f"dense<{_elem(0, dtype)}>"  # a splat: any zero-size shape
  if np.all(arr == arr.flat[0]):
    return f"dense<{_elem(arr.flat[0], dtype)}>"

  def nest(a):
    if a.ndim == 0:
      return _elem(a, dtype)
    return "[" + ", ".join(nest(x) for x in a) + "]"

  return f"dense<{nest(arr)}>"


# -- generator state -------------------------------------------------------------------------


class _Root:
  """A ref's underlying location; `alive` turns False on freeze/free."""

  def __init__(self, freezable: bool):
    self.alive = True
    self.freezable = freezable


@dataclasses.dataclass
class _Ref:
  name: str
  shape: tuple[int, ...]
  dtype: str
  root: _Root
  is_root: bool  # not a view
  local: bool = False  # created by ref.new / ref.empty (or a view of one)
  parent: _Ref | None = None  # the ref a view was made of

  @property
  def type(self) -> str:
    return ref_type(self.shape, self.dtype)


@dataclasses.dataclass(frozen=True)
class _Val:
  name: str
  shape: tuple[int, ...]
  dtype: str

  @property
  def type(self) -> str:
    return tensor_type(self.shape, self.dtype)


class _Scope:
  """The refs and values visible in a block, and the lines of the block."""

  def __init__(self, parent: _Scope | None, indent: int, region: str = ""):
    self.parent = parent
    self.indent = indent
    self.refs: list[_Ref] = []
    self.vals: list[_Val] = []
    self.lines: list[str] = []
    self.frozen: list[_Val] = []
    # Values that should escape the block (results of the adversarial
    # patterns): a loop / branch / callee returns one of them when it can.
    self.prefer: list[_Val] = []
    # "loop", "branch", "callee" or "" (main); `regions` lists the enclosing
    # ones from the innermost function body down.
    self.region = region
    up = parent.regions if parent is not None else ()
    self.regions: tuple[str, ...] = up + ((region,) if region else ())

  @property
  def loop_depth(self) -> int:
    return self.regions.count("loop")

  def all_refs(self) -> list[_Ref]:
    up = self.parent.all_refs() if self.parent else []
    return [r for r in up + self.refs if r.root.alive]

  def all_vals(self) -> list[_Val]:
    up = self.parent.all_vals() if self.parent else []
    return up + self.vals

  def emit(self, line: str) -> None:
    self.lines.append(" " * self.indent + line)


@dataclasses.dataclass
class _Func:
  name: str
  params: list[tuple[str, str]]  # (name, type)
  results: list[str]
  lines: list[str]
  private: bool
  result_vals: list[_Val] = dataclasses.field(default_factory=list)


class Generator:
  """Builds one random program; `generate(seed)` is the entry point."""

  def __init__(self, seed: int, *, max_stmts: int = 10, max_depth: int = 2,
               profile: str = "adversarial", loop_free: bool | None = None):
    if profile not in PROFILES:
      raise ValueError(f"unknown profile {profile!r}: expected one of {PROFILES}")
    self.seed = seed
    self.rng = random.Random(seed)
    self.max_stmts = max_stmts
    self.max_depth = max_depth
    self.counter = itertools.count()
    self.funcs: list[_Func] = []
    self.num_calls = 0
    self.profile = profile
    self.adv = profile == "adversarial"
    self.tags: set[str] = set()
    # Adversarial knobs, drawn per program from a second stream so that the
    # classic profile's random sequence is untouched.
    knobs = random.Random(seed * 7919 + 17)
    self.far_p = knobs.choice([0.0, 0.25, 0.5]) if self.adv else 0.0
    self.zero_p = knobs.choice([0.0, 0.05]) if self.adv else 0.0
    if self.adv and knobs.random() < 0.3:
      self.max_depth = max_depth + 1  # deeper nesting: loops in loops in loops
    # Loop-free programs: refhlo compiles those with XLA region analysis on
    # (compile_module's policy), so the read-only-branch / callee patterns
    # followed by writes matter most there.
    self.loop_free = self.adv and knobs.random() < 0.35
    if loop_free is not None:
      if loop_free and not self.adv:
        raise ValueError("loop_free=True needs the adversarial profile")
      self.loop_free = loop_free
    # i32 scalars safe as loop bounds (small, never far).
    self.far_names: set[str] = set()

  def tag(self, *names: str) -> None:
    self.tags.update(names)

  def fresh(self, prefix: str) -> str:
    return f"%{prefix}{next(self.counter)}"

  # -- values -------------------------------------------------------------------------------

  def small(self, shape: Sequence[int], dtype: str, lo: int = -4, hi: int = 4
            ) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    vals = [self.rng.randint(lo, hi) for _ in range(n)]
    return np.array(vals, dtype=_np_dtype(dtype)).reshape(tuple(shape))

  def constant(self, s: _Scope, arr: np.ndarray, dtype: str) -> _Val:
    v = _Val(self.fresh("c"), tuple(arr.shape), dtype)
    s.emit(f"{v.name} = stablehlo.constant {dense(arr, dtype)} : {v.type}")
    return v

  def scalar_i32(self, s: _Scope, lo: int, hi: int, *, small: bool = False) -> _Val:
    """A 0-d i32 value: an existing one (argument, counter, read) or a constant.

    `small`: never a far argument (loop bounds)."""
    pool = [v for v in s.all_vals() if v.shape == () and v.dtype == "i32"
            and not (small and v.name in self.far_names)]
    if pool and self.rng.random() < 0.6:
      return self.rng.choice(pool)
    return self.constant(s, np.array(self.rng.randint(lo, hi), np.int32), "i32")

  def dyn_offset(self, s: _Scope, dim: int) -> _Val:
    """A dynamic offset: in range or near it, or (adversarial) far out."""
    rng = self.rng
    if self.far_p and rng.random() < self.far_p:
      self.tag("oob_dynamic")
      r = rng.random()
      if r < 0.5:
        return self.constant(s, np.array(rng.choice(FAR_OFFSETS + (dim, dim + 1)),
                                         np.int32), "i32")
      far = [v for v in s.all_vals() if v.name in self.far_names
             and v.shape == () and v.dtype == "i32"]
      if far and r < 0.75:
        return rng.choice(far)
      # Runtime-dependent: a counter or argument times a big factor.
      pool = [v for v in s.all_vals() if v.shape == () and v.dtype == "i32"
              and v.name not in self.far_names]
      if pool:
        base = rng.choice(pool)
        k = self.constant(s, np.array(rng.choice([1000, -1000, 2**20]), np.int32), "i32")
        out = _Val(self.fresh("far"), (), "i32")
        s.emit(f"{out.name} = stablehlo.multiply {base.name}, {k.name} : tensor<i32>")
        return out
    return self.scalar_i32(s, -3, dim + 3)

  def reduce_f32(self, s: _Scope, v: _Val) -> _Val:
    """The sum of `v`'s elements as a 0-d f32 value."""
    if v.shape != ():
      z = self.constant(s, np.array(0, _np_dtype(v.dtype)), v.dtype)
      out = _Val(self.fresh("sum"), (), v.dtype)
      dims = ", ".join(map(str, range(len(v.shape))))
      s.emit(f"{out.name} = stablehlo.reduce({v.name} init: {z.name}) applies "
             f"stablehlo.add across dimensions = [{dims}] : ({v.type}, {z.type}) "
             f"-> {out.type}")
      v = out
    if v.dtype != "f32":
      out = _Val(self.fresh("cv"), (), "f32")
      s.emit(f"{out.name} = stablehlo.convert {v.name} : ({v.type}) -> {out.type}")
      v = out
    return v

  def add_f32(self, s: _Scope, a: _Val, b: _Val) -> _Val:
    out = _Val(self.fresh("ad"), (), "f32")
    s.emit(f"{out.name} = stablehlo.add {a.name}, {b.name} : tensor<f32>")
    return out

  def value(self, s: _Scope, shape: tuple[int, ...], dtype: str) -> _Val:
    """A value of the given type, often computed from earlier values."""
    pool = s.all_vals()
    same = [v for v in pool if v.shape == shape and v.dtype == dtype]
    # Never a far i32 (up to 2**31) into a float: sums of such values are
    # rounded differently by every reduction order (not a miscompile; seed
    # 303745 of the campaign).
    other = [v for v in pool if v.shape == shape and v.dtype != dtype
             and not (dtype.startswith("f") and v.name in self.far_names)]
    scalars = [v for v in pool if v.shape == () and v.dtype == dtype]
    r = self.rng.random()
    if same and r < 0.45:
      a = self.rng.choice(same)
      op = self.rng.choice(["add", "subtract", "maximum", "minimum", "negate", "multiply"])
      out = _Val(self.fresh("v"), shape, dtype)
      if op == "negate":
        s.emit(f"{out.name} = stablehlo.negate {a.name} : {out.type}")
      elif op == "multiply":
        c = self.constant(s, np.array(self.rng.choice([-1, 2]), _np_dtype(dtype)), dtype)
        cb = self.broadcast(s, c, shape)
        s.emit(f"{out.name} = stablehlo.multiply {a.name}, {cb.name} : {out.type}")
      else:
        b = self.rng.choice(same) if self.rng.random() < 0.5 else \
            self.constant(s, self.small(shape, dtype), dtype)
        s.emit(f"{out.name} = stablehlo.{op} {a.name}, {b.name} : {out.type}")
        self._taint(out, b)
      self._taint(out, a)
      return out
    if other and r < 0.55:
      a = self.rng.choice(other)
      out = _Val(self.fresh("v"), shape, dtype)
      s.emit(f"{out.name} = stablehlo.convert {a.name} : ({a.type}) -> {out.type}")
      self._taint(out, a)
      return out
    if scalars and shape != () and r < 0.7:
      return self.broadcast(s, self.rng.choice(scalars), shape)
    return self.constant(s, self.small(shape, dtype), dtype)

  def broadcast(self, s: _Scope, v: _Val, shape: tuple[int, ...]) -> _Val:
    if shape == v.shape:
      return v
    out = _Val(self.fresh("b"), shape, v.dtype)
    s.emit(f"{out.name} = stablehlo.broadcast_in_dim {v.name}, dims = [] : "
           f"({v.type}) -> {out.type}")
    self._taint(out, v)
    return out

  def _taint(self, out: _Val, src: _Val) -> None:
    """A value computed from a far one is far too: never a loop bound, never
    converted into floats (seed 775427: `K3 - K4` of two far arguments,
    2147482647, bounded a loop)."""
    if src.name in self.far_names:
      self.far_names.add(out.name)

  # -- indexers ---------------------------------------------------------------------------------

  def indexer(self, s: _Scope, ref: _Ref, kind: str
              ) -> tuple[str, list[_Val], _Val | None, tuple[int, ...]]:
    """(attribute text, dynamic offsets, indices, value shape) for an access."""
    shape = ref.shape
    rank = len(shape)
    rng = self.rng
    if rank == 0 or rng.random() < 0.15:
      return "", [], None, shape
    allow_indexed = kind != "view"
    offsets, sizes, strides = [], [], []
    squeezed, indexed, dyn = [], [], []
    for d, dim in enumerate(shape):
      if dim == 0:  # a zero-size view: only an empty window fits
        offsets.append(0)
        sizes.append(0)
        strides.append(1)
        continue
      r = rng.random()
      role = "kept"
      if r < 0.2:
        role = "squeezed"
      elif r < 0.45 and allow_indexed:
        role = "indexed"
      if role == "indexed":
        indexed.append(d)
        offsets.append(0)
        sizes.append(1)
        strides.append(1)
        continue
      if role == "squeezed":
        squeezed.append(d)
        size, stride = 1, 1
      else:
        stride = rng.choice([1, 1, 1, 2, 3])
        max_size = (dim - 1) // stride + 1
        size = rng.randint(1, max_size) if rng.random() < 0.7 else max_size
        if self.zero_p and rng.random() < self.zero_p:
          size = 0
          self.tag("zero_size")
      extent = (size - 1) * stride + 1 if size > 0 else 0
      if rng.random() < 0.35:
        offsets.append(DYN)
        dyn.append(self.dyn_offset(s, dim) if self.adv
                   else self.scalar_i32(s, -3, dim + 3))
      else:
        offsets.append(rng.randint(0, dim - extent))
      sizes.append(size)
      strides.append(stride)
    indices = None
    batch: tuple[int, ...] = ()
    if indexed:
      combos = int(np.prod([shape[d] for d in indexed]))
      batch = rng.choice([b for b in [(1,), (2,), (3,), (4,), (2, 2), ()]
                          if kind not in ("set", "swap")
                          or int(np.prod(b, dtype=np.int64)) <= combos])
      indices = self.indices(s, [shape[d] for d in indexed], batch,
                             unique=kind in ("set", "swap"))
    attrs = [f"static_offsets = array<i64: {', '.join(map(str, offsets))}>",
             f"static_sizes = array<i64: {', '.join(map(str, sizes))}>"]
    if any(st != 1 for st in strides):
      attrs.append(f"static_strides = array<i64: {', '.join(map(str, strides))}>")
    if squeezed:
      attrs.append(f"squeezed_dims = array<i64: {', '.join(map(str, squeezed))}>")
    if indexed:
      attrs.append(f"indexed_dims = array<i64: {', '.join(map(str, indexed))}>")
    kept = [sizes[d] for d in range(rank) if d not in squeezed and d not in indexed]
    if self.adv:
      if any(st != 1 for st in strides):
        self.tag("strided")
        if ref.local:
          self.tag("strided_local_ref")
      if dyn and indexed:
        self.tag("dynamic_next_to_indexed")
      if dyn and any(st != 1 for st in strides):
        self.tag("dynamic_strided")
      if indexed:
        self.tag("indexed")
    return "{" + ", ".join(attrs) + "}", dyn, indices, tuple(batch) + tuple(kept)

  def indices(self, s: _Scope, dims: list[int], batch: tuple[int, ...],
              unique: bool) -> _Val:
    rng = self.rng
    k = len(dims)
    n = int(np.prod(batch, dtype=np.int64))
    if unique:
      combos = list(itertools.product(*(range(d) for d in dims)))
      rows = rng.sample(combos, n)
    else:
      rows = []
      for _ in range(n):
        if rows and rng.random() < 0.3:
          rows.append(rng.choice(rows))  # a duplicate
        else:
          rows.append(tuple(rng.randint(-2, d + 1) if rng.random() < 0.25
                            else rng.randint(0, d - 1) for d in dims))
    arr = np.array(rows, np.int32).reshape(tuple(batch) + (k,))
    c = self.constant(s, arr, "i32")
    if not unique and rng.random() < 0.3:
      # Runtime-dependent indices: shift by a scalar (clamped or dropped).
      shift = self.scalar_i32(s, -1, 1)
      out = _Val(self.fresh("ix"), c.shape, "i32")
      s.emit(f"{out.name} = stablehlo.add {c.name}, "
             f"{self.broadcast(s, shift, c.shape).name} : {out.type}")
      return out
    return c

  # -- statements ---------------------------------------------------------------------------------

  def access(self, s: _Scope, kind: str, ref: _Ref | None = None,
             whole: bool = False) -> _Val | None:
    """One get/set/swap/addupdate of `ref` (random when None); returns the
    value read (get, swap)."""
    if ref is None:
      refs = s.all_refs()
      if not refs:
        return None
      ref = self.rng.choice(refs)
    if whole:
      attrs, dyn, idx, vshape = "", [], None, ref.shape
    else:
      attrs, dyn, idx, vshape = self.indexer(s, ref, kind)
    if self.adv:
      if kind == "swap" and s.loop_depth:
        self.tag("swap_in_loop")
      if ref.local and "loop" in s.regions and kind != "get":
        self.tag("local_ref_written_in_loop")
    operands = [ref.name]
    types = [ref.type]
    val = None
    if kind in ("set", "swap", "addupdate"):
      val = self.value(s, vshape, ref.dtype)
      operands.append(val.name)
      types.append(val.type)
    operands += [v.name for v in dyn]
    types += [v.type for v in dyn]
    if idx is not None:
      operands.append(idx.name)
      types.append(idx.type)
    args = f"({', '.join(operands)}) {attrs} : ({', '.join(types)})"
    vt = tensor_type(vshape, ref.dtype)
    if kind in ("get", "swap"):
      out = _Val(self.fresh("g" if kind == "get" else "o"), vshape, ref.dtype)
      s.emit(f'{out.name} = "ref.{kind}"{args} -> {vt}')
      s.vals.append(out)
      return out
    s.emit(f'"ref.{kind}"{args} -> ()')
    return None

  def view(self, s: _Scope) -> None:
    refs = s.all_refs()
    if refs:
      self.view_of(s, self.rng.choice(refs))

  def new_ref(self, s: _Scope) -> _Ref:
    shape = self.rng.choice(REF_SHAPES)
    dtype = self.rng.choice(DTYPES)
    r = _Ref(self.fresh("n"), shape, dtype, _Root(freezable=True), True, local=True)
    if self.adv:
      for region in set(s.regions):
        self.tag(f"local_ref_in_{region}")
    if self.rng.random() < 0.5:
      init = self.value(s, shape, dtype)
      s.emit(f'{r.name} = "ref.new"({init.name}) : ({init.type}) -> {r.type}')
    else:
      s.emit(f'{r.name} = "ref.empty"() : () -> {r.type}')
      # Fully written before it is read: whole, or two static halves of dim 0.
      if shape[0] >= 2 and self.rng.random() < 0.5:
        cut = self.rng.randint(1, shape[0] - 1)
        for off, size in ((0, cut), (cut, shape[0] - cut)):
          part = (size,) + shape[1:]
          v = self.value(s, part, dtype)
          offs = ", ".join(["%d" % off] + ["0"] * (len(shape) - 1))
          sizes = ", ".join(map(str, part))
          s.emit(f'"ref.set"({r.name}, {v.name}) {{static_offsets = array<i64: {offs}>, '
                 f'static_sizes = array<i64: {sizes}>}} : ({r.type}, {v.type}) -> ()')
      else:
        v = self.value(s, shape, dtype)
        s.emit(f'"ref.set"({r.name}, {v.name}) : ({r.type}, {v.type}) -> ()')
    s.refs.append(r)
    return r

  def end_refs(self, s: _Scope) -> None:
    """Freezes or frees the refs this block created (some of them)."""
    for r in list(s.refs):
      if not (r.is_root and r.root.freezable and r.root.alive):
        continue
      c = self.rng.random()
      if c < 0.45:
        out = _Val(self.fresh("f"), r.shape, r.dtype)
        s.emit(f'{out.name} = "ref.freeze"({r.name}) : ({r.type}) -> {out.type}')
        s.vals.append(out)
        s.frozen.append(out)
        r.root.alive = False
      elif c < 0.7:
        s.emit(f'"ref.free"({r.name}) : ({r.type}) -> ()')
        r.root.alive = False

  def arith(self, s: _Scope) -> None:
    vals = [v for v in s.all_vals()]
    if not vals:
      return
    a = self.rng.choice(vals)
    s.vals.append(self.value(s, a.shape, a.dtype))

  def while_loop(self, s: _Scope, depth: int, *,
                 body_fn: Callable[[_Scope], None] | None = None,
                 trips: tuple[int, int] | None = None,
                 with_acc: bool | None = None) -> _Val | None:
    """A `stablehlo.while` with counter `i` (and sometimes an f32 acc).

    Adversarial patterns pass `body_fn` (fills the body instead of random
    statements), `trips` (the range of constant trip counts) and
    `with_acc=True`. Returns the acc's result, if any."""
    rng = self.rng
    zero = self.constant(s, np.array(0, np.int32), "i32")
    if trips is not None:
      small = [v for v in s.all_vals() if v.name.startswith("%k")
               and v.name not in self.far_names]
      bound = rng.choice(small) if small and rng.random() < 0.2 else \
          self.constant(s, np.array(rng.randint(*trips), np.int32), "i32")
    elif rng.random() < 0.25:
      bound = self.scalar_i32(s, 0, 3, small=True)
    else:
      bound = self.constant(s, np.array(rng.randint(0, 3), np.int32), "i32")
    one = self.constant(s, np.array(1, np.int32), "i32")
    if with_acc is None:
      acc0 = self.value(s, (), "f32") if rng.random() < 0.5 else None
    else:
      acc0 = self.value(s, (), "f32") if with_acc else None
    i = _Val(self.fresh("i"), (), "i32")
    acc = _Val(self.fresh("acc"), (), "f32") if acc0 else None
    outs = [_Val(self.fresh("wr"), (), "i32")]
    carried = [(i, zero)]
    if acc:
      outs.append(_Val(self.fresh("wr"), (), "f32"))
      carried.append((acc, acc0))
    names = ", ".join(o.name for o in outs)
    inits = ", ".join(f"{a.name} = {b.name}" for a, b in carried)
    types = ", ".join(a.type for a, _ in carried)
    s.emit(f"{outs[0].name}:{len(outs)} = stablehlo.while({inits}) : {types}"
           if len(outs) > 1 else f"{names} = stablehlo.while({inits}) : {types}")
    # cond: i < bound, sometimes also reading a ref (captured in cond).
    c = _Scope(s, s.indent + 4, "loop")
    c.vals += [a for a, _ in carried]
    lt = self.fresh("lt")
    c.emit(f"{lt} = stablehlo.compare LT, {i.name}, {bound.name} : "
           f"(tensor<i32>, tensor<i32>) -> tensor<i1>")
    if rng.random() < 0.4 and c.all_refs():
      self.access(c, "get")
      g = c.vals[-1] if c.vals[-1].name.startswith("%g") else None
      if g is not None:
        # Keep the trip count bounded: `and` with a predicate from the read.
        big = self.constant(c, np.full(g.shape, 1000, _np_dtype(g.dtype)), g.dtype)
        p = self.fresh("p")
        c.emit(f"{p} = stablehlo.compare LT, {g.name}, {big.name} : "
               f"({g.type}, {g.type}) -> {tensor_type(g.shape, 'i1')}")
        red = p
        if g.shape != ():
          red = self.fresh("all")
          t = self.fresh("t")
          c.emit(f"{t} = stablehlo.constant dense<true> : tensor<i1>")
          dims = ", ".join(map(str, range(len(g.shape))))
          c.emit(f"{red} = stablehlo.reduce({p} init: {t}) applies stablehlo.and "
                 f"across dimensions = [{dims}] : ({tensor_type(g.shape, 'i1')}, "
                 f"tensor<i1>) -> tensor<i1>")
        both = self.fresh("and")
        c.emit(f"{both} = stablehlo.and {lt}, {red} : tensor<i1>")
        lt = both
    c.emit(f"stablehlo.return {lt} : tensor<i1>")
    # body
    b = _Scope(s, s.indent + 4, "loop")
    b.vals += [a for a, _ in carried]
    if self.adv and s.loop_depth:
      self.tag("nested_loop")
    if body_fn is not None:
      body_fn(b)
      self.end_refs(b)
    else:
      self.block(b, depth + 1, rng.randint(1, 4))
    nxt = self.fresh("next")
    b.emit(f"{nxt} = stablehlo.add {i.name}, {one.name} : tensor<i32>")
    rets = [nxt]
    if acc:
      scal = b.prefer or [v for v in b.vals if v.shape == () and v.dtype == "f32"]
      add = self.rng.choice(scal) if scal else self.constant(b, np.array(1, np.float32), "f32")
      na = self.fresh("na")
      b.emit(f"{na} = stablehlo.add {acc.name}, {add.name} : tensor<f32>")
      rets.append(na)
    b.emit(f"stablehlo.return {', '.join(rets)} : {types}")
    s.lines += [" " * (s.indent + 2) + "cond {"] + c.lines + \
        [" " * (s.indent + 2) + "} do {"] + b.lines + [" " * (s.indent + 2) + "}"]
    if len(outs) > 1:
      s.vals += [_Val(f"{outs[0].name}#{k}", o.shape, o.dtype) for k, o in enumerate(outs)]
    else:
      s.vals.append(outs[0])
    if acc and b.prefer:
      s.prefer.append(s.vals[-1])
    return s.vals[-1] if acc else None

  def branches(self, s: _Scope, depth: int, *,
               body_fn: Callable[[_Scope], None] | None = None) -> _Val | None:
    """`stablehlo.case` (2-3 branches) or `stablehlo.if`, writing refs.

    `body_fn` (adversarial patterns) fills each branch instead of random
    statements; the branches then always return an f32. Returns the result."""
    rng = self.rng
    if rng.random() < 0.6:
      n = rng.randint(2, 3)
      sel = self.scalar_i32(s, -1, n + 1)
      head = f'"stablehlo.case"({sel.name})'
      sel_type = "tensor<i32>"
    else:
      n = 2
      a = self.scalar_i32(s, -2, 4)
      b = self.scalar_i32(s, -2, 4)
      p = self.fresh("p")
      s.emit(f"{p} = stablehlo.compare LT, {a.name}, {b.name} : "
             f"(tensor<i32>, tensor<i32>) -> tensor<i1>")
      head = f'"stablehlo.if"({p})'
      sel_type = "tensor<i1>"
    has_result = rng.random() < 0.6 or body_fn is not None
    bodies = []
    preferred = False
    for _ in range(n):
      b = _Scope(s, s.indent + 2, "branch")
      if body_fn is not None:
        body_fn(b)
        self.end_refs(b)
      else:
        self.block(b, depth + 1, rng.randint(0, 3))
      if has_result:
        preferred = preferred or bool(b.prefer)
        scal = b.prefer or [v for v in b.vals if v.shape == () and v.dtype == "f32"]
        r = rng.choice(scal) if scal else self.value(b, (), "f32")
        b.emit(f"stablehlo.return {r.name} : tensor<f32>")
      else:
        b.emit("stablehlo.return")
      bodies.append(b.lines)
    out = _Val(self.fresh("br"), (), "f32") if has_result else None
    prefix = f"{out.name} = " if out else ""
    rtype = "tensor<f32>" if out else "()"
    s.emit(f"{prefix}{head} ({{")
    for k, lines in enumerate(bodies):
      s.lines += lines
      s.emit("}, {" if k < n - 1 else f"}}) : ({sel_type}) -> {rtype}")
    if out:
      s.vals.append(out)
      if preferred:
        s.prefer.append(out)
    return out

  def recall(self, s: _Scope) -> bool:
    """Calls an existing callee again, if the scope has arguments for it."""
    refs = s.all_refs()
    scal = [v for v in s.all_vals() if v.shape == () and v.dtype == "i32"]
    options = []
    for f in self.funcs:
      if f is None:
        continue  # still being built (no recursion)
      args: list = []
      for pname, t in f.params:
        # A parameter that may bound a loop (not far) never gets a far value.
        pool = [r for r in refs if r.type == t] or [
            v for v in scal if v.type == t
            and (pname in self.far_names or v.name not in self.far_names)]
        if not pool:
          break
        args.append(self.rng.choice(pool))
      else:
        options.append((f, args))
    if not options:
      return False
    f, args = self.rng.choice(options)
    operands = ", ".join(a.name for a in args)
    types = ", ".join(a.type for a in args)
    if f.results:
      out = _Val(self.fresh("cr"), f.result_vals[0].shape, f.result_vals[0].dtype)
      s.emit(f"{out.name} = func.call @{f.name}({operands}) : ({types}) -> {f.results[0]}")
      s.vals.append(out)
    else:
      s.emit(f"func.call @{f.name}({operands}) : ({types}) -> ()")
    return True

  def call(self, s: _Scope, depth: int) -> None:
    rng = self.rng
    refs = s.all_refs()
    if not refs:
      return
    if rng.random() < 0.3 and self.recall(s):
      return
    mode = rng.random()
    if mode < 0.3:
      r = rng.choice(refs)
      args = [r, r]  # the same ref passed twice
    elif mode < 0.55:
      # A view and its parent.
      parent = rng.choice(refs)
      view = self.view_of(s, parent)
      args = [parent, view] if rng.random() < 0.5 else [view, parent]
    else:
      args = rng.sample(refs, min(len(refs), rng.randint(1, 3)))
    scal = [v for v in s.all_vals() if v.shape == () and v.dtype == "i32"]
    extra = [rng.choice(scal)] if scal and rng.random() < 0.5 else []
    name = f"callee{len(self.funcs)}"  # reserved below
    # Build the callee.
    f = _Scope(None, 4, "callee")
    params = []
    for a in args:
      p = _Ref(self.fresh("p"), a.shape, a.dtype, _Root(freezable=False), True)
      f.refs.append(p)
      params.append((p.name, p.type))
    for e in extra:
      v = _Val(self.fresh("s"), (), "i32")
      f.vals.append(v)
      params.append((v.name, v.type))
      if e.name in self.far_names:
        # Bound to a far argument: never a loop bound in the callee either
        # (seeds 765150, 766285 looped ~2**31 times in the interpreter).
        self.far_names.add(v.name)
    idx = len(self.funcs)
    self.funcs.append(None)  # reserve the name
    self.block(f, depth + 1, rng.randint(1, 5), allow_new=True)
    results = []
    cands = [v for v in f.prefer if v not in f.frozen] or \
        [v for v in f.vals if v not in f.frozen]
    if cands and rng.random() < 0.7:
      r = rng.choice(cands)
      f.emit(f"return {r.name} : {r.type}")
      results.append(r)
    else:
      f.emit("return")
    self.funcs[idx] = _Func(name, params, [r.type for r in results], f.lines, True,
                            results)
    operands = ", ".join(a.name for a in list(args) + extra)
    types = ", ".join(a.type for a in list(args) + extra)
    rtypes = ", ".join(r.type for r in results)
    if results:
      out = _Val(self.fresh("cr"), results[0].shape, results[0].dtype)
      s.emit(f"{out.name} = func.call @{name}({operands}) : ({types}) -> {rtypes}")
      s.vals.append(out)
      if results[0] in f.prefer:
        s.prefer.append(out)
    else:
      s.emit(f"func.call @{name}({operands}) : ({types}) -> ()")

  def view_of(self, s: _Scope, ref: _Ref) -> _Ref:
    """A view of `ref` (static or dynamic window), added to the scope."""
    attrs, dyn, _, vshape = self.indexer(s, ref, "view")
    out = _Ref(self.fresh("w"), vshape, ref.dtype, ref.root, False, local=ref.local,
               parent=ref)
    operands = [ref.name] + [v.name for v in dyn]
    types = [ref.type] + [v.type for v in dyn]
    s.emit(f'{out.name} = "ref.view"({", ".join(operands)}) {attrs} : '
           f'({", ".join(types)}) -> {out.type}')
    s.refs.append(out)
    return out

  # -- adversarial patterns ---------------------------------------------------------------------------
  #
  # Each emits a construct that only reads a ref, or writes it in a way the
  # compiler special-cases, and makes its result escape (returned from @main,
  # or preferred by the enclosing loop / branch / callee as its result), so
  # that a miscompile is observable.

  def escape(self, s: _Scope, v: _Val | None) -> None:
    if v is None:
      return
    if s.parent is None and not s.region:
      self.main_escapes.append(v)
    else:
      s.prefer.append(v)

  def reads(self, s: _Scope, ref: _Ref, n: int) -> _Val:
    """`n` gets of `ref` (random windows), summed into one f32 scalar."""
    total = None
    for _ in range(n):
      g = self.access(s, "get", ref, whole=self.rng.random() < 0.2)
      v = self.reduce_f32(s, g)
      total = v if total is None else self.add_f32(s, total, v)
    return total

  def aliasing(self, s: _Scope, ref: _Ref) -> _Ref:
    """`ref`, or a ref aliasing it: its parent, or a new view of it."""
    r = self.rng.random()
    if r < 0.15 and ref.parent is not None and ref.parent.root.alive:
      self.tag("write_through_alias")
      return ref.parent
    if r < 0.3 and ref.shape:
      self.tag("write_through_alias")
      return self.view_of(s, ref)
    return ref

  def reader(self, s: _Scope, depth: int, refs: list[_Ref], form: str) -> _Val:
    """A construct of the given form that only reads `refs`; its f32 result."""
    rng = self.rng

    def body(b: _Scope) -> None:
      t = self.reads(b, rng.choice(refs), rng.randint(1, 2))
      if rng.random() < 0.3:  # another ref, unrelated
        others = b.all_refs()
        t = self.add_f32(b, t, self.reads(b, rng.choice(others), 1))
      if form == "nested_loop" and depth + 1 < self.max_depth:
        inner = self.reader(b, depth + 1, refs, "loop")
        t = self.add_f32(b, t, inner)
      b.prefer.append(t)

    if form in ("loop", "nested_loop"):
      out = self.while_loop(s, depth, body_fn=body, trips=(1, 4), with_acc=True)
    elif form == "branch":
      out = self.branches(s, depth, body_fn=body)
    else:  # a callee that only reads
      out = self.reader_call(s, depth, refs)
    assert out is not None
    return out

  def reader_call(self, s: _Scope, depth: int, refs: list[_Ref]) -> _Val:
    """A call of a new private callee that only reads its ref parameters."""
    rng = self.rng
    args = list(dict.fromkeys(r.name for r in refs))
    args = [next(r for r in refs if r.name == n) for n in args]
    if rng.random() < 0.3:
      args = args + [args[0]]  # the same ref twice
      self.tag("alias_call")
    name = f"callee{len(self.funcs)}"
    f = _Scope(None, 4, "callee")
    params = []
    for a in args:
      p = _Ref(self.fresh("p"), a.shape, a.dtype, _Root(freezable=False), True)
      f.refs.append(p)
      params.append((p.name, p.type))
    idx = len(self.funcs)
    self.funcs.append(None)  # reserve the name
    t = self.reads(f, rng.choice(f.refs), rng.randint(1, 2))
    if rng.random() < 0.4 and depth + 1 < self.max_depth:
      form = "branch" if self.loop_free else "loop"
      t = self.add_f32(f, t, self.reader(f, depth + 1, list(f.refs), form))
    f.emit(f"return {t.name} : {t.type}")
    self.funcs[idx] = _Func(name, params, [t.type], f.lines, True, [t])
    out = _Val(self.fresh("cr"), (), "f32")
    operands = ", ".join(a.name for a in args)
    types = ", ".join(a.type for a in args)
    s.emit(f"{out.name} = func.call @{name}({operands}) : ({types}) -> {t.type}")
    s.vals.append(out)
    return out

  def writer(self, s: _Scope, depth: int, ref: _Ref) -> None:
    """Writes `ref` (or an alias of it): set / swap / addupdate, a writing
    callee, or a loop that writes."""
    rng = self.rng
    r = rng.random()
    if r < 0.65 or depth >= self.max_depth or (self.loop_free and len(self.funcs) >= 6):
      kind = rng.choice(["set", "swap", "swap", "addupdate"])
      target = self.aliasing(s, ref)
      old = self.access(s, kind, target, whole=rng.random() < 0.3)
      if old is not None and rng.random() < 0.5:
        self.escape(s, self.reduce_f32(s, old))
    elif (r < 0.8 or self.loop_free) and len(self.funcs) < 6:
      self.tag("write_in_callee")
      name = f"callee{len(self.funcs)}"
      f = _Scope(None, 4, "callee")
      p = _Ref(self.fresh("p"), ref.shape, ref.dtype, _Root(freezable=False), True)
      f.refs.append(p)
      self.funcs.append(None)
      idx = len(self.funcs) - 1
      old = self.access(f, rng.choice(["set", "swap", "addupdate"]), p)
      if old is not None:
        t = self.reduce_f32(f, old)
        f.emit(f"return {t.name} : {t.type}")
        self.funcs[idx] = _Func(name, [(p.name, p.type)], [t.type], f.lines, True, [t])
        out = _Val(self.fresh("cr"), (), "f32")
        s.emit(f"{out.name} = func.call @{name}({ref.name}) : ({ref.type}) -> {t.type}")
        s.vals.append(out)
        self.escape(s, out)
      else:
        f.emit("return")
        self.funcs[idx] = _Func(name, [(p.name, p.type)], [], f.lines, True, [])
        s.emit(f"func.call @{name}({ref.name}) : ({ref.type}) -> ()")
    else:
      self.tag("write_in_loop_after")

      def body(b: _Scope) -> None:
        old = self.access(b, rng.choice(["set", "swap", "addupdate"]), ref)
        if old is not None:
          b.prefer.append(self.reduce_f32(b, old))

      self.escape(s, self.while_loop(s, depth, body_fn=body, trips=(1, 3),
                                     with_acc=True))

  def readonly_then_write(self, s: _Scope, depth: int) -> None:
    """A read-only loop / nested loop / branch / callee, then a write of the
    ref it read (XLA region analysis bug: the write moved before the reads)."""
    rng = self.rng
    refs = s.all_refs()
    if not refs:
      return
    ref = rng.choice(refs)
    form = rng.choice(["loop", "loop", "loop", "nested_loop", "branch", "call"])
    if self.loop_free:
      form = rng.choice(["branch", "branch", "call"])
    if form == "nested_loop" and depth + 1 >= self.max_depth:
      form = "loop"
    self.tag(f"readonly_{form}_then_write")
    if rng.random() < 0.25 and ref.shape:
      # Read through a view, write the parent (or the other way round).
      read_ref = self.view_of(s, ref)
    else:
      read_ref = ref
    extra = [r for r in refs if r is not ref and rng.random() < 0.3]
    acc = self.reader(s, depth, [read_ref] + extra, form)
    for _ in range(rng.choice([1, 1, 2])):
      self.writer(s, depth, ref)
    if rng.random() < 0.3:  # read after the write, too
      self.escape(s, self.reads(s, ref, 1))
    self.escape(s, acc)

  def swap_loop(self, s: _Scope, depth: int) -> None:
    """A loop swapping a ref window each iteration with a value computed from
    the carried acc; the old values accumulate."""
    rng = self.rng
    refs = s.all_refs()
    if not refs:
      return
    ref = rng.choice(refs)

    def body(b: _Scope) -> None:
      old = self.access(b, "swap", self.aliasing(b, ref), whole=rng.random() < 0.2)
      t = self.reduce_f32(b, old)
      if rng.random() < 0.4:
        t = self.add_f32(b, t, self.reads(b, ref, 1))
      if rng.random() < 0.3 and depth + 1 < self.max_depth:
        self.nested_write_loop(b, depth + 1, ref)
      b.prefer.append(t)

    self.escape(s, self.while_loop(s, depth, body_fn=body, trips=(1, 4),
                                   with_acc=True))
    if rng.random() < 0.5:
      self.escape(s, self.reads(s, ref, 1))

  def nested_write_loop(self, s: _Scope, depth: int, ref: _Ref | None = None
                        ) -> None:
    """A loop whose body runs a loop writing `ref` from the outer loop's
    carried values (the XLA nested-while capture bug's shape)."""
    rng = self.rng
    refs = s.all_refs()
    if not refs:
      return
    ref = ref or rng.choice(refs)
    self.tag("nested_loop_write")

    def inner(b: _Scope) -> None:
      kind = rng.choice(["set", "swap", "addupdate"])
      old = self.access(b, kind, ref, whole=rng.random() < 0.4)
      if old is not None:
        b.prefer.append(self.reduce_f32(b, old))
      else:
        b.prefer.append(self.reads(b, ref, 1))

    def outer(b: _Scope) -> None:
      if depth + 1 < self.max_depth:
        b.prefer.append(self.while_loop(b, depth + 1, body_fn=inner, trips=(1, 3),
                                        with_acc=True))
      else:
        inner(b)

    self.escape(s, self.while_loop(s, depth, body_fn=outer, trips=(1, 3),
                                   with_acc=True))

  def local_ref_body(self, s: _Scope, depth: int) -> None:
    """A loop / branch whose body creates a ref (initialized from an outer
    read), accesses it strided and through views, reads and writes outer
    refs with it, and freezes / frees it or leaves it alive."""
    rng = self.rng
    outer_refs = s.all_refs()

    def body(b: _Scope) -> None:
      src = rng.choice(outer_refs) if outer_refs and rng.random() < 0.7 else None
      if src is not None:
        init = self.access(b, "get", src, whole=True)
        r = _Ref(self.fresh("n"), src.shape, src.dtype, _Root(freezable=True), True,
                 local=True)
        b.emit(f'{r.name} = "ref.new"({init.name}) : ({init.type}) -> {r.type}')
        b.refs.append(r)
        self.tag(*(f"local_ref_in_{x}" for x in set(b.regions)))
        self.tag("local_ref_reads_outer")
      else:
        r = self.new_ref(b)
      for _ in range(rng.randint(1, 3)):
        target = self.view_of(b, r) if rng.random() < 0.25 and r.shape else r
        kind = rng.choice(["get", "get", "set", "swap", "addupdate"])
        v = self.access(b, kind, target)
        if v is not None and rng.random() < 0.5:
          b.prefer.append(self.reduce_f32(b, v))
      if outer_refs and rng.random() < 0.5:
        # Carry the local ref's contents out through an outer ref.
        o = rng.choice(outer_refs)
        self.access(b, rng.choice(["set", "addupdate", "swap"]), o)
      b.prefer.append(self.reads(b, r, 1))

    if (rng.random() < 0.65 or depth + 1 >= self.max_depth) and not self.loop_free:
      self.escape(s, self.while_loop(s, depth, body_fn=body, trips=(1, 3),
                                     with_acc=True))
    else:
      self.escape(s, self.branches(s, depth, body_fn=body))

  def block(self, s: _Scope, depth: int, n: int, *, allow_new: bool = False
            ) -> None:
    """Emits `n` random statements into `s`, then ends the refs it made.

    `allow_new`: the block is a function body, where refs are created more
    often (nested blocks create local refs too, rarely).
    """
    rng = self.rng
    for _ in range(n):
      kinds = [("get", 3), ("set", 2), ("swap", 2), ("addupdate", 2), ("view", 1.5),
               ("arith", 1)]
      kinds.append(("new", 1 if allow_new else 0.3))
      if depth < self.max_depth:
        kinds += [("while", 1), ("branch", 1)]
        if len(self.funcs) < 3:
          kinds.append(("call", 1))
        if self.adv:
          kinds += [("readonly_then_write", 3.5), ("swap_loop", 1.2),
                    ("local_ref_body", 1.5), ("nested_write_loop", 0.8)]
          if self.loop_free:
            kinds = [(k, w) for k, w in kinds
                     if k not in ("while", "swap_loop", "nested_write_loop")]
      total = sum(w for _, w in kinds)
      x = rng.random() * total
      for kind, w in kinds:
        x -= w
        if x < 0:
          break
      if kind in ("get", "set", "swap", "addupdate"):
        self.access(s, kind)
      elif kind == "view":
        self.view(s)
      elif kind == "arith":
        self.arith(s)
      elif kind == "new":
        self.new_ref(s)
      elif kind == "while":
        self.while_loop(s, depth)
      elif kind == "branch":
        self.branches(s, depth)
      elif kind == "call":
        self.call(s, depth)
      elif kind == "readonly_then_write":
        self.readonly_then_write(s, depth)
      elif kind == "swap_loop":
        self.swap_loop(s, depth)
      elif kind == "local_ref_body":
        self.local_ref_body(s, depth)
      elif kind == "nested_write_loop":
        self.nested_write_loop(s, depth)
    self.end_refs(s)

  # -- the program ----------------------------------------------------------------------------------

  def program(self) -> Program:
    rng = self.rng
    main = _Scope(None, 4)
    args: list[Arg] = []
    for _ in range(rng.randint(1, 3)):
      shape = rng.choice(REF_SHAPES)
      dtype = rng.choice(DTYPES)
      r = _Ref(self.fresh("r"), shape, dtype, _Root(freezable=False), True)
      main.refs.append(r)
      args.append(Arg(r.name, shape, dtype, True, self.small(shape, dtype, -5, 5)))
    for _ in range(rng.randint(0, 3)):
      v = _Val(self.fresh("k"), (), "i32")
      main.vals.append(v)
      args.append(Arg(v.name, (), "i32", False,
                      np.array(rng.randint(-3, 9), np.int32)))
    if self.far_p:
      # Far i32 arguments: dynamic offsets (never loop bounds; values may use
      # them too, where i32 arithmetic wraps).
      for _ in range(self.rng.randint(0, 2)):
        v = _Val(self.fresh("K"), (), "i32")
        self.far_names.add(v.name)
        main.vals.append(v)
        args.append(Arg(v.name, (), "i32", False,
                        np.array(self.rng.choice(FAR_OFFSETS), np.int32)))
    self.main_escapes: list[_Val] = []
    self.block(main, 0, rng.randint(3, self.max_stmts), allow_new=True)
    top = [v for v in main.vals if v not in main.frozen and not v.name.startswith("%k")
           and v.name not in self.far_names]
    rets = list(main.frozen) + rng.sample(top, min(len(top), rng.randint(0, 3)))
    rets += [v for v in dict.fromkeys(self.main_escapes) if v not in rets]
    if rets:
      main.emit(f"return {', '.join(v.name for v in rets)} : "
                f"{', '.join(v.type for v in rets)}")
    else:
      main.emit("return")
    params = []
    for a in args:
      params.append((a.name, ref_type(a.shape, a.dtype) if a.is_ref
                     else tensor_type(a.shape, a.dtype)))
    funcs = [_Func("main", params, [v.type for v in rets], main.lines, False)]
    funcs += self.funcs
    text = "module {\n" + "\n".join(_func_text(f) for f in funcs) + "}\n"
    if self.loop_free:
      self.tag("loop_free")
    return Program(self.seed, text, tuple(args), frozenset(self.tags), self.profile)


def _func_text(f: _Func) -> str:
  vis = "private " if f.private else ""
  params = ", ".join(f"{n}: {t}" for n, t in f.params)
  res = ""
  if f.results:
    res = " -> " + (f.results[0] if len(f.results) == 1 else f"({', '.join(f.results)})")
  return (f"  func.func {vis}@{f.name}({params}){res} {{\n" + "\n".join(f.lines)
          + "\n  }\n")


def generate(seed: int, profile: str = "adversarial", **kwargs) -> Program:
  """The random program of `seed` (deterministic) in the given profile."""
  return Generator(seed, profile=profile, **kwargs).program()


if __name__ == "__main__":
  import sys
  prog = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                  *(sys.argv[2:3] or ["adversarial"]))
  print(prog.text)
  if prog.profile != "classic":
    print("// patterns:", ", ".join(sorted(prog.patterns)))
    for a in prog.args:
      print("//", a.name, "=", a.value.tolist())
