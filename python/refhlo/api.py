"""`refhlo.jit`: compile a JAX function that uses refs with refhlo.

Same calling convention as `jax.jit` (`static_argnums`, `static_argnames`,
pytrees of arrays, Python scalars and `jax.Ref`s in, pytrees out). The
function is traced with JAX, emitted into the `ref` dialect, lowered by the
`ref-to-stablehlo` pipeline and compiled by XLA; the refs it writes are
donated and updated in place. Stages are inspectable:

    lowered = f.lower(*args)
    lowered.as_text("ref")        # the emitted ref-dialect module
    lowered.as_text("stablehlo")  # after ref-to-stablehlo
    compiled = lowered.compile()
    compiled.memory_analysis(); compiled.as_text(); compiled.copy_report()

Beyond `jax.jit`: the same ref passed twice (or passed and closed over) is
allowed and runs with sequential semantics.

Errors. Everything refhlo rejects raises `RefhloError` (or its subclasses
`RefhloTypeError` / `RefhloValueError`, which are also `TypeError` /
`ValueError` like `jax.jit`'s) whose message is an MLIR diagnostic,
`file:line:col: error: ...`, at the user's source: the line of the offending
ref operation (emission and pipeline errors), the `return` statement that
returns a ref, the call of the compiled function (bad argument types,
unhashable static arguments, deleted ref buffers), else the function's `def`
line. Errors JAX raises while tracing the user's own code (e.g. `jnp.sin(ref)`,
a ref as a loop carry) propagate unchanged, as under `jax.jit`. Every check
and the whole compilation happen before any buffer is donated, so a failed
call leaves every ref's contents intact. A run that fails (a host callback
raising, out of memory) raises `RefhloRuntimeError` naming each written ref
and what happened to it; `jax_debug_nans`/`jax_debug_infs` raise
`RefhloFloatingPointError` and leave the refs as they were (docs/faults.md).
Results are weak-typed where jax.jit's are.

Executables are cached by the abstract signature of the arguments, the
static arguments, which ref arguments are the same `jax.Ref`, and which of
them are also refs the function closes over.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import jax
import numpy as np

from refhlo import _jax_private, compiler, errors, runtime
from refhlo.errors import (RefhloError, RefhloFallbackWarning, RefhloFloatingPointError,
                           RefhloOverflowError, RefhloRuntimeError, RefhloTypeError,
                           RefhloValueError)

__all__ = ["jit", "JitFunction", "Traced", "Lowered", "Compiled", "RefhloError",
           "RefhloTypeError", "RefhloValueError", "RefhloOverflowError",
           "RefhloRuntimeError", "RefhloFloatingPointError",
           "RefhloFallbackWarning"]



# Errors raised through refhlo's entry points (`_api`) show the user's frames
# and leave out refhlo's own, as JAX leaves out its own
# (`JAX_TRACEBACK_FILTERING=off` shows them all).
_jax_private.hide_frames_under(os.path.dirname(os.path.abspath(__file__)),
                               os.path.dirname(os.path.abspath(compiler.__file__)))
_api = _jax_private.api_boundary


def _as_tuple(x: int | str | Iterable[Any] | None) -> tuple[Any, ...]:
  if x is None:
    return ()
  if isinstance(x, (int, str)):
    return (x,)
  return tuple(x)


class Compiled:
  """A compiled refhlo program (one signature of a `refhlo.jit` function)."""

  def __init__(self, fn: JitFunction, exe: runtime.Executable, key: Any = None):
    self._fn = fn
    self._exe = exe
    self._key = key

  def memory_analysis(self) -> Any:
    """XLA's memory statistics (`temp_size_in_bytes`, `alias_size_in_bytes`, ...)."""
    return self._exe.xla.memory_analysis()

  def as_text(self) -> str:
    """XLA's optimized HLO."""
    return self._exe.xla.hlo_text()

  def copy_report(self, min_bytes: int | None = None) -> str:
    """One line per copy of a ref buffer that XLA inserted, in the user's
    terms: which ref (by its name in the function), the Python line of the
    op that caused it, why XLA copied, and what would avoid it, then the HLO
    instruction; empty when every write is in place.

    `min_bytes` defaults to the size of the smallest written ref (of its
    shard on one device, for a sharded call).
    """
    refs = self._written_refs()
    if min_bytes is None:
      min_bytes = min((nbytes for _, _, nbytes in refs), default=1 << 62)
    lines = []
    notes = tuple(self._exe.xla.notes)
    for c in self._exe.xla.copies(min_bytes):
      shape = c.shape.split("{")[0]
      names = [name for name, hlo_shape, _ in refs if hlo_shape == shape]
      who = (f"ref {names[0]}" if len(names) == 1 else
             f"one of the refs {', '.join(names)}" if names else f"a buffer {shape}")
      where = (f"copy of {c.size_bytes} bytes from {c.source or 'an unknown line'}"
               + (f" [{c.op_name}]" if c.op_name else ""))
      if notes:
        why = "; ".join(notes)
        avoid = ("keep the loop that reads the ref and the write in two refhlo.jit "
                 "calls (each is then in place), or carry what the loop needs in "
                 "its own carry (docs/inplace.md, rule 1)")
      else:
        why = ("XLA's copy insertion could not prove the update in place, e.g. a "
               "case/if branch other than the last modifies the ref")
        avoid = ("write the ref in the last branch only, or one window per "
                 "branch (docs/inplace.md, rule 3)")
      lines.append(f"{who}: {where}: {why}; to avoid it: {avoid} "
                   f"(HLO: {c.instruction} in {c.computation})")
    return "\n".join(lines)

  def _written_refs(self) -> list[tuple[str, str, int]]:
    """(user's name, HLO shape of its buffer on one device, bytes) of each
    ref the program writes."""
    spmd = self._exe.spmd
    out = []
    for arg, _ in self._exe.ref_results:
      a = self._exe.stage.emitted.args[arg]
      shape = tuple(a.shape) if spmd is None else tuple(
          spmd.sharding_of(a.source).shard_shape(tuple(a.shape)))
      prim = _HLO_PRIMITIVE.get(np.dtype(a.dtype).name, np.dtype(a.dtype).name)
      out.append((runtime._ref_name(self._exe, arg),  # pylint: disable=protected-access
                  f"{prim}[{','.join(str(d) for d in shape)}]",
                  int(np.dtype(a.dtype).itemsize * _prod(shape))))
    return out

  def stage_times(self) -> dict[str, float]:
    """Seconds each stage of compiling this program took: `trace_s` (JAX's
    tracing), `emit_s` (the ref module), `pipeline_s` (copying the module and
    running ref-to-stablehlo on it), `xla_s` (XLA's compile, from the module
    in memory: no text is printed or parsed on the way)."""
    return dict(self._exe.timings)

  def in_place_notes(self) -> tuple[str, ...]:
    """Why the compile left an in-place option out (e.g. region-based copy
    removal is off for programs with loops, docs/inplace.md); empty if none."""
    return tuple(self._exe.xla.notes)

  def donated_bytes(self) -> int:
    """Bytes of ref buffers donated (aliased to results) per call."""
    args = self._exe.stage.emitted.args
    return sum(int(args[i].dtype.itemsize * _prod(args[i].shape))
               for i, _ in self._exe.ref_results)

  def cost_analysis(self) -> Any:
    """XLA's cost estimates (flops, bytes accessed, ...), as
    `jax.stages.Compiled.cost_analysis`."""
    return self._exe.xla.executable.cost_analysis()

  @_api
  def __call__(self, *args: Any, **kwargs: Any) -> Any:
    """Runs this executable; arguments must match the signature it was
    compiled for (a `TypeError` otherwise, as for `jax.jit`'s `Compiled`)."""
    fast = self._fn._fast_path_of(self._exe, self._key)  # pylint: disable=protected-access
    if fast is not None:
      out = fast(args, kwargs)
      if out is not runtime.MISS:
        return out
    key, leaves, unique_of = self._fn._key(args, kwargs)  # pylint: disable=protected-access
    if key != self._key:
      raise TypeError(
          "Argument types differ from the types for which this computation was "
          "compiled: refhlo.jit's Compiled runs only the signature it was "
          "lowered for (call the refhlo.jit function itself to compile for "
          "other arguments)")
    unique = self._fn._unique(leaves, unique_of)  # pylint: disable=protected-access
    if self._exe.const_refs and not runtime.const_aliasing_matches(self._exe, unique):
      raise TypeError("the closed-over refs alias the arguments differently "
                      "from the call this computation was compiled for")
    return runtime.execute(self._exe, unique)


