"""Every use of JAX's private APIs by the frontend and runtime, in one place.

refhlo pins jax/jaxlib to one minor version (0.10.x). The frontend needs a few
internals that JAX does not export: the ref primitives (`get`, `swap`,
`addupdate`, `new_ref`, `empty_ref`, `freeze`, `free_ref`), the `NDIndexer`
they carry, the control-flow primitives, the MLIR lowering machinery
(`ModuleContext`, `jaxpr_subcomp`, lowering-rule overrides) and the buffer
behind a `jax.Ref`. Importing them here, and only here, means a JAX upgrade
touches this module alone.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import numpy as np
from jax._src import config as _config
from jax._src import core
from jax._src import pjit as _pjit
from jax._src import sharding_impls
from jax._src import source_info_util
from jax._src import xla_bridge
from jax._src.interpreters import mlir
from jax._src.lax.control_flow import conditionals as _conditionals
from jax._src.lax.control_flow import loops as _loops
from jax._src.state import indexing
from jax._src.state import primitives as state_primitives
from jax._src.state import types as state_types
from jaxlib.mlir import ir

# refhlo's own frames (the tracing wrapper) are not the user's: keep them out
# of the MLIR locations JAX builds from tracebacks.
source_info_util.register_exclusion(os.path.dirname(os.path.abspath(__file__)))

# -- types and primitives ------------------------------------------------------

Ref = core.Ref
AbstractRef = state_types.AbstractRef
ShapedArray = core.ShapedArray
Jaxpr = core.Jaxpr
ClosedJaxpr = core.ClosedJaxpr
Literal = core.Literal
Var = core.Var
NDIndexer = indexing.NDIndexer
Slice = indexing.Slice

get_p = state_primitives.get_p
swap_p = state_primitives.swap_p
addupdate_p = state_primitives.addupdate_p
new_ref_p = core.ref_p
empty_ref_p = core.empty_ref_p
freeze_p = core.freeze_p
free_ref_p = core.free_ref_p
while_p = _loops.while_p
scan_p = _loops.scan_p
cond_p = _conditionals.cond_p
jit_p = _pjit.jit_p
closed_call_p = core.closed_call_p

tree_unflatten = jax.tree_util.tree_unflatten


Tracer = core.Tracer


def tracing_now() -> bool:
  """Whether the current trace is not the eager one (a function that takes
  no arguments and closes over refs is traced this way under jit, grad, ...)."""
  return not isinstance(core.trace_ctx.trace, core.EvalTrace)


def under_trace(leaves: Sequence[Any]) -> bool:
  """Whether a call happens under an enclosing JAX trace (jit, grad, vmap,
  make_jaxpr, a loop body, ...): an argument is a tracer, or the current trace
  is not the eager one (a function that takes no arguments and closes over
  refs is traced this way)."""
  if any(isinstance(x, core.Tracer) for x in leaves):
    return True
  return tracing_now()


def is_ref_aval(aval: Any) -> bool:
  return isinstance(aval, AbstractRef)


def typeof(x: Any) -> Any:
  """The abstract value of a Python/JAX value (`core.typeof`)."""
  return core.typeof(x)


# -- the buffer behind a jax.Ref ------------------------------------------------

def ref_buffer(ref: Ref) -> jax.Array:
  """The jax.Array a (low-level) `jax.Ref` currently holds."""
  return ref._refs._buf


def set_ref_buffer(ref: Ref, buf: jax.Array) -> None:
  """Rebinds `ref` to a new buffer (after its old one was donated)."""
  ref._refs._buf = buf


def copy_array(x: jax.Array) -> jax.Array:
  """A copy of `x` in a new buffer, on the same devices and sharding."""
  return jax.device_put(x, may_alias=False)


def copy_ref(ref: Ref) -> Ref:
  """A new Ref of the same type holding a copy of `ref`'s contents."""
  return core.Ref(ref._aval, core.ArrayRefImpl(ref._aval,
                                                copy_array(ref_buffer(ref))))


