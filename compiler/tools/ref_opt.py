"""`ref-opt`: the `mlir-opt`-style driver for refhlo's passes.

Reads MLIR text (a file or stdin), runs a pass pipeline mixing refhlo's
passes and upstream MLIR passes, and prints the result:

    ref-opt input.mlir --ref-verify --canonicalize -o out.mlir
    ref-opt input.mlir --pass-pipeline='builtin.module(ref-verify,cse)'
    ref-opt input.mlir --ref-verify --split-input-file --verify-diagnostics

As mlir-opt does, the parsed input is verified before any pass runs: MLIR's
own verifier (jaxlib's parser always runs it) and the `ref` dialect's rules
(`ref-verify`, which MLIR cannot check since the dialect is unregistered in
C++); `--mlir-very-unsafe-disable-verifier-on-parsing` skips the latter, to
test how a pass copes with IR that breaks them.

Errors are printed in MLIR's format (`file:line:col: error: message`, the
source line and a caret) on stderr, and the exit status is 1; nothing ever
ends in a Python traceback. See `ref-opt --help` for every option.

This module must not import `jax` (ref-opt starts once per lit test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import TextIO

PROG = "ref-opt"
SPLIT_MARKER = "// -----"
_SPLIT_LINE_RE = re.compile(r"^[ \t]*// -----")
_WRAP_PREFIX = "module {"

_UPSTREAM_NAMES = {
    "canonicalize": "CanonicalizerPass",
    "cse": "CSEPass",
    "inline": "InlinerPass",
    "loop-invariant-code-motion": "LoopInvariantCodeMotionPass",
    "sccp": "SCCPPass",
    "strip-debuginfo": "StripDebugInfoPass",
    "symbol-dce": "SymbolDCEPass",
    "symbol-privatize": "SymbolPrivatizePass",
}


class UsageError(Exception):
  """A bad command line: reported as `ref-opt: error: ...`, exit 1."""


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

_BOOL_FLAGS = {
    "split-input-file": "split_input_file",
    "verify-diagnostics": "verify_diagnostics",
    "mlir-print-ir-after-all": "print_after_all",
    "mlir-print-ir-before-all": "print_before_all",
    "mlir-print-debuginfo": "print_debuginfo",
    "mlir-pretty-debuginfo": "pretty_debuginfo",
    "mlir-print-op-generic": "print_generic",
    "mlir-timing": "timing",
    "dump-pass-pipeline": "dump_pipeline",
    "list-passes": "list_passes",
    "verify-each": "verify_each",
    "mlir-very-unsafe-disable-verifier-on-parsing": "no_verify_after_parse",
    "help": "help",
    "version": "version",
    # Accepted for mlir-opt compatibility; refhlo always behaves this way.
    "allow-unregistered-dialect": None,
    "mlir-disable-threading": None,
    "mlir-print-ir-module-scope": None,
}

_VALUE_FLAGS = {
    "o": "output",
    "pass-pipeline": "pass_pipeline",
    "mlir-print-ir-before": "print_before",
    "mlir-print-ir-after": "print_after",
    "mlir-elide-elementsattrs-if-larger": "elide_larger",
}


@dataclasses.dataclass
class Options:
  """The parsed command line."""
  input: str = "-"
  output: str = "-"
  pass_pipeline: str | None = None
  pass_flags: list[str] = dataclasses.field(default_factory=list)  # pipeline elements
  split_input_file: bool = False
  verify_diagnostics: bool = False
  print_before: list[str] = dataclasses.field(default_factory=list)
  print_after: list[str] = dataclasses.field(default_factory=list)
  print_before_all: bool = False
  print_after_all: bool = False
  print_debuginfo: bool = False
  pretty_debuginfo: bool = False
  print_generic: bool = False
  elide_larger: int | None = None
  timing: bool = False
  dump_pipeline: bool = False
  verify_each: bool = True  # MLIR's verifier after each pass
  no_verify_after_parse: bool = False  # skip the ref dialect's rules after parsing
  list_passes: bool = False
  help: bool = False
  version: bool = False

  @property
  def pipeline_text(self) -> str:
    if self.pass_pipeline is not None:
      return self.pass_pipeline
    return "builtin.module(" + ",".join(self.pass_flags) + ")"


def _pass_flag_element(name: str, value: str | None) -> str:
  """`--name`, `--name{a=1}`, `--name='a=1 b=2'` -> a pipeline element."""
  if value is None:
    return name
  value = value.strip()
  if value.startswith("{") and value.endswith("}"):
    return name + value
  return name + "{" + value + "}"


def parse_args(argv: Sequence[str]) -> Options:
  """Parses `argv` (without the program name) the way LLVM's cl does."""
  opts = Options()
  inputs: list[str] = []
  args = list(argv)
  i = 0
  only_positional = False
  while i < len(args):
    arg = args[i]
    i += 1
    if only_positional or arg == "-" or not arg.startswith("-"):
      inputs.append(arg)
      continue
    if arg == "--":
      only_positional = True
      continue
    if arg == "-h":
      opts.help = True
      continue
    body = arg[2:] if arg.startswith("--") else arg[1:]
    # `name{opts}` / `name=value` / `name`
    m = re.match(r"^([A-Za-z0-9_.\-]+)(.*)$", body, re.S)
    if not m:
      raise UsageError(f"unknown command line argument '{arg}'")
    name, rest = m.group(1), m.group(2)
    value: str | None = None
    if rest.startswith("="):
      value = rest[1:]
    elif rest.startswith("{"):
      value = rest
    elif rest:
      raise UsageError(f"unknown command line argument '{arg}'")
    if name in _BOOL_FLAGS:
      attr = _BOOL_FLAGS[name]
      if value is not None and value.lower() not in ("true", "1", "false", "0"):
        raise UsageError(f"option '--{name}' takes no value, got '{value}'")
      if attr is not None:
        setattr(opts, attr, value is None or value.lower() in ("true", "1"))
      continue
    if name in _VALUE_FLAGS:
      attr = _VALUE_FLAGS[name]
      if value is None:
        if i >= len(args):
          raise UsageError(f"option '{arg}' requires a value")
        value = args[i]
        i += 1
      if attr in ("print_before", "print_after"):
        getattr(opts, attr).extend(v.strip() for v in value.split(",") if v.strip())
      elif attr == "elide_larger":
        try:
          opts.elide_larger = int(value)
        except ValueError:
          raise UsageError(
              f"option '--{name}' expects an integer, got '{value}'") from None
      else:
        setattr(opts, attr, value)
      continue
    if name.startswith("o") and arg.startswith("-o") and len(arg) > 2 and "=" not in arg:
      opts.output = arg[2:]  # `-ofile`
      continue
    # Anything else names a pass: ours or upstream; validated later.
    opts.pass_flags.append(_pass_flag_element(name, value))
  if len(inputs) > 1:
    raise UsageError(f"too many input files: {' '.join(inputs)}")
  if inputs:
    opts.input = inputs[0]
  if opts.pass_pipeline is not None and opts.pass_flags:
    raise UsageError("'--pass-pipeline' cannot be used with individual pass "
                     f"flags ({', '.join('--' + f for f in opts.pass_flags)})")
  return opts


