#!/usr/bin/env python3
"""Differential fuzzing of refhlo with seeded random programs.

    python tools/fuzz.py --seed S --count N [--kind ref|jax|both] [--jobs J]
    python tools/fuzz.py --kind jax --show SEED [--reduce]   # one program
    python tools/fuzz.py --kind ref --no-loops --force-region-analysis ...

Two kinds of programs, N of each kind asked for:

* `ref`: ref-dialect modules from test/python/refgen.py (adversarial
  profile; `--profile classic` for the original mix). The NumPy interpreter
  (`refhlo.compiler.interpreter`) runs the module as written; the module then
  goes through `ref-to-stablehlo` and is compiled by XLA under every option
  setting refhlo uses: `compile_module`'s defaults (refhlo's own policy:
  region analysis on CPU only for modules without loops) and
  `default_options=False`; a setting whose effective options equal an earlier
  one's is not compiled twice. Results and final ref contents must agree.
* `jax`: JAX programs from test/python/jaxgen.py, run by `jax.jit` and by
  `refhlo.jit` on fresh refs each (results, final ref contents, callback
  logs and debug prints), each called three times on the same refs (the
  third with every scalar argument one higher): the first call's outcome,
  the third's (refhlo.jit's cached executable, then its per-call fast path
  on new values) and whether call 1's outputs survived the later calls are
  compared. Also run, where they apply: refhlo.jit with
  refhlo's XLA options left out (when they were used), and the emitted ref
  module through the interpreter (not for programs with host callbacks).

A program fails when the outcomes differ (`mismatch`), when refhlo raises an
exception that is neither a `RefhloError` nor of the type jax.jit raised
(`crash`; also a pipeline rejecting a valid ref module, or a bug in this
tool), or when it runs past `--timeout` seconds. Not failures, but counted
and listed: `rejected` (a RefhloError on a program jax.jit runs), `invalid`
(jax.jit rejects the program, or the interpreter rejects a ref module: a
generator issue), `both_raise` (same exception type on both sides, e.g. an
int argument that overflows int32), `probe` (a mismatch only with XLA region
analysis forced on, `--force-region-analysis`: refhlo does not use it for
such programs) and `skipped` (`--skip-pattern`). Each failure gets a class, a
diagnosis from the differential runs (which settings fail, whether the
interpreter agrees; for JAX programs with host callbacks, the same program
without them), and a reproducer line; `--show SEED --reduce` shrinks it.
Exit status 1 on any failure.

Speed: XLA compiles (~60 ms each on CPU) dominate; `--jobs` runs programs in
worker processes (spawned; each keeps its JAX backend, MLIR context and
checkers across programs). The summary reports programs/s.
"""

from __future__ import annotations

import argparse
import ast
import collections
import contextlib
import dataclasses
import io
import os
import re
import signal
import sys
import time
import traceback
from collections.abc import Iterable
from typing import Any

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DIR = os.path.join(REPO, "test", "python")
if TEST_DIR not in sys.path:
  sys.path.insert(0, TEST_DIR)

FAILURES = ("mismatch", "crash", "timeout")
NOTES = ("rejected", "invalid", "probe", "both_raise", "skipped", "xla_bug")

# jax.jit's second opinion when it disagrees with refhlo: the same StableHLO
# compiled without XLA's algebraic simplifier, whose dynamic_slice-of-
# dynamic_slice fold drops the inner clamp (canary:
# test_xla_nested_dynamic_slice_fold). When refhlo, its interpreter and this
# agree, jax.jit's own answer is an XLA miscompile, not the semantics.
NO_ALGSIMP = {"xla_disable_hlo_passes": "algsimp"}


@dataclasses.dataclass
class Result:
  kind: str            # "ref" | "jax"
  seed: int
  status: str          # ok | mismatch | crash | timeout | rejected | invalid
  patterns: tuple[str, ...] = ()
  klass: str = ""      # the failure class (a diagnosis), for failures
  detail: str = ""
  seconds: float = 0.0
  profile: str = ""    # refgen's profile (ref programs)

  @property
  def failed(self) -> bool:
    return self.status in FAILURES

  def repro(self) -> str:
    extra = f" --profile {self.profile}" if self.profile == "classic" else ""
    if LOOP_FREE:
      extra += " --no-loops"
    if self.status == "probe":
      extra += " --force-region-analysis"
    return f"python tools/fuzz.py --kind {self.kind} --show {self.seed}{extra}"


class _Timeout(Exception):
  pass


@contextlib.contextmanager
def _time_limit(seconds: float):
  if not seconds or not threading_main():
    yield
    return

  def handler(signum, frame):
    raise _Timeout(f"ran past {seconds} s")

  old = signal.signal(signal.SIGALRM, handler)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def threading_main() -> bool:
  import threading
  return threading.current_thread() is threading.main_thread()


# -- comparing outcomes ---------------------------------------------------------------------


EXACT_F32 = 2.0 ** 24
"""Below this magnitude the generators' float values are small integers, so
any order of summing them gives the same float32."""

INEXACT_RTOL = 1e-4
"""Relative tolerance for floats at or above EXACT_F32. There a sum's
rounding depends on the order of its terms, which XLA does not specify and
which changes with fusion decisions (and so with XLA options): ref seeds
737464 and 740898 sum 30 copies of a value near 1e13 each step and differ by
~1e-6 relatively, a few ulps per step. Any real miscompile (a step lost, a
write dropped, a wrong element) differs by far more."""


