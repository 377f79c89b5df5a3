"""The shared XLA compile helper: StableHLO module in, runnable executable out.

`compile_module` serializes a StableHLO module (an `ir.Module`, a module or
`func.func` operation, or text) to MLIR bytecode and compiles it with XLA
through JAX's backend functions (`get_backend`, `get_compile_options`,
`compile_or_get_cached`), the way JAX's own `jax/_src/compiler.py` does. They
are imported from `jax._src` (the same functions `jax.extend.backend`
re-exports): importing `jax.extend` imports Pallas, 20 ms of a process's
first call. The tests,
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
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxlib.mlir import ir

from refhlo.compiler import irutil
from refhlo.compiler.hlo_text import COPY_OPCODES, Copy, parse_copies, shape_bytes  # noqa: F401
from refhlo.compiler.xla_options import (  # noqa: F401
    PLATFORM_OPTIONS,
    REGION_ANALYSIS_OPTIONS,
    OptionValue,
    compile_options,
    first_loop,
    options_for_module,
    platform_options,
    region_analysis_is_safe,
)

class XlaCompileError(ValueError):
  """The module cannot be compiled by XLA (leftover ref ops, no @main, XLA
  rejected it). The message is an MLIR-style diagnostic where a location is
  known."""


# ---------------------------------------------------------------------------
# The compiled executable.


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
  devices: tuple[Any, ...] = ()    # an SPMD program's devices, in partition order
  out_types: tuple[tuple[tuple[int, ...], Any], ...] = ()  # (global shape, dtype)

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
    if len(self.devices) > 1:
      return self._execute_spmd(arrays)
    args = []
    for a in arrays:
      if isinstance(a, jax.Array) and a.devices() == {self.device}:
        args.append(a)
      else:
        args.append(jax.device_put(a, self.device))
    results = self.executable.execute_sharded(args)
    return [r[0] for r in results.disassemble_into_single_device_arrays()]

  def _execute_spmd(self, arrays: Sequence[Any]) -> list[Any]:
    """`execute` of a program partitioned over several devices: arguments
    are global `jax.Array`s over exactly those devices (others are
    replicated onto them); results come back as global arrays with the
    shardings XLA gave them."""
    import jax  # pylint: disable=g-import-not-at-top
    from jax._src import sharding_impls  # pylint: disable=g-import-not-at-top
    from jax._src.lib import xla_client as xc  # pylint: disable=g-import-not-at-top

    devices = xc.DeviceList(tuple(self.devices))
    args = []
    for a in arrays:
      if not (isinstance(a, jax.Array) and a.sharding.device_set == set(self.devices)):
        a = jax.device_put(a, sharding_impls.GSPMDSharding.get_replicated(devices))
      args.append(a)
    results = self.executable.execute_sharded(args)
    shards = results.disassemble_into_single_device_arrays()
    out = []
    for (shape, dtype), op_sharding, pieces in zip(
        self.out_types, self.executable.get_output_shardings(), shards):
      sharding = sharding_impls.GSPMDSharding(devices, op_sharding)
      out.append(jax.make_array_from_single_device_arrays(shape, sharding, pieces))
    return out

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


def _uses_shardy(module_op: ir.Operation) -> bool:
  return any(op.operation.name == "sdy.mesh"
             for op in module_op.regions[0].blocks[0].operations)


def _main_func(module_op: ir.Operation) -> ir.Operation:
  for op in irutil.module_functions(module_op):
    if irutil.func_name(op) == "main":
      return op
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
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  if backend is None or isinstance(backend, str):
    return xla_bridge.get_backend(backend)
  return backend


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
  client = get_backend(backend)
  module_op, _ = _as_module(module, None)
  _check_no_refs(module_op)
  main = _main_func(module_op)
  aliases, donated = _aliasing(main)
  ftype = ir.FunctionType(ir.TypeAttr(main.attributes["function_type"]).value)
  xla_opts, notes = options_for_module(client.platform, module_op, options,
                                       default_options=default_options)
  copts, devices = _build_options(client, xla_opts, module_op, main, device, devices)
  executable = _compile(client, module, module_op, devices, copts, host_callbacks)
  out_types = tuple((tuple(ir.RankedTensorType(t).shape), irutil.tensor_dtype(t))
                    for t in ftype.results)
  return Compiled(executable=executable, backend=client, device=devices[0],
                  donated=donated, aliases=aliases, xla_options=xla_opts,
                  num_args=len(ftype.inputs), notes=tuple(notes),
                  devices=devices if len(devices) > 1 else (),
                  out_types=out_types)


def _build_options(client: Any, xla_opts: Mapping[str, OptionValue],
                   module_op: ir.Operation, main: ir.Operation, device: Any,
                   devices: Any) -> tuple[Any, tuple[Any, ...]]:
  """XLA's compile options for one device (`device`, default the backend's
  first) or for an SPMD program over `devices`; and the devices, in order."""
  from jax._src.compiler import get_compile_options  # pylint: disable=g-import-not-at-top
  if devices is None:
    dev = device if device is not None else client.local_devices()[0]
    copts = get_compile_options(
        num_replicas=1, num_partitions=1, device_assignment=[dev],
        env_options_overrides=dict(xla_opts), backend=client)
    return copts, (dev,)
  devices = tuple(devices)
  copts = get_compile_options(
      num_replicas=1, num_partitions=len(devices),
      device_assignment=np.array(devices).reshape(1, len(devices)),
      env_options_overrides=dict(xla_opts), backend=client)
  build = copts.executable_build_options
  # `mhlo.sharding` strings are GSPMD's (refhlo.jit emits those); a module
  # with a Shardy mesh (`sdy.sharding`, e.g. from a ref argument's
  # `ref.sharding`) is partitioned by Shardy.
  build.use_shardy_partitioner = _uses_shardy(module_op)
  build.allow_spmd_sharding_propagation_to_output = [
      "mhlo.sharding" not in d for d in _result_attrs(main)]
  return copts, devices


def _compile(client: Any, module: Any, module_op: ir.Operation,
             devices: tuple[Any, ...], copts: Any, host_callbacks: Any) -> Any:
  """XLA's executable, through JAX's own compile path: it honours the
  persistent compilation cache (`jax_compilation_cache_dir` and its
  thresholds), keyed on the module, the compile options (refhlo's XLA
  options included) and the backend."""
  from jax._src import compiler as jax_compiler  # pylint: disable=g-import-not-at-top
  from jax._src.lib import xla_client as xc  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
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
    return jax_compiler.compile_or_get_cached(
        client, as_module, np.array(devices), copts, list(host_callbacks or ()),
        xc.DeviceList(devices))
  except jax.errors.JaxRuntimeError as e:
    raise XlaCompileError(f"error: XLA could not compile the module: {e}") from None
  finally:
    if unnamed:
      del as_module.operation.attributes["sym_name"]


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
