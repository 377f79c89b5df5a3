"""The pass base class, pass pipelines, and the pass registry's types.

A pass is a dataclass subclass of `Pass`: class attributes give its flag
(`NAME`, spelled `ref-verb-noun`), one-line `SUMMARY` and a `DESCRIPTION`
with a before/after IR example; dataclass fields are its options, spelled
`name{field-name=value}` on the command line (underscores become dashes).
`run(module)` transforms the `builtin.module` in place and reports errors with
`emit_error(op, message)` (MLIR's diagnostic machinery, so ref-opt prints
`file:line:col: error: ...`) followed by `raise PassFailure()`, or simply
`raise PassError(op, message)`.

A pass reports what it did through statistics (MLIR's `Pass::Statistic`):
declared in `STATISTICS` (name -> description, listed by `ref-opt
--list-passes`), counted with `self.stat("accesses-lowered").add(n)` and
printed by `ref-opt --mlir-pass-statistics`.

A `PassPipeline` is a named list of pipeline elements (our passes and upstream
ones such as `canonicalize`), registered like a pass (e.g. `ref-to-stablehlo`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from jaxlib.mlir import ir

from refhlo.compiler.diagnostics import location_of


class PassFailure(Exception):
  """Raised by a pass after it emitted its diagnostics."""


class PassError(PassFailure):
  """Raised by a pass to report `message` at `where` (an op or a location)."""

  def __init__(self, where: ir.Operation | ir.OpView | ir.Location | ir.Value | None,
               message: str):
    super().__init__(message)
    self.where = where
    self.message = message


def string_array(values: list[str]) -> ir.ArrayAttr:
  """`["a", "b"]`: how test-mode passes annotate analysis results."""
  return ir.ArrayAttr.get([ir.StringAttr.get(v) for v in values])


def emit_error(where: Any, message: str) -> None:
  """Emits an error diagnostic at an op, value or location."""
  location_of(where).emit_error(message)


@dataclasses.dataclass
class Statistic:
  """A counter a pass reports with `ref-opt --mlir-pass-statistics` (MLIR's
  `Pass::Statistic`): what a pass did is otherwise visible only by diffing
  its output."""

  name: str
  description: str
  value: int = 0

  def add(self, n: int = 1) -> Statistic:
    self.value += n
    return self


@dataclasses.dataclass
class Pass:
  """Base class of refhlo's passes. Subclasses are dataclasses."""

  NAME: ClassVar[str] = ""
  SUMMARY: ClassVar[str] = ""
  DESCRIPTION: ClassVar[str] = ""
  # name -> description of each statistic the pass counts (see `stat`).
  STATISTICS: ClassVar[dict[str, str]] = {}
  # Set on the instance by the pipeline when `run` raised an unexpected
  # exception (a bug, not a reported failure): ref-opt then offers a crash
  # reproducer.
  crash: ClassVar[BaseException | None] = None
  # Wall seconds this instance's runs took, summed (set by the pipeline;
  # `run_pipeline(pass_times=...)` reports it).
  wall_s: ClassVar[float] = 0.0

  def run(self, module: ir.Operation) -> None:
    """Transforms `module` in place; its context and location are current."""
    raise NotImplementedError

  # -- statistics ---------------------------------------------------------

  def stat(self, name: str, description: str | None = None) -> Statistic:
    """This instance's counter `name`: `self.stat("refs-promoted").add()`.

    Declared in `STATISTICS` (so that --list-passes shows it), or given a
    description here; a typo in an undeclared name is a KeyError, not a
    silently new counter.
    """
    stats = self._statistics()
    s = stats.get(name)
    if s is None:
      if description is None:
        description = type(self).STATISTICS.get(name)
      if description is None:
        raise KeyError(f"pass '{self.NAME}' declares no statistic '{name}'")
      s = stats[name] = Statistic(name, description)
    return s

  def statistics(self) -> list[Statistic]:
    """Every statistic, the declared ones at 0 if never counted, sorted by
    name (the order MLIR prints them in)."""
    for name in type(self).STATISTICS:
      self.stat(name)
    return sorted(self._statistics().values(), key=lambda s: s.name)

  def _statistics(self) -> dict[str, Statistic]:
    # Kept out of the dataclass fields: those are the pass's options.
    return self.__dict__.setdefault("_stats", {})

  # -- options ------------------------------------------------------------

  @classmethod
  def options(cls) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))

  @classmethod
  def option_name(cls, f: dataclasses.Field) -> str:
    return f.name.replace("_", "-")

  @classmethod
  def from_options(cls, options: dict[str, str]) -> Pass:
    """Builds the pass from `{option-name: text}`; ValueError on bad input."""
    fields = {cls.option_name(f): f for f in cls.options()}
    kwargs: dict[str, Any] = {}
    for key, text in options.items():
      if key not in fields:
        known = ", ".join(sorted(fields)) or "none"
        raise ValueError(
            f"pass '{cls.NAME}' has no option '{key}' (options: {known})")
      f = fields[key]
      kwargs[f.name] = _parse_option(cls.NAME, key, f, text)
    return cls(**kwargs)

  def option_string(self) -> str:
    parts = []
    for f in self.options():
      v = getattr(self, f.name)
      if isinstance(v, bool):
        v = "true" if v else "false"
      parts.append(f"{self.option_name(f)}={v}")
    return "{" + " ".join(parts) + "}" if parts else ""


def _parse_option(pass_name: str, key: str, f: dataclasses.Field, text: str) -> Any:
  typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
  if typ == "bool":
    low = text.strip().lower()
    if low in ("", "true", "1"):
      return True
    if low in ("false", "0"):
      return False
    raise ValueError(f"option '{key}' of pass '{pass_name}' expects true or false, got '{text}'")
  if typ == "int":
    try:
      return int(text)
    except ValueError:
      raise ValueError(
          f"option '{key}' of pass '{pass_name}' expects an integer, got '{text}'") from None
  return text


@dataclasses.dataclass(frozen=True)
class PassPipeline:
  """A registered pipeline: a name standing for a list of pipeline elements."""

  NAME: str
  SUMMARY: str
  DESCRIPTION: str
  ELEMENTS: tuple[str, ...]
