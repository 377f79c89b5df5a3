"""The in-place contract (DESIGN.md): a ref write reaches XLA as an in-place
update of the donated buffer: no ref-sized copy in the optimized HLO and
`temp_size_in_bytes` far below the ref's size.

Seven scenarios on a 64 MiB ref (`tensor<16384x1024xf32>`): (a) row write,
(b) swap, (c) read-modify-write, (d) addupdate with an index array, (e) a write
per iteration of a while loop, (f) a write in one branch of a case, (g) 100
straight-line writes. `TestStableHLOForms` holds them as hand-written
StableHLO (the forms effect elimination must emit, docs/inplace.md) and pins
the XLA behaviour behind the rules; `TestRefDialect` holds them as `ref`
programs lowered by the `ref-to-stablehlo` pipeline. Each compiles with
`refhlo.compiler.xla.compile_module`, runs once and checks values against
NumPy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jaxlib.mlir import ir

from refhlo.compiler import transforms, xla
from refhlo.compiler.context import make_context

N, M = 16384, 1024                # the ref: 64 MiB of f32
REF_BYTES = N * M * 4
K = 8                             # rows of the addupdate index array
LOOP = 16                         # while-loop trip count
MANY = 100                        # straight-line writes
I = 3                             # the row index used by (a), (b), (c), (f)


def _base() -> np.ndarray:
  return np.arange(N * M, dtype=np.float32).reshape(N, M) % 1000


def _row(v: float = 7.0) -> np.ndarray:
  return np.full((M,), v, np.float32)


def _idx() -> np.ndarray:
  return np.array([5, 9, 5, 100, 16383, 0, 9, 5], np.int32)  # with duplicates


def _upd() -> np.ndarray:
  return np.arange(K * M, dtype=np.float32).reshape(K, M) % 13


def _many_rows() -> list[int]:
  return [(k * 37) % N for k in range(MANY)]


def _assert_in_place(c: xla.Compiled) -> None:
  copies = c.copies(REF_BYTES)
  assert not copies, "ref-sized copies:\n" + c.copy_report(REF_BYTES)
  temp = c.memory_analysis().temp_size_in_bytes
  assert temp < REF_BYTES / 8, f"temp_size_in_bytes = {temp}"


# ---------------------------------------------------------------------------
# Expected values (NumPy).


def _expect(name: str, p: int = 0):
  """(expected buffer, expected other results) for scenario `name`."""
  buf = _base()
  if name == "a_set":
    buf[I] = _row()
    return buf, []
  if name == "b_swap":
    old = buf[I].copy()
    buf[I] = _row()
    return buf, [old]
  if name == "c_rmw":
    buf[I] = buf[I] * 2 + 1
    return buf, []
  if name == "d_addupdate":
    np.add.at(buf, _idx(), _upd())
    return buf, []
  if name == "e_while":
    for k in range(LOOP):
      buf[k] = k
    return buf, []
  if name == "f_case":
    if p == 1:
      buf[I] = _row()
    return buf, []
  if name == "g_many":
    for k, r in enumerate(_many_rows()):
      buf[r] = k
    return buf, []
  raise KeyError(name)


def _args(name: str, p: int = 0) -> list:
  if name in ("a_set", "b_swap"):
    return [np.int32(I), _row()]
  if name == "c_rmw":
    return [np.int32(I)]
  if name == "d_addupdate":
    return [_idx(), _upd()]
  if name == "f_case":
    return [np.int32(p), np.int32(I), _row()]
  return []


def _run_and_check(c: xla.Compiled, name: str, buf_result: int,
                   *, p: int = 0) -> None:
  want_buf, want_rest = _expect(name, p)
  arg = jax.device_put(_base())
  outs = c.execute(arg, *_args(name, p))
  assert arg.is_deleted(), "the ref's buffer must be donated"
  np.testing.assert_array_equal(np.asarray(outs[buf_result]), want_buf)
  rest = [o for k, o in enumerate(outs) if k != buf_result]
  for got, want in zip(rest, want_rest, strict=True):
    np.testing.assert_array_equal(np.asarray(got).reshape(want.shape), want)


# ---------------------------------------------------------------------------
# Hand-written StableHLO: the forms effect elimination must emit.

T = f"tensor<{N}x{M}xf32>"
R = f"tensor<1x{M}xf32>"
V = f"tensor<{M}xf32>"


def _module(args: str, results: str, body: str, ret: str) -> str:
  return f"""module @m {{
func.func public @main({args}) -> ({results}) {{
  %z = stablehlo.constant dense<0> : tensor<i32>
{body}
  return {ret}
}}
}}"""


def _dus(dst: str, src: str, i: str, res: str) -> str:
  return (f"  {res} = stablehlo.dynamic_update_slice {dst}, {src}, {i}, %z : "
          f"({T}, {R}, tensor<i32>, tensor<i32>) -> {T}")


def _ds(src: str, i: str, res: str) -> str:
  return (f"  {res} = stablehlo.dynamic_slice {src}, {i}, %z, sizes = [1, {M}] : "
          f"({T}, tensor<i32>, tensor<i32>) -> {R}")


def _reshape_row(src: str, res: str) -> str:
  return f"  {res} = stablehlo.reshape {src} : ({V}) -> {R}"


_BUF0 = f"%buf: {T} {{tf.aliasing_output = 0 : i32}}"


def _shlo_set() -> str:
  body = _reshape_row("%row", "%r") + "\n" + _dus("%buf", "%r", "%i", "%new")
  return _module(f"{_BUF0}, %i: tensor<i32>, %row: {V}", T, body, f"%new : {T}")


def _shlo_swap() -> str:
  body = "\n".join([_ds("%buf", "%i", "%old"), _reshape_row("%row", "%r"),
                    _dus("%buf", "%r", "%i", "%new"),
                    f"  %o = stablehlo.reshape %old : ({R}) -> {V}"])
  return _module(f"%buf: {T} {{tf.aliasing_output = 1 : i32}}, %i: tensor<i32>, "
                 f"%row: {V}", f"{V}, {T}", body, f"%o, %new : {V}, {T}")


def _shlo_rmw() -> str:
  body = "\n".join([
      _ds("%buf", "%i", "%old"),
      f"  %two = stablehlo.constant dense<2.0> : {R}",
      f"  %one = stablehlo.constant dense<1.0> : {R}",
      f"  %m = stablehlo.multiply %old, %two : {R}",
      f"  %u = stablehlo.add %m, %one : {R}",
      _dus("%buf", "%u", "%i", "%new")])
  return _module(f"{_BUF0}, %i: tensor<i32>", T, body, f"%new : {T}")


def _shlo_addupdate() -> str:
  body = f"""  %ix = stablehlo.reshape %idx : (tensor<{K}xi32>) -> tensor<{K}x1xi32>
  %new = "stablehlo.scatter"(%buf, %ix, %upd) ({{
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    %s = stablehlo.add %a, %b : tensor<f32>
    stablehlo.return %s : tensor<f32>
  }}) {{scatter_dimension_numbers = #stablehlo.scatter<update_window_dims = [1],
      inserted_window_dims = [0], scatter_dims_to_operand_dims = [0],
      index_vector_dim = 1>, indices_are_sorted = false, unique_indices = false}}
    : ({T}, tensor<{K}x1xi32>, tensor<{K}x{M}xf32>) -> {T}"""
  return _module(f"{_BUF0}, %idx: tensor<{K}xi32>, %upd: tensor<{K}x{M}xf32>",
                 T, body, f"%new : {T}")


def _shlo_while() -> str:
  body = f"""  %one = stablehlo.constant dense<1> : tensor<i32>
  %n = stablehlo.constant dense<{LOOP}> : tensor<i32>
  %w:2 = stablehlo.while(%it = %z, %b = %buf) : tensor<i32>, {T}
   cond {{
    %lt = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  }} do {{
    %f = stablehlo.convert %it : (tensor<i32>) -> tensor<f32>
    %row = stablehlo.broadcast_in_dim %f, dims = [] : (tensor<f32>) -> {R}
  {_dus("%b", "%row", "%it", "%nb")}
    %it2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %it2, %nb : tensor<i32>, {T}
  }}"""
  return _module(_BUF0, T, body, f"%w#1 : {T}")


def _shlo_case(writer_last: bool = True) -> str:
  """Writes in branch 1 when `writer_last`, else (the bad form) in branch 0
  with the index flipped."""
  write = f"""{{
  {_reshape_row("%row", "%r")}
  {_dus("%buf", "%r", "%i", "%nb")}
    stablehlo.return %nb : {T}
  }}"""
  keep = f"""{{
    stablehlo.return %buf : {T}
  }}"""
  branches = f"{keep}, {write}" if writer_last else f"{write}, {keep}"
  index = "%p" if writer_last else "%q"
  body = f"""  %one = stablehlo.constant dense<1> : tensor<i32>
  %q = stablehlo.subtract %one, %p : tensor<i32>
  %res = "stablehlo.case"({index}) ({branches}) : (tensor<i32>) -> {T}"""
  return _module(f"{_BUF0}, %p: tensor<i32>, %i: tensor<i32>, %row: {V}", T, body,
                 f"%res : {T}")


def _shlo_many() -> str:
  lines, prev = [], "%buf"
  for k, r in enumerate(_many_rows()):
    lines.append(f"  %i{k} = stablehlo.constant dense<{r}> : tensor<i32>")
    lines.append(f"  %v{k} = stablehlo.constant dense<{k}.0> : {R}")
    lines.append(_dus(prev, f"%v{k}", f"%i{k}", f"%b{k}"))
    prev = f"%b{k}"
  return _module(_BUF0, T, "\n".join(lines), f"{prev} : {T}")


SHLO = {
    "a_set": (_shlo_set, 0),
    "b_swap": (_shlo_swap, 1),
    "c_rmw": (_shlo_rmw, 0),
    "d_addupdate": (_shlo_addupdate, 0),
    "e_while": (_shlo_while, 0),
    "f_case": (_shlo_case, 0),
    "g_many": (_shlo_many, 0),
}


class TestStableHLOForms:

  @pytest.mark.parametrize("name", sorted(SHLO))
  def test_in_place(self, name):
    make, buf_result = SHLO[name]
    c = xla.compile_module(make())
    _assert_in_place(c)
    _run_and_check(c, name, buf_result)
    if name == "f_case":
      _run_and_check(c, name, buf_result, p=1)

  def test_swap_needs_region_analysis(self):
    # Without refhlo's XLA options, XLA:CPU copies the whole buffer for a swap.
    c = xla.compile_module(_shlo_swap(), default_options=False)
    assert len(c.copies(REF_BYTES)) >= 1
    assert c.memory_analysis().temp_size_in_bytes >= REF_BYTES

  def test_case_writer_must_be_last_branch(self):
    # XLA removes the copy only for the last branch's result: a write in an
    # earlier branch costs a whole-buffer copy, with or without the options.
    bad = xla.compile_module(_shlo_case(writer_last=False))
    assert bad.copies(REF_BYTES), bad.hlo_text()
    _run_and_check(bad, "f_case", 0, p=1)

  @pytest.mark.parametrize("name", sorted(SHLO))
  def test_options_do_not_change_results(self, name):
    make, buf_result = SHLO[name]
    text = make()
    outs = []
    for default_options in (False, True):
      c = xla.compile_module(text, default_options=default_options)
      outs.append([np.asarray(o) for o in c.execute(_base(), *_args(name, 1))])
    for a, b in zip(*outs, strict=True):
      np.testing.assert_array_equal(a, b)


class TestJaxComparison:
  """JAX's own lowering of the swap copies (DESIGN.md); the same StableHLO
  compiled with refhlo's options does not."""

  @staticmethod
  def _lowered():
    def f(buf, i, row):
      ref = jax.new_ref(buf)
      old = ref[i]
      ref[i] = row
      return old, ref[...]
    spec = jax.ShapeDtypeStruct((N, M), jnp.float32)
    return jax.jit(f, donate_argnums=0).lower(spec, jnp.int32(0), jnp.zeros(M))

  def test_jax_swap_copies_refhlo_does_not(self):
    lowered = self._lowered()
    jax_compiled = lowered.compile()
    assert jax_compiled.memory_analysis().temp_size_in_bytes >= REF_BYTES
    assert xla.parse_copies(jax_compiled.as_text())
    c = xla.compile_module(lowered.as_text())
    _assert_in_place(c)
    _run_and_check(c, "b_swap", 1)

  def test_jax_cond_puts_the_writer_last(self):
    def f(buf, p, i, row):
      ref = jax.new_ref(buf)
      lax.cond(p == 1, lambda: ref.__setitem__(i, row), lambda: None)
      return ref[...]
    spec = jax.ShapeDtypeStruct((N, M), jnp.float32)
    lowered = jax.jit(f, donate_argnums=0).lower(
        spec, jnp.int32(0), jnp.int32(0), jnp.zeros(M))
    _assert_in_place(xla.compile_module(lowered.as_text()))


