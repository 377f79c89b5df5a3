"""Runs every program under every variant, interleaved, and reports.

For each program: build a runner per variant (a variant whose implementation
fails -- e.g. `refhlo.jit` before it exists -- is skipped with the reason
printed, never failing the run), call each once (compile + the result check:
all variants must agree), measure trace+compile time, XLA's
`temp_size_in_bytes` and the ref-sized copies in the optimized HLO, then time
`rounds` calls in the order a, b, c, a, b, c, ... and take medians.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback
from typing import Any

from bench import compile_time, harness, scaling, warm_cache
from bench.programs import all_programs

RESULTS = pathlib.Path(__file__).resolve().parent / "results" / "latest.json"


def _reason(e: BaseException) -> str:
  text = f"{type(e).__name__}: {e}".strip().splitlines()
  return text[0][:200] if text else type(e).__name__


def run_program(program: harness.Program, small: bool, rounds: int | None,
                variants: tuple[str, ...] = harness.VARIANTS,
                log=print) -> dict[str, Any]:
  setup = program.make(small)
  n_rounds = rounds or setup.rounds
  out: dict[str, Any] = {"description": program.description,
                         "ref_bytes": setup.ref_bytes, "rounds": n_rounds,
                         "variants": {}}
  runners: dict[str, harness.Runner] = {}
  for v in variants:
    entry: dict[str, Any] = {}
    out["variants"][v] = entry
    try:
      r = harness.make_runner(v, setup)
      t0 = time.perf_counter()
      r.run()
      entry["first_call_s"] = time.perf_counter() - t0
      runners[v] = r
    except Exception as e:  # noqa: BLE001 -- a failing variant is skipped
      entry["skipped"] = _reason(e)
      log(f"  [{program.name}] skipping {v}: {entry['skipped']}")
  results = {}
  for v, r in runners.items():
    try:
      results[v] = r.result()
    except Exception as e:  # noqa: BLE001
      out["variants"][v]["skipped"] = _reason(e)
  for v, msg in harness.check_agree(results, setup.rtol, setup.atol).items():
    out["variants"][v]["agrees"] = msg is None
    if msg is not None:
      out["variants"][v]["mismatch"] = msg
      log(f"  [{program.name}] {v}: MISMATCH {msg}")
  import jax
  for v in list(runners):
    try:
      jax.clear_caches()  # so that lower().compile() really traces and compiles
      s = runners[v].compile_stats()
      out["variants"][v].update(dataclasses_asdict(s))
      out["variants"][v]["in_place"] = s.in_place(setup.ref_bytes)
    except Exception as e:  # noqa: BLE001
      out["variants"][v]["stats_error"] = _reason(e)
  for v in list(runners):  # warm again after clearing the caches (untimed)
    try:
      runners[v].run()
    except Exception as e:  # noqa: BLE001
      out["variants"][v]["skipped"] = _reason(e)
      del runners[v]
  times: dict[str, list[float]] = {v: [] for v in runners}
  for _ in range(n_rounds):
    for v in list(runners):
      try:
        t0 = time.perf_counter()
        runners[v].run()
        times[v].append(time.perf_counter() - t0)
      except Exception as e:  # noqa: BLE001
        out["variants"][v]["skipped"] = _reason(e)
        del runners[v]
  base = statistics.median(times["jax_refs"]) if times.get("jax_refs") else None
  for v, ts in times.items():
    if ts and "skipped" not in out["variants"][v]:
      med = statistics.median(ts)
      out["variants"][v]["median_s"] = med
      out["variants"][v]["ratio_to_jax_refs"] = med / base if base else None
  del runners
  gc.collect()
  return out


def dataclasses_asdict(s: harness.CompileStats) -> dict[str, Any]:
  out = {"trace_compile_s": s.trace_compile_s,
         "temp_size_in_bytes": s.temp_size_in_bytes,
         "ref_sized_copies": s.ref_sized_copies}
  if s.stages:
    out["stages"] = dict(s.stages)
  return out


_STAGES = ("trace_s", "emit_s", "pipeline_s", "xla_s")


def stage_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
  """(program, trace, emit, pipeline, xla, total) of refhlo's first compile."""
  rows = []
  for name, prog in report["programs"].items():
    st = prog.get("variants", {}).get("refhlo", {}).get("stages")
    if st:
      rows.append((name, *(_fmt_time(st.get(k)) for k in _STAGES),
                   _fmt_time(sum(st.get(k, 0.0) for k in _STAGES))))
  return rows