def _arrays_equal(x: np.ndarray, y: np.ndarray) -> bool:
  if x.shape != y.shape or x.dtype != y.dtype:
    return False
  if x.dtype.kind == "f":
    with np.errstate(invalid="ignore", over="ignore"):
      big = np.maximum(np.abs(x), np.abs(y)) >= EXACT_F32
    rtol = np.where(big, INEXACT_RTOL, 1e-6)
    return bool(np.all(np.isclose(x, y, rtol=rtol, atol=1e-6, equal_nan=True)))
  return bool(np.array_equal(x, y))


def _describe(a: np.ndarray) -> str:
  a = np.asarray(a)
  text = np.array2string(a, threshold=40, max_line_width=200).replace("\n", "")
  return f"{a.dtype}{list(a.shape)} {text}"


def diff(a: dict[str, Any], b: dict[str, Any]) -> str | None:
  """None when two outcomes agree, else the first difference. An outcome maps
  names ("result 0", "ref 1", "tree", "log") to arrays or strings."""
  for k in list(a) + [k for k in b if k not in a]:
    if k not in a or k not in b:
      return f"{k}: only on one side"
    x, y = a[k], b[k]
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
      x, y = np.asarray(x), np.asarray(y)
      if not _arrays_equal(x, y):
        return f"{k}: {_describe(x)} vs {_describe(y)}"
    elif x != y and not (k.endswith("log") and _logs_equal(x, y)):
      return f"{k}: {str(x)[:300]} vs {str(y)[:300]}"
  return None


def _logs_equal(a: list[str], b: list[str]) -> bool:
  """Two host-callback logs (sorted reprs of `(tag, values...)`) that differ
  only in floats past EXACT_F32 by reduction-order rounding: entry by entry,
  the same tags and structure, the values compared as `_arrays_equal`
  compares arrays (JAX seed 836651 logs a float32 sum of 8 copies of -5e8,
  whose last bits depend on the order XLA adds in)."""
  if len(a) != len(b):
    return False
  for ea, eb in zip(a, b):
    try:
      ta, tb = ast.literal_eval(ea), ast.literal_eval(eb)
    except (ValueError, SyntaxError):
      return False
    if not (isinstance(ta, tuple) and isinstance(tb, tuple)
            and len(ta) == len(tb) and ta[0] == tb[0]):
      return False
    for va, vb in zip(ta[1:], tb[1:]):
      xa, xb = np.asarray(va), np.asarray(vb)
      if xa.dtype == object or xb.dtype == object or not _arrays_equal(xa, xb):
        return False
  return True


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  line = next((t for t in text if "error" in t.lower()), text[0] if text else "")
  return line[:300]


def _normalize(msg: str) -> str:
  """A message with locations, names and numbers blurred, for classes."""
  msg = re.sub(r"<jaxgen-\d+>:\d+:\d+: ", "", msg)
  msg = re.sub(r" at 0x[0-9a-fA-F]+", "", msg)
  msg = re.sub(r"(/[\w.\-]+)+\.py:\d+(:\d+)?", "FILE", msg)
  msg = re.sub(r"%[\w#]+", "%V", msg)
  msg = re.sub(r"\b[vwsrgckKiqx]\d+\b", "N", msg)
  msg = re.sub(r"-?\d+", "#", msg)
  return msg[:160]


# -- ref-dialect programs ------------------------------------------------------------------


