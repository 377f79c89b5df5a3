"""Emission of a traced JAX program (a closed jaxpr) into the `ref` dialect.

Every ordinary primitive is lowered by JAX's own lowering rules; refhlo
overrides the rules of the ref primitives (`get`, `swap`, `addupdate`,
`new_ref`, `empty_ref`, `freeze`, `free_ref`) and of the control flow that can
carry refs (`while`, nested `jit`), so that a ref stays one SSA value of type
`!ref.ref<T>` from its creation (or function argument) to its last use:
`stablehlo.while` / `case` regions capture refs from above and never carry
them as operands. (`scan` lowers through `while`, without the state
discharge JAX applies when its body creates refs; `cond` regions already
capture their operands.)

JAX's `NDIndexer` (ints, slices with steps, `...`, traced scalars, `jax.ds`,
integer arrays) maps onto the ref indexer attributes: scalar indices become
squeezed dims, integer arrays become indexed dims whose `indices` operand is
`[B..., K]`, and NumPy's in-place placement of adjacent advanced-index dims is
obtained by transposing the value. Out of range, JAX's ref discharge does two
different things (docs/dialect.md): an indexer with an integer array or a
slice with a step > 1 goes through gather/scatter, element by element (mode
"elementwise": indices are passed as they are, the dialect counts negative
ones from the end per element); any other one through
`lax.dynamic_slice`/`dynamic_update_slice` (mode "window": negative indices
are normalized here, `i + n` when `i < 0`, and the window is clamped).

Locations are the user's Python source lines (`loc("file.py":line:col)`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
from jaxlib.mlir import ir
from jaxlib.mlir.dialects import func as func_dialect
from jaxlib.mlir.dialects import stablehlo as hlo

from refhlo import _jax_private as jp
from refhlo.errors import format_error
from refhlo.compiler.context import prepare_context
from refhlo.compiler.dialect import (DYNAMIC, Indexer, IndexerError,
                                     RefAddUpdateOp, RefEmptyOp, RefFreeOp,
                                     RefFreezeOp, RefGetOp, RefNewOp,
                                     RefSetOp, RefSwapOp, RefViewOp,
                                     ref_type, ref_value_type)
from refhlo.compiler.dialect.indexer import ELEMENTWISE, WINDOW, window_extent


class EmitError(Exception):
  """A program refhlo cannot emit; `where` is the user's (file, line, col)."""

  def __init__(self, message: str, where: tuple[str, int, int] | None = None,
               kind: str | None = None):
    self.message = message
    self.where = where
    self.kind = kind  # "type" / "value": where JAX raises TypeError / ValueError
    super().__init__(format_error(message, where))


@dataclasses.dataclass(frozen=True)
class MainArg:
  """One argument of the emitted `@main`.

  `source` is ("arg", i) for the i-th flat (deduplicated) argument of the
  traced function or ("const", k) for its k-th closed-over constant.
  """
  source: tuple[str, int]
  is_ref: bool
  shape: tuple[int, ...]
  dtype: np.dtype


@dataclasses.dataclass
class Emitted:
  """The emitted module and what the runtime needs to call it."""
  module: ir.Module
  context: ir.Context
  args: list[MainArg]
  num_results: int
  host_callbacks: list[Any]
  keepalives: list[Any]


# -- small StableHLO helpers ----------------------------------------------------

def _tensor_type(v: ir.Value) -> ir.RankedTensorType:
  return ir.RankedTensorType(v.type)


def _const(value: int, elt: ir.Type, shape: Sequence[int] = ()) -> ir.Value:
  t = ir.RankedTensorType.get(list(shape), elt)
  if isinstance(elt, ir.IntegerType):
    attr = ir.DenseElementsAttr.get_splat(t, ir.IntegerAttr.get(elt, value))
  else:
    attr = ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(elt, value))
  return hlo.constant(attr)


def _static_int(v: Any) -> int | None:
  """The value of a scalar integer known at trace time, else None."""
  if isinstance(v, (int, np.integer)):
    return int(v)
  if not isinstance(v, ir.Value):
    return None
  owner = v.owner
  if not isinstance(owner, ir.Operation) and not isinstance(owner, ir.OpView):
    return None
  op = owner.operation if isinstance(owner, ir.OpView) else owner
  if op.name != "stablehlo.constant":
    return None
  t = _tensor_type(v)
  if t.rank != 0 or not isinstance(t.element_type, ir.IntegerType):
    return None
  attr = ir.DenseIntElementsAttr(op.attributes["value"])
  return int(attr[0])


def _as_i32(v: ir.Value) -> ir.Value:
  t = _tensor_type(v)
  i32 = ir.IntegerType.get_signless(32)
  if t.element_type == i32:
    return v
  if not isinstance(t.element_type, (ir.IntegerType, ir.FloatType)):
    raise EmitError(f"index must be an integer, got {t.element_type}", kind="type")
  # A float scalar index (`r[x]`, which JAX lets through) is truncated toward
  # zero, as JAX's `convert_element_type` to int32 does.
  return hlo.convert(ir.RankedTensorType.get(t.shape, i32), v)


