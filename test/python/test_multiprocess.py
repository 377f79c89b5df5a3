"""Refs across processes: two processes on localhost, joined with
`jax.distributed.initialize` (CPU collectives over gloo), four simulated CPU
devices each, one ref sharded over all eight. `refhlo.jit` compiles one SPMD
program for the global device assignment (each process runs it on its own
four devices), updates every shard in place in both processes and gives the
results `jax.jit` gives (docs/scale.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

_WORKER = textwrap.dedent("""
    import os, sys, warnings
    process_id, port = int(sys.argv[1]), sys.argv[2]
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}",
                               num_processes=2, process_id=process_id,
                               initialization_timeout=60)
    import jax.numpy as jnp, numpy as np, refhlo
    from jax.sharding import NamedSharding, PartitionSpec as P, AxisType
    warnings.simplefilter("error", refhlo.RefhloFallbackWarning)
    assert (jax.process_count(), jax.device_count(), jax.local_device_count()) == (2, 8, 4)

    mesh = jax.make_mesh((8,), ("x",), axis_types=(AxisType.Auto,))
    rows = NamedSharding(mesh, P("x"))
    # Each process holds its half of the rows: process p's rows are
    # 32 p .. 32 p + 31 of arange(64), in (16, 4).
    local = np.arange(process_id * 32, process_id * 32 + 32, dtype=np.float32).reshape(8, 4)

    def new_table():
      return jax.new_ref(jax.make_array_from_process_local_data(rows, local, (16, 4)))

    def step(table, k):
      table[...] = table[...] * 2.0 + k
      table[3:5] += 1.0          # rows on process 0 only
      return table[...].sum()

    def pointers(ref):
      return sorted(s.data.unsafe_buffer_pointer() for s in ref._refs._buf.addressable_shards)

    got = {}
    for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
      table = new_table()
      f = jit(step)
      f(table, 1.0)
      before = pointers(table) if name == "refhlo" else None
      total = f(table, 2.0)
      if name == "refhlo":
        after = pointers(table)
        assert before == after, "a shard was not updated in place"
        assert f.lower(table, 2.0).compile().copy_report() == ""
      got[name] = (float(total), [np.asarray(s.data) for s in table[...].addressable_shards],
                   table[...].sharding)
    assert got["refhlo"][0] == got["jax"][0], (got["refhlo"][0], got["jax"][0])
    for a, b in zip(got["refhlo"][1], got["jax"][1], strict=True):
      np.testing.assert_array_equal(a, b)
    assert got["refhlo"][2] == got["jax"][2]
    print(process_id, "OK", got["refhlo"][0])
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_ref_sharded_over_two_processes_updates_in_place(tmp_path):
  worker = tmp_path / "worker.py"
  worker.write_text(_WORKER)
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  port = str(_free_port())
  procs = [subprocess.Popen([sys.executable, str(worker), str(p), port],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env) for p in (0, 1)]
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=90))
  finally:
    for p in procs:
      p.kill()
  for k, (p, (out, err)) in enumerate(zip(procs, outs)):
    assert p.returncode == 0 and f"{k} OK" in out, (k, out[-2000:], err[-3000:])
  # Both processes computed the same global sum.
  assert outs[0][0].split()[-1] == outs[1][0].split()[-1]
