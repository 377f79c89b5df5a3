"""The measuring machinery: variants, runners, compile statistics.

A program is described by a `Setup`: initial ref contents, plain arguments, a
ref-style function `ref_fn(*refs, *args) -> outputs` (run by `jax.jit` and by
`refhlo.jit`) and a functional twin `functional_fn(*state, *args) ->
(new_state, outputs)` (run by `jax.jit` with the state donated). A runner per
variant holds its own copy of the state; `run()` makes one call and waits for
it, so the runner can time calls of the variants interleaved.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

VARIANTS = ("jax_refs", "jax_functional", "refhlo")
"""(a) `jax.jit` with refs, (b) functional JAX with donation, (c) `refhlo.jit`."""


@dataclasses.dataclass(frozen=True)
class Setup:
  """One program at one size."""
  refs: Sequence[np.ndarray]   # initial contents of the refs / the donated state
  args: Sequence[Any]          # plain arguments (arrays), the same for every call
  ref_fn: Callable[..., Any]
  functional_fn: Callable[..., Any]
  rtol: float = 1e-5
  atol: float = 1e-5
  rounds: int = 10             # timed calls per variant (interleaved)
  # Pass `args` as they are (Python floats, NumPy scalars: the dispatch
  # variants), instead of as jax.Arrays.
  keep_arg_types: bool = False
  # Static arguments (hashable), passed after `args` with `static_argnums`.
  static: Sequence[Any] = ()

  @property
  def ref_bytes(self) -> int:
    """Bytes of the largest ref: a copy this large means an update was not in place."""
    return max(int(np.asarray(r).nbytes) for r in self.refs)


@dataclasses.dataclass(frozen=True)
class Program:
  name: str
  description: str
  make: Callable[[bool], Setup]  # small -> Setup


@dataclasses.dataclass(frozen=True)
class CompileStats:
  trace_compile_s: float
  temp_size_in_bytes: int | None
  ref_sized_copies: int | None
  why_copied: str | None = None   # refhlo's reason, where it knows one
  # refhlo only: seconds per compile stage (trace, emit, pipeline, xla).
  stages: dict[str, float] | None = None

  def in_place(self, ref_bytes: int) -> str:
    """'yes', or 'no' with the reason: in place means no ref-sized copy in the
    optimized HLO and a temporary smaller than the ref (which any copy of it
    would need)."""
    if self.ref_sized_copies is None:
      return "-"
    if self.ref_sized_copies == 0 and (self.temp_size_in_bytes or 0) < ref_bytes:
      return "yes"
    if self.ref_sized_copies == 0:
      return f"no: a {self.temp_size_in_bytes} B temporary, the ref has {ref_bytes} B"
    why = self.why_copied or f"XLA inserted {self.ref_sized_copies} ref-sized copies"
    return f"no: {why}"


def _flat(tree: Any) -> list[np.ndarray]:
  import jax
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def count_copies(hlo_text: str, min_bytes: int) -> int:
  """Copy instructions of at least `min_bytes` in optimized HLO text."""
  from refhlo.compiler import xla
  return sum(1 for c in xla.parse_copies(hlo_text) if c.size_bytes >= min_bytes)


def _stats_of(compiled: Any, seconds: float, ref_bytes: int) -> CompileStats:
  temp = copies = None
  try:
    temp = int(compiled.memory_analysis().temp_size_in_bytes)
  except Exception:  # a backend without memory stats
    pass
  text = None
  for getter in ("as_text", "hlo_text"):
    fn = getattr(compiled, getter, None)
    if fn is not None:
      try:
        text = fn()
        break
      except Exception:
        continue
  if text is not None:
    copies = count_copies(text, ref_bytes)
  elif hasattr(compiled, "copies"):
    copies = len(compiled.copies(ref_bytes))
  why = None
  notes = getattr(compiled, "in_place_notes", None)
  if copies and notes is not None:
    why = "; ".join(notes()) or None
  stages = None
  if hasattr(compiled, "stage_times"):
    stages = compiled.stage_times() or None
  return CompileStats(seconds, temp, copies, why, stages)


def _ref_buffer(ref: Any) -> Any:
  """The array a `jax.Ref` holds now, without copying it (to wait on it:
  `block_until_ready(ref)` returns at once). Private JAX API, reached through
  refhlo's one module for those."""
  from refhlo._jax_private import ref_buffer
  return ref_buffer(ref)


class Runner:
  """One variant of one program: its state, its compiled function."""

  def run(self) -> None:
    raise NotImplementedError

  def result(self) -> list[np.ndarray]:
    raise NotImplementedError

  def compile_stats(self) -> CompileStats:
    raise NotImplementedError


