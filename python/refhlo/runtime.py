"""Running refhlo-compiled functions: tracing, compiling, caching, executing.

A call goes: flatten the arguments -> look the signature up in the cache
(abstract types of the leaves, static arguments, and which ref leaves are the
same `jax.Ref`) -> on a miss trace with JAX, emit the `ref` dialect
(`refhlo.emit`), run `ref-to-stablehlo` and compile with XLA
(`refhlo.compiler.xla`) -> execute with the written refs' buffers donated ->
rebind each such `jax.Ref` to its new buffer.

Everything that can fail (tracing, emission, the pipeline, XLA) happens
before any buffer is donated, so a failed call leaves every ref intact. The
run itself can still fail (docs/faults.md): programs with host callbacks, and
calls under jax_debug_nans/infs, run on copies of the written refs and rebind
them only after success; otherwise a failure reports, ref by ref, whether its
buffer survived (`_run_failure`).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import time
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from refhlo import _jax_private as jp
from refhlo import emit as emit_lib
from refhlo.errors import (PlacementUnsupported, RefhloError,
                           RefhloFloatingPointError, RefhloOverflowError,
                           RefhloRuntimeError, RefhloTypeError, RefhloValueError,
                           call_site, error_at_call, format_error, fun_name,
                           fun_where, in_jax_terms, located)


@dataclasses.dataclass(frozen=True)
class Stage:
  """A traced and emitted program, before the pipeline."""
  emitted: emit_lib.Emitted
  out_tree: Any
  consts: list[Any]          # closed-over values, by ("const", k)
  fun_name: str
  # Per constant: ("arg", u) when the closed-over ref is also the u-th unique
  # argument of the traced call, else ("const", k).
  const_sources: tuple[tuple[str, int], ...] = ()
  fun_where: tuple[str, int, int] | None = None
  # Results that are weak-typed (a Python scalar flowed into them), as
  # jax.jit's are.
  weak_outputs: tuple[int, ...] = ()
  # The user's names for the unique arguments (`x`, `params['w']`) and for
  # closed-over refs (None when not found): used by run-time errors.
  arg_names: tuple[str, ...] = ()
  const_names: tuple[str | None, ...] = ()
  # The traced program, re-run op by op when jax_debug_nans/infs finds a NaN.
  jaxpr: Any = None
  # Seconds spent tracing (JAX) and emitting the ref module.
  timings: dict[str, float] = dataclasses.field(default_factory=dict)

  @functools.cached_property
  def ref_text(self) -> str:
    """The emitted module, with locations (printed on first use: a compile
    never needs the text, `compile_stage` clones the module)."""
    return self.emitted.module.operation.get_asm(enable_debug_info=True)


@dataclasses.dataclass
class Executable:
  """A compiled program and how to call it."""
  stage: Stage
  lowered: Any                              # the ir.Module after ref-to-stablehlo
  xla: Any                                  # refhlo.compiler.xla.Compiled
  arg_sources: list[tuple[str, int]]        # per @main arg
  arg_is_ref: list[bool]
  arg_dtypes: list[np.dtype]
  ref_results: list[tuple[int, int]]        # (@main arg, result index)
  num_results: int
  # (k, closed-over ref k, unique arg index it was traced as, or -1): a call
  # may use this executable only if its arguments alias the closed-over refs
  # the same way (see `const_aliasing_matches`).
  const_refs: tuple[tuple[int, Any, int], ...] = ()
  # The program calls back into Python (jax.debug.print/callback, io_callback,
  # pure_callback): it runs on copies of the written refs (docs/faults.md).
  has_host_callbacks: bool = False
  # Compiled for a device chosen by `device=`/`backend=`: arrays are moved
  # there and refs must live there.
  placed: bool = False
  # How `execute` fetches each argument (`_input_plan`, on first use).
  plan: tuple[tuple[Any, ...], ...] | None = None
  # The call specialised to this executable's signature (`fast_path`), once
  # built; False when it needs the general path on every call.
  fast: Any = None
  # JAX result handlers for the outputs (`jp.result_handlers`, first run).
  out_handlers: list[Any] | None = None
  # Compiled for several devices (a sharded call), else None.
  spmd: Spmd | None = None
  # Seconds per stage of the first call: trace, emit, pipeline, xla.
  timings: dict[str, float] = dataclasses.field(default_factory=dict)

  @functools.cached_property
  def stablehlo_text(self) -> str:
    """The lowered module, with locations (printed on first use)."""
    with self.lowered.context:
      return self.lowered.operation.get_asm(enable_debug_info=True)


# -- signatures ------------------------------------------------------------------

_SCALAR_TYPES = (bool, int, float, complex, np.bool_, np.number)
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


class ArgumentOverflow(Exception):
  """`signature` found flat argument `index` too large for its JAX type."""

  def __init__(self, index: int, value: Any, reason: str):
    super().__init__(reason)
    self.index, self.value, self.reason = index, value, reason


def _leaf_signature(x: Any) -> Any:
  if isinstance(x, jp.Ref):
    return ("ref", x.shape, x.dtype, jp.sharding_key(jp.ref_buffer(x).sharding))
  if isinstance(x, jp.AbstractRef) or (isinstance(x, jax.ShapeDtypeStruct)
                                        and getattr(x, "is_ref", False)):
    # lower/trace only: no buffer to run on. Keyed as the ref it stands for
    # (on its sharding, else JAX's default device), so that the Compiled it
    # lowers to runs on real refs.
    sharding = jp.concrete_sharding(x) or jp.default_sharding()
    return ("ref", tuple(x.shape), np.dtype(x.dtype), jp.sharding_key(sharding))
  if isinstance(x, jax.Array):
    return (x.shape, x.dtype, x.weak_type,
            jp.sharding_key(x.sharding) if x.committed else None)
  if isinstance(x, np.ndarray):
    return (x.shape, x.dtype, False)
  if isinstance(x, _SCALAR_TYPES):
    if (isinstance(x, int) and not isinstance(x, bool)
        and not _INT32_MIN <= x <= _INT32_MAX):
      jp.typeof(x)  # OverflowError unless it fits (int64 with jax_enable_x64)
    return (type(x),)
  try:
    aval = jp.typeof(x)
  except TypeError:
    raise error_at_call(
        RefhloTypeError,
        f"refhlo.jit: argument of type {type(x).__name__} is not a valid JAX "
        f"type (arrays, scalars and jax.Ref are)") from None
  return (aval.shape, aval.dtype, getattr(aval, "weak_type", False))


@dataclasses.dataclass(frozen=True)
class Spmd:
  """A call whose arguments are sharded (or replicated) over several devices:
  compiled for all of them as one SPMD program, as `jax.jit` compiles it.
  `arg_shardings[u]` is the sharding of unique argument u and
  `const_shardings[k]` that of closed-over ref k (None: not committed to any
  device, so replicated); `mesh` is their one mesh, when they have one."""
  devices: tuple[Any, ...]
  arg_shardings: tuple[Any, ...]
  const_shardings: tuple[Any, ...]
  mesh: Any = None
  # Per (flat) result of the function: the sharding `out_shardings=` asks
  # for, or None (XLA's choice, or the traced type's with Explicit axes).
  out_shardings: tuple[Any, ...] = ()

  def sharding_of(self, source: tuple[str, int]) -> Any:
    kind, k = source
    s = (self.arg_shardings if kind == "arg" else self.const_shardings)[k]
    return s if s is not None else jp.replicated(self.devices, self.mesh)

  def result_sharding(self, k: int, aval: Any) -> Any:
    """The sharding result k must have (None: XLA chooses): the one asked
    for, else with Explicit mesh axes the one its traced type carries, as
    jax.jit gives it."""
    if k < len(self.out_shardings) and self.out_shardings[k] is not None:
      return self.out_shardings[k]
    return jp.typed_sharding(aval, self.mesh)


def with_shard_map_meshes(where: Any, stage: Stage, num_consts: int,
                          num_unique: int) -> Any:
  """The placement of a call whose program runs `shard_map` over a mesh:
  that mesh's devices, as jax.jit compiles it (uncommitted arguments are
  replicated over them). A `RefhloValueError`, before anything is compiled
  or donated, when the arguments are on other devices."""
  meshes = jp.shard_map_meshes(stage.jaxpr) if stage.jaxpr is not None else []
  concrete = [m for m in meshes if hasattr(m, "devices")]
  if not concrete:
    return where
  devices = tuple(concrete[0].devices.flat)
  if any(tuple(m.devices.flat) != devices for m in concrete):
    raise error_at_call(RefhloValueError, "refhlo.jit: the program's shard_maps "
                         "run over different meshes; nothing was compiled or donated")
  _check_same_devices(where, devices, "the shard_map's mesh is", ordered=False)
  if isinstance(where, Spmd):
    return where
  return Spmd(devices, (None,) * num_unique, (None,) * num_consts, concrete[0])


def _check_same_devices(where: Any, devices: tuple[Any, ...], what: str,
                        ordered: bool) -> None:
  """The arguments' placement (`placement`'s answer) against the `devices`
  that `what` ("out_shardings are", ...) needs (in the same order when
  `ordered`): a RefhloValueError,
  before anything is compiled or donated, when they differ (jax.jit raises a
  ValueError too)."""
  if isinstance(where, Spmd):
    same = (where.devices == devices if ordered
            else set(where.devices) == set(devices))
    if not same:
      raise error_at_call(
          RefhloValueError,
          f"refhlo.jit: the arguments are on devices {[d.id for d in where.devices]} "
          f"and {what} on {[d.id for d in devices]}; nothing was compiled or donated")
  elif where is not None and (len(devices) != 1 or devices[0] != where):
    raise error_at_call(
        RefhloValueError,
        f"refhlo.jit: the arguments are committed to {where} and {what} on "
        f"devices {[d.id for d in devices]} (jax.jit raises the same error); "
        "nothing was compiled or donated")


def with_out_shardings(where: Any, stage: Stage, out_shardings: Any,
                       num_consts: int, num_unique: int) -> Any:
  """The placement of a call whose results must have `out_shardings` (a
  sharding, None, or a pytree prefix of the results, as `jax.jit` takes):
  `where` (placement's answer) extended with them. Raises a
  `RefhloValueError`, before anything is compiled or donated, when the
  results' devices are not the arguments' (jax.jit raises one too)."""
  n = stage.emitted.num_results
  full = jax.tree_util.tree_unflatten(stage.out_tree, [0] * n)
  try:
    flat = jp.broadcast_prefix(out_shardings, full)
  except ValueError as e:
    raise error_at_call(RefhloValueError, f"refhlo.jit: out_shardings does not "
                         f"match the results' structure: {e}") from None
  try:
    flat = [None if s is None else jp.as_sharding(s) for s in flat]
  except ValueError as e:
    raise error_at_call(RefhloValueError, f"refhlo.jit: out_shardings: {e}") from None
  avals = list(stage.jaxpr.out_avals) if stage.jaxpr is not None else []
  for k, (s, aval) in enumerate(zip(flat, avals)):
    if s is None:
      continue
    try:
      s.check_compatible_aval(aval.shape)
      s.shard_shape(tuple(aval.shape))
    except (ValueError, TypeError) as e:
      raise error_at_call(
          RefhloValueError, f"refhlo.jit: out_shardings gives result {k} "
          f"({aval.str_short()}) the sharding {s}, which it cannot have: "
          f"{str(e).splitlines()[0]}; nothing was compiled or donated") from None
  given = [s for s in flat if s is not None]
  if not given:
    return where
  devices = jp.device_assignment(given[0])
  if any(jp.device_assignment(s) != devices for s in given):
    raise error_at_call(RefhloValueError, "refhlo.jit: out_shardings are over "
                         "different devices; put every result on the same devices, "
                         "as jax.jit requires")
  _check_same_devices(where, devices, "out_shardings are", ordered=True)
  if isinstance(where, Spmd):
    return dataclasses.replace(where, out_shardings=tuple(flat))
  return Spmd(devices, (None,) * num_unique, (None,) * num_consts,
              jp.mesh_of(given), tuple(flat))


def _committed_sharding(x: Any) -> tuple[Any, str] | None:
  if isinstance(x, jp.Ref):
    return jp.ref_buffer(x).sharding, "a ref"
  if isinstance(x, jax.Array) and x.committed:
    return x.sharding, "an array"
  if isinstance(x, (jax.ShapeDtypeStruct, jp.AbstractRef)):  # lower() only
    s = jp.concrete_sharding(x)
    return (s, "an abstract argument") if s is not None else None
  return None


def placement(leaves: Sequence[Any], consts: Sequence[Any] = ()) -> Any:
  """Where a call runs: the one device of its committed arrays and of the
  refs it takes or closes over (None when nothing is committed: JAX's
  default device), or a `Spmd` placement when they are sharded or
  replicated over several devices (`leaves`: the unique arguments, in
  order). Raises `RefhloValueError` for a placement refhlo cannot run
  (arguments on different device sets), before anything is compiled or
  donated."""
  committed = [_committed_sharding(x) for x in leaves]
  const_committed = [_committed_sharding(c) if isinstance(c, jp.Ref) else None
                     for c in consts]
  every = [c for c in committed + const_committed if c is not None]
  for s, what in every:
    if (len(s.device_set) == 1 and not isinstance(s, jax.sharding.SingleDeviceSharding)
        and not jp.all_axes_explicit(s)):
      # A mesh of one device with Auto axes: jax.jit gives each result the
      # sharding Shardy's propagation infers (`P('i')` for a read of a
      # `P('i')` ref), which refhlo cannot reproduce without partitioning.
      raise error_at_call(
          PlacementUnsupported,
          f"refhlo.jit: {what} has the sharding {s} over a mesh of one device "
          "with Auto axes, whose result shardings only jax.jit's propagation "
          "gives; nothing was compiled or donated")
  if any(len(s.device_set) > 1 or not isinstance(s, jax.sharding.SingleDeviceSharding)
         for s, _ in every):
    # Several devices, or a mesh of one device with Explicit axes (its
    # results' shardings are their types'): one SPMD program, as jax.jit
    # compiles it.
    return _spmd_placement(committed, const_committed)
  # Every committed sharding is on one device now: they must agree.
  device = None
  for sharding, _ in every:
    (d,) = sharding.device_set
    if device is None:
      device = d
    elif d != device:
      raise error_at_call(
          RefhloValueError,
          f"refhlo.jit: arguments are committed to different devices ({device} "
          f"and {d}); put them on one device (refs are updated in place where "
          "they are); nothing was compiled or donated")
  return device


def _spmd_placement(committed: list[Any], const_committed: list[Any]) -> Spmd:
  """The `Spmd` placement of a call with a sharded or replicated argument:
  every committed argument must be placed over the same devices, in the
  same order (as `jax.jit` requires)."""
  devices = None
  shardings = []
  for c in committed + const_committed:
    if c is None:
      continue
    sharding, what = c
    da = jp.device_assignment(sharding)
    if devices is None:
      devices = da
    elif da != devices:
      raise error_at_call(
          RefhloValueError,
          f"refhlo.jit: arguments are placed on different devices ({what} on "
          f"{len(da)} device(s) {[d.id for d in da]}, another on "
          f"{[d.id for d in devices]}); put them on the same devices, as jax.jit "
          "requires (refs are updated in place where they are); nothing was "
          "compiled or donated")
    shardings.append(sharding)
  return Spmd(tuple(devices), tuple(c[0] if c else None for c in committed),
              tuple(c[0] if c else None for c in const_committed),
              jp.mesh_of(shardings))


@functools.lru_cache(maxsize=256)
def _static_split(static_argnums: tuple[int, ...], n: int
                  ) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(dynamic positions, static positions) of `n` positional arguments
  (computed once per arity: this is the per-call path)."""
  nums = {i if i >= 0 else i + n for i in static_argnums}
  return (tuple(i for i in range(n) if i not in nums),
          tuple(i for i in sorted(nums) if 0 <= i < n))


def split_static(args: tuple[Any, ...], kwargs: dict[str, Any],
                 static_argnums: tuple[int, ...],
                 static_argnames: tuple[str, ...]
                 ) -> tuple[tuple[Any, ...], dict[str, Any], tuple[Any, ...]]:
  """(dynamic args, dynamic kwargs, hashable static key)."""
  if not static_argnums and not static_argnames:
    return args, kwargs, ()
  dyn_pos, static_pos = _static_split(static_argnums, len(args))
  dyn_args = tuple([args[i] for i in dyn_pos])
  static = tuple([(i, args[i]) for i in static_pos])
  if kwargs:
    dyn_kwargs = {k: v for k, v in kwargs.items() if k not in static_argnames}
    static += tuple(sorted((k, v) for k, v in kwargs.items()
                           if k in static_argnames))
  else:
    dyn_kwargs = kwargs
  try:
    hash(static)
  except TypeError:
    raise error_at_call(
        RefhloValueError,
        "refhlo.jit: static arguments must be hashable, got "
        f"{[type(v).__name__ for _, v in static]}") from None
  return dyn_args, dyn_kwargs, static


def signature(leaves: Sequence[Any], stop_at_tracer: bool = False
              ) -> tuple[Any, tuple[int, ...], list[int]] | None:
  """(leaf signatures, alias pattern, unique leaf index per leaf); with
  `stop_at_tracer`, None as soon as a leaf is a JAX tracer (the call is under
  an enclosing trace: checked here, in the loop over the leaves the
  signature makes anyway, to keep the per-call path to one pass).

  Raises `ArgumentOverflow` for a Python int that does not fit its JAX type
  (`overflow_error` turns it into the error the user sees). This is the
  per-call path: refs and `jax.Array`s (by exact type) take a fast branch
  with the same signature `_leaf_signature` gives them."""
  sig = []
  first: dict[int, int] = {}
  unique_of: list[int] = []
  pattern = []
  nuniq = 0
  ref_t, array_t, skey = jp.REF_TYPE, jp.ARRAY_TYPE, jp.sharding_key
  for x in leaves:
    t = type(x)
    if t is array_t:
      sig.append((x.shape, x.dtype, x.weak_type,
                  skey(x.sharding) if x._committed else None))
      unique_of.append(nuniq)
      nuniq += 1
      continue
    if t is ref_t:
      buf = x._refs._buf
      sig.append(("ref", buf.shape, buf.dtype, skey(buf.sharding)))
      is_ref = True
    elif t is float or t is bool or (t is int and _INT32_MIN <= x <= _INT32_MAX):
      sig.append((t,))
      unique_of.append(nuniq)
      nuniq += 1
      continue
    else:
      if stop_at_tracer and isinstance(x, jp.Tracer):
        return None
      try:
        sig.append(_leaf_signature(x))
      except OverflowError as e:
        raise ArgumentOverflow(len(sig), x, str(e)) from None
      is_ref = isinstance(x, jp.Ref)
    if is_ref:
      u = first.get(id(x))
      if u is None:
        u = first[id(x)] = nuniq
        nuniq += 1
      else:
        pattern.append((len(unique_of), u))
      unique_of.append(u)
    else:
      unique_of.append(nuniq)
      nuniq += 1
  return tuple(sig), tuple(pattern), unique_of


def overflow_error(fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any],
                   static_argnums: tuple[int, ...],
                   static_argnames: tuple[str, ...],
                   e: ArgumentOverflow) -> RefhloOverflowError:
  """The error for an argument too large for its JAX type, naming it as
  jax.jit does (`argument path is n`, `p['n']`)."""
  names = arg_names(fun, args, kwargs, static_argnums, static_argnames)
  name = names[e.index] if e.index < len(names) else f"leaf {e.index}"
  return error_at_call(
      RefhloOverflowError,
      f"refhlo.jit: an overflow was encountered while parsing an argument to "
      f"a jitted computation, whose argument path is {name}. Got "
      f"{type(e.value)} with value {e.value} ({e.reason})")


