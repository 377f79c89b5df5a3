"""The compiler's layers, as docs/design-notes.md ("Architecture") draws
them: each module imports only from the layers below it. Checked on the
import statements themselves (ast), so a new import across a layer fails
here, not in review."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPILER = ROOT / "compiler"

# Path prefix (relative to compiler/) -> refhlo modules it must not import.
FORBIDDEN = {
    "": ("refhlo.api", "refhlo.runtime", "refhlo.emit", "refhlo._jax_private"),
    "irutil.py": ("refhlo",),
    "diagnostics.py": ("refhlo",),
    "sharding.py": ("refhlo",),
    "dialect/": ("refhlo.compiler.analysis", "refhlo.compiler.transforms",
                 "refhlo.compiler.tools", "refhlo.compiler.pipeline",
                 "refhlo.compiler.passes", "refhlo.compiler.xla",
                 "refhlo.compiler.interpreter"),
    "analysis/": ("refhlo.compiler.transforms", "refhlo.compiler.tools",
                  "refhlo.compiler.pipeline", "refhlo.compiler.passes",
                  "refhlo.compiler.xla", "refhlo.compiler.interpreter"),
    "transforms/": ("refhlo.compiler.tools", "refhlo.compiler.xla",
                    "refhlo.compiler.interpreter"),
    "xla": ("refhlo.compiler.transforms", "refhlo.compiler.analysis",
            "refhlo.compiler.interpreter", "refhlo.compiler.tools"),
    "hlo_text.py": ("refhlo",),
    "builders.py": ("refhlo.compiler.analysis", "refhlo.compiler.transforms",
                    "refhlo.compiler.tools", "refhlo.compiler.pipeline",
                    "refhlo.compiler.passes", "refhlo.compiler.xla",
                    "refhlo.compiler.interpreter", "refhlo.compiler.dialect.ops",
                    "refhlo.compiler.dialect.verifier"),
}


def _imports(source: str) -> list[tuple[int, str]]:
  out = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      out += [(node.lineno, a.name) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      out.append((node.lineno, node.module))
      out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
  return out


def violations(rel: str, source: str) -> list[str]:
  """The imports of compiler/`rel` (its text `source`) that cross a layer."""
  bad = []
  for prefix, banned in FORBIDDEN.items():
    if not rel.startswith(prefix):
      continue
    for line, name in _imports(source):
      for b in banned:
        if name == b or name.startswith(b + "."):
          bad.append(f"compiler/{rel}:{line}: imports {name} (layer rule '{prefix or '*'}')")
  return bad


FILES = sorted(p.relative_to(COMPILER).as_posix() for p in COMPILER.rglob("*.py"))


@pytest.mark.parametrize("rel", FILES)
def test_module_imports_only_from_lower_layers(rel: str):
  bad = violations(rel, (COMPILER / rel).read_text())
  assert not bad, "\n".join(bad)


def test_a_crossing_import_is_caught():
  assert violations("analysis/x.py", "from refhlo.compiler.transforms import ref_verify")
  assert violations("dialect/x.py", "import refhlo.compiler.passes")
  assert violations("xla.py", "from refhlo import runtime")
  assert violations("irutil.py", "from refhlo.compiler import dialect")
  assert not violations("transforms/x.py", "from refhlo.compiler.analysis import alias")