def _pass_entries():
  from refhlo.compiler import transforms
  return transforms.get_all_passes()


def _option_help(p) -> list[str]:
  from refhlo.compiler.passes import Pass
  if not (isinstance(p, type) and issubclass(p, Pass)):
    return []
  out = []
  for f in p.options():
    typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    default = f.default if f.default is not dataclasses.MISSING else "(required)"
    if isinstance(default, bool):
      default = "true" if default else "false"
    out.append(f"      {p.option_name(f)}={typ}  (default: {default})")
  return out


def list_passes_text() -> str:
  lines = ["refhlo passes and pipelines (each is a flag: --<name>, and a pipeline "
           "element: <name>{opt=value}):"]
  for name, p in _pass_entries().items():
    lines.append(f"  --{name:<28} {p.SUMMARY}")
    lines.extend(_option_help(p))
    elements = getattr(p, "ELEMENTS", None)
    if isinstance(elements, tuple):
      lines.append(f"      pipeline: {', '.join(elements)}")
  lines.append("")
  lines.append("Upstream MLIR passes bundled in jaxlib are accepted too, as flags "
               "(--canonicalize, --cse,")
  lines.append("--symbol-dce, --inline, ...) and in --pass-pipeline "
               "(e.g. 'builtin.module(func.func(cse))').")
  return "\n".join(lines) + "\n"