# -- tracing -----------------------------------------------------------------------

def arg_names(fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any],
               static_argnums: tuple[int, ...], static_argnames: tuple[str, ...]
               ) -> list[str]:
  """A readable name for every dynamic leaf: `x`, `params['w']`, ..."""
  try:
    params = list(inspect.signature(fun).parameters)
  except (TypeError, ValueError):
    params = []
  n = len(args)
  nums = {i if i >= 0 else i + n for i in static_argnums}
  names: list[str] = []
  for i, a in enumerate(args):
    if i in nums:
      continue
    base = params[i] if i < len(params) and params[i] not in ("args",) else f"args[{i}]"
    for path, _ in jax.tree_util.tree_flatten_with_path(a)[0]:
      names.append(base + jax.tree_util.keystr(path))
  for k in sorted(kwargs):  # the order tree_flatten gives a dict's leaves
    if k in static_argnames:
      continue
    v = kwargs[k]
    for path, _ in jax.tree_util.tree_flatten_with_path(v)[0]:
      names.append(k + jax.tree_util.keystr(path))
  return names


def trace(fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any],
          static_argnums: tuple[int, ...], static_argnames: tuple[str, ...]
          ) -> Stage:
  """Traces `fun` to a closed jaxpr and emits it (no pipeline yet)."""
  dyn_args, dyn_kwargs, _ = split_static(args, kwargs, static_argnums,
                                         static_argnames)
  leaves, in_tree = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
  _, _, unique_of = signature(leaves)
  nuniq = max(unique_of) + 1 if unique_of else 0
  unique = [None] * nuniq
  first_leaf: dict[int, int] = {}
  for leaf, (x, u) in enumerate(zip(leaves, unique_of)):
    unique[u] = x
    first_leaf.setdefault(u, leaf)
  names = arg_names(fun, args, kwargs, static_argnums, static_argnames)
  for leaf, x in enumerate(leaves):
    if isinstance(x, jp.Ref):
      _check_ref_argument(x, f"argument {names[leaf]}" if leaf < len(names)
                          else "an argument")
  out_store: dict[str, Any] = {}
  flat_fun = _flat_function(fun, args, kwargs, static_argnums, in_tree, unique_of,
                            names, out_store)
  stand_ins = [jp.stand_in_ref(x) if isinstance(x, jp.Ref) else
               jp.stand_in_for_abstract_ref(x) if isinstance(x, jp.AbstractRef) else x
               for x in unique]
  uniq_names = [names[first_leaf[u]] if first_leaf[u] < len(names) else ""
                for u in range(nuniq)]
  t_trace = time.perf_counter()
  closed = jp.dce_closed_jaxpr(jp.trace_for_jit(flat_fun, stand_ins, fun, uniq_names))
  t_emit = time.perf_counter()
  # A closed-over NumPy array is a constant of the trace, as under jax.jit:
  # a snapshot, so that mutating it later changes no call (every call read
  # the live array before).
  consts = [jp.snapshot_host_constant(c) for c in closed.consts]
  for c in consts:
    if isinstance(c, jp.Ref):
      name = _closed_over_name(fun, c)
      _check_ref_argument(c, f"closed-over ref '{name}'" if name else
                          f"a ref closed over by {fun_name(fun)}")
  sources = _const_sources(consts, unique)
  emitted = _emit(closed, sources, fun)
  weak = tuple(k for k, w in enumerate(jp.jit_out_weak_types(closed)) if w)
  unique_names = tuple(uniq_names[u] or f"argument {u}" for u in range(nuniq))
  const_names = tuple(_closed_over_name(fun, c) if isinstance(c, jp.Ref)
                      else None for c in consts)
  t_done = time.perf_counter()
  return Stage(emitted, out_store["tree"], consts, fun_name(fun),
               tuple(sources), fun_where(fun), weak, unique_names, const_names,
               closed, {"trace_s": t_emit - t_trace, "emit_s": t_done - t_emit})


