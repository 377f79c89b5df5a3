"""Smoke test of the benchmark harness: `python -m bench --small` runs every
program on tiny sizes in a few seconds, the variants agree, and the report has
the promised fields."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_bench_small_runs_and_reports(tmp_path):
  out = tmp_path / "latest.json"
  proc = subprocess.run(
      [sys.executable, "-m", "bench", "--small", "--rounds", "2", "--json", str(out)],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "program" in proc.stdout and "jax_functional" in proc.stdout
  report = json.loads(out.read_text())
  progs = report["programs"]
  assert set(progs) == {"train_loop", "ring_buffer", "kv_cache", "embedding_sgd",
                        "running_stats", "histogram", "reduce_then_write", "dispatch",
                        "dispatch_py_float", "dispatch_np_scalar",
                        "dispatch_jnp_scalar", "dispatch_static",
                        "dispatch_10_refs", "dispatch_pytree"}
  for name, prog in progs.items():
    assert "error" not in prog, (name, prog)
    for v in ("jax_refs", "jax_functional"):
      e = prog["variants"][v]
      assert "skipped" not in e, (name, v, e)
      assert e["agrees"] is True, (name, v, e)
      assert e["median_s"] > 0 and e["trace_compile_s"] > 0
      assert isinstance(e["temp_size_in_bytes"], int)
      assert isinstance(e["ref_sized_copies"], int)
    assert prog["variants"]["jax_refs"]["ratio_to_jax_refs"] == 1.0
    c = prog["variants"]["refhlo"]
    # refhlo.jit runs every program, agrees with jax.jit, and keeps the
    # in-place contract: no ref-sized copy.
    assert "skipped" not in c and c.get("agrees") is True, (name, c)
    assert c["ref_sized_copies"] == 0, (name, c)
    # The first compile, split by stage (issue: first-call cost).
    st = c["stages"]
    assert set(st) == {"trace_s", "emit_s", "pipeline_s", "xla_s"}, st
    assert all(v > 0 for v in st.values()), st
    assert sum(st.values()) <= c["trace_compile_s"] * 1.05, (st, c["trace_compile_s"])
  sc = report["scaling"]
  assert not isinstance(sc, dict), sc  # a dict here is a skip with a reason
  assert all(r["pipeline_s"] > 0 and r["parse_us_per_op"] > 0 and r["repeats"] >= 2
             for r in sc), sc
  # Each refhlo pass of ref-to-stablehlo timed; together within the pipeline.
  for r in sc:
    assert set(r["passes_us_per_op"]) == {
        "ref-verify", "ref-sparse-updates", "ref-buffer-donation",
        "ref-effect-elimination", "ref-prepare-for-xla", "ref-check-lowered"}, r
    assert 0 < sum(r["passes_us_per_op"].values()) < r["us_per_op"], r
    assert r["pipeline_over_parse"] > 0, r
  assert set(report["binding_costs"]) >= {"walk callback", "Operation.create"}
  assert all(v > 0 for v in report["binding_costs"].values()), report["binding_costs"]
  # Sharded programs on 8 simulated devices (bench/sharded.py, its own process).
  sh = report["sharded"]
  assert "skipped" not in sh, sh
  assert set(sh) == {"embedding_sgd", "kv_cache_decode", "local_rows"}, sh
  for name, entry in sh.items():
    for v, e in entry.items():
      assert e["agrees"] and e["sharding_kept"], (name, v, e)
      assert e["median_s"] > 0 and e["bytes_per_device"] > 0, (name, v, e)
    # refhlo copies no more of a shard than jax.jit with refs.
    assert entry["refhlo"]["copies"] <= entry["jax_refs"]["copies"], (name, entry)
  assert "sharded programs, 8 simulated devices" in proc.stdout
  # First compile against jax.jit, three program sizes (issue: compile time).
  ct = report["compile"]
  assert not isinstance(ct, dict), ct
  assert [r["program"] for r in ct] == ["tiny", "mlp_steps", "ref_accesses"]
  for r in ct:
    assert r["refhlo_s"] > 0 and r["jax_s"] > 0 and len(r["ratios"]) == r["pairs"] >= 2, r
    assert set(r["stages"]) == {"trace_s", "emit_s", "pipeline_s", "xla_s"}, r
  assert "first compile, refhlo.jit vs jax.jit" in proc.stdout


def test_failing_variant_is_skipped_not_fatal():
  sys.path.insert(0, str(ROOT))
  from bench import harness, runner

  def broken(*args):
    raise TypeError("cannot trace this")

  setup = harness.Setup([__import__("numpy").zeros(3, "float32")], [], broken,
                        lambda x: ((x + 1,), ()), rounds=1)
  prog = harness.Program("broken", "a program whose ref variant fails", lambda small: setup)
  res = runner.run_program(prog, True, 1, variants=("jax_refs", "jax_functional"),
                           log=lambda s: None)
  assert "cannot trace this" in res["variants"]["jax_refs"]["skipped"]
  assert res["variants"]["jax_functional"]["median_s"] > 0
  assert "skipped" in runner.format_table({"programs": {"broken": res}})
