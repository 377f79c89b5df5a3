"""refhlo's benchmarks: each program run as (a) `jax.jit` with refs, (b) the best
functional JAX (`.at[]` updates with `donate_argnums`) and (c) `refhlo.jit`,
interleaved in one process. `python -m bench` (or `make bench`) prints a table
and writes bench/results/latest.json; see docs/benchmarks.md."""
