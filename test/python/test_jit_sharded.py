"""Refs sharded or replicated over several devices: `refhlo.jit` compiles one
SPMD program for the arguments' devices (XLA's partitioner, `mhlo.sharding`
on @main), as `jax.jit` does, and updates every shard in place.

Each case runs the same program with `refhlo.jit` and `jax.jit` on fresh
refs and compares the results, the final ref contents and the ref's
sharding; for refhlo it also checks that no call fell back to jax.jit, that
every shard's device buffer is reused (the same pointers after two calls)
and that XLA inserted no shard-sized copy. In a subprocess with 8 simulated
CPU devices (XLA reads the device count at start-up).
"""

from __future__ import annotations

import textwrap

_SETUP = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import warnings
    import jax, jax.numpy as jnp, numpy as np, refhlo
    from jax.sharding import NamedSharding, PartitionSpec as P, Mesh, AxisType

    devs = jax.devices()
    explicit = jax.make_mesh((8,), ("x",))
    auto = Mesh(np.array(devs), ("x",), axis_types=(AxisType.Auto,))
    mesh2d = Mesh(np.array(devs).reshape(4, 2), ("a", "b"),
                  axis_types=(AxisType.Auto,) * 2)

    def pointers(ref):
      \"\"\"The device buffers of every local shard of a ref.\"\"\"
      return sorted(s.data.unsafe_buffer_pointer()
                    for s in ref._refs._buf.addressable_shards)