def _fmt_time(s: float | None) -> str:
  if s is None:
    return "-"
  return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


def _fmt_bytes(b: int | None) -> str:
  if b is None:
    return "-"
  for unit, k in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
    if b >= k:
      return f"{b / k:.1f} {unit}"
  return f"{b} B"


def _short(text: str, n: int = 70) -> str:
  return text if len(text) <= n else text[:n - 3] + "..."


def format_table(report: dict[str, Any]) -> str:
  head = ("program", "variant", "median", "x (a)", "temp", "copies", "compile", "ok",
          "in place")
  rows = [head]
  for name, prog in report["programs"].items():
    for v, e in prog.get("variants", {}).items():
      if "skipped" in e:
        rows.append((name, v, "skipped", "", "", "", "", e["skipped"][:60], ""))
        continue
      ratio = e.get("ratio_to_jax_refs")
      rows.append((name, v, _fmt_time(e.get("median_s")),
                   f"{ratio:.3f}" if ratio is not None else "-",
                   _fmt_bytes(e.get("temp_size_in_bytes")),
                   str(e.get("ref_sized_copies", "-")),
                   _fmt_time(e.get("trace_compile_s")),
                   "yes" if e.get("agrees") else "NO",
                   _short(e.get("in_place", "-"))))
    if "error" in prog:
      rows.append((name, "-", "error", "", "", "", "", prog["error"][:60], ""))
  widths = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
  lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  lines.insert(1, "  ".join("-" * w for w in widths))
  stages = stage_rows(report)
  if stages:
    lines.append("")
    lines.append("refhlo's compile, per stage (trace / emit / pipeline / xla / sum):")
    for r in stages:
      lines.append("  " + r[0].ljust(22) + "  ".join(c.rjust(10) for c in r[1:]))
  lines += _section(report.get("scaling"), "pipeline scaling",
                    "pipeline scaling (ref-to-stablehlo, in-process, median of repeats):",
                    _scaling_lines)
  if report.get("binding_costs"):
    lines += ["", "MLIR binding trips, the floor under a Python pass (bench/scaling.py):"]
    lines += _binding_lines(report["binding_costs"])
  lines += _section(report.get("sharded"), "sharded programs",
                    "sharded programs, 8 simulated devices (bench/sharded.py):",
                    _sharded_lines)
  lines += _section(report.get("compile"), "first compile",
                    "first compile, refhlo.jit vs jax.jit (lower().compile(), median of "
                    "pairs):", _compile_lines)
  lines += _section(report.get("warm_cache"), "warm cache",
                    "first call less the second, cold -> warm persistent cache (a fresh "
                    "process each):",
                    warm_cache.lines)
  return "\n".join(lines)


def _section(value: Any, name: str, header: str, render) -> list[str]:
  """A report section after the main table: its header and lines
  (`render(value)`), the reason it was skipped, or nothing when it was not
  run."""
  if value is None:
    return []
  if isinstance(value, dict) and "skipped" in value:
    return ["", f"{name}: skipped: {value['skipped']}"]
  return ["", header] + ["  " + line for line in render(value)]


def _scaling_lines(rows: list[dict[str, Any]]) -> list[str]:
  lines = [f"{r['ops']:>6} ops: parse {r['parse_s'] * 1e3:8.1f} ms "
           f"({r.get('parse_us_per_op', 0.0):5.1f} us/op), "
           f"pipeline {r['pipeline_s'] * 1e3:9.1f} ms ({r['us_per_op']:6.1f} us/op, "
           f"{r.get('pipeline_over_parse', 0.0):.1f}x parse)"
           f"  x{r.get('repeats', 1)}" for r in rows]
  lines.append(f"pipeline time per op, largest / smallest: {scaling_spread(rows):.2f}x")
  for r in rows:
    split = _pass_split(r)
    if split:
      lines.append(f"{r['ops']:>6} ops, us/op per pass: " + ", ".join(
          f"{name} {us:.1f}" for name, us in split))
  return lines