def _normalize(v: ir.Value, dim: int) -> ir.Value:
  """`v < 0 ? v + dim : v` (elementwise), as i32."""
  v = _as_i32(v)
  t = _tensor_type(v)
  i32 = t.element_type
  zero = _const(0, i32, t.shape)
  n = _const(dim, i32, t.shape)
  neg = hlo.compare(v, zero, hlo.ComparisonDirectionAttr.get("LT"),
                    compare_type=hlo.ComparisonTypeAttr.get("SIGNED"))
  return hlo.select(neg, hlo.add(v, n), v)


def _broadcast_to(v: ir.Value, shape: tuple[int, ...]) -> ir.Value:
  t = _tensor_type(v)
  if tuple(t.shape) == shape:
    return v
  dims = list(range(len(shape) - t.rank, len(shape)))
  return hlo.broadcast_in_dim(ir.RankedTensorType.get(list(shape), t.element_type),
                              v, dims)


def _transpose(v: ir.Value, perm: Sequence[int]) -> ir.Value:
  if list(perm) == list(range(len(perm))):
    return v
  return hlo.transpose(v, list(perm))


# -- indexers -------------------------------------------------------------------

@dataclasses.dataclass
class _Access:
  indexer: Indexer
  dynamic_offsets: list[ir.Value]
  indices: ir.Value | None
  to_numpy: list[int] | None  # permutation: our value layout -> NumPy's


def _raw_index(x: Any) -> ir.Value:
  """An index as it is (mode "elementwise"), as an i32 tensor. An unsigned one
  past i32's range wraps to a negative i32, which JAX does not count from the
  end: it becomes INT32_MIN, out of range even after the dialect's wrap."""
  i32 = ir.IntegerType.get_signless(32)
  if not isinstance(x, ir.Value):
    return _const(int(x), i32)
  elt = _tensor_type(x).element_type
  v = _as_i32(x)
  if isinstance(elt, ir.IntegerType) and elt.is_unsigned and elt.width >= 32:
    shape = _tensor_type(v).shape
    neg = hlo.compare(v, _const(0, i32, shape), hlo.ComparisonDirectionAttr.get("LT"),
                      compare_type=hlo.ComparisonTypeAttr.get("SIGNED"))
    v = hlo.select(neg, _const(-2**31, i32, shape), v)
  return v


def _has_arrays(nd: Any) -> bool:
  return any(not isinstance(x, jp.Slice)
             and (_tensor_type(x).rank if isinstance(x, ir.Value) else np.ndim(x)) > 0
             for x in nd.indices)


def _jax_elementwise(nd: Any) -> bool:
  """Whether JAX's ref discharge gathers/scatters `nd` element by element: it
  has an integer array or a slice with a step > 1 (else it is a
  `lax.dynamic_slice`, or a static slice)."""
  return _has_arrays(nd) or any(
      isinstance(x, jp.Slice) and int(x.stride) > 1 for x in nd.indices)


def _access(nd: Any, ref_shape: tuple[int, ...], mode: str | None = None
            ) -> _Access:
  """Maps one JAX NDIndexer (leaves: ir.Values or ints) to a ref indexer.

  Out-of-range semantics follow JAX's discharge rules: with an integer array
  or a slice with a step > 1 JAX gathers/scatters element by element (mode
  "elementwise", raw indices); otherwise it uses `lax.dynamic_slice` (mode
  "window", negative indices normalized here). `mode` overrides that choice
  (views are windows; a strided view folded into the access after it is
  elementwise).
  """
  indices = tuple(nd.indices)
  if len(indices) != len(ref_shape):
    raise EmitError(f"indexer of rank {len(indices)} for a ref of rank "
                    f"{len(ref_shape)}", kind="type")
  is_int = [not isinstance(x, jp.Slice) for x in indices]

  def rank_of(x: Any) -> int:
    return _tensor_type(x).rank if isinstance(x, ir.Value) else np.ndim(x)

  advanced = any(is_int[d] and rank_of(x) > 0 for d, x in enumerate(indices))
  if mode is None:
    mode = (ELEMENTWISE if isinstance(nd, _FoldedIndexer) or _jax_elementwise(nd)
            else WINDOW)
  elementwise = mode == ELEMENTWISE
  offsets, sizes, strides = [], [], []
  squeezed, indexed, dyn, arrays = [], [], [], []
  for d, (x, n) in enumerate(zip(indices, ref_shape)):
    if isinstance(x, jp.Slice):
      size, stride = x.size, x.stride
      if not isinstance(size, (int, np.integer)):
        raise EmitError("slices of dynamic size are not supported")
      size, stride = int(size), int(stride)
      offset, value = _offset(x.start, n, window_extent(size, stride),
                              elementwise, is_int=False)
    elif not advanced:
      size, stride = 1, 1
      offset, value = _offset(x, n, 1, elementwise, is_int=True)
      squeezed.append(d)
    else:
      offsets.append(0)
      sizes.append(1)
      strides.append(1)
      indexed.append(d)
      arrays.append(_raw_index(x))
      continue
    offsets.append(offset)
    if value is not None:
      dyn.append(value)
    sizes.append(size)
    strides.append(stride)
  idx_value, batch, perm = (_indices_operand(arrays, is_int, len(ref_shape) - len(indexed))
                            if advanced else (None, (), None))
  mode = ELEMENTWISE if elementwise and (dyn or indexed) else WINDOW
  indexer = Indexer(tuple(ref_shape), tuple(offsets), tuple(sizes),
                    tuple(strides), tuple(squeezed), tuple(indexed), batch, mode)
  try:
    indexer.check()
  except IndexerError as e:
    raise EmitError(f"unsupported index: {e}", kind="type") from None
  return _Access(indexer, dyn, idx_value, perm)