""")
"""What the 8-device programs below share: XLA's device count (set before
jax is imported), the meshes, and the shard buffer pointers of a ref."""


_PROGRAM = _SETUP + textwrap.dedent("""
    def whole(r, i, v):
      r[...] = r[...] * 2.0 + i
      return r[...].sum(), v * 2

    def cols(r, i, v):
      r[:, 1:2] = v[:, None] + i
      r[...] = r[...] + 1.0
      return r[...].sum(), r[:, 0:1]

    def rows(r, i, v):
      r[2:3] = v[None] + i
      r[...] = r[...] + 1.0
      return r[...].sum(), r[3]

    # (64, 16) refs: a shard (512 B on 8 devices) is larger than any result.
    shape = (64, 16)
    row = -jnp.arange(16.0)
    cases = [("explicit mesh, whole ref", explicit, P("x"), whole, jnp.arange(8.0)),
             ("auto mesh, column write", auto, P("x"), cols, jnp.arange(64.0)),
             ("auto mesh, row write", auto, P("x"), rows, row),
             ("2-D mesh", mesh2d, P("a", "b"), rows, row),
             ("replicated", auto, P(), rows, row)]
    for label, mesh, spec, fn, v in cases:
      s = NamedSharding(mesh, spec)
      got = {}
      for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
        r = jax.new_ref(jax.device_put(jnp.arange(1024.0).reshape(shape), s))
        f = jit(fn)
        with warnings.catch_warnings(record=True) as w:
          warnings.simplefilter("always")
          f(r, 2, v)
          before = pointers(r) if name == "refhlo" else None
          out = f(r, 5, v)
          after = pointers(r) if name == "refhlo" else None
        got[name] = ([np.asarray(o) for o in jax.tree.leaves(out)],
                     np.asarray(r[...]), r[...].sharding)
        if name == "refhlo":
          falls = [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)]
          assert not falls, (label, [str(x.message) for x in falls])
          assert before == after, (label, "a shard was not updated in place")
          report = f.lower(r, 5, v).compile().copy_report()
          assert report == "", (label, report)
      for a, b in zip(got["refhlo"][0], got["jax"][0], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=label)
      np.testing.assert_array_equal(got["refhlo"][1], got["jax"][1], err_msg=label)
      assert got["refhlo"][2] == got["jax"][2], (label, got["refhlo"][2], got["jax"][2])

    # A sharded ref and a sharded array argument, and a closed-over sharded ref.
    s = NamedSharding(auto, P("x"))
    c = {n: jax.new_ref(jax.device_put(jnp.ones((8, 2)), s)) for n in ("jax", "refhlo")}
    outs = {}
    for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
      cr = c[name]
      def mixed(r, a):
        r[...] = r[...] + a
        cr[...] = cr[...] * r[...]
        return (r[...] * a).sum()
      r = jax.new_ref(jax.device_put(jnp.arange(16.0).reshape(8, 2), s))
      a = jax.device_put(jnp.full((8, 2), 3.0), s)
      out = jit(mixed)(r, a)
      outs[name] = (float(out), np.asarray(r[...]), np.asarray(cr[...]), cr[...].sharding)
    assert outs["refhlo"][0] == outs["jax"][0]
    for k in (1, 2):
      np.testing.assert_array_equal(outs["refhlo"][k], outs["jax"][k])
    assert outs["refhlo"][3] == outs["jax"][3]

    # Lowered from a sharded abstract ref, then run on a real one.
    sds = jax.ShapeDtypeStruct((8, 2), jnp.float32, sharding=s, is_ref=True)
    compiled = refhlo.jit(whole).lower(sds, 1, jnp.zeros(8)).compile()
    assert compiled.copy_report() == ""
    r = jax.new_ref(jax.device_put(jnp.ones((8, 2)), s))
    compiled(r, 1, jnp.zeros(8))
    np.testing.assert_array_equal(np.asarray(r[...]), np.full((8, 2), 3.0))

    # A mesh of one device with Explicit axes: one SPMD partition; the
    # results carry the mesh sharding jax.jit gives them (their types too).
    # (With Auto axes jax.jit's result shardings come from Shardy's
    # propagation: refhlo hands those calls to jax.jit, test_jit_placement.)
    for axis_type in (AxisType.Explicit,):
      one = Mesh(np.array(devs[:1]), ("x",), axis_types=(axis_type,))
      s1 = NamedSharding(one, P())
      got = {}
      for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
        r = jax.new_ref(jax.device_put(jnp.arange(1024.0).reshape(shape), s1))
        v = jax.device_put(row, s1)
        f = jit(rows)
        with warnings.catch_warnings(record=True) as w:
          warnings.simplefilter("always")
          f(r, 2, v)
          before = pointers(r)
          out = f(r, 5, v)
          after = pointers(r)
        if name == "refhlo":
          assert not [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)]
          assert before == after, (axis_type, "not updated in place")
        got[name] = ([(np.asarray(o), o.sharding, jax.typeof(o)) for o in jax.tree.leaves(out)],
                     np.asarray(r[...]), r[...].sharding, jax.typeof(r))
      for (a, sa, ta), (b, sb, tb) in zip(got["refhlo"][0], got["jax"][0], strict=True):
        np.testing.assert_array_equal(a, b)
        assert sa == sb and ta == tb, (axis_type, sa, sb, ta, tb)
      np.testing.assert_array_equal(got["refhlo"][1], got["jax"][1])
      assert got["refhlo"][2:] == got["jax"][2:], (axis_type, got["refhlo"][2:], got["jax"][2:])

    # Refs on different device sets: a ValueError before anything runs
    # (jax.jit raises one too); the refs keep their contents.
    half = Mesh(np.array(devs[:4]), ("y",), axis_types=(AxisType.Auto,))
    r1 = jax.new_ref(jax.device_put(jnp.ones((8, 2)), s))
    r2 = jax.new_ref(jax.device_put(jnp.ones((8, 2)), NamedSharding(half, P("y"))))
    def two(a, b):
      a[...] = a[...] + b[...]
    for jit in (refhlo.jit, jax.jit):
      try:
        jit(two)(r1, r2)
        raise AssertionError("no error")
      except ValueError:
        pass
    np.testing.assert_array_equal(np.asarray(r1[...]), np.ones((8, 2)))
    np.testing.assert_array_equal(np.asarray(r2[...]), np.ones((8, 2)))
    print("OK")
