"""The real command line in a subprocess, shared by the CLI-level tests."""

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run_bench(*args, timeout=300) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` from the repository root; output captured as text."""
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=ENV)


def default_sigint() -> None:
    """preexec_fn for a child that must see Ctrl-C: a shell's background job (`cmd &`) ignores
    SIGINT and its children inherit that, so Python would install no KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