HELP = f"""\
OVERVIEW: refhlo optimizer driver (an mlir-opt for the `ref` dialect)

USAGE: {PROG} [options] [input file]

The input is MLIR text (default '-': stdin). A file that is not a single
builtin.module is wrapped in an implicit one, as mlir-opt does. The parsed
input (each chunk, with --split-input-file) is verified before any pass runs,
also with no pass at all: MLIR's verifier and the `ref` dialect's rules.

OPTIONS:
  -o <file>                            Output file (default '-': stdout)
  --pass-pipeline=<pipeline>           A textual pipeline, e.g.
                                       'builtin.module(ref-verify,func.func(cse))';
                                       options in braces: 'builtin.module(ref-x{{opt=v}})'
  --<pass>                             Append a pass (one of --list-passes, or any
                                       upstream MLIR pass) to the pipeline, in order
  --<pass>='opt=v opt2=w'              ... with options (also '--<pass>{{opt=v}}')
  --split-input-file                   Split the input at '{SPLIT_MARKER}' lines and
                                       process each chunk on its own
  --verify-diagnostics                 Check diagnostics against expected-* comments
  --verify-each[=false]                Run MLIR's verifier after each pass (default true)
  --mlir-very-unsafe-disable-verifier-on-parsing
                                       Do not verify the `ref` dialect's rules (ref-verify)
                                       after parsing; for tests of how a pass handles
                                       IR that breaks them (MLIR's own verifier still
                                       runs: jaxlib's parser always verifies)
  --mlir-print-ir-before=<pass>[,...]  Print the IR before the named passes (stderr)
  --mlir-print-ir-after=<pass>[,...]   Print the IR after the named passes (stderr)
  --mlir-print-ir-before-all           Print the IR before every pass (stderr)
  --mlir-print-ir-after-all            Print the IR after every pass (stderr)
  --mlir-print-debuginfo               Print locations
  --mlir-pretty-debuginfo              Print locations in a readable, unparseable form
  --mlir-print-op-generic              Print every op in generic form
  --mlir-elide-elementsattrs-if-larger=<n>
                                       Elide elements attributes with more than n elements
  --mlir-timing                        Report the time spent in each pass (stderr)
  --dump-pass-pipeline                 Print the pipeline that will run, pipelines
                                       expanded into their passes (stderr)
  --list-passes                        List refhlo's passes and their options
  --allow-unregistered-dialect         Accepted for compatibility (always on)
  --help, -h                           This help
  --version                            Print the version

Exit status: 0 on success; 1 on any error, with the diagnostics on stderr.
"""


def version_text() -> str:
  import refhlo
  try:
    from jaxlib import version as jaxlib_version
    jl = f", jaxlib {jaxlib_version.__version__}"
  except Exception:  # pragma: no cover - jaxlib without a version module
    jl = ""
  return f"{PROG} (refhlo {getattr(refhlo, '__version__', '?')}{jl})\n"


# --------------------------------------------------------------------------
# Input
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Chunk:
  """A piece of the input, padded with newlines so line numbers stay absolute."""
  text: str
  first_line: int  # 1-based line of the chunk's first line in the file
  num_lines: int


def split_input(text: str, split: bool) -> list[Chunk]:
  """Splits at `// -----` lines (the marker line belongs to no chunk)."""
  lines = text.splitlines(keepends=True)
  if not split:
    return [Chunk(text, 1, max(len(lines), 1))]
  chunks: list[Chunk] = []
  start = 0
  for i, line in enumerate(lines + [None]):
    if line is None or _SPLIT_LINE_RE.match(line):
      body = "".join(lines[start:i])
      chunks.append(Chunk("\n" * start + body, start + 1, i - start))
      start = i + 1
  return chunks


def decode_input(data: bytes, filename: str) -> str:
  """UTF-8 text without NUL bytes, or a located UsageError-like InputError."""
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line, col = _line_col(data, e.start)
    raise InputError(filename, line, col,
                     f"input is not valid UTF-8 text (byte 0x{data[e.start]:02x})") from None
  nul = text.find("\x00")
  if nul >= 0:
    line, col = _line_col(text, nul)
    raise InputError(filename, line, col, "input contains a NUL character")
  return text