def _flat_function(fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any],
                   static_argnums: tuple[int, ...], in_tree: Any,
                   unique_of: Sequence[int], names: Sequence[str],
                   out_store: dict[str, Any]) -> Callable:
  """`fun` as JAX traces it: flat, deduplicated dynamic leaves in (each
  distinct ref once), the static arguments put back in place, flat results
  out (their tree in `out_store["tree"]`); a returned ref is an error."""
  n = len(args)
  nums = {i if i >= 0 else i + n for i in static_argnums}

  def flat_fun(*uniq):
    full = [uniq[u] for u in unique_of]
    a, kw = jax.tree_util.tree_unflatten(in_tree, full)
    it = iter(a)
    call_args = [args[i] if i in nums else next(it) for i in range(n)]
    call_kwargs = dict(kwargs)
    call_kwargs.update(kw)
    out = fun(*call_args, **call_kwargs)
    flat, out_tree = jax.tree_util.tree_flatten(out)
    for path, x in jax.tree_util.tree_flatten_with_path(out)[0]:
      if isinstance(x, jp.Ref):
        passed = next((names[unique_of.index(u)] for u, t in enumerate(uniq) if t is x),
                      None)
        raise _returned_ref_error(fun, x, path, passed)
    out_store["tree"] = out_tree
    return flat

  return flat_fun