def weak_typed(x: jax.Array) -> jax.Array:
  """`x` (same buffer) with a weak-typed aval, as jax.jit returns results
  that only Python scalars flowed into."""
  from jax._src import array
  return array.ArrayImpl(x.aval.update(weak_type=True), x.sharding, [x],
                         committed=x._committed, _skip_checks=True)


def debug_checks_enabled() -> bool:
  """`jax_debug_nans` or `jax_debug_infs` is on (JAX's own fast check)."""
  return _config.debug_nans.value or _config.debug_infs.value


def debug_nans_enabled() -> bool:
  return _config.debug_nans.value


def debug_infs_enabled() -> bool:
  return _config.debug_infs.value


def jit_out_weak_types(closed: ClosedJaxpr) -> list[bool]:
  """Which results of `closed` jax.jit returns weak-typed.

  jax.jit takes its result types from the state-discharged program, where a
  value read from a ref is the value last stored (stored values are
  converted to the ref's type, not weak) rather than a value of the ref's
  possibly weak type: discharge only ever turns weak into strong. Falls back
  to the jaxpr's own types where JAX cannot discharge the program.
  """
  weak = [getattr(a, "weak_type", False) for a in closed.out_avals]
  if not any(weak) or not (
      any(is_ref_aval(a) for a in closed.in_avals)
      or any(isinstance(c, Ref) for c in closed.consts)
      or has_internal_refs(closed)):
    return weak
  from jax._src.interpreters import pxla
  from jax._src.state import discharge
  try:
    moved, _ = pxla._move_mutable_consts(closed)
    avals = discharge.discharge_state(moved).out_avals
  except Exception:  # best effort: JAX's discharge rejects some programs
    return weak
  return [w and getattr(a, "weak_type", False) for w, a in zip(weak, avals)]


def eval_jaxpr(closed: ClosedJaxpr, consts: Sequence[Any], *args: Any) -> Any:
  """Evaluates a jaxpr op by op (eagerly): JAX's de-optimized re-run."""
  return core.eval_jaxpr(closed.jaxpr, consts, *args)


def is_supported_ref_dtype(dtype: Any) -> bool:
  """Element types the `ref` dialect holds: integers, floats, bool (not
  complex numbers, PRNG keys or other extended dtypes)."""
  from jax._src import dtypes
  return (not dtypes.issubdtype(dtype, dtypes.extended)
          and (dtypes.issubdtype(dtype, np.integer)
               or dtypes.issubdtype(dtype, np.floating)
               or dtypes.issubdtype(dtype, np.bool_)))


def is_inexact_dtype(dtype: Any) -> bool:
  """Floating-point or complex, bfloat16 and float8 types included."""
  from jax._src import dtypes
  return dtypes.issubdtype(dtype, np.inexact)


def ref_is_plain(ref: Ref) -> bool:
  """True for the array refs refhlo supports (not hijax refs)."""
  return (isinstance(ref._aval, AbstractRef)
          and isinstance(ref._aval.inner_aval, ShapedArray)
          and not ref._aval.inner_aval.is_high)


# -- source locations ----------------------------------------------------------

def user_frame_of(traceback: Any) -> tuple[str, int, int] | None:
  """(file, line, column) of the innermost user frame of a traceback."""
  if traceback is None:
    return None
  frame = source_info_util.user_frame(traceback)
  if frame is None:
    return None
  return frame.file_name, frame.start_line, frame.start_column


def eqn_user_frame(eqn: Any) -> tuple[str, int, int] | None:
  return user_frame_of(eqn.source_info.traceback)


# -- lowering ------------------------------------------------------------------

LoweringRuleContext = mlir.LoweringRuleContext
TokenSet = mlir.TokenSet
jaxpr_subcomp = mlir.jaxpr_subcomp
ir_constant = mlir.ir_constant
ir_consts = mlir.ir_consts
aval_to_ir_types = mlir.aval_to_ir_types
lower_fun = mlir.lower_fun


def make_ir_context() -> ir.Context:
  """JAX's MLIR context (every dialect JAX's lowering rules emit)."""
  return mlir.make_ir_context()