def _error_at_def(fun: Callable, message: str) -> RefhloValueError:
  """A RefhloValueError located at `fun`'s definition (MLIR's format)."""
  return RefhloValueError(errors.format_error(message, errors.fun_where(fun)))


_HLO_PRIMITIVE = {
    "bool": "pred", "int8": "s8", "int16": "s16", "int32": "s32", "int64": "s64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64",
    "complex64": "c64", "complex128": "c128",
}
"""NumPy dtype names -> XLA's primitive type names (as HLO shapes print them)."""


def _prod(shape: tuple[int, ...]) -> int:
  n = 1
  for d in shape:
    n *= d
  return n


class Lowered:
  """A traced and emitted refhlo program."""

  def __init__(self, fn: JitFunction, key: Any, stage: runtime.Stage,
               device: Any = None):
    self._fn = fn
    self._key = key
    self._stage = stage
    self._device = device
    self._exe: runtime.Executable | None = None

  def _executable(self) -> runtime.Executable:
    if self._exe is None:
      entries = self._fn._cache.setdefault(self._key, [])
      for exe in entries:
        if exe.stage.const_sources == self._stage.const_sources:
          break
      else:
        exe = self._fn._compile(self._stage, self._device)
        entries.append(exe)
      self._exe = exe
    return self._exe

  def as_text(self, dialect: str = "stablehlo", *, debug_info: bool = False,
              generic: bool = False) -> str:
    """`"ref"`: the emitted module, its `ref` ops in their pretty form
    (docs/dialect.md, "Assembly format"), or with `generic=True` in MLIR's
    generic form (what `ir.Module.parse` reads without
    `refhlo.compiler.dialect.asm.to_generic`); `"stablehlo"`: after
    `ref-to-stablehlo`."""
    if dialect == "ref":
      text = self._stage.ref_text
      if not debug_info:
        with self._stage.emitted.context:
          from jaxlib.mlir import ir
          text = ir.Module.parse(text).operation.get_asm(enable_debug_info=False)
      if generic:
        return text
      from refhlo.compiler.dialect import asm
      return asm.to_pretty(text)
    if dialect == "stablehlo":
      text = self._executable().stablehlo_text
      if debug_info:
        return text
      with self._stage.emitted.context:
        from jaxlib.mlir import ir
        return ir.Module.parse(text).operation.get_asm(enable_debug_info=False)
    if dialect == "hlo":
      return _jax_private.stablehlo_to_hlo_text(self._executable().stablehlo_text)
    raise ValueError(f"unknown dialect {dialect!r}: expected 'ref', 'stablehlo' or 'hlo'")

  def compiler_ir(self, dialect: str = "stablehlo") -> Any:
    """The module as an MLIR `ir.Module` (`"ref"` or `"stablehlo"`), in a
    context of its own; `"hlo"` gives the HLO text."""
    if dialect == "hlo":
      return self.as_text("hlo")
    from jaxlib.mlir import ir
    from refhlo.compiler.context import make_context
    text = self._stage.ref_text if dialect == "ref" else self._executable().stablehlo_text
    if dialect not in ("ref", "stablehlo"):
      raise ValueError(f"unknown dialect {dialect!r}: expected 'ref', 'stablehlo' or 'hlo'")
    return ir.Module.parse(text, context=make_context())

  @_api
  def compile(self) -> Compiled:
    return Compiled(self._fn, self._executable(), self._key)