def _returned_ref_error(fun: Callable, x: Any, path: Any, passed: str | None
                        ) -> RefhloValueError:
  """The error for a ref among a function's results, in jax.jit's words (its
  users match on them), located at the function's return."""
  origin = "was created inside the function"
  site = jp.ref_creation_site(x)
  if site is not None:
    origin = f"was created on line {site}"
  closed_name = _closed_over_name(fun, x)
  if closed_name is not None:
    origin = f"is closed over as '{closed_name}'"
  if passed is not None:
    origin = f"was passed in as the argument {passed}"
  where = "" if not path else f" at output{jax.tree_util.keystr(path)}"
  line, others = _return_where(fun)
  if others:
    origin += (" (the function returns at lines "
               f"{', '.join(str(n) for n in others)})")
  if origin.startswith("was created"):
    where += " (created inside the function)"
  return RefhloValueError(format_error(
      f"function {fun_name(fun)} traced for jit returned a mutable array "
      f"reference of type {x.aval.str_short()}{where}, but mutable array "
      f"references cannot be returned (refhlo.jit).\n\nThe returned "
      f"mutable array {origin}.", line))


def _const_sources(consts: list[Any], unique: list[Any]) -> list[tuple[str, int]]:
  """Per closed-over value: ("arg", u) when it is a ref also passed as unique
  argument u, else ("const", k)."""
  arg_ids = {id(x): u for u, x in enumerate(unique) if isinstance(x, jp.Ref)}
  return [("arg", arg_ids[id(c)]) if isinstance(c, jp.Ref) and id(c) in arg_ids
          else ("const", k) for k, c in enumerate(consts)]


def _emit(closed: Any, sources: list[tuple[str, int]], fun: Callable) -> Any:
  """The ref module of a traced program; an emitter error becomes the
  RefhloError of its kind, located at the op (or the function)."""
  try:
    return emit_lib.emit(closed, sources)
  except emit_lib.EmitError as e:
    cls = {"type": RefhloTypeError, "value": RefhloValueError}.get(e.kind, RefhloError)
    if e.where is None:
      raise cls(format_error(e.message, fun_where(fun))) from None
    raise cls(str(e)) from None


def _check_ref_argument(ref: Any, what: str) -> None:
  """Rejects, at the call, a ref whose element type refhlo cannot hold."""
  inner = jp.typeof(ref).inner_aval
  dtype = getattr(inner, "dtype", None)
  if dtype is not None and not jp.is_supported_ref_dtype(dtype):
    raise error_at_call(
        RefhloTypeError,
        f"refhlo.jit: the {what} is a ref of {inner.str_short()}: refhlo's "
        f"refs hold integer, floating-point or bool elements, not "
        f"{inner.dtype}")