def default_platform() -> str:
  return xla_bridge.canonicalize_platform(xla_bridge.get_backend().platform)


def new_name_stack() -> Any:
  return source_info_util.new_name_stack()


def make_module_context(context: ir.Context, module: ir.Module,
                        overrides: Sequence[tuple[Any, Callable]],
                        platform: str) -> mlir.ModuleContext:
  """A lowering context whose rules for `overrides` replace JAX's."""
  params = mlir.LoweringParameters(
      override_lowering_rules=tuple(overrides),
      hoist_constants_as_args=False)
  backend = xla_bridge.get_backend(platform)
  return mlir.ModuleContext(
      platforms=(platform,), backend=backend,
      axis_context=sharding_impls.ShardingContext(1),
      keepalives=[], channel_iterator=itertools.count(1), host_callbacks=[],
      lowering_parameters=params, context=context, module=module)


@contextlib.contextmanager
def ref_lowering(ref_ir_type: Callable[[Any], ir.Type],
                 uncacheable: Sequence[Any]) -> Iterator[None]:
  """While active, JAX's lowering maps `AbstractRef` avals to `ref_ir_type`
  and lowers `uncacheable` primitives inline (so literal operands stay
  visible as constants and locations stay the user's)."""
  had = AbstractRef in mlir.ir_type_handlers
  old = mlir.ir_type_handlers.get(AbstractRef)
  added = [p for p in uncacheable if p not in mlir._uncacheable_primitives]
  mlir.ir_type_handlers[AbstractRef] = ref_ir_type
  mlir._uncacheable_primitives.update(added)
  try:
    yield
  finally:
    for p in added:
      mlir._uncacheable_primitives.discard(p)
    if had:
      mlir.ir_type_handlers[AbstractRef] = old
    else:
      del mlir.ir_type_handlers[AbstractRef]


def module_host_callbacks(ctx: mlir.ModuleContext) -> list[Any]:
  return list(ctx.host_callbacks)


def module_keepalives(ctx: mlir.ModuleContext) -> list[Any]:
  return list(ctx.keepalives)


def dtype_to_ir_type(dtype: Any) -> ir.Type:
  return mlir.dtype_to_ir_type(dtype)


def ordered_effects_in(effs: Any) -> list[Any]:
  from jax._src import effects
  return list(effects.ordered_effects.filter_in(effs))


def while_p_default_rule() -> Callable:
  return mlir._lowerings[while_p].rule


def scan_rule_keeping_refs() -> Callable:
  """`scan_p`'s lowering (JAX's `_scan_impl`, a `while` loop) without the
  state discharge JAX's `lower_fun` applies when the body creates refs.

  `mlir.lower_fun` discharges a traced rule whose jaxpr has internal ref
  effects (`jax.new_ref` in the body): every ref becomes a value and its final
  contents extra results. That turns a ref argument of the scan (an outer ref
  the body reads or writes) into surplus results and sends every access to a
  local ref through JAX's discharge rules (which reject multi-step views and
  zero-size strided slices). refhlo keeps refs as refs: the loop is lowered
  by the overridden rules (`while`, `closed_call`, the ref primitives).
  """
  from jax._src import api_util
  from jax._src import linear_util as lu
  from jax._src.interpreters import partial_eval as pe

  def rule(ctx: LoweringRuleContext, *args: Any, **params: Any) -> Any:
    fun = _loops._scan_impl
    wrapped = lu.wrap_init(fun, params, debug_info=api_util.debug_info(
        "scan", fun, args, {}))
    jaxpr, _, consts = pe.trace_to_jaxpr_dynamic(wrapped, ctx.avals_in,
                                                 lower=True)
    out, tokens = mlir.jaxpr_subcomp(
        ctx.module_context, jaxpr, ctx.name_stack, ctx.tokens_in,
        mlir.ir_consts(consts, [v.aval for v in jaxpr.constvars]), *args,
        dim_var_values=ctx.dim_var_values, const_lowering=ctx.const_lowering,
        outer_traceback=ctx.traceback)
    ctx.set_tokens_out(tokens)
    return out

  return rule


