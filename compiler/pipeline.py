"""Pass pipelines: parse `builtin.module(a, b{opt=v}, canonicalize)`, build an
MLIR PassManager mixing refhlo's Python passes with upstream ones, run it.

refhlo's passes run at module level (jaxlib cannot nest a Python pass under
`func.func`); upstream passes may be nested (`func.func(canonicalize)`).
Registered pipelines (`ref-to-stablehlo`) expand into their elements, so
`--mlir-print-ir-after-all` and `--mlir-timing` see every step.
"""

from __future__ import annotations

import dataclasses
import gc
import re
import time

from jaxlib.mlir import ir, passmanager

from refhlo.compiler import diagnostics, transforms
from refhlo.compiler.dialect.types import memoized
from refhlo.compiler.passes import (Pass, PassError, PassFailure, PassPipeline,
                                    emit_error)


class PipelineError(ValueError):
  """A pipeline string that names an unknown pass or a bad option."""


@dataclasses.dataclass(frozen=True)
class Element:
  """One pipeline element: `name{options}` or `anchor(nested pipeline)`."""
  name: str
  options: dict[str, str]
  nested: str | None  # the text inside `anchor(...)`
  text: str


def split_top_level(text: str) -> list[str]:
  """Splits on commas outside (), {} and quotes."""
  parts, depth, cur, quote = [], 0, [], False
  for ch in text:
    if ch == '"':
      quote = not quote
    elif not quote and ch in "({":
      depth += 1
    elif not quote and ch in ")}":
      depth -= 1
      if depth < 0:
        raise PipelineError(f"unbalanced '{ch}' in pass pipeline '{text}'")
    if ch == "," and depth == 0 and not quote:
      parts.append("".join(cur))
      cur = []
    else:
      cur.append(ch)
  if depth != 0 or quote:
    raise PipelineError(f"unbalanced brackets in pass pipeline '{text}'")
  parts.append("".join(cur))
  return [p.strip() for p in parts if p.strip()]


_NAME_RE = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", re.S)


def parse_options(name: str, text: str) -> dict[str, str]:
  """`{a=1 b="x y" c}` -> {'a': '1', 'b': 'x y', 'c': ''}."""
  body = text.strip()[1:-1]
  out: dict[str, str] = {}
  for m in re.finditer(r'([A-Za-z0-9_\-]+)(?:\s*=\s*("(?:[^"]*)"|[^\s}]*))?|(\S+)', body):
    if m.group(3):
      raise PipelineError(f"cannot parse options '{text}' of pass '{name}'")
    val = m.group(2) or ""
    if val.startswith('"') and val.endswith('"') and len(val) >= 2:
      val = val[1:-1]
    out[m.group(1)] = val
  return out


def parse_element(text: str) -> Element:
  m = _NAME_RE.match(text)
  if not m:
    raise PipelineError(f"cannot parse pass pipeline element '{text}'")
  name, rest = m.group(1), m.group(2).strip()
  if not rest:
    return Element(name, {}, None, text)
  if rest.startswith("{") and rest.endswith("}"):
    return Element(name, parse_options(name, rest), None, text)
  if rest.startswith("(") and rest.endswith(")"):
    return Element(name, {}, rest[1:-1], text)
  raise PipelineError(f"cannot parse pass pipeline element '{text}'")


def parse_pipeline(text: str) -> list[Element]:
  """Parses a pipeline, with or without the `builtin.module(...)` anchor."""
  elements = [parse_element(t) for t in split_top_level(text)]
  if len(elements) == 1 and elements[0].name == "builtin.module" and \
      elements[0].nested is not None:
    return parse_pipeline(elements[0].nested)
  return elements


def _mentions_ref_pass(text: str) -> str | None:
  for name in transforms.pass_names():
    if re.search(rf"(?<![\w\-]){re.escape(name)}(?![\w\-])", text):
      return name
  return None


def _run_callback(p: Pass):
  """Wraps `p.run` for the PassManager: failures become diagnostics; the
  run's wall time is added to `p.wall_s`."""

  def run(op, pass_):
    t0 = time.perf_counter()
    try:
      # Every pass runs with the module's context (and location) current.
      with op.context, op.location, memoized():
        p.run(op)
    except PassError as e:
      emit_error(e.where, e.message)
      pass_.signal_pass_failure()
    except PassFailure:
      pass_.signal_pass_failure()
    except Exception as e:  # a bug in refhlo: report it, never abort
      p.crash = e  # ref-opt's crash reproducer tells a bug from a failure
      op.location.emit_error(
          f"internal error in pass '{p.NAME}': {type(e).__name__}: {e}")
      pass_.signal_pass_failure()
    finally:
      p.wall_s += time.perf_counter() - t0

  return run