def _closed_over_name(fun: Callable, ref: Any) -> str | None:
  """The name under which `fun` closes over `ref` (a closure cell or a global
  it names), if any."""
  fn = inspect.unwrap(fun)
  code = getattr(fn, "__code__", None)
  if code is None:
    return None
  for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
    try:
      if cell.cell_contents is ref:
        return name
    except ValueError:  # empty cell
      continue
  globs = getattr(fn, "__globals__", {})
  for name in code.co_names:
    if globs.get(name) is ref:
      return name
  return None


def _return_where(fun: Callable
                  ) -> tuple[tuple[str, int, int] | None, list[int]]:
  """Where `fun` returns: (the location of its only `return` statement, [])
  or, when it has several, (its `def` line, [their line numbers]). Found from
  the source, on the error path only."""
  where = fun_where(fun)
  fn = inspect.unwrap(fun)
  code = getattr(fn, "__code__", None)
  if code is None or code.co_name == "<lambda>":
    return where, []
  try:
    lines, start = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(lines)))
  except (OSError, TypeError, SyntaxError):
    return where, []
  defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef,
                                                  ast.AsyncFunctionDef))]
  if not defs:
    return where, []
  indent = len(lines[0]) - len(lines[0].lstrip())
  returns: list[ast.Return] = []
  todo = list(defs[0].body)
  while todo:
    node = todo.pop()
    if isinstance(node, ast.Return):
      returns.append(node)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                         ast.ClassDef)):
      continue
    todo.extend(ast.iter_child_nodes(node))
  returns.sort(key=lambda n: n.lineno)
  if len(returns) == 1:
    r = returns[0]
    return (code.co_filename, start + r.lineno - 1, r.col_offset + indent), []
  return where, [start + r.lineno - 1 for r in returns]


# -- compiling ---------------------------------------------------------------------

def compile_stage(stage: Stage, *, options: dict[str, Any] | None = None,
                  backend: Any = None, device: Any = None) -> Executable:
  """Runs `ref-to-stablehlo` on the stage's module and compiles it (XLA
  `options` on top of refhlo's, for `backend`/`device`, JAX's default
  device when both are None)."""
  from refhlo.compiler import pipeline
  from refhlo.compiler import xla

  module = stage.emitted.module
  spmd = device if isinstance(device, Spmd) else None
  # Keep the emitted module pristine (Lowered.as_text("ref"), another
  # placement's compile): run the pipeline on a copy.
  with stage.emitted.context:
    from refhlo.compiler import irutil
    work = irutil.clone_module(module)
    if spmd is not None:
      _annotate_shardings(work, stage, spmd)
  t_pipeline = time.perf_counter()
  try:
    pipeline.run_pipeline(work, "ref-to-stablehlo")
  except pipeline.PipelineFailure as e:
    # The program is invalid (e.g. a write after jax.ref.freeze): JAX raises
    # ValueError for such programs.
    raise RefhloValueError(located(in_jax_terms(str(e)), stage.fun_where)) from None
  except pipeline.PipelineError as e:
    raise RefhloError(located(f"error: {e}", stage.fun_where)) from None
  t_xla = time.perf_counter()
  try:
    if spmd is not None:
      compiled = xla.compile_module(
          work, host_callbacks=stage.emitted.host_callbacks,
          options=options or None, backend=spmd.devices[0].client,
          devices=spmd.devices)
    else:
      if device is not None and backend is None:
        backend = device.client
      compiled = xla.compile_module(
          work, host_callbacks=stage.emitted.host_callbacks,
          options=options or None, backend=backend, device=device)
  except xla.XlaCompileError as e:
    raise RefhloError(located(str(e), stage.fun_where)) from None
  args = stage.emitted.args
  ref_results = []
  for i, a in enumerate(args):
    if a.is_ref and i in compiled.aliases:
      ref_results.append((i, compiled.aliases[i]))
  const_refs = tuple(
      (k, c, src[1] if src[0] == "arg" else -1)
      for k, (c, src) in enumerate(zip(stage.consts, stage.const_sources))
      if isinstance(c, jp.Ref))
  return Executable(stage, work, compiled, [a.source for a in args],
                    [a.is_ref for a in args], [a.dtype for a in args],
                    ref_results, stage.emitted.num_results, const_refs,
                    bool(stage.emitted.host_callbacks),
                    placed=(spmd is None and
                            compiled.device != compiled.backend.local_devices()[0]),
                    spmd=spmd,
                    timings={**stage.timings, "pipeline_s": t_xla - t_pipeline,
                             "xla_s": time.perf_counter() - t_xla})


def _annotate_shardings(module: Any, stage: Stage, spmd: Spmd) -> None:
  """Puts each @main argument's sharding on it (`mhlo.sharding`); the
  pipeline carries a ref's to the result it is donated to. Results whose
  sharding is fixed (out_shardings, Explicit types) get theirs too."""
  from jaxlib.mlir import ir

  from refhlo.compiler import irutil
  main = next(f for f in irutil.module_functions(module.operation)
              if irutil.func_name(f) == "main")
  sig = irutil.Signature.of(main)
  for a, d in zip(stage.emitted.args, sig.arg_attrs):
    d["mhlo.sharding"] = ir.StringAttr.get(
        jp.hlo_sharding_text(spmd.sharding_of(a.source), len(a.shape)))
  avals = list(stage.jaxpr.out_avals) if stage.jaxpr is not None else []
  for k, (aval, d) in enumerate(zip(avals, sig.res_attrs)):
    fixed = spmd.result_sharding(k, aval)
    if fixed is not None:
      d["mhlo.sharding"] = ir.StringAttr.get(jp.hlo_sharding_text(fixed, len(aval.shape)))
  sig.apply(main)


def const_aliasing_matches(exe: Executable, unique: Sequence[Any]) -> bool:
  """Whether the call's arguments alias `exe`'s closed-over refs as they did
  when it was traced (a closed-over ref also passed as an argument shares one
  buffer with it; one that is not must not)."""
  for _, c, traced_as in exe.const_refs:
    found = -1
    for u, x in enumerate(unique):
      if x is c:
        found = u
        break
    if found != traced_as:
      return False
  return True


# -- executing ---------------------------------------------------------------------

def _input_plan(exe: Executable) -> tuple[tuple[Any, ...], ...]:
  """Per @main argument, how `execute` fetches it, computed once per
  executable: (from the call's arguments?, index, is a ref?, dtype, a fast
  putter for a scalar argument or None)."""
  plan = []
  for src, is_ref, dtype, a in zip(exe.arg_sources, exe.arg_is_ref, exe.arg_dtypes,
                                   exe.stage.emitted.args):
    put = None
    if exe.spmd is not None and not is_ref:
      put = _spmd_putter(exe.spmd.sharding_of(src), dtype)
    elif not is_ref and a.shape == ():
      put = jp.scalar_putter(exe.xla.device, dtype)
    plan.append((src[0] == "arg", src[1], is_ref, dtype, put))
  return tuple(plan)