def _static_argnums(setup: Setup) -> tuple[int, ...]:
  first = len(setup.refs) + len(setup.args)
  return tuple(range(first, first + len(setup.static)))


def _args(setup: Setup) -> list[Any]:
  import jax.numpy as jnp
  if setup.keep_arg_types:
    return list(setup.args)
  return [jnp.asarray(a) for a in setup.args]


class RefRunner(Runner):
  """`jit(ref_fn)(*refs, *args)` with the refs created once and updated in place."""

  def __init__(self, jit: Callable[[Callable], Any], setup: Setup):
    import jax
    import jax.numpy as jnp
    self._jit, self._setup = jit, setup
    self.refs = [jax.new_ref(jnp.asarray(r)) for r in setup.refs]
    self.args = _args(setup) + list(setup.static)
    self._static = _static_argnums(setup)
    self.fn = jit(setup.ref_fn, static_argnums=self._static)
    self.out: Any = None

  def run(self) -> None:
    import jax
    self.out = self.fn(*self.refs, *self.args)
    # One wait on the outputs and the refs' buffers, as (b) waits once on
    # its state and outputs.
    jax.block_until_ready((self.out, [_ref_buffer(r) for r in self.refs]))

  def result(self) -> list[np.ndarray]:
    return [np.asarray(r[...]) for r in self.refs] + _flat(self.out)

  def compile_stats(self) -> CompileStats:
    t0 = time.perf_counter()
    compiled = self._jit(self._setup.ref_fn, static_argnums=self._static).lower(
        *self.refs, *self.args).compile()
    return _stats_of(compiled, time.perf_counter() - t0, self._setup.ref_bytes)


class FunctionalRunner(Runner):
  """`jax.jit(functional_fn, donate_argnums=state)`, state threaded through calls."""

  def __init__(self, setup: Setup):
    import jax
    import jax.numpy as jnp
    self._setup = setup
    self.n = len(setup.refs)
    self.state = [jnp.asarray(r) for r in setup.refs]
    self.args = _args(setup) + list(setup.static)
    self._donate = tuple(range(self.n))
    self._static = _static_argnums(setup)
    self.fn = jax.jit(setup.functional_fn, donate_argnums=self._donate,
                      static_argnums=self._static)
    self.out: Any = None

  def run(self) -> None:
    import jax
    state, self.out = self.fn(*self.state, *self.args)
    self.state = list(state)
    jax.block_until_ready((self.state, self.out))

  def result(self) -> list[np.ndarray]:
    return [np.asarray(s) for s in self.state] + _flat(self.out)

  def compile_stats(self) -> CompileStats:
    import jax
    t0 = time.perf_counter()
    lowered = jax.jit(self._setup.functional_fn, donate_argnums=self._donate,
                      static_argnums=self._static).lower(
        *self.state, *self.args)
    compiled = lowered.compile()
    return _stats_of(compiled, time.perf_counter() - t0, self._setup.ref_bytes)


def refhlo_jit() -> Callable[[Callable], Any]:
  """`refhlo.jit`; raises (ImportError, AttributeError) while it does not exist."""
  try:
    api = importlib.import_module("refhlo.api")
    return api.jit
  except ImportError:
    return importlib.import_module("refhlo").jit


def make_runner(variant: str, setup: Setup) -> Runner:
  import jax
  if variant == "jax_refs":
    return RefRunner(jax.jit, setup)
  if variant == "jax_functional":
    return FunctionalRunner(setup)
  if variant == "refhlo":
    return RefRunner(refhlo_jit(), setup)
  raise ValueError(f"unknown variant {variant}")


def check_agree(results: dict[str, list[np.ndarray]], rtol: float, atol: float
                ) -> dict[str, str | None]:
  """Compares every variant's results with the first one's; None when they agree."""
  names = list(results)
  if not names:
    return {}
  base = results[names[0]]
  out: dict[str, str | None] = {names[0]: None}
  for n in names[1:]:
    got = results[n]
    if len(got) != len(base):
      out[n] = f"{len(got)} results, {names[0]} has {len(base)}"
      continue
    msg = None
    for k, (a, b) in enumerate(zip(base, got)):
      if a.shape != b.shape or not np.allclose(a, b, rtol=rtol, atol=atol):
        err = (float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
               if a.shape == b.shape else float("nan"))
        msg = f"result {k} differs from {names[0]} (max abs diff {err:g})"
        break
    out[n] = msg
  return out
