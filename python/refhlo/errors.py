"""refhlo's user-facing errors and how their messages are written.

The exception classes (each also the builtin JAX raises for the same
mistake: `TypeError`, `ValueError`, ...), MLIR's diagnostic format
(`file:line:col: error: message`), where a message points (the user's call,
the traced function), and compiler diagnostics reworded in JAX's terms. The
runtime, the emitter and the API raise through here; nothing here runs or
compiles anything.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Callable

from refhlo import _jax_private as jp


class RefhloError(Exception):
  """A program refhlo.jit rejects; the message is an MLIR-style diagnostic
  (`file:line:col: error: ...`) pointing at the user's source."""


class RefhloTypeError(RefhloError, TypeError):
  """A call with an argument refhlo.jit cannot take (also a `TypeError`, as
  `jax.jit` raises one)."""


class RefhloValueError(RefhloError, ValueError):
  """A call with a bad static argument (also a `ValueError`, as in `jax.jit`)."""


class PlacementUnsupported(RefhloValueError):
  """Arguments whose placement refhlo cannot compile as jax.jit would (a
  mesh of one device with Auto axes); `refhlo.jit` hands such calls to
  `jax.jit` (with a `RefhloFallbackWarning`)."""


class RefhloFallbackWarning(UserWarning):
  """A `refhlo.jit` call was run by `jax.jit` because refhlo cannot compile
  its placement: results are jax.jit's, but ref updates are not guaranteed in
  place."""


class RefhloOverflowError(RefhloError, OverflowError):
  """An argument too large for its JAX type, e.g. a Python int outside int32
  (also an `OverflowError`, as `jax.jit` raises one); names the argument."""


class RefhloRuntimeError(RefhloError, RuntimeError):
  """The compiled program failed while running (a host callback raised, out
  of memory, ...); also a `RuntimeError`, like JAX's `JaxRuntimeError`. The
  message names every ref the call would have written and says what happened
  to it; the original error is the `__cause__`. See docs/faults.md."""


class RefhloFloatingPointError(RefhloError, FloatingPointError):
  """`jax_debug_nans` / `jax_debug_infs` found a NaN / Inf in a result or in
  a ref's new value (also a `FloatingPointError`, as under `jax.jit`). The
  refs keep their pre-call contents."""


for _cls in (RefhloError, RefhloTypeError, RefhloValueError, RefhloFallbackWarning,
             RefhloOverflowError, RefhloRuntimeError, RefhloFloatingPointError):
  _cls.__module__ = "refhlo"  # shown as `refhlo.RefhloValueError`, its public name
del _cls

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def call_site() -> tuple[str, int, int] | None:
  """(file, line, col) of the innermost frame outside refhlo and JAX: the
  user's call of a `refhlo.jit` function. Only used on error paths."""
  frame = sys._getframe(1)
  while frame is not None:
    file = frame.f_code.co_filename
    if (not os.path.abspath(file).startswith(_PACKAGE_DIR + os.sep)
        and jp.is_user_file(file)):
      col = 0
      try:
        pos = inspect.getframeinfo(frame, context=0).positions
        if pos is not None and pos.col_offset is not None:
          col = pos.col_offset
      except Exception:  # positions are best effort
        pass
      return file, frame.f_lineno, col
    frame = frame.f_back
  return None


def error_at_call(cls: type, message: str) -> RefhloError:
  """A `cls` error whose message is located at the user's call (`call_site`)."""
  return cls(format_error(message, call_site()))


def format_error(message: str, where: tuple[str, int, int] | None) -> str:
  """MLIR's diagnostic format: `file:line:col: error: message`."""
  if where is None:
    return f"error: {message}"
  file, line, col = where
  return f"{file}:{line}:{col + 1}: error: {message}"


def located(message: str, where: tuple[str, int, int] | None) -> str:
  """Gives diagnostics that carry no location (`error: ...` at the start of
  a line) the traced function's location."""
  if where is None:
    return message
  prefix = format_error("", where)[:-len("error: ")]
  return "\n".join(prefix + line if line.startswith("error: ") else line
                   for line in message.split("\n"))


_JAX_WORDS = {
    "ref.get": "this read of a ref",
    "ref.swap": "this write to a ref (`r[...] = v` or jax.ref.swap)",
    "ref.addupdate": "this jax.ref.addupdate",
    "ref.view": "this view of a ref (`r.at[...]`)",
    "ref.freeze": "jax.ref.freeze",
    "ref.free": "end of life",
    "ref.new": "jax.new_ref",
    "ref.empty": "jax.empty_ref",
}


def in_jax_terms(message: str) -> str:
  """A compiler diagnostic reworded for a `refhlo.jit` user: ops named as the
  JAX operations they come from (`'ref.swap' op` -> "this write to a ref"),
  locations (`loc(...)`, however nested) as `file:line:col`."""
  message = re.sub(r"'(ref\.\w+)' op ",
                   lambda m: _JAX_WORDS.get(m.group(1), m.group(1)) + " ", message)
  message = re.sub(r"'(ref\.\w+)'", lambda m: _JAX_WORDS.get(m.group(1), m.group(1)),
                   message)
  out, k = [], 0
  while (start := message.find("loc(", k)) >= 0:
    depth, end = 0, start + 3
    for end in range(start + 3, len(message)):
      depth += {"(": 1, ")": -1}.get(message[end], 0)
      if depth == 0:
        break
    inner = message[start:end + 1]
    m = re.search(r'"([^"]+)":(\d+):(\d+)', inner)
    out.append(message[k:start] + (f"{m.group(1)}:{m.group(2)}:{m.group(3)}" if m
                                   else "an unknown location"))
    k = end + 1
  return "".join(out) + message[k:]


def fun_name(fun: Callable) -> str:
  """`f at file:line`, how messages name a traced function."""
  name = getattr(fun, "__name__", type(fun).__name__)
  code = getattr(fun, "__code__", None)
  if code is not None:
    return f"{name} at {code.co_filename}:{code.co_firstlineno}"
  return name


def fun_where(fun: Callable) -> tuple[str, int, int] | None:
  """Where `fun` is defined, as a diagnostic location (None if unknown)."""
  code = getattr(inspect.unwrap(fun), "__code__", None)
  if code is None:
    return None
  return code.co_filename, code.co_firstlineno, 0