""")


def test_sharded_refs_match_jax_and_stay_in_place(run_program_ok):
  run_program_ok(_PROGRAM)


_SHARDINGS_PROGRAM = _SETUP + textwrap.dedent("""
    def f(r, a):
      r[...] += a
      return a * 2, r[...][:, 0], (a.sum(),)

    # in_shardings / out_shardings at the top level, as jax.jit takes them:
    # the same values, shardings (equivalent) and types as jax.jit's, the
    # ref updated in place on every shard, no fallback.
    for mesh in (auto, explicit):
      sx, rep = NamedSharding(mesh, P("x")), NamedSharding(mesh, P())
      for kw in ({"in_shardings": (sx, sx), "out_shardings": (sx, rep, None)},
                 {"out_shardings": rep}, {"in_shardings": sx}):
        got = {}
        for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
          r = jax.new_ref(jax.device_put(jnp.arange(32.0).reshape(8, 4), sx))
          # An uncommitted array is put where in_shardings says.
          a = (jnp.ones((8, 4)) if "in_shardings" in kw
               else jax.device_put(jnp.ones((8, 4)), sx))
          g = jit(f, **kw)
          with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            g(r, a)
            before = pointers(r) if name == "refhlo" else None
            out = g(r, a)
            after = pointers(r) if name == "refhlo" else None
          if name == "refhlo":
            falls = [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)]
            assert not falls, [str(x.message) for x in falls]
            assert before == after, (mesh, kw, "not in place")
            assert g.lower(r, a).compile().copy_report() == ""
          got[name] = [(np.asarray(o), o.sharding, jax.typeof(o))
                       for o in jax.tree.leaves(out) + [r[...]]]
        for (x, sa, ta), (y, sb, tb) in zip(got["refhlo"], got["jax"], strict=True):
          np.testing.assert_array_equal(x, y)
          assert sa.is_equivalent_to(sb, x.ndim) and ta == tb, (mesh, kw, sa, sb, ta, tb)
        if "out_shardings" in kw:  # asked-for shardings are given exactly
          spec = kw["out_shardings"]
          first = spec[0] if isinstance(spec, tuple) else spec
          assert got["refhlo"][0][1] == first, got["refhlo"][0][1]

    # A window update of a row-sharded ref is a masked elementwise update: no
    # collective in refhlo's program, where jax.jit's all-gathers the ref.
    import re
    sx = NamedSharding(auto, P("x"))
    def local(r, v):
      r[40:44] += 1.0
      r[50:52, 3] = v
      r[60] = r[60] * 2.0
    got = {}
    for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
      r = jax.new_ref(jax.device_put(jnp.arange(1024.0).reshape(128, 8), sx))
      v = jnp.array([-1.0, -2.0])
      g = jit(local)
      g(r, v)
      before = pointers(r) if name == "refhlo" else None
      g(r, v)
      if name == "refhlo":
        assert pointers(r) == before
      text = g.lower(r, v).compile().as_text()
      got[name] = (np.asarray(r[...]), re.findall(r"all-gather|collective-permute|all-to-all", text))
    np.testing.assert_array_equal(got["refhlo"][0], got["jax"][0])
    assert got["refhlo"][1] == [] and got["jax"][1], (got["refhlo"][1], got["jax"][1])

    # Errors: a RefhloValueError (a ValueError, as jax.jit raises) before
    # anything is compiled or donated; the refs keep their contents.
    sx, rep = NamedSharding(auto, P("x")), NamedSharding(auto, P())
    def fails(message, *call):
      try:
        call[0](*call[1:])
      except refhlo.RefhloValueError as e:
        assert message in str(e), (message, str(e))
        return
      raise AssertionError("no error: " + message)
    r = jax.new_ref(jax.device_put(jnp.full((8, 4), 3.0), rep))
    fails("in_shardings gives argument r the sharding",
          refhlo.jit(f, in_shardings=(sx, sx)), r, jnp.ones((8, 4)))
    fails("in_shardings does not match the positional arguments",
          refhlo.jit(f, in_shardings=(sx, sx, sx)), r, jnp.ones((8, 4)))
    fails("which it cannot have", refhlo.jit(f, in_shardings=(rep, sx)), r, jnp.ones((3, 4)))
    fails("out_shardings gives result 2 (float32[])",
          refhlo.jit(f, out_shardings=sx), r, jnp.ones((8, 4)))
    fails("out_shardings does not match the results' structure",
          refhlo.jit(f, out_shardings=(sx, sx)), r, jnp.ones((8, 4)))
    r1 = jax.new_ref(jnp.full((8, 4), 3.0))  # on one device
    fails("and out_shardings are on devices",
          refhlo.jit(f, out_shardings=(sx, sx, None)), r1, jnp.ones((8, 4)))
    fails("needs a mesh", refhlo.jit(f, out_shardings=P("x")), r, jnp.ones((8, 4)))
    fails("needs a mesh", refhlo.jit(f, in_shardings=P("x")), r, jnp.ones((8, 4)))
    np.testing.assert_array_equal(np.asarray(r[...]), np.full((8, 4), 3.0))
    np.testing.assert_array_equal(np.asarray(r1[...]), np.full((8, 4), 3.0))

    # Bare PartitionSpecs under jax.set_mesh, as jax.jit reads them.
    with jax.set_mesh(explicit):
      sx = NamedSharding(explicit, P("x"))
      got = {}
      for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
        r = jax.new_ref(jax.device_put(jnp.zeros((8, 4)), sx))
        out = jit(f, in_shardings=P("x"), out_shardings=(P(), P("x"), None))(
            r, jax.device_put(jnp.ones((8, 4)), sx))
        got[name] = [(np.asarray(o), o.sharding, jax.typeof(o))
                     for o in jax.tree.leaves(out) + [r[...]]]
      for (x, sa, ta), (y, sb, tb) in zip(got["refhlo"], got["jax"], strict=True):
        np.testing.assert_array_equal(x, y)
        assert sa.is_equivalent_to(sb, x.ndim) and ta == tb, (sa, sb, ta, tb)
    print("OK")