class RefChecker:
  """Checks refgen programs: interpreter vs pipeline + XLA, every setting."""

  SETTINGS = (("refhlo-defaults", True, None), ("no-defaults", False, None))
  # Not a setting refhlo uses: XLA region analysis forced on (the option
  # refhlo leaves out of modules with loops). `--probe-region-analysis`
  # reports its mismatches as `probe` (not failures): they show the
  # generator still finds the XLA bug that made refhlo leave it out.
  PROBE = ("forced-region-analysis", True,
           {"xla_cpu_copy_insertion_use_region_analysis": True})

  def __init__(self, profile: str = "adversarial", probe: bool = False,
               loop_free: bool | None = None):
    from refhlo.compiler.context import make_context
    self.profile = profile
    self.probe = probe
    self.loop_free = loop_free
    self._make_context = make_context
    self._ctx = None
    self._uses = 0

  def context(self):
    if self._ctx is None or self._uses >= 200:
      self._ctx = self._make_context()
      self._uses = 0
    self._uses += 1
    return self._ctx

  @staticmethod
  def outcome(program, main, outs: list[Any]) -> dict[str, Any]:
    """{result k, ref k} from a lowered function's outputs (donated refs are
    trailing results; read-only refs keep their argument value)."""
    from jaxlib.mlir import ir
    aliases: dict[int, int] = {}
    if "arg_attrs" in main.attributes:
      for i, attrs in enumerate(ir.ArrayAttr(main.attributes["arg_attrs"])):
        d = ir.DictAttr(attrs)
        if "tf.aliasing_output" in d:
          aliases[i] = ir.IntegerAttr(d["tf.aliasing_output"]).value
    args = program.arg_values()
    out: dict[str, Any] = {}
    for k, r in enumerate(outs[:len(outs) - len(aliases)]):
      out[f"result {k}"] = np.asarray(r)
    k = 0
    for i, a in enumerate(program.args):
      if a.is_ref:
        out[f"ref {k}"] = np.asarray(outs[aliases[i]] if i in aliases else args[i])
        k += 1
    return out

  @staticmethod
  def want_outcome(results, refs) -> dict[str, Any]:
    out = {f"result {k}": np.asarray(r) for k, r in enumerate(results)}
    out.update({f"ref {k}": np.asarray(r) for k, r in enumerate(refs)})
    return out

  def generate(self, seed: int):
    import refgen
    return refgen.generate(seed, self.profile, loop_free=self.loop_free)

  def check(self, seed: int, *, verbose: bool = False) -> Result:
    return self.check_program(self.generate(seed), verbose=verbose)

  def check_program(self, program, *, verbose: bool = False) -> Result:
    from jaxlib.mlir import ir
    from refhlo.compiler import xla
    from refhlo.compiler.interpreter import interpret
    from refhlo.compiler.pipeline import PipelineFailure, run_pipeline

    res = Result("ref", program.seed, "ok", tuple(sorted(program.patterns)),
                 profile=program.profile)
    if verbose:
      print(program.text)
      for a in program.args:
        print("//", a.name, "=", a.value.tolist())
    with self.context():
      module = ir.Module.parse(program.text)
      try:
        want = self.want_outcome(*interpret(module.operation, "main",
                                            program.arg_values()))
      except Exception as e:  # the generator made something invalid
        res.status, res.klass = "invalid", f"interpreter: {type(e).__name__}"
        res.detail = _first_line(e)
        return res
      try:
        run_pipeline(module, "ref-to-stablehlo")
      except PipelineFailure as e:
        res.status = "crash"
        res.klass = "pipeline-error: " + _normalize(_first_line(e))
        res.detail = _first_line(e)
        return res
      if verbose:
        print(module)
      main = next(op.operation for op in module.body.operations
                  if op.operation.name == "func.func" and
                  ir.StringAttr(op.attributes["sym_name"]).value == "main")
      seen: dict[tuple, tuple[str, str | None]] = {}
      failed: list[tuple[str, str]] = []
      probe_diff = None
      for name, defaults, options in self.SETTINGS + ((self.PROBE,) if self.probe else ()):
        try:
          compiled = xla.compile_module(module, default_options=defaults,
                                        options=options)
          key = tuple(sorted(compiled.xla_options.items()))
          if key in seen:
            continue
          got = self.outcome(program, main,
                             [np.asarray(o) for o in compiled.execute(*program.arg_values())])
        except Exception as e:
          res.status = "crash"
          res.klass = f"xla-{name}: {type(e).__name__}: " + _normalize(_first_line(e))
          res.detail = _first_line(e)
          return res
        d = diff(want, got)
        seen[key] = (name, d)
        if verbose:
          print(f"{name} {dict(compiled.xla_options)}: {'ok' if d is None else d}")
        if d is not None and options is not None:
          probe_diff = d
        elif d is not None:
          failed.append((name, d))
      if not failed:
        if probe_diff is not None:
          res.status, res.klass = "probe", "mismatch with XLA region analysis forced on"
          res.detail = probe_diff
        return res
      # Diagnose: does the lowered module, interpreted, agree?
      try:
        lowered = self.outcome(program, main,
                               interpret(module.operation, "main", program.arg_values())[0])
        lowered_diff = diff(want, lowered)
      except Exception as e:
        lowered_diff = f"lowered module not interpretable: {type(e).__name__}"
      names = [n for n, _ in failed]
      res.status = "mismatch"
      res.detail = "; ".join(f"{n}: {d}" for n, d in failed)
      if lowered_diff is not None:
        res.klass = "pipeline-miscompile (the lowered module, interpreted, is wrong)"
      elif names == ["refhlo-defaults"] and len(seen) > 1:
        res.klass = ("xla-region-analysis (known bug 1: right without refhlo's XLA "
                     "options)")
      else:
        res.klass = "xla-miscompile (" + ", ".join(names) + ")"
      return res


# -- JAX programs ------------------------------------------------------------------------------


@contextlib.contextmanager
def _no_refhlo_xla_options():
  """refhlo.jit compiling without refhlo's XLA options (default_options=False)."""
  from refhlo.compiler import xla
  saved = xla.PLATFORM_OPTIONS
  xla.PLATFORM_OPTIONS = {k: {} for k in saved}
  try:
    yield
  finally:
    xla.PLATFORM_OPTIONS = saved


# Calls of each program per side, on the same refs: the third takes
# refhlo.jit's per-call fast path (runtime.fast_path), with every scalar
# argument one higher (the same types: new values through the guard).
REPEAT_CALLS = 3


def _next_scalars(args: list[Any]) -> list[Any]:
  """`args` with each scalar (Python int, 0-d jax.Array) plus one; refs kept."""
  import jax
  return [a + 1 if type(a) is int or (isinstance(a, jax.Array) and a.shape == ())
          else a for a in args]


