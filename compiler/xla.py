"""The shared XLA compile helper: StableHLO module in, runnable executable out.

`compile_module` serializes a StableHLO module (an `ir.Module`, a module or
`func.func` operation, or text) to MLIR bytecode and compiles it with XLA
through `jax.extend.backend` (`get_backend`, `get_compile_options`,
`compile_and_load`), the way JAX's own `jax/_src/compiler.py` does. The tests,
the frontend (`refhlo.jit`) and the benchmarks all compile through here, so the
XLA options that make ref writes in-place live in one place:
`PLATFORM_OPTIONS` (see docs/inplace.md for why each is there).

Input/output aliasing comes from the module itself: XLA's StableHLO importer
turns a `tf.aliasing_output = k` argument attribute on `@main` into the HLO
module's `input_output_alias` (argument -> result `k`), and
`jax.buffer_donor = true` into a buffer donor. `Compiled.execute` donates
exactly those arguments: their arrays are consumed (deleted) by the call and
their buffers reused for the aliased results.

`Compiled.copies(min_bytes)` lists the `copy` / `copy-start` / `copy-done`
instructions of the optimized HLO at least `min_bytes` large, each with the
HLO instruction and the source metadata XLA kept (`op_name`, and
`source_file:line` that comes from the MLIR locations). A ref-sized copy means
a ref write was not done in place.

This module imports `jax` lazily, inside functions: the compiler package must
stay importable without it (`ref-opt` start-up time).
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
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

COPY_OPCODES = ("copy", "copy-start", "copy-done")


class XlaCompileError(ValueError):
  """The module cannot be compiled by XLA (leftover ref ops, no @main, XLA
  rejected it). The message is an MLIR-style diagnostic where a location is
  known."""


def platform_options(platform: str) -> dict[str, OptionValue]:
  """refhlo's XLA options for `platform` ('cpu', 'gpu'/'cuda'/'rocm', 'tpu')."""
  key = _PLATFORM_ALIASES.get(platform, platform)
  return dict(PLATFORM_OPTIONS.get(key, {}))


# ---------------------------------------------------------------------------
# The compiled executable.


@dataclasses.dataclass(frozen=True)
class Copy:
  """One copy instruction of the optimized HLO."""
  name: str          # HLO instruction name, e.g. "copy.1"
  opcode: str        # "copy" | "copy-start" | "copy-done"
  shape: str         # HLO shape text, e.g. "f32[16384,1024]{1,0}"
  size_bytes: int    # bytes of the copied array
  computation: str   # the HLO computation holding it
  instruction: str   # the whole HLO line
  op_name: str | None = None      # metadata op_name (MLIR NameLoc)
  source_file: str | None = None  # metadata source file (MLIR FileLineColLoc)
  source_line: int | None = None
  metadata_from: str | None = None  # instruction the source was taken from

  @property
  def source(self) -> str | None:
    """`file:line` of the op this copy came from, if XLA kept it."""
    if self.source_file is None:
      return None
    if self.source_line is None:
      return self.source_file
    return f"{self.source_file}:{self.source_line}"

  def describe(self) -> str:
    where = self.source or "unknown source"
    op = f" [{self.op_name}]" if self.op_name else ""
    if self.metadata_from:
      where += f" (via %{self.metadata_from})"
    return (f"{self.opcode} of {self.size_bytes} bytes ({self.shape}) "
            f"in {self.computation} from {where}{op}: {self.instruction}")