def _offset(x: Any, n: int, extent: int, elementwise: bool, is_int: bool
            ) -> tuple[int, ir.Value | None]:
  """One dim's offset: (static offset, None), or (DYNAMIC, its value). JAX
  checks an elementwise access element by element, so there an offset not
  known to be in range stays raw (a known start may still be out of range:
  `jnp.int32(5)` is a constant JAX does not check); a window's dynamic
  offset gets NumPy's negative index normalized, a static one clamped to fit
  the window, as `lax.dynamic_slice` does."""
  s = _static_int(x)
  in_range = s is not None and ((-n <= s < n) if is_int else (0 <= s and s + extent <= n))
  if elementwise and not in_range:
    return DYNAMIC, _raw_index(x)
  if s is None:
    return DYNAMIC, _normalize(x, n)
  s = s + n if s < 0 else s
  return max(0, min(s, n - extent)), None


def _indices_operand(arrays: list[ir.Value], is_int: list[bool], nk: int
                     ) -> tuple[ir.Value, tuple[int, ...], list[int] | None]:
  """The `indices` operand of advanced indexing (the integer arrays
  broadcast together and stacked as `[B..., K]`), the batch shape `B`, and
  the transposition NumPy's placement of adjacent advanced dims needs (None:
  the batch dims lead)."""
  batch = tuple(np.broadcast_shapes(*(tuple(_tensor_type(a).shape) for a in arrays)))
  cols = []
  for a in arrays:
    a = _broadcast_to(a, batch)
    t = _tensor_type(a)
    cols.append(hlo.reshape(ir.RankedTensorType.get(list(batch) + [1], t.element_type), a))
  idx_value = cols[0] if len(cols) == 1 else hlo.concatenate(cols, len(batch))
  int_pos = [d for d, b in enumerate(is_int) if b]
  contiguous = all(b - a == 1 for a, b in zip(int_pos, int_pos[1:]))
  perm = None
  if contiguous and int_pos[0] > 0:
    nb, pos = len(batch), int_pos[0]
    perm = ([nb + i for i in range(pos)] + list(range(nb))
            + [nb + i for i in range(pos, nk)])
  return idx_value, batch, perm


def _ref_shape(ref: ir.Value) -> tuple[int, ...]:
  return tuple(ref_value_type(ref.type).shape)


def _split_transforms(ref: ir.Value, flat_idx: Sequence[Any], tree: Any
                      ) -> tuple[ir.Value, Any]:
  """Applies all but the last transform as `ref.view`s (or gathers into a
  local ref, see below); returns (ref, last, writebacks for `_write_back`)."""
  transforms = list(jp.tree_unflatten(tree, list(flat_idx)))
  if not transforms:
    return ref, None, []
  for t in transforms:
    if not isinstance(t, jp.NDIndexer):
      raise EmitError(f"unsupported ref transform {type(t).__name__}")
  # JAX reads and writes through a strided view element by element, which a
  # `ref.view` (a window) cannot say: fold such a view into the transform
  # after it when that one is a window (or static): one elementwise indexer.
  # (A strided view indexed elementwise again stays a clamped window: see
  # docs/dialect.md.)
  k = 0
  while k + 1 < len(transforms):
    v, nxt = transforms[k], transforms[k + 1]
    if ((isinstance(v, _FoldedIndexer) or (_jax_elementwise(v) and not _has_arrays(v)))
        and (_is_static(nxt) or not _jax_elementwise(nxt))):
      transforms[k:k + 2] = [_FoldedIndexer(v, nxt)]
    else:
      k += 1
  writebacks: list[tuple[ir.Value, _Access, ir.Value]] = []
  for t in transforms[:-1]:
    if isinstance(t, _FoldedIndexer) or (_jax_elementwise(t) and not _is_static(t)):
      # JAX checks every element against both the view and the ref, which
      # one `ref.view` (a window) cannot say. Do what JAX's discharge does:
      # gather the view's elements (reads clamp) into a local ref, access
      # that, and for a write scatter the local ref back through the view
      # (out-of-range elements dropped): `_write_back`.
      acc = _access(t, _ref_shape(ref))
      tmp = RefGetOp.build(ref, acc.indexer, acc.dynamic_offsets, acc.indices).result
      local = RefNewOp.build(_to_numpy(tmp, acc.to_numpy)).result
      writebacks.append((ref, acc, local))
      ref = local
      continue
    acc = _access(t, _ref_shape(ref), WINDOW)
    if acc.indices is not None:
      raise EmitError("a view of a ref cannot be indexed by integer arrays")
    ref = RefViewOp.build(ref, acc.indexer, acc.dynamic_offsets).result
  return ref, transforms[-1], writebacks