class JaxChecker:
  """Checks jaxgen programs: refhlo.jit (and its variants) against jax.jit."""

  FORCED = {"xla_cpu_copy_insertion_use_region_analysis": True}

  def __init__(self, probe: bool = False, loop_free: bool | None = None):
    import jax
    import refhlo
    self.jax = jax
    self.refhlo = refhlo
    self.probe = probe
    self.loop_free = loop_free
    # Unordered callbacks can run in any order: compare logs as multisets.

  def run(self, prog, which: str) -> tuple[dict[str, Any] | None, BaseException | None, Any]:
    """(outcome, exception, the jitted function) of one side."""
    jax = self.jax
    inst = prog.instantiate()
    if which == "jax":
      jf = jax.jit(inst.fn)
    elif which == "jax-no-algsimp":
      jf = jax.jit(inst.fn, compiler_options=dict(NO_ALGSIMP))
    elif which == "forced":  # region analysis forced on (the probe)
      jf = self.refhlo.jit(inst.fn, compiler_options=dict(self.FORCED))
    else:
      jf = self.refhlo.jit(inst.fn)
    try:
      outcome, first = self._call(jf, inst, "")
    except _Timeout:
      raise
    except Exception as e:
      return None, e, jf
    # Calls 2..REPEAT_CALLS on the same refs: the cached executable, then
    # refhlo.jit's fast path (installed by the second run). Their outcome
    # is compared too, and call 1's outputs must have survived them (an
    # output sharing a ref's buffer would be donated by the next call).
    for c in range(2, REPEAT_CALLS + 1):
      try:
        later, _ = self._call(jf, inst, f"call {c}: ",
                              _next_scalars(inst.args) if c == REPEAT_CALLS else None)
      except _Timeout:
        raise
      except Exception as e:
        # refhlo's errors by the exception type they stand for (a
        # RefhloOverflowError is jax.jit's OverflowError).
        outcome[f"call {c}: raised"] = next(
            t.__name__ for t in type(e).__mro__ if not t.__module__.startswith("refhlo"))
        break
      if c == REPEAT_CALLS:
        outcome.update(later)
    for k, x in enumerate(first):
      if isinstance(x, jax.Array) and x.is_deleted():
        outcome[f"result {k} after later calls"] = "deleted"
      elif not _arrays_equal(np.asarray(x), outcome[f"result {k}"]):
        outcome[f"result {k} after later calls"] = _describe(np.asarray(x))
    return outcome, None, jf

  def _call(self, jf, inst, prefix: str, args: list[Any] | None = None
            ) -> tuple[dict[str, Any], list[Any]]:
    """(outcome, output leaves) of one call of `jf` on `args` (default:
    `inst`'s arguments); outcome names prefixed by `prefix`."""
    jax = self.jax
    buf = io.StringIO()
    n_log = len(inst.log)
    with contextlib.redirect_stdout(buf):
      out = jf(*(inst.args if args is None else args))
      leaves, tree = jax.tree_util.tree_flatten(out)
      copies = [np.array(x, copy=True) for x in leaves]
      jax.effects_barrier()
    outcome: dict[str, Any] = {prefix + "tree": str(tree)}
    for k, x in enumerate(copies):
      outcome[f"{prefix}result {k}"] = x
    for k, r in enumerate(inst.watch):
      outcome[f"{prefix}ref {k}"] = np.array(r[...], copy=True)
    outcome[prefix + "log"] = sorted(map(repr, inst.log[n_log:]))
    outcome[prefix + "printed"] = sorted(buf.getvalue().splitlines())
    return outcome, leaves

  def interpret(self, prog) -> dict[str, Any] | None:
    """The emitted ref module run by the NumPy interpreter (None: n/a)."""
    jax = self.jax
    from refhlo import runtime
    inst = prog.instantiate()
    out, cells = runtime.interpret_call(inst.fn, tuple(inst.args))
    leaves, tree = jax.tree_util.tree_flatten(out)
    outcome: dict[str, Any] = {"tree": str(tree)}
    for k, x in enumerate(leaves):
      outcome[f"result {k}"] = np.asarray(x)
    for k, r in enumerate(inst.watch):
      outcome[f"ref {k}"] = cells[id(r)].value() if id(r) in cells else np.asarray(r[...])
    return outcome

  @staticmethod
  def _effective_options(jf) -> dict | None:
    try:
      (exe,) = [e for es in jf._cache.values() for e in es]
      return dict(exe.xla.xla_options)
    except Exception:
      return None

  def generate(self, seed: int):
    import jaxgen
    return jaxgen.generate(seed, loop_free=self.loop_free)

  def check(self, seed: int, *, verbose: bool = False) -> Result:
    return self.check_program(self.generate(seed), verbose=verbose)

  def check_program(self, prog, *, verbose: bool = False, stripped: bool = False
                    ) -> Result:
    from refhlo import RefhloError

    res = Result("jax", prog.seed, "ok", tuple(sorted(prog.patterns)))
    if verbose:
      print(prog.script())
    want, want_exc, _ = self.run(prog, "jax")
    got, got_exc, jf = self.run(prog, "refhlo")
    if verbose:
      print("jax.jit:    ", want if want_exc is None else repr(want_exc)[:500])
      print("refhlo.jit: ", got if got_exc is None else repr(got_exc)[:2000])
      if got_exc is not None and not isinstance(got_exc, RefhloError):
        traceback.print_exception(got_exc)
    if want_exc is not None:
      if got_exc is not None and isinstance(got_exc, type(want_exc)):
        res.status = "both_raise"  # e.g. an int argument that overflows int32
        res.klass = f"both raise {type(want_exc).__name__}"
        res.detail = f"{_first_line(got_exc)} | jax: {_first_line(want_exc)}"
        return res
      if got_exc is None or isinstance(got_exc, RefhloError):
        res.status = "invalid"
        res.klass = f"jax.jit raises {type(want_exc).__name__}: " + \
            _normalize(_first_line(want_exc))
        res.detail = _first_line(want_exc)
        return res
      res.status = "crash"
      res.klass = (f"exception type: refhlo {type(got_exc).__name__} where jax.jit "
                   f"raises {type(want_exc).__name__}")
      res.detail = f"{_first_line(got_exc)} | jax: {_first_line(want_exc)}"
      return res
    if got_exc is not None:
      if isinstance(got_exc, RefhloError):
        res.status = "rejected"
        res.klass = "RefhloError: " + _normalize(_first_line(got_exc))
        res.detail = _first_line(got_exc)
        return res
      res.status = "crash"
      tb = traceback.extract_tb(got_exc.__traceback__)
      where = next((os.path.basename(f.filename) for f in reversed(tb)
                    if "refhlo" in f.filename or "/compiler/" in f.filename), "?")
      res.klass = f"crash: {type(got_exc).__name__} in {where}: " + \
          _normalize(_first_line(got_exc))
      res.detail = _first_line(got_exc)
      return res
    d_main = diff(want, got)
    # Variant 1: without refhlo's XLA options (when they change anything).
    d_plain = None
    opts = self._effective_options(jf)
    if opts:
      with _no_refhlo_xla_options():
        plain, plain_exc, _ = self.run(prog, "refhlo")
      d_plain = diff(want, plain) if plain_exc is None else \
          f"raised {type(plain_exc).__name__}: {_first_line(plain_exc)}"
    # Variant 2: the emitted module through the interpreter.
    d_interp = interp = None
    if not prog.callbacks:
      try:
        interp = self.interpret(prog)
        keys = [k for k in want if k not in ("log", "printed")
                and not k.startswith("call ")]
        d_interp = diff({k: want[k] for k in keys}, interp)
      except _Timeout:
        raise
      except Exception as e:
        d_interp = f"interpreter raised {type(e).__name__}: {_first_line(e)}"
    if verbose:
      print("without refhlo's XLA options:", "n/a (same options)" if not opts
            else d_plain or "ok")
      print("interpreter:", "n/a (host callbacks)" if prog.callbacks
            else d_interp or "ok")
    if d_main is None and d_plain is None and d_interp is None:
      if self.probe and opts != self.FORCED:
        forced, forced_exc, _ = self.run(prog, "forced")
        d = diff(want, forced) if forced_exc is None else \
            f"raised {type(forced_exc).__name__}: {_first_line(forced_exc)}"
        if verbose:
          print("with XLA region analysis forced on:", d or "ok")
        if d is not None:
          res.status, res.klass = "probe", "mismatch with XLA region analysis forced on"
          res.detail = d
      return res
    res.status = "mismatch"
    res.detail = "; ".join(f"{n}: {d}" for n, d in (
        ("refhlo.jit", d_main), ("no-xla-options", d_plain),
        ("interpreter", d_interp)) if d is not None)
    if d_main is not None and (interp is None or
                               diff({k: got[k] for k in interp}, interp) is None):
      second, second_exc, _ = self.run(prog, "jax-no-algsimp")
      if verbose:
        print("jax.jit without XLA's algsimp:",
              "raised" if second_exc else diff(second, got) or "agrees with refhlo")
      if second_exc is None and diff(second, got) is None:
        res.status = "xla_bug"
        res.klass = ("jax.jit miscompiled by XLA's algebraic simplifier (refhlo = "
                     "its interpreter = jax.jit without algsimp)")
        return res
    pats = set(prog.patterns)
    # Known bug 2: out-of-range dynamic starts with strided ds / ds next to
    # an integer array (jax.jit drops the write, refhlo clamps).
    # (Also through a strided view with a dynamic offset, then an int array.)
    oob = bool({"dynamic_strided_ds", "dynamic_next_to_int_array"} & pats) or (
        {"view", "int_array_index"} <= pats and bool({"strided", "strided_ds"} & pats))
    if d_main is not None and opts and d_plain is None:
      res.klass = ("xla-region-analysis (known bug 1: right without refhlo's XLA "
                   "options)")
    elif d_main is not None and interp is not None and d_interp is not None and \
        diff({k: got[k] for k in interp}, interp) is None:
      res.klass = ("semantics: refhlo and its interpreter agree, jax.jit differs" +
                   (" (likely known bug 2: out-of-range dynamic start, strided ds "
                    "/ next to an int array)" if oob else ""))
    elif d_main is not None and d_interp is None and interp is not None:
      res.klass = "pipeline/XLA miscompile (the emitted module, interpreted, is right)"
    elif d_main is not None and prog.callbacks and not stripped:
      # No interpreter run with host callbacks: diagnose the program without
      # them (if it still fails, its class is a better guess).
      bare = dataclasses.replace(prog, source=_strip_callbacks(prog.source),
                                 callbacks=False)
      with contextlib.redirect_stdout(io.StringIO()):
        again = self.check_program(bare, stripped=True)
      res.klass = (again.klass + " [seen with host callbacks removed]"
                   if again.status == "mismatch" else
                   "refhlo.jit differs from jax.jit (only with host callbacks)")
    elif d_main is not None:
      res.klass = "refhlo.jit differs from jax.jit" + (
          " (oob dynamic index involved)" if oob else "")
    elif d_interp is not None:
      res.klass = "interpreter differs (refhlo.jit is right): " + \
          _normalize(d_interp.split(":")[0] if d_interp.startswith("interpreter raised")
                     else "values")
    else:
      res.klass = "only without refhlo's XLA options"
    return res