def _line_col(data, offset: int) -> tuple[int, int]:
  nl = b"\n" if isinstance(data, bytes) else "\n"
  line = data.count(nl, 0, offset) + 1
  col = offset - (data.rfind(nl, 0, offset) + 1) + 1
  return line, col


class InputError(Exception):
  """Unreadable input text, located at file:line:col."""

  def __init__(self, filename: str, line: int, col: int, message: str):
    super().__init__(message)
    self.filename, self.line, self.col, self.message = filename, line, col, message


# --------------------------------------------------------------------------
# Processing one chunk
# --------------------------------------------------------------------------


@dataclasses.dataclass
class ChunkResult:
  output: str | None  # None when the chunk failed
  diagnostics: list  # list[diagnostics.Diagnostic], in emission order


def _print_kwargs(opts: Options) -> dict:
  kw = dict(enable_debug_info=opts.print_debuginfo or opts.pretty_debuginfo,
            pretty_debug_info=opts.pretty_debuginfo,
            print_generic_op_form=opts.print_generic)
  if opts.elide_larger is not None:
    kw["large_elements_limit"] = opts.elide_larger
  return kw


def _element_label(el) -> tuple[str, str]:
  """(pass name, flag) for an IR dump header."""
  from refhlo.compiler import transforms
  entry = transforms.get_pass(el.name)
  if entry is not None and isinstance(entry, type):
    return entry.__name__, el.name
  if el.nested is not None:
    return f"'{el.name}' Pipeline", el.nested
  default = "".join(w.capitalize() for w in re.split(r"[-_.]", el.name)) + "Pass"
  return _UPSTREAM_NAMES.get(el.name, default), el.name


def _element_names(el) -> set[str]:
  """Every pass name in an element, nested ones included."""
  from refhlo.compiler import pipeline
  names = {el.name}
  if el.nested is not None:
    try:
      for inner in pipeline.parse_pipeline(el.nested):
        names |= _element_names(inner)
    except pipeline.PipelineError:
      pass
  return names


def expand_pipeline(text: str) -> list[tuple[object, frozenset[str]]]:
  """Parses and expands registered pipelines: [(element, names it stands for)]."""
  from refhlo.compiler import pipeline, transforms
  from refhlo.compiler.passes import PassPipeline

  out: list[tuple[object, frozenset[str]]] = []

  def rec(elements, outer: frozenset[str], depth: int) -> None:
    if depth > 16:
      raise pipeline.PipelineError("registered pipelines nest too deeply")
    for el in elements:
      entry = transforms.get_pass(el.name)
      if isinstance(entry, PassPipeline):
        if el.options:
          raise pipeline.PipelineError(f"pipeline '{el.name}' takes no options")
        rec([pipeline.parse_element(t) for t in entry.ELEMENTS],
            outer | {el.name}, depth + 1)
      else:
        out.append((el, outer | _element_names(el)))

  rec(pipeline.parse_pipeline(text), frozenset(), 0)
  return out


def build_pass_manager(opts: Options, ctx, err: TextIO):
  """The PassManager for one chunk, with IR printers and timing as asked."""
  from jaxlib.mlir import passmanager
  from refhlo.compiler import pipeline

  pm = passmanager.PassManager("builtin.module", context=ctx)
  printing = (opts.print_before_all or opts.print_after_all or opts.print_before
              or opts.print_after)
  kw = _print_kwargs(opts)

  def printer(when: str, label: tuple[str, str]) -> Callable:
    def run(op, pass_) -> None:
      try:
        err.write(f"// -----// IR Dump {when} {label[0]} ({label[1]}) //----- //\n")
        op.print(file=err, **kw)
        err.write("\n\n")
        err.flush()
      except Exception as e:  # never abort the pass manager
        op.location.emit_error(f"internal error while printing IR: {e}")
        pass_.signal_pass_failure()
    return run

  for el, names in expand_pipeline(opts.pipeline_text):
    label = _element_label(el)
    if printing and (opts.print_before_all or names & set(opts.print_before)):
      pm.add(printer("Before", label), "IRPrinterBefore", "", "")
    pipeline.add_elements(pm, [el])
    if printing and (opts.print_after_all or names & set(opts.print_after)):
      pm.add(printer("After", label), "IRPrinterAfter", "", "")
  if opts.timing:
    pm.enable_timing()
  pm.enable_verifier(opts.verify_each)
  return pm