def has_internal_refs(jaxpr: Any) -> bool:
  """Whether a (closed) jaxpr creates refs (`jax.new_ref`/`jax.empty_ref`)."""
  return any(isinstance(e, core.InternalMutableArrayEffect)
             for e in jaxpr.effects)


def scan_p_default_rule() -> Callable:
  return mlir._lowerings[scan_p].rule


def join_effects(*effs: Any) -> Any:
  return core.join_effects(*effs)


def cond_p_default_rule() -> Callable:
  return mlir._lowerings[cond_p].rule


def jit_p_default_rule() -> Callable:
  return mlir._lowerings[jit_p].rule


def closed_call_p_default_rule() -> Callable:
  return mlir._lowerings[closed_call_p].rule


# -- shard_map (its GSPMD lowering, reused piece by piece for refs) --------------


def shard_map_primitive() -> Any:
  from jax._src import shard_map as _shard_map
  return _shard_map.shard_map_p


def shard_map_default_rule() -> Callable:
  return mlir._lowerings[shard_map_primitive()].rule


def gspmd_lowering():
  """A context in which JAX lowers sharding annotations as GSPMD's custom
  calls (`mhlo.sharding`), not Shardy's dialect: refhlo compiles with GSPMD."""
  return _config.use_shardy_partitioner(False)


def shard_map_pieces() -> Any:
  """JAX's GSPMD shard_map lowering helpers, 0.10.2: `_xla_shard(ctx, mesh,
  manual_axes, spec, aval_in, aval_out, x)` (full -> per-shard value),
  `_xla_unshard(...)` (the way back), the body's axis context and axis env."""
  from jax._src import shard_map as _shard_map
  return _shard_map


def check_vma_context(check_vma: bool):
  return _config._check_vma(check_vma)


def manual_axis_context(ctx: Any, mesh: Any, manual_axes: Any) -> Any:
  """The module context for a shard_map body: `manual_axes` manual."""
  sm = shard_map_pieces()
  return ctx.module_context.replace(axis_context=sharding_impls.SPMDAxisContext(
      sm._get_spmdaxis_ctx_mesh(mesh), manual_axes | set(mesh.manual_axes)))


def close_jaxpr(jaxpr: Any) -> ClosedJaxpr:
  """A `ClosedJaxpr` for a `Jaxpr` or `ClosedJaxpr` (call primitives take both)."""
  if isinstance(jaxpr, ClosedJaxpr):
    return jaxpr
  from jax._src.interpreters import partial_eval as pe
  return pe.close_jaxpr(jaxpr)


def stand_in_ref(ref: Ref) -> Ref:
  """A bufferless Ref of the same type, to trace with instead of `ref`.

  Tracing only looks at the type; a stand-in keeps JAX from refusing a ref
  that is both passed and closed over (refhlo gives that sequential semantics).
  """
  return core.Ref(ref._aval, core.ArrayRefImpl(ref._aval, None))


def dce_closed_jaxpr(closed: ClosedJaxpr) -> ClosedJaxpr:
  """Dead-code elimination as jax.jit does before lowering (an unused inner
  jit whose only effects are on refs it creates goes away); every input and
  constant is kept, so the calling convention does not change."""
  from jax._src.interpreters import partial_eval as pe
  jaxpr, _, _ = pe.dce_jaxpr_consts(
      closed.jaxpr, [True] * len(closed.jaxpr.outvars), instantiate=True)
  return ClosedJaxpr(jaxpr, closed.consts)


def shard_map_meshes(closed: Any) -> list[Any]:
  """The meshes of the `shard_map`s in a (closed) jaxpr, nested ones too."""
  jaxpr = closed.jaxpr if isinstance(closed, ClosedJaxpr) else closed
  out = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "shard_map":
      out.append(eqn.params["mesh"])
    for sub in core.jaxprs_in_params(eqn.params):
      out += shard_map_meshes(sub)
  return out