def _strip_callbacks(source: str) -> str:
  """The program with its jax.debug.callback / print statements made `pass`."""
  return re.sub(r"^(\s*)jax\.debug\.(callback|print)\(.*$", r"\1pass", source,
                flags=re.M)


# -- reducing ----------------------------------------------------------------------------------


def _drop_result(kind: str, lines: list[str], k: int) -> list[str] | None:
  """`lines` with the k-th value returned by the entry function dropped (its
  return statement and, for @main, its signature), or None if there is no
  k-th one."""
  if kind == "jax":
    for i, line in enumerate(lines):
      if line.startswith("  return (") and line.endswith(",)"):
        items = [x.strip() for x in line[len("  return ("):-2].split(",")]
        if k >= len(items):
          return None
        rest = items[:k] + items[k + 1:]
        new = f"  return ({', '.join(rest)},)" if rest else "  return None"
        return lines[:i] + [new] + lines[i + 1:]
    return None
  head = next((i for i, l in enumerate(lines) if "func.func @main(" in l), None)
  if head is None:
    return None
  ret = next((i for i in range(head + 1, len(lines))
              if lines[i].startswith("    return")), None)
  if ret is None or ":" not in lines[ret]:
    return None
  values, types = lines[ret][len("    return "):].split(" : ")
  values, types = values.split(", "), types.split(", ")
  if k >= len(values):
    return None
  values, types = values[:k] + values[k + 1:], types[:k] + types[k + 1:]
  new_ret = (f"    return {', '.join(values)} : {', '.join(types)}" if values
             else "    return")
  m = re.match(r"(.*?\))( -> .*)? \{$", lines[head])
  if m is None:
    return None
  sig = m.group(1)
  if len(types) == 1:
    sig += f" -> {types[0]}"
  elif types:
    sig += f" -> ({', '.join(types)})"
  out = list(lines)
  out[head], out[ret] = sig + " {", new_ret
  return out


