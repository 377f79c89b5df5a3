"""Creating MLIR contexts that know every dialect a ref program may contain.

The context holds the upstream dialects bundled in jaxlib (func, arith, ...),
StableHLO, CHLO and Shardy, and allows unregistered dialects because the `ref`
dialect exists only on the Python side (see docs/dialect.md).
"""

from __future__ import annotations

from jaxlib.mlir import ir
from jaxlib.mlir._mlir_libs import _jax_mlir_ext
from jaxlib.mlir.dialects import chlo, sdy, stablehlo

# Importing the dialect module registers the OpView classes and the dialect
# search prefix, so walking a module yields `RefGetOp` etc.
from refhlo.compiler.dialect import ops as _ops  # noqa: F401

_REGISTRY: ir.DialectRegistry | None = None


def _registry() -> ir.DialectRegistry:
  global _REGISTRY
  if _REGISTRY is None:
    _REGISTRY = ir.DialectRegistry()
    _jax_mlir_ext.register_dialects(_REGISTRY)
  return _REGISTRY


def make_context() -> ir.Context:
  """A new context with every dialect refhlo reads or writes loaded."""
  ctx = ir.Context()
  ctx.append_dialect_registry(_registry())
  ctx.load_all_available_dialects()
  stablehlo.register_dialect(ctx)
  chlo.register_dialect(ctx)
  sdy.register_dialect(ctx)
  ctx.allow_unregistered_dialects = True
  return ctx


def prepare_context(ctx: ir.Context) -> ir.Context:
  """Makes an existing context (e.g. one of JAX's) accept `ref` ops."""
  ctx.allow_unregistered_dialects = True
  return ctx
