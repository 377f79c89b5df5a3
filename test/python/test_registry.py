"""The pass registry keeps its promises: every flag documented and tested."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from refhlo.compiler import transforms
from refhlo.compiler.passes import Pass, PassPipeline

ROOT = pathlib.Path(__file__).resolve().parents[2]
PASSES = transforms.get_all_passes()


def test_registry_is_not_empty_and_sorted():
  assert "ref-verify" in PASSES
  assert list(PASSES) == sorted(PASSES)


@pytest.mark.parametrize("flag", sorted(PASSES))
def test_flag_equals_name(flag):
  assert PASSES[flag].NAME == flag
  assert re.fullmatch(r"ref(-[a-z0-9]+)+", flag), flag


@pytest.mark.parametrize("flag", sorted(PASSES))
def test_summary_and_description(flag):
  p = PASSES[flag]
  assert p.SUMMARY and "\n" not in p.SUMMARY and len(p.SUMMARY) < 100
  desc = p.DESCRIPTION
  # A before/after IR example: at least two IR snippets (func.func / ops).
  assert desc.count("func.func") >= 2 or isinstance(p, PassPipeline), flag
  if isinstance(p, PassPipeline):
    for el in p.ELEMENTS:
      name = re.match(r"[\w.\-]+", el).group(0)
      assert transforms.get_pass(name) is not None or not name.startswith("ref-"), el
  else:
    assert issubclass(p, Pass)


@pytest.mark.parametrize("flag", sorted(PASSES))
def test_each_pass_has_a_lit_test(flag):
  test = ROOT / "test" / "Transforms" / (flag.replace("-", "_") + ".mlir")
  assert test.is_file(), f"missing lit test {test}"
  assert f"--{flag}" in test.read_text() or flag in test.read_text()


def test_pass_reference_is_current():
  out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_pass_docs.py")],
                       capture_output=True, text=True, check=True).stdout
  committed = (ROOT / "docs" / "passes.md").read_text()
  assert committed == out, "docs/passes.md is stale: run `make docs`"


def test_compiler_does_not_import_jax():
  code = ("import sys, refhlo.compiler.pipeline, refhlo.compiler.transforms as t; "
          "[t.get_pass(n) for n in t.pass_names()]; "
          "assert 'jax' not in sys.modules, sorted(m for m in sys.modules if m.startswith('jax.'))")
  subprocess.run([sys.executable, "-c", code], check=True)


_EXAMPLE = re.compile(r"^(\S[^\n]*?):?\n\n```mlir\n(.*?)```", re.M | re.S)


def _norm(line: str) -> str:
  return re.sub(r"%[\w.\-#]+", "%_", line.strip())


def _ref_opt(flags: list[str], text: str) -> subprocess.CompletedProcess:
  return subprocess.run([str(pathlib.Path(sys.executable).parent / "ref-opt"), *flags],
                        input=text, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("flag", sorted(PASSES))
def test_description_examples_are_what_ref_opt_prints(flag):
  """The before/after IR of each pass's description (docs/passes.md) is what
  `ref-opt --<pass>` does to the Before block: every line of the After block
  (SSA names aside; `...` elides lines) appears in the output, in order. An
  example whose comments say `// error: ...` fails with those errors; one
  said to pass unchanged prints the same ops."""
  examples = _EXAMPLE.findall(PASSES[flag].DESCRIPTION)
  assert examples, flag
  flags = [f"--{flag}"]
  for i, (label, block) in enumerate(examples):
    errors = re.findall(r"//\s*error:\s*(.*?)(?:\s*\.\.\.)?$", block, re.M)
    if label.startswith("After"):
      before = examples[i - 1][1]
      extra = ["--canonicalize"] if "canonicalize" in label else []
      out = _ref_opt(flags + extra, before)
      assert out.returncode == 0, (flag, out.stderr)
      want, got = block, out.stdout
    elif errors:
      source = "\n".join(l for l in block.splitlines() if "// error:" not in l
                         and not l.strip().startswith("// dimensions"))
      out = _ref_opt(flags, source)
      assert out.returncode != 0, (flag, "expected errors", out.stdout)
      for e in errors:
        assert e.split("(column")[0].strip() in out.stderr.replace("\n", " "), (flag, e, out.stderr)
      continue
    elif "unchanged" in label or "passes" in label:
      out = _ref_opt(flags, block)
      assert out.returncode == 0, (flag, out.stderr)
      want, got = block, out.stdout
    else:
      continue
    got_lines = [_norm(l) for l in got.splitlines()]
    k = 0
    for line in block.splitlines():
      if not line.strip() or line.strip() == "..." or line.strip().startswith("//"):
        continue
      w = _norm(line)
      while k < len(got_lines) and got_lines[k] != w:
        k += 1
      assert k < len(got_lines), (flag, label, line, got)
      k += 1


def test_registry_is_the_transforms_modules():
  # One pass per public module of compiler/transforms, its flag the file name.
  files = {p.stem.replace("_", "-") for p in (ROOT / "compiler" / "transforms").glob("*.py")
           if not p.stem.startswith("_")}
  assert set(PASSES) == files


@pytest.mark.parametrize("flag", sorted(f for f, p in PASSES.items()
                                        if isinstance(p, PassPipeline)))
def test_pipeline_elements_are_listed_once(flag):
  # The elements live in ELEMENTS only: the description does not repeat them
  # (the reference lists them from ELEMENTS), and each names a pass.
  p = PASSES[flag]
  prose = p.DESCRIPTION.split("```")[0]
  assert not [el for el in p.ELEMENTS if f"`{el}`" in prose]
  for el in p.ELEMENTS:
    assert el in PASSES or el in ("canonicalize", "cse"), el


@pytest.mark.parametrize("verify_each", [False, True])
def test_pipeline_output_is_verified(monkeypatch, verify_each):
  # A pass that leaves invalid IR (a signature its body does not match) fails
  # the run with MLIR's verifier message whether or not every pass is
  # verified: the default verifies once, on the pipeline's result.
  import dataclasses

  from jaxlib.mlir import ir

  from refhlo.compiler.context import make_context
  from refhlo.compiler.pipeline import PipelineFailure, run_pipeline

  @dataclasses.dataclass
  class Break(Pass):
    NAME = "ref-test-break"
    SUMMARY = "Breaks the IR"

    def run(self, module):
      f = module.regions[0].blocks[0].operations[0]
      f.attributes["function_type"] = ir.TypeAttr.get(
          ir.FunctionType.get([ir.F32Type.get()], []))

  monkeypatch.setitem(transforms._PASS_MODULES, Break.NAME, "<test>")
  monkeypatch.setitem(transforms._CACHE, Break.NAME, Break)
  with make_context():
    m = ir.Module.parse("func.func @f(%a: tensor<i32>) -> tensor<i32> {\n"
                        "  return %a : tensor<i32>\n}")
    with pytest.raises(PipelineFailure, match="must match the type of the corresponding"):
      run_pipeline(m, "builtin.module(ref-test-break, canonicalize)",
                   verify_each=verify_each)