def _with_text(kind: str, prog: Any, lines: list[str]) -> Any:
  text = "\n".join(lines) + "\n"
  if kind == "ref":
    return dataclasses.replace(prog, text=text)
  return dataclasses.replace(prog, source=text)


def reduce(kind: str, seed: int, *, budget: float = 600.0, probe: bool = False,
           profile: str = "adversarial", log=print) -> tuple[Any, Result]:
  """A smaller program failing the same way (same status and class) as the
  program of `seed`, within `budget` seconds: repeatedly drop whole
  statements (largest first) and returned values, then delta-debug single
  lines. A candidate that no longer parses, or fails differently, is
  rejected."""
  checker = _checker(kind, probe, profile)
  prog = checker.generate(seed)
  target = check(kind, seed, probe=probe, program=prog, profile=profile)
  if target.status == "ok":
    return prog, target
  t_end = time.perf_counter() + budget
  tries = 0

  def same(candidate) -> bool:
    nonlocal tries
    tries += 1
    with contextlib.redirect_stdout(io.StringIO()):
      r = check(kind, seed, probe=probe, program=candidate, timeout=60,
                profile=profile)
    return r.status == target.status and r.klass == target.klass

  lines = (prog.text if kind == "ref" else prog.source).splitlines()

  def indent(line: str) -> int:
    return len(line) - len(line.lstrip())

  def statements_pass() -> bool:
    """Drops whole statements (a line and the more indented lines after it:
    a Python def / loop body, an MLIR op with its regions), largest first."""
    nonlocal lines
    progress = False
    tried: set[tuple[str, ...]] = set()  # statements whose removal failed
    again = True
    while again and time.perf_counter() < t_end:
      again = False
      spans = []
      for i, line in enumerate(lines):
        j = i + 1
        while j < len(lines):
          nxt = lines[j]
          if not nxt.strip() or indent(nxt) > indent(line) or (
              indent(nxt) == indent(line) and nxt.lstrip().startswith("}")):
            j += 1  # (an MLIR op's `}, {` / `}) : ...` closing lines too)
          else:
            break
        spans.append((j - i, i, j))
      for _, i, j in sorted(spans, reverse=True):
        if time.perf_counter() >= t_end:
          break
        if tuple(lines[i:j]) in tried:
          continue
        cand = lines[:i] + lines[j:]
        if same(_with_text(kind, prog, cand)):
          lines, again, progress = cand, True, True
          break
        tried.add(tuple(lines[i:j]))
    return progress

  def results_pass() -> bool:
    """Drops returned values one at a time (what they need can go next)."""
    nonlocal lines
    progress = False
    k = 0
    while time.perf_counter() < t_end:
      cand = _drop_result(kind, lines, k)
      if cand is None:
        break
      if same(_with_text(kind, prog, cand)):
        lines, progress = cand, True
      else:
        k += 1
    return progress

  while time.perf_counter() < t_end:
    if not (statements_pass() | results_pass()):
      break
  # Last: delta debugging over single lines and chunks.
  n = 2
  while len(lines) >= 2 and time.perf_counter() < t_end:
    chunk = max(1, len(lines) // n)
    removed = False
    for start in range(0, len(lines), chunk):
      if time.perf_counter() >= t_end:
        break
      cand = lines[:start] + lines[start + chunk:]
      if same(_with_text(kind, prog, cand)):
        lines, removed = cand, True
        n = max(n - 1, 2)
        break
    if not removed:
      if chunk == 1:
        break
      n = min(n * 2, len(lines))
  log(f"reduced to {len(lines)} lines in {tries} tries")
  small = _with_text(kind, prog, lines)
  return small, check(kind, seed, probe=probe, program=small, profile=profile)


# -- running ---------------------------------------------------------------------------------

_CHECKERS: dict[tuple[Any, ...], Any] = {}
# Process-wide generator option (--no-loops): every program loop-free.
LOOP_FREE: bool | None = None


def _checker(kind: str, probe: bool = False, profile: str = "adversarial",
             loop_free: bool | None = None):
  loop_free = LOOP_FREE if loop_free is None else loop_free
  key = (kind, probe, profile, loop_free)
  if key not in _CHECKERS:
    _CHECKERS[key] = (RefChecker(profile, probe, loop_free) if kind == "ref"
                      else JaxChecker(probe, loop_free))
  return _CHECKERS[key]


def check(kind: str, seed: int, *, timeout: float = 120.0, verbose: bool = False,
          probe: bool = False, program: Any = None, profile: str = "adversarial",
          skip: Iterable[str] = (), loop_free: bool | None = None) -> Result:
  """Generates (unless `program` is given) and checks one program, here.
  `profile`: refgen's profile (ref programs); `loop_free=True`: a loop-free
  program (default: `--no-loops`, else the generator's draw); a program
  with a pattern in `skip` is not run (status `skipped`)."""
  t0 = time.perf_counter()
  try:
    with _time_limit(timeout):
      checker = _checker(kind, probe, profile, loop_free)
      prog = program if program is not None else checker.generate(seed)
      if set(skip) & set(prog.patterns):
        return Result(kind, seed, "skipped", tuple(sorted(prog.patterns)),
                      klass="skipped: " + ", ".join(sorted(set(skip) & set(prog.patterns))))
      res = checker.check_program(prog, verbose=verbose)
  except _Timeout as e:
    res = Result(kind, seed, "timeout", klass="timeout", detail=str(e))
  except Exception as e:  # a bug in the generator or this tool
    res = Result(kind, seed, "crash",
                 klass=f"fuzz harness: {type(e).__name__}: {_normalize(_first_line(e))}",
                 detail="".join(traceback.format_exception(e))[-1500:])
    if verbose:
      print(res.detail)
  res.seconds = time.perf_counter() - t0
  return res


def _quiet_warnings() -> None:
  # int32 overflow in jax's own index arithmetic on far starts (discharge.py)
  import warnings
  warnings.filterwarnings("ignore", category=RuntimeWarning)


def _worker_init():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  _quiet_warnings()
  sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (debug prints of programs)


def _work(job: tuple) -> Result:
  global LOOP_FREE
  kind, seed, timeout, probe, profile, skip, LOOP_FREE = job
  return check(kind, seed, timeout=timeout, probe=probe, profile=profile, skip=skip)


def run(jobs_list: list[tuple[str, int]], *, jobs: int = 1, timeout: float = 120.0,
        probe: bool = False, profile: str = "adversarial", skip: Iterable[str] = (),
        on_result=None) -> list[Result]:
  results: list[Result] = []
  work = [(k, s, timeout, probe, profile, tuple(skip), LOOP_FREE) for k, s in jobs_list]
  if jobs <= 1:
    for w in work:
      r = _work(w)
      results.append(r)
      if on_result:
        on_result(r)
    return results
  import concurrent.futures
  import multiprocessing
  ctx = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx,
                                              initializer=_worker_init) as pool:
    for r in pool.map(_work, work, chunksize=4):
      results.append(r)
      if on_result:
        on_result(r)
  return results