def ref_creation_site(tracer: Any) -> str | None:
  """`file:line (function)` of the `jax.new_ref` that made a traced ref, as
  jax.jit's returned-ref error names it; None when unknown."""
  try:
    frame = tracer._trace.frame
    v = tracer.val
    eqn = next((e for e in frame.get_eqns() if v in e.outvars), None)
  except AttributeError:
    return None
  if eqn is None:
    return None
  # Frames inside JAX are filtered out of the summary (`jax.jit(jax.new_ref)`).
  return source_info_util.summarize(eqn.source_info) or "(inside JAX's own code)"


def stand_in_for_abstract_ref(aval: Any) -> Ref:
  """A bufferless Ref of an `AbstractRef` type (`f.lower(AbstractRef(...))`:
  compile a ref program without allocating its refs)."""
  return core.Ref(aval, core.ArrayRefImpl(aval, None))


def stablehlo_to_hlo_text(stablehlo_text: str) -> str:
  """The HLO text of a StableHLO module, as `jax.jit(...).lower().as_text("hlo")`
  prints it (before XLA's optimizations)."""
  from jax._src.lib import _jax  # pylint: disable=g-import-not-at-top
  computation = _jax.mlir.mlir_module_to_xla_computation(
      stablehlo_text, use_tuple_args=False, return_tuple=False)
  return computation.as_hlo_text()


def scan_with_ref_xs_as_consts(jaxpr: ClosedJaxpr, num_consts: int, num_carry: int,
                               xs_avals: Sequence[Any]) -> ClosedJaxpr:
  """`scan`'s body for refs among the scanned-over `xs` (`lax.scan(f, c,
  ref)`): the body receives `ref.at[i]`, a view of the scanned ref. refhlo
  keeps refs as refs, so it cannot slice one as JAX's `_scan_impl` slices an
  array: the returned body takes those refs as extra constants (after the
  scan's own) and, as its last `xs`, the index `i` (the caller scans over an
  iota, which `reverse` walks backwards like the rest), and accesses
  `ref.at[i]` by prepending that indexer to each `get`/`swap`/`addupdate` of
  the per-iteration ref. Any other use of it (passing it to a nested call or
  loop) raises `NotImplementedError`.

  Signature: (consts, ref_xs, carry, other xs, i) -> the original outputs."""
  from jax._src.interpreters import partial_eval as pe

  body = jaxpr.jaxpr
  invars = body.invars
  consts_v = invars[:num_consts]
  carry_v = invars[num_consts:num_consts + num_carry]
  xs_v = invars[num_consts + num_carry:]
  xs_is_ref = [is_ref_aval(a) for a in xs_avals]
  ref_avals = [a for a in xs_avals if is_ref_aval(a)]
  ref_v = [v for v, r in zip(xs_v, xs_is_ref) if r]
  other_v = [v for v, r in zip(xs_v, xs_is_ref) if not r]
  access = {get_p, state_primitives.swap_p, state_primitives.addupdate_p}

  class _View:
    def __init__(self, ref: Any, i: Any):
      self.ref, self.i = ref, i

  def fun(*args: Any) -> list[Any]:
    nc, nr = num_consts, len(ref_v)
    cs, refs = args[:nc], args[nc:nc + nr]
    rest = args[nc + nr:]
    carry, others, i = rest[:num_carry], rest[num_carry:-1], rest[-1]
    env: dict[Any, Any] = {}
    for v, x in zip(jaxpr.jaxpr.constvars, jaxpr.consts):
      env[v] = x
    for vs, xs in ((consts_v, cs), (carry_v, carry), (other_v, others)):
      env.update(zip(vs, xs))
    for v, r in zip(ref_v, refs):
      env[v] = _View(r, i)

    def read(a: Any) -> Any:
      return a.val if isinstance(a, core.Literal) else env[a]

    for eqn in body.eqns:
      vals = [read(a) for a in eqn.invars]
      params = eqn.primitive.get_bind_params(eqn.params)
      if any(isinstance(x, _View) for x in vals):
        if eqn.primitive not in access or any(isinstance(x, _View) for x in vals[1:]):
          raise NotImplementedError(
              "a ref scanned over by lax.scan is used other than by reading or "
              f"writing it ({eqn.primitive.name})")
        view = vals[0]
        nval = 1 if eqn.primitive is get_p else 2
        leaves = vals[nval:]
        transforms = tree_unflatten(params["tree"], leaves)
        at = NDIndexer.from_indices_shape((view.i,), tuple(view.ref.shape))
        flat, tree = jax.tree_util.tree_flatten((at, *transforms))
        vals = [view.ref, *vals[1:nval], *flat]
        params = dict(params, tree=tree)
      name_stack = source_info_util.current_name_stack() + eqn.source_info.name_stack
      with (source_info_util.user_context(eqn.source_info.traceback,
                                          name_stack=name_stack), eqn.ctx.manager):
        outs = eqn.primitive.bind(*vals, **params)
      outs = outs if eqn.primitive.multiple_results else [outs]
      env.update(zip(eqn.outvars, outs))
    return [read(a) for a in body.outvars]

  from jax._src import api_util
  from jax._src import linear_util as lu
  in_avals = ([v.aval for v in consts_v] + list(ref_avals) +
              [v.aval for v in carry_v] + [v.aval for v in other_v] +
              [core.ShapedArray((), np.dtype(np.int32))])
  wrapped = lu.wrap_init(fun, debug_info=api_util.debug_info("scan", fun, in_avals, {}))
  new, _, consts = pe.trace_to_jaxpr_dynamic(wrapped, in_avals)
  return ClosedJaxpr(new, consts)