def _wrap_fixup(diags: list, filename: str, shift: bool) -> list:
  """Undoes the column shift of the implicit `module {` on line 1."""
  from refhlo.compiler.diagnostics import FileLoc
  if not shift:
    return diags
  out = []
  for d in diags:
    loc = d.loc
    if loc is not None and loc.file == filename and loc.line == 1 and \
        loc.col > len(_WRAP_PREFIX):
      loc = FileLoc(loc.file, 1, loc.col - len(_WRAP_PREFIX))
    out.append(dataclasses.replace(d, loc=loc, notes=tuple(
        _wrap_fixup(list(d.notes), filename, shift))))
  return out


def parse_source(text: str, filename: str, ctx):
  """Parses `text` into a builtin.module, wrapping it in one if needed.

  Returns (module op, whether line 1 carries the `module {` prefix).
  """
  from jaxlib.mlir import ir
  try:
    op = ir.Operation.parse(text, source_name=filename, context=ctx)
  except ir.MLIRError as e:
    if not any("source must contain a single top-level operation" in d.message
               for d in e.error_diagnostics):
      raise
    wrapped = _WRAP_PREFIX + text + "\n}"
    return ir.Operation.parse(wrapped, source_name=filename, context=ctx), \
        bool(text.split("\n", 1)[0].strip())
  if op.operation.name == "builtin.module":
    return op, False
  # A single top-level op that is not a module: move it into one.
  module = ir.Module.create(loc=ir.Location.file(filename, 1, 1, context=ctx))
  module.body.append(op)
  _KEEP_ALIVE.append(module)
  return module.operation, False


# Modules created for wrapping: the ir.Module owns its operation.
_KEEP_ALIVE: list = []


def process_chunk(chunk: Chunk, filename: str, opts: Options, ctx, sink: list,
                  err: TextIO) -> ChunkResult:
  """Parses, runs the pipeline and prints one chunk; never raises MLIRError."""
  from refhlo.compiler import diagnostics

  sink.clear()
  with diagnostics.collecting() as emitted:
    output, errors, shift = _parse_and_run(chunk, filename, opts, ctx, err)
  diags = list(sink) + list(emitted) + errors
  sink.clear()
  if opts.verify_diagnostics:
    diags = [_drop_op_notes(d) for d in diags]
  return ChunkResult(output, _wrap_fixup(diags, filename, shift))


def verify_parsed(op) -> list:
  """The `ref` dialect's rules (ref-verify) on freshly parsed IR, as
  diagnostics; MLIR's own verifier already ran in the parser."""
  from refhlo.compiler import diagnostics
  from refhlo.compiler.dialect.verifier import verify
  with op.context, op.location:
    return [diagnostics.Diagnostic("error", e.message, diagnostics.file_loc(e.location))
            for e in verify(op)]


def _parse_and_run(chunk: Chunk, filename: str, opts: Options, ctx, err: TextIO):
  """(output or None, error diagnostics, line-1 shift) for one chunk."""
  from jaxlib.mlir import ir
  from refhlo.compiler import diagnostics
  from refhlo.compiler.dialect.types import memoized

  try:
    op, shift = parse_source(chunk.text, filename, ctx)
  except ir.MLIRError as e:
    return None, diagnostics.from_error(e), False
  # One memo for the verification and every pass, as `run_pipeline` does.
  with memoized():
    if not opts.no_verify_after_parse:
      errors = verify_parsed(op)
      if errors:
        return None, errors, shift
    pm = build_pass_manager(opts, ctx, err)
    try:
      pm.run(op)
    except ir.MLIRError as e:
      return None, diagnostics.from_error(e), shift
    finally:
      del pm  # prints the timing report, if any
      err.flush()
  text = op.get_asm(**_print_kwargs(opts))
  if not text.endswith("\n"):
    text += "\n"
  return text, [], shift


