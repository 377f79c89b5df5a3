"""refhlo's XLA option policy: which XLA debug options a compile gets, per
platform, and when an option is left out (`compile_options`). The one place
where refhlo tunes XLA; each entry says why it is there and why it is safe
for what refhlo emits (docs/inplace.md has the campaigns behind them).
`refhlo.compiler.xla` compiles with these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jaxlib.mlir import ir

OptionValue = bool | int | float | str

PLATFORM_OPTIONS: Mapping[str, Mapping[str, OptionValue]] = {
    # Why it is here: XLA:CPU's default copy insertion keeps two whole-buffer
    # copies of a donated buffer that is read (dynamic_slice, gather, a
    # reduction) and then updated in place in the same computation, the swap
    # `old = ref[i]; ref[i] = new`: the read and the in-place update are
    # unordered in its dependency ordering, so it assumes they interfere. With
    # region analysis copy removal instead *forces* the order (read first) with
    # a control edge and drops the copies.
    #
    # Why it is safe only without loops: XLA:CPU's SmallWhileLoopHoistingPass,
    # which runs right after copy insertion, turns every small
    # `while` (< 1 KiB touched per iteration) into a call and drops the
    # while's control edges, so a loop that reads the buffer may then run
    # *after* the write it was ordered before (wrong results; the canary
    # tests `test_xla_region_analysis_loop_read` in test_differential.py).
    # No other pass between copy insertion and scheduling drops control edges,
    # and straight-line code and case/if were correct in every experiment.
    # So `compile_module` enables it only for modules without any
    # `stablehlo.while` (`region_analysis_is_safe`); the targeted campaign is
    # `tools/fuzz.py --kind ref --no-loops --force-region-analysis`
    # (docs/inplace.md has the counts).
    "cpu": {"xla_cpu_copy_insertion_use_region_analysis": True},
    # XLA:GPU has the same switch for the same copy-removal code (default off)
    # and no small-while hoisting, but refhlo has never run a differential
    # campaign on a GPU: not a tool until one passes. GPU runs XLA's defaults
    # (a read-then-write is copied, as under jax.jit).
    "gpu": {},
    # XLA:TPU: its compiler is not open source; XLA's defaults.
    "tpu": {},
}
"""XLA debug options added to every compile, per platform. The one place where
refhlo tunes XLA; `compile_module(..., default_options=False)` leaves them out.
Each entry says why it is there and why it is safe for what refhlo emits."""

REGION_ANALYSIS_OPTIONS = frozenset({
    "xla_cpu_copy_insertion_use_region_analysis",
    "xla_gpu_copy_insertion_use_region_analysis",
})
"""Defaults that `compile_module` leaves out of modules with a loop
(`region_analysis_is_safe`): XLA:CPU miscompiles a loop that reads a buffer
followed by an in-place write of it (see `PLATFORM_OPTIONS`)."""

_PLATFORM_ALIASES = {"cuda": "gpu", "rocm": "gpu"}


def platform_options(platform: str) -> dict[str, OptionValue]:
  """refhlo's XLA options for `platform` ('cpu', 'gpu'/'cuda'/'rocm', 'tpu')."""
  key = _PLATFORM_ALIASES.get(platform, platform)
  return dict(PLATFORM_OPTIONS.get(key, {}))


def compile_options(platform: str,
                    options: Mapping[str, OptionValue | None] | None = None,
                    *, default_options: bool = True) -> dict[str, OptionValue]:
  """The XLA options a compile uses: refhlo's platform defaults (unless
  `default_options=False`), then `options` on top (a value of None removes an
  option)."""
  merged: dict[str, Any] = platform_options(platform) if default_options else {}
  for k, v in (options or {}).items():
    if v is None:
      merged.pop(k, None)
    else:
      merged[k] = v
  return merged


def first_loop(module_op: ir.Operation) -> ir.Operation | None:
  """The first `stablehlo.while` anywhere in the module, or None."""
  found: list[ir.Operation] = []

  def visit(op: ir.Operation) -> ir.WalkResult:
    if op.name == "stablehlo.while":
      found.append(op)
      return ir.WalkResult.INTERRUPT
    return ir.WalkResult.ADVANCE

  module_op.walk(visit)
  return found[0] if found else None


def region_analysis_is_safe(module_op: ir.Operation) -> bool:
  """Whether XLA's region-based copy removal is safe for the module: it has no
  `stablehlo.while` at any depth, in any function (see `PLATFORM_OPTIONS`)."""
  return first_loop(module_op) is None


def options_for_module(platform: str, module_op: ir.Operation,
                       options: Mapping[str, OptionValue | None] | None = None,
                       *, default_options: bool = True
                       ) -> tuple[dict[str, OptionValue], list[str]]:
  """The XLA options a compile of `module_op` gets (`compile_options`), less
  the `REGION_ANALYSIS_OPTIONS` defaults when the module has a loop (an
  explicit `options=` entry is always kept), and why anything was left out,
  in the words `copy_report()` shows."""
  xla_opts = compile_options(platform, options, default_options=default_options)
  notes: list[str] = []
  defaults = REGION_ANALYSIS_OPTIONS - set(options or {})
  if default_options and any(n in xla_opts for n in defaults):
    loop = first_loop(module_op)
    if loop is not None:
      for name in defaults:
        xla_opts.pop(name, None)
      from refhlo.compiler import diagnostics  # pylint: disable=g-import-not-at-top
      fl = diagnostics.file_loc(loop.location)
      where = f" (at {fl.file}:{fl.line}:{fl.col})" if fl else ""
      notes.append(
          f"region-based copy removal was off: the program has a loop{where}, "
          "and XLA:CPU miscompiles loops with it (docs/inplace.md), so a ref "
          "read and then written in place is copied")
  return xla_opts, notes