def hide_frames_under(*dirs: str) -> None:
  """Tracebacks that pass an `api_boundary` leave out frames from files under
  `dirs`, as JAX leaves out its own (`JAX_TRACEBACK_FILTERING`)."""
  from jax._src import traceback_util
  for d in dirs:
    d = os.path.abspath(d)
    if d not in traceback_util._exclude_paths:
      traceback_util.register_exclusion(d)


def api_boundary(fun: Callable) -> Callable:
  """JAX's traceback-filtering boundary (see `hide_frames_under`)."""
  from jax._src import traceback_util
  return traceback_util.api_boundary(fun)


def is_user_file(filename: str) -> bool:
  """Whether tracebacks keep frames of `filename` (not JAX's, not refhlo's)."""
  from jax._src import traceback_util
  return traceback_util.include_filename(filename)


def trace_for_jit(flat_fun: Callable, args: Sequence[Any], user_fun: Callable,
                  arg_names: Sequence[str]) -> ClosedJaxpr:
  """`jax.make_jaxpr(flat_fun)(*args)`, with the debug info `jax.jit(user_fun)`
  would have: JAX's tracing errors then name the user's function and its
  arguments (`arg_names`, one per arg), not refhlo's flattening wrapper."""
  from jax._src import api_util
  from jax._src import linear_util as lu
  from jax._src.interpreters import partial_eval as pe
  dbg = lu.DebugInfo("jit", api_util.fun_sourceinfo(user_fun), tuple(arg_names),
                     None)
  avals = [core.shaped_abstractify(x) for x in args]
  jaxpr, _, consts = pe.trace_to_jaxpr_dynamic(lu.wrap_init(flat_fun, debug_info=dbg),
                                               avals)
  return ClosedJaxpr(jaxpr, consts)


# Exact types of the per-call fast paths (`type(x) is ...`: an `isinstance`
# check on `jax.Ref` goes through JAX's Python-level metaclass hook).
REF_TYPE = core.Ref
from jax._src.array import ArrayImpl as ARRAY_TYPE  # noqa: E402


# Python scalar types whose device arrays `scalar_putter` may reuse.
_CACHED_SCALAR_TYPES = (float, int, bool)
_SCALAR_CACHE_SIZE = 256