@dataclasses.dataclass(frozen=True)
class Compiled:
  """An XLA executable compiled by `compile_module`, with its inspectors."""
  executable: Any                  # jaxlib LoadedExecutable
  backend: Any                     # the XLA client it was compiled for
  device: Any                      # the device it runs on
  donated: tuple[int, ...]         # argument numbers donated on execute
  aliases: Mapping[int, int]       # argument -> aliased result
  xla_options: Mapping[str, OptionValue]
  num_args: int
  notes: tuple[str, ...] = ()      # why an in-place option was left out

  @property
  def platform(self) -> str:
    return self.backend.platform

  def execute(self, *arrays: Any) -> list[Any]:
    """Runs the executable; returns its results as `jax.Array`s.

    Arguments may be NumPy arrays, scalars or `jax.Array`s; they are put on
    the executable's device first. Donated arguments (`tf.aliasing_output`,
    `jax.buffer_donor`) are consumed: a `jax.Array` passed there is deleted
    and its buffer reused for the aliased result.
    """
    import jax  # pylint: disable=g-import-not-at-top

    if len(arrays) != self.num_args:
      raise TypeError(f"expected {self.num_args} arguments, got {len(arrays)}")
    args = []
    for a in arrays:
      if isinstance(a, jax.Array) and a.devices() == {self.device}:
        args.append(a)
      else:
        args.append(jax.device_put(a, self.device))
    results = self.executable.execute_sharded(args)
    return [r[0] for r in results.disassemble_into_single_device_arrays()]

  def memory_analysis(self) -> Any:
    """XLA's `CompiledMemoryStats`: `temp_size_in_bytes`,
    `alias_size_in_bytes`, `argument_size_in_bytes`, `output_size_in_bytes`,
    ..."""
    return self.executable.get_compiled_memory_stats()

  def hlo_text(self) -> str:
    """The optimized HLO (after all XLA passes), with metadata."""
    return "\n".join(m.to_string() for m in self.executable.hlo_modules())

  def copies(self, min_bytes: int = 0) -> list[Copy]:
    """Copy instructions of the optimized HLO copying at least `min_bytes`."""
    return [c for c in parse_copies(self.hlo_text()) if c.size_bytes >= min_bytes]

  def copy_report(self, min_bytes: int = 0) -> str:
    """One line per copy of at least `min_bytes`, each followed by the notes
    saying why an in-place option was off; empty when there is no copy."""
    why = "".join(f"; {n}" for n in self.notes)
    return "\n".join(c.describe() + why for c in self.copies(min_bytes))


# ---------------------------------------------------------------------------
# Compiling.


def _as_module(module: ir.Module | ir.Operation | ir.OpView | str,
               context: ir.Context | None) -> tuple[ir.Operation, ir.Context]:
  if isinstance(module, str):
    if context is None:
      from refhlo.compiler.context import make_context  # pylint: disable=g-import-not-at-top
      context = make_context()
    try:
      module = ir.Module.parse(module, context=context)
    except ir.MLIRError as e:
      from refhlo.compiler import diagnostics  # pylint: disable=g-import-not-at-top
      raise XlaCompileError("\n".join(
          diagnostics.format_diagnostic(d)
          for d in diagnostics.from_error(e))) from None
  op = module.operation
  if op.name == "func.func":
    # Wrap a lone function into a module of its own.
    with op.context, op.location:
      wrapper = ir.Module.create()
      with ir.InsertionPoint(wrapper.body):
        op.clone()
    return wrapper.operation, op.context
  if op.name != "builtin.module":
    raise XlaCompileError(f"expected a builtin.module or func.func, got '{op.name}'")
  return op, op.context


def _loc_prefix(loc: ir.Location) -> str:
  from refhlo.compiler import diagnostics  # pylint: disable=g-import-not-at-top
  fl = diagnostics.file_loc(loc)
  return f"{fl.file}:{fl.line}:{fl.col}: " if fl else ""


def _check_no_refs(module_op: ir.Operation) -> None:
  """XLA cannot compile the `ref` dialect: say where one is left."""
  from refhlo.compiler.dialect.types import is_ref_type  # pylint: disable=g-import-not-at-top

  found: list[ir.Operation] = []

  def visit(op):
    op = op.operation
    if op.name.startswith("ref.") or any(
        is_ref_type(v.type) for v in list(op.operands) + list(op.results)) or any(
            is_ref_type(a.type) for r in op.regions for b in r.blocks
            for a in b.arguments):
      found.append(op)
      return ir.WalkResult.INTERRUPT
    return ir.WalkResult.ADVANCE

  module_op.walk(visit)
  if found:
    op = found[0]
    raise XlaCompileError(
        f"{_loc_prefix(op.location)}error: '{op.name}' uses the ref dialect, "
        f"which XLA cannot compile; run the 'ref-to-stablehlo' pipeline first")


def _main_func(module_op: ir.Operation) -> ir.Operation:
  for op in module_op.regions[0].blocks[0].operations:
    if op.operation.name == "func.func" and \
        ir.StringAttr(op.attributes["sym_name"]).value == "main":
      return op.operation
  raise XlaCompileError("error: the module has no 'func.func @main', "
                        "XLA's entry computation")