def _drop_op_notes(d):
  """Drops MLIR's 'see current operation' notes, as mlir-opt does when verifying."""
  notes = tuple(_drop_op_notes(n) for n in d.notes
                if not n.message.startswith("see current operation"))
  return dataclasses.replace(d, notes=notes)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def _read_input(path: str) -> tuple[bytes, str]:
  if path == "-":
    return sys.stdin.buffer.read(), "<stdin>"
  try:
    with open(path, "rb") as f:
      return f.read(), path
  except OSError as e:
    raise UsageError(f"could not open input file '{path}': "
                     f"{e.strerror or e}") from None


def _check_output(path: str) -> None:
  if path == "-":
    return
  if os.path.isdir(path):
    raise UsageError(f"could not open output file '{path}': Is a directory")
  parent = os.path.dirname(os.path.abspath(path))
  if os.path.exists(path):
    ok = os.access(path, os.W_OK)
  else:
    ok = os.path.isdir(parent) and os.access(parent, os.W_OK)
  if not ok:
    reason = ("No such file or directory" if not os.path.isdir(parent)
              else "Permission denied")
    raise UsageError(f"could not open output file '{path}': {reason}")


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
  """ref-opt without the top-level safety net; returns the exit status."""
  opts = parse_args(argv)
  if opts.help:
    out.write(HELP)
    return 0
  if opts.version:
    out.write(version_text())
    return 0
  if opts.list_passes:
    out.write(list_passes_text())
    return 0
  _check_output(opts.output)
  data, filename = _read_input(opts.input)

  from jaxlib.mlir import ir
  from refhlo.compiler import diagnostics, pipeline
  from refhlo.compiler.context import make_context
  from refhlo.compiler.tools import verify_diagnostics as vd

  ctx = make_context()
  sink: list = []

  def handler(d) -> bool:
    try:
      sink.append(diagnostics.from_mlir(d))
    except Exception:  # pragma: no cover - never let a handler raise
      pass
    return True

  ctx.attach_diagnostic_handler(handler)

  # Validate the pipeline once, before reading any IR. LLVM's option parser
  # writes its complaints straight to fd 2: capture them into the message.
  try:
    with _capture_fd2() as llvm_messages:
      build_pass_manager(dataclasses.replace(opts, timing=False, print_before=[],
                                             print_after=[], print_before_all=False,
                                             print_after_all=False), ctx, err)
  except pipeline.PipelineError as e:
    msg = str(e)
    detail = " ".join(line.strip(" :") for line in llvm_messages() if line.strip(" :"))
    if detail:
      msg += f" ({detail})"
    if opts.pass_pipeline is None:
      unknown = re.match(r"'([^']*)' does not refer to a registered pass", msg)
      if unknown:
        name = unknown.group(1)
        what = ("command line option" if name.startswith("mlir-")
                else "command line option or pass")
        raise UsageError(f"unknown {what} '--{name}'{did_you_mean(name)} "
                         f"(see --help, --list-passes)") from None
    raise UsageError(f"invalid pass pipeline '{opts.pipeline_text}': {msg}") from None
  if opts.dump_pipeline:
    err.write("Pass Manager with the pipeline (pipelines expanded):\n"
              + "builtin.module(" + ",".join(el.text for el, _ in expand_pipeline(
                  opts.pipeline_text)) + ")\n")
  for name in opts.print_before + opts.print_after:
    if not _is_pass_name(name, ctx):
      raise UsageError(f"'{name}' does not refer to a registered pass "
                       "(in --mlir-print-ir-before/after)")
  sink.clear()

  try:
    text = decode_input(data, filename)
  except InputError as e:
    err.write(f"{e.filename}:{e.line}:{e.col}: error: {e.message}\n")
    return 1

  source_lines = text.splitlines()

  def source_line(file: str, line: int) -> str | None:
    if file == filename and 1 <= line <= len(source_lines):
      return source_lines[line - 1]
    return None

  def report(diags) -> None:
    if diags:
      err.write(diagnostics.format_all(diags, source_line=source_line) + "\n")
      err.flush()

  failed = False
  outputs: list[str] = []
  for chunk in split_input(text, opts.split_input_file):
    result = process_chunk(chunk, filename, opts, ctx, sink, err)
    if opts.verify_diagnostics:
      lines = source_lines[chunk.first_line - 1:chunk.first_line - 1 + chunk.num_lines]
      expectations, bad = vd.parse_expectations(filename, lines, chunk.first_line)
      problems = bad + vd.verify(expectations, result.diagnostics, filename)
      report(problems)
      failed |= bool(problems)
    else:
      report(result.diagnostics)
      failed |= result.output is None
    outputs.append(result.output or "")

  sep = SPLIT_MARKER + "\n"
  output = sep.join(outputs)
  if opts.output == "-":
    _write_all(out, output)
  elif not failed:
    try:
      with open(opts.output, "w") as f:
        f.write(output)
    except OSError as e:
      raise UsageError(f"could not write output file '{opts.output}': "
                       f"{e.strerror or e}") from None
  return 1 if failed else 0