def _write_back(writebacks: list[tuple[ir.Value, _Access, ir.Value]]) -> None:
  """After a write through gathered views (`_split_transforms`): each local
  copy goes back to its parent through the same elementwise access, innermost
  first, as JAX's swap discharge scatters it."""
  for parent, acc, local in reversed(writebacks):
    value = _to_ours(RefFreezeOp.build(local).result, acc.to_numpy)
    RefSetOp.build(parent, value, acc.indexer, acc.dynamic_offsets, acc.indices)


def _is_static(nd: Any) -> bool:
  """All of `nd` is known at trace time and in range of the shape it indexes
  (`nd.shape`), so that clamping windows and checking elements agree. JAX
  checks Python ints, but not constants made in the function
  (`jax.ds(jnp.int32(5), 2, 2)`), which can be out of range."""
  for x, n in zip(nd.indices, nd.shape):
    if isinstance(x, jp.Slice):
      s = _static_int(x.start)
      if not isinstance(x.size, (int, np.integer)):
        return False
      size, stride = int(x.size), int(x.stride)
      extent = window_extent(size, stride)
      if s is None or s < 0 or s + extent > n:
        return False
    else:
      s = _static_int(x)
      if s is None or not -n <= s < n:
        return False
  return True


class _FoldedIndexer:
  """`view[inner]` for a strided `view = ref.at[nd]` and a window (or static)
  `inner`, as one indexer on the ref, element by element as JAX's discharge
  does: `inner`'s starts are first made non-negative and clamped into the
  view, as `lax.dynamic_slice` does."""

  def __init__(self, view: Any, inner: Any):
    self.shape = tuple(view.shape)
    it = iter(inner.indices)
    out: list[Any] = []
    for x in view.indices:
      if not isinstance(x, jp.Slice):
        out.append(x)  # squeezed by the view
        continue
      a, m, step = next(it), int(x.size), int(x.stride)
      if isinstance(a, jp.Slice):
        start = _window_start(a.start, m, window_extent(int(a.size), int(a.stride)))
        out.append(jp.Slice(_affine(x.start, step, start), a.size,
                            step * int(a.stride)))
      else:
        out.append(_affine(x.start, step, _window_start(a, m, 1)))
    self.indices = tuple(out)


def _window_start(a: Any, m: int, extent: int) -> Any:
  """A start in a dim of size m, made non-negative and clamped so that
  `extent` elements fit (static if `a` is)."""
  s = _static_int(a)
  if s is not None:
    s = s + m if s < 0 else s
    return max(0, min(s, m - extent))
  i32 = ir.IntegerType.get_signless(32)
  return hlo.clamp(_const(0, i32), _normalize(a, m), _const(max(m - extent, 0), i32))


def _affine(start: Any, step: int, k: Any) -> Any:
  """start + step * k, each static or traced."""
  s, kk = _static_int(start), _static_int(k)
  if s is not None and kk is not None:
    return s + step * kk
  if kk == 0:
    return start
  i32 = ir.IntegerType.get_signless(32)
  if kk is not None:
    prod = _const(step * kk, i32)
  else:
    prod = _as_i32(k)
    if step != 1:
      prod = hlo.multiply(prod, _const(step, i32))
  return hlo.add(_raw_index(start), prod)


def _to_ours(value: ir.Value, perm: list[int] | None) -> ir.Value:
  if perm is None:
    return value
  return _transpose(value, list(np.argsort(perm)))


def _to_numpy(value: ir.Value, perm: list[int] | None) -> ir.Value:
  if perm is None:
    return value
  return _transpose(value, perm)


# -- rules -----------------------------------------------------------------------

def _where(ctx: Any) -> tuple[str, int, int] | None:
  return jp.user_frame_of(ctx.traceback)


def _rule(fn):
  """Turns EmitErrors without a location into ones at the equation's line."""

  def wrapped(ctx, *args, **params):
    try:
      return fn(ctx, *args, **params)
    except EmitError as e:
      if e.where is None:
        raise EmitError(e.message, _where(ctx), e.kind) from None
      raise

  return wrapped


