"""The benchmark scripts still load against today's code (their figures are never asserted:
speed is measured by running them, see README "Benchmarks")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize(
    "script", sorted(p.name for p in BENCH.glob("*.py") if p.name not in ("__init__.py", "common.py"))
)
def test_each_benchmark_imports_what_it_uses_and_shows_its_help(script):
    done = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