""")


def test_in_and_out_shardings_match_jax(run_program_ok):
  run_program_ok(_SHARDINGS_PROGRAM)


_SDY_PROGRAM = textwrap.dedent("""
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P, Mesh
    from jaxlib.mlir import ir
    from refhlo.compiler import xla
    from refhlo.compiler.context import make_context
    from refhlo.compiler.pipeline import run_pipeline

    # A ref argument sharded with Shardy (`ref.sharding`), lowered by
    # ref-to-stablehlo and compiled for 8 devices (Shardy partitions it):
    # every shard of the donated buffer is updated in place.
    TEXT = '''
    sdy.mesh @mesh = <["x"=4, "y"=2]>
    func.func @main(%r: !ref.ref<tensor<8x4xf32>> {ref.sharding = #sdy.sharding<@mesh, [{"x"}, {"y"}]>},
                    %v: tensor<8x4xf32> {sdy.sharding = #sdy.sharding<@mesh, [{"x"}, {"y"}]>}) {
      %o = "ref.get"(%r) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
      %s = stablehlo.add %o, %v : tensor<8x4xf32>
      "ref.set"(%r, %s) : (!ref.ref<tensor<8x4xf32>>, tensor<8x4xf32>) -> ()
      return
    }'''
    with make_context():
      m = ir.Module.parse(TEXT)
      run_pipeline(m, "builtin.module(ref-to-stablehlo)")
      c = xla.compile_module(m, devices=jax.devices())
    assert c.aliases == {0: 0}, c.aliases
    assert c.copy_report(0) == "", c.copy_report(0)
    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("x", "y"))
    # Fully sharded: a replicated shard may share its host buffer with its
    # replica on simulated CPU devices, and a shared buffer is not donated.
    s = NamedSharding(mesh, P("x", "y"))
    x = np.arange(32, dtype=np.float32).reshape(8, 4)
    a = jax.device_put(x, s)
    before = sorted(sh.data.unsafe_buffer_pointer() for sh in a.addressable_shards)
    (out,) = c.execute(a, jax.device_put(np.ones((8, 4), np.float32), s))
    np.testing.assert_array_equal(np.asarray(out), x + 1)
    assert out.sharding.is_equivalent_to(s, 2), out.sharding
    after = sorted(sh.data.unsafe_buffer_pointer() for sh in out.addressable_shards)
    assert before == after, "a shard was not updated in place"
    print("OK")
