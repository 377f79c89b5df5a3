"""A NumPy reference interpreter for ref-dialect modules: the semantic oracle.

`interpret(module, "main", args)` executes a function of a module directly,
op by op, without running any pass, so that the output of the pipeline
(`ref-to-stablehlo` + XLA) can be checked against it. It implements the
DESIGN.md semantics of the `ref` dialect exactly as JAX does:

* a ref is a `RefCell` holding a NumPy array; `ref.view` makes a cell whose
  array is a NumPy *view* of its parent's array, so writes through a view are
  visible in the parent and vice versa (`func.call` passes cells by
  reference, so aliased arguments alias here too);
* dynamic offsets are clamped so the window fits: per dim
  `clamp(off, 0, dim - extent)`, `extent = (size - 1) * stride + 1`;
* indexed reads clamp every index into `[0, dim - 1]`; indexed writes drop
  the index rows with an index out of range; `set`/`swap` with duplicate
  indices keep the last write, `addupdate` sums all of them;
* with `mode = "elementwise"` every element of the access is addressed on its
  own: each of its indices (offset + k * stride, computed in the offset's
  type with two's-complement wraparound; a squeezed offset; an `indices`
  entry) gets `dim` added once if negative, then reads clamp it into
  `[0, dim - 1]` and writes drop the element if any index is out of range;
* `ref.empty` makes a zero-filled cell (its contents are undefined by the
  contract; programs must write before they read).

Besides the ref ops it runs `func.call`/`func.return` and the StableHLO ops
that ref programs and the lowered programs use (elementwise arithmetic,
compare/select/convert, shape ops, slices, iota, reduce, dot_general, while,
case, if, gather, scatter). Anything else raises `NotImplementedError` with
the op's name. The module never imports `jax` (only NumPy and the MLIR
bindings), and never imports the transforms: it is independent of them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import stablehlo

from refhlo.compiler import irutil
from refhlo.compiler.dialect.indexer import ELEMENTWISE, Indexer, window_extent
from refhlo.compiler.dialect.types import DYNAMIC, is_ref_type, ref_value_type


class InterpreterError(RuntimeError):
  """The program did something the interpreter (or the contract) rejects."""


class RefCell:
  """A mutable location: `array` is the ref's contents.

  A view's `array` is a NumPy view into its parent's array, so both see each
  other's writes. `value()` returns a copy of the contents.
  """

  __slots__ = ("array", "alive")

  def __init__(self, array: np.ndarray, *, copy: bool = True):
    self.array = np.array(array, copy=True) if copy else array
    self.alive = True

  def value(self) -> np.ndarray:
    return np.array(self.array, copy=True)

  def __repr__(self) -> str:
    return f"RefCell({self.array!r})"


# -- types ----------------------------------------------------------------------


element_dtype = irutil.element_dtype
tensor_dtype = irutil.tensor_dtype


def tensor_shape(t: ir.Type) -> tuple[int, ...]:
  return tuple(ir.RankedTensorType(t).shape)


def _dense_to_numpy(attr: ir.Attribute, t: ir.Type) -> np.ndarray:
  dtype, shape = tensor_dtype(t), tensor_shape(t)
  if dtype in (np.float16, np.float32, np.float64) or dtype.kind in "iub":
    arr = np.asarray(np.array(ir.DenseElementsAttr(attr)))
  else:  # e.g. bf16: the bindings give no buffer; read the attribute's text
    arr = _dense_from_text(str(attr), dtype)
  arr = arr.astype(dtype)
  if arr.size == 1:
    return np.broadcast_to(arr.reshape(()), shape).copy()
  return arr.reshape(shape)


_TOKEN_RE = re.compile(r"0x[0-9a-fA-F]+|[-+]?(?:inf|nan|[0-9.]+(?:[eE][-+]?[0-9]+)?)")


def _dense_from_text(text: str, dtype: np.dtype) -> np.ndarray:
  m = re.match(r"dense<(.*)>\s*:", text, re.S)
  if not m:
    raise NotImplementedError(f"constant {text}")
  body = m.group(1).strip()
  if body.startswith('"0x'):  # raw little-endian bytes
    return np.frombuffer(bytes.fromhex(body[3:-1]), dtype=dtype).copy()
  bits = np.dtype(f"uint{dtype.itemsize * 8}")
  vals = [np.array(int(tok, 16), bits).view(dtype) if tok.startswith("0x")
          else np.array(float(tok)).astype(dtype) for tok in _TOKEN_RE.findall(body)]
  return np.array(vals, dtype=dtype)


def _i64s(attr: ir.Attribute) -> tuple[int, ...]:
  if isinstance(attr, ir.DenseI64ArrayAttr) or not hasattr(attr, "is_splat"):
    return tuple(int(v) for v in ir.DenseI64ArrayAttr(attr))
  return tuple(int(v) for v in np.array(ir.DenseIntElementsAttr(attr)).ravel())


def _attr_i64s(op: ir.Operation, name: str, default: tuple[int, ...] = ()
               ) -> tuple[int, ...]:
  attrs = op.attributes
  if name not in attrs:
    return default
  return _i64s(attrs[name])


# -- ref accesses ------------------------------------------------------------------


def _scalar_int(v: np.ndarray) -> int:
  return int(np.asarray(v).reshape(()))


def _clamp(x: int, lo: int, hi: int) -> int:
  return max(lo, min(x, hi))


def _window(cell_shape: tuple[int, ...], idx: Indexer,
            dyn: Sequence[np.ndarray]) -> tuple[Any, ...]:
  """The basic (view-producing) NumPy index of the indexer's window.

  Squeezed dims get an int, indexed dims the whole dim, the others a slice.
  """
  dyn_iter = iter(dyn)
  key: list[Any] = []
  for d, dim in enumerate(cell_shape):
    size, stride, off = idx.sizes[d], idx.strides[d], idx.offsets[d]
    if d in idx.indexed_dims:
      key.append(slice(None))
      continue
    extent = window_extent(size, stride)
    if off == DYNAMIC:
      off = _clamp(_scalar_int(next(dyn_iter)), 0, dim - extent)
    if d in idx.squeezed_dims:
      key.append(off)
    else:
      key.append(slice(off, off + extent, stride))
  return tuple(key)


def _indexed_window(array: np.ndarray, idx: Indexer,
                    dyn: Sequence[np.ndarray]) -> np.ndarray:
  """A view of the window with the indexed dims moved to the front."""
  win = array[_window(array.shape, idx, dyn) + (Ellipsis,)]
  if not idx.indexed_dims:
    return win
  # Dims of `win`: the ref's dims minus the squeezed ones.
  remaining = [d for d in range(idx.rank) if d not in idx.squeezed_dims]
  front = [remaining.index(d) for d in idx.indexed_dims]
  rest = [i for i in range(len(remaining)) if i not in front]
  return win.transpose(front + rest)


def _index_tuple(indices: np.ndarray) -> tuple[np.ndarray, ...]:
  ind = np.asarray(indices).astype(np.int64)
  return tuple(ind[..., k] for k in range(ind.shape[-1]))


def _elementwise_coords(shape: tuple[int, ...], idx: Indexer,
                        dyn: Sequence[np.ndarray], indices: np.ndarray | None
                        ) -> tuple[np.ndarray, ...]:
  """Mode "elementwise": per ref dim, the index of every element of the value
  (int64 arrays of the value shape), negative ones counted from the end."""
  vshape = idx.value_shape
  nb = len(idx.batch_shape)
  kept = idx.kept_dims
  dyn_iter = iter(dyn)
  cols = _index_tuple(indices) if idx.indexed_dims else ()
  out = []
  for d, dim in enumerate(shape):
    off = idx.offsets[d]
    wrap = None  # a dynamic offset's type: the elements' indices wrap in it
    if off == DYNAMIC:
      o = np.asarray(next(dyn_iter))
      off, wrap = _scalar_int(o), o.dtype
    if d in idx.indexed_dims:
      c = cols[idx.indexed_dims.index(d)].reshape(idx.batch_shape + (1,) * len(kept))
    elif d in idx.squeezed_dims:
      c = np.int64(off)
    else:
      axis = nb + kept.index(d)
      c = off + np.arange(idx.sizes[d], dtype=np.int64) * idx.strides[d]
      if wrap is not None:  # two's-complement wraparound, as JAX's i32 iota
        c = c.astype(wrap).astype(np.int64)
      c = c.reshape((1,) * axis + (-1,) + (1,) * (len(vshape) - axis - 1))
    c = np.asarray(c, dtype=np.int64)
    out.append(np.broadcast_to(np.where(c < 0, c + dim, c), vshape))
  return tuple(out)


def ref_read(cell: RefCell, idx: Indexer, dyn: Sequence[np.ndarray],
             indices: np.ndarray | None) -> np.ndarray:
  """`ref[idx]`: a fresh array of the indexer's value shape."""
  if idx.mode == ELEMENTWISE:
    shape = cell.array.shape
    coords = _elementwise_coords(shape, idx, dyn, indices)
    return np.array(cell.array[tuple(np.clip(c, 0, n - 1)
                                     for c, n in zip(coords, shape))], copy=True)
  win = _indexed_window(cell.array, idx, dyn)
  if idx.indexed_dims:
    assert indices is not None
    dims = win.shape[:len(idx.indexed_dims)]
    cols = [np.clip(c, 0, n - 1) for c, n in zip(_index_tuple(indices), dims)]
    return np.array(win[tuple(cols)], copy=True)
  return np.array(win, copy=True)


