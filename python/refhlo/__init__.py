"""refhlo: mutable array references (jax.Ref) compiled to in-place StableHLO.

`refhlo.jit` is the frontend; `refhlo.compiler` is the compiler (dialect,
passes, ref-opt). Importing `refhlo` does not import jax: `ref-opt` imports
`refhlo.compiler` and must start fast. `jit` is loaded on first use.
"""

__version__ = "0.1.0"


def __getattr__(name):
  if name in ("jit", "RefhloError", "RefhloTypeError", "RefhloValueError",
              "RefhloOverflowError", "RefhloRuntimeError",
              "RefhloFloatingPointError", "RefhloFallbackWarning"):
    from refhlo import api
    return getattr(api, name)
  raise AttributeError(f"module 'refhlo' has no attribute {name!r}")
