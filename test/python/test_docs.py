"""The code in docs/ runs: every ```python block (a file's blocks in order,
as one script: later blocks use earlier names), every ```mlir block (a
`// RUN:` line is run as lit would, with `ref-opt` and `FileCheck`; any
other block must parse and verify), every ```sh block (from the repository
root). ```text blocks are outputs and are not run. docs/passes.md is
generated and checked by test_registry.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(ROOT, "docs")
BIN = os.path.dirname(sys.executable)
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def blocks(name: str) -> list[tuple[str, str, int]]:
  """(language, code, line) of each fenced block of docs/`name`."""
  text = open(os.path.join(DOCS, name)).read()
  return [(m.group(1), m.group(2), text[:m.start()].count("\n") + 1)
          for m in _FENCE.finditer(text)]


DOC_FILES = sorted(f for f in os.listdir(DOCS) if f.endswith(".md") and f != "passes.md")
CASES = [(f, lang, code, line) for f in DOC_FILES for lang, code, line in blocks(f)
         if lang in ("mlir", "sh")]
PY_FILES = [f for f in DOC_FILES if any(lang == "python" for lang, _, _ in blocks(f))]


def _env() -> dict[str, str]:
  return dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""),
              JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))


def test_docs_have_code_to_check():
  assert "tutorial.md" in PY_FILES
  assert any(lang == "mlir" for _, lang, _, _ in CASES)


@pytest.mark.parametrize("name", PY_FILES)
def test_python_blocks_run(name: str):
  code = "\n\n".join(c for lang, c, _ in blocks(name) if lang == "python")
  p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(),
                     capture_output=True, text=True, timeout=600)
  assert p.returncode == 0, f"docs/{name}: python blocks failed:\n{p.stderr[-3000:]}"


@pytest.mark.parametrize("name,lang,code,line", CASES,
                         ids=[f"{f}:{line}" for f, _, _, line in CASES])
def test_mlir_and_sh_blocks_run(name: str, lang: str, code: str, line: int, tmp_path):
  where = f"docs/{name}:{line}"
  if lang == "sh":
    for cmd in code.strip().splitlines():
      p = subprocess.run(cmd, shell=True, cwd=ROOT, env=_env(), capture_output=True,
                         text=True, timeout=300)
      assert p.returncode == 0, f"{where}: `{cmd}` failed:\n{p.stderr[-3000:]}"
    return
  path = tmp_path / "block.mlir"
  path.write_text(code)
  run = [m.group(1) for m in re.finditer(r"//\s*RUN:\s*(.*)", code)]
  if not run:
    run = ["ref-opt %s"]
  # As test/lit.cfg.py substitutes them.
  filecheck = os.environ.get("FILECHECK") or shutil.which("filecheck", path=_env()["PATH"])
  assert filecheck, "no FileCheck: pip install filecheck"
  for r in run:
    cmd = r.replace("%s", str(path)).replace("FileCheck", filecheck)
    p = subprocess.run(cmd, shell=True, cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"{where}: `{r}` failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