def _aliasing(main: ir.Operation) -> tuple[dict[int, int], tuple[int, ...]]:
  """(argument -> aliased result, donated arguments) from @main's arg attrs."""
  aliases: dict[int, int] = {}
  donated: list[int] = []
  if "arg_attrs" not in main.attributes:
    return aliases, ()
  for i, attrs in enumerate(ir.ArrayAttr(main.attributes["arg_attrs"])):
    d = ir.DictAttr(attrs)
    if "tf.aliasing_output" in d:
      aliases[i] = ir.IntegerAttr(d["tf.aliasing_output"]).value
      donated.append(i)
    elif "jax.buffer_donor" in d and ir.BoolAttr(d["jax.buffer_donor"]).value:
      donated.append(i)
  return aliases, tuple(donated)


def get_backend(backend: Any = None) -> Any:
  """An XLA client: `backend` itself, the one named ('cpu', 'gpu', ...), or
  JAX's default."""
  from jax.extend import backend as jbackend  # pylint: disable=g-import-not-at-top
  if backend is None or isinstance(backend, str):
    return jbackend.get_backend(backend)
  return backend


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


def _result_attrs(main: ir.Operation) -> list[ir.DictAttr]:
  """The attribute dictionary of each result of `main`."""
  n = len(ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value).results)
  if "res_attrs" not in main.attributes:
    return [ir.DictAttr.get({}, context=main.context)] * n
  return [ir.DictAttr(a) for a in ir.ArrayAttr(main.attributes["res_attrs"])]


def compile_module(module: ir.Module | ir.Operation | str, *,
                   backend: Any = None,
                   options: Mapping[str, OptionValue | None] | None = None,
                   default_options: bool = True,
                   device: Any = None,
                   devices: Any = None,
                   host_callbacks: Any = ()) -> Compiled:
  """Compiles a StableHLO module (entry `@main`) with XLA for one device, or
  as one SPMD program partitioned over `devices` (in that order; the
  arguments' and results' `mhlo.sharding` say how values are split, and
  results without one get the sharding XLA's propagation chooses).

  `backend`: an XLA client or a platform name; JAX's default when None.
  `options`: XLA debug options (`xla_...` names) on top of
  `PLATFORM_OPTIONS` for the backend's platform; `default_options=False`
  leaves refhlo's defaults out, and modules with a loop never get the
  `REGION_ANALYSIS_OPTIONS` defaults (an XLA miscompile, see there); an
  explicit `options=` entry is always used as given.
  `device`: defaults to the backend's first
  local device. `host_callbacks`: the Python callbacks a JAX lowering
  registered (`jax.debug.print`), passed on to XLA. Raises `XlaCompileError`
  on a module XLA cannot compile.
  """
  from jax._src.lib import xla_client as xc  # pylint: disable=g-import-not-at-top
  from jax.extend import backend as jbackend  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  client = get_backend(backend)
  module_op, _ = _as_module(module, None)
  _check_no_refs(module_op)
  main = _main_func(module_op)
  aliases, donated = _aliasing(main)
  num_args = len(ir.FunctionType(
      ir.TypeAttr(main.attributes["function_type"]).value).inputs)

  xla_opts = compile_options(client.platform, options,
                             default_options=default_options)
  notes: list[str] = []
  if default_options and any(n in xla_opts for n in REGION_ANALYSIS_OPTIONS - set(options or {})):
    loop = first_loop(module_op)
    if loop is not None:
      for name in REGION_ANALYSIS_OPTIONS - set(options or {}):
        xla_opts.pop(name, None)
      where = _loc_prefix(loop.location).rstrip(": ")
      notes.append(
          "region-based copy removal was off: the program has a loop"
          + (f" (at {where})" if where else "")
          + ", and XLA:CPU miscompiles loops with it (docs/inplace.md), so a ref "
          "read and then written in place is copied")
  if devices is not None:
    devices = tuple(devices)
    dev = devices[0]
    copts = jbackend.get_compile_options(
        num_replicas=1, num_partitions=len(devices),
        device_assignment=np.array(devices).reshape(1, len(devices)),
        env_options_overrides=dict(xla_opts), backend=client)
    build = copts.executable_build_options
    # The shardings are `mhlo.sharding` strings (GSPMD's); refhlo emits no
    # Shardy dialect.
    build.use_shardy_partitioner = False
    build.allow_spmd_sharding_propagation_to_output = [
        "mhlo.sharding" not in d for d in _result_attrs(main)]
  else:
    dev = device if device is not None else client.local_devices()[0]
    devices = (dev,)
    copts = jbackend.get_compile_options(
        num_replicas=1, num_partitions=1, device_assignment=[dev],
        env_options_overrides=dict(xla_opts), backend=client)

  if isinstance(module, ir.Module):
    as_module = module
  else:
    buf = io.BytesIO()
    module_op.write_bytecode(buf)
    as_module = ir.Module.parse(buf.getvalue(), context=module_op.context)
  unnamed = "sym_name" not in as_module.operation.attributes
  if unnamed:
    # JAX's compile path names the module (logs, cache entries) after it;
    # the caller's module is left as it was.
    with as_module.context:
      as_module.operation.attributes["sym_name"] = ir.StringAttr.get("refhlo_main")
  try:
    # JAX's own compile path: it honours the persistent compilation cache
    # (`jax_compilation_cache_dir` and its thresholds), keyed on the module,
    # the compile options (refhlo's XLA options included) and the backend.
    from jax._src import compiler as jax_compiler  # pylint: disable=g-import-not-at-top
    executable = jax_compiler.compile_or_get_cached(
        client, as_module, np.array(devices), copts, list(host_callbacks or ()),
        xc.DeviceList(devices))
  except jax.errors.JaxRuntimeError as e:
    raise XlaCompileError(f"error: XLA could not compile the module: {e}") from None
  finally:
    if unnamed:
      del as_module.operation.attributes["sym_name"]
  return Compiled(executable=executable, backend=client, device=dev,
                  donated=donated, aliases=aliases, xla_options=xla_opts,
                  num_args=num_args, notes=tuple(notes))