def add_elements(pm: passmanager.PassManager, elements: list[Element],
                 _depth: int = 0) -> list[Pass]:
  """Adds parsed elements to `pm`, expanding registered pipelines.

  Returns the refhlo pass instances added, in order: their statistics and
  crashes are read after the run (upstream passes have no Python object).
  """
  added: list[Pass] = []
  if _depth > 16:
    raise PipelineError("registered pipelines nest too deeply")
  for el in elements:
    entry = transforms.get_pass(el.name)
    if isinstance(entry, PassPipeline):
      if el.options:
        raise PipelineError(f"pipeline '{el.name}' takes no options")
      added += add_elements(pm, [parse_element(t) for t in entry.ELEMENTS], _depth + 1)
      continue
    if entry is not None:
      if el.nested is not None:
        raise PipelineError(f"'{el.name}' is a pass, not an op anchor")
      try:
        p = entry.from_options(el.options)
      except ValueError as e:
        raise PipelineError(str(e)) from None
      pm.add(_run_callback(p), type(p).__name__, p.NAME, p.SUMMARY)
      added.append(p)
      continue
    if el.nested is not None:
      inner = _mentions_ref_pass(el.nested)
      if inner:
        raise PipelineError(
            f"pass '{inner}' runs on builtin.module and cannot be nested "
            f"under '{el.name}'")
    try:
      pm.add(el.text)
    except ValueError as e:
      msg = str(e).strip().splitlines()
      detail = msg[0] if msg else ""
      if "does not refer to a registered pass" in str(e):
        raise PipelineError(f"'{el.name}' does not refer to a registered pass "
                            f"or pass pipeline") from None
      raise PipelineError(f"invalid pass '{el.text}': {detail}") from None
  return added


def build_pass_manager(pipeline: str | list[Element],
                       context: ir.Context | None = None,
                       added: list[Pass] | None = None
                       ) -> passmanager.PassManager:
  """A PassManager anchored on builtin.module running `pipeline`; the refhlo
  pass instances it runs are appended to `added`, if given."""
  elements = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
  pm = passmanager.PassManager("builtin.module", context=context)
  passes = add_elements(pm, elements)
  if added is not None:
    added += passes
  return pm


class PipelineFailure(Exception):
  """Running a pipeline failed; `diagnostics` say why."""

  def __init__(self, diags: list[diagnostics.Diagnostic]):
    super().__init__("\n".join(diagnostics.format_diagnostic(d) for d in diags))
    self.diagnostics = diags


def run_pipeline(module: ir.Module | ir.Operation, pipeline: str, *,
                 verify_each: bool = False,
                 pass_times: dict[str, float] | None = None) -> None:
  """Runs `pipeline` on `module` in place; raises PipelineFailure on errors.

  MLIR's IR verifier runs once, on the pipeline's result, unless
  `verify_each` (then after every pass, as `ref-opt --verify-each` does by
  default, which names the pass that broke the IR). Verifying after each of
  `ref-to-stablehlo`'s eight elements cost ~4 us per ref op, more than some
  passes; the result is verified either way, so invalid IR never reaches
  XLA. `pass_times`, if given, receives each refhlo pass's wall time
  (seconds, by flag; upstream passes and the verifier are the rest)."""
  op = module.operation
  passes: list[Pass] = []
  pm = build_pass_manager(pipeline, context=op.context, added=passes)
  pm.enable_verifier(verify_each)
  # The passes allocate many short-lived objects and few cycles: Python's
  # cyclic GC would repeatedly traverse everything alive (~10% at 50k ops).
  gc_was_enabled = gc.isenabled()
  gc.disable()
  try:
    with memoized():  # shared by all passes of the run (see types.memoized)
      pm.run(op)
      if not verify_each:
        op.verify()
  except ir.MLIRError as e:
    raise PipelineFailure(diagnostics.from_error(e)) from None
  finally:
    if gc_was_enabled:
      gc.enable()
    if pass_times is not None:
      for p in passes:
        pass_times[p.NAME] = pass_times.get(p.NAME, 0.0) + p.wall_s
