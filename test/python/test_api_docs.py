"""docs/api.md is generated from the docstrings and its examples run:
the committed file equals `tools/gen_api_docs.py`'s output (`make docs`),
and the docstrings' examples give the outputs they show (doctest)."""

from __future__ import annotations

import doctest
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_api_reference_is_fresh():
  out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_api_docs.py")],
                       capture_output=True, text=True, check=True, cwd=ROOT).stdout
  committed = (ROOT / "docs" / "api.md").read_text()
  assert committed == out, "docs/api.md is stale: run `make docs`"


def test_api_reference_covers_every_public_name():
  sys.path.insert(0, str(ROOT / "tools"))
  import gen_api_docs
  import refhlo
  from refhlo import api
  text = (ROOT / "docs" / "api.md").read_text()
  lazy = [n for n in ("jit",) + gen_api_docs.ERRORS if hasattr(refhlo, n)]
  assert len(lazy) == 1 + len(gen_api_docs.ERRORS)
  for name in gen_api_docs.ERRORS:
    assert f"`refhlo.{name}`" in text, name
  for title, _, members in gen_api_docs.SECTIONS:
    cls = getattr(api, title.split(".")[-1], None)
    if members is None or cls is None:
      continue
    public = {m for m in vars(cls) if not m.startswith("_")} | {"__call__"} & set(vars(cls))
    assert public <= set(members), (title, public - set(members))


def test_docstring_examples_run():
  from refhlo import api
  result = doctest.testmod(api, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
  assert result.attempted >= 9
  assert result.failed == 0