# ---------------------------------------------------------------------------
# Reading the optimized HLO.

_ELEMENT_BITS = {
    "pred": 8, "s1": 1, "u1": 1, "s2": 2, "u2": 2, "s4": 4, "u4": 4,
    "s8": 8, "u8": 8, "s16": 16, "u16": 16, "s32": 32, "u32": 32,
    "s64": 64, "u64": 64, "f16": 16, "bf16": 16, "f32": 32, "f64": 64,
    "c64": 64, "c128": 128, "token": 0,
}

_ARRAY_RE = re.compile(r"\b([a-z]+[0-9]*(?:e[0-9]+m[0-9]+[a-z]*)?)\[([0-9,]*)\]")
_INSTR_RE = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<shape>.+?)\s+"
    r"(?P<opcode>[\w\-]+)\((?P<rest>.*)$")
_COMP_RE = re.compile(r"^(?:ENTRY\s+)?%?(?P<name>[\w.\-]+)\s*\(.*\{\s*$")
_META_RE = re.compile(r"metadata=\{(?P<body>[^}]*)\}")
_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_TABLE_RE = re.compile(r"^(FileNames|FunctionNames|FileLocations|StackFrames)\s*$")


def _element_bits(name: str) -> int:
  if name in _ELEMENT_BITS:
    return _ELEMENT_BITS[name]
  if name.startswith("f8") or name.startswith("f4") or name.startswith("f6"):
    return 8  # fp8 and narrower floats: count whole bytes
  return 32


