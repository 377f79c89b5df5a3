"""The `ref-opt` driver: command line, diagnostics, robustness, start-up.

Most tests run ref-opt as a subprocess, the way lit does, and check its exit
status, stdout and stderr: errors must be MLIR-format lines on stderr, never a
Python traceback. Passes that misbehave are defined here (not registered in
the project) and injected into the registry of a child process.
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENTRY = ROOT / "tools" / "ref-opt"

# `file:line:col: error: ...` or, for errors without a location, `ref-opt: error: ...`.
ERROR_LINE = re.compile(r"^(\S.*?:\d+:\d+|ref-opt): error: ", re.M)

FUNCS = """\
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = stablehlo.add %x, %x : tensor<4xf32>
  %1 = stablehlo.add %x, %x : tensor<4xf32>
  %2 = stablehlo.multiply %0, %1 : tensor<4xf32>
  return %2 : tensor<4xf32>
}
"""

REF_FUNC = """\
func.func @main(%buf: !ref.ref<tensor<8x4xf32>>, %i: tensor<i32>, %row: tensor<4xf32>) -> tensor<4xf32> {
  %old = "ref.swap"(%buf, %row, %i) {static_offsets = array<i64: -9223372036854775808, 0>,
          static_sizes = array<i64: 1, 4>, squeezed_dims = array<i64: 0>}
        : (!ref.ref<tensor<8x4xf32>>, tensor<4xf32>, tensor<i32>) -> tensor<4xf32>
  return %old : tensor<4xf32>
}
"""

# Throwaway passes for the child process of `run_with_pass`.
_PASSES = '''
import dataclasses, sys
from refhlo.compiler import diagnostics, transforms
from refhlo.compiler.passes import Pass, PassError
from refhlo.compiler.tools import ref_opt

@dataclasses.dataclass
class Boom(Pass):
  NAME = "ref-test-boom"
  SUMMARY = "Raises an unexpected Python exception"
  def run(self, module):
    raise RuntimeError("kaboom")

@dataclasses.dataclass
class Typed(Pass):
  NAME = "ref-test-typed"
  SUMMARY = "Has typed options; reports them as remarks"
  count: int = 1
  loud: bool = False
  def run(self, module):
    for op in module.regions[0].blocks[0].operations:
      diagnostics.emit_remark(op, f"count={self.count} loud={self.loud}")
      if self.loud:
        diagnostics.emit_warning(op, "loud warning")

@dataclasses.dataclass
class Fail(Pass):
  NAME = "ref-test-fail"
  SUMMARY = "Fails at every function"
  def run(self, module):
    for op in module.regions[0].blocks[0].operations:
      raise PassError(op, "test failure at " + str(op.attributes["sym_name"]))

@dataclasses.dataclass
class Interrupt(Pass):
  NAME = "ref-test-interrupt"
  SUMMARY = "Raises KeyboardInterrupt"
  def run(self, module):
    raise KeyboardInterrupt

for p in (Boom, Typed, Fail, Interrupt):
  transforms._PASS_MODULES[p.NAME] = "<test>"
  transforms._CACHE[p.NAME] = p
'''


def ref_opt(*args: str, input: str | bytes | None = None,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
  """Runs the installed-layout driver (module entry point) as lit would."""
  data = input.encode() if isinstance(input, str) else input
  return subprocess.run([sys.executable, "-m", "refhlo.compiler.tools.ref_opt", *args],
                        input=data, capture_output=True, cwd=cwd, timeout=60)


def run_with_pass(*args: str, input: str = "", extra: str = "") -> subprocess.CompletedProcess:
  """ref-opt in a child process whose registry also has the throwaway passes."""
  code = _PASSES + extra + f"\nsys.exit(ref_opt.main({list(args)!r}))\n"
  return subprocess.run([sys.executable, "-c", code], input=input.encode(),
                        capture_output=True, timeout=60)


def out(p) -> str:
  return p.stdout.decode()


def err(p) -> str:
  return p.stderr.decode()


def assert_clean_failure(p, pattern: str | None = None) -> str:
  """Exit 1, an MLIR-format error line, no traceback; returns stderr."""
  e = err(p)
  assert p.returncode == 1, (p.returncode, e)
  assert ERROR_LINE.search(e), e
  assert "Traceback" not in e, e
  if pattern is not None:
    assert re.search(pattern, e), e
  return e


@pytest.fixture
def funcs(tmp_path) -> pathlib.Path:
  f = tmp_path / "funcs.mlir"
  f.write_text(FUNCS)
  return f


# -- basics ---------------------------------------------------------------------


def test_help_lists_options():
  p = ref_opt("--help")
  assert p.returncode == 0
  for flag in ("-o <file>", "--pass-pipeline", "--split-input-file",
               "--verify-diagnostics", "--mlir-print-ir-after-all", "--mlir-timing",
               "--list-passes"):
    assert flag in out(p), flag


def test_version():
  p = ref_opt("--version")
  assert p.returncode == 0
  assert re.match(r"ref-opt \(refhlo \d+\.\d+", out(p))


def test_list_passes_has_every_registered_pass():
  from refhlo.compiler import transforms
  p = ref_opt("--list-passes")
  assert p.returncode == 0
  text = out(p)
  for name, entry in transforms.get_all_passes().items():
    assert f"--{name}" in text and entry.SUMMARY in text, name
  assert "Upstream MLIR passes" in text


def test_roundtrip_wraps_top_level_funcs_in_a_module(funcs):
  p = ref_opt(str(funcs))
  assert p.returncode == 0, err(p)
  assert out(p).startswith("module {\n  func.func @f(")
  assert out(p).endswith("}\n")
  again = ref_opt(input=out(p))
  assert out(again) == out(p)


def test_single_module_is_not_wrapped_twice():
  p = ref_opt(input="module @named {\n" + FUNCS + "}\n")
  assert p.returncode == 0, err(p)
  assert out(p).count("module") == 1 and out(p).startswith("module @named {")


def test_ref_ops_roundtrip():
  p = ref_opt("--ref-verify", input=REF_FUNC)
  assert p.returncode == 0, err(p)
  assert "ref.swap %arg0[%arg1, 0] sizes [1, 4] squeezed [0], %arg2 :" in out(p)
  assert out(ref_opt(input=out(p))) == out(p)
  generic = ref_opt("--ref-verify", "--mlir-print-op-generic", input=REF_FUNC)
  assert '"ref.swap"(%arg0, %arg2, %arg1)' in out(generic)
  assert out(ref_opt(input=out(generic))) == out(p)


def test_pass_flags_run_in_order(funcs):
  p = ref_opt(str(funcs), "--cse")
  assert out(p).count("stablehlo.add") == 1
  p = ref_opt(str(funcs), "--pass-pipeline=builtin.module(func.func(cse))")
  assert out(p).count("stablehlo.add") == 1
  p = ref_opt(str(funcs))
  assert out(p).count("stablehlo.add") == 2


@pytest.mark.parametrize("spelling", [
    "--canonicalize=max-iterations=3 top-down=false",
    "--canonicalize{max-iterations=3 top-down=false}",
    "-canonicalize=max-iterations=3",
])
def test_pass_flag_option_spellings(funcs, spelling):
  p = ref_opt(str(funcs), spelling)
  assert p.returncode == 0, err(p)
  assert "func.func @f" in out(p)


def test_upstream_pass_flags(tmp_path):
  f = tmp_path / "dce.mlir"
  f.write_text("func.func private @dead() { return }\nfunc.func @live() { return }\n")
  p = ref_opt(str(f), "--symbol-dce", "--inline", "--canonicalize", "--cse")
  assert p.returncode == 0, err(p)
  assert "@dead" not in out(p) and "@live" in out(p)


def test_output_file(funcs, tmp_path):
  target = tmp_path / "out.mlir"
  p = ref_opt(str(funcs), "--cse", "-o", str(target))
  assert p.returncode == 0, err(p)
  assert out(p) == ""
  assert target.read_text().count("stablehlo.add") == 1
  p = ref_opt(str(funcs), f"-o={target}")
  assert p.returncode == 0 and target.read_text().count("stablehlo.add") == 2


def test_stdin_input_and_name():
  p = ref_opt("-", input=FUNCS)
  assert p.returncode == 0 and "func.func @f" in out(p)
  p = ref_opt(input="func.func @f() {\n  %0 = stablehlo.constant\n}\n")
  assert_clean_failure(p, r"^<stdin>:2:\d+: error: ")


def test_empty_file_prints_an_empty_module(tmp_path):
  f = tmp_path / "empty.mlir"
  f.write_text("")
  p = ref_opt(str(f))
  assert p.returncode == 0, err(p)
  assert out(p) == "module {\n}\n"
  p = ref_opt(input="// only a comment\n")
  assert p.returncode == 0 and out(p) == "module {\n}\n"


def test_print_op_generic_and_debuginfo(funcs):
  p = ref_opt(str(funcs), "--mlir-print-op-generic")
  assert '"func.func"()' in out(p) and '"stablehlo.add"' in out(p)
  p = ref_opt(str(funcs), "--mlir-print-debuginfo")
  assert f'loc("{funcs}":2:8)' in out(p)


def test_locations_on_line_one_are_exact(tmp_path):
  # Line 1 carries the implicit `module {` prefix: columns must not shift.
  f = tmp_path / "one.mlir"
  f.write_text("func.func @f() -> tensor<f32> { return }\nfunc.func @g() { return }\n")
  e = assert_clean_failure(ref_opt(str(f)))
  assert f"{f}:1:33: error: 'func.return' op has 0 operands" in e
  assert e.splitlines()[2] == " " * 32 + "^"


# -- split-input-file -----------------------------------------------------------


SPLIT = """\
func.func @a(%x: tensor<f32>) -> tensor<f32> {
  %0 = stablehlo.add %x, %x : tensor<f32>
  %1 = stablehlo.add %x, %x : tensor<f32>
  %2 = stablehlo.add %0, %1 : tensor<f32>
  return %2 : tensor<f32>
}
// -----
func.func @bad() -> tensor<f32> {
  return
}
// -----
func.func @c() {
  return
}
"""


def test_split_input_file_joins_outputs(tmp_path):
  f = tmp_path / "split.mlir"
  f.write_text(SPLIT.replace("func.func @bad() -> tensor<f32> {", "func.func @bad() {"))
  p = ref_opt(str(f), "--split-input-file", "--cse")
  assert p.returncode == 0, err(p)
  chunks = out(p).split("// -----\n")
  assert len(chunks) == 3
  assert all(c.startswith("module {") for c in chunks)
  assert chunks[0].count("stablehlo.add") == 2
  assert "@bad" in chunks[1] and "@c" in chunks[2]


def test_split_input_file_error_in_one_chunk(tmp_path):
  f = tmp_path / "split.mlir"
  f.write_text(SPLIT)
  p = ref_opt(str(f), "--split-input-file")
  e = assert_clean_failure(p)
  # Absolute line numbers: `return` of @bad is line 9 of the file.
  assert f"{f}:9:3: error: 'func.return' op has 0 operands" in e
  assert "  return\n  ^" in e
  chunks = out(p).split("// -----\n")
  assert len(chunks) == 3 and "@a" in chunks[0] and chunks[1] == "" and "@c" in chunks[2]


def test_without_split_the_marker_is_a_comment(tmp_path):
  f = tmp_path / "nosplit.mlir"
  f.write_text("func.func @a() { return }\n// -----\nfunc.func @b() { return }\n")
  p = ref_opt(str(f))
  assert p.returncode == 0 and "@a" in out(p) and "@b" in out(p)
  assert "// -----" not in out(p)


# -- verification after parsing ---------------------------------------------------

BAD_WINDOW = """\
func.func @f(%r: !ref.ref<tensor<8xf32>>) -> tensor<4xf32> {
  %v = "ref.get"(%r) {static_offsets = array<i64: 6>, static_sizes = array<i64: 4>} : (!ref.ref<tensor<8xf32>>) -> tensor<4xf32>
  return %v : tensor<4xf32>
}
"""

TYPO = (BAD_WINDOW.replace("@f(", "@g(").replace("static_offsets", "static_offset")
        .replace("i64: 6>", "i64: 2>"))


def test_no_pass_flags_still_verifies_the_ref_dialect():
  p = ref_opt(input=BAD_WINDOW)
  e = assert_clean_failure(p, r"(?m)^<stdin>:2:8: error: 'ref.get' op window \[6, 10\) in dim 0 "
                              r"is out of bounds for the ref's size 8$")
  assert out(p) == "" and e.count("error:") == 1, e


def test_unknown_attribute_is_an_error_with_a_hint():
  p = ref_opt(input=TYPO)
  assert_clean_failure(p, r"(?m)^<stdin>:2:8: error: 'ref.get' op has unknown attribute "
                          r"'static_offset'; did you mean 'static_offsets'\?$")
  # Before any pass, also with a pipeline: the pass never sees the op.
  assert_clean_failure(ref_opt("--ref-to-stablehlo", input=TYPO), "did you mean 'static_offsets'")


def test_verification_of_each_chunk(tmp_path):
  f = tmp_path / "chunks.mlir"
  text = FUNCS + "// -----\n" + BAD_WINDOW + "// -----\n" + TYPO + "// -----\n" + REF_FUNC
  f.write_text(text)
  p = ref_opt(str(f), "--split-input-file")
  e = assert_clean_failure(p)
  gets = [i + 1 for i, line in enumerate(text.splitlines()) if '"ref.get"' in line]
  assert f"chunks.mlir:{gets[0]}:8: error: 'ref.get' op window" in e, e
  assert f"chunks.mlir:{gets[1]}:8: error: 'ref.get' op has unknown" in e, e
  assert e.count("error:") == 2, e
  chunks = out(p).split("// -----\n")
  assert len(chunks) == 4 and "@f" in chunks[0] and "ref.swap" in chunks[3], out(p)
  assert chunks[1] == chunks[2] == ""


def test_verification_with_verify_diagnostics(tmp_path):
  f = tmp_path / "expected.mlir"
  f.write_text(BAD_WINDOW.replace("  %v =", "  // expected-error@+1 {{out of bounds}}\n  %v =")
               + "// -----\n"
               + TYPO.replace("  %v =", "  // expected-error@+1 {{did you mean 'static_offsets'?}}\n  %v =")
               + "// -----\n" + REF_FUNC)
  p = ref_opt(str(f), "--split-input-file", "--verify-diagnostics")
  assert p.returncode == 0, err(p)
  p = ref_opt(str(f), "--verify-diagnostics")  # one chunk: both errors expected
  assert p.returncode == 0, err(p)


def test_disable_verifier_on_parsing():
  p = ref_opt("--mlir-very-unsafe-disable-verifier-on-parsing", input=BAD_WINDOW)
  assert p.returncode == 0, err(p)
  assert "ref.get %arg0[6] sizes [4] :" in out(p)
  # The pass itself still checks the rules; MLIR's verifier always runs.
  assert_clean_failure(ref_opt("--mlir-very-unsafe-disable-verifier-on-parsing", "--ref-verify",
                               input=BAD_WINDOW), "out of bounds")
  assert_clean_failure(ref_opt("--mlir-very-unsafe-disable-verifier-on-parsing",
                               input="func.func @f() -> tensor<f32> {\n  return\n}\n"),
                       r"<stdin>:2:3: error: 'func.return' op has 0 operands")


def test_verify_each_flag(funcs):
  for flag in ("--verify-each", "--verify-each=true", "--verify-each=false", "--verify-each=0"):
    p = ref_opt(str(funcs), "--cse", flag)
    assert p.returncode == 0, (flag, err(p))
    assert out(p).count("stablehlo.add") == 1
  assert_clean_failure(ref_opt(str(funcs), "--verify-each=sometimes"), "takes no value")


def test_help_documents_verification():
  text = out(ref_opt("--help"))
  assert "--verify-each" in text and "--mlir-very-unsafe-disable-verifier-on-parsing" in text
  assert "verified before any pass runs" in text


# -- verify-diagnostics ---------------------------------------------------------


VERIFY_OK = """\
func.func @same() -> tensor<f32> {
  return // expected-error {{'func.return' op has 0 operands}}
}
// -----
func.func @plus() -> tensor<f32> {
  // expected-error@+1 {{has 0 operands}}
  return
}
// -----
func.func @minus() -> tensor<f32> {
  return
  // expected-error@-1 {{has 0 operands}}
}
// -----
func.func @below() -> tensor<f32> {
  // expected-error@below {{has 0 operands}}
  return
}
// -----
func.func @above() -> tensor<f32> {
  return
  // expected-error@above {{has 0 operands}}
}
// -----
func.func @re() -> tensor<f32> {
  // expected-error-re@+1 {{has {{[0-9]}} operands, but enclosing function (@{{r.}})}}
  return
}
// -----
func.func @parse_error() {
  // expected-error@+1 {{expected SSA operand}}
  %0 = stablehlo.add , : tensor<f32>
}
// -----
func.func @fine() {
  return
}
"""


def test_verify_diagnostics_success():
  p = ref_opt("--split-input-file", "--verify-diagnostics", input=VERIFY_OK)
  assert p.returncode == 0, err(p)
  assert err(p) == ""
  assert "@fine" in out(p)


def test_verify_diagnostics_with_a_pass():
  text = REF_FUNC + textwrap.dedent("""\
      // -----
      func.func @bad(%buf: !ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32> {
        %v = "ref.freeze"(%buf) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
        // expected-error@+1 {{ref.freeze}}
        %w = "ref.get"(%buf) : (!ref.ref<tensor<8x4xf32>>) -> tensor<8x4xf32>
        return %w : tensor<8x4xf32>
      }
      """)
  p = ref_opt("--ref-verify", "--split-input-file", "--verify-diagnostics", input=text)
  assert p.returncode == 0, err(p)
  p = ref_opt("--ref-verify", "--split-input-file", input=text)
  assert_clean_failure(p, r"<stdin>:11:\d+: error: .*ref.freeze")


def test_verify_diagnostics_unexpected_error():
  p = ref_opt("--verify-diagnostics", input="func.func @f() -> tensor<f32> {\n  return\n}\n")
  assert_clean_failure(p, r"(?m)^<stdin>:2:3: error: unexpected error: 'func.return' op has 0")


def test_verify_diagnostics_not_produced():
  p = ref_opt("--verify-diagnostics",
              input="func.func @f() {\n  // expected-error@+1 {{never}}\n  return\n}\n")
  e = assert_clean_failure(p, r'(?m)^<stdin>:2:6: error: expected error "never" was not produced$')
  assert "  // expected-error@+1 {{never}}\n     ^" in e


def test_verify_diagnostics_wrong_line():
  p = ref_opt("--verify-diagnostics",
              input="func.func @f() -> tensor<f32> {\n  // expected-error@+2 {{has 0 operands}}\n"
                    "  return\n}\n")
  e = assert_clean_failure(p)
  assert "<stdin>:3:3: error: unexpected error:" in e
  assert '<stdin>:2:6: error: expected error "has 0 operands" was not produced' in e


def test_verify_diagnostics_wrong_kind_and_text():
  p = ref_opt("--verify-diagnostics",
              input="func.func @f() -> tensor<f32> {\n  return // expected-warning {{has 0}}\n}\n")
  e = assert_clean_failure(p)
  assert "unexpected error: 'func.return'" in e and 'expected warning "has 0"' in e
  p = ref_opt("--verify-diagnostics",
              input="func.func @f() -> tensor<f32> {\n  return // expected-error {{has 7}}\n}\n")
  assert_clean_failure(p, 'expected error "has 7" was not produced')


def test_verify_diagnostics_regex_is_not_plain():
  # Without -re, `{{...}}` inside is literal text.
  p = ref_opt("--verify-diagnostics",
              input="func.func @f() -> tensor<f32> {\n"
                    "  return // expected-error {{has {{[0-9]}} operands}}\n}\n")
  assert_clean_failure(p, "was not produced")


def test_verify_diagnostics_malformed_designators():
  p = ref_opt("--verify-diagnostics", input="func.func @f() {\n  // expected-error@above {{x}}\n"
              "  return\n}\n// expected-error@below {{y}}\n")
  e = assert_clean_failure(p)
  assert "<stdin>:5:4: error: no line below this designator" in e
  p = ref_opt("--verify-diagnostics", input="// expected-error-re {{a{{[}}b}}\n")
  assert_clean_failure(p, r"<stdin>:1:4: error: invalid regex")
  p = ref_opt("--verify-diagnostics", input="// expected-error@+1 missing body\nfunc.func @f() { return }\n")
  assert_clean_failure(p, r"<stdin>:1:4: error: expected directive is missing")


def test_verify_diagnostics_counts_each_chunk():
  text = "func.func @f() -> tensor<f32> {\n  return // expected-error {{0 operands}}\n}\n" \
         "// -----\nfunc.func @g() -> tensor<f32> {\n  return\n}\n"
  p = ref_opt("--split-input-file", "--verify-diagnostics", input=text)
  e = assert_clean_failure(p)
  assert "<stdin>:6:3: error: unexpected error" in e and "<stdin>:2:" not in e


def test_warnings_and_remarks_from_python_passes():
  text = "func.func @f() { return }\n"
  p = run_with_pass("--ref-test-typed=count=3 loud=true", input=text)
  assert p.returncode == 0, err(p)
  assert "<stdin>:1:1: remark: count=3 loud=True" in err(p)
  assert "<stdin>:1:1: warning: loud warning" in err(p)
  ok = ("// expected-remark@+2 {{count=3 loud=True}}\n// expected-warning@+1 {{loud}}\n" + text)
  p = run_with_pass("--ref-test-typed{count=3 loud=true}", "--verify-diagnostics", input=ok)
  assert p.returncode == 0, err(p)
  p = run_with_pass("--ref-test-typed", "--verify-diagnostics", input=text)
  assert_clean_failure(p, r"<stdin>:1:1: error: unexpected remark: count=1 loud=False")


# -- print-ir and timing --------------------------------------------------------


def test_print_ir_after_all(funcs):
  p = ref_opt(str(funcs), "--cse", "--ref-verify", "--mlir-print-ir-after-all")
  assert p.returncode == 0
  e = err(p)
  assert "// -----// IR Dump After CSEPass (cse) //----- //\nmodule {" in e
  assert re.search(r"// -----// IR Dump After \w+ \(ref-verify\) //----- //\nmodule \{", e)
  assert e.index("(cse)") < e.index("(ref-verify)")
  assert "Before" not in e
  # The dump after cse already has one add.
  after_cse = e.split("//----- //")[1]
  assert after_cse.count("stablehlo.add") == 1


def test_print_ir_before_all(funcs):
  p = ref_opt(str(funcs), "--cse", "--canonicalize", "--mlir-print-ir-before-all")
  e = err(p)
  assert e.count("IR Dump Before") == 2 and "IR Dump After" not in e
  assert "IR Dump Before CSEPass (cse)" in e and "IR Dump Before CanonicalizerPass (canonicalize)" in e
  assert e.split("//----- //")[1].count("stablehlo.add") == 2


def test_print_ir_before_and_after_named_pass(funcs):
  p = ref_opt(str(funcs), "--cse", "--canonicalize", "--symbol-dce",
              "--mlir-print-ir-before=canonicalize", "--mlir-print-ir-after=cse,symbol-dce")
  e = err(p)
  headers = re.findall(r"// -----// IR Dump (\w+ \w+) \(([\w-]+)\) //----- //", e)
  assert headers == [("After CSEPass", "cse"), ("Before CanonicalizerPass", "canonicalize"),
                     ("After SymbolDCEPass", "symbol-dce")]


def test_print_ir_registered_pipeline_steps():
  p = ref_opt("--ref-to-stablehlo", "--mlir-print-ir-after-all", input=REF_FUNC)
  assert p.returncode == 0, err(p)
  e = err(p)
  assert re.search(r"IR Dump After \w+ \(ref-verify\)", e)
  assert e.count("IR Dump After") >= 3
  p = ref_opt("--ref-to-stablehlo", "--mlir-print-ir-after=ref-verify", input=REF_FUNC)
  assert err(p).count("IR Dump After") == 1


def test_print_ir_unknown_pass_name(funcs):
  p = ref_opt(str(funcs), "--cse", "--mlir-print-ir-after=no-such-pass")
  assert_clean_failure(p, "no-such-pass")


def test_print_ir_with_debuginfo(funcs):
  p = ref_opt(str(funcs), "--cse", "--mlir-print-ir-after-all", "--mlir-print-debuginfo")
  assert f'loc("{funcs}":' in err(p)


def test_timing(funcs):
  p = ref_opt(str(funcs), "--cse", "--canonicalize", "--mlir-timing")
  assert p.returncode == 0
  e = err(p)
  assert "Execution time report" in e and "CSEPass" in e and "CanonicalizerPass" in e
  assert "Execution time report" not in err(ref_opt(str(funcs), "--cse"))


# -- robustness: clean errors, never a traceback ---------------------------------


def test_malformed_text():
  assert_clean_failure(ref_opt(input="func.func @f( {\n"), r"^<stdin>:1:\d+: error: ")


@pytest.mark.parametrize("data,where", [
    (b"func.func @f() {\n  return \xff\xfe\n}\n", "<stdin>:2:10: error: input is not valid UTF-8"),
    (b"\x00\x01\x02garbage", "<stdin>:1:1: error: input contains a NUL"),
    (bytes(range(256)) * 4, "<stdin>:2:118: error: input is not valid UTF-8"),
    (b"\x89PNG\r\n\x1a\n", "<stdin>:1:1: error: input is not valid UTF-8"),
])
def test_binary_garbage(data, where):
  e = assert_clean_failure(ref_opt(input=data))
  assert where in e, e


def test_unknown_pass_flag(funcs):
  assert_clean_failure(ref_opt(str(funcs), "--no-such-pass"),
                       r"ref-opt: error: unknown command line option or pass '--no-such-pass'")
  assert_clean_failure(ref_opt(str(funcs), "--pass-pipeline=builtin.module(nope)"),
                       "'nope' does not refer to a registered pass")


def test_misspelled_flags_get_a_hint(funcs):
  e = assert_clean_failure(ref_opt(str(funcs), "--ref-verfy"),
                           r"unknown command line option or pass '--ref-verfy'; "
                           r"did you mean '--ref-verify'\?")
  assert "Traceback" not in e
  # An unknown --mlir-* flag is an unknown flag, never taken for a pass name.
  assert_clean_failure(ref_opt(str(funcs), "--mlir-print-ir-after-alll"),
                       r"unknown command line option '--mlir-print-ir-after-alll'; "
                       r"did you mean '--mlir-print-ir-after-all'\?")
  e = assert_clean_failure(ref_opt(str(funcs), "--mlir-zzz"),
                           r"unknown command line option '--mlir-zzz' \(see --help")
  assert "did you mean" not in e


def test_unknown_pass_option(funcs):
  assert_clean_failure(ref_opt(str(funcs), "--ref-verify{nope=1}"),
                       "pass 'ref-verify' has no option 'nope'")
  assert_clean_failure(ref_opt(str(funcs), "--canonicalize=no-such-option=1"),
                       "no such option no-such-option")


def test_bad_option_value(funcs):
  assert_clean_failure(ref_opt(str(funcs), "--canonicalize=max-iterations=many"),
                       "'many' value invalid")
  assert_clean_failure(run_with_pass("--ref-test-typed=count=many", input=FUNCS),
                       "option 'count' of pass 'ref-test-typed' expects an integer, got 'many'")
  assert_clean_failure(run_with_pass("--pass-pipeline=builtin.module(ref-test-typed{loud=maybe})",
                                     input=FUNCS), "expects true or false")


@pytest.mark.parametrize("pipeline", [
    "builtin.module(cse", "builtin.module(cse))", "builtin.module(cse{)", "builtin.module(c$e)",
    "builtin.module(func.func(ref-verify))",
])
def test_malformed_pipeline(funcs, pipeline):
  assert_clean_failure(ref_opt(str(funcs), f"--pass-pipeline={pipeline}"))


def test_pipeline_and_pass_flags_conflict(funcs):
  assert_clean_failure(ref_opt(str(funcs), "--pass-pipeline=builtin.module(cse)", "--cse"),
                       "cannot be used with individual pass")


def test_bad_command_lines(funcs):
  assert_clean_failure(ref_opt(str(funcs), str(funcs)), "too many input files")
  assert_clean_failure(ref_opt(str(funcs), "-o"), "requires a value")
  assert_clean_failure(ref_opt(str(funcs), "--split-input-file=maybe"), "takes no value")


def test_missing_input_file(tmp_path):
  assert_clean_failure(ref_opt(str(tmp_path / "absent.mlir")),
                       r"could not open input file .*absent.mlir.*No such file")
  assert_clean_failure(ref_opt(str(tmp_path)), "could not open input file")


def test_unwritable_output(funcs, tmp_path):
  assert_clean_failure(ref_opt(str(funcs), "-o", str(tmp_path / "no" / "dir" / "x.mlir")),
                       "could not open output file")
  assert_clean_failure(ref_opt(str(funcs), "-o", str(tmp_path)), "Is a directory")
  if os.geteuid() != 0:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
      assert_clean_failure(ref_opt(str(funcs), "-o", str(locked / "x.mlir")), "Permission denied")
    finally:
      locked.chmod(0o700)


def test_failing_output_leaves_no_file(tmp_path):
  target = tmp_path / "out.mlir"
  assert_clean_failure(ref_opt("-o", str(target), input="func.func @f( {\n"))
  assert not target.exists()


def test_pass_error_is_located():
  p = run_with_pass("--ref-test-fail", input="\n\nfunc.func @f() { return }\n")
  e = assert_clean_failure(p, r"^<stdin>:3:1: error: test failure at \"f\"")
  assert "func.func @f() { return }\n^" in e


def test_pass_raising_an_exception():
  p = run_with_pass("--ref-test-boom", input=FUNCS)
  assert_clean_failure(p, r"<stdin>:1:1: error: internal error in pass 'ref-test-boom': "
                          r"RuntimeError: kaboom")


def test_driver_bug_is_an_internal_error():
  extra = "\ndef _bad(*a, **k):\n  raise ValueError('driver bug')\nref_opt.split_input = _bad\n"
  p = run_with_pass("--cse", input=FUNCS, extra=extra)
  assert_clean_failure(p, r"^ref-opt: error: internal error: ValueError: driver bug")


def test_keyboard_interrupt_in_a_pass():
  p = run_with_pass("--ref-test-interrupt", input=FUNCS)
  assert p.returncode == 1, err(p)
  assert "Traceback" not in err(p) and "error: " in err(p)


def test_keyboard_interrupt_while_reading_stdin():
  proc = subprocess.Popen([sys.executable, "-m", "refhlo.compiler.tools.ref_opt"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  time.sleep(0.5)
  proc.send_signal(signal.SIGINT)
  _, e = proc.communicate(timeout=30)
  proc.stdin.close()
  assert proc.returncode == 1, e
  assert b"ref-opt: error: interrupted" in e and b"Traceback" not in e


def test_broken_pipe(tmp_path):
  big = tmp_path / "big.mlir"
  big.write_text("".join(f"func.func @f{i}() {{ return }}\n" for i in range(3000)))
  proc = subprocess.Popen([sys.executable, "-m", "refhlo.compiler.tools.ref_opt", str(big)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  first = proc.stdout.readline()
  proc.stdout.close()  # like `| head -1`
  e = proc.stderr.read().decode()
  proc.wait(timeout=60)
  assert first == b"module {\n"
  assert proc.returncode == 1, e
  assert "ref-opt: error: output pipe closed" in e and "Traceback" not in e
  assert "Exception ignored" not in e


# -- ref-to-stablehlo output is valid StableHLO -------------------------------------

LIT_INPUTS = sorted(p for p in (ROOT / "test").rglob("*.mlir") if "Output" not in p.parts)


def _arg_attr_dicts(func) -> list[dict]:
  from jaxlib.mlir import ir
  if "arg_attrs" not in func.attributes:
    return []
  out = []
  for d in ir.ArrayAttr(func.attributes["arg_attrs"]):
    d = ir.DictAttr(d)
    out.append({d[j].name: d[j].attr for j in range(len(d))})
  return out


@pytest.mark.parametrize("path", LIT_INPUTS, ids=lambda p: str(p.relative_to(ROOT / "test")))
def test_ref_to_stablehlo_output_is_valid_stablehlo(path):
  """Every lit input, chunk by chunk, through `--ref-to-stablehlo`: where it
  succeeds, the output parses in a context with only registered dialects (no
  ref, nothing unregistered), no argument is both aliased and a buffer donor,
  and XLA converts a module with a @main to HLO (donation, shardings)."""
  import io

  from jaxlib import _jax
  from jaxlib.mlir import ir

  from refhlo.compiler.context import make_context
  from refhlo.compiler.tools import ref_opt as driver

  o, e = io.StringIO(), io.StringIO()
  driver.run([str(path), "--ref-to-stablehlo", "--split-input-file"], o, e)
  assert "Traceback" not in e.getvalue() and "internal error" not in e.getvalue(), e.getvalue()
  validated = 0
  for k, chunk in enumerate(o.getvalue().split(driver.SPLIT_MARKER + "\n")):
    if not chunk.strip():
      continue  # this chunk failed, with a diagnostic
    ctx = make_context()
    ctx.allow_unregistered_dialects = False
    try:
      module = ir.Module.parse(chunk, ctx)
    except ir.MLIRError as err_:
      pytest.fail(f"chunk {k} of {path.name} is not valid StableHLO: {err_}\n{chunk}")
    has_main = False
    for op in module.body.operations:
      if op.operation.name != "func.func":
        continue
      name = ir.StringAttr(op.attributes["sym_name"]).value
      has_main |= name == "main"
      for i, d in enumerate(_arg_attr_dicts(op)):
        assert not ("tf.aliasing_output" in d and "jax.buffer_donor" in d), \
            f"chunk {k} of {path.name}: argument #{i} of @{name} is aliased and a donor"
    if has_main:
      _jax.mlir.mlir_module_to_xla_computation(chunk, use_tuple_args=False,
                                               return_tuple=False)
    validated += 1
  if path.name == "ref_to_stablehlo.mlir":
    assert validated >= 3, o.getvalue()


def test_sharding_check_does_not_import_jax(tmp_path):
  f = tmp_path / "sharded.mlir"
  f.write_text(REF_FUNC.replace("%buf: !ref.ref<tensor<8x4xf32>>",
                                '%buf: !ref.ref<tensor<8x4xf32>> {mhlo.sharding = "{devices=[2,1]<=[2]}"}'))
  code = ("import sys\nfrom refhlo.compiler.tools import ref_opt\n"
          f"rc = ref_opt.run(['--ref-to-stablehlo', {str(f)!r}], open('/dev/null', 'w'), sys.stderr)\n"
          "assert rc == 0, rc\n"
          "assert 'jaxlib._hlo' in sys.modules\n"
          "print(sorted(m for m in sys.modules if m == 'jax' or m.startswith('jax.')))")
  p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
  assert p.returncode == 0, err(p)
  assert out(p).strip() == "[]"
  bad = f.read_text().replace("{devices=[2,1]<=[2]}", "{devices=[2,1]<=[3]}")
  assert_clean_failure(ref_opt("--ref-to-stablehlo", input=bad),
                       r"<stdin>:1:17: error: argument #0 of @main has a malformed 'mhlo.sharding'")


# -- entry points and start-up ----------------------------------------------------


def test_console_script_and_checkout_entry_point(funcs):
  for exe in (ENTRY, pathlib.Path(sys.executable).parent / "ref-opt"):
    if not exe.exists():
      continue
    p = subprocess.run([str(exe), str(funcs), "--cse"], capture_output=True, timeout=60)
    assert p.returncode == 0, err(p)
    assert out(p).count("stablehlo.add") == 1
  p = subprocess.run([sys.executable, str(ENTRY), "--version"], capture_output=True,
                     timeout=60, cwd="/")
  assert p.returncode == 0 and out(p).startswith("ref-opt (refhlo")


def test_checkout_entry_point_uses_the_checkout():
  code = ("import runpy, sys; sys.argv = ['ref-opt', '--version']\n"
          f"try:\n  runpy.run_path({str(ENTRY)!r}, run_name='__main__')\n"
          "except SystemExit: pass\n"
          "import refhlo.compiler.tools.ref_opt as m; print(m.__file__)")
  p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
  assert p.returncode == 0, err(p)
  assert out(p).splitlines()[-1] == str(ROOT / "compiler" / "tools" / "ref_opt.py")


def test_ref_opt_does_not_import_jax(funcs):
  code = ("import sys\nfrom refhlo.compiler.tools import ref_opt\n"
          f"rc = ref_opt.run(['--ref-to-stablehlo', {str(funcs)!r}], open('/dev/null', 'w'), sys.stderr)\n"
          "assert rc == 0, rc\n"
          "print(sorted(m for m in sys.modules if m == 'jax' or m.startswith('jax.')))")
  p = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
  assert p.returncode == 0, err(p)
  assert out(p).strip() == "[]"


def test_start_up_time(funcs):
  times = []
  for _ in range(3):
    t = time.perf_counter()
    p = ref_opt(str(funcs), "--ref-verify", "--cse")
    times.append(time.perf_counter() - t)
    assert p.returncode == 0
  assert min(times) < 0.5, times


def test_dump_pass_pipeline_expands_registered_pipelines():
  p = ref_opt(os.path.join(ROOT, "docs", "examples", "swap_row.mlir"),
              "--ref-to-stablehlo", "--dump-pass-pipeline")
  assert p.returncode == 0, p.stderr.decode()
  e = p.stderr.decode()
  assert re.search(r"builtin\.module\(ref-verify,.*ref-buffer-donation,"
                   r"ref-effect-elimination,ref-prepare-for-xla,.*ref-check-lowered\)", e), e
  assert "stablehlo.dynamic_update_slice" in p.stdout.decode()
  assert "--dump-pass-pipeline" in ref_opt("--help").stdout.decode()


# -- mlir-opt's other options: statistics, dialects, reproducers, bytecode -------


def test_every_accepted_flag_is_in_help():
  from refhlo.compiler.tools import ref_opt as driver
  text = out(ref_opt("--help"))
  for flag in list(driver._BOOL_FLAGS) + list(driver._VALUE_FLAGS):
    assert ("-o <file>" if flag == "o" else f"--{flag}") in text, flag


@pytest.mark.parametrize("typo,hint", [("mlir-pass-statistic", "mlir-pass-statistics"),
                                       ("show-dialect", "show-dialects"),
                                       ("emit-bytecod", "emit-bytecode")])
def test_new_flags_get_a_hint_when_misspelled(funcs, typo, hint):
  assert_clean_failure(ref_opt(str(funcs), f"--{typo}"),
                       rf"unknown command line option.* '--{typo}'; did you mean '--{hint}'\?")


def test_statistics_api():
  import dataclasses
  from refhlo.compiler.passes import Pass

  @dataclasses.dataclass
  class Counting(Pass):
    NAME = "ref-test-counting"
    STATISTICS = {"b-things": "Bs seen", "a-things": "As seen"}
    level: int = 0

  p = Counting()
  p.stat("b-things").add(2)
  p.stat("b-things").add()
  p.stat("extra", "Declared where counted").add(5)
  assert [(s.name, s.value, s.description) for s in p.statistics()] == [
      ("a-things", 0, "As seen"), ("b-things", 3, "Bs seen"),
      ("extra", 5, "Declared where counted")]
  with pytest.raises(KeyError, match="declares no statistic 'typo'"):
    p.stat("typo")
  assert p == Counting() and repr(p).endswith("Counting(level=0)")  # not options
  assert Counting().statistics()[1].value == 0  # per instance


def test_every_pass_declares_statistics_and_list_passes_shows_them():
  from refhlo.compiler import transforms
  from refhlo.compiler.passes import PassPipeline
  text = out(ref_opt("--list-passes"))
  for name, entry in transforms.get_all_passes().items():
    if isinstance(entry, PassPipeline):
      continue
    assert entry.STATISTICS, name
    for stat, desc in entry.STATISTICS.items():
      assert f"statistic: {stat} - {desc}" in text, (name, stat)


def test_statistics_only_when_asked_per_chunk_and_after_a_failure(funcs):
  assert "statistics" not in err(ref_opt(str(funcs), "--ref-verify"))
  p = run_with_pass("--split-input-file", "--ref-verify", "--ref-test-fail",
                    "--mlir-pass-statistics", input=FUNCS + "// -----\n" + FUNCS)
  e = assert_clean_failure(p, r"error: test failure")
  assert e.count("... Pass statistics report ...") == 2, e
  assert "\nRefVerify\n  (S) 0 errors - Broken rules reported\n" \
         "  (S) 1 functions-verified - Functions verified\nFail\n" in e, e


def test_statistics_values_align_as_mlir_does():
  from refhlo.compiler.passes import Statistic
  from refhlo.compiler.tools import ref_opt as driver

  class Fake:
    def statistics(self):
      return [Statistic("big", "B", 1234), Statistic("small", "S", 7)]

  step = driver.Step(None, frozenset(), ("X", "x"), [Fake()])
  text = driver.statistics_report([step])
  assert "\nFake\n  (S) 1234 big - B\n  (S)    7 small - S\n" in text, text


def test_pass_raising_an_exception_suggests_a_reproducer():
  p = run_with_pass("--ref-test-boom", input=FUNCS)
  e = assert_clean_failure(p, r"^<stdin>:1:1: error: internal error in pass 'ref-test-boom': "
                              r"RuntimeError: kaboom\n")
  assert re.search(r"^<stdin>:1:1: note: rerun with "
                   r"--mlir-pass-pipeline-crash-reproducer=<file>", e, re.M), e


def test_crash_reproducer(tmp_path):
  repro = tmp_path / "repro.mlir"
  p = run_with_pass("--cse", "--ref-test-boom", "--verify-each=false",
                    f"--mlir-pass-pipeline-crash-reproducer={repro}", input=FUNCS)
  e = assert_clean_failure(
      p, r"^<stdin>:1:1: error: internal error in pass 'ref-test-boom': RuntimeError: "
         rf"kaboom; crash reproducer written to '{re.escape(str(repro))}'\n")
  assert "rerun with" not in e
  text = repro.read_text()
  assert text.count("stablehlo.add") == 1, text  # the IR before the pass: after cse
  assert 'loc("<stdin>":' in text  # with its locations
  assert re.search(r'\{-#\n  external_resources: \{\n    mlir_reproducer: \{\n'
                   r'      pipeline: "builtin.module\(ref-test-boom\)",\n'
                   r'      disable_threading: true,\n      verify_each: false\n'
                   r'    \}\n  \}\n#-\}\n$', text), text
  # ref-opt reads it like any input (the resource quietly) and reruns it.
  p = ref_opt(str(repro), "--cse")
  assert p.returncode == 0 and not err(p), err(p)
  p = run_with_pass(str(repro), "--run-reproducer")
  e = assert_clean_failure(p, r"internal error in pass 'ref-test-boom': RuntimeError: kaboom")
  assert "warning" not in e


def test_run_reproducer_reads_pipeline_options(tmp_path):
  from refhlo.compiler.tools import ref_opt as driver
  repro = tmp_path / "r.mlir"
  repro.write_text(driver.reproducer_text(FUNCS, 'builtin.module(ref-test-typed{count=3 loud=true})',
                                          True))
  e = err(run_with_pass(str(repro), "--run-reproducer"))
  assert "remark: count=3 loud=True" in e and "warning: loud warning" in e, e


def test_crash_reproducer_bad_uses(tmp_path, funcs):
  assert_clean_failure(run_with_pass(str(funcs), "--ref-test-boom",
                                     f"--mlir-pass-pipeline-crash-reproducer={tmp_path}/no/r.mlir"),
                       r"^ref-opt: error: could not open crash reproducer file .*: "
                       r"No such file or directory")
  assert_clean_failure(ref_opt(str(funcs), "--mlir-pass-pipeline-crash-reproducer="),
                       r"^ref-opt: error: option '--mlir-pass-pipeline-crash-reproducer' "
                       r"expects a path")
  assert_clean_failure(ref_opt(str(funcs), "--run-reproducer"),
                       r"^ref-opt: error: '--run-reproducer': the input has no "
                       r"mlir_reproducer resource")
  assert_clean_failure(ref_opt(str(funcs), "--run-reproducer", "--cse"),
                       r"^ref-opt: error: '--run-reproducer' takes the pipeline from")


def test_bytecode_roundtrip_keeps_locations(tmp_path):
  bc = ref_opt("--emit-bytecode", input=REF_FUNC)
  assert bc.returncode == 0 and bc.stdout.startswith(b"ML\xefR"), err(bc)
  p = ref_opt("--mlir-print-debuginfo", input=bc.stdout)
  assert p.returncode == 0, err(p)
  assert "ref.swap" in out(p) and 'loc("<stdin>":2:' in out(p)
  target = tmp_path / "out.mlirbc"
  assert ref_opt("--emit-bytecode", "-o", str(target), input=REF_FUNC).returncode == 0
  assert target.read_bytes() == bc.stdout


def test_bad_bytecode_is_a_clean_error(tmp_path):
  bc = ref_opt("--emit-bytecode", input=REF_FUNC).stdout
  for data in (bc[:40], bc[:4], bc[:-5]):
    assert_clean_failure(ref_opt(input=data), r"^<stdin>:0:0: error: ")
  path = tmp_path / "x.mlirbc"
  path.write_bytes(bc[:40])
  assert_clean_failure(ref_opt(str(path)), rf"^{re.escape(str(path))}:0:0: error: ")


def test_failing_bytecode_output_leaves_no_file(tmp_path):
  target = tmp_path / "out.mlirbc"
  p = run_with_pass("--ref-test-fail", "--emit-bytecode", "-o", str(target), input=FUNCS)
  assert_clean_failure(p, "test failure")
  assert not target.exists()


def test_listed_stablehlo_passes_are_registered():
  from jaxlib.mlir import passmanager
  from refhlo.compiler.context import make_context
  from refhlo.compiler.tools import ref_opt as driver
  driver.register_upstream_passes()
  driver.register_upstream_passes()  # harmless twice
  ctx = make_context()
  for name in driver.STABLEHLO_MODULE_PASSES:
    passmanager.PassManager.parse(f"builtin.module({name})", context=ctx)
    assert driver._nest_pass_flag(name, ctx) == name
  for name in driver.STABLEHLO_FUNC_PASSES:
    passmanager.PassManager.parse(f"builtin.module(func.func({name}))", context=ctx)
    assert driver._nest_pass_flag(name, ctx) == f"func.func({name})"
  assert driver._nest_pass_flag("cse", ctx) == "cse"
  assert driver._nest_pass_flag("ref-verify", ctx) == "ref-verify"


def test_stablehlo_passes_missing_from_jaxlib_are_unknown(funcs):
  # Not in jaxlib's build (see STABLEHLO_MODULE_PASSES): a clean error.
  assert_clean_failure(ref_opt(str(funcs), "--stablehlo-aggressive-simplification"),
                       r"unknown command line option or pass "
                       r"'--stablehlo-aggressive-simplification'")
