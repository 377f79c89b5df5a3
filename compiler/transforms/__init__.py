"""The pass registry: every pass and pipeline, by flag, loaded lazily.

`get_all_passes()` maps each flag to its `Pass` subclass or `PassPipeline`,
alphabetically. The registry is the package's modules (`_discover`): adding
a pass is adding its module, nothing else to list. A test checks that each
flag equals the pass's `NAME`, that each has a summary, a description with
IR and a lit test, and that docs/passes.md is generated from here.
"""

from __future__ import annotations

import importlib
import pkgutil

from refhlo.compiler.passes import Pass, PassPipeline


def _discover() -> dict[str, str]:
  """flag -> module: each module of this package whose name does not start
  with `_` defines one pass or pipeline (as `PASS`), and its flag is its
  name with `-` for `_` (`ref_verify.py` -> `ref-verify`). Listing the
  modules imports none of them; a test checks each `PASS.NAME` is its flag."""
  return {m.name.replace("_", "-"): m.name
          for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}


_PASS_MODULES: dict[str, str] = _discover()

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
