"""Looked up by the MLIR bindings for ops of the `ref` dialect.

The bindings import `<search prefix>.<dialect namespace>` the first time they
wrap an op of a dialect; this module is that target (prefix
`refhlo.compiler.dialect`, namespace `ref`). The classes live in `ops`.
"""

from refhlo.compiler.dialect.ops import *  # noqa: F401,F403
