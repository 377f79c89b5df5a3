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

`ref` ops are read in their pretty form or the generic one and printed in
the pretty form (`--mlir-print-op-generic`: generic), by the text rewrites
of `refhlo.compiler.dialect.asm` around MLIR's parser and printer (MLIR
itself knows only the generic form of an unregistered dialect's ops).

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
    "mlir-pass-statistics": "pass_statistics",
    "mlir-print-ir-after-change": "print_after_change",
    "mlir-print-ir-after-failure": "print_after_failure",
    "emit-bytecode": "emit_bytecode",
    "run-reproducer": "run_reproducer",
    "show-dialects": "show_dialects",
    "help": "help",
    "version": "version",
    # Accepted for mlir-opt compatibility; refhlo always behaves this way.
    "allow-unregistered-dialect": None,
    "mlir-disable-threading": None,
    "mlir-print-ir-module-scope": None,
    "mlir-pass-pipeline-local-reproducer": None,
}

_VALUE_FLAGS = {
    "o": "output",
    "pass-pipeline": "pass_pipeline",
    "mlir-print-ir-before": "print_before",
    "mlir-print-ir-after": "print_after",
    "mlir-elide-elementsattrs-if-larger": "elide_larger",
    "mlir-pass-statistics-display": "statistics_display",
    "mlir-print-ir-tree-dir": "tree_dir",
    "mlir-pass-pipeline-crash-reproducer": "crash_reproducer",
    "emit-bytecode-version": "bytecode_version",
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
  pass_statistics: bool = False
  statistics_display: str = "pipeline"  # or "list"
  print_after_change: bool = False
  print_after_failure: bool = False
  tree_dir: str | None = None  # IR dumps go to files under it, not stderr
  crash_reproducer: str | None = None
  run_reproducer: bool = False
  emit_bytecode: bool = False
  bytecode_version: int | None = None
  show_dialects: bool = False
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
      elif attr in ("elide_larger", "bytecode_version"):
        try:
          number = int(value)
        except ValueError:
          raise UsageError(
              f"option '--{name}' expects an integer, got '{value}'") from None
        if attr == "bytecode_version" and number < 0:
          raise UsageError(f"option '--{name}' expects a version >= 0, got '{value}'")
        setattr(opts, attr, number)
      elif attr == "statistics_display":
        if value not in ("list", "pipeline"):
          raise UsageError(f"option '--{name}' expects 'list' or 'pipeline', "
                           f"got '{value}'")
        opts.statistics_display = value
      elif attr in ("tree_dir", "crash_reproducer") and not value:
        raise UsageError(f"option '--{name}' expects a path, got ''")
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
  if opts.emit_bytecode and opts.split_input_file:
    # One bytecode file holds one module: chunks joined by '// -----' would
    # be neither bytecode nor text.
    raise UsageError("'--emit-bytecode' cannot be used with '--split-input-file'")
  if opts.bytecode_version is not None and not opts.emit_bytecode:
    raise UsageError("'--emit-bytecode-version' needs '--emit-bytecode'")
  if opts.run_reproducer and (opts.pass_pipeline is not None or opts.pass_flags):
    raise UsageError("'--run-reproducer' takes the pipeline from the input's "
                     "mlir_reproducer resource: no pass flags or --pass-pipeline")
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


def _statistics_help(p) -> list[str]:
  """The statistics a pass declares, for --list-passes."""
  return [f"      statistic: {name} - {desc}"
          for name, desc in sorted(getattr(p, "STATISTICS", {}).items())]


# The upstream StableHLO passes that jaxlib registers from Python
# (`stablehlo.register_stablehlo_passes()`, see `register_upstream_passes`).
# The first group runs on builtin.module, the second on func.func: as flags
# those are nested under func.func, as mlir-opt's implicit nesting does.
# `stablehlo-aggressive-simplification`, `stablehlo-aggressive-folder` and
# `stablehlo-target-independent-optimization` (StableHLO's optimization
# passes) are not registered by jaxlib, nor registrable from its Python API.
# test_ref_opt.py checks that each listed pass is accepted.
STABLEHLO_MODULE_PASSES = (
    "stablehlo-compatibility-expander", "stablehlo-convert-to-signless",
    "stablehlo-legalize-to-linalg", "stablehlo-legalize-to-vhlo",
    "stablehlo-refine-arguments", "stablehlo-refine-shapes",
    "stablehlo-wrap-in-composite", "vhlo-legalize-to-stablehlo", "vhlo-to-version",
)
STABLEHLO_FUNC_PASSES = (
    "chlo-legalize-to-stablehlo", "shape-legalize-to-stablehlo",
    "stablehlo-canonicalize-dynamism", "stablehlo-check-shape-assertions",
    "stablehlo-complex-math-expander", "stablehlo-legalize-composite-to-call",
    "stablehlo-legalize-deprecated-ops", "stablehlo-legalize-qdq-to-quantized-op",
    "stablehlo-legalize-quant-to-math", "stablehlo-legalize-quantized-op-to-qdq",
)


def register_upstream_passes() -> None:
  """Registers StableHLO's passes in MLIR's (process-wide) pass registry, so
  that flags and --pass-pipeline accept them; registering twice is harmless."""
  from jaxlib.mlir.dialects import stablehlo
  stablehlo.register_stablehlo_passes()


def list_passes_text() -> str:
  lines = ["refhlo passes and pipelines (each is a flag: --<name>, and a pipeline "
           "element: <name>{opt=value}):"]
  for name, p in _pass_entries().items():
    lines.append(f"  --{name:<28} {p.SUMMARY}")
    lines.extend(_option_help(p))
    lines.extend(_statistics_help(p))
    elements = getattr(p, "ELEMENTS", None)
    if isinstance(elements, tuple):
      lines.append(f"      pipeline: {', '.join(elements)}")
  lines.append("")
  lines.append("Statistics are reported by --mlir-pass-statistics.")
  lines.append("")
  lines.append("Upstream MLIR passes bundled in jaxlib are accepted too, as flags "
               "(--canonicalize, --cse,")
  lines.append("--symbol-dce, --inline, ...) and in --pass-pipeline "
               "(e.g. 'builtin.module(func.func(cse))').")
  lines.append("")
  lines.append("Upstream StableHLO passes (jaxlib's stablehlo.register_stablehlo_passes()):")
  lines.append("  on builtin.module:")
  lines.extend(f"    --{name}" for name in STABLEHLO_MODULE_PASSES)
  lines.append("  on func.func (as flags, nested under func.func; in --pass-pipeline "
               "write 'func.func(<name>)'):")
  lines.extend(f"    --{name}" for name in STABLEHLO_FUNC_PASSES)
  lines.append("  (Not registered by jaxlib, so unavailable: "
               "stablehlo-aggressive-simplification,")
  lines.append("  stablehlo-aggressive-folder, stablehlo-target-independent-optimization.)")
  return "\n".join(lines) + "\n"


HELP = f"""\
OVERVIEW: refhlo optimizer driver (an mlir-opt for the `ref` dialect)

USAGE: {PROG} [options] [input file]

The input is MLIR text (default '-': stdin), `ref` ops in their pretty form
(`%v = ref.get %r[%i] sizes [1] : ...`) or generic; they print in the pretty
form (generic with --mlir-print-op-generic). A file that is not a single
builtin.module is wrapped in an implicit one, as mlir-opt does. The parsed
input (each chunk, with --split-input-file) is verified before any pass runs,
also with no pass at all: MLIR's verifier and the `ref` dialect's rules.

OPTIONS:
  -o <file>                            Output file (default '-': stdout)
  --pass-pipeline=<pipeline>           A textual pipeline, e.g.
                                       'builtin.module(ref-verify,func.func(cse))';
                                       options in braces: 'builtin.module(ref-x{{opt=v}})'
  --<pass>                             Append a pass (one of --list-passes, or any
                                       upstream MLIR pass) to the pipeline, in order;
                                       a pass that runs only on func.func (e.g.
                                       --chlo-legalize-to-stablehlo) is nested under it
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
  --mlir-print-ir-after-change         Print the IR after a pass only if the pass
                                       changed it (with --mlir-print-ir-after[-all];
                                       alone, after every pass that changed it)
  --mlir-print-ir-after-failure        Print the IR after a pass only if it failed (or
                                       its output failed to verify), as it was then
  --mlir-print-ir-tree-dir=<dir>       Write the IR that --mlir-print-ir-* print to files
                                       instead of stderr, one per dump, numbered in order:
                                       <dir>/builtin_module_<sym_name or no-symbol-name>/
                                       <n>_<pass>.mlir
  --mlir-print-debuginfo               Print locations
  --mlir-pretty-debuginfo              Print locations in a readable, unparseable form
  --mlir-print-op-generic              Print every op in generic form, `ref` ops too
                                       (by default they print in their pretty form,
                                       docs/dialect.md "Assembly format")
  --mlir-elide-elementsattrs-if-larger=<n>
                                       Elide elements attributes with more than n elements
  --mlir-timing                        Report the time spent in each pass (stderr)
  --mlir-pass-statistics               Report the statistics of each pass, what it did
                                       (stderr; --list-passes lists refhlo's; upstream
                                       passes are listed without theirs)
  --mlir-pass-statistics-display=<list|pipeline>
                                       With --mlir-pass-statistics: per pass in pipeline
                                       order (default), or merged per pass, by name
  --mlir-pass-pipeline-crash-reproducer=<file>
                                       When a pass raises an unexpected Python exception
                                       (a bug), write the IR before that pass and the pass
                                       (an mlir_reproducer resource) to <file>
  --mlir-pass-pipeline-local-reproducer
                                       Accepted for compatibility (reproducers always
                                       hold just the failing pass)
  --run-reproducer                     Run the pipeline of the input's mlir_reproducer
                                       resource (a crash reproducer)
  --emit-bytecode                      Write MLIR bytecode instead of text (the input may
                                       be bytecode too: recognised by its magic number)
  --emit-bytecode-version=<n>          ... in bytecode format version n
  --dump-pass-pipeline                 Print the pipeline that will run, pipelines
                                       expanded into their passes (stderr)
  --list-passes                        List refhlo's passes, their options and
                                       statistics, and the upstream StableHLO passes
  --show-dialects                      List the dialects the context knows and exit
  --allow-unregistered-dialect         Accepted for compatibility (always on)
  --mlir-disable-threading             Accepted for compatibility (refhlo's passes are
                                       Python: one thread)
  --mlir-print-ir-module-scope         Accepted for compatibility (refhlo's dumps always
                                       print the whole module)
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
  bytecode: bytes | None = None  # MLIR bytecode input (then `text` is empty)


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


def print_ir(op, opts: Options) -> str:
  """`op` as text: `ref` ops in their pretty form (refhlo.compiler.dialect.asm),
  everything generic with --mlir-print-op-generic."""
  text = op.get_asm(**_print_kwargs(opts))
  if opts.print_generic:
    return text
  from refhlo.compiler.dialect import asm
  return asm.to_pretty(text)


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


def build_pass_manager(opts: Options, ctx, err: TextIO,
                       inst: Instruments | None = None):
  """The PassManager for one chunk, with IR printers and timing as asked.

  `inst` adds the IR printers and records each step (for statistics, the
  dump after a failure and crash reproducers); without it (validating the
  pipeline) no printer is added.
  """
  from jaxlib.mlir import passmanager
  from refhlo.compiler import pipeline

  pm = passmanager.PassManager("builtin.module", context=ctx)
  for el, names in expand_pipeline(opts.pipeline_text):
    step = Step(el, names, _element_label(el))
    if inst is not None and inst.hook_before(step):
      pm.add(inst.before(step), "IRPrinterBefore", "", "")
    step.passes = pipeline.add_elements(pm, [el])
    if inst is not None:
      inst.steps.append(step)
      if inst.hook_after(step):
        pm.add(inst.after(step), "IRPrinterAfter", "", "")
  if opts.timing:
    pm.enable_timing()
  pm.enable_verifier(opts.verify_each)
  return pm


@dataclasses.dataclass
class Step:
  """One element of the expanded pipeline, as the instrumentation sees it."""
  element: object  # pipeline.Element
  names: frozenset[str]  # the pass names it stands for (--mlir-print-ir-before=...)
  label: tuple[str, str]  # (pass name, flag) of its IR dump headers
  passes: list = dataclasses.field(default_factory=list)  # its refhlo Pass objects


class IRTree:
  """--mlir-print-ir-tree-dir: each IR dump in a file of its own, numbered in
  the order of the run (chunks included, so none overwrites another), in a
  directory named after the module as mlir-opt names it."""

  def __init__(self, root: str):
    self.root = root
    self.count = 0

  def write(self, op, flag: str, text: str) -> None:
    from jaxlib.mlir import ir
    sym = "no-symbol-name"
    if "sym_name" in op.attributes:
      sym = ir.StringAttr(op.attributes["sym_name"]).value
    kind = op.operation.name.replace(".", "_")
    folder = os.path.join(self.root, _file_part(f"{kind}_{sym}"))
    path = os.path.join(folder, f"{self.count}_{_file_part(flag)}.mlir")
    self.count += 1
    try:
      os.makedirs(folder, exist_ok=True)
      with open(path, "w") as f:
        f.write(text)
    except OSError as e:
      raise OSError(f"could not write '{path}': {e.strerror or e}") from None


def _file_part(text: str) -> str:
  """`text` as one file name component."""
  return re.sub(r"[^A-Za-z0-9_.\-]+", "_", text).strip("._") or "_"


class Instruments:
  """What ref-opt runs around the passes and reads after the run: the IR
  printers (to stderr or an IRTree), the IR before each step (what
  --mlir-print-ir-after-change compares with and a crash reproducer holds),
  the step running when the pipeline failed, and the steps' statistics.

  One per run; `reset` before each chunk.
  """

  def __init__(self, opts: Options, err: TextIO, tree: IRTree | None = None):
    self.opts, self.err, self.tree = opts, err, tree
    o = opts
    self._snapshots = o.print_after_change or o.crash_reproducer is not None
    # --mlir-print-ir-after-change or -after-failure alone select every pass.
    self._after_all = o.print_after_all or (
        (o.print_after_change or o.print_after_failure) and not o.print_after)
    self.reset()

  def reset(self) -> None:
    self.steps: list[Step] = []
    self.running: Step | None = None  # the last step that started
    self.snapshot: str | None = None  # the IR before it (when needed)

  # -- which hooks a step gets ------------------------------------------

  def _print_before(self, step: Step) -> bool:
    return self.opts.print_before_all or bool(step.names & set(self.opts.print_before))

  def _print_after(self, step: Step) -> bool:
    return self._after_all or bool(step.names & set(self.opts.print_after))

  def hook_before(self, step: Step) -> bool:
    return (self._print_before(step) or self._snapshots
            or self.opts.print_after_failure)

  def hook_after(self, step: Step) -> bool:
    # After a failure nothing runs: its dump is `failed`'s job.
    return self._print_after(step) and not self.opts.print_after_failure

  # -- the hooks (Python passes around each step) -------------------------

  def before(self, step: Step) -> Callable:
    def run(op, pass_) -> None:
      self.running = step
      try:
        if self._snapshots:
          self.snapshot = _snapshot(op)
        if self._print_before(step):
          self.dump(op, f"Before {step.label[0]}", step)
      except Exception as e:  # never abort the pass manager
        op.location.emit_error(f"internal error while printing IR: {e}")
        pass_.signal_pass_failure()
    return run

  def after(self, step: Step) -> Callable:
    def run(op, pass_) -> None:
      try:
        if (self.opts.print_after_change and self.snapshot is not None
            and _snapshot(op) == self.snapshot):
          return
        self.dump(op, f"After {step.label[0]}", step)
      except Exception as e:  # never abort the pass manager
        op.location.emit_error(f"internal error while printing IR: {e}")
        pass_.signal_pass_failure()
    return run

  def dump(self, op, what: str, step: Step) -> None:
    text = (f"// -----// IR Dump {what} ({step.label[1]}) //----- //\n"
            + print_ir(op, self.opts) + "\n\n")
    if self.tree is not None:
      self.tree.write(op, step.label[1], text)
    else:
      self.err.write(text)
      self.err.flush()

  # -- after the run ----------------------------------------------------

  def failed(self, op, diags: list) -> list:
    """After a failed run: the dump of --mlir-print-ir-after-failure, and for
    a pass that raised, its crash reproducer or the hint to ask for one.
    Returns `diags`, amended."""
    step = self.running
    if self.opts.print_after_failure and step is not None and self._print_after(step):
      try:
        self.dump(op, f"After {step.label[0]} Failed", step)
      except Exception as e:
        self.err.write(f"{PROG}: error: could not print the IR after the failure: {e}\n")
    for st in self.steps:
      for p in st.passes:
        if p.crash is not None:
          return self._crashed(st, p, diags)
    return diags

  def _crashed(self, step: Step, p, diags: list) -> list:
    from refhlo.compiler.diagnostics import Diagnostic
    prefix = f"internal error in pass '{p.NAME}'"
    at = next((i for i, d in enumerate(diags) if d.message.startswith(prefix)), None)
    if at is None:
      diags = diags + [Diagnostic("error", f"{prefix}: {type(p.crash).__name__}: {p.crash}")]
      at = len(diags) - 1
    d = diags[at]
    path = self.opts.crash_reproducer
    if path is None:
      hint = Diagnostic("note", "rerun with --mlir-pass-pipeline-crash-reproducer=<file> "
                        f"to save the IR before '{p.NAME}' and the pass as a reproducer",
                        d.loc)
      d = dataclasses.replace(d, notes=d.notes + (hint,))
    else:
      try:
        with open(path, "w") as f:
          f.write(reproducer_text(self.snapshot or "",
                                  f"builtin.module({step.element.text})",
                                  self.opts.verify_each))
        where = f"crash reproducer written to '{path}'"
      except OSError as e:
        where = f"could not write the crash reproducer '{path}': {e.strerror or e}"
      d = dataclasses.replace(d, message=f"{d.message}; {where}")
    return diags[:at] + [d] + diags[at + 1:]


def _snapshot(op) -> str:
  """The IR as text that parses back (locations included, nothing elided):
  what --mlir-print-ir-after-change compares and a reproducer holds."""
  return op.get_asm(enable_debug_info=True)


def reproducer_text(ir_text: str, pipeline: str, verify_each: bool) -> str:
  """IR followed by the `mlir_reproducer` resource MLIR's reproducers carry
  (`ref-opt <file> --run-reproducer` runs it)."""
  quoted = pipeline.replace("\\", "\\\\").replace('"', '\\"')
  return (ir_text.rstrip("\n") + "\n\n{-#\n  external_resources: {\n"
          "    mlir_reproducer: {\n"
          f'      pipeline: "{quoted}",\n'
          "      disable_threading: true,\n"
          f"      verify_each: {'true' if verify_each else 'false'}\n"
          "    }\n  }\n#-}\n")


# `mlir_reproducer: {...}` in a `{-# ... #-}` block; strings may hold braces.
_REPRODUCER_RE = re.compile(
    r'\{-#.*?\bmlir_reproducer\s*:\s*\{(?P<body>(?:"(?:[^"\\]|\\.)*"|[^{}"])*)\}', re.S)


def apply_reproducer(opts: Options, data: bytes) -> None:
  """--run-reproducer: takes the pipeline (and verify_each) from the input's
  `mlir_reproducer` resource, as MLIR's --run-reproducer does."""
  m = _REPRODUCER_RE.search(data.decode("utf-8", "replace"))
  if not m:
    raise UsageError("'--run-reproducer': the input has no mlir_reproducer resource "
                     "('{-# external_resources: { mlir_reproducer: {...} } #-}')")
  body = m.group("body")
  p = re.search(r'\bpipeline\s*:\s*"((?:[^"\\]|\\.)*)"', body)
  if not p:
    raise UsageError("'--run-reproducer': the mlir_reproducer resource has no pipeline")
  opts.pass_pipeline = re.sub(r"\\(.)", r"\1", p.group(1))
  v = re.search(r"\bverify_each\s*:\s*(true|false)", body)
  if v:
    opts.verify_each = v.group(1) == "true"


_STATS_RULE = "===" + "-" * 73 + "==="


def statistics_report(steps: list[Step], display: str = "pipeline") -> str:
  """MLIR's pass statistics report: each step in pipeline order with its
  statistics (upstream passes have none that jaxlib exposes), or ("list")
  only passes with statistics, merged by name and sorted."""
  from refhlo.compiler import pipeline
  lines = [_STATS_RULE, " " * 25 + "... Pass statistics report ...", _STATS_RULE]

  def entry(indent: int, name: str, stats: list) -> None:
    lines.append(" " * indent + name)
    width = max((len(str(s.value)) for s in stats), default=0)
    for s in stats:
      lines.append(" " * (indent + 2) + f"(S) {s.value:>{width}} {s.name} - {s.description}")

  def nested(el, indent: int) -> None:
    entry(indent, _element_label(el)[0], [])
    try:
      inner = pipeline.parse_pipeline(el.nested) if el.nested is not None else []
    except pipeline.PipelineError:
      inner = []
    for i in inner:
      nested(i, indent + 2)

  if display == "list":
    merged: dict[str, dict[str, list]] = {}
    for step in steps:
      for p in step.passes:
        stats = merged.setdefault(type(p).__name__, {})
        for s in p.statistics():
          total = stats.setdefault(s.name, [s.name, s.description, 0])
          total[2] += s.value
    from refhlo.compiler.passes import Statistic
    for name in sorted(merged):
      if merged[name]:
        entry(0, name, [Statistic(n, d, v) for n, d, v in merged[name].values()])
  else:
    for step in steps:
      if step.passes:
        for p in step.passes:
          entry(0, type(p).__name__, p.statistics())
      else:
        nested(step.element, 0)
  return "\n".join(lines) + "\n"


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
  `ref` ops may be written in their pretty form (refhlo.compiler.dialect.asm):
  they are rewritten to the generic form first, on the same lines and with
  their own locations; a syntax error there raises `asm.AsmSyntaxError`, and
  MLIR's parse errors in such a text `asm.RewrittenParseError`, located in
  `text` (else they raise `ir.MLIRError`).
  """
  from jaxlib.mlir import ir
  try:
    op = _parse_rewritten(text, filename, ctx)
  except ir.MLIRError as e:
    if not any("source must contain a single top-level operation" in d.message
               for d in e.error_diagnostics):
      raise
    # Rewritten after wrapping, so that the explicit locations of line 1
    # carry the same column shift as MLIR's own (undone by _wrap_fixup).
    return _parse_rewritten(_WRAP_PREFIX + text + "\n}", filename, ctx), \
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


def _parse_rewritten(text: str, filename: str, ctx):
  """`text`, its pretty `ref` ops rewritten, parsed by MLIR. Errors other
  than a missing top-level op are located in `text` (MLIR sees them in the
  rewritten one, where columns differ on the lines of rewritten ops)."""
  from jaxlib.mlir import ir
  from refhlo.compiler import diagnostics
  from refhlo.compiler.dialect import asm
  generic, positions = asm.to_generic_with_positions(text, filename)
  try:
    return ir.Operation.parse(generic, source_name=filename, context=ctx)
  except ir.MLIRError as e:
    if not positions.rewrote or any(
        "source must contain a single top-level operation" in d.message
        for d in e.error_diagnostics):
      raise
    raise asm.RewrittenParseError(
        positions.remap(diagnostics.from_error(e), filename)) from None

BYTECODE_MAGIC = b"ML\xefR"
# What MLIR's parser says of the resource a crash reproducer carries (no
# parser for it is registered from Python); ref-opt reads it itself.
_REPRODUCER_RESOURCE_WARNING = "ignoring unknown external resources for 'mlir_reproducer'"


def parse_bytecode(data: bytes, ctx):
  """Parses MLIR bytecode (`--emit-bytecode`'s output) into its module."""
  from jaxlib.mlir import ir
  module = ir.Module.parse(data, context=ctx)
  _KEEP_ALIVE.append(module)
  return module.operation


def write_bytecode(op, version: int | None = None) -> bytes:
  import io
  buf = io.BytesIO()
  op.write_bytecode(buf, desired_version=version)
  return buf.getvalue()


def _relocate(d, old_file: str, new_file: str):
  """`d` (and its notes) with locations in `old_file` moved to `new_file`."""
  loc = d.loc
  if loc is not None and loc.file == old_file:
    loc = dataclasses.replace(loc, file=new_file)
  return dataclasses.replace(d, loc=loc, notes=tuple(
      _relocate(n, old_file, new_file) for n in d.notes))


def process_chunk(chunk: Chunk, filename: str, opts: Options, ctx, sink: list,
                  err: TextIO, inst: Instruments | None = None) -> ChunkResult:
  """Parses, runs the pipeline and prints one chunk; never raises MLIRError."""
  from refhlo.compiler import diagnostics

  sink.clear()
  with diagnostics.collecting() as emitted:
    output, errors, shift = _parse_and_run(chunk, filename, opts, ctx, err, inst)
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


def _parse_and_run(chunk: Chunk, filename: str, opts: Options, ctx, err: TextIO,
                   inst: Instruments | None = None):
  """(output or None, error diagnostics, line-1 shift) for one chunk; the
  output is bytes with --emit-bytecode."""
  from jaxlib.mlir import ir
  from refhlo.compiler import diagnostics
  from refhlo.compiler.dialect.asm import AsmSyntaxError, RewrittenParseError
  from refhlo.compiler.dialect.types import memoized

  try:
    if chunk.bytecode is not None:
      op, shift = parse_bytecode(chunk.bytecode, ctx), False
    else:
      op, shift = parse_source(chunk.text, filename, ctx)
  except ir.MLIRError as e:
    diags = diagnostics.from_error(e)
    if chunk.bytecode is not None:  # located at "-":0:0 by the bytecode reader
      diags = [_relocate(d, "-", filename) for d in diags]
    return None, diags, False
  except AsmSyntaxError as e:
    return None, [e.diagnostic()], False
  except RewrittenParseError as e:
    return None, e.diagnostics, False
  # One memo for the verification and every pass, as `run_pipeline` does.
  with memoized():
    if not opts.no_verify_after_parse:
      errors = verify_parsed(op)
      if errors:
        return None, errors, shift
    if inst is not None:
      inst.reset()
    pm = build_pass_manager(opts, ctx, err, inst)
    try:
      pm.run(op)
    except ir.MLIRError as e:
      diags = diagnostics.from_error(e)
      if inst is not None:
        diags = inst.failed(op, diags)
      return None, diags, shift
    finally:
      if inst is not None and opts.pass_statistics:
        err.write(statistics_report(inst.steps, opts.statistics_display))
      del pm  # prints the timing report, if any
      err.flush()
  if opts.emit_bytecode:
    return write_bytecode(op, opts.bytecode_version), [], shift
  text = print_ir(op, opts)
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


def _check_output(path: str, what: str = "output file") -> None:
  if path == "-":
    return
  if os.path.isdir(path):
    raise UsageError(f"could not open {what} '{path}': Is a directory")
  parent = os.path.dirname(os.path.abspath(path))
  if os.path.exists(path):
    ok = os.access(path, os.W_OK)
  else:
    ok = os.path.isdir(parent) and os.access(parent, os.W_OK)
  if not ok:
    reason = ("No such file or directory" if not os.path.isdir(parent)
              else "Permission denied")
    raise UsageError(f"could not open {what} '{path}': {reason}")


def _make_ir_tree(path: str | None) -> IRTree | None:
  """--mlir-print-ir-tree-dir: creates the directory now, so that a bad path
  is a command-line error rather than a failure in the middle of a pass."""
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    raise UsageError(f"could not create directory '{path}' (--mlir-print-ir-tree-dir): "
                     f"{e.strerror or e}") from None
  return IRTree(path)


# Dialect namespaces to look for in the context: MLIR's Python API cannot
# list a context's dialects, so --show-dialects asks for each of these
# (upstream MLIR's, StableHLO's, Shardy's, jaxlib's) and shows the known ones.
_DIALECT_NAMESPACES = (
    "acc", "affine", "amdgpu", "amx", "arith", "arm_neon", "arm_sme", "arm_sve",
    "async", "bufferization", "builtin", "cf", "check", "chlo", "complex", "dlti",
    "emitc", "func", "gpu", "index", "interpreter", "irdl", "linalg", "llvm", "math",
    "memref", "mesh", "mhlo", "ml_program", "mosaic_gpu", "mpi", "mpmd", "nvgpu",
    "nvvm", "omp", "pdl", "pdl_interp", "polynomial", "ptr", "quant", "rocdl", "scf",
    "sdy", "shape", "shard", "smt", "sparse_tensor", "spirv", "stablehlo", "tensor",
    "tosa", "tpu", "transform", "triton", "tt", "ttg", "ub", "vector", "vhlo",
    "x86vector", "xegpu", "xevm",
)


def show_dialects_text() -> str:
  """mlir-opt's --show-dialects line: the context's dialects, and `ref`
  (known to refhlo's Python side only, unregistered in C++)."""
  from refhlo.compiler.context import make_context
  ctx = make_context()
  names = {"ref"}
  for ns in _DIALECT_NAMESPACES:
    try:
      ctx.get_dialect_descriptor(ns)
    except ValueError:
      continue
    names.add(ns)
  return "Available Dialects: " + ",".join(sorted(names)) + "\n"


def _nest_pass_flag(flag: str, ctx) -> str:
  """A flag naming an upstream pass that runs only on one op (e.g.
  --chlo-legalize-to-stablehlo on func.func) -> `func.func(flag)`, as
  mlir-opt nests pass flags implicitly; anything else is returned as is."""
  from jaxlib.mlir import passmanager
  from refhlo.compiler import transforms
  if transforms.get_pass(re.match(r"[\w.\-]*", flag).group(0)) is not None:
    return flag
  try:
    passmanager.PassManager.parse(f"builtin.module({flag})", context=ctx)
    return flag
  except ValueError as e:
    anchor = re.search(r"restricted to '([\w.]+)'.*did you intend to nest", str(e), re.S)
  return f"{anchor.group(1)}({flag})" if anchor else flag


def _check_bytecode_version(version: int, ctx, sink: list) -> None:
  """--emit-bytecode-version: MLIR knows which versions it can write."""
  from jaxlib.mlir import ir
  sink.clear()
  try:
    with ir.Location.unknown(ctx):
      write_bytecode(ir.Module.create().operation, version)
  except ValueError as e:
    why = sink[0].message if sink else str(e)
    raise UsageError(f"option '--emit-bytecode-version': {why}") from None
  finally:
    sink.clear()


def run(argv: Sequence[str], out: TextIO, err: TextIO) -> int:
  """ref-opt without the top-level safety net; returns the exit status. The
  phases of MLIR's `MlirOptMain`: options, the pipeline checked before any
  IR is read, the input split into chunks, each chunk parsed, verified and
  run, the output written."""
  opts = parse_args(argv)
  info = _informational_text(opts)
  if info is not None:
    out.write(info)
    return 0
  _check_output(opts.output)
  if opts.crash_reproducer is not None:
    _check_output(opts.crash_reproducer, "crash reproducer file")
  tree = _make_ir_tree(opts.tree_dir)
  data, filename = _read_input(opts.input)
  bytecode = data.startswith(BYTECODE_MAGIC)
  if bytecode and opts.split_input_file:
    raise UsageError(f"'--split-input-file' cannot split MLIR bytecode ('{filename}')")
  if opts.run_reproducer:
    apply_reproducer(opts, data)

  from refhlo.compiler import diagnostics
  from refhlo.compiler.context import make_context

  ctx = make_context()
  register_upstream_passes()
  sink: list = []

  def handler(d) -> bool:
    try:
      if not d.message.startswith(_REPRODUCER_RESOURCE_WARNING):
        sink.append(diagnostics.from_mlir(d))
    except Exception:  # pragma: no cover - never let a handler raise
      pass
    return True

  ctx.attach_diagnostic_handler(handler)
  _check_pipeline(opts, ctx, err)
  if opts.bytecode_version is not None:
    _check_bytecode_version(opts.bytecode_version, ctx, sink)
  sink.clear()

  if bytecode:
    text, chunks = "", [Chunk("", 1, 0, bytecode=data)]
  else:
    try:
      text = decode_input(data, filename)
    except InputError as e:
      err.write(f"{e.filename}:{e.line}:{e.col}: error: {e.message}\n")
      return 1
    chunks = split_input(text, opts.split_input_file)
  failed, outputs = _run_chunks(chunks, text, filename, opts, ctx, sink, err, tree)
  _write_output(opts, out, outputs, failed)
  return 1 if failed else 0


def _informational_text(opts: Options) -> str | None:
  """What --help, --version, --list-passes or --show-dialects print."""
  if opts.help:
    return HELP
  if opts.version:
    return version_text()
  if opts.list_passes:
    return list_passes_text()
  if opts.show_dialects:
    return show_dialects_text()
  return None


def _check_pipeline(opts: Options, ctx, err: TextIO) -> None:
  """Builds the pipeline once, before any IR is read, so that a bad pass
  name or option is a usage error (LLVM's option parser writes its
  complaints straight to fd 2: they are captured into the message)."""
  from refhlo.compiler import pipeline
  try:
    with _capture_fd2() as llvm_messages:
      opts.pass_flags = [_nest_pass_flag(f, ctx) for f in opts.pass_flags]
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


def _run_chunks(chunks: list, text: str, filename: str, opts: Options, ctx,
                sink: list, err: TextIO, tree) -> tuple[bool, list]:
  """Each chunk parsed, verified and run; its diagnostics reported (or, with
  --verify-diagnostics, checked against its expected-* comments). Returns
  (whether anything failed, each chunk's output)."""
  from refhlo.compiler import diagnostics
  from refhlo.compiler.tools import verify_diagnostics as vd
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
  outputs: list = []  # str, or bytes with --emit-bytecode
  inst = Instruments(opts, err, tree)
  for chunk in chunks:
    result = process_chunk(chunk, filename, opts, ctx, sink, err, inst)
    if opts.verify_diagnostics:
      lines = source_lines[chunk.first_line - 1:chunk.first_line - 1 + chunk.num_lines]
      expectations, bad = vd.parse_expectations(filename, lines, chunk.first_line)
      problems = bad + vd.verify(expectations, result.diagnostics, filename)
      report(problems)
      failed |= bool(problems)
    else:
      report(result.diagnostics)
      failed |= result.output is None
    outputs.append(result.output or (b"" if opts.emit_bytecode else ""))
  return failed, outputs


def _write_output(opts: Options, out: TextIO, outputs: list, failed: bool) -> None:
  """The chunks' outputs, joined by the split marker (text) or concatenated
  (bytecode), to stdout, or to -o's file unless something failed."""
  sep = SPLIT_MARKER + "\n"
  output = b"".join(outputs) if opts.emit_bytecode else sep.join(outputs)
  if opts.output == "-":
    _write_all(out, output)
  elif not failed:
    try:
      with open(opts.output, "wb" if opts.emit_bytecode else "w") as f:
        f.write(output)
    except OSError as e:
      raise UsageError(f"could not write output file '{opts.output}': "
                       f"{e.strerror or e}") from None


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


def _write_all(out: TextIO, text: str | bytes) -> None:
  """Writes to a real file descriptor with os.write, so that a closed pipe
  (`ref-opt ... | head`) reliably raises BrokenPipeError."""
  try:
    fd = out.fileno()
  except (AttributeError, OSError, ValueError):
    if isinstance(text, bytes):
      getattr(out, "buffer", out).write(text)
    else:
      out.write(text)
    out.flush()
    return
  out.flush()
  data = memoryview(text if isinstance(text, bytes) else text.encode("utf-8"))
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
  candidates = sorted(set(flags) | set(_pass_entries()) | set(COMMON_UPSTREAM_PASSES)
                      | set(STABLEHLO_MODULE_PASSES) | set(STABLEHLO_FUNC_PASSES))
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