def summarize(results: Iterable[Result], elapsed: float, out=sys.stdout) -> bool:
  """Prints the counts and the failures; True when there is no failure."""
  results = list(results)
  ok = True
  for kind in ("ref", "jax"):
    rs = [r for r in results if r.kind == kind]
    if not rs:
      continue
    status = collections.Counter(r.status for r in rs)
    secs = sum(r.seconds for r in rs)
    print(f"\n== {kind}: {len(rs)} programs, " + ", ".join(
        f"{k} {v}" for k, v in sorted(status.items())) +
        f"; {len(rs) / max(secs, 1e-9):.1f} programs/s per process", file=out)
    pats = collections.Counter(p for r in rs for p in r.patterns)
    fails = collections.Counter(p for r in rs if r.failed for p in r.patterns)
    if pats:
      print("  patterns (programs / failing):", file=out)
      for p, n in sorted(pats.items()):
        print(f"    {p:38s} {n:6d} {fails.get(p, 0):6d}", file=out)
    for title, sel in (("FAILURES", lambda r: r.failed),
                       ("rejected by refhlo (RefhloError; not failures)",
                        lambda r: r.status == "rejected"),
                       ("invalid programs (jax.jit / interpreter reject them; "
                        "generator issues)", lambda r: r.status == "invalid"),
                       ("probes (not failures)", lambda r: r.status == "probe"),
                       ("jax.jit wrong by an XLA bug, refhlo right (not failures)",
                        lambda r: r.status == "xla_bug"),
                       ("both raise the same exception type (not failures)",
                        lambda r: r.status == "both_raise")):
      group = [r for r in rs if sel(r)]
      if not group:
        continue
      print(f"  {title}:", file=out)
      classes = collections.defaultdict(list)
      for r in group:
        classes[r.klass].append(r)
      for klass, members in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        seeds = sorted(r.seed for r in members)
        print(f"    [{len(members)}] {klass}", file=out)
        print(f"        seeds: {' '.join(map(str, seeds[:30]))}"
              f"{' ...' if len(seeds) > 30 else ''}", file=out)
        print(f"        e.g. {members[0].detail[:400]}", file=out)
    if any(r.failed for r in rs):
      ok = False
  total = len(results)
  print(f"\n{total} programs in {elapsed:.1f} s wall: {total / max(elapsed, 1e-9):.2f} "
        f"programs/s", file=out)
  return ok