def _spmd_putter(sharding: Any, dtype: np.dtype) -> Callable[[Any], Any]:
  """Puts a non-ref argument of a sharded call where the program expects it:
  a committed array already is (the cache key holds its sharding); anything
  else is put with `sharding` (replicated when it was not committed)."""
  def put(x: Any) -> Any:
    if isinstance(x, jax.Array) and x.committed:
      return x if x.dtype == dtype else x.astype(dtype)
    return jax.device_put(np.asarray(x, dtype=dtype) if not isinstance(x, jax.Array)
                          else x.astype(dtype), sharding)
  return put


def execute(exe: Executable, unique: Sequence[Any]) -> Any:
  """Runs `exe` on the deduplicated dynamic leaves; rebinds written refs."""
  consts = exe.stage.consts
  inputs = []
  refs: dict[int, Any] = {}
  if exe.spmd is not None and exe.out_handlers is None:
    exe.out_handlers = _spmd_handlers(exe)
  plan = exe.plan
  if plan is None:
    plan = exe.plan = _input_plan(exe)
  array_t = jp.ARRAY_TYPE
  for i, (from_arg, k, is_ref, dtype, put) in enumerate(plan):
    x = unique[k] if from_arg else consts[k]
    if is_ref:
      refs[i] = x
      buf = jp.ref_buffer(x)
      if buf.is_deleted():
        raise error_at_call(
            RefhloError, f"the ref {_ref_name(exe, i)} passed to refhlo.jit "
            "has a deleted buffer (was it donated elsewhere, or lost by a "
            "failed call?)")
      if exe.placed and buf.devices() != {exe.xla.device}:
        raise error_at_call(
            RefhloValueError, f"the ref {_ref_name(exe, i)} lives on "
            f"{sorted(buf.devices(), key=str)}, but this function was compiled "
            f"for {exe.xla.device} (device=/backend=); refs are updated in place "
            "where they are, so move the ref there first")
      inputs.append(buf)
    elif put is not None and exe.spmd is not None:
      inputs.append(put(x))
    elif type(x) is array_t or isinstance(x, jax.Array):
      if exe.placed:
        x = jax.device_put(x, exe.xla.device)
      inputs.append(x if x.dtype == dtype else x.astype(dtype))
    elif put is not None:
      inputs.append(put(x))
    else:
      inputs.append(_put_array(x, dtype, exe.xla.device))
  if exe.has_host_callbacks or jp.debug_checks_enabled():
    outs = _execute_guarded(exe, inputs, refs, unique)
    for k in exe.stage.weak_outputs:
      outs[k] = jp.weak_typed(outs[k])
    return jax.tree_util.tree_unflatten(exe.stage.out_tree, outs[:exe.num_results])
  return _run(exe, inputs, refs)


def _run(exe: Executable, inputs: list[Any], refs: dict[int, Any]) -> Any:
  """The unguarded run: the written refs' buffers are donated to it and the
  refs rebound to the results; returns the function's outputs."""
  results = outs = None
  handlers = exe.out_handlers
  try:
    results = exe.xla.executable.execute_sharded(inputs)
    outs = _take_outputs(exe, results)
    for arg, res in exe.ref_results:
      jp.set_ref_buffer(refs[arg], outs[res])
  except BaseException as e:
    err = _run_failure(exe, refs, inputs, results, outs, e)
    if err is None:
      raise
    raise err from e
  if handlers is None:
    # The first run: outputs made one by one; later ones go through JAX's
    # result handlers (weak types included).
    exe.out_handlers = jp.result_handlers(outs, exe.stage.weak_outputs)
    for k in exe.stage.weak_outputs:
      outs[k] = jp.weak_typed(outs[k])
  return jax.tree_util.tree_unflatten(exe.stage.out_tree, outs[:exe.num_results])


# The fast path's answer when its guard fails: take the general path.
MISS = object()


