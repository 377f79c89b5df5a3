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
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
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


def jit_p_default_rule() -> Callable:
  return mlir._lowerings[jit_p].rule


def closed_call_p_default_rule() -> Callable:
  return mlir._lowerings[closed_call_p].rule


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