# ---------------------------------------------------------------------------
# The same scenarios as `ref` programs through the ref-to-stablehlo pipeline.

RT = f"!ref.ref<{T}>"
DYN = "-9223372036854775808"
ROW_ATTRS = (f"{{static_offsets = array<i64: {DYN}, 0>, "
             f"static_sizes = array<i64: 1, {M}>, squeezed_dims = array<i64: 0>}}")


def _ref_func(args: str, results: str, body: str, ret: str) -> str:
  return f"""func.func public @main(%buf: {RT}{args}) -> ({results}) {{
{body}
  return {ret}
}}"""


def _set(buf: str, val: str, i: str) -> str:
  return (f'  "ref.set"({buf}, {val}, {i}) {ROW_ATTRS} : '
          f"({RT}, {V}, tensor<i32>) -> ()")


REF_PROGRAMS = {
    "a_set": _ref_func(f", %i: tensor<i32>, %row: {V}", "", _set("%buf", "%row", "%i"), ""),
    "b_swap": _ref_func(
        f", %i: tensor<i32>, %row: {V}", V,
        f'  %old = "ref.swap"(%buf, %row, %i) {ROW_ATTRS} : '
        f"({RT}, {V}, tensor<i32>) -> {V}", f"%old : {V}"),
    "c_rmw": _ref_func(", %i: tensor<i32>", "", f"""\
  %old = "ref.get"(%buf, %i) {ROW_ATTRS} : ({RT}, tensor<i32>) -> {V}
  %two = stablehlo.constant dense<2.0> : {V}
  %one = stablehlo.constant dense<1.0> : {V}
  %m = stablehlo.multiply %old, %two : {V}
  %u = stablehlo.add %m, %one : {V}
{_set("%buf", "%u", "%i")}""", ""),
    "d_addupdate": _ref_func(f", %idx: tensor<{K}xi32>, %upd: tensor<{K}x{M}xf32>", "", f"""\
  %ix = stablehlo.reshape %idx : (tensor<{K}xi32>) -> tensor<{K}x1xi32>
  "ref.addupdate"(%buf, %upd, %ix) {{indexed_dims = array<i64: 0>,
      static_sizes = array<i64: 1, {M}>}}
    : ({RT}, tensor<{K}x{M}xf32>, tensor<{K}x1xi32>) -> ()""", ""),
    "e_while": _ref_func("", "", f"""\
  %z = stablehlo.constant dense<0> : tensor<i32>
  %one = stablehlo.constant dense<1> : tensor<i32>
  %n = stablehlo.constant dense<{LOOP}> : tensor<i32>
  %w = stablehlo.while(%it = %z) : tensor<i32>
   cond {{
    %lt = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  }} do {{
    %f = stablehlo.convert %it : (tensor<i32>) -> tensor<f32>
    %row = stablehlo.broadcast_in_dim %f, dims = [] : (tensor<f32>) -> {V}
  {_set("%buf", "%row", "%it")}
    %it2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %it2 : tensor<i32>
  }}""", ""),
    # The write is in branch 0 (taken when p == 1): the pipeline must emit a
    # form XLA updates in place (docs/inplace.md: writer last).
    "f_case": _ref_func(f", %p: tensor<i32>, %i: tensor<i32>, %row: {V}", "", f"""\
  %one = stablehlo.constant dense<1> : tensor<i32>
  %q = stablehlo.subtract %one, %p : tensor<i32>
  "stablehlo.case"(%q) ({{
  {_set("%buf", "%row", "%i")}
    stablehlo.return
  }}, {{
    stablehlo.return
  }}) : (tensor<i32>) -> ()""", ""),
    "g_many": _ref_func("", "", "\n".join(
        f"  %i{k} = stablehlo.constant dense<{r}> : tensor<i32>\n"
        f"  %v{k} = stablehlo.constant dense<{k}.0> : {V}\n"
        + _set("%buf", f"%v{k}", f"%i{k}")
        for k, r in enumerate(_many_rows())), ""),
}

_HAVE_PIPELINE = transforms.get_pass("ref-to-stablehlo") is not None


@pytest.mark.skipif(not _HAVE_PIPELINE,
                    reason="the ref-to-stablehlo pipeline is not registered yet")
class TestRefDialect:

  @pytest.mark.parametrize("name", sorted(REF_PROGRAMS))
  def test_in_place(self, name):
    from refhlo.compiler.pipeline import run_pipeline
    with make_context() as ctx:
      module = ir.Operation.parse(f"module {{\n{REF_PROGRAMS[name]}\n}}",
                                  source_name=f"{name}.mlir", context=ctx)
      run_pipeline(module, "ref-to-stablehlo")
      c = xla.compile_module(module)
    _assert_in_place(c)
    buf_result = 1 if name == "b_swap" else 0
    _run_and_check(c, name, buf_result)
    if name == "f_case":
      _run_and_check(c, name, buf_result, p=1)
