"""The real command line in a subprocess, shared by the CLI-level tests."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run_bench(*args, timeout=300) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` from the repository root; output captured as text."""
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=ENV)