def _pass_split(row: dict[str, Any]) -> list[tuple[str, float]]:
  """(pass, us/op) for each refhlo pass of a scaling row, then MLIR's share
  (canonicalize, cse, the verifier): the pipeline less the passes."""
  passes = row.get("passes_us_per_op")
  if not passes:
    return []
  split = [(name.removeprefix("ref-"), us) for name, us in passes.items()]
  return split + [("MLIR", row["us_per_op"] - sum(passes.values()))]


def _binding_lines(costs: dict[str, float]) -> list[str]:
  return ["  " + ", ".join(f"{k} {v:.2f}" for k, v in costs.items()) + " (us per op)"]


def _sharded_lines(report: dict[str, Any]) -> list[str]:
  from bench import sharded
  return sharded.format_table(report).splitlines()


def _compile_lines(rows: list[dict[str, Any]]) -> list[str]:
  return [f"{r['program']:<14} size {r['size']:>4}: refhlo {r['refhlo_s'] * 1e3:9.1f} ms, "
          f"jax.jit {r['jax_s'] * 1e3:9.1f} ms, ratio {r['ratio']:.3f}  x{r['pairs']}"
          for r in rows]


def scaling_spread(rows: list[dict[str, Any]]) -> float:
  """Largest over smallest pipeline time per op across the sizes (1.0 = flat)."""
  per_op = [r["us_per_op"] for r in rows]
  return max(per_op) / min(per_op)