def fast_path(exe: Executable, treedef: Any, static: tuple[Any, ...],
              sig: tuple[Any, ...], static_argnums: tuple[int, ...],
              static_argnames: tuple[str, ...]
              ) -> Callable[[tuple[Any, ...], dict[str, Any]], Any] | None:
  """A call of `exe` specialised to one signature (a monomorphic inline
  cache, as CPython's attribute caches): `fast(args, kwargs)` checks that
  the call has exactly the cache key `exe` was compiled for (pytree,
  static values, per leaf its type, shape, dtype, weak type and sharding)
  and no enclosing trace, and runs `exe` without building the key, looking
  it up or interpreting the input plan; it returns `MISS` when a check
  fails (then the general path decides). None for the executables that
  need the general path on every call: sharded, placed by `device=`, with
  closed-over refs (their aliasing is checked per call), with host
  callbacks (run on copies), with refs passed twice (the caller does not
  build one then)."""
  if (exe.spmd is not None or exe.placed or exe.const_refs
          or exe.has_host_callbacks or exe.out_handlers is None):
    return None
  if exe.plan is None:
    exe.plan = _input_plan(exe)
  array_t, ref_t, skey = jp.ARRAY_TYPE, jp.REF_TYPE, jp.sharding_key
  # Per leaf: (kind, expected...) with kind 0 array, 1 ref, 2 a scalar of
  # this exact type, 3 anything else (its full signature).
  checks = []
  for s in sig:
    if s[0] == "ref":  # its buffer is checked as an array with no weak type
      checks.append((1, s[1], s[2], (None, s[3])))
    elif len(s) == 4:
      checks.append((0, s[0], s[1], (s[2], s[3])))
    elif len(s) == 1 and isinstance(s[0], type):
      checks.append((2, s[0], None, None))  # a scalar (Python or NumPy)
    else:
      checks.append((3, s, None, None))
  checks = tuple(checks)
  n = len(checks)
  # Per leaf, the aval and sharding objects last found to match its
  # signature: a call with the same objects (a ref's buffer from the last
  # run, the same array) skips comparing their fields.
  seen_aval: list[Any] = [None] * n
  seen_sharding: list[Any] = [None] * n
  consts = exe.stage.consts
  device = exe.xla.device
  # Per @main argument: (from the call?, leaf index or closed-over value,
  # is a ref?, how to put a leaf that is not a jax.Array on the device).
  run_plan = []
  for i, (from_arg, k, is_ref, dtype, put) in enumerate(exe.plan):
    if not from_arg:
      # A closed-over value (not a ref: those take the general path), put
      # on the device once, as `execute` puts it on every call.
      x = consts[k]
      if isinstance(x, jax.Array):
        x = x if x.dtype == dtype else x.astype(dtype)
      else:
        x = put(x) if put is not None else _put_array(x, dtype, device)
      run_plan.append((False, x, False, None))
      continue
    kind, _, leaf_dtype, _ = checks[k]
    if kind == 0 and leaf_dtype != dtype:
      return None  # converted per call: the general path does it
    if kind in (2, 3) and put is None:
      put = functools.partial(_put_array, dtype=dtype, device=device)
    run_plan.append((True, k, is_ref, put if kind in (2, 3) else None))
  run_plan = tuple(run_plan)
  n_refs = sum(1 for from_arg, _, is_ref, _ in run_plan if from_arg and is_ref)
  flatten, tracing_now, debug_checks = (jax.tree_util.tree_flatten,
                                        jp.tracing_now, jp.debug_checks_enabled)
  has_static = bool(static_argnums or static_argnames)
  # The static values when all were passed by position: (position, value).
  positional_static = n_args = dyn_pos = None
  if has_static and all(type(i) is int for i, _ in static):
    n_args = len(static) + len(treedef.children()[0].children())
    dyn_pos, static_pos = _static_split(static_argnums, n_args)
    if static_pos == tuple(i for i, _ in static):
      positional_static = static
  int32_min, int32_max = _INT32_MIN, _INT32_MAX

  def fast(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if tracing_now() or debug_checks():
      return MISS
    if positional_static is not None and not kwargs and len(args) == n_args:
      # Static values by position only (the common case): compared in place,
      # of the same type (stricter than the cache key's equality: a miss
      # only costs the general path).
      for i, v in positional_static:
        a = args[i]
        if a is not v and (type(a) is not type(v) or a != v):
          return MISS
      args = tuple([args[i] for i in dyn_pos])
    elif has_static:
      try:
        args, kwargs, st = split_static(args, kwargs, static_argnums, static_argnames)
      except RefhloError:
        return MISS
      if st != static:
        return MISS
    leaves, td = flatten((args, kwargs))
    if td != treedef or len(leaves) != n:
      return MISS
    for j, (x, (kind, a, b, c)) in enumerate(zip(leaves, checks)):
      if kind <= 1:
        if kind == 1:
          if type(x) is not ref_t:
            return MISS
          x = x._refs._buf  # a ref's signature is its buffer's
        elif type(x) is not array_t:
          return MISS
        av = x.aval
        if av is not seen_aval[j]:  # else checked before (avals are immutable)
          if x.shape != a or x.dtype != b or (kind == 0 and x.weak_type != c[0]):
            return MISS
          seen_aval[j] = av
        if kind == 1 or x._committed:
          sh = x.sharding
          if sh is not seen_sharding[j]:
            if skey(sh) != c[1]:
              return MISS
            seen_sharding[j] = sh
        elif c[1] is not None:
          return MISS
      elif kind == 2:
        if type(x) is not a or (a is int and not int32_min <= x <= int32_max):
          return MISS
      else:
        try:
          if _leaf_signature(x) != a:
            return MISS
        except (RefhloError, OverflowError, TypeError):
          return MISS
    inputs = []
    refs = {}
    for i, (from_arg, k, is_ref, put) in enumerate(run_plan):
      if not from_arg:  # a closed-over value (not a ref)
        inputs.append(k)
        continue
      x = leaves[k]
      if is_ref:
        refs[i] = x
        buf = x._refs._buf
        if buf.is_deleted():
          return MISS  # the general path raises the error naming the ref
        inputs.append(buf)
      elif put is not None:
        inputs.append(put(x))
      else:
        inputs.append(x)
    if n_refs > 1 and len({id(r) for r in refs.values()}) != n_refs:
      return MISS  # a ref passed twice: another alias pattern, another key
    return _run(exe, inputs, refs)

  return fast


def _put_array(x: Any, dtype: np.dtype, device: Any) -> jax.Array:
  """A leaf that is not a jax.Array (a NumPy array) put where `execute`
  puts it."""
  return jax.device_put(np.asarray(x, dtype=dtype), device)


def _spmd_handlers(exe: Executable) -> list[Any]:
  """Result handlers of a sharded program: a donated ref's new buffer gets
  the ref's sharding, the other outputs the one XLA chose (over the
  arguments' mesh when they have one)."""
  spmd = exe.spmd
  avals = list(exe.stage.jaxpr.out_avals) if exe.stage.jaxpr is not None else []
  xla_out = exe.xla.executable.get_output_shardings()
  if xla_out is None:
    # One partition (a mesh of one device): every output is whole on it;
    # its sharding is the one asked for, the traced type's (Explicit axes)
    # or replicated.
    xla_out = [None] * (len(avals) + len(exe.ref_results))
  by_result = {res: arg for arg, res in exe.ref_results}
  weak = set(exe.stage.weak_outputs)
  handlers = []
  for k, op_sharding in enumerate(xla_out):
    if k in by_result:
      a = exe.stage.emitted.args[by_result[k]]
      handlers.append(jp.global_result_handler(a.shape, a.dtype, False,
                                               spmd.sharding_of(a.source)))
    else:
      aval = avals[k]
      sharding = spmd.result_sharding(k, aval)
      if sharding is None and op_sharding is not None:
        sharding = jp.sharding_from_xla(op_sharding, spmd.devices, spmd.mesh)
      elif sharding is None:
        sharding = jp.replicated(spmd.devices, spmd.mesh)
      handlers.append(jp.global_result_handler(aval.shape, aval.dtype, k in weak, sharding))
  return handlers


def _take_outputs(exe: Executable, results: Any) -> list[Any]:
  """The outputs of a run as jax.Arrays: through JAX's own result handlers
  (weak types included) once `exe.out_handlers` is built (after the first
  run), which makes no Python sharding object per output."""
  if exe.out_handlers is not None:
    return results.consume_with_handlers(exe.out_handlers)
  return [r[0] for r in results.disassemble_into_single_device_arrays()]


def _execute_guarded(exe: Executable, inputs: list[Any], refs: dict[int, Any],
                     unique: Sequence[Any]) -> list[Any]:
  """Runs `exe` on copies of the written refs' buffers and rebinds the refs
  only once the run has succeeded (and passed the jax_debug_nans/infs
  checks): used for programs with host callbacks, which run user Python code
  that may raise, and under the debug checks. Costs one device copy of each
  written ref per call."""
  run_inputs = list(inputs)
  for arg, _ in exe.ref_results:
    run_inputs[arg] = jp.copy_array(inputs[arg])
  results = outs = None
  try:
    results = exe.xla.executable.execute_sharded(run_inputs)
    outs = _take_outputs(exe, results)
    # A failure of an asynchronous run surfaces here, before any rebinding.
    jax.block_until_ready(outs)
  except BaseException as e:
    err = _run_failure(exe, refs, inputs, None, None, e)
    if err is None:
      raise
    raise err from e
  if jp.debug_checks_enabled():
    _check_special(exe, outs, unique)
  for arg, res in exe.ref_results:
    jp.set_ref_buffer(refs[arg], outs[res])
  return outs


def _ref_name(exe: Executable, arg: int) -> str:
  """The user's name for the ref that is @main argument `arg`."""
  kind, k = exe.arg_sources[arg]
  stage = exe.stage
  if kind == "arg":
    if k < len(stage.arg_names):
      return f"'{stage.arg_names[k]}'"
    return f"argument {k}"
  name = stage.const_names[k] if k < len(stage.const_names) else None
  if name is not None:
    return f"'{name}' (closed over)"
  aval = jp.typeof(stage.consts[k])
  return f"a ref of type {aval} closed over by {stage.fun_name}"


def _run_failure(exe: Executable, refs: dict[int, Any], inputs: list[Any],
                 results: Any, outs: list[Any] | None,
                 e: BaseException) -> RefhloRuntimeError | None:
  """After a run that raised `e`: leaves every written ref either updated
  (the run finished) or with its pre-call contents (its buffer was not
  consumed), else marks it as lost, and describes what happened to each.

  Returns the `RefhloRuntimeError` to raise for an `Exception`; for a
  `BaseException` that is not one (KeyboardInterrupt, SystemExit) adds the
  description to it as a note and returns None: it is re-raised as is."""
  if outs is None and results is not None:
    try:  # interrupted after the run finished, before its results were taken
      outs = _take_outputs(exe, results)
    except Exception:
      outs = None
  fates = []
  for arg, res in exe.ref_results:
    ref = refs[arg]
    name = _ref_name(exe, arg)
    if outs is not None:
      jp.set_ref_buffer(ref, outs[res])
      fates.append(f"{name} was updated (the run had finished)")
    elif jp.ref_buffer(ref) is inputs[arg] and not inputs[arg].is_deleted():
      fates.append(f"{name} keeps its pre-call contents")
    else:
      fates.append(
          f"{name} lost its contents: its buffer was donated to the failed run "
          f"and is deleted (the ref is invalid: using it raises; create a new "
          f"ref)")
  lines = [ln.strip() for ln in str(e).strip().split("\n") if ln.strip()]
  # A callback's failure: its first line, then the Python exception (last).
  what = " ... ".join(lines[:1] + lines[-1:] if len(lines) > 1 else lines)
  what = what or "no message"
  if not fates:
    refs_text = "no ref was written by the call"
  else:
    refs_text = "; ".join(fates)
  message = (f"the program compiled by refhlo.jit for {exe.stage.fun_name} "
             f"failed while running ({type(e).__name__}: {what}). Refs: "
             f"{refs_text}.")
  if not isinstance(e, Exception):
    if hasattr(e, "add_note"):  # Python >= 3.11
      e.add_note(format_error(message, call_site()))
    return None
  return error_at_call(RefhloRuntimeError, message)


def _special_kind(x: Any) -> str | None:
  """'nan' / 'inf' when `x` holds one and the matching debug flag is on."""
  if not jp.is_inexact_dtype(x.dtype):
    return None
  a = np.asarray(x)
  if jp.debug_nans_enabled() and np.isnan(a).any():
    return "nan"
  if jp.debug_infs_enabled() and np.isinf(a).any():
    return "inf"
  return None


def _check_special(exe: Executable, outs: list[Any],
                   unique: Sequence[Any]) -> None:
  """jax_debug_nans / jax_debug_infs, as jax.jit honours them: a NaN (Inf) in
  a result or a ref's new value raises FloatingPointError, after re-running
  the function de-optimized (op by op) to name the primitive that produced
  it. Runs before any ref is rebound: the refs keep their pre-call contents
  (the de-optimized re-run works on copies of them)."""
  found = []
  paths = jax.tree_util.tree_flatten_with_path(
      jax.tree_util.tree_unflatten(exe.stage.out_tree,
                                   list(range(exe.num_results))))[0]
  for path, k in paths:
    kind = _special_kind(outs[k])
    if kind is not None:
      found.append((kind, f"the result output{jax.tree_util.keystr(path)}"
                    if path else "the result"))
  for arg, res in exe.ref_results:
    kind = _special_kind(outs[res])
    if kind is not None:
      found.append((kind, f"the new value of ref {_ref_name(exe, arg)}"))
  if not found:
    return
  kind = found[0][0]
  where = ", ".join(w for _, w in found)
  detail, cause = _deoptimized_rerun(exe, unique)
  if detail is None:
    outcome = ("did not produce it (XLA's optimizations may have, or a "
               "NaN/Inf was passed in)" if cause is None else
               f"failed ({type(cause).__name__}) before finding it")
    detail = (f"invalid value ({kind}) encountered in the output of "
              f"{exe.stage.fun_name}; the function re-run de-optimized (op by "
              f"op, as jax.jit does) {outcome}")
  flag = "jax_debug_nans" if kind == "nan" else "jax_debug_infs"
  message = (f"{detail} [refhlo.jit with {flag}: found in {where}; every "
             f"ref keeps its pre-call contents]")
  raise error_at_call(RefhloFloatingPointError, message) from cause


def _deoptimized_rerun(exe: Executable, unique: Sequence[Any]
                       ) -> tuple[str | None, BaseException | None]:
  """Runs the traced program op by op on copies of the refs; returns the
  message of the FloatingPointError it raises and that error, (None, None)
  if it raises none, or (None, the error) if it fails otherwise."""
  stage = exe.stage
  if stage.jaxpr is None:
    return None, None
  copies: dict[int, Any] = {}

  def fresh(x: Any) -> Any:
    if not isinstance(x, jp.Ref):
      return x
    if id(x) not in copies:
      copies[id(x)] = jp.copy_ref(x)
    return copies[id(x)]

  try:
    jp.eval_jaxpr(stage.jaxpr, [fresh(c) for c in stage.consts],
                  *[fresh(x) for x in unique])
  except (FloatingPointError, ZeroDivisionError) as e:
    return str(e), e
  except Exception as e:  # the de-optimized run is best effort
    return None, e
  return None, None


def interpret_call(fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None,
                   static_argnums: tuple[int, ...] = ()) -> tuple[Any, dict[int, Any]]:
  """Traces and emits `fun(*args, **kwargs)` and runs the emitted ref module
  in the NumPy interpreter (a checking aid: tests and tools/fuzz.py compare it
  with XLA). Returns (the outputs as the function returns them, the
  interpreter's cell per ref argument or closed-over ref, by `id`); the refs
  themselves are left untouched."""
  from refhlo.compiler.interpreter import RefCell, interpret
  kwargs = kwargs or {}
  stage = trace(fun, args, kwargs, static_argnums, ())
  dyn_args, dyn_kwargs, _ = split_static(args, kwargs, static_argnums, ())
  leaves = jax.tree_util.tree_leaves((dyn_args, dyn_kwargs))
  _, _, unique_of = signature(leaves)
  unique = {u: x for x, u in zip(leaves, unique_of)}
  cells: dict[int, Any] = {}
  inputs = []
  for a in stage.emitted.args:
    x = unique[a.source[1]] if a.source[0] == "arg" else stage.consts[a.source[1]]
    if a.is_ref:
      cells[id(x)] = cells.get(id(x)) or RefCell(np.asarray(x[...]))
      inputs.append(cells[id(x)])
    else:
      inputs.append(np.asarray(x, dtype=a.dtype))
  results, _ = interpret(stage.emitted.module, "main", inputs)
  return jax.tree_util.tree_unflatten(stage.out_tree, results), cells