def snapshot_host_constant(c: Any) -> Any:
  """A closed-over host array (NumPy, or JAX's TypedNdArray wrapping one,
  weak type kept) copied, so that mutating the user's array after tracing
  changes nothing, as under jax.jit; anything else as it is."""
  from jax._src.literals import TypedNdArray
  if isinstance(c, TypedNdArray):
    return TypedNdArray(np.array(c, copy=True), c.aval)
  if type(c) is np.ndarray:
    return c.copy()
  return c


def scalar_putter(device: Any, dtype: np.dtype) -> Callable[[Any], jax.Array]:
  """A function that puts a Python or NumPy scalar on `device` as a 0-d
  array of `dtype`, without `jax.device_put`'s general path (~5x faster; the
  per-call path of scalar arguments).

  The arrays made for Python scalars are kept (up to 256 per putter, then
  the cache starts over) and passed again for the same value: a constant
  passed on every call (a learning rate, a scale) is put once. Safe because
  refhlo never donates a non-ref argument (only refs' buffers) and XLA
  copies a parameter it returns; keyed by type and value, and for zero by
  its sign too (0.0 == -0.0)."""
  from jax._src.lib import xla_client as xc
  aval = core.ShapedArray((), dtype)
  sharding = jax.sharding.SingleDeviceSharding(device)
  devices = [device]
  put = xc.batched_device_put
  cache: dict[Any, jax.Array] = {}
  cached_types = _CACHED_SCALAR_TYPES

  def putter(x: Any) -> jax.Array:
    t = type(x)
    if t not in cached_types:
      return put(aval, sharding, [np.array(x, dtype=dtype)], devices)
    key = (t, x) if x else (t, x, math.copysign(1.0, x))
    arr = cache.get(key)
    if arr is None or arr.is_deleted():
      if len(cache) >= _SCALAR_CACHE_SIZE:
        cache.clear()
      arr = cache[key] = put(aval, sharding, [np.array(x, dtype=dtype)], devices)
    return arr
  return putter


_SingleDeviceSharding = jax.sharding.SingleDeviceSharding


def sharding_key(sharding: Any) -> Any:
  """A cheap hashable stand-in for `sharding` in a cache key: a one-device
  sharding (JAX builds a new object per `.sharding` access, hashed and
  compared in Python) is keyed by its device and memory kind; a
  NamedSharding by its mesh and its spec without trailing Nones."""
  if type(sharding) is _SingleDeviceSharding:
    return (sharding._device, sharding._memory_kind)
  if type(sharding) is jax.sharding.NamedSharding:
    # P('x') and P('x', None) are the same placement.
    spec = tuple(sharding.spec)
    while spec and spec[-1] is None:
      spec = spec[:-1]
    return ("named", sharding.mesh, spec, sharding.memory_kind)
  return sharding


def result_handlers(outs: Sequence[jax.Array], weak: Sequence[int]) -> list[Any]:
  """JAX's result handlers (`ExecuteResults.consume_with_handlers`) that turn
  an executable's output buffers into arrays like `outs` (their avals,
  shardings and commitment; the outputs numbered in `weak` weak-typed)."""
  from jax._src.interpreters import pxla
  weak = set(weak)
  return [pxla.global_aval_to_result_handler(
      o.aval.update(weak_type=True) if k in weak else o.aval, o.sharding,
      o._committed) for k, o in enumerate(outs)]


# -- several devices (SPMD) ------------------------------------------------------

def device_assignment(sharding: Any) -> tuple[Any, ...]:
  """The devices of `sharding` in its own order (the order XLA's partitions
  take): the device assignment `jax.jit` compiles a sharded call for."""
  return tuple(sharding._device_assignment)


def hlo_sharding_text(sharding: Any, ndim: int) -> str:
  """`sharding` for a value of rank `ndim`, in XLA's HLO sharding syntax (the
  string an `mhlo.sharding` attribute holds)."""
  return str(sharding._to_xla_hlo_sharding(ndim))


def mesh_of(shardings: Sequence[Any]) -> Any:
  """The one mesh of `shardings` when all are NamedShardings over it, else
  None."""
  if not all(isinstance(s, jax.sharding.NamedSharding) for s in shardings):
    return None
  meshes = {s.mesh for s in shardings}
  return next(iter(meshes)) if len(meshes) == 1 else None


