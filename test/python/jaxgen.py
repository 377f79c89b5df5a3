"""A seeded generator of random JAX programs that use refs (`jax.Ref`).

`generate(seed)` returns a `JaxProgram`: the Python source of a function `f`
(and its helpers), the refs and scalars to call it with (some refs closed
over as globals), and the patterns it contains. `JaxProgram.instantiate()`
executes the source in a fresh namespace with fresh refs, so `jax.jit` and
`refhlo.jit` each run on their own copies; `JaxProgram.script()` is a
standalone reproducer (compare jax.jit with refhlo.jit).

Programs are valid under `jax.jit` (jax 0.10.2) and mix, weighted toward
what the compiler special-cases:

* reads / writes / `+=` / `jax.ref.swap` / `jax.ref.addupdate` with every
  index form: ints (negative too), traced scalars, static slices with steps,
  `jax.ds(start, size[, stride])`, `...`, integer arrays (duplicates and
  out-of-range entries where the result is specified, traced shifts), several
  integer arrays, arrays next to / separated from scalars and slices;
* out-of-range dynamic starts (far values up to the int32 limits, as traced
  arguments or Python ints) with every index form;
* views `r.at[...]` (also strided, of views), refs created inside
  (`jax.new_ref`, `jax.empty_ref`, frozen with `jax.ref.freeze`, freed with
  `jax.free_ref`, or left alive), also inside loop / scan / cond bodies,
  initialized from outer refs and accessed strided;
* `lax.fori_loop`, `lax.scan`, `lax.while_loop`, `lax.cond`, `lax.switch`
  (out-of-range index), nested loops, nested `jax.jit` taking refs;
* the adversarial shapes: loops / scans / whiles / branches that only READ a
  ref followed by a write or swap of it (XLA region-analysis miscompile),
  swaps in loops, nested loops writing from outer carries;
* host callbacks: `jax.debug.callback` (ordered and unordered) and
  `jax.debug.print` (their logs are compared too);
* loop-free programs (30%, or all with `loop_free=True`): cond / switch
  only, which refhlo compiles with XLA region analysis on.

Avoided on purpose, because jax.jit 0.10.2 gets them wrong or rejects them
(each would only make the program "invalid"): a `while_loop` cond that reads
a ref the body writes (jax.jit reads it only once; refhlo re-reads it; a
cond may read refs the body does not write: `while_cond_reads_ref`); strided
slices / strided `jax.ds` in an index (or a view's transforms) that also has
a scalar index ("Invalid type of idxer: TypedInt"); zero-size strided static
slices (zero-size strided `jax.ds` are fine); `.at` views of closed-over
refs and whole views `r.at[...]`; `jax.ref.addupdate` through a view (`+=`
instead); freezing a ref inside a nested jax.jit that took it as an argument.
Values stay small integers (floats too), so comparisons are exact.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import linecache
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

SHAPES: tuple[tuple[int, ...], ...] = ((6,), (5, 4), (3, 4, 2), (8,), (4, 3), (2, 3, 2))
DTYPES = ("float32", "int32")
# Far starts: out of range, and near the int32 limits where `start + size`
# or `start + n` (negative-index normalization) overflow.
FAR = (2**31 - 1, -2**31, 2**31 - 2, -2**31 + 1, 1000, -1000, 77, -77)
# Python ints passed as weak-typed arguments; the last ones do not fit int32:
# jax.jit raises OverflowError, refhlo must raise the same type.
BIG_PY = (2**31 - 1, -2**31, 2**31, -2**31 - 1, 2**40)

WEIGHTS: dict[str, float] = {
    # plain statements
    "get": 2.5, "set": 1.5, "addupdate": 1.2, "swap": 1.5, "view": 1.0,
    "arith": 0.6, "new_ref": 0.6, "callback": 0.5,
    # control flow with random bodies
    "fori": 1.0, "scan": 0.8, "while": 0.6, "cond": 0.8, "switch": 0.5,
    "nested_jit": 0.3,
    # adversarial patterns
    "readonly_then_write": 3.5, "swap_loop": 1.2, "local_ref_body": 1.5,
    "nested_write_loop": 0.8,
}
CONTROL = ("fori", "scan", "while", "cond", "switch", "nested_jit",
           "readonly_then_write", "swap_loop", "local_ref_body",
           "nested_write_loop")


# -- the program ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RefSpec:
  name: str
  shape: tuple[int, ...]
  dtype: str
  init: np.ndarray = dataclasses.field(compare=False)
  closed: bool = False  # a global the function closes over, not an argument


@dataclasses.dataclass(frozen=True)
class ScalarSpec:
  name: str
  value: int
  python: bool  # passed as a Python int (weak type), else jnp.int32


@dataclasses.dataclass
class Instance:
  """A runnable copy: the function, its arguments (fresh refs), the refs to
  compare after the call (arguments, then closed-over ones) and the
  callback log."""
  fn: Any
  args: list[Any]
  watch: list[Any]
  log: list[Any]


@dataclasses.dataclass(frozen=True)
class JaxProgram:
  seed: int
  source: str
  refs: tuple[RefSpec, ...]
  scalars: tuple[ScalarSpec, ...]
  patterns: frozenset[str]
  callbacks: bool  # uses jax.debug.callback / print (no interpreter run)

  @property
  def filename(self) -> str:
    return f"<jaxgen-{self.seed}>"

  def instantiate(self) -> Instance:
    import jax
    import jax.numpy as jnp
    from jax import lax

    log: list[Any] = []

    def cb(tag, *xs):
      log.append((tag,) + tuple(np.asarray(x).tolist() for x in xs))

    ns: dict[str, Any] = {"jax": jax, "jnp": jnp, "lax": lax, "np": np,
                          "functools": functools, "_cb": cb,
                          "__name__": f"jaxgen_{self.seed}"}
    watch_closed = []
    for r in self.refs:
      if r.closed:
        ns[r.name] = jax.new_ref(jnp.asarray(r.init))
        watch_closed.append(ns[r.name])
    lines = self.source.splitlines(keepends=True)
    linecache.cache[self.filename] = (len(self.source), None, lines, self.filename)
    exec(compile(self.source, self.filename, "exec"), ns)  # noqa: S102
    args: list[Any] = []
    watch: list[Any] = []
    for r in self.refs:
      if not r.closed:
        ref = jax.new_ref(jnp.asarray(r.init))
        args.append(ref)
        watch.append(ref)
    for s in self.scalars:
      args.append(int(s.value) if s.python else jnp.int32(s.value))
    return Instance(ns["f"], args, watch + watch_closed, log)

  def script(self) -> str:
    """A standalone reproducer: runs `f` under jax.jit and refhlo.jit."""
    out = ["import functools", "import jax", "import jax.numpy as jnp",
           "import numpy as np", "from jax import lax", "import refhlo", "",
           "_log = []", "", "",
           "def _cb(tag, *xs):",
           "  _log.append((tag,) + tuple(np.asarray(x).tolist() for x in xs))",
           "", ""]
    out.append(self.source.rstrip())
    out += ["", "", "def _args():",
            f"  global {', '.join(r.name for r in self.refs if r.closed) or '_log'}"]
    for r in self.refs:
      if r.closed:
        out.append(f"  {r.name} = jax.new_ref(jnp.array({r.init.tolist()!r}, "
                   f"jnp.{r.dtype}))")
    args = []
    for r in self.refs:
      if not r.closed:
        args.append(f"jax.new_ref(jnp.array({r.init.tolist()!r}, jnp.{r.dtype}))")
    for s in self.scalars:
      args.append(str(s.value) if s.python else f"jnp.int32({s.value})")
    out.append(f"  return [{', '.join(args)}]")
    watched = [r.name for r in self.refs if r.closed]
    out += ["", "", "for jit in (jax.jit, refhlo.jit):",
            "  _log.clear()",
            "  a = _args()",
            "  try:",
            "    res = jit(f)(*a)",
            "  except Exception as e:",
            "    res = f'{type(e).__name__}: {e}'",
            "  refs = [np.asarray(x[...]).tolist() for x in a if isinstance(x, jax.Ref)]",
            f"  refs += [np.asarray(x[...]).tolist() for x in [{', '.join(watched)}]]",
            "  print(jit.__module__, res, refs, sorted(map(str, _log)))", ""]
    return "\n".join(out)


# -- generator state --------------------------------------------------------------


class _Root:
  def __init__(self):
    self.alive = True


@dataclasses.dataclass
class _Ref:
  name: str
  shape: tuple[int, ...]
  dtype: str
  root: _Root
  local: bool = False
  view: bool = False
  closed: bool = False  # a global: jax 0.10.2 has no `.at` views of those
  has_scalar: bool = False  # a view whose transforms index a dim by a scalar
  has_stride: bool = False  # ... or take a strided slice


@dataclasses.dataclass(frozen=True)
class _Val:
  name: str
  shape: tuple[int, ...]
  dtype: str
  small: bool = False   # a small int scalar: safe as a loop bound
  far: bool = False     # may be far out of range (only used as an index)


class _Scope:
  """A Python function body: the visible refs and values, and its lines."""

  def __init__(self, parent: _Scope | None, indent: int, region: str = "",
               isolated: bool = False):
    self.parent = None if isolated else parent
    self.indent = indent
    self.refs: list[_Ref] = []
    self.vals: list[_Val] = []
    self.lines: list[str] = []
    self.prefer: list[_Val] = []  # f32 scalars that should escape the body
    up = parent.regions if parent is not None and not isolated else ()
    self.regions: tuple[str, ...] = up + ((region,) if region else ())

  def all_refs(self) -> list[_Ref]:
    up = self.parent.all_refs() if self.parent else []
    return [r for r in up + self.refs if r.root.alive]

  def all_vals(self) -> list[_Val]:
    up = self.parent.all_vals() if self.parent else []
    return up + self.vals

  def emit(self, line: str) -> None:
    self.lines.append("  " * self.indent + line)

  @property
  def in_loop(self) -> bool:
    return any(r in ("fori", "scan", "while") for r in self.regions)


def _fmt(x: float | int, dtype: str) -> str:
  return f"{float(x):.1f}" if dtype == "float32" else str(int(x))


def _np_dtype(dtype: str):
  return {"float32": np.float32, "int32": np.int32}[dtype]


class Generator:
  def __init__(self, seed: int, *, max_stmts: int = 8, max_depth: int = 2,
               loop_free: bool | None = None):
    self.seed = seed
    self.rng = random.Random(seed)
    self.counter = itertools.count()
    self.max_stmts = max_stmts
    self.max_depth = max_depth + (1 if self.rng.random() < 0.3 else 0)
    self.far_p = self.rng.choice([0.0, 0.2, 0.4])
    # Loop-free programs (cond / switch only): refhlo compiles those with
    # XLA region analysis on, so read-only branches then writes matter there.
    draw = self.rng.random() < 0.3
    self.loop_free = draw if loop_free is None else loop_free
    self.tags: set[str] = set()
    self.writes: list[_Root] = []  # roots written, in generation order
    self.callbacks = False
    self.num_jits = 0

  def fresh(self, prefix: str) -> str:
    return f"{prefix}{next(self.counter)}"

  def tag(self, *names: str) -> None:
    self.tags.update(names)

  # -- values ---------------------------------------------------------------------

  def small_array(self, shape: Sequence[int], dtype: str, lo=-4, hi=4) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    return np.array([self.rng.randint(lo, hi) for _ in range(n)],
                    _np_dtype(dtype)).reshape(tuple(shape))

  def const_text(self, shape: tuple[int, ...], dtype: str) -> str:
    rng = self.rng
    if 0 in shape:
      return f"jnp.zeros({shape!r}, jnp.{dtype})"
    if rng.random() < 0.4 or not shape:
      c = _fmt(rng.randint(-4, 4), dtype)
      if not shape:
        return f"jnp.{dtype}({c})"
      return f"jnp.full({shape!r}, {c}, jnp.{dtype})"
    arr = self.small_array(shape, dtype)
    return f"jnp.array({arr.tolist()!r}, jnp.{dtype})"

  def new_val(self, s: _Scope, text: str, shape, dtype, **kw) -> _Val:
    v = _Val(self.fresh("v"), tuple(shape), dtype, **kw)
    s.emit(f"{v.name} = {text}")
    s.vals.append(v)
    return v

  def expr(self, s: _Scope, shape: tuple[int, ...], dtype: str) -> str:
    """A Python expression of the given shape and dtype (small integers)."""
    rng = self.rng
    pool = [v for v in s.all_vals() if not v.far]
    same = [v for v in pool if v.shape == shape and v.dtype == dtype]
    other = [v for v in pool if v.shape == shape and v.dtype != dtype]
    scal = [v for v in pool if v.shape == () and v.dtype == dtype]
    r = rng.random()
    if same and r < 0.4:
      a = rng.choice(same).name
      op = rng.choice(["+", "-", "neg", "max", "x2"])
      if op == "neg":
        return f"-{a}"
      if op == "x2":
        return f"{a} * 2"
      b = rng.choice(same).name if rng.random() < 0.5 else self.const_text(shape, dtype)
      if op == "max":
        return f"jnp.maximum({a}, {b})"
      return f"{a} {op} {b}"
    if other and r < 0.5:
      return f"{rng.choice(other).name}.astype(jnp.{dtype})"
    if scal and shape and r < 0.65:
      v = rng.choice(scal).name
      if rng.random() < 0.5:
        return f"jnp.broadcast_to({v}, {shape!r})"
      return f"{v} + jnp.zeros({shape!r}, jnp.{dtype})"
    if not shape and r < 0.75:
      anyv = [v for v in pool if v.shape]
      if anyv:
        return f"jnp.sum({rng.choice(anyv).name}).astype(jnp.{dtype})"
    return self.const_text(shape, dtype)

  def scalar_f32(self, s: _Scope, v: _Val) -> _Val:
    if v.shape == () and v.dtype == "float32":
      return v
    return self.new_val(s, f"jnp.sum({v.name}).astype(jnp.float32)", (), "float32")

  def add_f32(self, s: _Scope, a: _Val, b: _Val) -> _Val:
    return self.new_val(s, f"{a.name} + {b.name}", (), "float32")

  # -- scalars and indices -----------------------------------------------------------

  def traced_scalar(self, s: _Scope, n: int, *, allow_far: bool = True) -> str:
    """A traced int32 scalar index for a dim of size n (maybe out of range)."""
    rng = self.rng
    if allow_far and self.far_p and rng.random() < self.far_p:
      self.tag("oob_dynamic")
      far = [v for v in s.all_vals() if v.far]
      small = [v for v in s.all_vals() if v.small]
      r = rng.random()
      if far and r < 0.5:
        return rng.choice(far).name
      if small and r < 0.8:
        if rng.random() < 0.5:  # a big Python int literal: wraps in int32
          self.tag("big_python_int_literal")
          return f"{rng.choice(small).name} + {rng.choice(FAR[:4])}"
        return f"{rng.choice(small).name} * {rng.choice([1000, -1000, 2**20])}"
      return f"jnp.int32({rng.choice(FAR + (n, -n - 1))})"
    pool = [v for v in s.all_vals() if v.small]
    if pool and rng.random() < 0.8:
      v = rng.choice(pool).name
      return rng.choice([v, v, f"{v} + 1", f"{v} - 2", f"{v} % {n}", f"-{v}"])
    return f"jnp.int32({rng.randint(-n, n + 1)})"

  def int_array(self, s: _Scope, n: int, length: int, mode: str
                ) -> tuple[str, np.ndarray]:
    """An integer array for a dim of size n; unique in-range rows for
    set-like writes (duplicates / out of range for reads and addupdate)."""
    rng = self.rng
    if mode == "unique":
      vals = rng.sample(range(n), min(length, n))
      vals = [v - n if rng.random() < 0.25 else v for v in vals]  # negative form
    else:
      vals = []
      for _ in range(length):
        if vals and rng.random() < 0.3:
          vals.append(rng.choice(vals))
        elif rng.random() < 0.25:
          vals.append(rng.choice([-n - 2, -n - 1, n, n + 1, n + 5]))
          self.tag("oob_int_array")
        else:
          vals.append(rng.randint(-n, n - 1))
    arr = np.array(vals, np.int32)
    text = f"jnp.array({vals!r}, jnp.int32)"
    if mode != "unique" and rng.random() < 0.25:
      small = [v for v in s.all_vals() if v.small]
      if small:
        text = f"({text} + {rng.choice(small).name})"
        self.tag("traced_int_array")
    return text, arr

  def index(self, s: _Scope, ref: _Ref, mode: str
            ) -> tuple[str, tuple[int, ...]]:
    """(index text inside `[...]`, shape of the indexed value).

    mode: "get", "set" (set / swap / +=: unique array rows), "add"
    (jax.ref.addupdate: duplicates fine), "view" (no arrays, basic only)."""
    rng = self.rng
    shape = ref.shape
    rank = len(shape)
    self.last_flags = (False, False)  # (a scalar component, a strided one)
    # (`r.at[...]` is not a view jax 0.10.2 handles: no whole views.)
    if rank == 0 or (mode != "view" and rng.random() < 0.12):
      return "...", shape
    k = rng.randint(1, rank) if rng.random() < 0.6 else rank
    use_ellipsis = k < rank and rng.random() < 0.25  # `..., idx` on the last dims
    dims = list(range(rank - k, rank)) if use_ellipsis else list(range(k))
    parts: list[str] = []
    kinds: list[str] = []  # per component: all / int / dyn / slice / ds / dyn_ds / arr
    dummy: list[Any] = []
    arrays: list[int] = []  # positions of int-array components
    arr_len = rng.randint(1, 4)
    draws = [0.0 if shape[d] == 0 else rng.random() for d in dims]  # 0: only `:` fits
    if ref.has_stride:  # no scalar index through a strided view (see below)
      draws = [0.5 if 0.12 <= r < 0.42 else r for r in draws]
    # jax.jit 0.10.2 rejects strides next to a scalar index, also across the
    # transforms of a view ("Invalid type of idxer: TypedInt",
    # NotImplementedError): no strides then.
    scalar_next = any(0.12 <= r < 0.42 for r in draws) or ref.has_scalar
    strided = False
    for d, r in zip(dims, draws):
      n = shape[d]
      if r < 0.12:
        parts.append(":")
        kinds.append("all")
        dummy.append(slice(None))
      elif r < 0.25:
        i = rng.randint(-n, n - 1)
        parts.append(str(i))
        kinds.append("int")
        dummy.append(0)
      elif r < 0.42:
        parts.append(self.traced_scalar(s, n))
        kinds.append("dyn")
        dummy.append(0)
      elif r < 0.6:
        # jax.jit also rejects strided slices next to a scalar in writes.
        step = 1 if scalar_next else rng.choice([1, 1, 2, 3])
        a = rng.randint(-n, n - 1) if rng.random() < 0.8 else None
        b = rng.randint(-n, n) if rng.random() < 0.6 else None
        sl = slice(a, b, step)
        if len(range(*sl.indices(n))) == 0 and step != 1:
          sl = slice(a, b, 1)  # jax.jit rejects zero-size strided slices
          step = 1
        if len(range(*sl.indices(n))) == 0:
          self.tag("zero_size")
        txt = ("" if a is None else str(a)) + ":" + ("" if b is None else str(b))
        if step != 1:
          txt += f":{step}"
          strided = True
          self.tag("strided")
          if ref.local:
            self.tag("strided_local_ref")
        parts.append(txt)
        kinds.append("slice")
        dummy.append(sl)
      elif r < 0.8 or mode == "view":
        stride = 1 if scalar_next else rng.choice([1, 1, 2, 3])
        size = rng.randint(1, (n - 1) // stride + 1)
        if rng.random() < 0.05:  # zero-size (also strided: jax.jit takes those)
          size = 0
          self.tag("zero_size")
        traced = rng.random() < 0.7
        start = self.traced_scalar(s, n) if traced else \
            str(rng.randint(0, n - max(size - 1, 0) * stride - 1))
        kinds.append("dyn_ds" if traced else "ds")
        if stride != 1:
          strided = True
          parts.append(f"jax.ds({start}, {size}, {stride})")
          self.tag("strided_ds")
          if traced:
            self.tag("dynamic_strided_ds")
          if ref.local:
            self.tag("strided_local_ref")
        else:
          parts.append(f"jax.ds({start}, {size})")
        dummy.append(slice(0, max(size - 1, 0) * stride + (size > 0), stride))
      else:
        arrays.append(len(parts))
        parts.append("")  # filled below
        kinds.append("arr")
        dummy.append(None)
    if arrays:
      self.tag("int_array_index")
      if len(arrays) > 1:
        self.tag("multi_int_array")
      # Set-like writes: rows unique (the first array unique and in range,
      # the others anything in range).
      amode = "unique" if mode == "set" else "dup"
      first = True
      for pos in arrays:
        d = dims[pos]
        if amode == "unique" and not first:
          vals = [rng.randint(-shape[d], shape[d] - 1) for _ in range(arr_len)]
          text, arr = f"jnp.array({vals!r}, jnp.int32)", np.array(vals, np.int32)
        else:
          text, arr = self.int_array(s, shape[d], arr_len, amode)
          arr_len = len(arr)
        parts[pos] = text
        dummy[pos] = np.zeros(len(arr), np.int64)
        first = False
      if any(k in ("dyn", "dyn_ds") for k in kinds):
        self.tag("dynamic_next_to_int_array")
    self.last_flags = (any(k in ("int", "dyn") for k in kinds), strided)
    if use_ellipsis:
      parts = ["..."] + parts
      dummy = [Ellipsis] + dummy
    value_shape = np.empty(shape, np.int8)[tuple(dummy)].shape
    return ", ".join(parts), tuple(value_shape)

  # -- statements ---------------------------------------------------------------------

  def pick_ref(self, s: _Scope) -> _Ref | None:
    refs = s.all_refs()
    return self.rng.choice(refs) if refs else None

  def note_write(self, ref: _Ref, s: _Scope) -> None:
    self.writes.append(ref.root)
    if ref.local and s.in_loop:
      self.tag("local_ref_written_in_loop")

  def access(self, s: _Scope, kind: str, ref: _Ref | None = None,
             whole: bool = False) -> _Val | None:
    """get / set / addupdate / iadd / swap of `ref`; the value read, if any."""
    rng = self.rng
    ref = ref or self.pick_ref(s)
    if ref is None:
      return None
    if kind == "addupdate" and ref.view:
      kind = "iadd"  # jax 0.10.2: no jax.ref.addupdate through a view
    mode = {"get": "get", "set": "set", "iadd": "set", "swap": "set",
            "addupdate": "add"}[kind]
    idx, vshape = ("...", ref.shape) if whole else self.index(s, ref, mode)
    if kind == "get":
      if rng.random() < 0.15:
        return self.new_val(s, f"jax.ref.get({ref.name}, {_tuple_text(idx)})",
                            vshape, ref.dtype)
      return self.new_val(s, f"{ref.name}[{idx}]", vshape, ref.dtype)
    # A value to write: the full value shape, or a broadcast scalar.
    if vshape and rng.random() < 0.15:
      value = self.expr(s, (), ref.dtype)
    else:
      value = self.expr(s, vshape, ref.dtype)
    self.note_write(ref, s)
    # Ref writes do not broadcast (jax 0.10.2): give set / swap / addupdate
    # the exact value shape; `r[idx] += scalar` broadcasts in the addition.
    if kind == "set":
      s.emit(f"{ref.name}[{idx}] = {_full(value, vshape)}")
    elif kind == "iadd":
      s.emit(f"{ref.name}[{idx}] += {value}")
    elif kind == "addupdate":
      s.emit(f"jax.ref.addupdate({ref.name}, {_tuple_text(idx)}, "
             f"{_full(value, vshape)})")
    else:  # swap
      if s.in_loop:
        self.tag("swap_in_loop")
      v = _Val(self.fresh("v"), vshape, ref.dtype)
      if rng.random() < 0.3:
        # r[idx], old = new, r[idx]: the same swap, written as a Python swap.
        s.emit(f"{v.name} = {ref.name}[{idx}]")
        s.emit(f"{ref.name}[{idx}] = {_full(value, vshape)}")
      else:
        s.emit(f"{v.name} = jax.ref.swap({ref.name}, {_tuple_text(idx)}, "
               f"{_full(value, vshape)})")
      s.vals.append(v)
      return v
    return None

  def view(self, s: _Scope, ref: _Ref | None = None) -> _Ref | None:
    if ref is None:
      refs = [r for r in s.all_refs() if not r.closed]
      ref = self.rng.choice(refs) if refs else None
    if ref is None or not ref.shape or ref.closed:
      return None
    idx, vshape = self.index(s, ref, "view")
    w = _Ref(self.fresh("w"), vshape, ref.dtype, ref.root, ref.local, True,
             has_scalar=ref.has_scalar or self.last_flags[0],
             has_stride=ref.has_stride or self.last_flags[1])
    s.emit(f"{w.name} = {ref.name}.at[{idx}]")
    s.refs.append(w)
    self.tag("view")
    if ref.view:
      self.tag("view_of_view")
    return w

  def new_ref(self, s: _Scope, init_from: _Ref | None = None) -> _Ref:
    rng = self.rng
    if init_from is not None:
      shape, dtype = init_from.shape, init_from.dtype
      self.tag("local_ref_reads_outer")
    else:
      shape, dtype = rng.choice(SHAPES), rng.choice(DTYPES)
    r = _Ref(self.fresh("s"), shape, dtype, _Root(), local=True)
    for reg in set(s.regions):
      self.tag(f"local_ref_in_{reg}")
    if init_from is not None:
      s.emit(f"{r.name} = jax.new_ref({init_from.name}[...] * 1)")
    elif rng.random() < 0.7:
      s.emit(f"{r.name} = jax.new_ref({self.expr(s, shape, dtype)})")
    else:
      s.emit(f"{r.name} = jax.empty_ref(jax.ShapeDtypeStruct({shape!r}, "
             f"jnp.{dtype}))")
      s.emit(f"{r.name}[...] = {self.expr(s, shape, dtype)}")
      self.tag("empty_ref")
    s.refs.append(r)
    return r

  def end_refs(self, s: _Scope) -> None:
    """Freezes or frees some refs this scope created (roots only)."""
    for r in s.refs:
      if not r.local or r.view or not r.root.alive:
        continue
      c = self.rng.random()
      if c < 0.35:
        v = self.new_val(s, f"jax.ref.freeze({r.name})", r.shape, r.dtype)
        r.root.alive = False
        s.prefer.append(self.scalar_f32(s, v))
        self.tag("freeze")
      elif c < 0.5:
        s.emit(f"jax.free_ref({r.name})")
        r.root.alive = False
        self.tag("free_ref")

  def callback(self, s: _Scope, v: _Val | None = None) -> None:
    rng = self.rng
    vals = [x for x in s.all_vals() if not x.far]
    if v is None:
      if not vals:
        return
      v = rng.choice(vals)
    self.callbacks = True
    tag = next(self.counter)
    r = rng.random()
    if r < 0.15:
      s.emit(f'jax.debug.print("p{tag} {{x}}", x={v.name})')
      self.tag("debug_print")
    elif r < 0.55:
      s.emit(f"jax.debug.callback(functools.partial(_cb, {tag}), {v.name}, "
             f"ordered=True)")
      self.tag("debug_callback_ordered")
    else:
      s.emit(f"jax.debug.callback(functools.partial(_cb, {tag}), {v.name})")
      self.tag("debug_callback")
    if s.in_loop:
      self.tag("callback_in_loop")

  # -- control flow ---------------------------------------------------------------------

  def bound(self, s: _Scope, lo: int, hi: int) -> str:
    rng = self.rng
    small = [v for v in s.all_vals() if v.small and v.name.startswith("k")]
    if small and rng.random() < 0.25:
      self.tag("traced_trip_count")
      return f"jnp.clip({rng.choice(small).name}, 0, {hi})"
    return str(rng.randint(lo, hi))

  def body_scope(self, s: _Scope, region: str) -> _Scope:
    return _Scope(s, s.indent + 1, region)

  def finish_body(self, b: _Scope, depth: int, body_fn) -> _Val:
    """Fills a body (random statements or `body_fn`), returns an f32 scalar."""
    if body_fn is not None:
      body_fn(b)
    else:
      self.block(b, depth + 1, self.rng.randint(1, 4))
    self.end_refs(b)
    cands = b.prefer or [v for v in b.vals if v.shape == () and v.dtype == "float32"
                         and not v.far]
    if cands:
      out = self.rng.choice(cands)
      if len(b.prefer) > 1:  # sum all of them: every one escapes
        out = b.prefer[0]
        for p in b.prefer[1:]:
          out = self.add_f32(b, out, p)
      return out
    return self.new_val(b, self.expr(b, (), "float32"), (), "float32")

  def loop(self, s: _Scope, depth: int, form: str | None = None, body_fn=None,
           trips: tuple[int, int] = (0, 4)) -> _Val:
    """fori_loop / scan / while_loop with an f32 carry; returns its result."""
    rng = self.rng
    form = form or rng.choice(["fori", "fori", "scan", "while"])
    if s.in_loop:
      self.tag("nested_loop")
    name = self.fresh("body")
    b = self.body_scope(s, form)
    init = self.expr(s, (), "float32")
    start = len(self.writes)
    if form == "fori":
      i = _Val(self.fresh("i"), (), "int32", small=True)
      c = _Val(self.fresh("c"), (), "float32")
      b.vals += [i, c]
      res = self.finish_body(b, depth, body_fn)
      b.emit(f"return {c.name} + {res.name}")
      n = self.bound(s, *trips)
      lo = rng.choice([0, 0, 1]) if n.isdigit() and int(n) >= 1 else 0
      s.emit(f"def {name}({i.name}, {c.name}):")
      s.lines += b.lines
      return self.new_val(s, f"lax.fori_loop({lo}, {n}, {name}, {init})", (), "float32")
    if form == "scan":
      c = _Val(self.fresh("c"), (), "float32")
      n = rng.randint(max(trips[0], 1), max(trips[1], 1))
      xs_pool = [v for v in s.all_vals() if v.shape and v.shape[0] == n and not v.far]
      if xs_pool and rng.random() < 0.5:
        xsv = rng.choice(xs_pool)
        xs, x = xsv.name, _Val(self.fresh("x"), xsv.shape[1:], xsv.dtype)
      elif rng.random() < 0.2:
        xs, x = None, None
      else:
        xs, x = f"jnp.arange({n}, dtype=jnp.float32)", _Val(self.fresh("x"), (), "float32")
      b.vals.append(c)
      if x is not None:
        b.vals.append(x)
      res = self.finish_body(b, depth, body_fn)
      ys = [v for v in b.vals if not v.far and v.name != c.name and
            (x is None or v.name != x.name)]
      y = rng.choice(ys) if ys and rng.random() < 0.7 else None
      b.emit(f"return {c.name} + {res.name}, {y.name if y else 'None'}")
      s.emit(f"def {name}({c.name}, {x.name if x else '_'}):")
      s.lines += b.lines
      out = _Val(self.fresh("v"), (), "float32")
      ysv = _Val(self.fresh("ys"), ((n,) + y.shape) if y else (), y.dtype if y else "float32")
      if xs is None:
        s.emit(f"{out.name}, {ysv.name if y else '_'} = lax.scan({name}, {init}, "
               f"length={n})")
      else:
        s.emit(f"{out.name}, {ysv.name if y else '_'} = lax.scan({name}, {init}, {xs})")
      s.vals.append(out)
      if y:
        s.vals.append(ysv)
      return out
    # while_loop: (counter, carry); the cond may read refs the body never writes.
    i = _Val(self.fresh("i"), (), "int32", small=True)
    c = _Val(self.fresh("c"), (), "float32")
    b.vals += [i, c]
    res = self.finish_body(b, depth, body_fn)
    b.emit(f"return {i.name} + 1, {c.name} + {res.name}")
    written = {id(r) for r in self.writes[start:]}
    n = self.bound(s, *trips)
    cond = self.fresh("cond")
    st = self.fresh("st")
    s.emit(f"def {cond}({st}):")
    readable = [r for r in s.all_refs() if id(r.root) not in written]
    if readable and rng.random() < 0.4:
      r = rng.choice(readable)
      self.tag("while_cond_reads_ref")
      cs = _Scope(s, s.indent + 1, "while")
      idx, vshape = self.index(cs, r, "get")
      s.lines += cs.lines
      s.emit(f"  return ({st}[0] < {n}) & jnp.all({r.name}[{idx}] < 1000)")
    else:
      s.emit(f"  return {st}[0] < {n}")
    s.emit(f"def {name}({st}):")
    s.emit(f"  {i.name}, {c.name} = {st}")
    s.lines += b.lines
    out = _Val(self.fresh("v"), (), "float32")
    s.emit(f"_, {out.name} = lax.while_loop({cond}, {name}, (jnp.int32(0), {init}))")
    s.vals.append(out)
    return out

  def branch(self, s: _Scope, depth: int, form: str | None = None, body_fn=None
             ) -> _Val | None:
    """lax.cond / lax.switch whose branches return an f32 (or nothing)."""
    rng = self.rng
    form = form or rng.choice(["cond", "cond", "switch"])
    n = 2 if form == "cond" else rng.randint(2, 4)
    has_result = body_fn is not None or rng.random() < 0.7
    names = []
    for _ in range(n):
      name = self.fresh("br")
      b = self.body_scope(s, form)
      if has_result:
        res = self.finish_body(b, depth, body_fn)
        b.emit(f"return {res.name}")
      else:
        if body_fn is not None:
          body_fn(b)
        else:
          self.block(b, depth + 1, rng.randint(1, 3))
        self.end_refs(b)
        b.emit("return None")
      s.emit(f"def {name}():")
      s.lines += b.lines
      names.append(name)
    if form == "cond":
      refs = s.all_refs()
      small = [v for v in s.all_vals() if v.small]
      r = rng.random()
      if refs and r < 0.35:
        ref = rng.choice(refs)
        idx, _ = self.index(s, ref, "get")
        pred = f"jnp.sum({ref.name}[{idx}]) > 0"
      elif small and r < 0.8:
        pred = f"{rng.choice(small).name} % 2 == 0"
      else:
        pred = rng.choice(["True", "False"])
      call = f"lax.cond({pred}, {names[0]}, {names[1]})"
    else:
      idx = self.traced_scalar(s, n, allow_far=True)
      if rng.random() < 0.2:
        idx = f"jnp.int32({rng.choice([-1, n, n + 3, -5])})"
        self.tag("switch_out_of_range")
      call = f"lax.switch({idx}, [{', '.join(names)}])"
    if has_result:
      return self.new_val(s, call, (), "float32")
    s.emit(call)
    return None

  def nested_jit(self, s: _Scope, depth: int) -> None:
    """A nested jax.jit function taking refs (distinct roots) and a value."""
    rng = self.rng
    refs = s.all_refs()
    roots: dict[int, _Ref] = {}
    for r in refs:
      roots.setdefault(id(r.root), r)
    if not roots:
      return
    args = rng.sample(list(roots.values()), min(len(roots), rng.randint(1, 2)))
    self.tag("nested_jit")
    name = self.fresh("jf")
    b = _Scope(s, s.indent + 1, "jit", isolated=True)
    params = []
    for a in args:
      # Not freezable inside (jax.jit: StopIteration), no views of globals.
      p = _Ref(self.fresh("q"), a.shape, a.dtype, a.root, False, a.view, a.closed,
               a.has_scalar, a.has_stride)
      b.refs.append(p)
      params.append(p.name)
    x = _Val(self.fresh("x"), (), "float32")
    b.vals.append(x)
    self.block(b, depth + 1, rng.randint(1, 4))
    self.end_refs(b)
    cands = b.prefer or [v for v in b.vals if v.shape == () and v.dtype == "float32"]
    res = rng.choice(cands)
    b.emit(f"return {res.name}")
    s.emit("@jax.jit")
    s.emit(f"def {name}({', '.join(params + [x.name])}):")
    s.lines += b.lines
    arg = self.expr(s, (), "float32")
    s.prefer.append(self.new_val(
        s, f"{name}({', '.join([a.name for a in args] + [arg])})", (), "float32"))

  # -- adversarial patterns ----------------------------------------------------------

  def escape(self, s: _Scope, v: _Val | None) -> None:
    if v is not None:
      s.prefer.append(v)

  def reads(self, s: _Scope, ref: _Ref, n: int) -> _Val:
    total = None
    for _ in range(n):
      g = self.access(s, "get", ref, whole=self.rng.random() < 0.2)
      v = self.scalar_f32(s, g)
      total = v if total is None else self.add_f32(s, total, v)
    return total

  def readonly_then_write(self, s: _Scope, depth: int) -> None:
    """A loop / scan / while / nested loop / branch that only reads a ref,
    then a write or swap of it (maybe through a view)."""
    rng = self.rng
    ref = self.pick_ref(s)
    if ref is None:
      return
    form = rng.choice(["fori", "fori", "scan", "scan", "while", "nested", "cond",
                       "switch"])
    if self.loop_free:
      form = rng.choice(["cond", "switch"])
    if form == "nested" and depth + 1 >= self.max_depth:
      form = "fori"
    self.tag(f"readonly_{form}_then_write")
    read_ref = ref
    if rng.random() < 0.2 and ref.shape:
      read_ref = self.view(s, ref) or ref
    extra = [r for r in s.all_refs() if r is not ref and rng.random() < 0.3]

    def body(b: _Scope) -> None:
      t = self.reads(b, rng.choice([read_ref] + extra), rng.randint(1, 2))
      if rng.random() < 0.2:
        self.callback(b, t)
      if form == "nested":
        t = self.add_f32(b, t, self.loop(b, depth + 1, rng.choice(["fori", "scan"]),
                                         lambda bb: bb.prefer.append(
                                             self.reads(bb, read_ref, 1)),
                                         trips=(1, 3)))
      b.prefer.append(t)

    if form in ("cond", "switch"):
      acc = self.branch(s, depth, form, body)
    else:
      acc = self.loop(s, depth, "fori" if form == "nested" else form, body,
                      trips=(1, 4))
    for _ in range(rng.choice([1, 1, 2])):
      self.writer(s, depth, ref)
    if rng.random() < 0.3:
      self.escape(s, self.reads(s, ref, 1))
    self.escape(s, acc)

  def writer(self, s: _Scope, depth: int, ref: _Ref) -> None:
    rng = self.rng
    r = rng.random()
    target = ref
    if r < 0.2 and ref.shape:
      target = self.view(s, ref) or ref
      self.tag("write_through_view")
    if r < 0.85 or depth >= self.max_depth or self.loop_free:
      kind = rng.choice(["set", "swap", "swap", "iadd", "addupdate"])
      old = self.access(s, kind, target, whole=rng.random() < 0.3)
      if old is not None and rng.random() < 0.6:
        self.escape(s, self.scalar_f32(s, old))
    else:
      self.tag("write_in_loop_after")

      def body(b: _Scope) -> None:
        old = self.access(b, rng.choice(["set", "swap", "addupdate"]), target)
        if old is not None:
          b.prefer.append(self.scalar_f32(b, old))

      self.escape(s, self.loop(s, depth, None, body, trips=(1, 3)))

  def swap_loop(self, s: _Scope, depth: int) -> None:
    rng = self.rng
    ref = self.pick_ref(s)
    if ref is None:
      return

    def body(b: _Scope) -> None:
      old = self.access(b, "swap", ref, whole=rng.random() < 0.2)
      t = self.scalar_f32(b, old)
      if rng.random() < 0.4:
        t = self.add_f32(b, t, self.reads(b, ref, 1))
      if rng.random() < 0.3 and depth + 1 < self.max_depth:
        self.nested_write_loop(b, depth + 1, ref)
      b.prefer.append(t)

    self.escape(s, self.loop(s, depth, None, body, trips=(1, 4)))
    if rng.random() < 0.5:
      self.escape(s, self.reads(s, ref, 1))

  def nested_write_loop(self, s: _Scope, depth: int, ref: _Ref | None = None) -> None:
    rng = self.rng
    ref = ref or self.pick_ref(s)
    if ref is None:
      return
    self.tag("nested_loop_write")

    def inner(b: _Scope) -> None:
      kind = rng.choice(["set", "swap", "iadd", "addupdate"])
      old = self.access(b, kind, ref, whole=rng.random() < 0.4)
      b.prefer.append(self.scalar_f32(b, old) if old is not None
                      else self.reads(b, ref, 1))

    def outer(b: _Scope) -> None:
      if depth + 1 < self.max_depth:
        b.prefer.append(self.loop(b, depth + 1, None, inner, trips=(1, 3)))
      else:
        inner(b)

    self.escape(s, self.loop(s, depth, None, outer, trips=(1, 3)))

  def local_ref_body(self, s: _Scope, depth: int) -> None:
    """A loop / scan / branch body that creates a ref (from an outer read),
    accesses it strided and through views, and reads / writes outer refs."""
    rng = self.rng
    outer = s.all_refs()

    def body(b: _Scope) -> None:
      src = rng.choice(outer) if outer and rng.random() < 0.7 else None
      r = self.new_ref(b, src)
      for _ in range(rng.randint(1, 3)):
        target = self.view(b, r) if rng.random() < 0.25 and r.shape else r
        target = target or r
        kind = rng.choice(["get", "get", "set", "swap", "iadd", "addupdate"])
        v = self.access(b, kind, target)
        if v is not None and rng.random() < 0.5:
          b.prefer.append(self.scalar_f32(b, v))
      if outer and rng.random() < 0.5:
        o = rng.choice(outer)
        self.access(b, rng.choice(["set", "addupdate", "swap", "iadd"]), o)
      if rng.random() < 0.4:
        b.prefer.append(self.reads(b, r, 1))

    if rng.random() < 0.7 and not self.loop_free:
      self.escape(s, self.loop(s, depth, None, body, trips=(1, 3)))
    else:
      self.escape(s, self.branch(s, depth, None, body))

  # -- blocks ---------------------------------------------------------------------------

  def block(self, s: _Scope, depth: int, n: int) -> None:
    rng = self.rng
    for _ in range(n):
      kinds = [(k, w) for k, w in WEIGHTS.items()
               if k not in CONTROL or depth < self.max_depth]
      if self.num_jits >= 2 or "jit" in s.regions:
        kinds = [(k, w) for k, w in kinds if k != "nested_jit"]
      if self.loop_free:
        kinds = [(k, w) for k, w in kinds
                 if k not in ("fori", "scan", "while", "swap_loop", "nested_write_loop")]
      total = sum(w for _, w in kinds)
      x = rng.random() * total
      for kind, w in kinds:
        x -= w
        if x < 0:
          break
      if kind in ("get", "set", "addupdate", "swap"):
        if kind == "set" and rng.random() < 0.3:
          kind = "iadd"
        self.access(s, kind)
      elif kind == "view":
        self.view(s)
      elif kind == "arith":
        vals = [v for v in s.all_vals() if not v.far]
        if vals:
          a = rng.choice(vals)
          self.new_val(s, self.expr(s, a.shape, a.dtype), a.shape, a.dtype)
      elif kind == "new_ref":
        self.new_ref(s)
      elif kind == "callback":
        self.callback(s)
      elif kind in ("fori", "scan", "while"):
        self.escape(s, self.loop(s, depth, kind))
      elif kind in ("cond", "switch"):
        self.escape(s, self.branch(s, depth, kind))
      elif kind == "nested_jit":
        self.num_jits += 1
        self.nested_jit(s, depth)
      else:
        getattr(self, kind)(s, depth)

  def program(self) -> JaxProgram:
    rng = self.rng
    main = _Scope(None, 1)
    refs: list[RefSpec] = []
    params: list[str] = []
    for k in range(rng.randint(1, 3)):
      shape, dtype = rng.choice(SHAPES), rng.choice(DTYPES)
      closed = k > 0 and rng.random() < 0.25
      name = f"g{k}" if closed else f"r{k}"
      refs.append(RefSpec(name, shape, dtype, self.small_array(shape, dtype, -5, 5),
                          closed))
      main.refs.append(_Ref(name, shape, dtype, _Root(), closed=closed))
      if closed:
        self.tag("closed_over_ref")
      else:
        params.append(name)
    scalars: list[ScalarSpec] = []
    for k in range(rng.randint(0, 3)):
      name = f"k{k}"
      py = rng.random() < 0.25
      scalars.append(ScalarSpec(name, rng.randint(-3, 9), py))
      main.vals.append(_Val(name, (), "int32", small=True))
      params.append(name)
    if self.far_p:
      for k in range(rng.randint(0, 2)):
        name = f"K{k}"
        py = rng.random() < 0.3
        value = rng.choice(BIG_PY if py and rng.random() < 0.12 else FAR)
        if py:
          self.tag("python_int_arg")
          if not -2**31 <= value < 2**31:
            self.tag("python_int_overflow")
        scalars.append(ScalarSpec(name, value, py))
        main.vals.append(_Val(name, (), "int32", far=True))
        params.append(name)
    self.block(main, 0, rng.randint(3, self.max_stmts))
    self.end_refs(main)
    if self.loop_free:
      self.tag("loop_free")
    top = [v for v in main.vals if not v.far and not v.name.startswith("k")]
    rets = list(dict.fromkeys(main.prefer))
    rets += [v for v in rng.sample(top, min(len(top), rng.randint(0, 2)))
             if v not in rets]
    if rets:
      main.emit(f"return ({', '.join(v.name for v in rets)},)")
    else:
      main.emit("return None")
    src = f"def f({', '.join(params)}):\n" + "\n".join(main.lines) + "\n"
    return JaxProgram(self.seed, src, tuple(refs), tuple(scalars),
                      frozenset(self.tags), self.callbacks)


def _tuple_text(idx: str) -> str:
  """The index expression of `r[idx]` as an explicit tuple for jax.ref.*."""
  return f"({_slices(idx)},)"


def _slices(idx: str) -> str:
  """Rewrites `a:b:c` components of an index into `slice(a, b, c)` calls."""
  out = []
  for part in _split_top(idx):
    p = part.strip()
    if p == "...":
      out.append("Ellipsis")
    elif ":" in p and "(" not in p and "[" not in p:
      bits = (p.split(":") + [""])[:3]
      out.append("slice(" + ", ".join(b if b else "None" for b in bits) + ")")
    else:
      out.append(p)
  return ", ".join(out)


def _split_top(text: str) -> list[str]:
  parts, depth, cur = [], 0, []
  for ch in text:
    if ch in "([":
      depth += 1
    elif ch in ")]":
      depth -= 1
    if ch == "," and depth == 0:
      parts.append("".join(cur))
      cur = []
    else:
      cur.append(ch)
  parts.append("".join(cur))
  return parts


def _full(value: str, shape: tuple[int, ...]) -> str:
  """The value broadcast to `shape` (ref writes do not broadcast)."""
  if not shape or value.startswith("jnp.broadcast_to("):
    return value
  return f"jnp.broadcast_to({value}, {shape!r})"


def generate(seed: int, **kwargs) -> JaxProgram:
  """The random JAX program of `seed` (deterministic)."""
  return Generator(seed, **kwargs).program()


if __name__ == "__main__":
  import sys
  prog = generate(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
  print(prog.script())
  print("# patterns:", ", ".join(sorted(prog.patterns)))