""")


def test_shardy_sharded_ref_argument_compiles_in_place(run_program_ok):
  run_program_ok(_SDY_PROGRAM)


_SHARD_MAP_PROGRAM = _SETUP + textwrap.dedent("""
    def per_shard(mesh, axis):
      def f(r, v):
        def body(rl, vl):
          rl[...] += vl * 2.0                                # a per-shard write
          rl[0] = jnp.full(rl.shape[1:], jax.lax.axis_index(axis).astype(jnp.float32))
          return jax.lax.psum(rl[...].sum(), axis)
        return jax.shard_map(body, mesh=mesh, in_specs=(P(axis), P(axis)),
                             out_specs=P())(r, v)
      return f

    def no_refs(mesh):
      def f(r, v):
        total = jax.shard_map(lambda x: jax.lax.psum(x.sum(), "x"), mesh=mesh,
                              in_specs=P("x"), out_specs=P())(v)
        r[...] += total
        return total
      return f

    cases = [("explicit", explicit, "x", per_shard(explicit, "x"), True),
             ("auto", auto, "x", per_shard(auto, "x"), True),
             ("2-D mesh, one axis manual", mesh2d, "a", per_shard(mesh2d, "a"), True),
             ("shard_map without refs", auto, "x", no_refs(auto), True),
             ("an uncommitted array argument", auto, "x", per_shard(auto, "x"), False)]
    for label, mesh, axis, fn, committed in cases:
      s = NamedSharding(mesh, P(axis))
      got = {}
      for name, jit in (("jax", jax.jit), ("refhlo", refhlo.jit)):
        x = jnp.arange(64.0).reshape(16, 4)
        r = jax.new_ref(jax.device_put(x, s))
        v = jax.device_put(jnp.ones((16, 4)), s) if committed else jnp.ones((16, 4))
        g = jit(fn)
        with warnings.catch_warnings(record=True) as w:
          warnings.simplefilter("always")
          g(r, v)
          before = pointers(r) if name == "refhlo" else None
          out = g(r, v)
        if name == "refhlo":
          falls = [x for x in w if issubclass(x.category, refhlo.RefhloFallbackWarning)]
          assert not falls, (label, [str(x.message) for x in falls])
          assert pointers(r) == before, (label, "not in place")
          assert g.lower(r, v).compile().copy_report() == "", label
        got[name] = (np.asarray(out), np.asarray(r[...]))
      np.testing.assert_array_equal(got["refhlo"][0], got["jax"][0], err_msg=label)
      np.testing.assert_array_equal(got["refhlo"][1], got["jax"][1], err_msg=label)

    # A ref committed to one device and a shard_map over 8: a ValueError
    # before anything runs (jax.jit raises one too); the ref is intact.
    r = jax.new_ref(jax.device_put(jnp.ones((16, 4)), devs[0]))
    for jit in (refhlo.jit, jax.jit):
      try:
        jit(per_shard(auto, "x"))(r, jnp.ones((16, 4)))
        raise AssertionError("no error")
      except ValueError:
        pass
    np.testing.assert_array_equal(np.asarray(r[...]), np.ones((16, 4)))
    print("OK")
""")


def test_shard_map_with_refs_matches_jax_and_stays_in_place(run_program_ok):
  run_program_ok(_SHARD_MAP_PROGRAM)
