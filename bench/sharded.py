"""Sharded programs on 8 simulated CPU devices: refhlo vs `jax.jit` vs the
best functional JAX, per step and per device.

`python -m bench.sharded [--small] [--rounds N]` (it sets
`--xla_force_host_platform_device_count=8` itself, so it runs in a process
of its own; `python -m bench --only sharded` starts one). For each program
and variant: the median step time (calls interleaved across variants), the
shard-sized copies XLA inserted (a copy at least as large as the written
ref's shard: an update not in place), the collectives in the optimized HLO
(all-gather, all-reduce, reduce-scatter, all-to-all, collective-permute) and
the bytes XLA allocates per device (arguments + outputs - aliased + temps,
from `memory_analysis()`).

Programs:
- `embedding_sgd`: a `(rows, 64)` embedding table sharded by rows; a step is
  `jax.grad` through a gather of a replicated batch of indices and the SGD
  update of the table (functional twin: `table.at[idx].add(...)`, donated);
- `kv_cache_decode`: a `(batch, T, heads, 64)` KV cache sharded by batch; a
  step writes one position for every sequence and attends over the cache;
- `local_rows`: `r[1000:1064] += 1` on a row-sharded `(8192, 256)` ref, the
  update that lies within one device's shard.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

VARIANTS = ("jax_refs", "jax_functional", "refhlo")
_COLLECTIVE = re.compile(
    r"\b(all-gather|all-reduce|reduce-scatter|all-to-all|collective-permute)(?:-start)?\(")


def _mesh():
  import jax
  from jax.sharding import AxisType, Mesh
  return Mesh(np.array(jax.devices()), ("x",), axis_types=(AxisType.Auto,))


def embedding_sgd(small: bool):
  import jax
  import jax.numpy as jnp
  rows, dim, batch = (256, 8, 16) if small else (1 << 17, 64, 1024)  # 32 MiB
  rng = np.random.default_rng(2)
  table = rng.standard_normal((rows, dim), dtype=np.float32)
  idx = rng.integers(0, rows, batch).astype(np.int32)
  x = rng.standard_normal((batch, dim), dtype=np.float32)
  y = rng.standard_normal(batch, dtype=np.float32)

  def loss(t, x, y):
    return jnp.mean(((t * x).sum(-1) - y) ** 2)

  def ref_fn(t, idx, x, y):
    g = jax.grad(lambda w: loss(w[idx], x, y))(t[...])
    t[...] = t[...] - 0.05 * g

  def functional_fn(t, idx, x, y):
    g = jax.grad(loss)(t[idx], x, y)
    return t.at[idx].add(-0.05 * g)

  return table, ("x", None), [idx, x, y], ref_fn, functional_fn


def kv_cache_decode(small: bool):
  import jax
  import jax.numpy as jnp
  b, t, h, d = (8, 16, 2, 8) if small else (8, 1024, 8, 64)  # 16 MiB
  rng = np.random.default_rng(3)
  cache = np.zeros((b, t, h, d), np.float32)
  q = rng.standard_normal((b, h, d), dtype=np.float32)
  k = rng.standard_normal((b, h, d), dtype=np.float32)
  pos = np.int32(t // 2)

  def attend(c, q):
    s = jnp.einsum("bhd,bthd->bht", q, c) / np.sqrt(d)
    return jnp.einsum("bht,bthd->bhd", jax.nn.softmax(s, axis=-1), c)

  def ref_fn(c, q, k, pos):
    c[:, pos] = k
    return attend(c[...], q)

  def functional_fn(c, q, k, pos):
    c = c.at[:, pos].set(k)
    return c, attend(c, q)

  return cache, ("x", None, None, None), [q, k, pos], ref_fn, functional_fn


def local_rows(small: bool):
  shape = (64, 8) if small else (8192, 256)  # 8 MiB
  lo, hi = (8, 12) if small else (1000, 1064)
  r = np.zeros(shape, np.float32)

  def ref_fn(r):
    r[lo:hi] += 1.0

  def functional_fn(r):
    return r.at[lo:hi].add(1.0)

  return r, ("x", None), [], ref_fn, functional_fn


PROGRAMS: dict[str, Callable] = {"embedding_sgd": embedding_sgd,
                                 "kv_cache_decode": kv_cache_decode,
                                 "local_rows": local_rows}


class _Variant:
  def __init__(self, name: str, state: np.ndarray, spec: tuple, args: list,
               ref_fn: Callable, functional_fn: Callable):
    import jax
    import refhlo
    from jax.sharding import NamedSharding, PartitionSpec as P
    mesh = _mesh()
    self.sharding = NamedSharding(mesh, P(*spec))
    self.name = name
    self.args = [jax.device_put(a, NamedSharding(mesh, P())) for a in args]
    value = jax.device_put(state, self.sharding)
    self.shard_bytes = int(state.nbytes) // len(mesh.devices.flat)
    if name == "functional":
      self.state = value
      self.fn = jax.jit(functional_fn, donate_argnums=0)
    else:
      self.state = jax.new_ref(value)
      self.fn = (jax.jit if name == "jax_refs" else refhlo.jit)(ref_fn)

  def call(self) -> Any:
    import jax
    out = self.fn(self.state, *self.args)
    if self.name == "functional":
      if isinstance(out, tuple):
        self.state, out = out[0], out[1:]
      else:
        self.state, out = out, ()
      jax.block_until_ready(self.state)
    else:
      # The ref's buffer, not `state[...]` (a read: a copy of the ref).
      from bench.harness import _ref_buffer
      jax.block_until_ready(_ref_buffer(self.state))
    jax.block_until_ready(out)
    return out

  def final(self) -> np.ndarray:
    return np.asarray(self.state if self.name == "functional" else self.state[...])

  def stats(self) -> dict[str, Any]:
    from refhlo.compiler import xla
    compiled = self.fn.lower(self.state, *self.args).compile()
    text = compiled.as_text()
    copies = [c for c in xla.parse_copies(text) if c.size_bytes >= self.shard_bytes]
    ma = compiled.memory_analysis()
    per_device = None
    if ma is not None:
      per_device = int(ma.argument_size_in_bytes + ma.output_size_in_bytes
                       - ma.alias_size_in_bytes + ma.temp_size_in_bytes)
    collectives: dict[str, int] = {}
    for m in _COLLECTIVE.finditer(text):
      collectives[m.group(1)] = collectives.get(m.group(1), 0) + 1
    return {"copies": len(copies), "collectives": collectives, "bytes_per_device": per_device}


def run(small: bool = False, rounds: int | None = None) -> dict[str, Any]:
  rounds = rounds or (3 if small else 20)
  report: dict[str, Any] = {}
  for name, build in PROGRAMS.items():
    state, spec, args, ref_fn, functional_fn = build(small)
    variants = {v: _Variant("functional" if v == "jax_functional" else v, state, spec,
                            args, ref_fn, functional_fn) for v in VARIANTS}
    for v in variants.values():
      v.call()  # compile
    times: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
      for key, v in variants.items():
        t = time.perf_counter()
        v.call()
        times[key].append(time.perf_counter() - t)
    want = variants["jax_refs"].final()
    entry = {}
    for key, v in variants.items():
      e = {"median_s": statistics.median(times[key]),
           "agrees": bool(np.allclose(v.final(), want, rtol=1e-4, atol=1e-4)),
           "sharding_kept": (v.state if key == "jax_functional" else v.state[...]).sharding
           .is_equivalent_to(v.sharding, state.ndim)}
      e.update(v.stats())
      entry[key] = e
    base = entry["jax_refs"]["median_s"]
    for e in entry.values():
      e["ratio_to_jax_refs"] = e["median_s"] / base
    report[name] = entry
  return report


_LABEL = {"jax_refs": "(a) jax_refs", "jax_functional": "(b) functional",
          "refhlo": "(c) refhlo"}
_HEAD = ("program", "variant", "median", "ratio to (a)", "copies", "collectives",
         "bytes per device", "agrees", "sharding kept")


def _rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
  rows = []
  for name, entry in report.items():
    for key in VARIANTS:
      e = entry[key]
      coll = ", ".join(f"{k} {n}" for k, n in sorted(e["collectives"].items())) or "none"
      rows.append((name, _LABEL[key], f"{e['median_s'] * 1e3:.3f} ms",
                   f"{e['ratio_to_jax_refs']:.3f}", str(e["copies"]), coll,
                   f"{e['bytes_per_device']:,}" if e["bytes_per_device"] is not None else "-",
                   "yes" if e["agrees"] else "NO", "yes" if e["sharding_kept"] else "NO"))
  return rows


def format_table(report: dict[str, Any]) -> str:
  rows = [_HEAD] + _rows(report)
  widths = [max(len(r[i]) for r in rows) for i in range(len(_HEAD))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  return "\n".join(lines)


def format_markdown(report: dict[str, Any]) -> str:
  lines = ["| " + " | ".join(_HEAD) + " |", "|---|---|---:|---:|---:|---|---:|---|---|"]
  lines += ["| `" + r[0] + "` | " + " | ".join(r[1:]) + " |" for r in _rows(report)]
  return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m bench.sharded", description=__doc__.splitlines()[0])
  p.add_argument("--small", action="store_true")
  p.add_argument("--rounds", type=int, default=None)
  p.add_argument("--json", default=None, help="also write the report as JSON")
  a = p.parse_args(argv)
  if "jax" in sys.modules:
    p.error("run it in a process of its own: XLA reads the device count once")
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                             + " --xla_force_host_platform_device_count=8").strip()
  report = run(a.small, a.rounds)
  print(format_table(report))
  if a.json:
    import json
    with open(a.json, "w") as f:
      json.dump(report, f, indent=2, sort_keys=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
