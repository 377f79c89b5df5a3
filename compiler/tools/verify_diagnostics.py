"""`--verify-diagnostics`: check emitted diagnostics against `expected-*` comments.

Mirrors MLIR's `SourceMgrDiagnosticVerifierHandler`. A comment

    // expected-error@+1 {{message substring}}

expects an error whose message contains `message substring` on the line the
designator names: none = the comment's own line, `@+N` / `@-N` = relative to
it, `@above` / `@below` = the nearest line above / below that holds no
designator, `@unknown` = a diagnostic without a file location. Kinds are
`error`, `warning`, `note` and `remark`; `expected-error-re {{a {{[0-9]+}} b}}`
matches a regular expression in which the text outside `{{...}}` is literal.

Every produced diagnostic (notes included) must be expected and every
expectation produced; failures are reported in MLIR's words,
`unexpected error: ...` at the diagnostic and `expected error "..." was not
produced` at the comment.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence

from refhlo.compiler.diagnostics import Diagnostic, FileLoc

_EXPECTED_RE = re.compile(
    r"expected-(error|note|remark|warning)(-re)?"
    r"[ \t]*(?:@([+-][0-9]+|above|below|unknown))?[ \t]*\{\{(.*)\}\}[ \t]*$")

# A designator without a well-formed `{{...}}` body: reported as an error.
_DESIGNATOR_RE = re.compile(r"expected-(error|note|remark|warning)\b")


@dataclasses.dataclass
class Expectation:
  """One `expected-<kind>` comment, waiting for its diagnostic."""
  kind: str
  message: str
  file: str
  line: int | None  # None: `@unknown`
  comment_loc: FileLoc  # where the `expected-...` text is
  regex: re.Pattern | None = None
  matched: bool = False

  def matches(self, message: str) -> bool:
    if self.regex is not None:
      return self.regex.search(message) is not None
    return self.message in message


def _compile_re(pattern: str) -> re.Pattern:
  """MLIR's `-re` syntax: literal text with `{{regex}}` fragments."""
  out, pos = [], 0
  while True:
    start = pattern.find("{{", pos)
    if start < 0:
      out.append(re.escape(pattern[pos:]))
      break
    end = pattern.find("}}", start + 2)
    if end < 0:
      raise re.error("found start of regex with no end '}}'")
    out.append(re.escape(pattern[pos:start]))
    out.append("(?:" + pattern[start + 2:end] + ")")
    pos = end + 2
  return re.compile("".join(out))


def parse_expectations(filename: str, lines: Sequence[str], first_line: int = 1
                       ) -> tuple[list[Expectation], list[Diagnostic]]:
  """Finds the `expected-*` comments in `lines` (numbered from `first_line`).

  Returns the expectations and diagnostics for malformed ones.
  """
  expectations: list[Expectation] = []
  errors: list[Diagnostic] = []
  pending_below: list[Expectation] = []
  last_plain_line: int | None = None
  for i, text in enumerate(lines):
    lineno = first_line + i
    m = _EXPECTED_RE.search(text)
    if m is None:
      d = _DESIGNATOR_RE.search(text)
      if d is not None and "//" in text[:d.start()]:
        errors.append(Diagnostic(
            "error", "expected directive is missing its '{{message}}' body",
            FileLoc(filename, lineno, d.start() + 1)))
        continue
      for e in pending_below:
        e.line = lineno
      pending_below = []
      last_plain_line = lineno
      continue
    kind, is_re, where, message = m.groups()
    loc = FileLoc(filename, lineno, m.start() + 1)
    e = Expectation(kind, message, filename, lineno, loc)
    if is_re:
      try:
        e.regex = _compile_re(message)
      except re.error as err:
        errors.append(Diagnostic("error", f"invalid regex in expected-{kind}-re: {err}", loc))
        continue
    if where is None:
      pass
    elif where == "unknown":
      e.line = None
    elif where == "above":
      if last_plain_line is None:
        errors.append(Diagnostic("error", "no line above this designator", loc))
        continue
      e.line = last_plain_line
    elif where == "below":
      pending_below.append(e)
    else:
      e.line = lineno + int(where)
    expectations.append(e)
  for e in pending_below:
    errors.append(Diagnostic("error", "no line below this designator", e.comment_loc))
  return expectations, errors


def _flatten(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
  out = []
  for d in diags:
    out.append(d)
    out.extend(_flatten(d.notes))
  return out


def verify(expectations: list[Expectation], diags: Iterable[Diagnostic],
           filename: str) -> list[Diagnostic]:
  """Matches `diags` (and their notes) against `expectations`.

  Returns the verification failures as error diagnostics (empty = success).
  """
  failures: list[Diagnostic] = []
  for d in _flatten(diags):
    if d.loc is None:
      line, file = None, filename
    else:
      line, file = d.loc.line, d.loc.file
    found = None
    for e in expectations:
      if not e.matched and e.kind == d.severity and e.file == file and \
          e.line == line and e.matches(d.message):
        found = e
        break
    if found is not None:
      found.matched = True
      continue
    failures.append(Diagnostic("error", f"unexpected {d.severity}: {d.message}", d.loc))
  for e in expectations:
    if not e.matched:
      failures.append(Diagnostic(
          "error", f'expected {e.kind} "{e.message}" was not produced', e.comment_loc))
  return failures
