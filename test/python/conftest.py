"""Shared pytest helpers of the Python tests."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _run_program_ok(program: str, timeout: float = 300) -> str:
  """Runs `program` in a fresh Python process (which sets its own XLA_FLAGS,
  e.g. a simulated device count, before importing jax); asserts that it
  exits 0 and prints "OK" last; returns its stdout."""
  env = dict(os.environ)
  env.pop("XLA_FLAGS", None)
  proc = subprocess.run([sys.executable, "-c", program], capture_output=True,
                        text=True, timeout=timeout, env=env)
  assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), (
      proc.stdout[-3000:] + proc.stderr[-3000:])
  return proc.stdout


@pytest.fixture
def run_program_ok():
  return _run_program_ok
