# lit configuration for refhlo's FileCheck tests.
#
# FileCheck: LLVM's when the FILECHECK environment variable names one,
# else the PyPI `filecheck` (same syntax for what these tests use).
import os
import shutil

import lit.formats

config.name = "refhlo"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["python", "lit.cfg.py", "Inputs"]

config.environment["PATH"] = os.environ.get("PATH", "")
for var in ("PYTHONPATH", "HOME", "TMPDIR"):
  if var in os.environ:
    config.environment[var] = os.environ[var]

filecheck = os.environ.get("FILECHECK") or shutil.which("filecheck")
if not filecheck:
  lit_config.fatal("no FileCheck: set FILECHECK or pip install filecheck")
ref_opt = shutil.which("ref-opt")
if not ref_opt:
  lit_config.fatal("ref-opt is not on PATH: run `make check` (installs it)")

config.substitutions.append(("FileCheck", filecheck))
config.substitutions.append(("ref-opt", ref_opt))
config.substitutions.append(("%python", shutil.which("python") or "python3"))
