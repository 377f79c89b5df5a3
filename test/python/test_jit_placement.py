"""Where a `refhlo.jit` call runs: on the device its committed arguments and
refs live on, as `jax.jit` does; over the devices of sharded or replicated
arguments (or a mesh of one device with Explicit axes, or a shard_map's
mesh) as one SPMD program; a mesh of one device with Auto axes runs through
`jax.jit` (with a `RefhloFallbackWarning`), whose result shardings come from
Shardy's propagation;
arguments committed to different devices are a `ValueError`, as under
jax.jit, with the refs intact.

Runs in a subprocess with 8 simulated CPU devices (XLA reads the device count
once, at start-up)."""

from __future__ import annotations

import textwrap

_PROGRAM = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, jax.numpy as jnp, numpy as np, refhlo
    from jax.sharding import NamedSharding, PartitionSpec as P

    def swap(r, i, v):
      old = r[i]
      r[i] = v
      return old

    # A ref committed to cpu:3: compiled for and run on cpu:3, in place, the
    # same values as jax.jit.
    d3 = jax.devices()[3]
    outs = {}
    for name, jit in (("refhlo", refhlo.jit), ("jax", jax.jit)):
      r = jax.new_ref(jax.device_put(jnp.arange(8.0).reshape(4, 2), d3))
      out = jit(swap)(r, 1, jnp.ones(2))
      outs[name] = (np.asarray(out), np.asarray(r[...]), out.devices(), r[...].devices())
    assert outs["refhlo"][2] == {d3} and outs["refhlo"][3] == {d3}, outs
    for a, b in zip(outs["refhlo"][:2], outs["jax"][:2]):
      np.testing.assert_array_equal(a, b)
    r = jax.new_ref(jax.device_put(jnp.zeros((1024, 256)), d3))
    compiled = refhlo.jit(swap).lower(r, 0, jnp.ones(256)).compile()
    assert compiled.copy_report() == "", compiled.copy_report()

    # A closed-over ref on cpu:5, a plain (uncommitted) argument.
    c = jax.new_ref(jax.device_put(jnp.zeros(3), jax.devices()[5]))
    refhlo.jit(lambda x: c.__setitem__(..., c[...] + x))(jnp.ones(3))
    assert c[...].devices() == {jax.devices()[5]}
    np.testing.assert_array_equal(np.asarray(c[...]), np.ones(3))

    # Arguments on two devices: a ValueError, as under jax.jit, refs intact.
    a0 = jax.device_put(jnp.ones(2), jax.devices()[0])
    r = jax.new_ref(jax.device_put(jnp.arange(8.0).reshape(4, 2), d3))
    for jit in (refhlo.jit, jax.jit):
      try:
        jit(swap)(r, 1, a0)
        raise AssertionError("no error")
      except ValueError as e:
        pass
    np.testing.assert_array_equal(np.asarray(r[...]), np.arange(8.0).reshape(4, 2))

    # A ref sharded over 8 devices: refhlo compiles one SPMD program for
    # them (no fallback to jax.jit), with jax.jit's results; the ref keeps
    # its sharding (test_jit_sharded.py has the cases and the in-place
    # checks).
    import warnings
    mesh = jax.make_mesh((8,), ("x",))
    s = NamedSharding(mesh, P("x"))
    def bump(r):
      r[...] = r[...] + 1.0
      return r[...].sum()
    outs = {}
    for name, jit in (("refhlo", refhlo.jit), ("jax", jax.jit)):
      rs = jax.new_ref(jax.device_put(jnp.arange(16.0).reshape(8, 2), s))
      with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = jit(bump)(rs)
        out = jit(bump)(rs)
      outs[name] = (float(out), np.asarray(rs[...]), rs[...].sharding, w)
    assert outs["refhlo"][0] == outs["jax"][0]
    np.testing.assert_array_equal(outs["refhlo"][1], outs["jax"][1])
    assert outs["refhlo"][2] == outs["jax"][2], (outs["refhlo"][2], outs["jax"][2])
    falls = [x for x in outs["refhlo"][3] if issubclass(x.category, refhlo.RefhloFallbackWarning)]
    assert not falls, [str(f.message) for f in falls]
    # shard_map inside: compiled by refhlo too (no fallback; the cases are
    # in test_jit_sharded.py).
    def sm(r):
      def body(x):
        x[...] += 1.0
      jax.shard_map(body, mesh=mesh, in_specs=P("x"), out_specs=None)(r)
    rs = jax.new_ref(jax.device_put(jnp.zeros((8, 2)), s))
    with warnings.catch_warnings(record=True) as w:
      warnings.simplefilter("always")
      refhlo.jit(sm)(rs)
    np.testing.assert_array_equal(np.asarray(rs[...]), np.ones((8, 2)))
    assert not [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)], (
        [str(x.message) for x in w])
    # Lowered ahead of time from a sharded abstract ref: jax.jit's stages.
    sds = jax.ShapeDtypeStruct((8, 2), jnp.float32, sharding=s, is_ref=True)
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      compiled = refhlo.jit(bump).lower(sds).compile()
    rs = jax.new_ref(jax.device_put(jnp.zeros((8, 2)), s))
    compiled(rs)
    np.testing.assert_array_equal(np.asarray(rs[...]), np.ones((8, 2)))

    # A one-device mesh with Explicit axes: compiled by refhlo (one SPMD
    # partition, no fallback); the result keeps the mesh sharding its type
    # has, as under jax.jit. With Auto axes jax.jit's result sharding comes
    # from Shardy's propagation (`P('i')` here): refhlo hands the call to
    # jax.jit, with the warning, so that the sharding is jax.jit's.
    from jax.sharding import Mesh, AxisType
    for axis_type, falls_back in ((AxisType.Explicit, False), (AxisType.Auto, True)):
      m1 = Mesh(np.array(jax.devices()[:1]), ("i",), axis_types=(axis_type,))
      a = jax.new_ref(jax.device_put(jnp.arange(2), NamedSharding(m1, P("i"))))
      with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = refhlo.jit(lambda: a[...])()
      assert got.sharding == jax.jit(lambda: a[...])().sharding, got.sharding
      falls = [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)]
      assert bool(falls) == falls_back, (axis_type, [str(x.message) for x in w])
    print("OK")
""")


def test_placement_follows_the_arguments(run_program_ok):
  run_program_ok(_PROGRAM)