@contextlib.contextmanager
def _capture_fd2():
  """Redirects file descriptor 2 into a temporary file while the block runs.

  Yields a function returning the captured lines (valid after the block).
  """
  captured: list[str] = []
  try:
    sys.stderr.flush()
    saved = os.dup(2)
    tmp = tempfile.TemporaryFile()
  except (OSError, ValueError):  # no usable fd 2: capture nothing
    yield lambda: captured
    return
  os.dup2(tmp.fileno(), 2)
  try:
    yield lambda: captured
  finally:
    os.dup2(saved, 2)
    os.close(saved)
    tmp.seek(0)
    captured.extend(tmp.read().decode("utf-8", "replace").splitlines())
    tmp.close()


def _write_all(out: TextIO, text: str) -> None:
  """Writes to a real file descriptor with os.write, so that a closed pipe
  (`ref-opt ... | head`) reliably raises BrokenPipeError."""
  try:
    fd = out.fileno()
  except (AttributeError, OSError, ValueError):
    out.write(text)
    out.flush()
    return
  out.flush()
  data = memoryview(text.encode("utf-8"))
  while data:
    n = os.write(fd, data[:1 << 20])
    data = data[n:]


COMMON_UPSTREAM_PASSES = ("canonicalize", "cse", "symbol-dce", "inline",
                          "sccp", "loop-invariant-code-motion")


def did_you_mean(name: str) -> str:
  """"; did you mean '--x'?" for the closest flag of --help or pass name
  (refhlo's, and the upstream ones --help names), else ""."""
  import difflib
  flags = re.findall(r"^\s+(?:-\w, )?--([\w-]+)", HELP, re.M)
  candidates = sorted(set(flags) | set(_pass_entries()) | set(COMMON_UPSTREAM_PASSES))
  close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
  return f"; did you mean '--{close[0]}'?" if close else ""


def _is_pass_name(name: str, ctx) -> bool:
  from jaxlib.mlir import passmanager
  from refhlo.compiler import transforms
  if transforms.get_pass(name) is not None:
    return True
  try:
    passmanager.PassManager.parse(f"builtin.module({name})", context=ctx)
    return True
  except Exception:
    try:
      passmanager.PassManager.parse(f"builtin.module(func.func({name}))", context=ctx)
      return True
    except Exception:
      return False


def main(argv: Sequence[str] | None = None) -> int:
  """The console script: runs ref-opt, turning every failure into exit 1."""
  argv = sys.argv[1:] if argv is None else argv
  try:
    return run(argv, sys.stdout, sys.stderr)
  except UsageError as e:
    _error(str(e))
  except KeyboardInterrupt:
    _error("interrupted")
  except BrokenPipeError:
    # The reader went away (e.g. `ref-opt ... | head`): stop quietly-ish.
    try:
      devnull = os.open(os.devnull, os.O_WRONLY)
      os.dup2(devnull, sys.stdout.fileno())
    except Exception:
      pass
    _error("output pipe closed (broken pipe)")
  except MemoryError:
    _error("out of memory")
  except Exception as e:  # a bug in ref-opt itself: still no traceback
    _error(f"internal error: {type(e).__name__}: {e}")
  return 1


def _error(message: str) -> None:
  try:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
  except Exception:
    pass


if __name__ == "__main__":
  sys.exit(main())
