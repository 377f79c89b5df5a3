"""refhlo's compiler: the `ref` dialect, its analyses and passes, and ref-opt.

Imported as `refhlo.compiler`. It depends on the MLIR bindings inside jaxlib
(`jaxlib.mlir`) and never on `jax` itself at import time: `ref-opt` starts once
per lit test. Only `refhlo.compiler.xla` (the shared XLA compile helper)
imports jax, lazily, when it is used.
"""
