"""refhlo.jit honours JAX's persistent compilation cache: a second process
running the same program loads refhlo's executable from
`jax_compilation_cache_dir` instead of compiling it (compiler/xla.py compiles
through JAX's `compile_or_get_cached`). Each run is a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_PROGRAM = textwrap.dedent("""
    import json, logging, sys
    import jax, jax.numpy as jnp
    jax.config.update("jax_compilation_cache_dir", sys.argv[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(sys.argv[2]))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    seen = []
    class Grab(logging.Handler):
      def emit(self, record):
        seen.append(record.getMessage())
    log = logging.getLogger("jax._src.compiler")
    log.setLevel(logging.DEBUG)
    log.addHandler(Grab())
    import refhlo

    @refhlo.jit
    def step(r, x):
      r[0] = r[0] + x
      return r[1].sum()

    r = jax.new_ref(jnp.arange(12.0).reshape(4, 3))
    out = step(r, 1.0)
    print(json.dumps({
        "out": float(out), "row0": [float(v) for v in r[0]],
        "hit": any("cache hit for 'refhlo_main'" in m for m in seen),
        "miss": any("CACHE MISS for 'refhlo_main'" in m for m in seen)}))
""")


def _run(cache_dir: str, min_secs: float) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  p = subprocess.run([sys.executable, "-c", _PROGRAM, cache_dir, str(min_secs)],
                     capture_output=True, text=True, env=env, timeout=300)
  assert p.returncode == 0, p.stderr[-3000:]
  return json.loads(p.stdout.strip().splitlines()[-1])


def test_second_process_loads_the_executable_from_the_cache(tmp_path):
  cache = str(tmp_path / "cache")
  first = _run(cache, 0.0)
  assert first["miss"] and not first["hit"], first
  assert any(n.startswith("refhlo_main-") for n in os.listdir(cache))
  second = _run(cache, 0.0)
  assert second["hit"] and not second["miss"], second
  # The cached executable computes the same thing.
  assert second["out"] == first["out"] == 12.0
  assert second["row0"] == first["row0"] == [1.0, 2.0, 3.0]


def test_cache_thresholds_are_honoured(tmp_path):
  """A program that compiles faster than `jax_persistent_cache_min_compile_
  time_secs` is not written, as under jax.jit."""
  cache = str(tmp_path / "cache")
  _run(cache, 3600.0)
  names = os.listdir(cache) if os.path.isdir(cache) else []
  assert not any(n.startswith("refhlo_main-") for n in names), names