def ref_write(cell: RefCell, idx: Indexer, dyn: Sequence[np.ndarray],
              indices: np.ndarray | None, value: np.ndarray, *,
              accumulate: bool) -> None:
  """`ref[idx] = value` (or `+= value`), in place in the cell's array."""
  value = np.asarray(value)
  if idx.mode == ELEMENTWISE:
    win = cell.array
    coords = _elementwise_coords(win.shape, idx, dyn, indices)
    ok = np.ones(idx.value_shape, dtype=bool)
    for c, n in zip(coords, win.shape):
      ok &= (c >= 0) & (c < n)
    cols = tuple(c[ok] for c in coords)
    rows = np.broadcast_to(value, idx.value_shape)[ok]
  else:
    win = _indexed_window(cell.array, idx, dyn)
    if not idx.indexed_dims:
      if accumulate:
        with np.errstate(all="ignore"):
          win[...] = _add(win, value)
      else:
        win[...] = value
      return
    assert indices is not None
    dims = win.shape[:len(idx.indexed_dims)]
    cols = _index_tuple(indices)
    ok = np.ones(cols[0].shape, dtype=bool)
    for c, n in zip(cols, dims):
      ok &= (c >= 0) & (c < n)
    cols = tuple(c[ok] for c in cols)
    rows = value[ok]
  if accumulate:
    if win.dtype == np.bool_:
      np.logical_or.at(win, cols, rows)
    else:
      with np.errstate(all="ignore"):
        np.add.at(win, cols, rows)
  else:
    # NumPy assigns in order, so with duplicate indices the last write wins.
    win[cols] = rows


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  if a.dtype == np.bool_:
    return np.logical_or(a, b)
  return a + b


