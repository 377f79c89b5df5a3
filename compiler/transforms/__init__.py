"""The pass registry: every pass and pipeline, by flag, loaded lazily.

`get_all_passes()` maps each flag to its `Pass` subclass or `PassPipeline`,
alphabetically. A test checks that each flag equals the pass's `NAME`, that
each has a summary, a description with IR and a lit test, and that
docs/passes.md is generated from here.
"""

from __future__ import annotations

import importlib

from refhlo.compiler.passes import Pass, PassPipeline

# flag -> module under refhlo.compiler.transforms defining it (as `PASS`).
_PASS_MODULES: dict[str, str] = {
    "ref-alias-analysis": "ref_alias_analysis",
    "ref-buffer-donation": "ref_buffer_donation",
    "ref-check-lowered": "ref_check_lowered",
    "ref-effect-analysis": "ref_effect_analysis",
    "ref-effect-elimination": "ref_effect_elimination",
    "ref-prepare-for-xla": "ref_prepare_for_xla",
    "ref-sparse-updates": "ref_sparse_updates",
    "ref-to-stablehlo": "ref_to_stablehlo",
    "ref-verify": "ref_verify",
}

_CACHE: dict[str, type[Pass] | PassPipeline] = {}


def pass_names() -> list[str]:
  return sorted(_PASS_MODULES)


def get_pass(name: str) -> type[Pass] | PassPipeline | None:
  """The pass or pipeline registered under `name`, or None."""
  if name not in _PASS_MODULES:
    return None
  if name not in _CACHE:
    module = importlib.import_module(f"{__name__}.{_PASS_MODULES[name]}")
    _CACHE[name] = module.PASS
  return _CACHE[name]


def get_all_passes() -> dict[str, type[Pass] | PassPipeline]:
  return {name: get_pass(name) for name in pass_names()}