def _cast_value(value: ir.Value, ref: ir.Value) -> ir.Value:
  want = ref_value_type(ref.type).element_type
  t = _tensor_type(value)
  if t.element_type != want:
    return hlo.convert(ir.RankedTensorType.get(t.shape, want), value)
  return value


@_rule
def _get_rule(ctx, ref, *flat_idx, tree):
  ref, nd, _ = _split_transforms(ref, flat_idx, tree)
  if nd is None:
    return [RefGetOp.build(ref).result]
  acc = _access(nd, _ref_shape(ref))
  out = RefGetOp.build(ref, acc.indexer, acc.dynamic_offsets, acc.indices).result
  return [_to_numpy(out, acc.to_numpy)]


@_rule
def _swap_rule(ctx, ref, value, *flat_idx, tree):
  ref, nd, writebacks = _split_transforms(ref, flat_idx, tree)
  value = _cast_value(value, ref)
  if nd is None:
    out = RefSwapOp.build(ref, value).result
    _write_back(writebacks)
    return [out]
  acc = _access(nd, _ref_shape(ref))
  ours = _to_ours(value, acc.to_numpy)
  out = RefSwapOp.build(ref, ours, acc.indexer, acc.dynamic_offsets,
                        acc.indices).result
  _write_back(writebacks)
  return [_to_numpy(out, acc.to_numpy)]


@_rule
def _addupdate_rule(ctx, ref, value, *flat_idx, tree):
  ref, nd, writebacks = _split_transforms(ref, flat_idx, tree)
  value = _cast_value(value, ref)
  if nd is None:
    RefAddUpdateOp.build(ref, value)
  else:
    acc = _access(nd, _ref_shape(ref))
    RefAddUpdateOp.build(ref, _to_ours(value, acc.to_numpy), acc.indexer,
                         acc.dynamic_offsets, acc.indices)
  _write_back(writebacks)
  return []


@_rule
def _new_ref_rule(ctx, init, *, memory_space, kind):
  del kind
  if memory_space is not None:
    raise EmitError("refs with a memory space are not supported")
  _check_ref_dtype(ctx.avals_out[0])
  return [RefNewOp.build(init).result]


@_rule
def _empty_ref_rule(ctx, *, ty, memory_space):
  if memory_space is not None:
    raise EmitError("refs with a memory space are not supported")
  _check_ref_dtype(ctx.avals_out[0])
  (t,) = jp.aval_to_ir_types(ctx.module_context, ty)
  return [RefEmptyOp.build(t).result]


@_rule
def _freeze_rule(ctx, ref):
  return [RefFreezeOp.build(ref).result]


@_rule
def _free_ref_rule(ctx, ref):
  RefFreeOp.build(ref)
  return []


def _has_refs(avals: Sequence[Any]) -> bool:
  return any(jp.is_ref_aval(a) for a in avals)