def format_markdown(report: dict[str, Any]) -> str:
  """The report as the Markdown tables of docs/benchmarks.md."""
  lines = ["| program | variant | median | ratio to (a) | temp bytes | ref-sized copies "
           "| trace+compile | agrees | in place |",
           "|---|---|---:|---:|---:|---:|---:|---|---|"]
  from bench.programs import MODULES
  order = {n: k for k, n in enumerate(MODULES)}
  for name, prog in sorted(report["programs"].items(), key=lambda kv: order.get(kv[0], 99)):
    if "error" in prog:
      lines.append(f"| `{name}` | - | error | | | | | {prog['error'][:60]} | |")
      continue
    variants = prog.get("variants", {})
    for v, e in sorted(variants.items(), key=lambda kv: (
        harness.VARIANTS.index(kv[0]) if kv[0] in harness.VARIANTS else 99)):
      label = {"jax_refs": "(a) jax_refs", "jax_functional": "(b) jax_functional",
               "refhlo": "(c) refhlo"}.get(v, v)
      if "skipped" in e:
        lines.append(f"| `{name}` | {label} | skipped | | | | | {e['skipped'][:60]} | |")
        continue
      ratio = e.get("ratio_to_jax_refs")
      lines.append(
          f"| `{name}` | {label} | {_fmt_time(e.get('median_s'))} | "
          f"{f'{ratio:.3f}' if ratio is not None else '-'} | "
          f"{_fmt_bytes(e.get('temp_size_in_bytes'))} | {e.get('ref_sized_copies', '-')} | "
          f"{_fmt_time(e.get('trace_compile_s'))} | {'yes' if e.get('agrees') else 'NO'} | "
          f"{e.get('in_place', '-')} |")
  stages = stage_rows(report)
  if stages:
    lines += ["", "refhlo's compile, per stage:", "",
              "| program | trace | emit | pipeline | xla | sum |",
              "|---|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join((f"`{r[0]}`",) + r[1:]) + " |" for r in stages]
  sc = report.get("scaling")
  if isinstance(sc, list):
    lines += ["", "| ref ops | repeats | parse (median) | parse per op | pipeline (median) "
              "| pipeline per op |", "|---:|---:|---:|---:|---:|---:|"]
    for r in sc:
      lines.append(f"| {r['ops']:,} | {r.get('repeats', 1)} | {r['parse_s'] * 1e3:.1f} ms | "
                   f"{r.get('parse_us_per_op', 0.0):.1f} us | {r['pipeline_s'] * 1e3:.1f} ms | "
                   f"{r['us_per_op']:.1f} us |")
    lines += ["", f"Pipeline time per op, largest / smallest: {scaling_spread(sc):.2f}x."]
    split = [_pass_split(r) for r in sc]
    if all(split):
      lines += ["", "| ref ops | " + " | ".join(n for n, _ in split[0]) + " | pipeline / parse |",
                "|---:|" + "---:|" * (len(split[0]) + 1)]
      for r, sp in zip(sc, split):
        lines.append(f"| {r['ops']:,} | " + " | ".join(f"{us:.1f}" for _, us in sp)
                     + f" | {r['pipeline_over_parse']:.1f}x |")
    if report.get("binding_costs"):
      lines += ["", "| binding trip | us per op |", "|---|---:|"]
      lines += [f"| {k} | {v:.2f} |" for k, v in report["binding_costs"].items()]
  sh = report.get("sharded")
  if isinstance(sh, dict) and "skipped" not in sh:
    from bench import sharded
    lines += ["", sharded.format_markdown(sh).rstrip("\n")]
  ct = report.get("compile")
  if isinstance(ct, list):
    lines += ["", "| program | size | refhlo.jit | jax.jit | ratio (median of pairs) |",
              "|---|---:|---:|---:|---:|"]
    for r in ct:
      lines.append(f"| `{r['program']}` | {r['size']} | {r['refhlo_s'] * 1e3:.1f} ms | "
                   f"{r['jax_s'] * 1e3:.1f} ms | {r['ratio']:.3f} |")
  return "\n".join(lines) + "\n"


def run_sharded(small: bool, rounds: int | None) -> dict[str, Any]:
  """bench/sharded.py's report (it needs 8 simulated devices, which XLA
  reads once per process: so it runs in a process of its own)."""
  import subprocess
  import tempfile
  with tempfile.TemporaryDirectory() as d:
    out = pathlib.Path(d) / "sharded.json"
    cmd = [sys.executable, "-m", "bench.sharded", "--json", str(out)]
    cmd += ["--small"] if small else []
    cmd += ["--rounds", str(rounds)] if rounds else []
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run(cmd, cwd=pathlib.Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
      return {"skipped": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip()
              else f"exit status {proc.returncode}"}
    return json.loads(out.read_text())


def run_all(small: bool = False, rounds: int | None = None,
            only: list[str] | None = None, log=print) -> dict[str, Any]:
  import jax
  report: dict[str, Any] = {
      "small": small, "jax": jax.__version__,
      "backend": jax.default_backend(), "machine": platform.machine(),
      "programs": {}}
  for program in all_programs():
    if only and program.name not in only:
      continue
    log(f"running {program.name} ...")
    try:
      report["programs"][program.name] = run_program(program, small, rounds, log=log)
    except Exception as e:  # noqa: BLE001 -- one broken program never stops the run
      report["programs"][program.name] = {"error": _reason(e)}
      log(traceback.format_exc())
  if not only or "scaling" in only:
    try:
      report["scaling"] = scaling.run_scaling(small)
      report["binding_costs"] = scaling.binding_costs()
    except Exception as e:  # noqa: BLE001
      report["scaling"] = {"skipped": _reason(e)}
  if not only or "sharded" in only:
    log("running sharded (8 simulated devices, in a process of its own) ...")
    report["sharded"] = run_sharded(small, rounds)
  if only and "warm_cache" in only:  # opt-in: 4 processes per program
    log("running warm_cache (fresh processes, a persistent cache) ...")
    try:
      report["warm_cache"] = warm_cache.run_warm_cache(small)
    except Exception as e:  # noqa: BLE001
      report["warm_cache"] = {"skipped": _reason(e)}
  if not only or "compile" in only:
    log("running compile ...")
    try:
      report["compile"] = compile_time.run_compile_time(small)
    except Exception as e:  # noqa: BLE001
      report["compile"] = {"skipped": _reason(e)}
  return report


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
  p.add_argument("--small", action="store_true", help="tiny sizes: a smoke run of seconds")
  p.add_argument("--rounds", type=int, default=None, help="timed calls per variant")
  p.add_argument("--only", default=None, help="comma-separated program names (and/or 'scaling', 'compile', "
                      "'sharded'; 'warm_cache' runs only when named)")
  p.add_argument("--json", default=str(RESULTS), help="where to write the JSON report")
  p.add_argument("--markdown", default=None,
                 help="also write the tables as Markdown (for docs/benchmarks.md)")
  a = p.parse_args(argv)
  only = a.only.split(",") if a.only else None
  report = run_all(a.small, a.rounds, only, log=lambda s: print(s, file=sys.stderr))
  print(format_table(report))
  path = pathlib.Path(a.json)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
  print(f"\nwrote {path}")
  if a.markdown:
    md = pathlib.Path(a.markdown)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(format_markdown(report))
    print(f"wrote {md}")
  return 0