# -- the interpreter -----------------------------------------------------------------

Rule = Callable[["Interpreter", ir.Operation, list[Any]], Sequence[Any]]
_RULES: dict[str, Rule] = {}


def register_rule(*names: str) -> Callable[[Rule], Rule]:
  """Registers `rule(interp, op, operand_values) -> result values` for ops."""

  def wrap(rule: Rule) -> Rule:
    for n in names:
      _RULES[n] = rule
    return rule

  return wrap


def supported_ops() -> list[str]:
  return sorted(_RULES)


class Interpreter:
  """Runs the functions of one module."""

  def __init__(self, module: ir.Operation, *, max_steps: int = 10_000_000):
    self.module = module
    self.functions = {irutil.func_name(f): f for f in irutil.module_functions(module)}
    self.steps = 0
    self.max_steps = max_steps
    self._envs: list[dict[ir.Value, Any]] = []

  @property
  def env(self) -> dict[ir.Value, Any]:
    """The values of the function invocation now running."""
    return self._envs[-1]

  def call(self, name: str, args: Sequence[Any]) -> list[Any]:
    if name not in self.functions:
      raise InterpreterError(f"no function @{name} in the module")
    func = self.functions[name]
    region = func.regions[0]
    if len(region.blocks) == 0:
      raise InterpreterError(f"@{name} is a declaration without a body")
    self._envs.append({})
    try:
      return self.run_region(region, args)
    finally:
      self._envs.pop()

  def run_region(self, region: ir.Region, args: Sequence[Any],
                 env: dict[ir.Value, Any] | None = None) -> list[Any]:
    """Runs a single-block region; returns its terminator's operands.

    Values defined above the region (captured values) are looked up in the
    current invocation's environment, which also receives the region's block
    arguments and results (SSA names are unique, so one map suffices).
    """
    blocks = list(region.blocks)
    if len(blocks) != 1:
      raise NotImplementedError("regions with more than one block")
    block = blocks[0]
    env = self.env if env is None else env
    if len(block.arguments) != len(args):
      raise InterpreterError(
          f"region takes {len(block.arguments)} arguments, got {len(args)}")
    for a, v in zip(block.arguments, args):
      env[a] = v
    for op in block.operations:
      op = op.operation
      name = op.name
      operands = [env[v] for v in op.operands]
      if name in ("func.return", "stablehlo.return"):
        return operands
      rule = _RULES.get(name)
      if rule is None:
        raise NotImplementedError(name)
      self.steps += 1
      if self.steps > self.max_steps:
        raise InterpreterError("step limit exceeded (infinite loop?)")
      try:
        results = rule(self, op, operands)
      except (InterpreterError, NotImplementedError):
        raise
      except Exception as e:  # report where it happened
        raise InterpreterError(f"{name} at {op.location}: {type(e).__name__}: {e}"
                               ) from e
      for r, v in zip(op.results, results):
        env[r] = v
    raise InterpreterError("block has no terminator")


def _parse_module(module: Any) -> ir.Module | ir.Operation:
  """The module to run (text is parsed in a new context)."""
  if isinstance(module, str):
    from refhlo.compiler.context import make_context
    with make_context():
      return ir.Module.parse(module)
  return module


