"""Diagnostics in MLIR's format: `file:line:col: error: message`.

MLIR reports errors through `ir.MLIRError` (parsing, verification, pass
failures); this module turns them into plain `Diagnostic` records and prints
them the way `mlir-opt`'s source-manager handler does, with the source line
and a caret when the source text is known.

jaxlib's bindings can only emit *errors* (`Location.emit_error`). Passes that
report warnings or remarks (an analysis's test mode, say) call
`emit_warning(op, msg)` / `emit_remark(op, msg)`: inside `collecting()` (which
`ref-opt` and `run_pipeline` use) the diagnostic is recorded and later printed
or matched by `--verify-diagnostics` (`expected-remark {{...}}`); outside, it
is printed to stderr at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jaxlib.mlir import ir


@dataclasses.dataclass(frozen=True)
class FileLoc:
  file: str
  line: int
  col: int


@dataclasses.dataclass(frozen=True)
class Diagnostic:
  severity: str  # "error" | "warning" | "note" | "remark"
  message: str
  loc: FileLoc | None = None
  notes: tuple[Diagnostic, ...] = ()


_SEVERITY = {
    "DiagnosticSeverity.ERROR": "error",
    "DiagnosticSeverity.WARNING": "warning",
    "DiagnosticSeverity.NOTE": "note",
    "DiagnosticSeverity.REMARK": "remark",
}

_FILE_LOC_RE = re.compile(r'"((?:[^"\\]|\\.)*)":(\d+):(\d+)')


def file_loc(loc: ir.Location) -> FileLoc | None:
  """The first file:line:col inside a (possibly fused/named/callsite) location."""
  if isinstance(loc, ir.FileLineColLoc):
    return FileLoc(loc.filename, loc.start_line, loc.start_col)
  m = _FILE_LOC_RE.search(str(loc))
  if not m:
    return None
  return FileLoc(m.group(1).encode().decode("unicode_escape"),
                 int(m.group(2)), int(m.group(3)))


def from_mlir(d) -> Diagnostic:
  """A `Diagnostic` from a `ir.DiagnosticInfo`/`ir.Diagnostic`."""
  severity = _SEVERITY.get(str(d.severity), "error")
  notes = tuple(from_mlir(n) for n in d.notes)
  return Diagnostic(severity, d.message, file_loc(d.location), notes)


def from_error(e: ir.MLIRError) -> list[Diagnostic]:
  diags = [from_mlir(d) for d in e.error_diagnostics]
  if not diags:
    diags = [Diagnostic("error", e.message)]
  return diags


def format_diagnostic(d: Diagnostic,
                      source_line: Callable[[str, int], str | None] | None = None,
                      file_alias: dict[str, str] | None = None) -> str:
  """`file:line:col: severity: message`, then the source line and a caret."""
  out = []
  if d.loc is not None:
    fname = (file_alias or {}).get(d.loc.file, d.loc.file)
    out.append(f"{fname}:{d.loc.line}:{d.loc.col}: {d.severity}: {d.message}")
    text = source_line(d.loc.file, d.loc.line) if source_line else None
    if text is not None:
      out.append(text.rstrip("\n"))
      out.append(" " * max(d.loc.col - 1, 0) + "^")
  else:
    out.append(f"{d.severity}: {d.message}")
  for n in d.notes:
    out.append(format_diagnostic(n, source_line, file_alias))
  return "\n".join(out)


def format_all(diags: Iterable[Diagnostic], **kw) -> str:
  return "\n".join(format_diagnostic(d, **kw) for d in diags)


# -- emitting warnings, remarks and notes from Python passes -----------------

_COLLECTORS: list[list[Diagnostic]] = []


@contextlib.contextmanager
def collecting() -> Iterator[list[Diagnostic]]:
  """Collects the diagnostics `emit_*` report while the block runs."""
  sink: list[Diagnostic] = []
  _COLLECTORS.append(sink)
  try:
    yield sink
  finally:
    _COLLECTORS.remove(sink)


def location_of(where: Any) -> ir.Location:
  """The location of an op, value or location (unknown for None)."""
  if where is None:
    return ir.Location.unknown()
  if isinstance(where, ir.Location):
    return where
  if isinstance(where, ir.Value):
    return where.location
  return where.operation.location


def emit(where: Any, message: str, severity: str = "remark",
         notes: Iterable[Diagnostic] = ()) -> None:
  """Reports `message` at an op, value or location with `severity`.

  Errors go through MLIR (`Location.emit_error`; a pass must still fail);
  warnings, remarks and notes go to the innermost `collecting()` block.
  """
  if severity not in ("error", "warning", "note", "remark"):
    raise ValueError(f"unknown diagnostic severity '{severity}'")
  loc = location_of(where)
  if severity == "error":
    loc.emit_error(message)
    return
  d = Diagnostic(severity, message, file_loc(loc), tuple(notes))
  if _COLLECTORS:
    _COLLECTORS[-1].append(d)
  else:
    sys.stderr.write(format_diagnostic(d) + "\n")


def emit_warning(where: Any, message: str) -> None:
  emit(where, message, "warning")


def emit_remark(where: Any, message: str) -> None:
  emit(where, message, "remark")
