"""First-compile time against `jax.jit`, on programs of three sizes.

Each program is a JAX function over refs; a fresh function object is traced,
lowered and compiled (`.lower(...).compile()`) by `refhlo.jit` and by
`jax.jit`, alternately, so both pay tracing and both miss every cache (no
`jax.clear_caches()`: it would make `jax.jit` re-trace JAX's own internals
and look slower than it is). The median of the per-pair ratios is the
figure to read; the machine's noise moves single pairs by 10-20%.

- `tiny`: one row update and one read (the per-program fixed cost);
- `mlp_steps`: an unrolled SGD loop of a two-layer MLP (`jax.grad` per step,
  two ref writes): mostly non-ref ops, XLA dominates;
- `ref_accesses`: an unrolled loop of ref reads and writes (4 ref ops per
  step): the pipeline's share is largest.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable

SIZES = {"tiny": 1, "mlp_steps": 150, "ref_accesses": 600}
SMALL_SIZES = {"tiny": 1, "mlp_steps": 4, "ref_accesses": 16}
PAIRS, SMALL_PAIRS = 5, 2


def _tiny(n: int) -> tuple[Callable[[], Callable], Callable[[], tuple]]:
  import jax
  import jax.numpy as jnp

  def make():
    def f(r, x):
      r[0] += x
      return r[1] * 2
    return f

  x = jnp.ones(8)
  return make, lambda: (jax.new_ref(jnp.zeros((16, 8))), x)


def _mlp_steps(n: int):
  import jax
  import jax.numpy as jnp

  def make():
    def train(w1, w2, xs, ys):
      for s in range(n):
        x, y = xs[s % 8], ys[s % 8]

        def loss(a, b):
          return jnp.mean((jnp.tanh(x @ a) @ b - y) ** 2)
        g1, g2 = jax.grad(loss, argnums=(0, 1))(w1[...], w2[...])
        w1[...] -= 0.01 * g1
        w2[...] -= 0.01 * g2
      return jnp.sum(w2[...])
    return train

  k = jax.random.PRNGKey(0)
  xs, ys = jax.random.normal(k, (8, 16, 32)), jax.random.normal(k, (8, 16, 8))
  return make, lambda: (jax.new_ref(jnp.full((32, 64), 0.01)),
                        jax.new_ref(jnp.full((64, 8), 0.01)), xs, ys)


def _ref_accesses(n: int):
  import jax
  import jax.numpy as jnp

  def make():
    def f(r, s, x):
      for k in range(n):
        r[k % 64] += x * (k % 7)
        s[...] += r[(k * 5) % 64][0]
      return s[...]
    return f

  x = jnp.ones(8)
  return make, lambda: (jax.new_ref(jnp.zeros((64, 8))), jax.new_ref(jnp.zeros(())), x)


PROGRAMS = {"tiny": _tiny, "mlp_steps": _mlp_steps, "ref_accesses": _ref_accesses}


def _time_compile(jit: Callable, make: Callable, args: Callable) -> tuple[float, Any]:
  f = make()
  a = args()
  t = time.perf_counter()
  compiled = jit(f).lower(*a).compile()
  return time.perf_counter() - t, compiled


def run_compile_time(small: bool = False) -> list[dict[str, Any]]:
  import jax
  import refhlo

  sizes = SMALL_SIZES if small else SIZES
  pairs = SMALL_PAIRS if small else PAIRS
  rows = []
  for name, build in PROGRAMS.items():
    make, args = build(sizes[name])
    _time_compile(refhlo.jit, make, args)  # warm-up: imports, first contexts
    _time_compile(jax.jit, make, args)
    ours, theirs, ratios, stages = [], [], [], []
    for _ in range(pairs):
      a, compiled = _time_compile(refhlo.jit, make, args)
      b, _ = _time_compile(jax.jit, make, args)
      ours.append(a)
      theirs.append(b)
      ratios.append(a / b)
      stages.append(compiled.stage_times())
    rows.append({
        "program": name, "size": sizes[name], "pairs": pairs,
        "refhlo_s": statistics.median(ours), "jax_s": statistics.median(theirs),
        "ratio": statistics.median(ratios), "ratios": ratios,
        "stages": {k: statistics.median(s[k] for s in stages) for k in stages[0]},
    })
  return rows