def replicated(devices: Sequence[Any], mesh: Any) -> Any:
  """A sharding that replicates a value over `devices`."""
  from jax._src import sharding_impls
  if mesh is not None:
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  return sharding_impls.GSPMDSharding.get_replicated(devices)


def broadcast_prefix(prefix: Any, full: Any) -> list[Any]:
  """The leaves of `prefix` (None counts as a leaf) broadcast over the
  leaves of `full`, as jax.jit reads `in_shardings`/`out_shardings`;
  ValueError when `prefix` is not a prefix of `full`."""
  from jax._src import tree_util
  return tree_util.broadcast_prefix(prefix, full, is_leaf=lambda x: x is None)


def all_axes_explicit(sharding: Any) -> bool:
  """Whether `sharding` is a NamedSharding over a mesh whose axes are all
  Explicit (its values' types then carry their shardings)."""
  mesh = getattr(sharding, "mesh", None)
  return mesh is not None and bool(mesh.axis_types) and all(
      t == jax.sharding.AxisType.Explicit for t in mesh.axis_types)


def as_sharding(spec: Any) -> Any:
  """`spec` as a Sharding: a bare `PartitionSpec` is over the mesh of
  `jax.set_mesh` (as jax.jit reads it); ValueError without one."""
  if isinstance(spec, jax.sharding.PartitionSpec):
    from jax._src import mesh as _mesh
    mesh = _mesh.get_concrete_mesh()
    if mesh.empty:
      raise ValueError(f"a PartitionSpec ({spec}) needs a mesh: pass a "
                       "NamedSharding, or call under `jax.set_mesh(mesh)`")
    return jax.sharding.NamedSharding(mesh, spec)
  return spec


def typed_sharding(aval: Any, mesh: Any) -> Any:
  """The sharding an output's traced type carries over `mesh` (Explicit mesh
  axes put it in the type, and jax.jit gives it to the result), or None."""
  s = getattr(aval, "sharding", None)
  if mesh is None or s is None or getattr(s.mesh, "empty", True):
    return None
  if not any(t == jax.sharding.AxisType.Explicit for t in s.mesh.axis_types):
    return None  # Auto axes: the sharding is XLA's choice, not the type's
  return jax.sharding.NamedSharding(mesh, s.spec)


def sharding_from_xla(op_sharding: Any, devices: Sequence[Any], mesh: Any) -> Any:
  """A jax sharding for an output sharding XLA chose (`get_output_shardings`):
  over `mesh` when there is one (as jax.jit gives), else a GSPMDSharding."""
  from jax._src import sharding_impls
  from jax._src.lib import xla_client as xc
  gs = sharding_impls.GSPMDSharding(xc.DeviceList(tuple(devices)), op_sharding)
  if mesh is not None:
    try:
      return sharding_impls._gspmd_to_named_sharding_via_mesh(gs, mesh)
    except Exception:  # noqa: BLE001 -- not expressible over the mesh
      pass
  return gs


def global_result_handler(shape: Sequence[int], dtype: Any, weak: bool,
                          sharding: Any) -> Any:
  """JAX's handler that makes one global jax.Array from an output's
  per-device buffers."""
  from jax._src.interpreters import pxla
  aval = core.ShapedArray(tuple(shape), np.dtype(dtype), weak_type=weak)
  return pxla.global_aval_to_result_handler(aval, sharding, True)


def default_sharding() -> Any:
  """Where JAX puts a new array: its default device."""
  return jax.sharding.SingleDeviceSharding(jax.devices()[0])


def concrete_sharding(x: Any) -> Any:
  """The sharding of an abstract value (ShapeDtypeStruct, AbstractRef) when
  it names devices; None when it has none or only an abstract mesh's."""
  s = getattr(x, "sharding", None)
  if s is None:
    return None
  mesh = getattr(s, "mesh", None)
  if mesh is not None and (isinstance(mesh, jax.sharding.AbstractMesh) or mesh.empty):
    return None
  return s
