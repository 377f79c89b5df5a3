"""The in-place contract (DESIGN.md): a ref write reaches XLA as an in-place
update of the donated buffer: no ref-sized copy in the optimized HLO and
`temp_size_in_bytes` far below the ref's size.

Seven scenarios on a 64 MiB ref (`tensor<16384x1024xf32>`): (a) row write,
(b) swap, (c) read-modify-write, (d) addupdate with an index array, (e) a write
per iteration of a while loop, (f) a write in one branch of a case, (g) 100
straight-line writes; plus (h, i) a 3-way case with several writing branches
(`TestRefDialect`, and the forms measured by `TestMultiWriterCase`).
`TestStableHLOForms` holds them as hand-written
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

from refhlo.compiler import xla
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
  e = p if 0 <= p < 3 else 2  # a case runs its last branch when out of range
  if name == "h_case_hoisted":
    if e == 0:
      buf[I] = _row()
      return buf, [_row()]
    if e == 1:
      old = buf[5].copy()
      buf[5] = 2 * _row()
      return buf, [old]
    return buf, [buf[I].copy()]
  if name == "i_case_loops":
    if e == 0:
      buf[I] = _row()
      buf[I + 1] = _row()
      return buf, [_row()]
    if e == 1:
      buf[7] += _row()
      return buf, [buf[7].copy()]
    return buf, [buf[I].copy()]
  raise KeyError(name)


def _args(name: str, p: int = 0) -> list:
  if name in ("a_set", "b_swap"):
    return [np.int32(I), _row()]
  if name == "c_rmw":
    return [np.int32(I)]
  if name == "d_addupdate":
    return [_idx(), _upd()]
  if name in ("f_case", "h_case_hoisted", "i_case_loops"):
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


# Several writing branches (rule 3): a 3-way case whose branch 0 swaps row
# `I`, branch 1 writes row 10 and branch 2 writes nothing; result: the old row
# (zeros unless branch 0 runs). `nested`: inside a 4-trip while loop (for which
# `compile_module` turns region analysis off), the results summed.
MW_ROWS = (I, 10)
MW_TRIPS = 4


def _mw_writer(k: int, cur: str) -> tuple[list[str], str, str]:
  """The ops of writing branch k on buffer `cur`: (lines, new buffer, result)."""
  lines = [f"%i{k}_{cur[1:]} = stablehlo.constant dense<{MW_ROWS[k]}> : tensor<i32>"]
  res = "%zr"
  if k == 0:
    lines.append(_ds(cur, f"%i0_{cur[1:]}", "%old").strip())
    res = "%old"
  lines.append(_dus(cur, f"%row{k}", f"%i{k}_{cur[1:]}", f"%nb{k}").strip())
  return lines, f"%nb{k}", res


def _mw_case(cur: str) -> tuple[str, str, str]:
  """Branches return the buffer: XLA copies it."""
  branches = []
  for k in range(2):
    lines, nb, res = _mw_writer(k, cur)
    branches.append("{\n" + "\n".join(lines) +
                    f"\nstablehlo.return {nb}, {res} : {T}, {R}\n}}")
  branches.append(f"{{\nstablehlo.return {cur}, %zr : {T}, {R}\n}}")
  return (f'%c:2 = "stablehlo.case"(%p) ({", ".join(branches)}) : (tensor<i32>) -> ({T}, {R})',
          "%c#0", "%c#1")


def _mw_hoisted(cur: str) -> tuple[str, str, str]:
  """Branches return (offset, row, result); one update after the case."""
  b0 = (f"{{\n%i0 = stablehlo.constant dense<{MW_ROWS[0]}> : tensor<i32>\n"
        + _ds(cur, "%i0", "%old").strip()
        + f"\nstablehlo.return %i0, %row0, %old : tensor<i32>, {R}, {R}\n}}")
  b1 = (f"{{\n%i1 = stablehlo.constant dense<{MW_ROWS[1]}> : tensor<i32>\n"
        f"stablehlo.return %i1, %row1, %zr : tensor<i32>, {R}, {R}\n}}")
  b2 = ("{\n" + _ds(cur, "%z", "%keep").strip()
        + f"\nstablehlo.return %z, %keep, %zr : tensor<i32>, {R}, {R}\n}}")
  return (f'%h:3 = "stablehlo.case"(%p) ({b0}, {b1}, {b2}) : (tensor<i32>) -> '
          f"(tensor<i32>, {R}, {R})\n" + _dus(cur, "%h#1", "%h#0", "%hb").strip(),
          "%hb", "%h#2")


def _mw_loops(cur: str) -> tuple[str, str, str]:
  """One while loop per writing branch, running 0 or 1 times."""
  lines, b, r = [], cur, "%zr"
  for k in range(2):
    body, nb, res = _mw_writer(k, "%wb")
    lines.append(f"""%k{k} = stablehlo.constant dense<{k}> : tensor<i32>
%e{k} = stablehlo.compare EQ, %p, %k{k} : (tensor<i32>, tensor<i32>) -> tensor<i1>
%w{k}:3 = stablehlo.while(%fl = %e{k}, %wb = {b}, %wr = {r}) : tensor<i1>, {T}, {R}
 cond {{
  stablehlo.return %fl : tensor<i1>
}} do {{
{chr(10).join(body)}
  stablehlo.return %false, {nb}, {res} : tensor<i1>, {T}, {R}
}}""")
    b, r = f"%w{k}#1", f"%w{k}#2"
  return "\n".join(lines), b, r


MW_FORMS = {"case": _mw_case, "hoisted": _mw_hoisted, "loops": _mw_loops}


def _shlo_multi_writer(form: str, nested: bool) -> str:
  if not nested:
    body, b, r = MW_FORMS[form]("%buf")
  else:
    inner, ib, ir_ = MW_FORMS[form]("%ob")
    body = f"""%nt = stablehlo.constant dense<{MW_TRIPS}> : tensor<i32>