@_rule
def _while_rule(ctx, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
  if not _has_refs(ctx.avals_in):
    return jp.while_p_default_rule()(
        ctx, *args, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
        cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
  if jp.ordered_effects_in(cond_jaxpr.effects):
    raise EmitError("ordered effects (e.g. io_callback(ordered=True)) in the "
                    "condition of a loop that uses refs are not supported")
  # Ordered effects of the body (jax.debug.print(..., ordered=True)): their
  # tokens are carried by the loop, first, as JAX's own while rule does.
  effects = jp.ordered_effects_in(body_jaxpr.effects)
  if cond_jaxpr.out_avals[0].shape:
    raise EmitError("a while loop with a batched predicate that uses refs is "
                    "not supported")
  is_ref = [jp.is_ref_aval(a) for a in ctx.avals_in]
  ncarry = len(args) - cond_nconsts - body_nconsts
  if any(is_ref[cond_nconsts + body_nconsts:]):
    raise EmitError("a ref cannot be a loop-carried value")
  carried = [a for a, r in zip(args, is_ref) if not r]
  ntok = len(effects)
  carried = [ctx.tokens_in.get(e) for e in effects] + carried
  types = [a.type for a in carried]
  while_op = hlo.WhileOp(types, carried)
  mctx = ctx.module_context
  name_stack = ctx.name_stack.extend("while")

  def expand(values: Sequence[ir.Value]) -> list[ir.Value]:
    it = iter(values)
    return [a if r else next(it) for a, r in zip(args, is_ref)]

  cond_block = while_op.regions[0].blocks.append(*types)
  with ir.InsertionPoint(cond_block):
    full = expand(list(cond_block.arguments)[ntok:])
    x, z = full[:cond_nconsts], full[cond_nconsts + body_nconsts:]
    consts = jp.ir_consts(cond_jaxpr.consts,
                          [v.aval for v in cond_jaxpr.jaxpr.constvars])
    (pred,), _ = jp.jaxpr_subcomp(
        mctx, cond_jaxpr.jaxpr, name_stack.extend("cond"), jp.TokenSet(),
        consts, *(x + z), dim_var_values=ctx.dim_var_values,
        const_lowering=ctx.const_lowering, outer_traceback=ctx.traceback)
    hlo.return_([pred])
  body_block = while_op.regions[1].blocks.append(*types)
  with ir.InsertionPoint(body_block):
    tokens_in = jp.TokenSet(dict(zip(effects, list(body_block.arguments)[:ntok])))
    full = expand(list(body_block.arguments)[ntok:])
    x = full[:cond_nconsts]
    y = full[cond_nconsts:cond_nconsts + body_nconsts]
    z = full[cond_nconsts + body_nconsts:]
    consts = jp.ir_consts(body_jaxpr.consts,
                          [v.aval for v in body_jaxpr.jaxpr.constvars])
    new_z, tokens_out = jp.jaxpr_subcomp(
        mctx, body_jaxpr.jaxpr, name_stack.extend("body"), tokens_in,
        consts, *(y + z), dim_var_values=ctx.dim_var_values,
        const_lowering=ctx.const_lowering, outer_traceback=ctx.traceback)
    keep = [v for v, r in zip(x + y, is_ref) if not r]
    toks = [tokens_out.get(e) for e in effects]
    hlo.return_([*toks, *keep, *new_z])
  results = list(while_op.results)
  if ntok:
    ctx.set_tokens_out(ctx.tokens_in.update_tokens(
        jp.TokenSet(dict(zip(effects, results[:ntok])))))
  return results[len(results) - ncarry:]


@_rule
def _scan_rule(ctx, *args, jaxpr, **params):
  """`scan` (and `fori_loop` with static bounds): JAX's rule, a `while` loop,
  but without discharging refs when the scan takes refs or its body creates
  them (see `jp.scan_rule_keeping_refs`)."""
  nc, nk = params["num_consts"], params["num_carry"]
  xs_avals = ctx.avals_in[nc + nk:]
  if _has_refs(xs_avals):
    return _scan_ref_xs(ctx, *args, jaxpr=jaxpr, **params)
  if not _has_refs(ctx.avals_in) and not jp.has_internal_refs(jaxpr):
    return jp.scan_p_default_rule()(ctx, *args, jaxpr=jaxpr, **params)
  return jp.scan_rule_keeping_refs()(ctx, *args, jaxpr=jaxpr, **params)


def _scan_ref_xs(ctx, *args, jaxpr, **params):
  """`lax.scan` over refs (a ref among `xs`): the body gets `ref.at[i]`. The
  refs become constants of the scan, and an iota its last `xs` (so `reverse`
  walks it backwards too); see `jp.scan_with_ref_xs_as_consts`."""
  nc, nk = params["num_consts"], params["num_carry"]
  avals = list(ctx.avals_in)
  xs_avals = avals[nc + nk:]
  is_ref = [jp.is_ref_aval(a) for a in xs_avals]
  try:
    body = jp.scan_with_ref_xs_as_consts(jaxpr, nc, nk, xs_avals)
  except NotImplementedError as e:
    raise EmitError(str(e)) from None
  consts, carry, xs = args[:nc], args[nc:nc + nk], args[nc + nk:]
  pick = lambda seq, want: [x for x, r in zip(seq, is_ref) if r == want]  # noqa: E731
  length = int(params["length"])
  i32 = ir.IntegerType.get_signless(32)
  iota = hlo.iota(ir.RankedTensorType.get([length], i32), 0)
  new_args = [*consts, *pick(xs, True), *carry, *pick(xs, False), iota]
  new_avals = [*avals[:nc], *pick(xs_avals, True), *avals[nc:nc + nk],
               *pick(xs_avals, False), jp.ShapedArray((length,), np.dtype(np.int32))]
  params = dict(params, num_consts=nc + sum(is_ref))
  if "linear" in params:
    params["linear"] = (False,) * len(new_args)
  return _scan_rule(ctx.replace(avals_in=new_avals), *new_args, jaxpr=body, **params)


@_rule
def _cond_rule(ctx, *args, branches, **params):
  """`cond`: JAX's rule, given only the tokens of the cond's own ordered
  effects. refhlo lowers `cond` inline (uncacheable, so that captured refs
  stay SSA values); on that path JAX's rule would replace the running token
  set with its own (a later ordered effect then finds no token)."""
  ordered = jp.ordered_effects_in(jp.join_effects(*(b.effects for b in branches)))
  sub = ctx.replace(tokens_in=ctx.tokens_in.subset(ordered), tokens_out=None)
  outs = jp.cond_p_default_rule()(sub, *args, branches=branches, **params)
  if sub.tokens_out is not None:
    ctx.set_tokens_out(ctx.tokens_in.update_tokens(sub.tokens_out))
  return outs


@_rule
def _jit_rule(ctx, *args, jaxpr, **params):
  """Nested `jax.jit`: inlined when it touches refs, else JAX's rule."""
  if not _has_refs(ctx.avals_in) and not _has_refs(
      [v.aval for v in jaxpr.jaxpr.constvars]):
    return jp.jit_p_default_rule()(ctx, *args, jaxpr=jaxpr, **params)
  consts = jp.ir_consts(jaxpr.consts, [v.aval for v in jaxpr.jaxpr.constvars])
  outs, tokens = jp.jaxpr_subcomp(
      ctx.module_context, jaxpr.jaxpr, ctx.name_stack.extend(params["name"]),
      ctx.tokens_in, consts, *args, dim_var_values=ctx.dim_var_values,
      const_lowering=ctx.const_lowering, outer_traceback=ctx.traceback)
  ctx.set_tokens_out(tokens)
  return outs


@_rule
def _closed_call_rule(ctx, *args, call_jaxpr, name="closed_call", backend=None):
  """`closed_call` (JAX's scan/fori lowering wraps bodies with ordered effects
  in one): inlined when it touches refs, so refs stay captured SSA values."""
  closed = jp.close_jaxpr(call_jaxpr)
  if not _has_refs(ctx.avals_in) and not _has_refs(
      [v.aval for v in closed.jaxpr.constvars]):
    return jp.closed_call_p_default_rule()(
        ctx, *args, name=name, backend=backend, call_jaxpr=call_jaxpr)
  consts = jp.ir_consts(closed.consts, [v.aval for v in closed.jaxpr.constvars])
  outs, tokens = jp.jaxpr_subcomp(
      ctx.module_context, closed.jaxpr, ctx.name_stack.extend(name),
      ctx.tokens_in, consts, *args, dim_var_values=ctx.dim_var_values,
      const_lowering=ctx.const_lowering, outer_traceback=ctx.traceback)
  ctx.set_tokens_out(tokens)
  return outs


@_rule
def _shard_map_rule(ctx, *in_nodes, jaxpr, mesh, in_specs, out_specs, check_vma,
                    newly_manual_axes):
  """`shard_map` with refs among its operands, lowered as JAX's GSPMD rule
  does (the full value to its shard with `Sharding` + `SPMDFullToShardShape`,
  the body in a manual axis context, back with `SPMDShardToFullShape`), with
  each ref crossing the boundary as a value: its whole contents read, a
  per-shard local ref for the body, and its per-shard final contents written
  back whole. Promotion makes that a chain of values from the donated
  buffer to its result, which XLA's partitioner keeps per device."""
  if not _has_refs(ctx.avals_in):
    with jp.gspmd_lowering():  # refhlo compiles with GSPMD, not Shardy
      return jp.shard_map_default_rule()(
          ctx, *in_nodes, jaxpr=jaxpr, mesh=mesh, in_specs=in_specs,
          out_specs=out_specs, check_vma=check_vma, newly_manual_axes=newly_manual_axes)
  sm = jp.shard_map_pieces()
  body_in = [v.aval for v in jaxpr.invars]
  body_out = [v.aval for v in jaxpr.outvars]
  with jp.gspmd_lowering():
    args, crossing = [], []
    for spec, outer, inner, x in zip(in_specs, ctx.avals_in, body_in, in_nodes):
      if jp.is_ref_aval(outer):
        full = RefGetOp.build(x).result
        local = sm._xla_shard(ctx, mesh, newly_manual_axes, spec, outer.inner_aval,
                              inner.inner_aval, full)
        local_ref = RefNewOp.build(local).result
        crossing.append((x, local_ref, spec, inner.inner_aval, outer.inner_aval))
        args.append(local_ref)
      else:
        args.append(sm._xla_shard(ctx, mesh, newly_manual_axes, spec, outer, inner, x))
    body_ctx = jp.manual_axis_context(ctx, mesh, newly_manual_axes)
    with sm._extend_axis_env(mesh, newly_manual_axes), jp.check_vma_context(check_vma):
      outs, tokens = jp.jaxpr_subcomp(
          body_ctx, jaxpr, ctx.name_stack.extend("shmap_body"), ctx.tokens_in, [],
          *args, dim_var_values=ctx.dim_var_values, const_lowering=ctx.const_lowering,
          outer_traceback=ctx.traceback)
    ctx.set_tokens_out(tokens)
    for ref, local_ref, spec, local_aval, full_aval in crossing:
      local = RefGetOp.build(local_ref).result
      RefSetOp.build(ref, sm._xla_unshard(ctx, mesh, newly_manual_axes, spec,
                                          local_aval, full_aval, local))
    return [sm._xla_unshard(ctx, mesh, newly_manual_axes, spec, inner, outer, o)
            for spec, inner, outer, o in zip(out_specs, body_out, ctx.avals_out, outs)]


def _overrides() -> list[tuple[Any, Any]]:
  return [
      (jp.get_p, _get_rule),
      (jp.swap_p, _swap_rule),
      (jp.addupdate_p, _addupdate_rule),
      (jp.new_ref_p, _new_ref_rule),
      (jp.empty_ref_p, _empty_ref_rule),
      (jp.freeze_p, _freeze_rule),
      (jp.free_ref_p, _free_ref_rule),
      (jp.while_p, _while_rule),
      (jp.scan_p, _scan_rule),
      (jp.cond_p, _cond_rule),
      (jp.jit_p, _jit_rule),
      (jp.closed_call_p, _closed_call_rule),
      (jp.shard_map_primitive(), _shard_map_rule),
  ]


def _check_ref_dtype(aval: Any) -> None:
  """The ref dialect holds integer, floating-point and bool elements."""
  dtype = aval.inner_aval.dtype
  if not jp.is_supported_ref_dtype(dtype):
    raise EmitError(
        f"a ref of {aval.inner_aval.str_short()} is not supported: refhlo's "
        f"refs hold integer, floating-point or bool elements, not {dtype}")


def _ref_ir_type(aval: Any) -> ir.Type:
  _check_ref_dtype(aval)
  inner = aval.inner_aval
  elt = jp.dtype_to_ir_type(inner.dtype)
  return ref_type(ir.RankedTensorType.get(list(inner.shape), elt))


# -- the module ------------------------------------------------------------------

def emit(closed_jaxpr: Any, const_sources: Sequence[tuple[str, int]] | None = None,
         *, platform: str | None = None, name: str = "main") -> Emitted:
  """Emits `closed_jaxpr` as a module whose public `@main` takes the jaxpr's
  invars followed by one argument per constant (refs as `!ref.ref<T>`).

  `const_sources[k]`, when given, may be ("arg", i): constant k is the same
  ref as flat argument i (a closed-over ref also passed in), and uses that
  argument's SSA value instead of an argument of its own.
  """
  jaxpr = closed_jaxpr.jaxpr
  consts = list(closed_jaxpr.consts)
  const_sources = list(const_sources or [("const", k) for k in range(len(consts))])
  for v in jaxpr.outvars:
    if jp.is_ref_aval(v.aval):
      raise EmitError("a function compiled by refhlo.jit cannot return a ref")
  context = prepare_context(jp.make_ir_context())
  platform = platform or jp.default_platform()
  with context, ir.Location.unknown(context):
    module = ir.Module.create()
    mctx = jp.make_module_context(context, module, _overrides(), platform)
    args: list[MainArg] = []

    def describe(aval: Any, source: tuple[str, int]) -> MainArg:
      if jp.is_ref_aval(aval):
        inner = aval.inner_aval
        return MainArg(source, True, tuple(inner.shape), np.dtype(inner.dtype))
      return MainArg(source, False, tuple(aval.shape), np.dtype(aval.dtype))

    uncacheable = [p for p, _ in _overrides()] + [jp.cond_p, jp.scan_p]
    with jp.ref_lowering(_ref_ir_type, uncacheable):
      for i, v in enumerate(jaxpr.invars):
        args.append(describe(v.aval, ("arg", i)))
      const_arg_pos: dict[int, int] = {}
      for k, (v, src) in enumerate(zip(jaxpr.constvars, const_sources)):
        if src[0] == "const":
          const_arg_pos[k] = len(args)
          args.append(describe(v.aval, ("const", src[1])))
      in_types = []
      for a, v in zip(args, list(jaxpr.invars) +
                      [jaxpr.constvars[k] for k in const_arg_pos]):
        (t,) = jp.aval_to_ir_types(mctx, v.aval)
        in_types.append(t)
      out_types = []
      for v in jaxpr.outvars:
        out_types.extend(jp.aval_to_ir_types(mctx, v.aval))
      ftype = ir.FunctionType.get(in_types, out_types)
      fn = func_dialect.FuncOp(name, ftype, ip=ir.InsertionPoint(module.body))
      fn.attributes["sym_visibility"] = ir.StringAttr.get("public")
      block = fn.add_entry_block()
      with ir.InsertionPoint(block):
        block_args = list(block.arguments)
        invals = block_args[:len(jaxpr.invars)]
        constvals = []
        for k, src in enumerate(const_sources):
          if src[0] == "arg":
            constvals.append(block_args[src[1]])
          else:
            constvals.append(block_args[const_arg_pos[k]])
        tokens = jp.TokenSet()
        ordered = jp.ordered_effects_in(jaxpr.effects)
        if ordered:
          tokens = jp.TokenSet({e: hlo.create_token() for e in ordered})
        outs, _ = jp.jaxpr_subcomp(
            mctx, jaxpr, jp.new_name_stack(), tokens, constvals, *invals,
            dim_var_values=[], const_lowering={}, outer_traceback=None)
        flat = []
        for o in outs:
          flat.extend([o] if isinstance(o, ir.Value) else list(o))
        func_dialect.ReturnOp(flat)
  return Emitted(module, context, args, len(jaxpr.outvars),
                 jp.module_host_callbacks(mctx), jp.module_keepalives(mctx))