def interpret(module: ir.Module | ir.Operation | str, func_name: str = "main",
              args: Sequence[np.ndarray | RefCell | Any] = ()
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Runs `@func_name` of `module` on `args`.

  Ref arguments may be given as a `RefCell` (updated in place) or as an array
  (copied into a fresh cell). Returns `(results, ref_contents)`: the function's
  results and the final contents of its ref arguments, in argument order.
  """
  holder = _parse_module(module)  # keeps a parsed module alive while we run
  interp = Interpreter(holder.operation)
  if func_name not in interp.functions:
    raise InterpreterError(f"no function @{func_name} in the module")
  func = interp.functions[func_name]
  ftype = ir.FunctionType(ir.TypeAttr(func.attributes["function_type"]).value)
  inputs = list(ftype.inputs)
  if len(inputs) != len(args):
    raise InterpreterError(
        f"@{func_name} takes {len(inputs)} arguments, got {len(args)}")
  values: list[Any] = []
  cells: list[RefCell] = []
  for i, (t, a) in enumerate(zip(inputs, args)):
    if is_ref_type(t):
      vt = ref_value_type(t)
      if not isinstance(a, RefCell):
        a = RefCell(np.asarray(a, dtype=tensor_dtype(vt)))
      if a.array.shape != tuple(vt.shape):
        raise InterpreterError(
            f"argument {i}: ref of shape {a.array.shape}, expected {tuple(vt.shape)}")
      values.append(a)
      cells.append(a)
    else:
      arr = np.asarray(a, dtype=tensor_dtype(t))
      if arr.shape != tensor_shape(t):
        raise InterpreterError(
            f"argument {i}: shape {arr.shape}, expected {tensor_shape(t)}")
      values.append(arr)
  results = interp.call(func_name, values)
  return ([np.array(r, copy=True) for r in results], [c.value() for c in cells])


_BATCHED = [0]
"""> 0 while a scalar body (reduce, scatter) runs on whole arrays at once."""


def _run_batched(interp: Interpreter, region: ir.Region, args: list[Any]
                 ) -> list[Any]:
  """Runs a body written for scalars elementwise on arrays of one shape."""
  _BATCHED[0] += 1
  try:
    return interp.run_region(region, args)
  finally:
    _BATCHED[0] -= 1


def _result(op: ir.Operation, x: Any, i: int = 0) -> np.ndarray:
  """`x` as an array of the op's i-th result type (dtype cast, shape checked)."""
  t = op.results[i].type
  arr = np.asarray(x)
  dt = tensor_dtype(t)
  if arr.dtype != dt:
    with np.errstate(all="ignore"):
      arr = arr.astype(dt)
  shape = tensor_shape(t)
  if arr.shape != shape and not (_BATCHED[0] and shape == ()):
    raise InterpreterError(
        f"{op.name}: computed shape {arr.shape}, result type says {shape}")
  return arr


# -- ref ops ------------------------------------------------------------------------


def _cell(v: Any, op: ir.Operation) -> RefCell:
  if not isinstance(v, RefCell):
    raise InterpreterError(f"{op.name}: operand 0 is not a ref")
  if not v.alive:
    raise InterpreterError(f"{op.name}: use of a ref after freeze/free")
  return v


def _access(op: ir.Operation, operands: list[Any], has_value: bool):
  idx = Indexer.from_op(op)
  rest = operands[2 if has_value else 1:]
  n = idx.num_dynamic_offsets
  dyn = rest[:n]
  indices = rest[n] if idx.indexed_dims else None
  return idx, dyn, indices


@register_rule("ref.new")
def _ref_new(interp, op, operands):
  return [RefCell(operands[0])]


@register_rule("ref.empty")
def _ref_empty(interp, op, operands):
  vt = ref_value_type(op.results[0].type)
  return [RefCell(np.zeros(tuple(vt.shape), dtype=tensor_dtype(vt)), copy=False)]


@register_rule("ref.get")
def _ref_get(interp, op, operands):
  cell = _cell(operands[0], op)
  idx, dyn, indices = _access(op, operands, False)
  return [_result(op, ref_read(cell, idx, dyn, indices))]


@register_rule("ref.set", "ref.addupdate")
def _ref_set(interp, op, operands):
  cell = _cell(operands[0], op)
  idx, dyn, indices = _access(op, operands, True)
  ref_write(cell, idx, dyn, indices, operands[1],
            accumulate=op.name == "ref.addupdate")
  return []


@register_rule("ref.swap")
def _ref_swap(interp, op, operands):
  cell = _cell(operands[0], op)
  idx, dyn, indices = _access(op, operands, True)
  old = ref_read(cell, idx, dyn, indices)
  ref_write(cell, idx, dyn, indices, operands[1], accumulate=False)
  return [_result(op, old)]


@register_rule("ref.freeze")
def _ref_freeze(interp, op, operands):
  cell = _cell(operands[0], op)
  out = cell.value()
  cell.alive = False
  return [_result(op, out)]


@register_rule("ref.free")
def _ref_free(interp, op, operands):
  _cell(operands[0], op).alive = False
  return []


@register_rule("ref.view")
def _ref_view(interp, op, operands):
  cell = _cell(operands[0], op)
  idx, dyn, indices = _access(op, operands, False)
  if idx.indexed_dims:
    raise InterpreterError("ref.view cannot have indexed dims")
  sub = cell.array[_window(cell.array.shape, idx, dyn) + (Ellipsis,)]
  want = tuple(ref_value_type(op.results[0].type).shape)
  if sub.shape != want:
    raise InterpreterError(f"ref.view: window of shape {sub.shape}, result type "
                           f"says {want}")
  return [RefCell(sub, copy=False)]


# -- func ---------------------------------------------------------------------------


@register_rule("func.call")
def _func_call(interp, op, operands):
  return interp.call(irutil.callee_name(op), operands)


# -- stablehlo: elementwise -------------------------------------------------------------


def _int_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  a, b = np.broadcast_arrays(a, b)
  safe_b = np.where(b == 0, 1, b)
  q = np.abs(a.astype(np.int64)) // np.abs(safe_b.astype(np.int64))
  q = np.where((a < 0) != (safe_b < 0), -q, q)
  return np.where(b == 0, -1, q).astype(a.dtype)


def _divide(a, b):
  if a.dtype.kind in "iu":
    return _int_divide(a, b)
  return a / b


def _remainder(a, b):
  if a.dtype.kind in "iu":
    safe_b = np.where(b == 0, 1, b)
    return np.where(b == 0, a, np.fmod(a, safe_b))
  return np.fmod(a, b)


def _logical(np_fn, bool_fn):
  def fn(a, b):
    return bool_fn(a, b) if a.dtype == np.bool_ else np_fn(a, b)
  return fn


def _power(a, b):
  if a.dtype.kind in "iu":
    return np.where(b < 0, 0, np.power(a, np.maximum(b, 0)))
  return np.power(a, b)


_BINARY: dict[str, Callable] = {
    "stablehlo.add": _logical(np.add, np.logical_or),
    "stablehlo.subtract": np.subtract,
    "stablehlo.multiply": _logical(np.multiply, np.logical_and),
    "stablehlo.divide": _divide,
    "stablehlo.remainder": _remainder,
    "stablehlo.maximum": np.maximum,
    "stablehlo.minimum": np.minimum,
    "stablehlo.and": _logical(np.bitwise_and, np.logical_and),
    "stablehlo.or": _logical(np.bitwise_or, np.logical_or),
    "stablehlo.xor": _logical(np.bitwise_xor, np.logical_xor),
    "stablehlo.power": _power,
    "stablehlo.atan2": np.arctan2,
    "stablehlo.shift_left": np.left_shift,
}

_UNARY: dict[str, Callable] = {
    "stablehlo.negate": np.negative,
    "stablehlo.abs": np.abs,
    "stablehlo.sign": np.sign,
    "stablehlo.exponential": np.exp,
    "stablehlo.exponential_minus_one": np.expm1,
    "stablehlo.log": np.log,
    "stablehlo.log_plus_one": np.log1p,
    "stablehlo.sqrt": np.sqrt,
    "stablehlo.rsqrt": lambda a: 1 / np.sqrt(a),
    "stablehlo.floor": np.floor,
    "stablehlo.ceil": np.ceil,
    "stablehlo.round_nearest_even": np.round,
    "stablehlo.tanh": np.tanh,
    "stablehlo.sine": np.sin,
    "stablehlo.cosine": np.cos,
    "stablehlo.logistic": lambda a: 1 / (1 + np.exp(-a)),
    "stablehlo.not": lambda a: np.logical_not(a) if a.dtype == np.bool_ else np.invert(a),
    "stablehlo.is_finite": np.isfinite,
}


def _binary_rule(fn):
  def rule(interp, op, operands):
    with np.errstate(all="ignore"):
      return [_result(op, fn(np.asarray(operands[0]), np.asarray(operands[1])))]
  return rule


def _unary_rule(fn):
  def rule(interp, op, operands):
    with np.errstate(all="ignore"):
      return [_result(op, fn(np.asarray(operands[0])))]
  return rule


for _name, _fn in _BINARY.items():
  register_rule(_name)(_binary_rule(_fn))
for _name, _fn in _UNARY.items():
  register_rule(_name)(_unary_rule(_fn))


_COMPARE = {"EQ": np.equal, "NE": np.not_equal, "LT": np.less,
            "LE": np.less_equal, "GT": np.greater, "GE": np.greater_equal}


@register_rule("stablehlo.compare")
def _compare(interp, op, operands):
  direction = stablehlo.ComparisonDirectionAttr(
      op.attributes["comparison_direction"]).value
  return [_result(op, _COMPARE[direction](operands[0], operands[1]))]


@register_rule("stablehlo.select")
def _select(interp, op, operands):
  return [_result(op, np.where(operands[0], operands[1], operands[2]))]


@register_rule("stablehlo.clamp")
def _clamp_op(interp, op, operands):
  lo, x, hi = operands
  return [_result(op, np.minimum(np.maximum(x, lo), hi))]


@register_rule("stablehlo.convert")
def _convert(interp, op, operands):
  x = np.asarray(operands[0])
  dt = tensor_dtype(op.results[0].type)
  if dt == np.bool_:
    return [_result(op, x != 0)]
  if x.dtype.kind == "f" and dt.kind in "iu":
    info = np.iinfo(dt)
    with np.errstate(all="ignore"):
      y = np.nan_to_num(np.trunc(x.astype(np.float64)), nan=0.0)
      y = np.clip(y, info.min, info.max)
    return [_result(op, y.astype(dt))]
  with np.errstate(all="ignore"):
    return [_result(op, x.astype(dt))]


@register_rule("stablehlo.bitcast_convert")
def _bitcast_convert(interp, op, operands):
  x = np.ascontiguousarray(operands[0])
  dt = tensor_dtype(op.results[0].type)
  return [_result(op, x.view(dt).reshape(tensor_shape(op.results[0].type)))]


@register_rule("stablehlo.constant", "arith.constant")
def _constant(interp, op, operands):
  return [_dense_to_numpy(op.attributes["value"], op.results[0].type)]


@register_rule("stablehlo.optimization_barrier")
def _identity(interp, op, operands):
  return list(operands)


# -- stablehlo: shapes and slices ------------------------------------------------------


@register_rule("stablehlo.broadcast_in_dim")
def _broadcast_in_dim(interp, op, operands):
  x = np.asarray(operands[0])
  dims = _attr_i64s(op, "broadcast_dimensions")
  out_shape = tensor_shape(op.results[0].type)
  order = sorted(range(len(dims)), key=lambda i: dims[i])
  x = x.transpose(order) if order else x
  shape = [1] * len(out_shape)
  for i in order:
    shape[dims[i]] = operands[0].shape[i]
  return [_result(op, np.broadcast_to(x.reshape(shape), out_shape).copy())]


@register_rule("stablehlo.reshape")
def _reshape(interp, op, operands):
  return [_result(op, np.reshape(operands[0], tensor_shape(op.results[0].type)))]


@register_rule("stablehlo.transpose")
def _transpose(interp, op, operands):
  return [_result(op, np.transpose(operands[0], _attr_i64s(op, "permutation")))]


@register_rule("stablehlo.slice")
def _slice(interp, op, operands):
  starts = _attr_i64s(op, "start_indices")
  limits = _attr_i64s(op, "limit_indices")
  strides = _attr_i64s(op, "strides", (1,) * len(starts))
  key = tuple(slice(s, l, st) for s, l, st in zip(starts, limits, strides))
  return [_result(op, np.array(operands[0][key], copy=True))]


def _clamped_starts(shape, sizes, starts) -> list[int]:
  return [_clamp(_scalar_int(s), 0, d - n) for s, d, n in zip(starts, shape, sizes)]


@register_rule("stablehlo.dynamic_slice")
def _dynamic_slice(interp, op, operands):
  x = np.asarray(operands[0])
  sizes = _attr_i64s(op, "slice_sizes")
  starts = _clamped_starts(x.shape, sizes, operands[1:])
  key = tuple(slice(s, s + n) for s, n in zip(starts, sizes))
  return [_result(op, np.array(x[key], copy=True))]


@register_rule("stablehlo.dynamic_update_slice")
def _dynamic_update_slice(interp, op, operands):
  x = np.array(operands[0], copy=True)
  upd = np.asarray(operands[1])
  starts = _clamped_starts(x.shape, upd.shape, operands[2:])
  key = tuple(slice(s, s + n) for s, n in zip(starts, upd.shape))
  x[key] = upd
  return [_result(op, x)]


@register_rule("stablehlo.concatenate")
def _concatenate(interp, op, operands):
  dim = ir.IntegerAttr(op.attributes["dimension"]).value
  return [_result(op, np.concatenate(operands, axis=dim))]


@register_rule("stablehlo.iota")
def _iota(interp, op, operands):
  dim = ir.IntegerAttr(op.attributes["iota_dimension"]).value
  shape = tensor_shape(op.results[0].type)
  ramp = np.arange(shape[dim]).reshape(
      [n if d == dim else 1 for d, n in enumerate(shape)])
  return [_result(op, np.broadcast_to(ramp, shape).copy())]


@register_rule("stablehlo.pad")
def _pad(interp, op, operands):
  x, pv = np.asarray(operands[0]), np.asarray(operands[1])
  lo = _attr_i64s(op, "edge_padding_low")
  hi = _attr_i64s(op, "edge_padding_high")
  inner = _attr_i64s(op, "interior_padding")
  shape = tensor_shape(op.results[0].type)
  # Place x (with interior padding) into a buffer padded by max(lo, 0) and
  # max(hi, 0), then crop what negative padding removes.
  spread = [n + max(n - 1, 0) * i for n, i in zip(x.shape, inner)]
  big = [max(l, 0) + s + max(h, 0) for l, s, h in zip(lo, spread, hi)]
  buf = np.full(big, pv, dtype=x.dtype)
  buf[tuple(slice(max(l, 0), max(l, 0) + s, i + 1)
            for l, s, i in zip(lo, spread, inner))] = x
  crop = tuple(slice(max(-l, 0), max(-l, 0) + n) for l, n in zip(lo, shape))
  return [_result(op, np.array(buf[crop], copy=True))]


# -- stablehlo: reductions and products ----------------------------------------------------


_FAST_REDUCE = {"stablehlo.add": np.add, "stablehlo.maximum": np.maximum,
                "stablehlo.minimum": np.minimum, "stablehlo.multiply": np.multiply,
                "stablehlo.and": np.logical_and, "stablehlo.or": np.logical_or}


def _simple_body(region: ir.Region) -> str | None:
  """The op name if the body is `return op(arg0, arg1)` (either order)."""
  block = region.blocks[0]
  ops = [o.operation for o in block.operations]
  if len(ops) != 2 or len(block.arguments) != 2:
    return None
  body, ret = ops
  if ret.name != "stablehlo.return" or len(ret.operands) != 1 or \
      ret.operands[0] != body.results[0]:
    return None
  args = list(block.arguments)
  if len(body.operands) == 2 and set(body.operands) == set(args) and \
      body.operands[0] != body.operands[1]:
    return body.name
  return None


@register_rule("stablehlo.reduce")
def _reduce(interp, op, operands):
  n = len(operands) // 2
  inputs, inits = [np.asarray(v) for v in operands[:n]], operands[n:]
  dims = tuple(sorted(_attr_i64s(op, "dimensions")))
  region = op.regions[0]
  simple = _simple_body(region) if n == 1 else None
  if simple in _FAST_REDUCE:
    fn = _FAST_REDUCE[simple]
    x = inputs[0]
    if x.dtype == np.bool_ and simple in ("stablehlo.add", "stablehlo.multiply"):
      fn = np.logical_or if simple == "stablehlo.add" else np.logical_and
    with np.errstate(all="ignore"):
      r = fn.reduce(x, axis=dims) if x.size else \
          np.full(tuple(s for d, s in enumerate(x.shape) if d not in dims),
                  inits[0], x.dtype)
      r = fn(r, inits[0]) if x.size else r
    return [_result(op, r)]
  # General body: fold the reduced elements one by one (vectorized over the rest).
  keep = [d for d in range(inputs[0].ndim) if d not in dims]
  moved = [np.transpose(x, keep + list(dims)) for x in inputs]
  out_shape = tuple(inputs[0].shape[d] for d in keep)
  k = int(np.prod([inputs[0].shape[d] for d in dims], dtype=np.int64))
  flat = [m.reshape(out_shape + (k,)) for m in moved]
  acc = [np.broadcast_to(np.asarray(i), out_shape).copy() for i in inits]
  for j in range(k):
    acc = _run_batched(interp, region, acc + [f[..., j] for f in flat])
  return [_result(op, a, i) for i, a in enumerate(acc)]


@register_rule("stablehlo.dot_general")
def _dot_general(interp, op, operands):
  lhs, rhs = np.asarray(operands[0]), np.asarray(operands[1])
  dn = stablehlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
  lb, rb = list(dn.lhs_batching_dimensions), list(dn.rhs_batching_dimensions)
  lc, rc = list(dn.lhs_contracting_dimensions), list(dn.rhs_contracting_dimensions)
  letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  ls = [""] * lhs.ndim
  rs = [""] * rhs.ndim
  batch, lfree, rfree = [], [], []
  for a, b in zip(lb, rb):
    c = next(letters)
    ls[a] = rs[b] = c
    batch.append(c)
  for a, b in zip(lc, rc):
    c = next(letters)
    ls[a] = rs[b] = c
  for d in range(lhs.ndim):
    if not ls[d]:
      ls[d] = next(letters)
      lfree.append(ls[d])
  for d in range(rhs.ndim):
    if not rs[d]:
      rs[d] = next(letters)
      rfree.append(rs[d])
  spec = f"{''.join(ls)},{''.join(rs)}->{''.join(batch + lfree + rfree)}"
  dt = tensor_dtype(op.results[0].type)
  acc = np.float64 if dt.kind == "f" else (np.int64 if dt.kind in "iu" else None)
  if dt == np.bool_:
    r = np.einsum(spec, lhs.astype(np.int64), rhs.astype(np.int64)) != 0
  else:
    r = np.einsum(spec, lhs.astype(acc), rhs.astype(acc))
  return [_result(op, r)]


# -- stablehlo: control flow ----------------------------------------------------------------


@register_rule("stablehlo.while")
def _while(interp, op, operands):
  cond, body = op.regions[0], op.regions[1]
  carried = list(operands)
  while True:
    (pred,) = interp.run_region(cond, carried)
    if not bool(np.asarray(pred).reshape(())):
      return carried
    carried = interp.run_region(body, carried)


@register_rule("stablehlo.case")
def _case(interp, op, operands):
  n = len(op.regions)
  i = _scalar_int(operands[0])
  if not 0 <= i < n:
    i = n - 1
  return interp.run_region(op.regions[i], [])


@register_rule("stablehlo.if")
def _if(interp, op, operands):
  pred = bool(np.asarray(operands[0]).reshape(()))
  return interp.run_region(op.regions[0 if pred else 1], [])


# -- stablehlo: gather / scatter --------------------------------------------------------------


def _index_batches(indices: np.ndarray, index_vector_dim: int
                   ) -> tuple[np.ndarray, list[int]]:
  """Moves the index vector dim last; returns (array [B..., K], map of dims).

  The map sends each dim of the original `indices` (but the index vector dim)
  to its position among the batch dims.
  """
  ind = np.asarray(indices).astype(np.int64)
  if index_vector_dim == ind.ndim:
    ind = ind[..., None]
  rank = ind.ndim
  ind = np.moveaxis(ind, index_vector_dim, -1)
  dim_map = [d if d < index_vector_dim else d - 1 for d in range(rank)]
  return ind, dim_map


@register_rule("stablehlo.gather")
def _gather(interp, op, operands):
  x, indices = np.asarray(operands[0]), operands[1]
  dn = stablehlo.GatherDimensionNumbers(op.attributes["dimension_numbers"])
  offset_dims = list(dn.offset_dims)
  collapsed = list(dn.collapsed_slice_dims)
  start_map = list(dn.start_index_map)
  obatch = list(dn.operand_batching_dims)
  ibatch = list(dn.start_indices_batching_dims)
  sizes = _attr_i64s(op, "slice_sizes")
  ind, dim_map = _index_batches(indices, dn.index_vector_dim)
  batch_shape = ind.shape[:-1]
  out_shape = tensor_shape(op.results[0].type)
  dropped = set(collapsed) | set(obatch)
  offset_shape = tuple(sizes[d] for d in range(x.ndim) if d not in dropped)
  tmp = np.zeros(batch_shape + offset_shape, dtype=x.dtype)
  for b in itertools.product(*(range(n) for n in batch_shape)):
    start = [0] * x.ndim
    vec = ind[b]
    for i, od in enumerate(start_map):
      start[od] = _clamp(int(vec[i]), 0, x.shape[od] - sizes[od])
    for od, idim in zip(obatch, ibatch):
      start[od] = b[dim_map[idim]]
    key = tuple(d_start if d in dropped else slice(d_start, d_start + sizes[d])
                for d, d_start in enumerate(start))
    tmp[b] = x[key]
  batch_dims = [d for d in range(len(out_shape)) if d not in offset_dims]
  positions = batch_dims + offset_dims
  out = np.moveaxis(tmp, list(range(tmp.ndim)), positions) if tmp.ndim else tmp
  return [_result(op, out)]


def _scatter_combiner(interp: Interpreter, region: ir.Region, n: int
                      ) -> Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]:
  block = region.blocks[0]
  ops = [o.operation for o in block.operations]
  args = list(block.arguments)
  if n == 1 and len(ops) == 1 and ops[0].name == "stablehlo.return" and \
      ops[0].operands[0] == args[1]:
    return lambda old, new: [np.array(new[0], copy=True)]
  simple = _simple_body(region) if n == 1 else None
  if simple in _FAST_REDUCE:
    fn = _FAST_REDUCE[simple]
    return lambda old, new: [fn(old[0], new[0])]
  return lambda old, new: _run_batched(interp, region, list(old) + list(new))