%one = stablehlo.constant dense<1> : tensor<i32>
%ow:3 = stablehlo.while(%it = %z, %ob = %buf, %acc = %zr) : tensor<i32>, {T}, {R}
 cond {{
  %lt = stablehlo.compare LT, %it, %nt : (tensor<i32>, tensor<i32>) -> tensor<i1>
  stablehlo.return %lt : tensor<i1>
}} do {{
{inner}
  %sum = stablehlo.add %acc, {ir_} : {R}
  %it2 = stablehlo.add %it, %one : tensor<i32>
  stablehlo.return %it2, {ib}, %sum : tensor<i32>, {T}, {R}
}}"""
    b, r = "%ow#1", "%ow#2"
  body = (f"  %zr = stablehlo.constant dense<0.0> : {R}\n"
          f"  %false = stablehlo.constant dense<false> : tensor<i1>\n{body}")
  return _module(f"{_BUF0}, %p: tensor<i32>, %row0: {R}, %row1: {R}", f"{T}, {R}",
                 body, f"{b}, {r} : {T}, {R}")


def _mw_expect(p: int, nested: bool) -> tuple[np.ndarray, np.ndarray]:
  buf, acc = _base(), np.zeros((1, M), np.float32)
  for _ in range(MW_TRIPS if nested else 1):
    if p in (0, 1):
      if p == 0:
        acc = acc + buf[MW_ROWS[0]]
      buf[MW_ROWS[p]] = 7.0 + p
  return buf, acc


class TestMultiWriterCase:
  """The measurements behind rule 3 with two writing branches (one a swap)."""

  @pytest.mark.parametrize("form,nested,in_place", [
      ("case", False, False), ("case", True, False),
      ("hoisted", False, True), ("hoisted", True, True),
      # The loop form turns region analysis off (a loop), so the swapping
      # branch is copied; without a swap it is in place (TestRefDialect).
      ("loops", False, False), ("loops", True, False)])
  def test_form(self, form, nested, in_place):
    c = xla.compile_module(_shlo_multi_writer(form, nested))
    if in_place:
      _assert_in_place(c)
    else:
      assert c.copies(REF_BYTES), c.hlo_text()
    for p in (0, 1, 2, 5):
      outs = c.execute(_base(), np.int32(p),
                       *[np.full((1, M), 7.0 + k, np.float32) for k in range(2)])
      want_buf, want_res = _mw_expect(p, nested)
      np.testing.assert_array_equal(np.asarray(outs[0]), want_buf)
      np.testing.assert_array_equal(np.asarray(outs[1]), want_res)


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


def _get(buf: str, i: str, res: str) -> str:
  return f'  {res} = "ref.get"({buf}, {i}) {ROW_ATTRS} : ({RT}, tensor<i32>) -> {V}'


# A 3-way case with writes in several branches (docs/inplace.md, rule 3).
# Hoisted: each writer writes one row (one a swap), so the branches return the
# row and its offset and one dynamic_update_slice follows the case.
REF_PROGRAMS["h_case_hoisted"] = _ref_func(
    f", %p: tensor<i32>, %i: tensor<i32>, %row: {V}", V, f"""\
  %five = stablehlo.constant dense<5> : tensor<i32>
  %res = "stablehlo.case"(%p) ({{
  {_set("%buf", "%row", "%i")}
    stablehlo.return %row : {V}
  }}, {{
    %two = stablehlo.add %row, %row : {V}
    %old = "ref.swap"(%buf, %two, %five) {ROW_ATTRS} : ({RT}, {V}, tensor<i32>) -> {V}
    stablehlo.return %old : {V}
  }}, {{
  {_get("%buf", "%i", "%g")}
    stablehlo.return %g : {V}
  }}) : (tensor<i32>) -> {V}""", f"%res : {V}")
# Loops: branch 0 writes two rows, so it cannot be hoisted; the writers become
# while loops running 0 or 1 times.
REF_PROGRAMS["i_case_loops"] = _ref_func(
    f", %p: tensor<i32>, %i: tensor<i32>, %row: {V}", V, f"""\
  %one = stablehlo.constant dense<1> : tensor<i32>
  %seven = stablehlo.constant dense<7> : tensor<i32>
  %res = "stablehlo.case"(%p) ({{
  {_set("%buf", "%row", "%i")}
    %j = stablehlo.add %i, %one : tensor<i32>
  {_set("%buf", "%row", "%j")}
    stablehlo.return %row : {V}
  }}, {{
    "ref.addupdate"(%buf, %row, %seven) {ROW_ATTRS} : ({RT}, {V}, tensor<i32>) -> ()
  {_get("%buf", "%seven", "%g")}
    stablehlo.return %g : {V}
  }}, {{
  {_get("%buf", "%i", "%g")}
    stablehlo.return %g : {V}
  }}) : (tensor<i32>) -> {V}""", f"%res : {V}")

_CASES = ("f_case", "h_case_hoisted", "i_case_loops")

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
    buf_result = 1 if name in ("b_swap", "h_case_hoisted", "i_case_loops") else 0
    for p in ((0, 1, 2, 5) if name in _CASES else (0,)):
      _run_and_check(c, name, buf_result, p=p)