class Traced:
  """A traced refhlo program (`JitFunction.trace`)."""

  def __init__(self, fn: JitFunction, key: Any, stage: runtime.Stage,
               device: Any = None):
    self._fn, self._key, self._stage, self._device = fn, key, stage, device

  @property
  def jaxpr(self) -> Any:
    """The closed jaxpr JAX traced the function to."""
    return self._stage.jaxpr

  @_api
  def lower(self) -> Lowered:
    return Lowered(self._fn, self._key, self._stage, self._device)


class JitFunction:
  """The callable `refhlo.jit(fun)` returns."""

  def __init__(self, fun: Callable, static_argnums: tuple[int, ...],
               static_argnames: tuple[str, ...],
               options: JitOptions | None = None):
    self._fun = fun
    self._options = options or JitOptions()
    if not callable(fun):
      raise TypeError(f"Expected a callable value, got {fun!r}")
    # Like jax.jit: a static parameter may be named by position or by name.
    nums, names = set(static_argnums), set(static_argnames)
    try:
      params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
      params = []
    for i, p in enumerate(params):
      if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
        continue
      if p.name in names:
        nums.add(i)
      elif i in nums and p.kind == p.POSITIONAL_OR_KEYWORD:
        names.add(p.name)
    self._static_argnums = tuple(sorted(nums))
    self._static_argnames = tuple(sorted(names))
    # signature -> executables; several only when closed-over refs are also
    # passed as arguments in some calls and not in others.
    self._cache: dict[Any, list[runtime.Executable]] = {}
    self._staged: Callable | None = None
    # The last call's executable specialised to its signature
    # (`runtime.fast_path`): tried first on every call.
    self._fast: Callable | None = None
    self._jax_fallback: set[Any] = set()  # keys run by jax.jit (_unsupported)
    # Name, docstring and `__wrapped__`, but not the wrapped object's
    # `__dict__` (for `refhlo.jit(refhlo.jit(f))` that would copy the inner
    # function's state over this one's).
    functools.update_wrapper(self, fun, updated=())
    # The jax.jit twin (staging under a trace, fallbacks), built now so that
    # arguments jax.jit rejects (`static_argnums` past the signature, bad
    # donation or sharding arguments) raise here with JAX's own errors.
    try:
      self._as_jax_jit()
    except (TypeError, ValueError) as e:
      # Raised from here, not from deep inside jax.jit (the traceback shows
      # where the user asked for it).
      raise type(e)(str(e)) from None

  def _key(self, args, kwargs, staged_ok: bool = False):
    """(cache key, dynamic leaves, unique leaf per leaf); with `staged_ok`,
    None when the call happens under an enclosing trace (one flatten for
    both questions: this is the per-call path)."""
    dyn_args, dyn_kwargs, static = runtime.split_static(
        args, kwargs, self._static_argnums, self._static_argnames)
    leaves, treedef = jax.tree_util.tree_flatten((dyn_args, dyn_kwargs))
    if staged_ok and _jax_private.tracing_now():
      return None
    try:
      signed = runtime.signature(leaves, stop_at_tracer=staged_ok)
    except runtime.ArgumentOverflow as e:
      raise runtime.overflow_error(self._fun, args, kwargs,
                                   self._static_argnums,
                                   self._static_argnames, e) from None
    if signed is None:  # an argument is a tracer: under an enclosing trace
      return None
    sig, pattern, unique_of = signed
    key = (treedef, static, sig, pattern)
    return key, leaves, unique_of

  @staticmethod
  def _unique(leaves, unique_of):
    n = max(unique_of) + 1 if unique_of else 0
    out = [None] * n
    for x, u in zip(leaves, unique_of):
      out[u] = x
    return out

  def _stage_into_trace(self, args, kwargs) -> Any:
    """Under an enclosing trace the function is staged into it, as `jax.jit`
    stages itself (a `jit` equation with the function's ref effects), never
    run at trace time. When the enclosing trace is another `refhlo.jit`,
    refhlo compiles the whole program; under `jax.jit`, `grad`, `vmap`, ...
    JAX's own rules apply, with `jax.jit`'s results."""
    return self._as_jax_jit()(*args, **kwargs)

  def _unsupported(self, leaves, stage: runtime.Stage | None = None) -> str | None:
    """Why refhlo cannot compile this call's placement (then `jax.jit` runs
    it), or None."""
    try:
      runtime.placement(leaves, stage.consts if stage is not None else ())
    except errors.PlacementUnsupported as e:
      return ("refhlo cannot compile this placement: "
              + str(e).split("refhlo.jit: ", 1)[-1].split(";")[0])
    return None

  def _as_jax_jit(self) -> Callable:
    """The `jax.jit` twin used to stage this function into a trace."""
    if self._staged is None:
      self._staged = jax.jit(self._fun, static_argnums=self._static_argnums,
                             static_argnames=self._static_argnames,
                             **self._options.jax_jit_kwargs())
    return self._staged

  def _place_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`in_shardings` applied to the dynamic positional arguments, as jax.jit
    applies them: an uncommitted array (or NumPy array, Python scalar) is
    put there; a ref or committed array must already have that sharding
    (else a `RefhloValueError`, as jax.jit raises a ValueError), since a
    ref is updated where it is; abstract arguments (`lower`) get it."""
    spec = self._options.in_shardings
    if spec is None or not args:
      return args
    n = len(args)
    static = {i if i >= 0 else i + n for i in self._static_argnums}
    dyn = [i for i in range(n) if i not in static]
    dyn_args = tuple(args[i] for i in dyn)
    try:
      flat = _jax_private.broadcast_prefix(
          tuple(spec) if isinstance(spec, list) else spec, dyn_args)
    except ValueError as e:
      raise _error_at_def(self._fun, "in_shardings does not match the positional "
                          f"arguments: {e}") from None
    leaves, tree = jax.tree_util.tree_flatten(dyn_args, is_leaf=lambda x: x is None)

    def name(k: int) -> str:
      """Leaf k's name for an error (computed only then: the per-call path)."""
      names = runtime.arg_names(self._fun, args, {}, self._static_argnums, ())
      j = sum(1 for x in leaves[:k] if x is not None)  # arg_names skips Nones
      return f"argument {names[j]}" if j < len(names) else f"argument {k}"

    placed = [self._place_one(x, s, lambda k=k: name(k))
              for k, (x, s) in enumerate(zip(leaves, flat))]
    out = list(args)
    for i, x in zip(dyn, jax.tree_util.tree_unflatten(tree, placed)):
      out[i] = x
    return tuple(out)

  def _place_one(self, x: Any, s: Any, name: Callable[[], str]) -> Any:
    if s is None or x is None:
      return x
    try:
      s = _jax_private.as_sharding(s)
    except ValueError as e:
      raise _error_at_def(self._fun, f"in_shardings: {e}") from None
    if isinstance(x, _jax_private.Ref):
      have = _jax_private.ref_buffer(x).sharding
    elif isinstance(x, jax.Array) and x.committed:
      have = x.sharding
    elif isinstance(x, (jax.ShapeDtypeStruct, _jax_private.AbstractRef)):
      have = _jax_private.concrete_sharding(x)
      if have is None:
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s,
                                    is_ref=isinstance(x, _jax_private.AbstractRef)
                                    or getattr(x, "is_ref", False))
    else:
      try:
        return jax.device_put(x, s)
      except (ValueError, TypeError) as e:
        raise _error_at_def(
            self._fun, f"in_shardings gives {name()} the sharding {s}, which it "
            f"cannot have: {str(e).splitlines()[0]}") from None
    if not have.is_equivalent_to(s, len(x.shape)):
      raise _error_at_def(
          self._fun, f"in_shardings gives {name()} the sharding {s}, but it has "
          f"{have} (jax.jit raises the same error; a ref is updated where it is, so "
          "it is never moved); nothing was compiled or donated")
    return x

  @_api
  def __call__(self, *args: Any, **kwargs: Any) -> Any:
    """Runs the function: compiled on the first call with these argument
    types, shapes, shardings and static values (and cached), refs updated
    in place. Under an enclosing trace (`jax.jit`, `grad`, `vmap`, another
    `refhlo.jit`) it is staged into that trace instead, as `jax.jit` is."""
    fast = self._fast
    if fast is not None:
      # The last call's executable, if this call has its signature.
      out = fast(args, kwargs)
      if out is not runtime.MISS:
        return out
    return self._call(args, kwargs)

  def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The general path: key, cache, compile, run."""
    if self._options.in_shardings is not None and not _jax_private.under_trace(
        jax.tree_util.tree_leaves((args, kwargs))):
      args = self._place_inputs(args)
    keyed = self._key(args, kwargs, staged_ok=True)
    if keyed is None:
      return self._stage_into_trace(args, kwargs)
    key, leaves, unique_of = keyed
    # No ref passed twice (the alias pattern, key[3], is empty): every leaf
    # is its own unique argument.
    unique = leaves if not key[3] else self._unique(leaves, unique_of)
    entries = self._cache.get(key)
    if entries is not None:
      for exe in entries:
        if not exe.const_refs or runtime.const_aliasing_matches(exe, unique):
          self._fast = self._fast_path_of(exe, key)  # tried first next call
          return runtime.execute(exe, unique)
    if key in self._jax_fallback:
      return self._as_jax_jit()(*args, **kwargs)
    stage = self._trace_or_fall_back(args, kwargs, leaves, "runs through jax.jit")
    if stage is None:
      self._jax_fallback.add(key)
      return self._as_jax_jit()(*args, **kwargs)
    exe = self._compile(stage, runtime.placement(unique, stage.consts))
    self._cache.setdefault(key, []).append(exe)
    return runtime.execute(exe, unique)

  def _fast_path_of(self, exe: runtime.Executable, key: Any) -> Callable | None:
    """`exe`'s fast path for `key` (`runtime.fast_path`, built once, on its
    second run, when its result handlers exist), or None when the call may
    not take one (`in_shardings` to apply, a ref passed twice)."""
    if exe.fast is None and exe.out_handlers is not None and key is not None:
      treedef, static, sig, pattern = key
      exe.fast = (not pattern and self._options.in_shardings is None
                  and runtime.fast_path(exe, treedef, static, sig,
                                        self._static_argnums,
                                        self._static_argnames)) or False
    return exe.fast or None

  def _compile(self, stage: runtime.Stage, device: Any = None) -> runtime.Executable:
    """Compiles for `device=`/`backend=` if given, else for `device` (where
    the arguments are; None: JAX's default device)."""
    o = self._options
    if o.device is not None or o.backend is not None:
      device = o.device
    if o.out_shardings is not None:
      device = runtime.with_out_shardings(device, stage, o.out_shardings,
                                          len(stage.consts), len(stage.arg_names))
    device = runtime.with_shard_map_meshes(device, stage, len(stage.consts),
                                           len(stage.arg_names))
    return runtime.compile_stage(stage, options=dict(o.compiler_options),
                                 backend=o.backend, device=device)

  @_api
  def eval_shape(self, *args: Any, **kwargs: Any) -> Any:
    """The shapes and dtypes of the results (`jax.ShapeDtypeStruct`s), without
    compiling or running anything, as `jax.jit(f).eval_shape`."""
    return jax.eval_shape(self._as_jax_jit(), *args, **kwargs)

  @_api
  def trace(self, *args: Any, **kwargs: Any) -> Traced:
    """Traces and emits the function for these arguments, like
    `jax.jit(f).trace(...)`: `.jaxpr` is the traced program, `.lower()` the
    next stage."""
    args = self._place_inputs(args)
    key, leaves, unique_of = self._key(args, kwargs)
    stage = runtime.trace(self._fun, args, kwargs, self._static_argnums,
                          self._static_argnames)
    return Traced(self, key, stage, runtime.placement(self._unique(leaves, unique_of),
                                                      stage.consts))

  @_api
  def lower(self, *args: Any, **kwargs: Any) -> Lowered:
    """Traces and emits the function for these arguments (arrays, refs, or
    their abstract stand-ins: `jax.ShapeDtypeStruct`, `jax.ref.AbstractRef`)
    without running it; `.compile()` is the next stage."""
    args = self._place_inputs(args)
    key, leaves, unique_of = self._key(args, kwargs)
    stage = self._trace_or_fall_back(args, kwargs, leaves, "is lowered by jax.jit")
    if stage is None:
      return self._as_jax_jit().lower(*args, **kwargs)
    return Lowered(self, key, stage, runtime.placement(self._unique(leaves, unique_of),
                                                      stage.consts))

  def _trace_or_fall_back(self, args, kwargs, leaves, what: str
                          ) -> runtime.Stage | None:
    """Traces the call, or returns None (after a `RefhloFallbackWarning`)
    when refhlo cannot compile it yet and jax.jit should (`_unsupported`)."""
    reason = self._unsupported(leaves)
    stage = None
    if reason is None:
      stage = runtime.trace(self._fun, args, kwargs, self._static_argnums,
                            self._static_argnames)
      reason = self._unsupported(leaves, stage)
    if reason is None:
      return stage
    warnings.warn(f"refhlo.jit: {getattr(self._fun, '__name__', 'the function')} "
                  f"{what}: {reason}", RefhloFallbackWarning, stacklevel=3)
    return None

  def clear_cache(self) -> None:
    """Drops this function's compiled executables (the next call compiles)."""
    self._cache.clear()
    self._fast = None


@dataclasses.dataclass(frozen=True)
class JitOptions:
  """The `jax.jit` keyword arguments besides the static ones."""
  donate_argnums: tuple[int, ...] = ()
  donate_argnames: tuple[str, ...] = ()
  keep_unused: bool = False
  device: Any = None
  backend: str | None = None
  inline: bool = False
  compiler_options: tuple[tuple[str, Any], ...] = ()
  in_shardings: Any = None
  out_shardings: Any = None

  def jax_jit_kwargs(self) -> dict[str, Any]:
    """What `jax.jit` gets when the function is staged into a trace."""
    kw: dict[str, Any] = {"donate_argnums": self.donate_argnums,
                          "donate_argnames": self.donate_argnames,
                          "keep_unused": self.keep_unused, "inline": self.inline}
    if self.device is not None:
      kw["device"] = self.device
    if self.backend is not None:
      kw["backend"] = self.backend
    if self.compiler_options:
      kw["compiler_options"] = dict(self.compiler_options)
    if self.in_shardings is not None:
      kw["in_shardings"] = self.in_shardings
    if self.out_shardings is not None:
      kw["out_shardings"] = self.out_shardings
    return kw


@_api
def jit(fun: Callable | None = None, *,
        static_argnums: int | Iterable[int] | None = None,
        static_argnames: str | Iterable[str] | None = None,
        donate_argnums: int | Iterable[int] | None = None,
        donate_argnames: str | Iterable[str] | None = None,
        keep_unused: bool = False,
        device: Any = None,
        backend: str | None = None,
        inline: bool = False,
        compiler_options: dict[str, Any] | None = None,
        in_shardings: Any = None,
        out_shardings: Any = None) -> Any:
  """Compiles `fun` with refhlo; usable as `@refhlo.jit` or
  `refhlo.jit(fun, static_argnums=...)` or `@refhlo.jit(static_argnums=...)`.

  The keyword arguments are `jax.jit`'s. `compiler_options` go to XLA (on
  top of refhlo's own, docs/inplace.md); `backend`/`device` choose where the
  program is compiled and run. `donate_argnums`/`donate_argnames` (for
  non-ref arguments; refs are always updated in place), `keep_unused` and
  `inline` are honoured when the function is staged into an enclosing trace
  and are hints otherwise: refhlo keeps every argument and does not delete
  donated non-ref arrays (donation never changes results). `in_shardings` /
  `out_shardings` mean what they mean to `jax.jit` (a sharding or a pytree
  prefix of the dynamic positional arguments / of the results): an
  uncommitted argument is put there, a ref or committed array must already
  be there (a ref is updated where it is, never moved), and the results get
  exactly the asked-for shardings (docs/devices.md).

  A swap of a row, in place:

  >>> import jax, jax.numpy as jnp, refhlo
  >>> @refhlo.jit
  ... def swap_row(r, i, row):
  ...   old = r[i]
  ...   r[i] = row
  ...   return old
  >>> r = jax.new_ref(jnp.zeros((4, 3)))
  >>> swap_row(r, 1, jnp.ones(3))
  Array([0., 0., 0.], dtype=float32)
  >>> r[...]
  Array([[0., 0., 0.],
         [1., 1., 1.],
         [0., 0., 0.],
         [0., 0., 0.]], dtype=float32)
  >>> compiled = swap_row.lower(r, 1, jnp.ones(3)).compile()
  >>> compiled.copy_report()  # empty: XLA copied no ref buffer
  ''
  >>> compiled.donated_bytes()  # the ref's 4 x 3 float32, updated in place
  48
  >>> sorted(compiled.stage_times())
  ['emit_s', 'pipeline_s', 'trace_s', 'xla_s']
  """
  nums = _as_tuple(static_argnums)
  names = _as_tuple(static_argnames)
  if device is not None and backend is not None:
    raise ValueError("can't specify both a device and a backend for jit, "
                     f"got device={device} and backend={backend}")
  options = JitOptions(
      donate_argnums=_as_tuple(donate_argnums),
      donate_argnames=_as_tuple(donate_argnames), keep_unused=bool(keep_unused),
      device=device, backend=backend, inline=bool(inline),
      compiler_options=tuple(sorted((compiler_options or {}).items())),
      in_shardings=in_shardings, out_shardings=out_shardings)
  if fun is None:
    return lambda f: JitFunction(f, nums, names, options)
  return JitFunction(fun, nums, names, options)