def shape_bytes(shape: str) -> int:
  """Bytes of the largest array in an HLO shape (a tuple's largest element:
  for `copy-start`'s `(dst, src, context)` that is the copied array)."""
  best = 0
  for m in _ARRAY_RE.finditer(shape):
    n = 1
    for d in filter(None, m.group(2).split(",")):
      n *= int(d)
    best = max(best, (n * _element_bits(m.group(1)) + 7) // 8)
  return best


def _unquote(s: str) -> str:
  if len(s) >= 2 and s[0] == s[-1] == '"':
    return s[1:-1].encode().decode("unicode_escape")
  return s


def _stack_frames(text: str) -> dict[int, tuple[str, int]]:
  """stack_frame_id -> (file, line) from the HLO text's location tables."""
  tables: dict[str, dict[int, str]] = {}
  current = None
  for line in text.splitlines():
    m = _TABLE_RE.match(line.strip())
    if m:
      current = tables.setdefault(m.group(1), {})
      continue
    if current is None:
      continue
    if not line.strip():
      current = None
      continue
    key, _, value = line.strip().partition(" ")
    if key.isdigit():
      current[int(key)] = value.strip()
  files = {k: _unquote(v) for k, v in tables.get("FileNames", {}).items()}
  locs = {}
  for k, v in tables.get("FileLocations", {}).items():
    f = dict(_FIELD_RE.findall(v.strip("{}")))
    locs[k] = (files.get(int(f.get("file_name_id", 0)), "?"), int(f.get("line", 0)))
  frames = {}
  for k, v in tables.get("StackFrames", {}).items():
    f = dict(_FIELD_RE.findall(v.strip("{}")))
    loc = locs.get(int(f.get("file_location_id", 0)))
    if loc:
      frames[k] = loc
  return frames


def _meta_fields(rest: str, frames: dict[int, tuple[str, int]]
                 ) -> tuple[str | None, str | None, int | None] | None:
  """(op_name, source_file, source_line) from an instruction's metadata."""
  meta = _META_RE.search(rest)
  if not meta:
    return None
  fields = {k: _unquote(v) for k, v in _FIELD_RE.findall(meta.group("body"))}
  op_name = fields.get("op_name")
  source_file = fields.get("source_file")
  source_line = int(fields["source_line"]) if "source_line" in fields else None
  if source_file is None and "stack_frame_id" in fields:
    frame = frames.get(int(fields["stack_frame_id"]))
    if frame:
      source_file, source_line = frame
  if op_name is None and source_file is None:
    return None
  return op_name, source_file, source_line


def parse_copies(hlo_text: str) -> list[Copy]:
  """Every copy / copy-start / copy-done instruction in HLO text.

  Copies that XLA's copy insertion adds carry no metadata of their own; for
  those the source is taken from the first user (else the operand, else the
  while/conditional/fusion calling its computation) that has some, and
  `metadata_from` says which instruction it came from.
  """
  frames = _stack_frames(hlo_text)
  instrs: list[tuple[str, str, str, str, str]] = []  # comp, name, shape, op, rest
  computation = "?"
  for line in hlo_text.splitlines():
    cm = _COMP_RE.match(line)
    if cm and "=" not in line.split("(")[0]:
      computation = cm.group("name")
      continue
    m = _INSTR_RE.match(line)
    if m:
      instrs.append((computation, m.group("name"), m.group("shape"),
                     m.group("opcode"), m.group("rest")))
  meta = {name: _meta_fields(rest, frames) for _, name, _, _, rest in instrs}
  out: list[Copy] = []
  lines = {name: line for line in hlo_text.splitlines()
           for m in [_INSTR_RE.match(line)] if m for name in [m.group("name")]}
  for comp, name, shape, opcode, rest in instrs:
    if opcode not in COPY_OPCODES:
      continue
    found, origin = meta.get(name), None
    if found is None:
      use = re.compile(rf"%{re.escape(name)}(?![\w.\-])")
      users = [n for c, n, _, _, r in instrs if c == comp and use.search(r)]
      operands = re.findall(r"%([\w.\-]+)", rest.split(")")[0])
      # ...else the instruction calling this computation (while, conditional).
      call = re.compile(rf"%{re.escape(comp)}(?![\w.\-])")
      callers = [n for c, n, _, _, r in instrs if c != comp and call.search(r)]
      for other in users + operands + callers:
        if meta.get(other) is not None:
          found, origin = meta[other], other
          break
    op_name, source_file, source_line = found or (None, None, None)
    out.append(Copy(name=name, opcode=opcode, shape=shape,
                    size_bytes=shape_bytes(shape), computation=comp,
                    instruction=lines[name].strip(), op_name=op_name,
                    source_file=source_file, source_line=source_line,
                    metadata_from=origin))
  return out


def summarize(compiled: Compiled, ref_bytes: int) -> dict[str, Any]:
  """The in-place facts about `compiled` for a ref of `ref_bytes` bytes."""
  stats = compiled.memory_analysis()
  copies = compiled.copies(ref_bytes)
  return {
      "temp_size_in_bytes": stats.temp_size_in_bytes,
      "alias_size_in_bytes": stats.alias_size_in_bytes,
      "ref_sized_copies": len(copies),
      "in_place": not copies and stats.temp_size_in_bytes < ref_bytes / 8,
  }