@register_rule("stablehlo.scatter")
def _scatter(interp, op, operands):
  n = (len(operands) - 1) // 2
  outs = [np.array(v, copy=True) for v in operands[:n]]
  indices = operands[n]
  updates = [np.asarray(v) for v in operands[n + 1:]]
  dn = stablehlo.ScatterDimensionNumbers(op.attributes["scatter_dimension_numbers"])
  uwd = list(dn.update_window_dims)
  inserted = list(dn.inserted_window_dims)
  sd2od = list(dn.scattered_dims_to_operand_dims)
  ibatch = list(dn.input_batching_dims)
  sibatch = list(dn.scatter_indices_batching_dims)
  ind, dim_map = _index_batches(indices, dn.index_vector_dim)
  combine = _scatter_combiner(interp, op.regions[0], n)
  x0 = outs[0]
  upd0 = updates[0]
  update_scatter_dims = [d for d in range(upd0.ndim) if d not in uwd]
  dropped = set(inserted) | set(ibatch)
  window_operand_dims = [d for d in range(x0.ndim) if d not in dropped]
  win_sizes = {od: upd0.shape[ud] for od, ud in zip(window_operand_dims, uwd)}
  # Move the update scatter dims first so that `updates[b]` is one window.
  moved = [np.transpose(u, update_scatter_dims + uwd) for u in updates]
  batch_shape = tuple(upd0.shape[d] for d in update_scatter_dims)
  with np.errstate(all="ignore"):
    for b in itertools.product(*(range(k) for k in batch_shape)):
      start = [0] * x0.ndim
      vec = ind[b]
      for i, od in enumerate(sd2od):
        start[od] = int(vec[i])
      for od, idim in zip(ibatch, sibatch):
        start[od] = b[dim_map[idim]]
      # XLA skips an update window that does not fit entirely.
      if any(start[d] < 0 or start[d] + win_sizes.get(d, 1) > x0.shape[d]
             for d in range(x0.ndim)):
        continue
      key = tuple(s if d in dropped else slice(s, s + win_sizes[d])
                  for d, s in enumerate(start))
      old = [o[key] for o in outs]
      new = combine(old, [m[b] for m in moved])
      for o, v in zip(outs, new):
        o[key] = v
  return [_result(op, o, i) for i, o in enumerate(outs)]