def main(argv: list[str] | None = None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--seed", type=int, default=0, help="first seed")
  ap.add_argument("--count", type=int, default=100, help="programs of each kind")
  ap.add_argument("--kind", choices=("ref", "jax", "both"), default="both")
  ap.add_argument("--jobs", type=int, default=1, help="worker processes")
  ap.add_argument("--timeout", type=float, default=120.0,
                  help="seconds per program before it counts as a timeout")
  ap.add_argument("--show", type=int, metavar="SEED",
                  help="check one program verbosely: its text, every outcome")
  ap.add_argument("--quiet", action="store_true", help="no line per failure")
  ap.add_argument("--reduce", action="store_true",
                  help="with --show: shrink the failing program first")
  ap.add_argument("--budget", type=float, default=600.0,
                  help="seconds --reduce may take")
  ap.add_argument("--probe-region-analysis", "--force-region-analysis",
                  action="store_true", dest="probe_region_analysis",
                  help="also compile with XLA region analysis forced on (which "
                       "refhlo leaves out of modules with loops); report its "
                       "mismatches as probes (not failures)")
  ap.add_argument("--no-loops", action="store_true",
                  help="only loop-free programs (refhlo compiles those with XLA "
                       "region analysis on; also try --force-region-analysis)")
  ap.add_argument("--profile", choices=("adversarial", "classic"), default="adversarial",
                  help="refgen's profile for ref programs (classic: the original mix)")
  ap.add_argument("--skip-pattern", action="append", default=[], metavar="PATTERN",
                  help="do not run programs with this pattern (e.g. one whose bug "
                       "is known and drowns the others); repeatable")
  args = ap.parse_args(argv)
  _quiet_warnings()
  probe = args.probe_region_analysis
  profile = args.profile
  global LOOP_FREE
  LOOP_FREE = True if args.no_loops else None
  if args.no_loops and profile == "classic":
    ap.error("--no-loops needs the adversarial profile")

  if args.show is not None and args.reduce:
    kinds = ("ref", "jax") if args.kind == "both" else (args.kind,)
    for kind in kinds:
      small, r = reduce(kind, args.show, budget=args.budget, probe=probe,
                        profile=profile)
      print(small.text if kind == "ref" else small.script())
      if kind == "ref":
        for a in small.args:
          print("//", a.name, "=", a.value.tolist())
      print(f"\n{kind} seed {r.seed}: {r.status} {r.klass}\n  {r.detail}")
    return 0

  if args.show is not None:
    kinds = ("ref", "jax") if args.kind == "both" else (args.kind,)
    ok = True
    for kind in kinds:
      r = check(kind, args.show, timeout=args.timeout, verbose=True, probe=probe,
                profile=profile)
      print(f"\n{kind} seed {r.seed}: {r.status} {r.klass}\n  {r.detail}")
      ok = ok and not r.failed
    return 0 if ok else 1

  kinds = ("ref", "jax") if args.kind == "both" else (args.kind,)
  todo = [(k, s) for k in kinds for s in range(args.seed, args.seed + args.count)]
  t0 = time.perf_counter()

  def on_result(r: Result) -> None:
    if r.failed and not args.quiet:
      print(f"FAIL {r.kind} seed={r.seed} {r.status}: {r.klass}\n"
            f"     {r.detail[:300]}\n     reproduce: {r.repro()}", flush=True)

  results = run(todo, jobs=args.jobs, timeout=args.timeout, probe=probe,
                profile=profile, skip=args.skip_pattern, on_result=on_result)
  ok = summarize(results, time.perf_counter() - t0)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
